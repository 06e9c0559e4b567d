// libFuzzer target: the checkpoint integrity trailer (specopt/util/checksum.h), the first
// thing every checkpoint read goes through. Accepted bytes must be exactly content + trailer.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "specopt/util/checksum.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  std::string content, error;
  if (specopt::strip_checksum_trailer(bytes, content, error)) {
    if (specopt::with_checksum_trailer(content) != bytes) std::abort();
  } else if (error.empty()) {
    std::abort();  // a refusal must say why
  }
  // Round trip of arbitrary content.
  std::string back;
  if (!specopt::strip_checksum_trailer(specopt::with_checksum_trailer(bytes), back, error) ||
      back != bytes) {
    std::abort();
  }
  return 0;
}
