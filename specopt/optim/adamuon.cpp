#include <specopt/optim/adamuon.h>

#include <cmath>

#include <specopt/optim/fused.h>
#include <specopt/optim/transforms.h>

namespace specopt {

namespace T = transforms;

AdaMuonOptions::AdaMuonOptions(double lr) : lr_(lr) {}

void AdaMuonOptions::fields(FieldVisitor& v) {
  v("lr", lr_, Range::nonneg);
  v("momentum", momentum_, Range::unit);
  v("nesterov", nesterov_);
  v("sign_momentum", sign_momentum_);
  v("beta2", beta2_, Range::unit);
  v("eps", eps_, Range::nonneg);
  v("rms", rms_, Range::nonneg);
  v("polar", polar_);
  v("weight_decay", weight_decay_, Range::nonneg);
  v("cautious_weight_decay", cautious_weight_decay_);
  v("split_qkv", split_qkv_);
  v("nonfinite", nonfinite_);
}

void AdaMuonOptions::validate() const {
  validate_fields(*this, "AdaMuonOptions");
  polar().validate();
}

void AdaMuonOptions::check_param(const at::Tensor& p, const std::string& where) const {
  T::matrix_shape(p, {split_qkv(), /*allow_vectors=*/false}, where);
}

double AdaMuonOptions::update_flops(const at::Tensor& p) const {
  return T::spectral_update_flops(p, {split_qkv(), /*allow_vectors=*/false});
}

void AdaMuonOptions::update(std::vector<RuleItem>& items) const {
  const AdaMuonOptions& o = *this;
  const T::MatrixLayout layout{o.split_qkv(), /*allow_vectors=*/false};
  std::vector<at::Tensor> S;
  for (auto& it : items) {
    auto& state = state_of<AdaMuonParamState>(it);
    if (!state.momentum_buffer().defined()) {
      state.momentum_buffer(at::zeros_like(it.param));
      state.exp_avg_sq(at::zeros_like(it.param));
    }
    auto& M = T::ema_(state.momentum_buffer(), it.grad, o.momentum());      // M ← βM + (1−β)g
    auto U = o.nesterov() ? T::interpolate(M, it.grad, o.momentum()) : M;  // U = βM + (1−β)g
    S.push_back(o.sign_momentum() ? U.sign() : U);                         // sign(U)
  }
  const auto O = T::polar_map_batched(S, o.polar(), layout, kName);  // O ≈ msign(sign(U))
  for (size_t i = 0; i < items.size(); ++i) {
    auto& X = items[i].param;
    auto& V = T::ema_sq_(state_of<AdaMuonParamState>(items[i]).exp_avg_sq(), O[i], o.beta2());
    // Ô = O ⊘ (√V + ε), then each matrix rescaled to RMS `rms`: γ = rms·√(rows·cols)/(‖Ô‖_F + ε).
    const auto N = T::as_matrices(O[i] / (V.sqrt() + o.eps()), layout, kName);
    const auto shape = T::matrix_shape(X, layout, kName);
    const double target = o.rms() * std::sqrt(double(shape.first) * double(shape.second));
    const auto gamma = target / (N.square().sum({-2, -1}, /*keepdim=*/true).sqrt() + o.eps());
    fused::decay_and_apply_({X}, {(N * gamma).reshape(X.sizes())}, o.lr(), o.weight_decay(),
                            {-o.lr()}, o.cautious_weight_decay());  // W ← W(1 − ηλ) − η γ Ô
  }
}

}  // namespace specopt
