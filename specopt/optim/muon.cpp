#include <specopt/optim/muon.h>

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
  v("polar", polar_);
  v("shape_rule", shape_rule_);
  v("weight_decay", weight_decay_, Range::nonneg);
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
  std::vector<at::Tensor> U;
  for (auto& it : items) {
    auto& state = state_of<MuonParamState>(it);
    if (!state.momentum_buffer().defined()) state.momentum_buffer(at::zeros_like(it.param));
    auto& B = T::heavy_ball_(state.momentum_buffer(), it.grad, o.momentum());  // B ← μB + g
    U.push_back(o.nesterov() ? T::nesterov(it.grad, B, o.momentum()) : B);     // U = g + μB
  }
  const auto O = T::polar_map_batched(U, o.polar(), layout, kName);  // O ≈ msign(U)
  for (size_t i = 0; i < items.size(); ++i) {
    auto& X = items[i].param;
    const auto shape = T::matrix_shape(X, layout, kName);
    const double s = T::shape_scale(o.shape_rule(), shape.first, shape.second);
    T::decoupled_weight_decay_(X, o.lr(), o.weight_decay());  // X ← X − ηλX
    T::apply_update_(X, O[i], -o.lr() * s);                   // X ← X − η s O
  }
}

}  // namespace specopt
