#pragma once
// Gram matrices of the small side: X Xᵀ for wide X (m ≤ n), Xᵀ X for tall X.
#include <ATen/ATen.h>

namespace specopt {

// True when the matrix (..., m, n) is wide or square (m <= n): functions then work with
// X Xᵀ (m × m); otherwise with Xᵀ X (n × n).
inline bool is_wide(const at::Tensor& X) { return X.size(-2) <= X.size(-1); }

// X Xᵀ (symmetric to rounding) for X of shape (..., m, n). For large m on CPU it computes only the blocks on and
// below the diagonal of a 2 × 2 block grid (three GEMMs, 3/4 of the FLOPs) and mirrors the
// off-diagonal block; otherwise it is `gram_xxt_reference`. (BLAS syrk was measured too:
// slower than GEMM at some sizes, so it is not used; docs/performance.md.)
at::Tensor gram_xxt(const at::Tensor& X);

// Plain reference: at::matmul(X, Xᵀ). Tests compare `gram_xxt` against it.
at::Tensor gram_xxt_reference(const at::Tensor& X);

// beta·C + alpha·X Xᵀ for symmetric C (..., m, m), with the same block path as `gram_xxt`.
// Newton–Schulz uses it for bA + cA² (A symmetric, so A² = A Aᵀ).
at::Tensor gram_xxt_add(const at::Tensor& C, const at::Tensor& X, double beta, double alpha);

// Plain reference: beta·C + alpha·at::matmul(X, Xᵀ).
at::Tensor gram_xxt_add_reference(const at::Tensor& C, const at::Tensor& X, double beta,
                                  double alpha);

// beta·C + alpha·A Bᵀ for A, B of shape (..., m, k) whose product A Bᵀ is symmetric in exact
// arithmetic (B = A; or A, B symmetric polynomials in one symmetric matrix, as Gram
// Newton–Schulz multiplies them). Same block path as `gram_xxt` (decided on A); C (..., m, m)
// symmetric, or undefined for beta = 0.
at::Tensor symmetric_product(const at::Tensor& A, const at::Tensor& B, const at::Tensor& C,
                             double beta, double alpha);

// Plain reference: beta·C + alpha·at::matmul(A, Bᵀ) (alpha·A Bᵀ alone when C is undefined).
at::Tensor symmetric_product_reference(const at::Tensor& A, const at::Tensor& B,
                                       const at::Tensor& C, double beta, double alpha);

// Whether `gram_xxt` takes the block path for this tensor: CPU, float32/float64, m ≥ 512
// (measured: below it the smaller GEMMs lose more efficiency than the skipped block saves; in
// bfloat16 the blocks lost at every size measured).
bool gram_uses_blocks(const at::Tensor& X);

}  // namespace specopt
