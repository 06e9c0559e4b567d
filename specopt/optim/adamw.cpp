#include <specopt/optim/adamw.h>

#include <specopt/optim/fused.h>

namespace specopt {

AdamWOptions::AdamWOptions(double lr) : lr_(lr) {}

void AdamWOptions::fields(FieldVisitor& v) {
  v("lr", lr_, Range::nonneg);
  v("beta1", beta1_, Range::unit);
  v("beta2", beta2_, Range::unit);
  v("eps", eps_, Range::nonneg);
  v("weight_decay", weight_decay_, Range::nonneg);
  v("cautious_weight_decay", cautious_weight_decay_);
  v("nonfinite", nonfinite_);
}

void AdamWOptions::validate() const {
  validate_fields(*this, "AdamWOptions");
  TORCH_CHECK(beta1() < 1 && beta2() < 1, "Invalid AdamWOptions.",
              beta1() < 1 ? "beta2" : "beta1", ": 1 (must be < 1: bias correction divides by "
              "1 - beta^t)");
}

void AdamWOptions::update(std::vector<RuleItem>& items) const {
  std::vector<at::Tensor> W, g, m, v;
  std::vector<int64_t> steps;
  for (auto& it : items) {
    auto& state = state_of<AdamWParamState>(it);
    if (!state.exp_avg().defined()) {
      state.exp_avg(at::zeros_like(it.param));
      state.exp_avg_sq(at::zeros_like(it.param));
    }
    state.step(state.step() + 1);
    W.push_back(it.param);
    g.push_back(it.grad);
    m.push_back(state.exp_avg());
    v.push_back(state.exp_avg_sq());
    steps.push_back(state.step());
  }
  // One pass over memory for all parameters (fused.h):
  //   W ← W(1 − ηλ);  m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;  W ← W − η m̂ / (√v̂ + ε)
  fused::adamw_(W, g, m, v, steps,
                {lr(), beta1(), beta2(), eps(), weight_decay(), cautious_weight_decay()});
}

LionOptions::LionOptions(double lr) : lr_(lr) {}

void LionOptions::fields(FieldVisitor& v) {
  v("lr", lr_, Range::nonneg);
  v("beta1", beta1_, Range::unit);
  v("beta2", beta2_, Range::unit);
  v("weight_decay", weight_decay_, Range::nonneg);
  v("cautious_weight_decay", cautious_weight_decay_);
  v("nonfinite", nonfinite_);
}

void LionOptions::validate() const { validate_fields(*this, "LionOptions"); }

void LionOptions::update(std::vector<RuleItem>& items) const {
  std::vector<at::Tensor> W, g, m;
  for (auto& it : items) {
    auto& state = state_of<LionParamState>(it);
    if (!state.exp_avg().defined()) state.exp_avg(at::zeros_like(it.param));
    W.push_back(it.param);
    g.push_back(it.grad);
    m.push_back(state.exp_avg());
  }
  // One pass (fused.h): c = β₁m + (1−β₁)g;  W ← W(1 − ηλ) − η sign(c);  m ← β₂m + (1−β₂)g
  fused::lion_(W, g, m, {lr(), beta1(), beta2(), weight_decay(), cautious_weight_decay()});
}

}  // namespace specopt
