#include <specopt/optim/muon.h>

#include <specopt/optim/fused.h>

namespace specopt {

MuonOptions::MuonOptions(double lr) : lr_(lr) {}

MuonOptions& MuonOptions::shape_rule(const std::string& name) {
  shape_rule_ = transforms::parse_shape_rule(name);
  return *this;
}

MuonOptions& MuonOptions::ns_steps(int steps) {
  polar_.steps(steps);
  return *this;
}

MuonOptions& MuonOptions::ns_coefficients(const std::tuple<double, double, double>& abc) {
  const std::array<double, 3> triple{std::get<0>(abc), std::get<1>(abc), std::get<2>(abc)};
  const auto jordan = NsSchedule::jordan();
  polar_.schedule(jordan.coefficients.size() == 1 && jordan.coefficients[0] == triple
                      ? jordan
                      : NsSchedule::custom({triple}));
  return *this;
}

std::tuple<double, double, double> MuonOptions::ns_coefficients() const {
  const auto& c = polar_.schedule().at_step(0);
  return {c[0], c[1], c[2]};
}

MuonOptions& MuonOptions::eps(double eps) {
  polar_.eps(eps);
  return *this;
}

void MuonOptions::fields(FieldVisitor& v) {
  v("lr", lr_, Range::nonneg);
  v("momentum", momentum_, Range::unit);
  v("nesterov", nesterov_);
  v("ema_momentum", ema_momentum_);
  v("polar", polar_);
  v("shape_rule", shape_rule_);
  v("weight_decay", weight_decay_, Range::nonneg);
  v("cautious_weight_decay", cautious_weight_decay_);
  v("split_qkv", split_qkv_);
  v("nonfinite", nonfinite_);
}

void MuonOptions::validate() const {
  validate_fields(*this, "MuonOptions");
  polar().validate();
}

void MuonOptions::check_param(const at::Tensor& p, const std::string& where) const {
  transforms::matrix_shape(p, {split_qkv(), /*allow_vectors=*/false}, where);
}

double MuonOptions::update_flops(const at::Tensor& p) const {
  return transforms::spectral_update_flops(p, {split_qkv(), /*allow_vectors=*/false});
}

void MuonOptions::update(std::vector<RuleItem>& items) const {
  const MuonOptions& o = *this;
  namespace T = transforms;
  const T::MatrixLayout layout{o.split_qkv(), /*allow_vectors=*/false};
  std::vector<at::Tensor> X, B, g;
  std::vector<double> alphas;
  for (auto& it : items) {
    auto& state = state_of<MuonParamState>(it);
    if (!state.momentum_buffer().defined()) state.momentum_buffer(at::zeros_like(it.param));
    X.push_back(it.param);
    B.push_back(state.momentum_buffer());
    g.push_back(it.grad);
    const auto shape = T::matrix_shape(it.param, layout, kName);
    alphas.push_back(-o.lr() * T::shape_scale(o.shape_rule(), shape.first, shape.second));
  }
  // B ← μB + g;  U = g + μB (Nesterov) or B — one pass (fused.h); or the EMA form
  const auto U = o.ema_momentum()
                     ? fused::ema_direction_(B, g, o.momentum(), o.nesterov(), o.momentum())
                     : fused::heavy_ball_direction_(B, g, o.momentum(), o.nesterov());
  const auto O = T::polar_map_batched(U, o.polar(), layout, kName);  // O ≈ msign(U)
  fused::decay_and_apply_(X, O, o.lr(), o.weight_decay(), alphas,
                          o.cautious_weight_decay());  // X ← X(1 − ηλ) − η s O
}

}  // namespace specopt
