// The fuzz builds of config_fuzz / set_fuzz link this instead of lab/train/config_registry.cpp
// (which needs LibTorch's registries): the map names of specopt/maps/registry.h without
// parameters are accepted, anything else refused, so both paths of the caller run; the
// optimizer names are a fixed sample of the registry's, and no rule defaults are resolved.
#include <string>

#include "lab/train/config_registry.h"

namespace specopt {
namespace lab {

std::string convex_map_spec_error(const std::string& spec) {
  for (const char* name : {"nuclear", "frobenius", "spectral", "l1", "linf", "l2"}) {
    if (spec == name) return "";
  }
  return "unknown convex map (fuzz build: parameterised specs are not checked)";
}

std::vector<std::string> optimizer_names() {
  return {"muon", "normuon", "adamw", "lion", "lionk", "adamq", "msgdz", "spectraladam",
          "spectralsgd"};
}

ResolvedRuleOptions resolved_rule_options(const OptimizerConfig&) { return {}; }

}  // namespace lab
}  // namespace specopt
