// libFuzzer target: the .npy header reader (lab/npy_header.h) on arbitrary bytes. It must
// either throw std::runtime_error or return a header whose data lies inside the input.
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "lab/npy_header.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  try {
    const auto h = specopt::lab::parse_npy_header(bytes, "fuzz.npy");
    if (h.shape.size() < 2 || h.data_offset > bytes.size() ||
        h.data_bytes > bytes.size() - h.data_offset) {
      std::abort();  // a header the tensor builder would read past the end with
    }
  } catch (const std::runtime_error&) {
  }
  return 0;
}
