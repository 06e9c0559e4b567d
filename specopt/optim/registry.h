#pragma once
// Optimizers by name, as `specopt list` shows them: a spec string → the options of the right
// update rule, and an optimizer of that rule (the library's one registry of optimizers, beside
// make_convex_map and make_schedule).
//
//   Muon  NorMuon  AdaMuon  PolarGrad  Dion2  LionK  SpectralAdam  SpectralSGD  AdamW  Lion
//   Adam AdamS AdamQ AdamZ (SpectralAdam presets)   mSGD mSGDS mSGDQ mSGDZ (SpectralSGD presets)
//
// Names are matched ignoring case and '_' ("muon", "lion_k", "adamq", "spectral_sgd"). Any
// option the rule declares (its fields(), nested ones with '.') may follow as key=value:
//   "muon:lr=0.01,polar.steps=3,nonfinite=skip"   "adamq:weight_decay=0.1"
//   "lion_k:beta_pol=0.9,map=schatten:q=3"
// A convex map spec may itself contain ',' ("power:p=0.5,method=svd"), so `map=` takes the rest
// of the string and comes last. Every error names the bad text (unknown optimizer or option,
// a value that is not a number / bool / known name, an invalid option).
#include <ATen/ATen.h>
#include <torch/optim/optimizer.h>

#include <memory>
#include <string>
#include <vector>

#include <specopt/optim/base.h>
#include <specopt/optim/fields.h>
#include <specopt/optim/optimizer_key.h>  // names are matched by optimizer_key()

namespace specopt {

struct RegisteredOptimizer {
  std::string name;     // as `specopt list` shows it ("Muon", "AdamQ", ...)
  std::string summary;  // one line
};
const std::vector<RegisteredOptimizer>& registered_optimizers();

// The options a spec describes, validated.
std::unique_ptr<RuleOptions> make_optimizer_options(const std::string& spec);

// An optimizer over `params` (one group) with the spec's options.
std::unique_ptr<SpecoptOptimizer> make_optimizer(const std::string& spec,
                                                 const std::vector<at::Tensor>& params);

// The keys set_option accepts for these options (numbers, bools, names; nested ones with '.'),
// in declaration order.
std::vector<std::string> option_keys(const RuleOptions& options);

// Sets one declared option from text (`key` as in the spec strings above); throws naming the
// rule, the key and the value. The options are validated afterwards.
void set_option(RuleOptions& options, const std::string& key, const std::string& value);

}  // namespace specopt
