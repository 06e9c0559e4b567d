#pragma once
// The k largest singular triplets by block power (subspace) iteration.
#include <ATen/ATen.h>
#include <torch/arg.h>

#include <cstdint>

namespace specopt {

struct TopSingularOptions {
  TopSingularOptions() = default;
  TORCH_ARG(int, max_iters) = 300;
  // Converged when every requested triplet has ‖Gᵀuᵢ − σᵢvᵢ‖ ≤ tol·σ₁.
  TORCH_ARG(double, tol) = 1e-6;
  // Extra subspace columns: convergence goes as (σ_{k+q+1}/σ_k)^iters.
  TORCH_ARG(int64_t, oversample) = 4;
  TORCH_ARG(uint64_t, seed) = 0;

 public:
  void validate() const;
};

struct TopSingular {
  at::Tensor U;  // (..., m, k)
  at::Tensor S;  // (..., k), descending
  at::Tensor V;  // (..., n, k)
  int iterations = 0;
  bool converged = false;
  double residual = 0;  // max over triplets and batch of ‖Gᵀuᵢ − σᵢvᵢ‖ / σ₁
};

// Top-k singular triplets of G (..., m, n), 1 ≤ k ≤ min(m, n). Computed in float64 for
// float64 input, float32 otherwise; returned in G's dtype.
TopSingular top_singular(const at::Tensor& G, int64_t k, const TopSingularOptions& options = {});

}  // namespace specopt
