#pragma once
// Exact U f(Σ) Vᵀ for an elementwise function f of the singular values.
#include <ATen/ATen.h>

#include <functional>

namespace specopt {

// f receives the singular values (..., k) as a tensor and returns a tensor of the same shape.
using SingularValueMap = std::function<at::Tensor(const at::Tensor& sigma)>;

enum class SpectralMapMethod {
  svd,        // thin SVD in float64 (exact to rounding)
  gram_eigh,  // small-side Gram eigendecomposition (faster; loses singular values ≲ √eps·σ₁)
};

// U f(Σ) Vᵀ for G (..., m, n), in G's dtype. Singular values at or below the numerical-rank
// cutoff contribute nothing (their singular vectors are not unique), so f need not be
// defined at 0. Throws if f changes the shape or returns non-finite values.
at::Tensor spectral_map(const at::Tensor& G, const SingularValueMap& f,
                        SpectralMapMethod method = SpectralMapMethod::svd);

}  // namespace specopt
