#include "specopt/matfun/coupled_newton.h"

#include <c10/util/Exception.h>

#include "specopt/matfun/gram.h"
#include "specopt/matfun/validate.h"

namespace specopt {

namespace {
at::Tensor eye_like(const at::Tensor& A) {
  return at::eye(A.size(-1), A.options()).expand(A.sizes());
}
at::Tensor symmetrise(const at::Tensor& A) { return 0.5 * (A + A.transpose(-2, -1)); }
}  // namespace

MatrixSqrt coupled_newton_sqrt(const at::Tensor& A_in, int iters) {
  TORCH_CHECK(iters >= 1, "coupled_newton_sqrt: iters must be >= 1, got ", iters);
  TORCH_CHECK(A_in.dim() >= 2 && A_in.size(-1) == A_in.size(-2),
              "coupled_newton_sqrt: expected square matrices (..., n, n), got ", A_in.sizes());
  const int64_t n = A_in.size(-1);
  auto I = eye_like(A_in);
  // Ridge as released: 1e-6 + 1e-4 · tr(A)/n on the diagonal.
  auto tr = at::diagonal(A_in, 0, -2, -1).sum(-1, /*keepdim=*/true).unsqueeze(-1);
  auto A = A_in + (1e-6 + 1e-4 * tr / n) * I;
  auto s = at::linalg_vector_norm(A, 2, {-2, -1}, /*keepdim=*/true);
  auto Y = A / s;
  auto Z = I.clone();
  for (int k = 1; k <= iters; ++k) {
    auto T = 0.5 * (3.0 * I - at::matmul(Z, Y));
    Y = at::matmul(Y, T);
    Z = at::matmul(T, Z);
    if (k % 5 == 0) {
      Y = symmetrise(Y);
      Z = symmetrise(Z);
    }
  }
  Y = symmetrise(Y);
  Z = symmetrise(Z);
  auto rs = at::sqrt(s);
  return {rs * Y, Z / rs};
}

at::Tensor coupled_newton_power(const at::Tensor& G, int halvings, int iters) {
  detail::check_matrix(G, "coupled_newton_power");
  TORCH_CHECK(halvings >= 1, "coupled_newton_power: halvings must be >= 1, got ", halvings);
  auto O = G;
  for (int h = 0; h < halvings; ++h) {
    // Ψ_½(O) = (OOᵀ)^{-1/4} O for wide O, O (OᵀO)^{-1/4} for tall; the inverse fourth root
    // is the square root of the inverse square root: two coupled iterations.
    const bool wide = is_wide(O);
    auto A = wide ? at::matmul(O, O.transpose(-2, -1)) : at::matmul(O.transpose(-2, -1), O);
    auto inv_sqrt = coupled_newton_sqrt(A, iters).inv_sqrt;
    auto inv_fourth = coupled_newton_sqrt(inv_sqrt, iters).sqrt;
    O = wide ? at::matmul(inv_fourth, O) : at::matmul(O, inv_fourth);
  }
  return O;
}

double coupled_newton_flops(int64_t m, int64_t n, int halvings, int iters) {
  const double s = static_cast<double>(std::min(m, n)), l = static_cast<double>(std::max(m, n));
  // Per halving: Gram (2s²l), two square roots of 3 s×s products per iteration, apply (2s²l).
  return halvings * (4.0 * s * s * l + 2.0 * iters * 3.0 * 2.0 * s * s * s);
}

}  // namespace specopt
