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

void Muon::update_group(const MuonOptions& o, std::vector<Item>& items) {
  namespace T = transforms;
  const T::MatrixLayout layout{o.split_qkv(), /*allow_vectors=*/false};
  std::vector<at::Tensor> U;
  for (auto& it : items) {
    auto& state = *it.state;
    if (!state.momentum_buffer().defined()) state.momentum_buffer(at::zeros_like(it.param));
    state.step(state.step() + 1);
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
