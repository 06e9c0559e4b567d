#include <specopt/optim/spectral_adam.h>

#include <specopt/optim/fused.h>

namespace specopt {

namespace {
namespace T = transforms;

// W ← W(1 − η wd) − η s Ψ_p(Xᵢ) for every update Xᵢ of a group (same-sized matrices batched),
// s the shape factor of its parameter's matrices. Ψ_1 is the identity: Xᵢ is used as it is.
void apply_scaled_powers(std::vector<RuleItem>& items, const std::vector<at::Tensor>& Xs,
                         double p, const PowerOptions& power, ShapeRule rule, bool split_qkv,
                         double lr, double weight_decay, bool cautious, const char* who) {
  const T::MatrixLayout layout{split_qkv, /*allow_vectors=*/p == 1.0};
  const auto U = p == 1.0 ? Xs : T::power_map_batched(Xs, p, power, layout, who);  // Ψ_p(X)
  std::vector<at::Tensor> W;
  std::vector<double> alphas;
  for (size_t i = 0; i < items.size(); ++i) {
    W.push_back(items[i].param);
    double s = 1.0;
    if (rule != ShapeRule::none) {
      const auto shape = T::matrix_shape(U[i], layout, who);
      s = T::shape_scale(rule, shape.first, shape.second);
    }
    alphas.push_back(-lr * s);
  }
  fused::decay_and_apply_(W, U, lr, weight_decay, alphas, cautious);  // W ← W(1 − η wd) − η s Ψ_p(X)
}

}  // namespace

// ---- SpectralAdam -----------------------------------------------------------------------

SpectralAdamOptions::SpectralAdamOptions(double lr) : lr_(lr) {}

SpectralAdamOptions& SpectralAdamOptions::shape_rule(const std::string& name) {
  shape_rule_ = T::parse_shape_rule(name);
  return *this;
}

SpectralAdamOptions SpectralAdamOptions::adam(double lr) { return SpectralAdamOptions(lr).p(1.0); }
SpectralAdamOptions SpectralAdamOptions::adams(double lr) { return SpectralAdamOptions(lr).p(0.5); }
SpectralAdamOptions SpectralAdamOptions::adamq(double lr) { return SpectralAdamOptions(lr).p(0.25); }
SpectralAdamOptions SpectralAdamOptions::adamz(double lr) {
  return SpectralAdamOptions(lr).p(0.0).shape_rule(ShapeRule::original);
}

void SpectralAdamOptions::fields(FieldVisitor& v) {
  v("lr", lr_, Range::nonneg);
  v("p", p_, Range::unit);
  v("beta1", beta1_, Range::unit);
  v("beta2", beta2_, Range::unit);
  v("eps", eps_, Range::nonneg);
  v("weight_decay", weight_decay_, Range::nonneg);
  v("cautious_weight_decay", cautious_weight_decay_);
  v("power", power_);
  v("shape_rule", shape_rule_);
  v("split_qkv", split_qkv_);
  v("nonfinite", nonfinite_);
}

void SpectralAdamOptions::validate() const {
  validate_fields(*this, "SpectralAdamOptions");
  TORCH_CHECK(beta1() < 1 && beta2() < 1, "Invalid SpectralAdamOptions.",
              beta1() < 1 ? "beta2" : "beta1", ": 1 (must be < 1: bias correction divides by "
              "1 - beta^t)");
  power().validate();
}

double SpectralAdamOptions::update_flops(const at::Tensor& X) const {
  return p() < 1.0 ? T::spectral_update_flops(X, {split_qkv(), /*allow_vectors=*/false})
                   : T::elementwise_update_flops(X);
}

void SpectralAdamOptions::check_param(const at::Tensor& p, const std::string& where) const {
  const SpectralAdamOptions& o = *this;
  if (o.p() != 1.0) T::matrix_shape(p, {o.split_qkv(), /*allow_vectors=*/false}, where);
}

void SpectralAdamOptions::update(std::vector<RuleItem>& items) const {
  const SpectralAdamOptions& o = *this;
  std::vector<at::Tensor> g, m, v;
  std::vector<int64_t> steps;
  for (auto& it : items) {
    auto& state = state_of<SpectralAdamParamState>(it);
    if (!state.exp_avg().defined()) {
      state.exp_avg(at::zeros_like(it.param));
      state.exp_avg_sq(at::zeros_like(it.param));
    }
    state.step(state.step() + 1);
    g.push_back(it.grad);
    m.push_back(state.exp_avg());
    v.push_back(state.exp_avg_sq());
    steps.push_back(state.step());
  }
  // m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;  R = m̂ / (√v̂ + eps) — one pass (fused.h)
  const auto R = fused::adam_ratio_(g, m, v, steps, {o.lr(), o.beta1(), o.beta2(), o.eps()});
  apply_scaled_powers(items, R, o.p(), o.power(), o.shape_rule(), o.split_qkv(), o.lr(),
                      o.weight_decay(), o.cautious_weight_decay(), kName);  // W ← W(1 − η wd) − η s Ψ_p(R)
}

// ---- SpectralSGD ------------------------------------------------------------------------

SpectralSGDOptions::SpectralSGDOptions(double lr) : lr_(lr) {}

SpectralSGDOptions& SpectralSGDOptions::shape_rule(const std::string& name) {
  shape_rule_ = T::parse_shape_rule(name);
  return *this;
}

SpectralSGDOptions SpectralSGDOptions::msgd(double lr) { return SpectralSGDOptions(lr).p(1.0); }
SpectralSGDOptions SpectralSGDOptions::msgds(double lr) { return SpectralSGDOptions(lr).p(0.5); }
SpectralSGDOptions SpectralSGDOptions::msgdq(double lr) { return SpectralSGDOptions(lr).p(0.25); }
SpectralSGDOptions SpectralSGDOptions::msgdz(double lr) {
  return SpectralSGDOptions(lr).p(0.0).shape_rule(ShapeRule::original);
}

void SpectralSGDOptions::fields(FieldVisitor& v) {
  v("lr", lr_, Range::nonneg);
  v("p", p_, Range::unit);
  v("momentum", momentum_, Range::unit);
  v("weight_decay", weight_decay_, Range::nonneg);
  v("cautious_weight_decay", cautious_weight_decay_);
  v("power", power_);
  v("shape_rule", shape_rule_);
  v("split_qkv", split_qkv_);
  v("nonfinite", nonfinite_);
}

void SpectralSGDOptions::validate() const {
  validate_fields(*this, "SpectralSGDOptions");
  power().validate();
}

double SpectralSGDOptions::update_flops(const at::Tensor& X) const {
  return p() < 1.0 ? T::spectral_update_flops(X, {split_qkv(), /*allow_vectors=*/false})
                   : T::elementwise_update_flops(X);
}

void SpectralSGDOptions::check_param(const at::Tensor& p, const std::string& where) const {
  const SpectralSGDOptions& o = *this;
  if (o.p() != 1.0) T::matrix_shape(p, {o.split_qkv(), /*allow_vectors=*/false}, where);
}

void SpectralSGDOptions::update(std::vector<RuleItem>& items) const {
  const SpectralSGDOptions& o = *this;
  std::vector<at::Tensor> buf;
  for (auto& it : items) {
    auto& state = state_of<SpectralSGDParamState>(it);
    buf.push_back(T::heavy_ball_init_(state.momentum_buffer(), it.grad,
                                      o.momentum()));  // buf ← g, then μ buf + g
  }
  apply_scaled_powers(items, buf, o.p(), o.power(), o.shape_rule(), o.split_qkv(), o.lr(),
                      o.weight_decay(), o.cautious_weight_decay(), kName);  // W ← W(1 − η wd) − η s Ψ_p(buf)
}

}  // namespace specopt
