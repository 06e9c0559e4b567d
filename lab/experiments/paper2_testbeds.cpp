#include "lab/experiments/paper2_testbeds.h"

#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/GradMode.h>

#include <cmath>
#include <stdexcept>
#include <string>

#include "lab/spectra.h"

namespace specopt {
namespace lab {
namespace {

const auto kF64 = at::TensorOptions().dtype(at::kDouble);

void check_spec(int64_t n, int64_t r, double kappa, const char* what) {
  if (n < 1 || r < 1 || r > n)
    throw std::invalid_argument(std::string(what) + ": need 1 <= r <= n, got n=" +
                                std::to_string(n) + ", r=" + std::to_string(r));
  if (!(kappa >= 1) || !std::isfinite(kappa))
    throw std::invalid_argument(std::string(what) + ": kappa must be >= 1, got " +
                                std::to_string(kappa));
}

}  // namespace

at::Tensor random_orthonormal(int64_t n, int64_t k, at::Generator& gen) {
  at::Tensor Q = std::get<0>(at::linalg_qr(at::randn({n, k}, gen, kF64)));
  return Q;
}

RaceProblem factorization_problem(const FactorizationSpec& spec) {
  check_spec(spec.n, spec.r, spec.kappa, "factorization");
  auto gen = at::detail::createCPUGenerator(spec.seed);
  const at::Tensor l = geometric_spectrum(spec.r, spec.kappa).to(at::kDouble);
  RaceProblem p;
  if (spec.symmetric) {
    const at::Tensor Q = random_orthonormal(spec.n, spec.r, gen);
    const at::Tensor M = at::matmul(Q * l, Q.t());
    const double m_norm = M.norm().item<double>();
    p.init = {spec.init_scale * at::randn({spec.n, spec.r}, gen, kF64)};
    p.evaluate = [M, m_norm](const std::vector<at::Tensor>& x, std::vector<at::Tensor>* g) {
      const at::Tensor R = at::matmul(x[0], x[0].t()) - M;
      if (g) *g = {at::matmul(R, x[0])};  // ∇ ¼‖XXᵀ − M‖² = (XXᵀ − M)X
      return R.norm().item<double>() / m_norm;
    };
  } else {
    const at::Tensor U = random_orthonormal(spec.n, spec.r, gen);
    const at::Tensor V = random_orthonormal(spec.n, spec.r, gen);
    const at::Tensor M = at::matmul(U * l, V.t());
    const double m_norm = M.norm().item<double>();
    p.init = {spec.init_scale * at::randn({spec.n, spec.r}, gen, kF64),
              spec.init_scale * at::randn({spec.n, spec.r}, gen, kF64)};
    p.evaluate = [M, m_norm](const std::vector<at::Tensor>& x, std::vector<at::Tensor>* g) {
      const at::Tensor R = at::matmul(x[0], x[1].t()) - M;
      if (g) *g = {at::matmul(R, x[1]), at::matmul(R.t(), x[0])};
      return R.norm().item<double>() / m_norm;
    };
  }
  return p;
}

at::Tensor icl_covariance(const IclSpec& spec) {
  check_spec(spec.d, spec.d, spec.kappa, "icl");
  const at::Tensor l = geometric_spectrum(spec.d, spec.kappa).to(at::kDouble);
  if (!spec.rotate) return at::diag(l);
  // A seed stream of its own (seed + 1) so that Λ is the same for both forms.
  auto gen = at::detail::createCPUGenerator(spec.seed + 1);
  const at::Tensor Q = random_orthonormal(spec.d, spec.d, gen);
  const at::Tensor L = at::matmul(Q * l, Q.t());
  return 0.5 * (L + L.t());
}

at::Tensor icl_population_loss(const at::Tensor& Gamma, const at::Tensor& Lambda) {
  const at::Tensor E = at::matmul(Gamma, Lambda) - at::eye(Lambda.size(0), Lambda.options());
  return 0.5 * (E * at::matmul(Lambda, E)).sum();
}

at::Tensor icl_population_grad(const at::Tensor& Gamma, const at::Tensor& Lambda) {
  const at::Tensor E = at::matmul(Gamma, Lambda) - at::eye(Lambda.size(0), Lambda.options());
  return at::matmul(at::matmul(Lambda, E), Lambda);
}

RaceProblem icl_problem(const IclSpec& spec) {
  const at::Tensor Lambda = icl_covariance(spec);
  const int64_t d = spec.d;
  RaceProblem p;
  p.init = {at::zeros({d, d}, kF64)};
  if (spec.prompts == 0) {
    // With Γ₀ = 0 every iterate of GD and msign is a polynomial in Λ, so the gradient stays
    // symmetric: symmetrising the polar factor removes only round-off.
    p.symmetrize_msign = true;
    const double L0 = icl_population_loss(p.init[0], Lambda).item<double>();
    p.evaluate = [Lambda, L0](const std::vector<at::Tensor>& x, std::vector<at::Tensor>* g) {
      if (g) *g = {icl_population_grad(x[0], Lambda)};
      return icl_population_loss(x[0], Lambda).item<double>() / L0;
    };
    return p;
  }
  if (spec.prompts < d * d || spec.length < 1)
    throw std::invalid_argument("icl: need prompts >= d^2 = " + std::to_string(d * d) +
                                " and length >= 1, got prompts=" +
                                std::to_string(spec.prompts) +
                                ", length=" + std::to_string(spec.length));
  auto gen = at::detail::createCPUGenerator(spec.seed);
  const int64_t B = spec.prompts, N = spec.length;
  // x = Λ^{1/2} z: Λ's symmetric square root from its eigendecomposition.
  const auto eig = at::linalg_eigh(Lambda);
  const at::Tensor root =
      at::matmul(std::get<1>(eig) * std::get<0>(eig).clamp_min(0).sqrt(), std::get<1>(eig).t());
  const at::Tensor x = at::matmul(at::randn({B, N + 1, d}, gen, kF64), root);
  const at::Tensor w = at::randn({B, d, 1}, gen, kF64);
  const at::Tensor y = at::matmul(x, w).squeeze(-1);  // (B, N+1)
  const at::Tensor context = x.narrow(1, 0, N), query = x.select(1, N);
  const at::Tensor y_query = y.select(1, N);
  // The attention readout (1/N) Σᵢ yᵢxᵢ does not depend on the trained Γ: computed once.
  const at::Tensor h = at::matmul(y.narrow(1, 0, N).unsqueeze(1), context).squeeze(1) / double(N);
  // L̂* by least squares over vec(Γ): ŷ_b = Σ_ij q_bi Γ_ij h_bj.
  const at::Tensor Z = (query.unsqueeze(2) * h.unsqueeze(1)).reshape({B, d * d});
  const at::Tensor sol = std::get<0>(at::linalg_lstsq(Z, y_query.unsqueeze(1)));
  const double L_star = 0.5 * (at::matmul(Z, sol).squeeze(1) - y_query).pow(2).mean().item<double>();
  const double L0 = 0.5 * y_query.pow(2).mean().item<double>();
  p.evaluate = [query, h, y_query, L_star, L0](const std::vector<at::Tensor>& params,
                                               std::vector<at::Tensor>* g) {
    c10::AutoGradMode enable(true);
    at::Tensor Gamma = params[0].detach().clone().set_requires_grad(true);
    const at::Tensor pred = (at::matmul(query, Gamma) * h).sum(1);
    const at::Tensor loss = 0.5 * (pred - y_query).pow(2).mean();
    if (g) {
      loss.backward();
      *g = {Gamma.grad().detach()};
    }
    return (loss.item<double>() - L_star) / (L0 - L_star);
  };
  return p;
}

}  // namespace lab
}  // namespace specopt
