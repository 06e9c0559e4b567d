#pragma once
// IDX files (the MNIST / Fashion-MNIST format), plain or gzip-compressed (read through zlib,
// which passes uncompressed files through unchanged).
//
// Header: two zero bytes, a type code (0x08 = unsigned byte, the only type accepted here), the
// number of dimensions d, then d big-endian uint32 sizes; then the data, row-major.
#include <ATen/ATen.h>

#include <cstdint>
#include <string>

namespace specopt {
namespace lab {

// The first `limit` items (along dim 0) of an unsigned-byte IDX file as a uint8 tensor of the
// file's shape; limit <= 0 or larger than the file's count reads all items. Reads only the
// header and those items. Throws std::runtime_error naming the file and what is wrong (missing,
// bad magic, wrong type, truncated data).
at::Tensor read_idx_u8(const std::string& path, int64_t limit = 0);

// Writes a uint8 tensor as an uncompressed IDX file (test fixtures). Not atomic.
void write_idx_u8(const std::string& path, const at::Tensor& data);

}  // namespace lab
}  // namespace specopt
