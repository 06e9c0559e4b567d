#pragma once
// NumPy .npy files <-> at::Tensor (float32 / float64), built on xtensor's npy support.
#include <ATen/ATen.h>

#include <string>

namespace specopt {
namespace lab {

// Reads a .npy file holding a float32 or float64 array of rank >= 2 (a matrix or a batch of
// matrices), C or Fortran order, into a contiguous CPU tensor of the same dtype and shape.
// Throws std::runtime_error naming the file and the problem: missing or unreadable file,
// not an .npy file, malformed header, unsupported dtype (named, e.g. "int64", "float16"),
// big-endian data, rank < 2, or a file shorter than its header says.
at::Tensor read_npy(const std::string& path);

// Writes `t` (float32 or float64, any device, any rank) as a C-order little-endian .npy
// file, atomically (temporary file + rename; see atomic_file.h). Throws std::runtime_error
// naming the file for other dtypes or I/O failures.
void write_npy(const std::string& path, const at::Tensor& t);

// The bytes of the .npy file write_npy would produce (for embedding or tests).
std::string npy_bytes(const at::Tensor& t);

}  // namespace lab
}  // namespace specopt
