#pragma once
// Each options and state type declares its fields once, in `fields(FieldVisitor&)`:
//
//   void fields(FieldVisitor& v) override {
//     v("lr", lr_, Range::nonneg);
//     v("momentum", momentum_, Range::unit);
//     v("polar", polar_);                     // nested: polar.method, polar.steps, ...
//   }
//
// That one list drives serialize() (so torch::save / torch::load round-trip every option and
// state tensor), the range checks of validate(), operator<< and the project's checkpoint file
// (specopt/optim/checkpoint.h). A visitor sees primitive fields only (double, int64, bool,
// string, list of doubles, tensor); enums travel by their names, a dtype as its integer code
// (-1 = unset), a convex map as its registry spec, nested option structs under a prefix.
#include <ATen/ATen.h>
#include <c10/util/Optional.h>
#include <torch/optim/optimizer.h>

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include <specopt/maps/convex_map.h>
#include <specopt/matfun/polar.h>
#include <specopt/matfun/spectral_power.h>
#include <specopt/optim/transforms.h>

namespace torch {
namespace serialize {
class InputArchive;
class OutputArchive;
}  // namespace serialize
}  // namespace torch

namespace specopt {

// What a declared number must satisfy; FieldValidator checks it.
enum class Range {
  any,
  nonneg,    // finite and >= 0
  unit,      // in [0, 1]
  positive,  // finite and > 0
};

// What a step does when a gradient has a NaN/Inf entry (every rule's option `nonfinite`).
enum class NonFinite {
  error,   // refuse the step before anything changes, naming the parameter (default)
  skip,    // skip the whole step; skipped_steps() counts it
  ignore,  // no check and no device→host read (NaN/Inf flow into the update, as in
           // torch.optim.Muon)
};
std::string to_string(NonFinite n);
// "error" | "skip" | "ignore"; throws naming the unknown value otherwise.
NonFinite parse_nonfinite(const std::string& name);

class FieldVisitor {
 public:
  virtual ~FieldVisitor() = default;

  // Primitive fields; `key` is the full dotted name ("polar.steps"). A visitor overrides the
  // kinds it cares about; the others are ignored.
  virtual void visit(const std::string& key, double& x, Range range) {}
  virtual void visit(const std::string& key, int64_t& x, Range range) {}
  virtual void visit(const std::string& key, bool& x) {}
  virtual void visit(const std::string& key, std::string& x) {}
  virtual void visit(const std::string& key, std::vector<double>& x) {}
  virtual void visit(const std::string& key, at::Tensor& x) {}

  void operator()(const std::string& name, double& x, Range range = Range::any) {
    visit(key(name), x, range);
  }
  void operator()(const std::string& name, int64_t& x, Range range = Range::any) {
    visit(key(name), x, range);
  }
  void operator()(const std::string& name, int& x, Range range = Range::any);
  void operator()(const std::string& name, bool& x) { visit(key(name), x); }
  void operator()(const std::string& name, std::string& x) { visit(key(name), x); }
  void operator()(const std::string& name, at::Tensor& x) { visit(key(name), x); }
  void operator()(const std::string& name, ShapeRule& x);
  void operator()(const std::string& name, PolarMethod& x);
  void operator()(const std::string& name, PowerMethod& x);
  void operator()(const std::string& name, NonFinite& x);
  void operator()(const std::string& name, c10::optional<at::ScalarType>& x);
  // A map travels as its registry spec (ConvexMap::name(), which make_convex_map rebuilds);
  // the object is replaced only when a visitor changed the spec.
  void operator()(const std::string& name, std::shared_ptr<const ConvexMap>& x);
  void operator()(const std::string& name, NsSchedule& x);
  void operator()(const std::string& name, PolarOptions& x);
  void operator()(const std::string& name, PowerOptions& x);

 protected:
  std::string key(const std::string& name) const { return prefix_ + name; }

 private:
  // Visits `visit_nested` with `name.` prepended to every key.
  template <class F>
  void nested(const std::string& name, F&& visit_nested) {
    const std::string saved = prefix_;
    prefix_ += name + ".";
    visit_nested();
    prefix_ = saved;
  }
  std::string prefix_;
};

// Anything with declared fields (every specopt options and state type).
class DeclaredFields {
 public:
  virtual ~DeclaredFields() = default;
  // Visits every field once. Visitors that only read (writers, printers, validators) are
  // handed a const object's fields through a const_cast: they never assign.
  virtual void fields(FieldVisitor& v) = 0;
};

// One parameter of a group being stepped: its state (of the group's rule's type, created by
// make_state()), the parameter (in-place updates reach the model's tensor) and its gradient.
struct RuleItem {
  torch::optim::OptimizerParamState* state = nullptr;
  at::Tensor param;
  at::Tensor grad;
};

// The facts every specopt options type gives about its update rule. A param group's options
// decide how the group is stepped, so one optimizer steps groups of several rules.
class RuleOptions : public DeclaredFields {
 public:
  // The rule's name in messages and checkpoints ("Muon", "AdamW", ...).
  virtual const char* kind() const = 0;
  // Throws naming the first invalid option ("Invalid MuonOptions.lr: -1 (...)").
  virtual void validate() const = 0;
  // A fresh, empty per-parameter state of this rule.
  virtual std::unique_ptr<torch::optim::OptimizerParamState> make_state() const = 0;
  // *this = other; both of this rule's options type.
  virtual void assign(const RuleOptions& other) = 0;
  // A copy, as the options LibTorch's Optimizer keeps per group.
  virtual std::unique_ptr<torch::optim::OptimizerOptions> clone_options() const = 0;

