#pragma once
// Fused element-wise updates: each optimizer's element-wise work in one pass over memory, for a
// whole list of tensors per call (foreach style), beside its plain reference.
//
// Written as a chain of ATen ops (transforms.h), AdamW makes seven passes over memory with
// three full-size temporaries; its memory-bandwidth bound is one pass that reads W, g, m, v and
// writes W, m, v (28 bytes per float32 element). The kernels here are that one pass, written
// as one element loop the compiler vectorises, with ATen's threads (at::parallel_for), the way
// PyTorch's own fused CPU Adam is organised; the list of tensors is cut into chunks that the
// threads share, so a hundred small tensors cost one parallel region, not a hundred.
//
// Every function has a `*_reference` twin: the same update as plain ATen ops on each tensor, the
// readable definition and the fallback. The fused path runs for float32/float64 CPU tensors that
// are contiguous with the same dtype across a call; anything else (CUDA, bf16, non-contiguous
// views) runs the reference, per tensor. tests/optim/test_fused.cpp compares the two.
#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

namespace specopt {
namespace fused {

// ---- AdamW ------------------------------------------------------------------------------

struct AdamArgs {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  bool cautious = false;  // cautious weight decay: λ only where u ⊙ W ≥ 0 (u = the Adam ratio)
};

// Every decay below is decoupled, W ← W(1 − ηλ); with `cautious` (arXiv 2510.12402) it is
// W ← W − ηλ·1[u ⊙ W ≥ 0]⊙W, u being the update the step subtracts (W ← W − ηu), taken before
// the step.

// For each i, at step t = steps[i] ≥ 1 (already counted):
//   W ← W(1 − ηλ);  m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;
//   W ← W − η (m / (1−β₁ᵗ)) / (√(v / (1−β₂ᵗ)) + ε)
void adamw_(at::TensorList W, at::TensorList g, at::TensorList m, at::TensorList v,
            at::IntArrayRef steps, const AdamArgs& a);
void adamw_reference_(at::TensorList W, at::TensorList g, at::TensorList m, at::TensorList v,
                      at::IntArrayRef steps, const AdamArgs& a);

// LibTorch's own fused AdamW (torch.optim.AdamW(fused=True)) on the same lists: what adamw_ runs
// for CUDA tensors where the linked LibTorch has it (CUDA from 2.0, CPU from 2.4); tensors it
// cannot take (other devices, non-contiguous) run the reference. `available` says whether it
// exists for `device` in the linked LibTorch.
bool libtorch_adamw_available(const at::Device& device);
void libtorch_adamw_(at::TensorList W, at::TensorList g, at::TensorList m, at::TensorList v,
                     at::IntArrayRef steps, const AdamArgs& a);

// Adam's moments and ratio without touching W (SpectralAdam's element-wise part):
//   m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;  returns R = (m / (1−β₁ᵗ)) / (√(v / (1−β₂ᵗ)) + ε).
std::vector<at::Tensor> adam_ratio_(at::TensorList g, at::TensorList m, at::TensorList v,
                                    at::IntArrayRef steps, const AdamArgs& a);
std::vector<at::Tensor> adam_ratio_reference_(at::TensorList g, at::TensorList m,
                                              at::TensorList v, at::IntArrayRef steps,
                                              const AdamArgs& a);

// ---- Lion -------------------------------------------------------------------------------

struct LionArgs {
  double lr = 1e-4;
  double beta1 = 0.9;
  double beta2 = 0.99;
  double weight_decay = 0.0;
  bool cautious = false;  // u = sign(c)
};

// c = β₁m + (1−β₁)g;  W ← W(1 − ηλ) − η sign(c);  m ← β₂m + (1−β₂)g.
void lion_(at::TensorList W, at::TensorList g, at::TensorList m, const LionArgs& a);
void lion_reference_(at::TensorList W, at::TensorList g, at::TensorList m, const LionArgs& a);

// ---- momentum ---------------------------------------------------------------------------

// Heavy-ball momentum and Muon's direction (torch.optim.Muon, KellerJordan/Muon):
//   B ← μB + g;  returns U = g + μB (nesterov) or B itself (the state tensor, not a copy).
std::vector<at::Tensor> heavy_ball_direction_(at::TensorList B, at::TensorList g, double mu,
                                              bool nesterov);
std::vector<at::Tensor> heavy_ball_direction_reference_(at::TensorList B, at::TensorList g,
                                                        double mu, bool nesterov);

// EMA momentum and its look-ahead (NorMuon; Lion-K with scale = −1):
//   M ← β·M + (1−β)·s·g;  returns U = β_u·M + (1−β_u)·s·g (lookahead) or M itself.
std::vector<at::Tensor> ema_direction_(at::TensorList M, at::TensorList g, double beta,
                                       bool lookahead, double beta_u, double scale = 1.0);
std::vector<at::Tensor> ema_direction_reference_(at::TensorList M, at::TensorList g, double beta,
                                                 bool lookahead, double beta_u,
                                                 double scale = 1.0);

// ---- the update -------------------------------------------------------------------------

// W ← W(1 − ηλ) + α·U for each i, with α = alphas[i] (−η·shape scale for a descent step).
// With `cautious`, u = −αU / η (the sign of −αU decides).
void decay_and_apply_(at::TensorList W, at::TensorList U, double lr, double weight_decay,
                      at::ArrayRef<double> alphas, bool cautious = false);
void decay_and_apply_reference_(at::TensorList W, at::TensorList U, double lr,
                                double weight_decay, at::ArrayRef<double> alphas,
                                bool cautious = false);

// Row-scaled update (NorMuon): W ← W(1 − ηλ) + α·d_r·U, where W and U have the parameter's shape
// and d holds one factor per row of U's matrix view, i.e. per run of c = U.numel() / d.numel()
// consecutive elements in row-major order.
void decay_and_apply_rows_(const at::Tensor& W, const at::Tensor& U, const at::Tensor& d,
                           double lr, double weight_decay, double alpha, bool cautious = false);
void decay_and_apply_rows_reference_(const at::Tensor& W, const at::Tensor& U,
                                     const at::Tensor& d, double lr, double weight_decay,
                                     double alpha, bool cautious = false);

// Σ_j U² of each row of U (..., r, c), shape (..., r, 1), in U's dtype.
at::Tensor row_sum_squares(const at::Tensor& U);
at::Tensor row_sum_squares_reference(const at::Tensor& U);

// ---- checks -----------------------------------------------------------------------------

// Index of the first tensor with a NaN or Inf element, or −1. One read of each tensor, no
// temporaries on the fused path (NaN and ±Inf are the values whose exponent bits are all ones);
// the reference (at::isfinite(x).all() per tensor, one device → host transfer for all)
// elsewhere.
int64_t first_nonfinite(at::TensorList xs);
int64_t first_nonfinite_reference(at::TensorList xs);

}  // namespace fused
}  // namespace specopt
