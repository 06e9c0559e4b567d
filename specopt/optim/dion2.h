#pragma once
// Dion2: Muon that orthogonalises only an α-fraction of the rows (or columns) of its momentum
// each step, with error feedback for the rest (Ahn, Amsel, Langford, "Dion2: A Simple Method
// to Shrink Matrix in Muon", arXiv 2512.16928; reference implementation microsoft/dion).
//
// For each matrix parameter W (rows × cols) with gradient g (docs/optimizers/dion2.md):
//
//     M ← M + g                                      (M₀ = 0)
//     the slices are the rows of M when rows ≤ cols, otherwise its columns (the short side,
//     s of them, each of length L); k = max(1, ⌈α·s⌉)
//     I = the k slices of largest ℓ1 norm (selection "l1"; "l2": largest ℓ2 norm; ties
//         to the lower index)
//     O_I = polar(M_I)                               (the k × L submatrix; Polar Express x5)
//     M_I ← μ M_I                                    (error feedback: only the selected slices
//                                                     decay, the others keep accumulating)
//     W ← W − η λ W ;   W_I ← W_I − η · s(rows, cols) · O_I
//
// α = 1 is Muon without Nesterov: with B the heavy-ball sum (B ← μB + g) the steps are Muon's
// (polar(PB) = P·polar(B) for the row permutation P of the selection) and the state is
// M = μB (tests/optim/test_dion2.cpp checks it). Weight decay reaches every entry, selected or
// not; the shape factor s is that of the whole matrix (default spectral_norm, √(rows/cols),
// microsoft/dion's adjust_lr). Shapes as Muon's: 2-D as is, conv weights as (out, in·kh·kw),
// 3-D as a batch (each matrix its own selection), split_qkv blocks separately; 0-D/1-D
// parameters are rejected (AdamW).
#include <torch/arg.h>

#include <string>

#include <specopt/matfun/polar.h>
#include <specopt/optim/base.h>
#include <specopt/optim/fields.h>
#include <specopt/optim/transforms.h>

namespace specopt {

struct Dion2ParamState : public RuleStateBase<Dion2ParamState> {
  TORCH_ARG(at::Tensor, momentum_buffer);  // M, the parameter's shape

 public:
  void fields(FieldVisitor& v) override { v("momentum_buffer", momentum_buffer_); }
};

struct Dion2Options : public RuleOptionsBase<Dion2Options, Dion2ParamState> {
  static constexpr const char* kName = "Dion2";
  Dion2Options(double lr = 0.01);  // NOLINT: LibTorch constructs options from one double
  // Defaults of microsoft/dion's Dion2: lr 0.01, fraction 0.25, ef_decay 0.95, weight decay
  // 0.01, adjust_lr spectral_norm, Polar Express (5 steps, eps 1e-8, bf16).
  TORCH_ARG(double, lr) = 0.01;
  TORCH_ARG(double, fraction) = 0.25;  // α in (0, 1]
  TORCH_ARG(double, momentum) = 0.95;  // μ, microsoft/dion's ef_decay
  TORCH_ARG(std::string, selection) = "l1";  // "l1" | "l2": the slice norm that selects
  TORCH_ARG(PolarOptions, polar) = PolarOptions()
                                       .method(PolarMethod::newton_schulz)
                                       .schedule(NsSchedule::polar_express())
                                       .steps(5)
                                       .eps(1e-8)
                                       .bf16_where_fast(true);
  TORCH_ARG(ShapeRule, shape_rule) = ShapeRule::spectral_norm;
  TORCH_ARG(double, weight_decay) = 0.01;
  // Cautious weight decay (arXiv 2510.12402): decay only where the update agrees in sign with W
  // (the unselected slices, whose update is 0, decay as usual).
  TORCH_ARG(bool, cautious_weight_decay) = false;
  TORCH_ARG(bool, split_qkv) = false;

 public:
  // shape_rule by name: "spectral_norm" | "original" | "match_rms_adamw" | "none".
  Dion2Options& shape_rule(const std::string& name);
  Dion2Options& shape_rule(const char* name) { return shape_rule(std::string(name)); }
  void fields(FieldVisitor& v) override;
  // Throws naming the first invalid option (fraction outside (0, 1], an unknown selection, ...).
  void validate() const override;
  // M ← M + g per parameter, each matrix's selection and error feedback, the group's
  // submatrices orthogonalised together, then the sparse updates with weight decay.
  void update(std::vector<RuleItem>& items) const override;
  void check_param(const at::Tensor& p, const std::string& where) const override;
  // Newton–Schulz on the k × L submatrices only, plus the element-wise work.
  double update_flops(const at::Tensor& p) const override;
  // k = max(1, ⌈α·s⌉) slices of a matrix whose short side is s.
  int64_t selected_slices(int64_t short_side) const;
};

class Dion2 : public RuleOptimizer<Dion2Options> {
 public:
  using RuleOptimizer::RuleOptimizer;
};

}  // namespace specopt
