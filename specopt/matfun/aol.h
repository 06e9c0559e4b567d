#pragma once
// AOL preconditioning for Newton–Schulz (Turbo-Muon, Boissin, Massena, Mamalet, Serrurier,
// arXiv 2512.04632; the rescaling is AOL's, Prach & Lampert, arXiv 2208.03160).
//
// For wide X (m ≤ n) with Gram matrix A = X Xᵀ, scale row i of X (a column of the tall
// orientation: always the small side) by
//     s_i = (Σ_j |A_ij|)^{-1/2}.
// By the Schur test with weights 1/s, ‖diag(s) A diag(s)‖₂ ≤ 1, so ‖diag(s) X‖₂ ≤ 1: the same
// guarantee as dividing by ‖X‖_F, but a row-wise one that moves the small singular values up
// (a rescaled matrix is closer to orthogonal than X/‖X‖_F), so one Newton–Schulz step fewer
// reaches the same error. The first step's Gram matrix is diag(s) A diag(s): computed from A,
// which the scaling needed anyway, so preconditioning costs O(m² + mn) element-wise work and
// saves a whole step (one X Xᵀ, one A², one B·X).
#include <ATen/ATen.h>

#include <specopt/matfun/newton_schulz.h>

namespace specopt {

struct AolScaled {
  at::Tensor X;  // diag(s) X / norm_factor
  at::Tensor A;  // its Gram matrix, diag(s) A diag(s) / norm_factor²
};

// Rescales wide X (..., m, n) given its Gram matrix A = X Xᵀ (..., m, m). Row sums below
// `eps` (e.g. zero rows) are raised to it, which only shrinks s there and keeps the bound; with
// eps = 0 the smallest normal number of X's dtype is used. `norm_factor` ≥ 1 is the schedule's
// safety margin (NsSchedule::norm_factor), divided out as after a Frobenius normalisation.
AolScaled aol_precondition(const at::Tensor& X, const at::Tensor& A, double eps,
                           double norm_factor = 1.0);

// The start of a Newton–Schulz iteration on wide X: with `aol`, aol_precondition of X and its
// Gram matrix (gram_xxt); otherwise X/(‖X‖_F·norm_factor + eps) and an undefined A.
AolScaled newton_schulz_start(const at::Tensor& X, const NsSchedule& schedule, double eps,
                              bool aol);

// The plain reference: Turbo-Muon's iteration written out with three matmuls per step and
// no block products — transpose to wide, A = XXᵀ, the AOL rescaling, then `steps` quintic steps
// of `schedule` (the first reusing the rescaled A), in G's dtype. Tests compare the library's
// path (newton_schulz with aol) against it.
at::Tensor reference_newton_schulz_aol(const at::Tensor& G, const NsSchedule& schedule, int steps,
                                       double eps = 1e-7);

}  // namespace specopt
