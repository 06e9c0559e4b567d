#pragma once
// U f(Σ) Vᵀ through the eigendecomposition of the small-side Gram matrix.
//
// For wide G (m ≤ n): G Gᵀ = Q diag(λ) Qᵀ with σ = √λ, and U f(Σ) Vᵀ = Q diag(f(σ)/σ) Qᵀ G;
// for tall G the mirror image G Q diag(f(σ)/σ) Qᵀ with GᵀG. One m×m eigendecomposition plus
// two products instead of an SVD. Squaring G squares its condition number: in float32
// singular values below ≈ 1e-3·σ₁ lose accuracy, which `gram_eigh_error_estimate` measures.
#include <ATen/ATen.h>

#include <functional>

namespace specopt {

struct GramEig {
  at::Tensor G;       // input scaled by `scale` (so its largest entry is 1), compute dtype
  at::Tensor scale;   // (..., 1, 1) per-matrix max |G_ij| (1 for all-zero matrices)
  at::Tensor Q;       // (..., k, k) eigenvectors of the small-side Gram matrix
  at::Tensor lambda;  // (..., k) eigenvalues, ascending, clamped at 0
  at::Tensor rank_mask;  // (..., k) true where λ is above the numerical-rank cutoff
  bool wide = true;
};

// Scales G, forms the Gram matrix in `compute_dtype` and decomposes it. Eigenvalues at or
// below √k · eps(compute_dtype) · λ_max (numerically zero singular values) are masked out.
GramEig gram_eig(const at::Tensor& G, at::ScalarType compute_dtype);

// Q diag(w) Qᵀ G (wide) or G Q diag(w) Qᵀ (tall) for weights w (..., k) in e.G's units.
// Masked eigenvalues get weight 0.
at::Tensor gram_apply(const GramEig& e, const at::Tensor& w);

// The decomposition `auto` uses for U Σ^p Vᵀ with target relative error `tol`: float32 first
// (for float32 or half input), and float64 when `gram_eigh_error_estimate` says float32
// cannot meet `tol`; float64 input is decomposed in float64 directly.
GramEig gram_eig_within(const at::Tensor& G, double p, double tol);

// A-posteriori bound on the relative Frobenius error of U Σ^p Vᵀ computed from `e` (its
// dtype's rounding in forming and decomposing the Gram matrix): each singular value σᵢ
// carries relative error ≈ c·eps·(σ₁/σᵢ)², capped at losing the direction entirely.
// Returns the worst estimate over the batch.
double gram_eigh_error_estimate(const GramEig& e, double p);

}  // namespace specopt
