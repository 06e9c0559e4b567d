#pragma once
// NorMuon: Muon's orthogonalised update with a neuron-wise (per-row) second moment and the
// update's norm kept (Li et al., "NorMuon: Making Muon more efficient and scalable",
// arXiv 2510.05491; reference implementation zichongli5/NorMuon, also in microsoft/dion).
//
// For each matrix parameter W (rows = output neurons) with gradient g:
//
//     M ← β M + (1 − β) g                                (EMA, M₀ = 0)
//     U = β M + (1 − β) g   (nesterov, default)   or   U = M
//     O = polar(U) ≈ msign(U)                            (Muon's: 5 quintic Newton–Schulz steps)
//     v ← β₂ v + (1 − β₂) mean_j O_ij²                   (one entry per row i, v₀ = 0, no bias
//                                                          correction)
//     Ô = O / (sqrt(v) + ε)                              (each row i divided by sqrt(v_i) + ε)
//     Ô ← Ô · ‖O‖_F / (‖Ô‖_F + ε)                        (the update keeps O's Frobenius norm)
//     W ← W − η λ W ;   W ← W − η · s(rows, cols) · Ô    (s: Muon's shape rule, original)
//
// Defaults as the reference: lr 0.02, momentum 0.95, beta2 0.95, eps 1e-10, weight decay 0.
// Shapes as Muon's: 2-D as is, conv weights as (out, in·kh·kw), 3-D as a batch of matrices
// (each with its own row moments); 0-D/1-D parameters are rejected (give them to AdamW).
#include <torch/arg.h>

#include <specopt/matfun/polar.h>
#include <specopt/optim/base.h>
#include <specopt/optim/fields.h>
#include <specopt/optim/transforms.h>

namespace specopt {

struct NorMuonParamState : public RuleStateBase<NorMuonParamState> {
  TORCH_ARG(at::Tensor, momentum_buffer);    // M, the parameter's shape
  TORCH_ARG(at::Tensor, row_second_moment);  // v, shape (..., rows, 1) of the matrix view

 public:
  void fields(FieldVisitor& v) override {
    v("momentum_buffer", momentum_buffer_);
    v("row_second_moment", row_second_moment_);
  }
};

struct NorMuonOptions : public RuleOptionsBase<NorMuonOptions, NorMuonParamState> {
  static constexpr const char* kName = "NorMuon";
  NorMuonOptions(double lr = 0.02);  // NOLINT: LibTorch constructs options from one double
  TORCH_ARG(double, lr) = 0.02;
  TORCH_ARG(double, momentum) = 0.95;
  TORCH_ARG(double, beta2) = 0.95;
  TORCH_ARG(bool, nesterov) = true;
  TORCH_ARG(double, eps) = 1e-10;
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

 public:
  void fields(FieldVisitor& v) override;
  void validate() const override;
  // Momentum per parameter, the group's same-sized matrices orthogonalised together, then each
  // parameter's row normalisation and update.
  void update(std::vector<RuleItem>& items) const override;
  void check_param(const at::Tensor& p, const std::string& where) const override;
  double update_flops(const at::Tensor& p) const override;
  // row_second_moment: one entry per row of each matrix, (..., rows, 1).
  std::vector<int64_t> state_shape(const std::string& key, const at::Tensor& p) const override;
};

class NorMuon : public RuleOptimizer<NorMuonOptions> {
 public:
  using RuleOptimizer::RuleOptimizer;
};

}  // namespace specopt
