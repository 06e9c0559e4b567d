#include "specopt/maps/convex_map.h"

#include <c10/util/Exception.h>

#include <cmath>

namespace specopt {

namespace {
void check_lambda(double lambda, const char* fn) {
  TORCH_CHECK(std::isfinite(lambda) && lambda > 0, fn, ": lambda must be > 0, got ", lambda);
}
void check_pair(const at::Tensor& A, const at::Tensor& B, const char* fn) {
  TORCH_CHECK(A.defined() && B.defined(), fn, ": undefined tensor");
  TORCH_CHECK(A.dim() >= 2 && A.sizes() == B.sizes(), fn,
              ": expected two tensors of the same shape (..., m, n), got ", A.sizes(), " and ",
              B.sizes());
}
}  // namespace

at::Tensor frobenius_inner(const at::Tensor& A, const at::Tensor& B) {
  check_pair(A, B, "frobenius_inner");
  return (A * B).sum({-2, -1});
}

at::Tensor stationarity_gap(const ConvexMap& map, const at::Tensor& grad_F, const at::Tensor& X,
                            double lambda) {
  check_lambda(lambda, "stationarity_gap");
  check_pair(grad_F, X, "stationarity_gap");
  auto inner = frobenius_inner(grad_F, X);
  auto c = map.constraint();
  if (c && c->indicator) return inner + map.dual_norm(grad_F) / lambda;
  return inner + (map.conjugate(X * lambda) + map.value(-grad_F)) / lambda;
}

at::Tensor constraint_violation(const ConvexMap& map, const at::Tensor& X, double lambda) {
  check_lambda(lambda, "constraint_violation");
  TORCH_CHECK(X.defined() && X.dim() >= 2,
              "constraint_violation: expected a tensor of shape (..., m, n)");
  auto c = map.constraint();
  auto batch = X.sizes().slice(0, X.dim() - 2);
  if (!c) return at::zeros(batch, X.options());
  return (c->norm(X) - c->radius / lambda).clamp_min(0);
}

at::Tensor lion_k_objective(const ConvexMap& map, const at::Tensor& F_value, const at::Tensor& X,
                            double lambda) {
  check_lambda(lambda, "lion_k_objective");
  TORCH_CHECK(F_value.defined() && X.defined(), "lion_k_objective: undefined tensor");
  return F_value + map.conjugate(X * lambda) / lambda;
}

}  // namespace specopt
