#pragma once
// The integrity trailer of every checkpoint file (single, hybrid, sharded shards and manifest):
//
//   <content> | "SPECSUM1" (8 bytes) | content length (u64, little-endian) | CRC-32 (u32, LE)
//
// The 20-byte trailer is appended last (the file is then written atomically), and a reader
// checks it over the whole file before anything is parsed, so a truncated, extended or
// bit-flipped file is refused with the path and what failed instead of loading wrong values
// (LibTorch's zip reader does not check its own CRCs). CRC-32 is the zlib/PNG polynomial
// (0xEDB88320, reflected): every 1- to 32-bit burst is detected.
//
// Files without the trailer (written before it existed) are refused with a message saying so;
// the format is versioned by the magic.
#include <cstddef>
#include <cstdint>
#include <string>

namespace specopt {

constexpr size_t kChecksumTrailerSize = 20;

// CRC-32 of `size` bytes, continuing from `crc` (0 to start).
uint32_t crc32(const void* data, size_t size, uint32_t crc = 0);

// `content` followed by its trailer.
std::string with_checksum_trailer(const std::string& content);

// Checks the trailer of `bytes` (read from `source`); on success sets `content` to the bytes
// before it and returns true, otherwise sets `error` to what failed ("no checksum trailer
// ...", "length field says N bytes but the file holds M", "CRC-32 mismatch ...").
bool strip_checksum_trailer(const std::string& bytes, std::string& content, std::string& error);

// Reads the whole of `path` and strips its checked trailer: true, or false with `error`
// naming the path and what failed (unreadable, not a regular file, checksum).
bool read_checksummed_file(const std::string& path, std::string& content, std::string& error);

}  // namespace specopt
