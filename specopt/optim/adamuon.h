#pragma once
// AdaMuon: the sign of the momentum orthogonalised, then an element-wise second moment of the
// orthogonalised update and an RMS matched to Adam's (Si, Zhang, Shen, "AdaMuon: Adaptive Muon
// Optimizer", arXiv 2507.11005; authors' code Chongjie-Si/AdaMuon, also NVIDIA
// Emerging-Optimizers' AdaptiveMuon).
//
// For each matrix parameter W (rows × cols) with gradient g (docs/optimizers/adamuon.md):
//
//     M ← β M + (1 − β) g                              (EMA, M₀ = 0)
//     U = β M + (1 − β) g   (nesterov, default)   or   U = M
//     O = polar(sign(U))                               (sign_momentum, default; polar(U) without)
//     V ← β₂ V + (1 − β₂) O ⊙ O                        (element-wise, V₀ = 0, no bias correction)
//     Ô = O ⊘ (√V + ε)
//     γ = rms · √(rows·cols) / (‖Ô‖_F + ε)             (the update's RMS is `rms`, 0.2: Adam's)
//     W ← W − η λ W ;   W ← W − η γ Ô
//
// Since sign(U) and the RMS rescaling are scale free, an EMA or a heavy-ball sum as momentum
// takes the same steps, and a bias correction of V would cancel in γ (up to ε).
// Shapes as Muon's: 2-D as is, conv weights as (out, in·kh·kw), 3-D as a batch of matrices,
// with split_qkv a packed (3d × d) weight as three (d × d) blocks (each matrix or block
// orthogonalised and rescaled by its own γ); 0-D/1-D parameters are rejected (give them to
// AdamW).
#include <torch/arg.h>

#include <specopt/matfun/polar.h>
#include <specopt/optim/base.h>
#include <specopt/optim/fields.h>
#include <specopt/optim/polar_defaults.h>

namespace specopt {

struct AdaMuonParamState : public RuleStateBase<AdaMuonParamState> {
  TORCH_ARG(at::Tensor, momentum_buffer);  // M
  TORCH_ARG(at::Tensor, exp_avg_sq);       // V, the parameter's shape

 public:
  void fields(FieldVisitor& v) override {
    v("momentum_buffer", momentum_buffer_);
    v("exp_avg_sq", exp_avg_sq_);
  }
};

struct AdaMuonOptions : public RuleOptionsBase<AdaMuonOptions, AdaMuonParamState> {
  static constexpr const char* kName = "AdaMuon";
  AdaMuonOptions(double lr = 0.02);  // NOLINT: LibTorch constructs options from one double
  // Defaults of the authors' code: lr 0.02, momentum 0.95 (Nesterov), beta2 0.999, eps 1e-8,
  // weight decay 0.01; 0.2 is the RMS of AdamW's update the paper aligns to.
  TORCH_ARG(double, lr) = 0.02;
  TORCH_ARG(double, momentum) = 0.95;
  TORCH_ARG(bool, nesterov) = true;
  TORCH_ARG(bool, sign_momentum) = true;
  TORCH_ARG(double, beta2) = 0.999;
  TORCH_ARG(double, eps) = 1e-8;
  TORCH_ARG(double, rms) = 0.2;
  TORCH_ARG(PolarOptions, polar) = reference_muon_polar();
  TORCH_ARG(double, weight_decay) = 0.01;
  // Cautious weight decay (arXiv 2510.12402): decay only where the update agrees in sign with W.
  TORCH_ARG(bool, cautious_weight_decay) = false;
  TORCH_ARG(bool, split_qkv) = false;

 public:
  void fields(FieldVisitor& v) override;
  void validate() const override;
  // Momentum per parameter, the group's same-sized matrices orthogonalised together, then
  // each parameter's second moment, rescaling and update.
  void update(std::vector<RuleItem>& items) const override;
  void check_param(const at::Tensor& p, const std::string& where) const override;
  double update_flops(const at::Tensor& p) const override;
};

class AdaMuon : public RuleOptimizer<AdaMuonOptions> {
 public:
  using RuleOptimizer::RuleOptimizer;
};

}  // namespace specopt
