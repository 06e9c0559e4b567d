#include <specopt/optim/muon.h>

namespace specopt {

MuonOptions::MuonOptions(double lr) : lr_(lr) {}

MuonOptions& MuonOptions::shape_rule(const std::string& name) {
  shape_rule_ = transforms::parse_shape_rule(name);
  return *this;
}

void MuonOptions::validate() const {
  detail::check_option_nonneg("MuonOptions", "lr", lr());
  detail::check_option_unit("MuonOptions", "momentum", momentum());
  detail::check_option_nonneg("MuonOptions", "weight_decay", weight_decay());
  polar().validate();
}

void Muon::check_param(const MuonOptions& options, const at::Tensor& p,
                       const std::string& where) {
  transforms::matrix_shape(p, {options.split_qkv(), /*allow_vectors=*/false}, where);
}

void Muon::update(const MuonOptions& o, MuonParamState& state, at::Tensor& p,
                  const at::Tensor& g) {
  namespace T = transforms;
  const T::MatrixLayout layout{o.split_qkv(), /*allow_vectors=*/false};
  if (!state.momentum_buffer().defined()) state.momentum_buffer(at::zeros_like(p));
  state.step(state.step() + 1);

  auto& B = T::heavy_ball_(state.momentum_buffer(), g, o.momentum());  // B ← μB + g
  const auto U = o.nesterov() ? T::nesterov(g, B, o.momentum()) : B;    // U = g + μB
  const auto O = T::polar_map(U, o.polar(), layout, kName);              // O ≈ msign(U)
  const auto shape = T::matrix_shape(p, layout, kName);
  const double s = T::shape_scale(o.shape_rule(), shape.first, shape.second);
  T::decoupled_weight_decay_(p, o.lr(), o.weight_decay());  // X ← X − ηλX
  T::apply_update_(p, O, -o.lr() * s);                      // X ← X − η s O
}

}  // namespace specopt
