#pragma once
// Gram Newton–Schulz: the Newton–Schulz polynomials applied through the small Gram matrix.
//
// For wide X₀ (m ≤ n) every Newton–Schulz iterate is X_k = Q_k X₀ with Q_k an m × m
// polynomial in R₀ = X₀X₀ᵀ. So the iteration can run on m × m matrices only:
//   Z = bR + cR²,  Q ← Q(aI + Z),  R ← (aI + Z) R (aI + Z),
// and one final Q X₀ replaces the 2·steps products with X. Per step that is ≤ 4 m³
// multiply-adds instead of 2m²n + m³: fewer FLOPs whenever n is enough larger than m (Zhang,
// Amsel, Chen, Dao 2026, github.com/Dao-AILab/gram-newton-schulz). Rounding errors in R
// are not self-correcting as they are in X Xᵀ: a slightly negative eigenvalue of R (rounding
// of a tiny σ²) grows by ≈a² per step under r ← r(a + br + cr²)². So every `restart_every`
// steps the iteration re-forms X = Q X₀ and R = X Xᵀ and resets Q to I.
#include <ATen/ATen.h>

#include <cstdint>

#include <specopt/matfun/newton_schulz.h>

namespace specopt {

// The restart interval used when none is given (restart_every = 0), measured per arithmetic
// dtype (docs/performance.md, "Newton–Schulz: Gram iteration").
int gram_newton_schulz_restart_interval(at::ScalarType compute_dtype);

// `steps` iterations of `schedule` on G (..., m, n) through the Gram matrix of its wide
// orientation, arithmetic in `compute_dtype`; restarts before steps restart_every,
// 2·restart_every, ... (0: the measured default above; ≥ steps: none). Same normalisation
// and result as `newton_schulz` up to rounding; where the Gram route would not save FLOPs
// (square or nearly square G) it runs `newton_schulz` itself. Returns G's dtype. `aol`: the AOL
// start of aol.h instead of the Frobenius normalisation (R₀ is the rescaling's Gram matrix).
at::Tensor gram_newton_schulz(const at::Tensor& G, const NsSchedule& schedule, int steps,
                              double eps, at::ScalarType compute_dtype, int restart_every = 0,
                              bool aol = false);

// FLOPs of `steps` quintic steps by the Gram route on an m × n matrix (per batch element, a
// multiply-add counted as 2, s/l the small/large side): the Gram matrix 2s²l; per step R²,
// Q·Z (not right after a (re)start) and the R update (not before a restart or after the last
// step), 2s³ each of the four; 4s²l per restart; 2s²l for the final Q X₀. `symmetric`: every
// product except Q·X skips its upper off-diagonal block (3/4 of the FLOPs, the block path of
// `gram_xxt`). restart_every as above, but 0 means no restart.
double gram_newton_schulz_flops(int64_t m, int64_t n, int steps, int restart_every,
                                bool symmetric = false);

// Whether `gram_newton_schulz` takes the Gram route for this tensor (fewer FLOPs than
// `newton_schulz` on its device's path) rather than falling back to `newton_schulz`.
bool gram_newton_schulz_pays(const at::Tensor& G, int steps, at::ScalarType compute_dtype,
                             int restart_every = 0);

// The FLOPs `gram_newton_schulz` spends on this tensor (whole batch, its device's path,
// including the fall-back to `newton_schulz`).
double gram_newton_schulz_flops(const at::Tensor& G, int steps, at::ScalarType compute_dtype,
                                int restart_every = 0);

}  // namespace specopt
