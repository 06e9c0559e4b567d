#pragma once
// SpectralAdam and SpectralSGD: paper 3's two update families ("Delving into Muon and
// Beyond", Qi, Chen, Ye, He, Xiao, arXiv 2602.04669; code Ocram7/BeyondMuon), with
// Ψ_p(O) = U Σ^p Vᵀ for any p in [0, 1] (p = 1 identity, ½ "S", ¼ "Q", 0 "Z" = msign).
//
// SpectralAdam (RMS-normalised family; Ψ_p comes AFTER Adam's normalisation):
//     W ← W (1 − η wd)
//     m ← β₁ m + (1−β₁) g ;  v ← β₂ v + (1−β₂) g²          β = (0.9, 0.95)
//     R = (m/(1−β₁ᵗ)) / (sqrt(v/(1−β₂ᵗ)) + eps)             eps = 1e-8
//     W ← W − η · s · Ψ_p(R)
// Presets: adam (p=1, = AdamW), adams (½), adamq (¼), adamz (0).
//
// SpectralSGD (first-moment "mSGD" family):
//     W ← W (1 − η wd)
//     buf ← g on the first step, then buf ← μ buf + g        (μ = 0.9, no dampening, no Nesterov)
//     W ← W − η · s · Ψ_p(buf)
// Presets: msgd (p=1, heavy-ball SGD), msgds (½), msgdq (¼), msgdz (0, Muon-like).
//
// s is the shape rule (none by default; the p = 0 presets use `original`, as paper 3's
// released code multiplies its p = 0 output by sqrt(max(1, rows/cols))). Ψ_p is computed by
// specopt::spectral_power with `power` options (default auto: exact-to-tol Gram
// eigendecomposition; PowerOptions().method(PowerMethod::coupled_newton) is the released
// iteration). Shapes as Muon's (conv flattened, 3-D batched, split_qkv); with p < 1, 0-D/1-D
// parameters are rejected (paper 3 gives vectors to AdamW); with p = 1 any shape works.
#include <torch/arg.h>

#include <specopt/matfun/spectral_power.h>
#include <specopt/optim/base.h>
#include <specopt/optim/fields.h>
#include <specopt/optim/transforms.h>

namespace specopt {

struct SpectralAdamParamState : public RuleStateBase<SpectralAdamParamState> {
  TORCH_ARG(int64_t, step) = 0;
  TORCH_ARG(at::Tensor, exp_avg);
  TORCH_ARG(at::Tensor, exp_avg_sq);

 public:
  void fields(FieldVisitor& v) override {
    v("step", step_);
    v("exp_avg", exp_avg_);
    v("exp_avg_sq", exp_avg_sq_);
  }
};

struct SpectralAdamOptions : public RuleOptionsBase<SpectralAdamOptions, SpectralAdamParamState> {
  static constexpr const char* kName = "SpectralAdam";
  SpectralAdamOptions(double lr = 1e-3);  // NOLINT: LibTorch constructs options from one double
  TORCH_ARG(double, lr) = 1e-3;
  TORCH_ARG(double, p) = 1.0;
  TORCH_ARG(double, beta1) = 0.9;
  TORCH_ARG(double, beta2) = 0.95;
  TORCH_ARG(double, eps) = 1e-8;
  TORCH_ARG(double, weight_decay) = 0.0;
  // Cautious weight decay (arXiv 2510.12402): decay only where the update agrees in sign with W.
  TORCH_ARG(bool, cautious_weight_decay) = false;
  TORCH_ARG(PowerOptions, power) = {};
  TORCH_ARG(ShapeRule, shape_rule) = ShapeRule::none;
  TORCH_ARG(bool, split_qkv) = false;

 public:
  SpectralAdamOptions& shape_rule(const std::string& name);
  SpectralAdamOptions& shape_rule(const char* name) { return shape_rule(std::string(name)); }
  static SpectralAdamOptions adam(double lr);   // p = 1
  static SpectralAdamOptions adams(double lr);  // p = ½
  static SpectralAdamOptions adamq(double lr);  // p = ¼
  static SpectralAdamOptions adamz(double lr);  // p = 0, shape rule original
  void fields(FieldVisitor& v) override;
  void validate() const override;
  // Steps a group: moments per parameter, then Ψ_p of every same-sized matrix of the group
  // together (one batched call on accelerators), then the updates.
  void update(std::vector<RuleItem>& items) const override;
  void check_param(const at::Tensor& p, const std::string& where) const override;
  double update_flops(const at::Tensor& p) const override;
};

class SpectralAdam : public RuleOptimizer<SpectralAdamOptions> {
 public:
  using RuleOptimizer::RuleOptimizer;
};

struct SpectralSGDParamState : public RuleStateBase<SpectralSGDParamState> {
  TORCH_ARG(at::Tensor, momentum_buffer);  // undefined until the first step

 public:
  void fields(FieldVisitor& v) override { v("momentum_buffer", momentum_buffer_); }
};

struct SpectralSGDOptions : public RuleOptionsBase<SpectralSGDOptions, SpectralSGDParamState> {
  static constexpr const char* kName = "SpectralSGD";
  SpectralSGDOptions(double lr = 1e-2);  // NOLINT: LibTorch constructs options from one double
  TORCH_ARG(double, lr) = 1e-2;
  TORCH_ARG(double, p) = 1.0;
  TORCH_ARG(double, momentum) = 0.9;
  TORCH_ARG(double, weight_decay) = 0.0;
  // Cautious weight decay (arXiv 2510.12402): decay only where the update agrees in sign with W.
  TORCH_ARG(bool, cautious_weight_decay) = false;
  TORCH_ARG(PowerOptions, power) = {};
  TORCH_ARG(ShapeRule, shape_rule) = ShapeRule::none;
  TORCH_ARG(bool, split_qkv) = false;

 public:
  SpectralSGDOptions& shape_rule(const std::string& name);
  SpectralSGDOptions& shape_rule(const char* name) { return shape_rule(std::string(name)); }
  static SpectralSGDOptions msgd(double lr);   // p = 1
  static SpectralSGDOptions msgds(double lr);  // p = ½
  static SpectralSGDOptions msgdq(double lr);  // p = ¼
  static SpectralSGDOptions msgdz(double lr);  // p = 0, shape rule original (Muon-like)
  void fields(FieldVisitor& v) override;
  void validate() const override;
  // Steps a group: moments per parameter, then Ψ_p of every same-sized matrix of the group
  // together (one batched call on accelerators), then the updates.
  void update(std::vector<RuleItem>& items) const override;
  void check_param(const at::Tensor& p, const std::string& where) const override;
  double update_flops(const at::Tensor& p) const override;
};

class SpectralSGD : public RuleOptimizer<SpectralSGDOptions> {
 public:
  using RuleOptimizer::RuleOptimizer;
};

}  // namespace specopt
