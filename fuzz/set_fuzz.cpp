// libFuzzer target: `--set section.key=value` overrides (lab/train/config.h), one per input
// line, applied to a valid base config. Either std::invalid_argument or a valid config.
#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "lab/train/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  std::vector<std::string> sets;
  std::string line;
  while (std::getline(in, line) && sets.size() < 16) sets.push_back(line);
  try {
    const auto c = specopt::lab::parse_train_config(
        "[optimizer]\nname='muon'\n[train]\nsteps=10\nout_dir='runs/fuzz'\n", sets, "fuzz");
    if (c.steps < 1 || c.batch_size < 1 || c.out_dir.empty()) std::abort();
  } catch (const std::invalid_argument&) {
  }
  return 0;
}
