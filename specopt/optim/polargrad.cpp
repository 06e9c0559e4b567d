#include <specopt/optim/polargrad.h>

#include <specopt/optim/fused.h>
#include <specopt/optim/transforms.h>

namespace specopt {

namespace T = transforms;

PolarGradOptions::PolarGradOptions(double lr) : lr_(lr) {}

void PolarGradOptions::fields(FieldVisitor& v) {
  v("lr", lr_, Range::nonneg);
  v("momentum", momentum_, Range::unit);
  v("nesterov", nesterov_);
  v("scale", scale_, Range::nonneg);
  v("polar", polar_);
  v("weight_decay", weight_decay_, Range::nonneg);
  v("cautious_weight_decay", cautious_weight_decay_);
  v("split_qkv", split_qkv_);
  v("nonfinite", nonfinite_);
}

void PolarGradOptions::validate() const {
  validate_fields(*this, "PolarGradOptions");
  polar().validate();
}

void PolarGradOptions::check_param(const at::Tensor& p, const std::string& where) const {
  T::matrix_shape(p, {split_qkv(), /*allow_vectors=*/false}, where);
}

double PolarGradOptions::update_flops(const at::Tensor& p) const {
  return T::spectral_update_flops(p, {split_qkv(), /*allow_vectors=*/false});
}

void PolarGradOptions::update(std::vector<RuleItem>& items) const {
  const PolarGradOptions& o = *this;
  const T::MatrixLayout layout{o.split_qkv(), /*allow_vectors=*/false};
  std::vector<at::Tensor> U;
  for (auto& it : items) {
    auto& state = state_of<PolarGradParamState>(it);
    if (!state.momentum_buffer().defined()) state.momentum_buffer(at::zeros_like(it.param));
    auto& M = T::ema_(state.momentum_buffer(), it.grad, o.momentum());        // M ← βM + (1−β)g
    U.push_back(o.nesterov() ? T::interpolate(M, it.grad, o.momentum()) : M);  // U
  }
  const auto O = T::polar_map_batched(U, o.polar(), layout, kName);  // O ≈ polar(U)
  for (size_t i = 0; i < items.size(); ++i) {
    auto& X = items[i].param;
    const auto Om = T::as_matrices(O[i], layout, kName);
    // ν = ⟨O, U⟩ per matrix (= tr H of U = O H, the nuclear norm for an exact polar factor).
    const auto nu = (Om * T::as_matrices(U[i], layout, kName)).sum({-2, -1}, /*keepdim=*/true);
    fused::decay_and_apply_({X}, {(Om * nu).reshape(X.sizes())}, o.lr(), o.weight_decay(),
                            {-o.lr() * o.scale()},
                            o.cautious_weight_decay());  // W ← W(1 − ηλ) − η s ν O
  }
}

}  // namespace specopt
