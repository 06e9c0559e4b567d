#include "lab/train/config_maps.h"

#include <c10/util/Exception.h>

#include <specopt/maps/registry.h>

namespace specopt {
namespace lab {

std::string convex_map_spec_error(const std::string& spec) {
  try {
    (void)make_convex_map(spec);
  } catch (const c10::Error& e) {
    return e.what_without_backtrace();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

}  // namespace lab
}  // namespace specopt
