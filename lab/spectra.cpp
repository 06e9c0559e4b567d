#include "lab/spectra.h"

#include <c10/util/Exception.h>

#include <cmath>

namespace specopt {
namespace lab {

at::Tensor geometric_spectrum(int64_t r, double kappa) {
  TORCH_CHECK(r >= 1, "geometric_spectrum: r must be >= 1, got ", r);
  TORCH_CHECK(kappa >= 1 && std::isfinite(kappa), "geometric_spectrum: kappa must be >= 1, got ",
              kappa);
  if (r == 1) return at::ones({1}, at::kDouble);
  // σ_i = kappa^{-i/(r-1)}, i = 0..r-1.
  return at::pow(kappa, -at::linspace(0.0, 1.0, r, at::kDouble));
}

namespace {
// Haar-distributed orthonormal columns (rows × cols, cols ≤ rows): QR of a Gaussian with the
// signs of R's diagonal folded into Q.
at::Tensor haar(int64_t rows, int64_t cols, at::Generator& gen, std::vector<int64_t> batch) {
  batch.push_back(rows);
  batch.push_back(cols);
  auto X = at::normal(0.0, 1.0, batch, gen, at::TensorOptions().dtype(at::kDouble));
  auto qr = at::linalg_qr(X, "reduced");
  auto d = at::sign(at::diagonal(std::get<1>(qr), 0, -2, -1));
  d = at::where(d == 0, at::ones_like(d), d);
  return std::get<0>(qr) * d.unsqueeze(-2);
}
}  // namespace

at::Tensor matrix_with_spectrum(int64_t m, int64_t n, const at::Tensor& sigma, uint64_t seed,
                                at::ScalarType dtype, std::vector<int64_t> batch) {
  TORCH_CHECK(m >= 1 && n >= 1, "matrix_with_spectrum: shape must be positive, got ", m, "x", n);
  const int64_t r = std::min(m, n);
  TORCH_CHECK(sigma.dim() == 1 && sigma.size(0) == r, "matrix_with_spectrum: need ", r,
              " singular values for a ", m, "x", n, " matrix, got shape ", sigma.sizes());
  auto gen = at::detail::createCPUGenerator(seed);
  auto U = haar(m, r, gen, batch);
  auto V = haar(n, r, gen, batch);
  auto s = sigma.to(at::kDouble);
  return at::matmul(U * s, V.transpose(-2, -1)).to(dtype);
}

at::Tensor exact_spectral_power(const at::Tensor& G, double p) {
  auto X = G.to(at::kDouble);
  auto svd = at::linalg_svd(X, /*full_matrices=*/false);
  auto U = std::get<0>(svd), S = std::get<1>(svd), Vh = std::get<2>(svd);
  const double eps = std::numeric_limits<double>::epsilon();
  auto cutoff = std::max(X.size(-2), X.size(-1)) * eps *
                std::get<0>(S.max(-1, /*keepdim=*/true));
  auto keep = S > cutoff;
  auto f = p == 0 ? at::ones_like(S) : at::pow(S, p);
  f = at::where(keep, f, at::zeros_like(f));
  return at::matmul(U * f.unsqueeze(-2), Vh);
}

double rel_frobenius_error(const at::Tensor& A, const at::Tensor& B) {
  auto a = A.to(at::kDouble), b = B.to(at::kDouble);
  const double nb = at::linalg_vector_norm(b, 2).item<double>();
  const double nd = at::linalg_vector_norm(a - b, 2).item<double>();
  if (nb == 0) return nd;
  return nd / nb;
}

}  // namespace lab
}  // namespace specopt
