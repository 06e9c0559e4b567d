#include "lab/train/config_registry.h"

#include <c10/util/Exception.h>

#include <specopt/maps/registry.h>
#include <specopt/optim/fields.h>
#include <specopt/optim/registry.h>

#include "lab/train/optimizer_factory.h"

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

std::vector<std::string> optimizer_names() {
  std::vector<std::string> out;
  for (const auto& r : registered_optimizers()) out.push_back(optimizer_key(r.name));
  return out;
}

ResolvedRuleOptions resolved_rule_options(const OptimizerConfig& o) {
  struct Reader : FieldVisitor {
    ResolvedRuleOptions out;
    void visit(const std::string& key, double& x, Range) override {
      if (key == "momentum") out.momentum = x;
      if (key == "p") out.p = x;
    }
    void visit(const std::string& key, std::string& x) override {
      if (key == "shape_rule") out.shape_rule = x;
    }
  } reader;
  rule_options(o)->fields(reader);
  return reader.out;
}

}  // namespace lab
}  // namespace specopt
