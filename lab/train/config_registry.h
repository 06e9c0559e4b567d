#pragma once
// What a training config asks of the library's registries: is optimizer.map a convex map
// make_convex_map() accepts, which optimizer names exist, and what a rule's own defaults
// resolve to. Kept apart so that config.cpp and config_json.cpp (TOML, --set, config.json)
// build without LibTorch, e.g. for fuzz/config_fuzz.cpp, which links
// fuzz/config_registry_fuzz.cpp instead of config_registry.cpp.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lab/train/config.h"

namespace specopt {
namespace lab {

// "" when `spec` names a convex map (specopt/maps/registry.h), else why not.
std::string convex_map_spec_error(const std::string& spec);

// optimizer_names() (config.h) is defined here: the optimizer registry's names
// (specopt/optim/registry.h), lower case without '_' ("muon", "spectraladam", "lionk"), so a
// rule added to the registry is a training option with no line of its own here.

// The values config.json records for the options the config may leave to the rule: momentum,
// p and shape_rule as the rule built from `o` has them (the registry's defaults, then the
// config's own values); null where the rule declares no such option.
struct ResolvedRuleOptions {
  nlohmann::json momentum, p, shape_rule;
};
ResolvedRuleOptions resolved_rule_options(const OptimizerConfig& o);

}  // namespace lab
}  // namespace specopt
