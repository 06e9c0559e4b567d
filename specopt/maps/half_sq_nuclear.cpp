#include "specopt/maps/half_sq_nuclear.h"

#include <c10/util/Exception.h>

#include <cmath>
#include <tuple>

#include "specopt/maps/maps.h"
#include "specopt/matfun/norms.h"
#include "specopt/matfun/validate.h"

namespace specopt {

std::string HalfSqNuclearMap::describe() const {
  return "half_sq_nuclear: K = ||X||_*^2/2, grad K = ||X||_* U V^T (PolarGrad), K* = "
         "||Y||_op^2/2; min F + (lambda/2)||X||_op^2";
}

at::Tensor HalfSqNuclearMap::value(const at::Tensor& X) const {
  detail::check_matrix(X, "half_sq_nuclear.value");
  const auto n = specopt::nuclear_norm(X);
  return 0.5 * n * n;
}

at::Tensor HalfSqNuclearMap::grad(const at::Tensor& X) const {
  detail::check_matrix(X, "half_sq_nuclear.grad");
  // The nuclear map's ∇ (exact polar factor over the numerical rank, 0 at 0) times ‖X‖_*.
  return NuclearMap().grad(X) * specopt::nuclear_norm(X).unsqueeze(-1).unsqueeze(-1);
}

at::Tensor HalfSqNuclearMap::conjugate(const at::Tensor& Y) const {
  detail::check_matrix(Y, "half_sq_nuclear.conjugate");
  const auto n = op_norm(Y);
  return 0.5 * n * n;
}

at::Tensor HalfSqNuclearMap::dual_norm(const at::Tensor& G) const {
  detail::check_matrix(G, "half_sq_nuclear.dual_norm");
  return specopt::nuclear_norm(G);
}

at::Tensor half_sq_nuclear_minimiser(const at::Tensor& A, double lambda) {
  TORCH_CHECK(std::isfinite(lambda) && lambda > 0,
              "half_sq_nuclear_minimiser: lambda must be > 0, got ", lambda);
  TORCH_CHECK(A.dim() == 2, "half_sq_nuclear_minimiser: expected a matrix, got shape ", A.sizes());
  at::Tensor U, S, Vh;
  std::tie(U, S, Vh) = at::linalg_svd(A.to(at::kDouble), /*full_matrices=*/false);
  // Capping the k largest values at t: λt = Σ_{i≤k} (aᵢ − t) gives t = Σ_{i≤k} aᵢ / (k + λ);
  // the right k is the one whose t lies in [a_{k+1}, a_k] (descending a).
  const auto a = S.contiguous();
  const auto* s = a.data_ptr<double>();
  const int64_t r = a.numel();
  double t = 0, sum = 0;
  for (int64_t k = 1; k <= r; ++k) {
    sum += s[k - 1];
    t = sum / (double(k) + lambda);
    if (k == r || t >= s[k]) break;
  }
  const auto capped = a.clamp_max(t);
  return at::matmul(U * capped.unsqueeze(-2), Vh).to(A.dtype());
}

}  // namespace specopt
