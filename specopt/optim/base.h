#pragma once
// The one optimizer every specopt optimizer is (a torch::optim::Optimizer subclass). Each param
// group's options are a rule's options (specopt/optim/fields.h: RuleOptions), and the options
// decide how the group is stepped, so one optimizer steps Muon groups and AdamW groups
// together (HybridOptimizer is such an optimizer):
//
//   step(closure):  NoGradGuard; loss = closure() under AutoGradMode(true);
//                   1. gradients_finite(): ONE fused reduction over every defined gradient of
//                      the groups whose option `nonfinite` is not `ignore`, ONE device→host
//                      read; on a NaN/Inf entry the group's option decides: `error` throws
//                      naming the parameter before anything changes, `skip` skips the whole
//                      step and counts it;
//                   2. update_all(): for each group, the parameters with a defined gradient,
//                      their state created lazily (the rule's make_state()), then the rule's
//                      functional update (RuleOptions::update) over the group. The matrix
//                      functions called from here do not re-check their input.
//   Parameters whose gradient is undefined are not touched (no weight decay, no state).
//   Nothing on this path builds strings unless it throws.
//
// Validation happens at the boundaries: construction and add_param_group re-apply each
// group's own options after Optimizer's (LibTorch 2.x may replace third-party group options by
// the defaults), check that they are a specopt rule's, validate them (each type's declared
// fields), reject duplicate parameters across groups (LibTorch only sees those with state) and
// check every parameter's shape against its group's rule, so a bad setup fails before the
// first step.
//
// Muon, AdamW, ... are RuleOptimizer<XxxOptions>: this optimizer with XxxOptions as defaults.
#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/optim/optimizer.h>

#include <specopt/optim/fields.h>

#include <cstdint>
#include <memory>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace specopt {

namespace detail {
// Option checks shared by every XxxOptions::validate(); each message names the options type
// and the option, e.g. "Invalid MuonOptions.lr: -1 (must be finite and >= 0)".
void check_option_unit(const char* options, const char* name, double value);  // in [0, 1]
}  // namespace detail

class SpecoptOptimizer : public torch::optim::Optimizer {
 public:
  // Groups without options get a copy of `defaults`.
  SpecoptOptimizer(std::vector<torch::optim::OptimizerParamGroup> groups,
                   const RuleOptions& defaults);

  torch::Tensor step(LossClosure closure = nullptr) override;

  // As Optimizer's, then the group's options and shapes are checked like the constructor's;
  // a refused group is not added.
  void add_param_group(const torch::optim::OptimizerParamGroup& group);

  // Steps skipped because of a non-finite gradient (option nonfinite = skip).
  int64_t skipped_steps() const { return skipped_steps_; }
  // Restores the counter (load_checkpoint); n >= 0.
  void set_skipped_steps(int64_t n);
  // The optimizer's name as used in messages ("Muon", "HybridOptimizer", ...): the defaults'
  // rule unless a subclass says otherwise.
  virtual std::string name() const;
  // How messages and checkpoints name parameter `index` of group `group`: "param group 1,
  // parameter 0" here; a model's parameter name where the optimizer knows it (the hybrid).
  virtual std::string param_name(size_t group, size_t index) const;

  // The rule of group i (its options).
  const RuleOptions& rule(size_t group) const;

  // torch::save / torch::load: every group's options, every state field, skipped_steps
  // (the format of specopt/optim/checkpoint.h, without extras). load validates everything
  // before it changes anything.
  void save(torch::serialize::OutputArchive& archive) const override;
  void load(torch::serialize::InputArchive& archive) override;

  // The state-map key of a parameter (a string of its TensorImpl address in LibTorch 1.13,
  // the address itself in 2.x).
  template <typename Map>
  static typename Map::key_type state_key(const Map&, const at::Tensor& p) {
    using Key = typename Map::key_type;
    if constexpr (std::is_same<Key, std::string>::value) {
      std::ostringstream os;
      os << static_cast<const void*>(p.unsafeGetTensorImpl());
      return os.str();
    } else {
      return Key(p.unsafeGetTensorImpl());
    }
  }

  // Step 1 of step(): decides about NaN/Inf in every gradient at once (see the top of this
  // file). Returns false when the step is to be skipped (counted in skipped_steps()); throws
  // under `error`, nothing changed.
  bool gradients_finite();
  // Step 2 of step(): updates every group from its gradients, without checks (the distributed
  // optimizer calls it after its own check of the averaged gradients).
  void update_all();

 protected:
  // The closure's loss, evaluated with gradients enabled (undefined without a closure).
  static at::Tensor evaluate(const LossClosure& closure);
  // Options valid and a rule's, no duplicates, every parameter's shape supported.
  void check_setup() const;

  int64_t skipped_steps_ = 0;

 private:
  // The parameter's state, created by `rule` on first use.
  torch::optim::OptimizerParamState& state_for(const at::Tensor& p, const RuleOptions& rule);
  // Makes group i's options its own copy of `own` (a rule's options), or refuses.
  void adopt_options(size_t i, const torch::optim::OptimizerOptions& own);

  std::vector<RuleItem> items_;  // reused by update_all
};

namespace detail {
// Index into `grads` (all defined) of the first with a NaN/Inf entry, or -1: one fused
// reduction and one device→host read for all of them together. Every optimizer step's read
// goes through here.
int64_t first_nonfinite(const std::vector<at::Tensor>& grads);
}  // namespace detail

// Device→host reads made by detail::first_nonfinite since the program started (tests count
// the reads of a step with it).
int64_t optimizer_host_reads();

// An optimizer whose default rule is Options' (Muon = RuleOptimizer<MuonOptions>, ...).
// Groups may still carry options of any rule.
template <class Options>
class RuleOptimizer : public SpecoptOptimizer {
 public:
  static constexpr const char* kName = Options::kName;
  explicit RuleOptimizer(std::vector<at::Tensor> params, const Options& defaults = {})
      : RuleOptimizer(std::vector<torch::optim::OptimizerParamGroup>{
                          torch::optim::OptimizerParamGroup(std::move(params))},
                      defaults) {}
  explicit RuleOptimizer(std::vector<torch::optim::OptimizerParamGroup> groups,
                         const Options& defaults = {})
      : SpecoptOptimizer(std::move(groups), defaults) {}

  std::string name() const override { return Options::kName; }
};

}  // namespace specopt
