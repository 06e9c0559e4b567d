#include "specopt/util/checksum.h"

#include <sys/stat.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>

namespace specopt {

namespace {

constexpr char kMagic[8] = {'S', 'P', 'E', 'C', 'S', 'U', 'M', '1'};

std::array<uint32_t, 256> make_table() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    t[i] = c;
  }
  return t;
}

void put_le(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

uint64_t get_le(const char* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}

std::string hex(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%08x", v);
  return buf;
}

}  // namespace

uint32_t crc32(const void* data, size_t size, uint32_t crc) {
  static const std::array<uint32_t, 256> table = make_table();
  const auto* p = static_cast<const unsigned char*>(data);
  crc = ~crc;
  for (size_t i = 0; i < size; ++i) crc = table[(crc ^ p[i]) & 0xFFu] ^ (crc >> 8);
  return ~crc;
}

std::string with_checksum_trailer(const std::string& content) {
  std::string out;
  out.reserve(content.size() + kChecksumTrailerSize);
  out = content;
  out.append(kMagic, sizeof(kMagic));
  put_le(out, content.size(), 8);
  put_le(out, crc32(content.data(), content.size()), 4);
  return out;
}

bool strip_checksum_trailer(const std::string& bytes, std::string& content, std::string& error) {
  if (bytes.size() < kChecksumTrailerSize ||
      std::memcmp(bytes.data() + bytes.size() - kChecksumTrailerSize, kMagic, sizeof(kMagic)) != 0) {
    error = "no checksum trailer at its end (" + std::to_string(bytes.size()) +
            " bytes): the file is truncated or damaged, or was written by a specopt without "
            "checkpoint checksums (such files are not read)";
    return false;
  }
  const char* trailer = bytes.data() + bytes.size() - kChecksumTrailerSize;
  const uint64_t length = get_le(trailer + 8, 8);
  const size_t held = bytes.size() - kChecksumTrailerSize;
  if (length != held) {
    error = "checksum trailer says " + std::to_string(length) + " bytes of content but the file "
            "holds " + std::to_string(held) + " (truncated or damaged)";
    return false;
  }
  const uint32_t stored = static_cast<uint32_t>(get_le(trailer + 16, 4));
  const uint32_t computed = crc32(bytes.data(), held);
  if (stored != computed) {
    error = "CRC-32 mismatch (stored " + hex(stored) + ", computed " + hex(computed) +
            "): the file is corrupt";
    return false;
  }
  content.assign(bytes.data(), held);
  return true;
}

bool read_checksummed_file(const std::string& path, std::string& content, std::string& error) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    error = "cannot open '" + path + "': " + std::strerror(errno);
    return false;
  }
  if (!S_ISREG(st.st_mode)) {
    error = "'" + path + "' is not a regular file";
    return false;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = "cannot open '" + path + "': " + std::strerror(errno);
    return false;
  }
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) {
    error = "reading '" + path + "' failed";
    return false;
  }
  std::string why;
  if (!strip_checksum_trailer(bytes, content, why)) {
    error = "'" + path + "': " + why;
    return false;
  }
  return true;
}

}  // namespace specopt
