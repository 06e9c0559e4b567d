#pragma once
// Unitarily invariant matrix norms, batched over leading dimensions.
//
// Inside namespace specopt call these qualified (specopt::nuclear_norm): ATen has functions
// of the same names, which argument-dependent lookup would also find.
//
// Each returns a tensor of shape (...) in G's dtype. The matrix is scaled by its largest
// entry before the singular values are computed, so entries near 1e-30 or 1e30 neither
// underflow nor overflow in float32.
#include <ATen/ATen.h>

#include <cstdint>

namespace specopt {

at::Tensor op_norm(const at::Tensor& G);                   // σ₁
at::Tensor nuclear_norm(const at::Tensor& G);              // Σ σᵢ
at::Tensor schatten_norm(const at::Tensor& G, double q);   // (Σ σᵢ^q)^{1/q}, q ≥ 1 or +inf
at::Tensor ky_fan_norm(const at::Tensor& G, int64_t k);    // Σ_{i≤k} σᵢ, 1 ≤ k
at::Tensor frobenius_norm(const at::Tensor& G);            // (Σ σᵢ²)^{1/2}

// Singular values (..., min(m, n)), descending, computed safely as above.
at::Tensor singular_values(const at::Tensor& G);

}  // namespace specopt
