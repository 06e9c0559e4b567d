#pragma once
// Paper 3's coupled Newton–Schulz square root / inverse square root (as released).
#include <ATen/ATen.h>

namespace specopt {

struct MatrixSqrt {
  at::Tensor sqrt;      // ≈ A^{1/2}
  at::Tensor inv_sqrt;  // ≈ A^{-1/2}
};

// For symmetric positive semi-definite A (..., n, n), exactly as paper 3's released code does (arXiv 2602.04669;
// docs/algorithms.md, "Matrix functions"):
// ridge A + (1e-6 + 1e-4·tr(A)/n) I, s = ‖A‖_F, Y = A/s, Z = I, then `iters` times
// T = ½(3I − ZY); Y ← YT; Z ← TZ, symmetrising Y and Z every 5 iterations and at the end;
// A^{1/2} ≈ √s·Y, A^{-1/2} ≈ Z/√s.
MatrixSqrt coupled_newton_sqrt(const at::Tensor& A, int iters = 15);

// U Σ^{2^-halvings} Vᵀ by the released recipe: Ψ_½(O) = O (OᵀO)^{-1/4} (left-side version
// for wide O) with the inverse fourth root as (A^{-1/2})^{1/2}; Ψ_¼ = Ψ_½ applied twice, and
// so on. `halvings` ≥ 1.
at::Tensor coupled_newton_power(const at::Tensor& G, int halvings, int iters = 15);

// FLOPs of coupled_newton_power on an (m × n) matrix (per batch element).
double coupled_newton_flops(int64_t m, int64_t n, int halvings, int iters = 15);

}  // namespace specopt
