#pragma once
// The step skeleton every specopt optimizer shares (a torch::optim::Optimizer subclass):
//
//   step(closure):  NoGradGuard; loss = closure() under AutoGradMode(true);
//                   1. gradients_finite(): ONE fused reduction over every defined gradient of
//                      the groups whose option `nonfinite` is not `ignore`, ONE device→host
//                      read; on a NaN/Inf entry the group's option decides: `error` throws
//                      naming (group, parameter, shape) before anything changes, `skip` skips
//                      the whole step and counts it;
//                   2. update_all(): for each group, the parameters with a defined gradient,
//                      their state created lazily, Derived::update_group (or update) per group.
//                      The matrix functions called from here do not re-check their input.
//   Parameters whose gradient is undefined are not touched (no weight decay, no state).
//   Nothing on this path builds strings unless it throws.
//
// Validation happens at the boundaries: construction and add_param_group re-apply each
// group's own options after Optimizer's (LibTorch 2.x may replace third-party group options by
// the defaults), check the options' type, validate them (each type's declared fields, see
// specopt/optim/fields.h), reject duplicate parameters across groups (LibTorch only sees those
// with state) and check every parameter's shape, so a bad setup fails before the first step.
#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <c10/util/Exception.h>
#include <torch/optim/optimizer.h>

#include <specopt/matfun/validate.h>
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

// Non-template base: what callers can ask of any specopt optimizer.
class SpecoptOptimizer : public torch::optim::Optimizer {
 public:
  using torch::optim::Optimizer::Optimizer;

  // Steps skipped because of a non-finite gradient (option nonfinite = skip).
  int64_t skipped_steps() const { return skipped_steps_; }
  // Restores the counter (load_checkpoint); n >= 0.
  void set_skipped_steps(int64_t n) {
    TORCH_CHECK(n >= 0, name(), ": skipped_steps must be >= 0, got ", n);
    skipped_steps_ = n;
  }
  // The optimizer's name as used in messages ("Muon", "LionK", ...).
  virtual std::string name() const = 0;

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
  // Step 2 of step(): updates every group from its gradients, without checks. HybridOptimizer
  // and DistributedOptimizer call it after their own one check of all gradients.
  virtual void update_all() = 0;

 protected:
  // Throws if a parameter appears twice across all groups.
  void check_no_duplicates() const;

  int64_t skipped_steps_ = 0;
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

// Derived provides:
//   static void check_param(const Options&, const at::Tensor& p, const std::string& where);
//   void update(const Options&, State&, at::Tensor& p, const at::Tensor& grad);
//     or, to see a whole group at once, void update_group(const Options&, std::vector<Item>&);
// Options is a RuleOptions (specopt/optim/fields.h): declared fields, validate(), nonfinite().
template <typename Derived, typename Options, typename State>
class OptimizerBase : public SpecoptOptimizer {
 public:
  // Derived optimizers inherit both constructors (`using OptimizerBase::OptimizerBase;`).
  explicit OptimizerBase(std::vector<at::Tensor> params, const Options& defaults = {})
      : OptimizerBase(std::vector<torch::optim::OptimizerParamGroup>{
                          torch::optim::OptimizerParamGroup(std::move(params))},
                      defaults) {}

  explicit OptimizerBase(std::vector<torch::optim::OptimizerParamGroup> groups,
                         const Options& defaults = {})
      : SpecoptOptimizer(groups, std::make_unique<Options>(defaults)) {
    defaults.validate();
    for (size_t i = 0; i < groups.size() && i < param_groups_.size(); ++i) {
      if (!groups[i].has_options()) continue;
      const auto* own = dynamic_cast<const Options*>(&groups[i].options());
      TORCH_CHECK(own != nullptr, Derived::kName, ": param group ", i,
                  " carries options of another optimizer type");
      param_groups_[i].set_options(std::make_unique<Options>(*own));
    }
    check_setup();
  }

  torch::Tensor step(LossClosure closure = nullptr) override {
    c10::NoGradGuard no_grad;
    at::Tensor loss;
    if (closure) {
      c10::AutoGradMode enable_grad(true);
      loss = closure();
    }
    if (gradients_finite()) update_all();
    return loss;
  }

  void update_all() override {
    c10::NoGradGuard no_grad;
    detail::InputsCheckedScope inputs_checked;
    std::vector<Item> items;
    for (auto& group : param_groups_) {
      items.clear();
      for (auto& p : group.params()) {
        if (!p.grad().defined()) continue;
        // `param` shares storage with p: in-place updates reach the parameter.
        items.push_back({&state_of(p), p, p.grad()});
      }
      if (!items.empty()) static_cast<Derived*>(this)->update_group(options_of(group), items);
    }
  }

  // As Optimizer's, then the group's options and shapes are checked like the constructor's.
  void add_param_group(const torch::optim::OptimizerParamGroup& group) {
    SpecoptOptimizer::add_param_group(group);
    if (group.has_options()) {
      const auto* own = dynamic_cast<const Options*>(&group.options());
      TORCH_CHECK(own != nullptr, Derived::kName, ": the added param group carries options of "
                                                  "another optimizer type");
      param_groups_.back().set_options(std::make_unique<Options>(*own));
    }
    try {
      check_setup();
    } catch (...) {
      param_groups_.pop_back();
      throw;
    }
  }

  std::string name() const override { return Derived::kName; }

  // One parameter of a group being stepped: its state, the parameter and its gradient.
  struct Item {
    State* state;
    at::Tensor param;
    at::Tensor grad;
  };

  // Steps the parameters of one group that have a gradient. The default calls
  // Derived::update on each; an optimizer whose matrix function benefits from batching
  // same-shape matrices (Muon, the spectral-power family) defines its own update_group.
  void update_group(const Options& options, std::vector<Item>& items) {
    for (auto& it : items) static_cast<Derived*>(this)->update(options, *it.state, it.param, it.grad);
  }

 protected:
  static const Options& options_of(const torch::optim::OptimizerParamGroup& group) {
    const auto* o = dynamic_cast<const Options*>(&group.options());
    TORCH_CHECK(o != nullptr, Derived::kName, ": a param group carries options of another "
                                              "optimizer type");
    return *o;
  }

  // The parameter's state, created (default-constructed) on first use.
  State& state_of(const at::Tensor& p) {
    auto key = state_key(state_, p);
    auto it = state_.find(key);
    if (it == state_.end()) {
      it = state_.emplace(std::move(key), std::make_unique<State>()).first;
    }
    return static_cast<State&>(*it->second);
  }

  // Options valid, no duplicates, every parameter's shape supported.
  void check_setup() const {
    check_no_duplicates();
    for (size_t gi = 0; gi < param_groups_.size(); ++gi) {
      const Options& options = options_of(param_groups_[gi]);
      options.validate();
      const auto& params = param_groups_[gi].params();
      for (size_t pi = 0; pi < params.size(); ++pi) {
        std::ostringstream where;
        where << Derived::kName << ": param group " << gi << ", parameter " << pi;
        Derived::check_param(options, params[pi], where.str());
      }
    }
  }
};

}  // namespace specopt
