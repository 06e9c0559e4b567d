// PolarGrad (arXiv 2505.21799): first steps against a float64 hand computation of the paper's
// update; its Lion-K form (K = ½‖X‖²_*, specopt/maps/half_sq_nuclear.h) on trajectories; and
// the problem it solves with weight decay, min F + (λ/2)‖X‖²_op, checked with the stationarity
// gap and the closed-form minimiser.
#include <cmath>

#include "specopt/maps/convex_map.h"
#include "specopt/maps/half_sq_nuclear.h"
#include "specopt/matfun/norms.h"
#include "specopt/optim/polargrad.h"
#include "tests/optim/optim_test_util.h"

namespace {

using namespace specopt;
namespace ot = specopt_optim_test;

// The reference quintic Newton–Schulz (5 steps, (3.4445, −4.7750, 2.0315), X/‖X‖_F, wide
// orientation), float64.
at::Tensor ns5(const at::Tensor& G) {
  const bool tall = G.size(0) > G.size(1);
  auto X = tall ? G.t() : G;
  X = X / X.norm();
  for (int k = 0; k < 5; ++k) {
    const auto A = X.matmul(X.t());
    X = 3.4445 * X + (-4.7750 * A + 2.0315 * A.matmul(A)).matmul(X);
  }
  return tall ? X.t() : X;
}

// The exact polar factor U Vᵀ by float64 SVD.
at::Tensor exact_polar(const at::Tensor& G) {
  at::Tensor U, S, Vh;
  std::tie(U, S, Vh) = at::linalg_svd(G, /*full_matrices=*/false);
  return U.matmul(Vh);
}

// Steps of the paper's update: M ← βM + (1−β)g, O = polar(U), W ← W(1 − ηλ) − η s ⟨O, U⟩ O.
std::vector<at::Tensor> hand_steps(at::Tensor W, const std::vector<at::Tensor>& grads, double lr,
                                   double mu, double wd, double scale, bool nesterov,
                                   const std::function<at::Tensor(const at::Tensor&)>& polar) {
  std::vector<at::Tensor> out;
  auto M = at::zeros_like(W);
  for (const auto& g : grads) {
    M = mu * M + (1 - mu) * g;
    const auto U = nesterov ? mu * M + (1 - mu) * g : M;
    const auto O = polar(U);
    const double nu = (O * U).sum().item<double>();
    W = W * (1 - lr * wd) - lr * scale * nu * O;
    out.push_back(W.clone());
  }
  return out;
}

TEST(PolarGrad, FirstStepsEqualFloat64HandComputation) {
  const auto svd = PolarOptions().method(PolarMethod::svd);
  for (auto shape : {std::vector<int64_t>{6, 4}, std::vector<int64_t>{4, 7}}) {
    const auto W0 = ot::randn(shape, 1);
    std::vector<at::Tensor> grads;
    for (int t = 0; t < 4; ++t) grads.push_back(ot::randn(shape, 10 + t) * (1.0 + t));
    for (bool nesterov : {false, true}) {
      // Newton–Schulz with eps 0 (the reference's normalisation, see test_normuon.cpp) and the
      // exact polar factor, where ν = ‖U‖_*.
      const auto want_ns = hand_steps(W0, grads, 3e-3, 0.9, 0.1, 1.5, nesterov, ns5);
      const auto want_svd = hand_steps(W0, grads, 3e-3, 0.9, 0.1, 1.5, nesterov, exact_polar);
      auto A = W0.clone().requires_grad_(), B = W0.clone().requires_grad_();
      const auto o = PolarGradOptions(3e-3).momentum(0.9).weight_decay(0.1).scale(1.5).nesterov(nesterov);
      PolarGrad by_ns({A}, PolarGradOptions(o).polar(PolarOptions(o.polar()).eps(0.0)));
      PolarGrad by_svd({B}, PolarGradOptions(o).polar(svd));
      for (size_t t = 0; t < grads.size(); ++t) {
        A.mutable_grad() = grads[t];
        B.mutable_grad() = grads[t];
        by_ns.step();
        by_svd.step();
        EXPECT_LE(specopt_test::max_abs_diff(A.detach(), want_ns[t]), 1e-12)
            << shape[0] << "x" << shape[1] << " step " << t + 1 << " nesterov " << nesterov;
        EXPECT_LE(specopt_test::max_abs_diff(B.detach(), want_svd[t]), 1e-12)
            << shape[0] << "x" << shape[1] << " step " << t + 1 << " nesterov " << nesterov;
      }
    }
  }
}

// PolarGrad(β, scale s, exact polar) = LionK(half_sq_nuclear, β_pol = β, β_nes = 1 (β with
// Nesterov), η_K = s·η, λ_K = λ/s), on a 12-step trajectory of a nonlinear gradient field.
TEST(PolarGrad, IsLionKWithHalfSquaredNuclearNorm) {
  const auto grad = ot::nonlinear_grad({6, 4}, 3);
  const double lr = 2e-3, mu = 0.9, wd = 0.2;
  for (bool nesterov : {false, true}) {
    for (double s : {1.0, 2.5}) {
      auto P = ot::randn({6, 4}, 4).requires_grad_();
      auto L = P.detach().clone().requires_grad_();
      PolarGrad pg({P}, PolarGradOptions(lr).momentum(mu).nesterov(nesterov).scale(s).weight_decay(wd)
                            .polar(PolarOptions().method(PolarMethod::svd)));
      LionK lk({L}, LionKOptions(s * lr)
                        .map(std::make_shared<HalfSqNuclearMap>())
                        .beta_pol(mu)
                        .beta_nes(nesterov ? mu : 1.0)
                        .weight_decay(wd / s));
      for (int t = 0; t < 12; ++t) {
        P.mutable_grad() = grad(P.detach());
        L.mutable_grad() = grad(L.detach());
        pg.step();
        lk.step();
      }
      EXPECT_LE(specopt_test::max_abs_diff(P.detach(), L.detach()), 1e-12)
          << "nesterov " << nesterov << " scale " << s;
    }
  }
}

// With weight decay λ PolarGrad solves min ½‖X − A‖²_F + (λ/2)‖X‖²_op: no constraint set
// (the map's constraint() is empty), the composite stationarity gap falls to ~0 and the iterate
// reaches the closed-form minimiser (A's singular values capped at t, λt = Σ(aᵢ − t)₊).
TEST(PolarGrad, WithWeightDecaySolvesTheSpectralPenaltyProblem) {
  const double lambda = 0.5;
  const HalfSqNuclearMap K;
  EXPECT_FALSE(K.constraint().has_value());
  const auto A = 3.0 * ot::randn({6, 4}, 7);
  const auto X_star = half_sq_nuclear_minimiser(A, lambda);
  auto X = ot::randn({6, 4}, 8).requires_grad_();
  PolarGrad opt({X}, PolarGradOptions(0.02).momentum(0.0).weight_decay(lambda)
                         .polar(PolarOptions().method(PolarMethod::svd)));
  const double gap0 = specopt::stationarity_gap(K, X.detach() - A, X.detach(), lambda).item<double>();
  for (int t = 0; t < 3000; ++t) {
    X.mutable_grad() = X.detach() - A;
    opt.step();
    // Hold the rate, then decay it geometrically: K is not smooth at the minimiser, so the
    // iterate settles only as fast as η falls.
    auto& o = opt.param_groups()[0].options();
    if (t >= 1000) o.set_lr(o.get_lr() * 0.997);
  }
  const double gap = specopt::stationarity_gap(K, X.detach() - A, X.detach(), lambda).item<double>();
  EXPECT_GE(gap, -1e-12);
  EXPECT_LE(gap, 1e-6 * gap0) << "gap at start " << gap0;
  EXPECT_LE((X.detach() - X_star).norm().item<double>(), 1e-3 * X_star.norm().item<double>());
  // The closed form is stationary (gap 0), and it is not the nuclear map's ball projection.
  EXPECT_NEAR(specopt::stationarity_gap(K, X_star - A, X_star, lambda).item<double>(), 0.0, 1e-9);
  EXPECT_GT(std::abs(specopt::op_norm(X_star).item<double>() - 1 / lambda), 1e-3);
}

TEST(PolarGrad, DefaultsAndRefusals) {
  const PolarGradOptions o;
  EXPECT_EQ(o.lr(), 3e-4);
  EXPECT_EQ(o.momentum(), 0.95);
  EXPECT_FALSE(o.nesterov());
  EXPECT_EQ(o.scale(), 1.0);
  EXPECT_EQ(o.weight_decay(), 0.01);
  auto b = ot::randn({5}, 1).requires_grad_();
  EXPECT_THROW_MSG(PolarGrad({b}), "PolarGrad");
  auto w = ot::randn({3, 3}, 1).requires_grad_();
  EXPECT_THROW_MSG(PolarGrad({w}, PolarGradOptions().momentum(1.5)), "PolarGradOptions.momentum");
  EXPECT_THROW_MSG(PolarGrad({w}, PolarGradOptions().scale(-1)), "PolarGradOptions.scale");
}

}  // namespace
