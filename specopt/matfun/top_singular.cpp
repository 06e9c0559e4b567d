#include "specopt/matfun/top_singular.h"

#include <ATen/CPUGeneratorImpl.h>
#include <c10/util/Exception.h>

#include <cmath>
#include <limits>

#include "specopt/matfun/validate.h"

namespace specopt {

void TopSingularOptions::validate() const {
  TORCH_CHECK(max_iters_ >= 1, "Invalid TopSingularOptions max_iters: ", max_iters_,
              " (must be >= 1)");
  TORCH_CHECK(tol_ > 0 && std::isfinite(tol_), "Invalid TopSingularOptions tol: ", tol_,
              " (must be > 0)");
  TORCH_CHECK(oversample_ >= 0, "Invalid TopSingularOptions oversample: ", oversample_,
              " (must be >= 0)");
}

TopSingular top_singular(const at::Tensor& G, int64_t k, const TopSingularOptions& options) {
  detail::check_matrix(G, "top_singular");
  options.validate();
  const int64_t m = G.size(-2), n = G.size(-1), r = std::min(m, n);
  TORCH_CHECK(k >= 1 && k <= r, "top_singular: k must be in [1, min(m, n) = ", r, "], got ", k);
  const auto compute = detail::lapack_dtype(G.scalar_type());
  auto scale = detail::safe_scale(G).to(compute);
  auto X = G.to(compute) / scale;
  auto Xt = X.transpose(-2, -1);
  const int64_t q = std::min(k + options.oversample(), r);

  std::vector<int64_t> shape(G.sizes().begin(), G.sizes().end() - 2);
  shape.push_back(n);
  shape.push_back(q);
  auto gen = at::detail::createCPUGenerator(options.seed());
  auto V = at::normal(0.0, 1.0, shape, gen, at::TensorOptions().dtype(compute)).to(G.device());
  V = std::get<0>(at::linalg_qr(V, "reduced"));

  TopSingular out;
  at::Tensor U, S, Vr;
  for (int it = 1; it <= options.max_iters(); ++it) {
    // One block power step on XᵀX, re-orthonormalised.
    V = std::get<0>(at::linalg_qr(at::matmul(Xt, at::matmul(X, V)), "reduced"));
    // Rayleigh–Ritz: X V = U_b S V_bᵀ gives X (V V_b) = U_b S exactly, so only the
    // residual of Xᵀ u = σ v measures convergence.
    auto svd = at::linalg_svd(at::matmul(X, V), /*full_matrices=*/false);
    U = std::get<0>(svd).narrow(-1, 0, k);
    S = std::get<1>(svd).narrow(-1, 0, k);
    Vr = at::matmul(V, std::get<2>(svd).transpose(-2, -1)).narrow(-1, 0, k);
    auto R = at::matmul(Xt, U) - Vr * S.unsqueeze(-2);
    auto s1 = S.narrow(-1, 0, 1).clamp_min(std::numeric_limits<double>::min());
    auto res = at::linalg_vector_norm(R, 2, {-2}) / s1;
    // An all-zero matrix has nothing to converge to.
    res = at::where(S.narrow(-1, 0, 1) > 0, res, at::zeros_like(res));
    out.iterations = it;
    out.residual = res.numel() ? res.max().item<double>() : 0.0;
    if (out.residual <= options.tol()) {
      out.converged = true;
      break;
    }
  }
  const auto dt = G.scalar_type();
  out.U = U.to(dt);
  out.S = (S * scale.squeeze(-1)).to(dt);
  out.V = Vr.to(dt);
  return out;
}

}  // namespace specopt
