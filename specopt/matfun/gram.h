#pragma once
// Gram matrices of the small side: X Xᵀ for wide X (m ≤ n), Xᵀ X for tall X.
#include <ATen/ATen.h>

namespace specopt {

// True when the matrix (..., m, n) is wide or square (m <= n): functions then work with
// X Xᵀ (m × m); otherwise with Xᵀ X (n × n).
inline bool is_wide(const at::Tensor& X) { return X.size(-2) <= X.size(-1); }

// X Xᵀ for X of shape (..., m, n). On CPU float32/float64 with a BLAS available it uses
// the symmetric rank-k kernel (syrk: half the FLOPs of a GEMM) and mirrors the triangle;
// elsewhere it is `gram_xxt_reference`.
at::Tensor gram_xxt(const at::Tensor& X);

// Plain reference: at::matmul(X, Xᵀ). Tests compare `gram_xxt` against it.
at::Tensor gram_xxt_reference(const at::Tensor& X);

// beta·C + alpha·X Xᵀ for symmetric C (..., m, m), with the same syrk path as `gram_xxt`.
// Newton–Schulz uses it for bA + cA² (A symmetric, so A² = A Aᵀ): m³ instead of 2m³ FLOPs.
at::Tensor gram_xxt_add(const at::Tensor& C, const at::Tensor& X, double beta, double alpha);

// Plain reference: beta·C + alpha·at::matmul(X, Xᵀ).
at::Tensor gram_xxt_add_reference(const at::Tensor& C, const at::Tensor& X, double beta,
                                  double alpha);

// Whether `gram_xxt` takes the syrk path for this tensor.
bool gram_uses_syrk(const at::Tensor& X);

}  // namespace specopt
