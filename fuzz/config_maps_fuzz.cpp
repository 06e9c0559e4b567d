// The fuzz builds of config_fuzz / set_fuzz link this instead of lab/train/config_maps.cpp
// (which needs LibTorch's convex-map registry): the map names of specopt/maps/registry.h
// without parameters are accepted, anything else refused, so both paths of the caller run.
#include <string>

#include "lab/train/config_maps.h"

namespace specopt {
namespace lab {

std::string convex_map_spec_error(const std::string& spec) {
  for (const char* name : {"nuclear", "frobenius", "spectral", "l1", "linf", "l2"}) {
    if (spec == name) return "";
  }
  return "unknown convex map (fuzz build: parameterised specs are not checked)";
}

}  // namespace lab
}  // namespace specopt
