// Writes the seed corpus of the checkpoint fuzz target (fuzz/checkpoint_fuzz.cpp): real
// checkpoints' content (without the integrity trailer, which the target adds) of the target's
// own optimizers (fuzz/checkpoint_fixture.h), in a few states.
//
//   checkpoint_seeds OUT_DIR
//
// Each is checked to load back into the target's optimizer before it is written.
#include <cstdio>
#include <fstream>
#include <string>

#include "fuzz/checkpoint_fixture.h"

namespace {

int write(const std::string& dir, const std::string& name, specopt_fuzz::Case& c,
          bool save_parameters) {
  c.extras.save_parameters = save_parameters;
  const std::string bytes = c.snapshot();
  specopt::load_checkpoint_bytes(bytes, name, *c.opt, c.extras);  // throws if it does not load
  std::ofstream out(dir + "/" + name, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) {
    std::fprintf(stderr, "checkpoint_seeds: cannot write %s/%s\n", dir.c_str(), name.c_str());
    return 1;
  }
  std::printf("%s/%s: %zu bytes\n", dir.c_str(), name.c_str(), bytes.size());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: checkpoint_seeds OUT_DIR\n");
    return 2;
  }
  const std::string dir = argv[1];
  int rc = 0;
  auto muon = specopt_fuzz::make_muon(2);
  rc |= write(dir, "muon_stepped_params", *muon, true);
  rc |= write(dir, "muon_stepped", *muon, false);
  auto muon0 = specopt_fuzz::make_muon(0);
  rc |= write(dir, "muon_fresh", *muon0, false);
  auto adamw = specopt_fuzz::make_adamw(2);
  rc |= write(dir, "adamw_stepped_params", *adamw, true);
  auto adamw0 = specopt_fuzz::make_adamw(0);
  rc |= write(dir, "adamw_fresh", *adamw0, false);
  return rc;
}
