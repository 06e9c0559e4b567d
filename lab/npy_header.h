#pragma once
// The header of a NumPy .npy file, parsed and checked without LibTorch (lab/npy.cpp builds the
// tensor; fuzz/npy_header_fuzz.cpp feeds this arbitrary bytes). Format: "\x93NUMPY", version
// byte pair, header length (2 bytes little-endian for 1.0, 4 for 2.0 / 3.0), then a Python
// dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }.
#include <cstdint>
#include <string>
#include <vector>

namespace specopt {
namespace lab {

struct NpyHeader {
  std::string descr;            // as written ("<f4", "|f8" normalised to "<f8")
  bool fortran_order = false;
  std::vector<int64_t> shape;
  bool is_double = false;       // float64 (else float32)
  uint64_t data_offset = 0;     // where the array's bytes start
  uint64_t data_bytes = 0;      // how many there are (count × word size)
};

// Parses and checks the header of `bytes` (the whole file). Throws std::runtime_error
// "npy file '<source>': <problem>": not an .npy file (with the size), unsupported version,
// truncated or malformed header, a shape entry that is not a non-negative integer (named),
// unsupported dtype (NumPy's name), foreign byte order, rank < 2, a shape too large, or fewer
// data bytes than the shape needs.
NpyHeader parse_npy_header(const std::string& bytes, const std::string& source);

}  // namespace lab
}  // namespace specopt
