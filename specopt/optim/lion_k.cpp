#include <specopt/optim/lion_k.h>

#include <specopt/maps/registry.h>
#include <specopt/optim/fused.h>

#include <algorithm>

namespace specopt {

LionKOptions::LionKOptions(double lr) : lr_(lr), map_(make_convex_map("nuclear")) {}

LionKOptions& LionKOptions::map(const std::string& spec) {
  map_ = make_convex_map(spec);
  return *this;
}

LionKOptions& LionKOptions::lion_betas(double beta1, double beta2) {
  detail::check_option_unit("LionKOptions", "lion_betas.beta1", beta1);
  detail::check_option_unit("LionKOptions", "lion_betas.beta2", beta2);
  TORCH_CHECK(beta2 > 0, "Invalid LionKOptions.lion_betas.beta2: ", beta2,
              " (must be > 0: beta_nes = beta1/beta2)");
  beta_pol_ = beta2;
  beta_nes_ = beta1 / beta2;
  return *this;
}

void LionKOptions::fields(FieldVisitor& v) {
  v("lr", lr_, Range::nonneg);
  v("map", map_);
  v("beta_pol", beta_pol_, Range::unit);
  v("beta_nes", beta_nes_);  // range checked below: it depends on beta_pol
  v("weight_decay", weight_decay_, Range::nonneg);
  v("cautious_weight_decay", cautious_weight_decay_);
  v("implicit_weight_decay", implicit_weight_decay_);
  v("split_qkv", split_qkv_);
  v("nonfinite", nonfinite_);
}

void LionKOptions::validate() const {
  validate_fields(*this, "LionKOptions");
  // β_nes ∈ [0, 1]; it may exceed 1 only as far as Lion's spelling reaches with β₁ ≤ 1,
  // i.e. up to β₁/β₂ ≤ 1/β_pol.
  const double nes_max = beta_pol() > 0 ? std::max(1.0, 1.0 / beta_pol()) : 1.0;
  TORCH_CHECK(beta_nes() >= 0 && beta_nes() <= nes_max, "Invalid LionKOptions.beta_nes: ",
              beta_nes(), " (must be in [0, 1], or up to 1/beta_pol = beta1/beta2 with Lion's "
              "spelling lion_betas(beta1, beta2))");
  TORCH_CHECK(map() != nullptr, "Invalid LionKOptions.map: null");
  TORCH_CHECK(!(cautious_weight_decay() && implicit_weight_decay()),
              "Invalid LionKOptions.cautious_weight_decay: true together with "
              "implicit_weight_decay (cautious decay is decoupled decay with a mask; choose one)");
}

void LionKOptions::check_param(const at::Tensor& p, const std::string& where) const {
  transforms::matrix_shape(p, {split_qkv(), /*allow_vectors=*/true}, where);
}

double LionKOptions::update_flops(const at::Tensor& p) const {
  return transforms::spectral_update_flops(p, {split_qkv(), /*allow_vectors=*/true});
}

namespace {
void lion_k(const LionKOptions& o, LionKParamState& state, at::Tensor& p, const at::Tensor& g) {
  namespace T = transforms;
  const T::MatrixLayout layout{o.split_qkv(), /*allow_vectors=*/true};
  if (!state.momentum().defined()) state.momentum(at::zeros_like(p));

  // M ← β_pol M − (1−β_pol) g;  M̃ = β_nes M − (1−β_nes) g — one pass (fused.h)
  const auto M_tilde =
      fused::ema_direction_({state.momentum()}, {g}, o.beta_pol(), true, o.beta_nes(), -1.0)[0];
  const auto D = T::convex_map_grad(M_tilde, *o.map(), layout, LionKOptions::kName);  // ∇K(M̃)
  if (o.implicit_weight_decay()) {
    T::apply_update_(p, D, o.lr());                          // X ← X + η∇K(M̃)
    T::implicit_weight_decay_(p, o.lr(), o.weight_decay());  // X ← X / (1 + ηλ)
  } else {
    fused::decay_and_apply_({p}, {D}, o.lr(), o.weight_decay(), {o.lr()},
                            o.cautious_weight_decay());  // X(1 − ηλ) + η∇K(M̃)
  }
}
}  // namespace

void LionKOptions::update(std::vector<RuleItem>& items) const {
  for (auto& it : items) lion_k(*this, state_of<LionKParamState>(it), it.param, it.grad);
}

}  // namespace specopt
