#pragma once
// AdamW (Loshchilov & Hutter, "Decoupled Weight Decay Regularization", arXiv 1711.05101) and
// Lion (Chen et al., "Symbolic Discovery of Optimization Algorithms", arXiv 2302.06675), built
// from specopt's shared transforms so they sit beside the spectral optimizers (the element-wise
// half of a hybrid setup: vectors, embeddings, heads).
//
// AdamW (defaults as torch::optim::AdamW: lr 1e-3, β (0.9, 0.999), eps 1e-8, wd 1e-2):
//     W ← W (1 − η λ)
//     m ← β₁ m + (1−β₁) g ;  v ← β₂ v + (1−β₂) g²
//     W ← W − η (m/(1−β₁ᵗ)) / (sqrt(v/(1−β₂ᵗ)) + eps)
// SpectralAdam with p = 1 takes exactly these steps.
//
// Lion (β₁ 0.9, β₂ 0.99, lr 1e-4, wd 0):
//     c = β₁ m + (1−β₁) g
//     W ← W − η (sign(c) + λ W)
//     m ← β₂ m + (1−β₂) g
// Lion is Lion-K with K = ‖·‖₁ in Lion's (β₁, β₂) spelling, with M = −m (arXiv 2506.15054).
// Both accept parameters of any shape.
#include <torch/arg.h>

#include <specopt/optim/base.h>
#include <specopt/optim/fields.h>
#include <specopt/optim/transforms.h>

namespace specopt {

struct AdamWParamState : public RuleStateBase<AdamWParamState> {
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

struct AdamWOptions : public RuleOptionsBase<AdamWOptions, AdamWParamState> {
  static constexpr const char* kName = "AdamW";
  AdamWOptions(double lr = 1e-3);  // NOLINT: LibTorch constructs options from one double
  TORCH_ARG(double, lr) = 1e-3;
  TORCH_ARG(double, beta1) = 0.9;
  TORCH_ARG(double, beta2) = 0.999;
  TORCH_ARG(double, eps) = 1e-8;
  TORCH_ARG(double, weight_decay) = 1e-2;
  // Cautious weight decay (arXiv 2510.12402): decay only where the update agrees in sign with W.
  TORCH_ARG(bool, cautious_weight_decay) = false;

 public:
  void fields(FieldVisitor& v) override;
  void validate() const override;
  void update(std::vector<RuleItem>& items) const override;
  bool elementwise() const override { return true; }
};

class AdamW : public RuleOptimizer<AdamWOptions> {
 public:
  using RuleOptimizer::RuleOptimizer;
};

struct LionParamState : public RuleStateBase<LionParamState> {
  TORCH_ARG(at::Tensor, exp_avg);  // m (positive-gradient EMA)

 public:
  void fields(FieldVisitor& v) override { v("exp_avg", exp_avg_); }
};

struct LionOptions : public RuleOptionsBase<LionOptions, LionParamState> {
  static constexpr const char* kName = "Lion";
  LionOptions(double lr = 1e-4);  // NOLINT: LibTorch constructs options from one double
  TORCH_ARG(double, lr) = 1e-4;
  TORCH_ARG(double, beta1) = 0.9;
  TORCH_ARG(double, beta2) = 0.99;
  TORCH_ARG(double, weight_decay) = 0.0;
  // Cautious weight decay (arXiv 2510.12402): decay only where the update agrees in sign with W.
  TORCH_ARG(bool, cautious_weight_decay) = false;

 public:
  void fields(FieldVisitor& v) override;
  void validate() const override;
  void update(std::vector<RuleItem>& items) const override;
  bool elementwise() const override { return true; }
};

class Lion : public RuleOptimizer<LionOptions> {
 public:
  using RuleOptimizer::RuleOptimizer;
};

}  // namespace specopt
