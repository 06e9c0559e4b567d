#include <specopt/optim/normuon.h>

#include <specopt/optim/fused.h>

namespace specopt {

namespace T = transforms;

namespace {
const T::MatrixLayout kLayout{/*split_qkv=*/false, /*allow_vectors=*/false};
}  // namespace

NorMuonOptions::NorMuonOptions(double lr) : lr_(lr) {}

void NorMuonOptions::fields(FieldVisitor& v) {
  v("lr", lr_, Range::nonneg);
  v("momentum", momentum_, Range::unit);
  v("beta2", beta2_, Range::unit);
  v("nesterov", nesterov_);
  v("eps", eps_, Range::nonneg);
  v("polar", polar_);
  v("shape_rule", shape_rule_);
  v("weight_decay", weight_decay_, Range::nonneg);
  v("cautious_weight_decay", cautious_weight_decay_);
  v("nonfinite", nonfinite_);
}

void NorMuonOptions::validate() const {
  validate_fields(*this, "NorMuonOptions");
  polar().validate();
}

double NorMuonOptions::update_flops(const at::Tensor& p) const {
  return T::spectral_update_flops(p, kLayout);
}

std::vector<int64_t> NorMuonOptions::state_shape(const std::string& key, const at::Tensor& p) const {
  if (key != "row_second_moment") return p.sizes().vec();
  auto shape = T::as_matrices(p, kLayout, kName).sizes().vec();
  shape.back() = 1;
  return shape;
}

void NorMuonOptions::check_param(const at::Tensor& p, const std::string& where) const {
  T::matrix_shape(p, kLayout, where);
}

void NorMuonOptions::update(std::vector<RuleItem>& items) const {
  const NorMuonOptions& o = *this;
  std::vector<at::Tensor> M, g;
  for (auto& it : items) {
    auto& state = state_of<NorMuonParamState>(it);
    if (!state.momentum_buffer().defined()) {
      state.momentum_buffer(at::zeros_like(it.param));
      state.row_second_moment(at::zeros_like(T::as_matrices(it.param, kLayout, kName).narrow(-1, 0, 1)));
    }
    M.push_back(state.momentum_buffer());
    g.push_back(it.grad);
  }
  // M ← βM + (1−β)g;  U = βM + (1−β)g (Nesterov) or M — one pass (fused.h)
  const auto U = fused::ema_direction_(M, g, o.momentum(), o.nesterov(), o.momentum());
  const auto O = T::polar_map_batched(U, o.polar(), kLayout, kName);  // O ≈ msign(U)
  for (size_t i = 0; i < items.size(); ++i) {
    auto& X = items[i].param;
    auto& v = state_of<NorMuonParamState>(items[i]).row_second_moment();
    const auto Om = T::as_matrices(O[i], kLayout, kName);
    const auto ss = fused::row_sum_squares(Om);                          // Σ_j O² per row
    T::ema_(v, ss / static_cast<double>(Om.size(-1)), o.beta2());        // v ← β₂v + (1−β₂)mean_j O²
    const auto d = (v.sqrt() + o.eps()).reciprocal();                    // Ô = d·O, d = 1/(√v + ε)
    const auto norm_O = ss.sum({-2, -1}, true).sqrt();                   // ‖O‖_F
    const auto norm_N = (ss * d.square()).sum({-2, -1}, true).sqrt();    // ‖Ô‖_F
    const auto rows = d * (norm_O / (norm_N + o.eps()));                 // ‖Ô‖_F = ‖O‖_F
    const auto shape = T::matrix_shape(X, kLayout, kName);
    const double s = T::shape_scale(o.shape_rule(), shape.first, shape.second);
    fused::decay_and_apply_rows_(X, O[i], rows, o.lr(), o.weight_decay(), -o.lr() * s,
                                 o.cautious_weight_decay());  // W ← W(1 − ηλ) − η s Ô
  }
}

}  // namespace specopt
