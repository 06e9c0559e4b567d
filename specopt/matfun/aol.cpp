#include "specopt/matfun/aol.h"

#include <c10/util/Exception.h>

#include <cmath>
#include <limits>

#include "specopt/matfun/gram.h"
#include "specopt/matfun/validate.h"

namespace specopt {

namespace {
double smallest_normal(at::ScalarType t) {
  switch (t) {
    case at::kDouble: return std::numeric_limits<double>::min();
    case at::kHalf: return 6.103515625e-05;  // 2^-14
    default: return std::numeric_limits<float>::min();  // float32 and bfloat16 share the exponent
  }
}
}  // namespace

AolScaled aol_precondition(const at::Tensor& X, const at::Tensor& A, double eps,
                           double norm_factor) {
  TORCH_CHECK(X.dim() >= 2 && A.dim() == X.dim() && A.size(-1) == X.size(-2) &&
                  A.size(-2) == X.size(-2),
              "aol_precondition: A must be X Xᵀ, shape (..., m, m) for X (..., m, n); got X ",
              X.sizes(), " and A ", A.sizes());
  TORCH_CHECK(eps >= 0 && std::isfinite(eps), "aol_precondition: eps must be >= 0, got ", eps);
  TORCH_CHECK(norm_factor > 0 && std::isfinite(norm_factor),
              "aol_precondition: norm_factor must be positive, got ", norm_factor);
  // Row sums accumulated and s formed in at least float32 (a bf16 rsqrt of a bf16 sum would add
  // two more roundings of 4e-3 to a vector the whole iteration is scaled by).
  const auto wide_dtype = X.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  auto rows = A.abs().sum(-1, /*keepdim=*/true, wide_dtype);  // (..., m, 1)
  const double floor = eps > 0 ? eps : smallest_normal(X.scalar_type());
  auto s = at::rsqrt(rows.clamp_min(floor));
  if (norm_factor != 1.0) s = s / norm_factor;
  auto s_row = s.to(X.scalar_type());
  return {X * s_row, A * s_row * s_row.transpose(-2, -1)};
}

AolScaled newton_schulz_start(const at::Tensor& X, const NsSchedule& schedule, double eps,
                              bool aol) {
  if (aol) return aol_precondition(X, gram_xxt(X), eps, schedule.norm_factor);
  auto norm = at::linalg_vector_norm(X, 2, {-2, -1}, /*keepdim=*/true);
  return {X / (norm * schedule.norm_factor + eps), at::Tensor()};
}

at::Tensor reference_newton_schulz_aol(const at::Tensor& G, const NsSchedule& schedule, int steps,
                                       double eps) {
  detail::check_matrix(G, "reference_newton_schulz_aol");
  TORCH_CHECK(steps >= 1, "reference_newton_schulz_aol: steps must be >= 1, got ", steps);
  auto X = G;
  const bool tall = G.size(-2) > G.size(-1);
  if (tall) X = X.transpose(-2, -1);
  auto A = at::matmul(X, X.transpose(-2, -1));
  auto rows = A.abs().sum(-1, /*keepdim=*/true);
  auto s = at::rsqrt(rows.clamp_min(eps)) / schedule.norm_factor;
  X = X * s;
  A = A * s * s.transpose(-2, -1);
  for (int k = 0; k < steps; ++k) {
    const auto& c = schedule.at_step(k);
    if (k > 0) A = at::matmul(X, X.transpose(-2, -1));
    auto B = c[1] * A + c[2] * at::matmul(A, A);
    X = c[0] * X + at::matmul(B, X);
  }
  if (tall) X = X.transpose(-2, -1);
  return X;
}

}  // namespace specopt
