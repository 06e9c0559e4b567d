#include <specopt/optim/adamw.h>

namespace specopt {

namespace T = transforms;

AdamWOptions::AdamWOptions(double lr) : lr_(lr) {}

void AdamWOptions::fields(FieldVisitor& v) {
  v("lr", lr_, Range::nonneg);
  v("beta1", beta1_, Range::unit);
  v("beta2", beta2_, Range::unit);
  v("eps", eps_, Range::nonneg);
  v("weight_decay", weight_decay_, Range::nonneg);
  v("nonfinite", nonfinite_);
}

void AdamWOptions::validate() const {
  validate_fields(*this, "AdamWOptions");
  TORCH_CHECK(beta1() < 1 && beta2() < 1, "Invalid AdamWOptions.",
              beta1() < 1 ? "beta2" : "beta1", ": 1 (must be < 1: bias correction divides by "
              "1 - beta^t)");
}

namespace {
void adamw(const AdamWOptions& o, AdamWParamState& state, at::Tensor& p, const at::Tensor& g) {
  if (!state.exp_avg().defined()) {
    state.exp_avg(at::zeros_like(p));
    state.exp_avg_sq(at::zeros_like(p));
  }
  state.step(state.step() + 1);

  T::decoupled_weight_decay_(p, o.lr(), o.weight_decay());  // W ← W(1 − ηλ)
  T::ema_(state.exp_avg(), g, o.beta1());                   // m ← β₁m + (1−β₁)g
  T::ema_sq_(state.exp_avg_sq(), g, o.beta2());             // v ← β₂v + (1−β₂)g²
  const auto R = T::rms_normalize(state.exp_avg(), state.exp_avg_sq(), state.step(), o.beta1(),
                                  o.beta2(), o.eps());      // m̂ / (√v̂ + eps)
  T::apply_update_(p, R, -o.lr());                          // W ← W − η R
}
}  // namespace

void AdamWOptions::update(std::vector<RuleItem>& items) const {
  for (auto& it : items) adamw(*this, state_of<AdamWParamState>(it), it.param, it.grad);
}

LionOptions::LionOptions(double lr) : lr_(lr) {}

void LionOptions::fields(FieldVisitor& v) {
  v("lr", lr_, Range::nonneg);
  v("beta1", beta1_, Range::unit);
  v("beta2", beta2_, Range::unit);
  v("weight_decay", weight_decay_, Range::nonneg);
  v("nonfinite", nonfinite_);
}

void LionOptions::validate() const { validate_fields(*this, "LionOptions"); }

namespace {
void lion(const LionOptions& o, LionParamState& state, at::Tensor& p, const at::Tensor& g) {
  if (!state.exp_avg().defined()) state.exp_avg(at::zeros_like(p));

  const auto c = T::interpolate(state.exp_avg(), g, o.beta1());  // c = β₁m + (1−β₁)g
  T::decoupled_weight_decay_(p, o.lr(), o.weight_decay());       // W ← W − ηλW
  T::apply_update_(p, c.sign(), -o.lr());                        // W ← W − η sign(c)
  T::ema_(state.exp_avg(), g, o.beta2());                        // m ← β₂m + (1−β₂)g
}
}  // namespace

void LionOptions::update(std::vector<RuleItem>& items) const {
  for (auto& it : items) lion(*this, state_of<LionParamState>(it), it.param, it.grad);
}

}  // namespace specopt
