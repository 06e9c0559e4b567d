#pragma once
// Lion-K: Lion with a convex map K (paper 1, Chen, Li, Liu, arXiv 2506.15054, building on
// Chen, Liu, Liang, Liu, "Lion Secretly Solves Constrained Optimization", arXiv 2310.05898).
//
// For each parameter X with gradient g (arXiv 2310.05898, docs/optimizers/lion_k.md); M accumulates NEGATIVE gradients:
//
//     M ← β_pol M − (1 − β_pol) g                  (M₀ = 0)
//     M̃ = β_nes M − (1 − β_nes) g
//     X ← X + η (∇K(M̃) − λ X)                     (explicit decoupled weight decay, default)
//     X ← (X + η ∇K(M̃)) / (1 + ηλ)                (implicit_weight_decay(true))
//
// With weight decay λ it converges to a stationary point of min F(X) + (1/λ) K*(λX)
// (nuclear K: ‖X‖_op ≤ 1/λ). Any specopt::ConvexMap works (default nuclear, whose ∇K is the
// exact polar factor): by object (`map(std::make_shared<L1Map>())`) or by registry spec
// (`map("schatten:q=3")`).
//
// Two spellings of the momenta (both offered):
//   * (β_pol, β_nes), the form above (defaults 0.95, 0.95: Muon's μ).
//   * Lion's original (β₁, β₂) with the OLD momentum: M̃ = β₁ M_t − (1−β₁) g,
//     M_{t+1} = β₂ M_t − (1−β₂) g. `lion_betas(β₁, β₂)` sets β_pol = β₂ and
//     β_nes = β₁/β₂ (β₂ > 0); the two spellings take identical steps. β_nes exceeds 1 when
//     β₁ > β₂, which is still the same algorithm.
// Special cases: K = l1 is Lion; K = nuclear with β_pol = β_nes = μ is Muon (without its
// shape factor); K = half_sq_frobenius is momentum SGD with decoupled weight decay, stepping
// by η·M̃ (tests/optim/test_equivalences.cpp has each mapping).
//
// Shapes: matrices as is, 3-D as a batch, conv weights flattened to (out, in·kh·kw), packed
// QKV split with split_qkv; 0-D/1-D parameters are a (1, n) row (for elementwise maps like l1
// that is exactly elementwise).
#include <torch/arg.h>

#include <memory>
#include <string>

#include <specopt/maps/convex_map.h>
#include <specopt/optim/base.h>
#include <specopt/optim/fields.h>
#include <specopt/optim/transforms.h>

namespace specopt {

struct LionKParamState : public RuleStateBase<LionKParamState> {
  TORCH_ARG(at::Tensor, momentum);  // M (negative-gradient EMA)

 public:
  void fields(FieldVisitor& v) override { v("momentum", momentum_); }
};

struct LionKOptions : public RuleOptionsBase<LionKOptions, LionKParamState> {
  static constexpr const char* kName = "LionK";
  LionKOptions(double lr = 1e-3);  // NOLINT: LibTorch constructs options from one double
  TORCH_ARG(double, lr) = 1e-3;
  TORCH_ARG(std::shared_ptr<const ConvexMap>, map);  // default: nuclear (exact polar)
  TORCH_ARG(double, beta_pol) = 0.95;
  TORCH_ARG(double, beta_nes) = 0.95;
  TORCH_ARG(double, weight_decay) = 0.0;
  // Cautious weight decay (arXiv 2510.12402): decay only where the update agrees in sign with W.
  TORCH_ARG(bool, cautious_weight_decay) = false;
  TORCH_ARG(bool, implicit_weight_decay) = false;
  TORCH_ARG(bool, split_qkv) = false;

 public:
  // The map from a registry spec ("nuclear", "l1", "schatten:q=3", ...); throws naming it.
  LionKOptions& map(const std::string& spec);
  LionKOptions& map(const char* spec) { return map(std::string(spec)); }
  // Lion's (β₁, β₂) spelling: β_pol = β₂, β_nes = β₁/β₂. Throws unless β₁, β₂ ∈ [0, 1], β₂ > 0.
  LionKOptions& lion_betas(double beta1, double beta2);
  // The map is declared by its registry spec (ConvexMap::name()), so it saves in full.
  void fields(FieldVisitor& v) override;
  // Throws naming the first invalid option (lr, beta_pol, beta_nes, weight_decay, map).
  void validate() const override;  void update(std::vector<RuleItem>& items) const override;
  void check_param(const at::Tensor& p, const std::string& where) const override;
  double update_flops(const at::Tensor& p) const override;
};

class LionK : public RuleOptimizer<LionKOptions> {
 public:
  using RuleOptimizer::RuleOptimizer;
};

}  // namespace specopt
