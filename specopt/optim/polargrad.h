#pragma once
// PolarGrad: the polar factor of the momentum scaled by the momentum's nuclear norm (Lau, Long,
// Su, "PolarGrad: A Class of Matrix-Gradient Optimizers from a Unifying Preconditioning
// Perspective", arXiv 2505.21799; reference timlautk/polargrad, also NVIDIA
// Emerging-Optimizers' PolarGrad).
//
// For each matrix parameter W with gradient g (docs/optimizers/polargrad.md):
//
//     M ← β M + (1 − β) g                              (EMA, M₀ = 0)
//     U = M   or   U = β M + (1 − β) g  (nesterov)
//     O = polar(U) ≈ U_U V_Uᵀ                          (Muon's 5 quintic Newton–Schulz steps)
//     ν = ⟨O, U⟩ = tr(H)                               (U = O H: ν = ‖U‖_* for an exact polar)
//     W ← W − η λ W ;   W ← W − η · scale · ν · O
//
// In Lion-K terms (arXiv 2506.15054) this is K = ½‖X‖²_* (specopt/maps/half_sq_nuclear.h):
// ∇K(X) = ‖X‖_* U Vᵀ, so with an exact polar factor PolarGrad(β, scale s) takes the steps of
// LionK(half_sq_nuclear, β_pol = β, β_nes = 1 (β with nesterov), η_K = s·η, λ_K = λ/s), and with
// weight decay it solves min F(X) + (λ/2)‖X‖²_op — a spectral-norm penalty, not a constraint
// (tests/optim/test_polargrad.cpp checks both).
//
// Shapes as Muon's: 2-D as is, conv weights as (out, in·kh·kw), 3-D as a batch (each matrix
// its own ν), packed QKV split with split_qkv; 0-D/1-D parameters are rejected (AdamW).
#include <torch/arg.h>

#include <specopt/matfun/polar.h>
#include <specopt/optim/base.h>
#include <specopt/optim/fields.h>
#include <specopt/optim/polar_defaults.h>

namespace specopt {

struct PolarGradParamState : public RuleStateBase<PolarGradParamState> {
  TORCH_ARG(at::Tensor, momentum_buffer);  // M

 public:
  void fields(FieldVisitor& v) override { v("momentum_buffer", momentum_buffer_); }
};

struct PolarGradOptions : public RuleOptionsBase<PolarGradOptions, PolarGradParamState> {
  static constexpr const char* kName = "PolarGrad";
  PolarGradOptions(double lr = 3e-4);  // NOLINT: LibTorch constructs options from one double
  // Defaults of NVIDIA Emerging-Optimizers' PolarGrad: lr 3e-4, momentum 0.95 without
  // Nesterov, weight decay 0.01, scale 1.
  TORCH_ARG(double, lr) = 3e-4;
  TORCH_ARG(double, momentum) = 0.95;
  TORCH_ARG(bool, nesterov) = false;
  TORCH_ARG(double, scale) = 1.0;
  TORCH_ARG(PolarOptions, polar) = reference_muon_polar();
  TORCH_ARG(double, weight_decay) = 0.01;
  // Cautious weight decay (arXiv 2510.12402): decay only where the update agrees in sign with W.
  TORCH_ARG(bool, cautious_weight_decay) = false;
  TORCH_ARG(bool, split_qkv) = false;

 public:
  void fields(FieldVisitor& v) override;
  void validate() const override;
  // Momentum per parameter, the group's same-sized matrices orthogonalised together, then
  // each matrix scaled by its ν.
  void update(std::vector<RuleItem>& items) const override;
  void check_param(const at::Tensor& p, const std::string& where) const override;
  double update_flops(const at::Tensor& p) const override;
};

class PolarGrad : public RuleOptimizer<PolarGradOptions> {
 public:
  using RuleOptimizer::RuleOptimizer;
};

}  // namespace specopt
