#pragma once
// The shared building blocks of every specopt optimizer (optax style): small functions on
// tensors, each one line of a paper's update rule. No optimizer carries its own copy of
// any of them, so every step() reads as its paper's equations (arXiv 2506.15054, 2602.04669).
//
// Functions ending in `_` modify their first argument in place and return it; the others
// return a new tensor. All of them keep the input's dtype and device.
#include <ATen/ATen.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <specopt/maps/convex_map.h>
#include <specopt/matfun/polar.h>
#include <specopt/matfun/spectral_power.h>

namespace specopt {
namespace transforms {

// ---- momentum ---------------------------------------------------------------------------

// EMA: buf ← β·buf + (1 − β)·scale·x. With scale = −1 this is Lion-K's momentum of
// negative gradients, M ← β M − (1 − β) g.
at::Tensor& ema_(at::Tensor& buf, const at::Tensor& x, double beta, double scale = 1.0);

// Heavy-ball sum: buf ← μ·buf + x (no dampening).
at::Tensor& heavy_ball_(at::Tensor& buf, const at::Tensor& x, double mu);

// Heavy-ball buffer of paper 3 / torch SGD: buf ← x on the first step (undefined `buf`),
// then μ·buf + x; returns the buffer.
at::Tensor& heavy_ball_init_(at::Tensor& buf, const at::Tensor& x, double mu);

// EMA of squares: v ← β·v + (1 − β)·x².
at::Tensor& ema_sq_(at::Tensor& v, const at::Tensor& x, double beta);

// β·a + (1 − β)·scale·b, a new tensor: Lion's c = β₁m + (1−β₁)g, Lion-K's
// M̃ = β_nes M − (1−β_nes) g (scale = −1).
at::Tensor interpolate(const at::Tensor& a, const at::Tensor& b, double beta, double scale = 1.0);

// Nesterov look-ahead of a heavy-ball buffer: g + μ·buf (torch.optim.Muon / reference Muon).
at::Tensor nesterov(const at::Tensor& g, const at::Tensor& buf, double mu);

// ---- RMS normalisation (Adam) -----------------------------------------------------------

// Adam's bias-corrected ratio R = (m / (1 − β₁ᵗ)) / (sqrt(v / (1 − β₂ᵗ)) + eps), step t ≥ 1.
at::Tensor rms_normalize(const at::Tensor& m, const at::Tensor& v, int64_t step, double beta1,
                         double beta2, double eps);

// ---- matrix views -----------------------------------------------------------------------

// How a parameter tensor is seen as matrices:
// * 2-D (m, n): one matrix; with `split_qkv` and m = 3n (a packed QKV weight) the three
//   (n, n) row blocks are three separate matrices (a batch (3, n, n)).
// * 3-D (b, m, n): a batch of b matrices (per expert / per head).
// * ≥ 4-D (out, in, kh, kw, ...): a conv weight, flattened to (out, in·kh·kw).
// * 1-D (n) and 0-D: a (1, n) row / (1, 1) matrix when `allow_vectors`, otherwise an
//   error naming `who` (Muon: vectors belong to AdamW).
struct MatrixLayout {
  bool split_qkv = false;
  bool allow_vectors = false;
};

// The (..., rows, cols) view of X under `layout` (a view or reshape of X; no copy for
// contiguous X). Throws for vectors when they are not allowed; `who` names the caller.
at::Tensor as_matrices(const at::Tensor& X, const MatrixLayout& layout, const std::string& who);

// Shape (rows, cols) of each matrix of `as_matrices(X, layout)`.
std::pair<int64_t, int64_t> matrix_shape(const at::Tensor& X, const MatrixLayout& layout,
                                         const std::string& who);

// Estimated FLOPs of one spectral update of X: Newton–Schulz (5 steps) on each of its
// matrices, plus a few per element (RuleOptions::update_flops of the spectral rules).
double spectral_update_flops(const at::Tensor& X, const MatrixLayout& layout);
// A few FLOPs per element: the cost of an element-wise update.
double elementwise_update_flops(const at::Tensor& X);

// f applied to the matrix view of X, returned in X's shape. f receives (..., rows, cols).
at::Tensor map_matrices(const at::Tensor& X, const MatrixLayout& layout, const std::string& who,
                        const std::function<at::Tensor(const at::Tensor&)>& f);

// f applied to the matrices of several tensors, batched on accelerators: there, matrices with
// the same (small side, large side), dtype and device go to f together as one (k, r, c) batch,
// so a GPT block's Q, K, V and output projections make one call instead of four (one launch
// sequence instead of four). On CPU each tensor gets its own call: measured faster there
// (docs/performance.md). When `transpose_equivariant` (f(Mᵀ) = f(M)ᵀ,
// true of every unitarily invariant spectral map), tall matrices are transposed to join the
// wide ones of the same sizes. Returns one tensor per input, in its shape.
// `batch_on_cpu` forces batching on CPU too (tests of the batching itself).
std::vector<at::Tensor> map_matrices_batched(
    const std::vector<at::Tensor>& Xs, const MatrixLayout& layout, const std::string& who,
    const std::function<at::Tensor(const at::Tensor&)>& f, bool transpose_equivariant,
    bool batch_on_cpu = false);

// ---- spectral maps ----------------------------------------------------------------------

// msign(X) = U Vᵀ of every matrix of X (specopt::polar), in X's shape.
at::Tensor polar_map(const at::Tensor& X, const PolarOptions& options, const MatrixLayout& layout,
                     const std::string& who);

// polar_map of several tensors, same-sized matrices batched (map_matrices_batched).
std::vector<at::Tensor> polar_map_batched(const std::vector<at::Tensor>& Xs,
                                          const PolarOptions& options, const MatrixLayout& layout,
                                          const std::string& who, bool batch_on_cpu = false);

// Ψ_p(X) = U Σ^p Vᵀ of every matrix of X (specopt::spectral_power), in X's shape.
// p = 1 returns X itself (a copy) without looking at its shape.
at::Tensor power_map(const at::Tensor& X, double p, const PowerOptions& options,
                     const MatrixLayout& layout, const std::string& who);

// power_map of several tensors, same-sized matrices batched (map_matrices_batched).
std::vector<at::Tensor> power_map_batched(const std::vector<at::Tensor>& Xs, double p,
                                          const PowerOptions& options, const MatrixLayout& layout,
                                          const std::string& who, bool batch_on_cpu = false);

// ∇K(X) of every matrix of X (ConvexMap::grad), in X's shape.
at::Tensor convex_map_grad(const at::Tensor& X, const ConvexMap& map, const MatrixLayout& layout,
                           const std::string& who);

// ---- shape scale ------------------------------------------------------------------------

// Muon's learning-rate factor for a (rows × cols) update (docs/optimizers/muon.md):
//   original        sqrt(max(1, rows/cols))       (KellerJordan/Muon, torch.optim.Muon)
//   match_rms_adamw 0.2·sqrt(max(rows, cols))     (Moonlight: update RMS ≈ AdamW's)
//   none            1
//   spectral_norm   sqrt(rows/cols)                (microsoft/dion's adjust_lr "spectral_norm":
//                                                   RMS→RMS operator norm 1, also below 1)
enum class ShapeRule { original, match_rms_adamw, none, spectral_norm };

std::string to_string(ShapeRule r);
// "original" | "match_rms_adamw" | "none" | "spectral_norm"; throws "Unknown shape_rule '<name>' ...".
ShapeRule parse_shape_rule(const std::string& name);
std::vector<std::string> shape_rule_names();

double shape_scale(ShapeRule rule, int64_t rows, int64_t cols);

// ---- weight decay -----------------------------------------------------------------------

// Explicit decoupled decay X ← X − ηλX = X·(1 − ηλ). No-op for ηλ = 0.
at::Tensor& decoupled_weight_decay_(at::Tensor& X, double lr, double weight_decay);

// Cautious weight decay (arXiv 2510.12402): X ← X − ηλ·1[u ⊙ X ≥ 0]⊙X, decaying only the
// coordinates where the update u (the direction subtracted: X ← X − ηu) agrees in sign with X.
at::Tensor& cautious_weight_decay_(at::Tensor& X, const at::Tensor& u, double lr,
                                   double weight_decay);

// Implicit decay X ← X / (1 + ηλ) (Lion-K's implicit variant; applied after the update).
at::Tensor& implicit_weight_decay_(at::Tensor& X, double lr, double weight_decay);

// ---- the update -------------------------------------------------------------------------

// X ← X + alpha·U (alpha = −η·scale for a descent step).
at::Tensor& apply_update_(at::Tensor& X, const at::Tensor& U, double alpha);

}  // namespace transforms

using transforms::ShapeRule;

}  // namespace specopt
