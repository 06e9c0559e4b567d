#pragma once
// Test matrices with a prescribed singular spectrum, for tests, benchmarks and experiments.
#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

namespace specopt {
namespace lab {

// Singular values geometrically spaced from 1 down to 1/kappa (r values, r ≥ 1).
at::Tensor geometric_spectrum(int64_t r, double kappa);

// A matrix (m × n), or a batch (batch..., m, n), equal to U diag(sigma) Vᵀ with Haar-random
// U, V from `seed`, built in float64 and returned in `dtype`. `sigma` holds min(m, n) values
// (pad with zeros for a rank-deficient matrix).
at::Tensor matrix_with_spectrum(int64_t m, int64_t n, const at::Tensor& sigma, uint64_t seed,
                                at::ScalarType dtype = at::kDouble,
                                std::vector<int64_t> batch = {});

// Exact references in float64 by SVD: U f(Σ) Vᵀ with f(σ) = σ^p (p = 0: U Vᵀ over the
// singular values above the rank cutoff max(m,n)·eps·σ₁).
at::Tensor exact_spectral_power(const at::Tensor& G, double p);

// ‖A − B‖_F / ‖B‖_F over the whole tensor, computed in float64 (0 when both are zero).
double rel_frobenius_error(const at::Tensor& A, const at::Tensor& B);

}  // namespace lab
}  // namespace specopt
