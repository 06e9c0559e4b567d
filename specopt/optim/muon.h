#pragma once
// Muon: momentum, orthogonalised (paper 1, "Muon Optimizes Under Spectral Norm Constraints",
// Chen, Li, Liu, arXiv 2506.15054; reference: KellerJordan/Muon and torch.optim.Muon).
//
// For each matrix parameter X with gradient g (docs/optimizers/muon.md):
//
//     B ← μ B + g                                  (heavy-ball sum, B₀ = 0)
//     U = g + μ B   (nesterov, default)   or   U = B
//     O = polar(U) ≈ msign(U) = U Vᵀ            (default: 5 quintic Newton–Schulz steps with
//                                                 the reference (3.4445, −4.7750, 2.0315))
//     X ← X − η λ X                                (decoupled weight decay, unadjusted η)
//     X ← X − η · s(rows, cols) · O                (shape rule s: original | match_rms_adamw | none)
//
// Muon is Lion-K with the nuclear norm: since msign is scale invariant, Muon(μ, nesterov,
// exact polar, shape rule none) takes exactly the steps of LionK(nuclear, β_pol = β_nes = μ)
// with the same η and λ; with a shape factor s it equals LionK with η_K = s·η and
// λ_K = λ/s (tests/optim/test_equivalences.cpp). Muon without Nesterov is β_nes = 1.
//
// Shapes: 2-D as is; conv weights (out, in, kh, kw) as (out, in·kh·kw) with the shape rule
// applied to that shape; 3-D parameters as a batch of matrices; with split_qkv a packed
// (3d × d) weight as three (d × d) blocks, each orthogonalised (and scaled) separately.
// 0-D and 1-D parameters are rejected: give them to specopt::AdamW.
#include <torch/arg.h>

#include <tuple>

#include <specopt/matfun/polar.h>
#include <specopt/optim/base.h>
#include <specopt/optim/fields.h>
#include <specopt/optim/transforms.h>

namespace specopt {

struct MuonParamState : public RuleStateBase<MuonParamState> {
  TORCH_ARG(at::Tensor, momentum_buffer);  // B

 public:
  void fields(FieldVisitor& v) override { v("momentum_buffer", momentum_buffer_); }
};

struct MuonOptions : public RuleOptionsBase<MuonOptions, MuonParamState> {
  static constexpr const char* kName = "Muon";
  MuonOptions(double lr = 0.02);  // NOLINT: LibTorch constructs options from one double
  TORCH_ARG(double, lr) = 0.02;
  TORCH_ARG(double, momentum) = 0.95;
  TORCH_ARG(bool, nesterov) = true;
  // false: the heavy-ball sum B ← μB + g, U = g + μB (Nesterov) or B. true: the EMA of
  // torch.optim.Muon and KellerJordan/Muon, B ← μB + (1−μ)g, U = μB + (1−μ)g or B. The
  // orthogonalised update is the same up to eps (msign is scale-invariant); the state is (1−μ)×.
  TORCH_ARG(bool, ema_momentum) = false;
  // Default: the reference Muon's orthogonalisation (newton_schulz, jordan, 5 steps, eps 1e-7,
  // bf16 arithmetic for float32 weights where bf16 is native: CUDA, AVX512-BF16/AMX CPUs).
  TORCH_ARG(PolarOptions, polar) = PolarOptions()
                                       .method(PolarMethod::newton_schulz)
                                       .schedule(NsSchedule::jordan())
                                       .steps(5)
                                       .eps(1e-7)
                                       .bf16_where_fast(true);
  TORCH_ARG(ShapeRule, shape_rule) = ShapeRule::original;
  TORCH_ARG(double, weight_decay) = 0.0;
  // Cautious weight decay (arXiv 2510.12402): decay only where the update agrees in sign with W.
  TORCH_ARG(bool, cautious_weight_decay) = false;
  TORCH_ARG(bool, split_qkv) = false;

 public:
  // shape_rule by name: "original" | "match_rms_adamw" | "none" (throws naming shape_rule).
  MuonOptions& shape_rule(const std::string& name);
  MuonOptions& shape_rule(const char* name) { return shape_rule(std::string(name)); }

  // torch.optim.Muon's names, with its meaning (docs/optimizers/muon.md maps every option).
  // They are views of polar() and shape_rule(), not fields of their own.
  //   ns_steps: Newton–Schulz steps (polar.steps). The polar method is kept; a polar() whose
  //     method is auto is refused by validate() (say which method should take the steps).
  MuonOptions& ns_steps(int steps);
  int ns_steps() const { return polar_.steps(); }
  //   ns_coefficients: the quintic (a, b, c) used at every step (polar.schedule).
  MuonOptions& ns_coefficients(const std::tuple<double, double, double>& abc);
  std::tuple<double, double, double> ns_coefficients() const;  // the first step's
  //   eps: added to ‖X‖_F before Newton–Schulz divides by it (polar.eps).
  MuonOptions& eps(double eps);
  double eps() const { return polar_.eps(); }
  //   adjust_lr_fn: "original" | "match_rms_adamw" | "none" (shape_rule).
  MuonOptions& adjust_lr_fn(const std::string& name) { return shape_rule(name); }
  MuonOptions& adjust_lr_fn(const char* name) { return shape_rule(std::string(name)); }
  std::string adjust_lr_fn() const { return to_string(shape_rule_); }
  void fields(FieldVisitor& v) override;
  // Throws naming the first invalid option (lr, momentum, weight_decay, polar.*).
  void validate() const override;
  // Steps a group: momentum per parameter, then every same-sized matrix of the group
  // orthogonalised together (one batched polar call on accelerators), then the updates.
  void update(std::vector<RuleItem>& items) const override;
  void check_param(const at::Tensor& p, const std::string& where) const override;
  double update_flops(const at::Tensor& p) const override;
};

class Muon : public RuleOptimizer<MuonOptions> {
 public:
  using RuleOptimizer::RuleOptimizer;
};

}  // namespace specopt
