#include "specopt/matfun/norms.h"

#include <c10/util/Exception.h>

#include <cmath>

#include "specopt/matfun/validate.h"

namespace specopt {

namespace {
// Singular values of G / max|G| (in [0, √(mn)]) and that scale, shape (..., 1).
std::pair<at::Tensor, at::Tensor> scaled_singular_values(const at::Tensor& G, const char* fn) {
  detail::check_matrix(G, fn);
  const auto compute = detail::lapack_dtype(G.scalar_type());
  auto scale = detail::safe_scale(G).to(compute);
  auto S = at::linalg_svdvals(G.to(compute) / scale);
  return {S, scale.squeeze(-1)};
}
}  // namespace

at::Tensor singular_values(const at::Tensor& G) {
  auto ss = scaled_singular_values(G, "singular_values");
  return (ss.first * ss.second).to(G.scalar_type());
}

at::Tensor op_norm(const at::Tensor& G) {
  auto ss = scaled_singular_values(G, "op_norm");
  return (ss.first.narrow(-1, 0, 1) * ss.second).squeeze(-1).to(G.scalar_type());
}

at::Tensor nuclear_norm(const at::Tensor& G) {
  auto ss = scaled_singular_values(G, "nuclear_norm");
  return (ss.first.sum(-1) * ss.second.squeeze(-1)).to(G.scalar_type());
}

at::Tensor frobenius_norm(const at::Tensor& G) {
  // Entrywise (no SVD): ‖G‖_F = s·‖G/s‖_F with s = max|G_ij|, safe from over/underflow.
  detail::check_matrix(G, "frobenius_norm");
  auto scale = detail::safe_scale(G);
  return (at::linalg_vector_norm(G / scale, 2, {-2, -1}) * scale.squeeze(-1).squeeze(-1))
      .to(G.scalar_type());
}

at::Tensor schatten_norm(const at::Tensor& G, double q) {
  TORCH_CHECK(q >= 1 && !std::isnan(q), "schatten_norm: q must be >= 1 (or +inf), got ", q);
  if (std::isinf(q)) return op_norm(G);
  auto ss = scaled_singular_values(G, "schatten_norm");
  auto S = ss.first;
  // σ₁ (Σ (σᵢ/σ₁)^q)^{1/q}: no overflow for large q.
  // All-zero matrices: divide by 1 instead of 0 (their σ₁ = 0 makes the norm 0 anyway).
  auto s1 = S.narrow(-1, 0, 1);
  auto safe = at::where(s1 > 0, s1, at::ones_like(s1));
  auto norm = s1.squeeze(-1) * at::pow(at::pow(S / safe, q).sum(-1), 1.0 / q);
  return (norm * ss.second.squeeze(-1)).to(G.scalar_type());
}

at::Tensor ky_fan_norm(const at::Tensor& G, int64_t k) {
  const int64_t r = G.dim() >= 2 ? std::min(G.size(-2), G.size(-1)) : 0;
  TORCH_CHECK(k >= 1 && k <= r, "ky_fan_norm: k must be in [1, min(m, n) = ", r, "], got ", k);
  auto ss = scaled_singular_values(G, "ky_fan_norm");
  return (ss.first.narrow(-1, 0, k).sum(-1) * ss.second.squeeze(-1)).to(G.scalar_type());
}

}  // namespace specopt