  // The update rule as a function (torch's optim/_functional style): steps `items`, one
  // group's parameters that have a gradient, with these options. No optimizer object is
  // involved: SpecoptOptimizer::step, the distributed optimizer and the Python binding all
  // call it. Inputs are trusted (checked when the parameter joined the optimizer).
  virtual void update(std::vector<RuleItem>& items) const = 0;
  // Throws, naming `where`, when the rule cannot step a parameter of p's shape.
  virtual void check_param(const at::Tensor& p, const std::string& where) const {}
  // True when each element's update depends on that element alone (AdamW, Lion): such a
  // parameter may be cut into slices stepped independently (specopt/dist).
  virtual bool elementwise() const { return false; }
  // The shape of state tensor `key` of parameter p (checked when a checkpoint loads): p's own,
  // unless the rule keeps a reduced statistic (NorMuon's per-row second moment).
  virtual std::vector<int64_t> state_shape(const std::string& key, const at::Tensor& p) const {
    return p.sizes().vec();
  }
  // Estimated FLOPs of one update of p, to balance the ranks' work: the Newton–Schulz FLOPs
  // of its matrices for spectral rules, a few per element otherwise.
  virtual double update_flops(const at::Tensor& p) const;

  NonFinite nonfinite() const { return nonfinite_; }
  void set_nonfinite(NonFinite n) { nonfinite_ = n; }

 protected:
  NonFinite nonfinite_ = NonFinite::error;
};

// The state of `item`, as the rule's own state type (make_state() made it).
template <class State>
State& state_of(const RuleItem& item) {
  return static_cast<State&>(*item.state);
}

// Options of a rule: Derived declares kName, TORCH_ARG(double, lr), fields(), validate() and
// update(); State is its param state.
template <class Derived, class State>
class RuleOptionsBase : public torch::optim::OptimizerCloneableOptions<Derived>,
                        public RuleOptions {
 public:
  const char* kind() const override { return Derived::kName; }
  std::unique_ptr<torch::optim::OptimizerParamState> make_state() const override {
    return std::make_unique<State>();
  }
  void assign(const RuleOptions& other) override {
    static_cast<Derived&>(*this) = dynamic_cast<const Derived&>(other);
  }
  std::unique_ptr<torch::optim::OptimizerOptions> clone_options() const override {
    return std::make_unique<Derived>(static_cast<const Derived&>(*this));
  }
  double get_lr() const override { return static_cast<const Derived&>(*this).lr(); }
  void set_lr(const double lr) override { static_cast<Derived&>(*this).lr(lr); }
  // On a NaN/Inf gradient (see NonFinite); declared by each rule as the field "nonfinite".
  using RuleOptions::nonfinite;
  Derived& nonfinite(NonFinite n) {
    nonfinite_ = n;
    return static_cast<Derived&>(*this);
  }
  Derived& nonfinite(const std::string& name) { return nonfinite(parse_nonfinite(name)); }
  Derived& nonfinite(const char* name) { return nonfinite(std::string(name)); }
  // Shorthand: true → nonfinite(skip), false → nonfinite(error).
  Derived& skip_nonfinite(bool skip) { return nonfinite(skip ? NonFinite::skip : NonFinite::error); }
  bool skip_nonfinite() const { return nonfinite_ == NonFinite::skip; }
  void serialize(torch::serialize::OutputArchive& archive) const override;
  void serialize(torch::serialize::InputArchive& archive) override;
};

// State of a rule: Derived declares fields().
template <class Derived>
class RuleStateBase : public torch::optim::OptimizerCloneableParamState<Derived>,
                      public DeclaredFields {
 public:
  void serialize(torch::serialize::OutputArchive& archive) const override;
  void serialize(torch::serialize::InputArchive& archive) override;
};

// The declared fields as archive entries "<prefix><key>" (dots spelled '_': archive entries
// are TorchScript attribute names). Undefined tensors are not written.
void write_fields(torch::serialize::OutputArchive& archive, const std::string& prefix,
                  const DeclaredFields& x);
// Reads every declared field; throws naming `source` and the key when one is missing or of
// another type. An absent tensor entry reads as an undefined tensor.
void read_fields(torch::serialize::InputArchive& archive, const std::string& prefix,
                 DeclaredFields& x, const std::string& source);
// Checks every number declared with a Range; messages "Invalid <options>.<key>: <value> (...)".
void validate_fields(const DeclaredFields& x, const char* options);
// "lr=0.02, momentum=0.95, polar.method=newton_schulz, ..." (tensors as their shapes).
std::string describe_fields(const DeclaredFields& x);

// Calls f(key, tensor) for every declared tensor field, in declaration order.
void for_each_tensor(DeclaredFields& x,
                     const std::function<void(const std::string& key, at::Tensor& t)>& f);

// MuonOptions(lr=0.02, momentum=0.95, ...), for every rule's options.
std::ostream& operator<<(std::ostream& os, const RuleOptions& options);

template <class Derived, class State>
void RuleOptionsBase<Derived, State>::serialize(torch::serialize::OutputArchive& archive) const {
  write_fields(archive, "", *this);
}
template <class Derived, class State>
void RuleOptionsBase<Derived, State>::serialize(torch::serialize::InputArchive& archive) {
  read_fields(archive, "", *this, Derived::kName);
  validate();
}
template <class Derived>
void RuleStateBase<Derived>::serialize(torch::serialize::OutputArchive& archive) const {
  write_fields(archive, "", *this);
}
template <class Derived>
void RuleStateBase<Derived>::serialize(torch::serialize::InputArchive& archive) {
  read_fields(archive, "", *this, "optimizer state");
}

}  // namespace specopt
