#pragma once
// The one check of lab/train/config.cpp that needs the library: is optimizer.map a convex map
// spec make_convex_map() accepts. Kept apart so that config.cpp itself (TOML and --set
// handling) builds without LibTorch, e.g. for fuzz/config_fuzz.cpp.
#include <string>

namespace specopt {
namespace lab {

// "" when `spec` names a convex map (specopt/maps/registry.h), else why not.
std::string convex_map_spec_error(const std::string& spec);

}  // namespace lab
}  // namespace specopt
