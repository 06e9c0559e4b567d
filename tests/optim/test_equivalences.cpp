// Equivalences between the optimizers, asserted on float64 trajectories of 12 steps of a
// nonlinear gradient field g(X) = (X − T) + 0.3 sin(3X). Each test states the exact mapping.
#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>

#include <cmath>

#include "lab/spectra.h"
#include "specopt/maps/registry.h"
#include "tests/optim/optim_test_util.h"

namespace {

using namespace specopt;
namespace ot = specopt_optim_test;
constexpr int kSteps = 12;

const PolarOptions kSvd = PolarOptions().method(PolarMethod::svd);

// Muon(μ, Nesterov, exact polar, shape rule none, η, λ) ==
// LionK(nuclear, β_pol = β_nes = μ, η, λ): LionK's M = −(1−μ)·B and M̃ = −(1−μ)·(g + μB),
// and msign(−cU) = −msign(U) for c > 0.
TEST(Equivalence, MuonEqualsLionKNuclearWithoutShapeFactor) {
  for (bool nesterov : {true, false}) {
    const auto X0 = ot::randn({5, 7}, 1);
    const auto grad = ot::nonlinear_grad({5, 7}, 2);
    auto a = X0.clone().requires_grad_(), b = X0.clone().requires_grad_();
    Muon muon({a}, MuonOptions(0.05).momentum(0.9).nesterov(nesterov).polar(kSvd)
                       .shape_rule("none").weight_decay(0.2));
    // Muon without Nesterov is β_nes = 1.
    LionK lionk({b}, LionKOptions(0.05).map("nuclear").beta_pol(0.9)
                         .beta_nes(nesterov ? 0.9 : 1.0).weight_decay(0.2));
    ot::expect_same_trajectory(ot::trajectory(muon, a, grad, kSteps),
                               ot::trajectory(lionk, b, grad, kSteps), 1e-12,
                               nesterov ? "nesterov" : "plain");
  }
}

// With a shape factor s = shape_scale(rule, rows, cols), Muon(η, λ) == LionK(η_K = s·η,
// λ_K = λ/s): η_K λ_K = ηλ keeps the decay, η_K ∇K = s η msign keeps the step.
TEST(Equivalence, MuonEqualsLionKNuclearWithShapeFactor) {
  for (auto rule : {ShapeRule::original, ShapeRule::match_rms_adamw}) {
    const auto X0 = ot::randn({12, 4}, 3);
    const auto grad = ot::nonlinear_grad({12, 4}, 4);
    const double eta = 0.02, lambda = 0.3, s = transforms::shape_scale(rule, 12, 4);
    auto a = X0.clone().requires_grad_(), b = X0.clone().requires_grad_();
    Muon muon({a}, MuonOptions(eta).polar(kSvd).shape_rule(rule).weight_decay(lambda));
    LionK lionk({b}, LionKOptions(s * eta).beta_pol(0.95).beta_nes(0.95).weight_decay(lambda / s));
    ot::expect_same_trajectory(ot::trajectory(muon, a, grad, kSteps),
                               ot::trajectory(lionk, b, grad, kSteps), 1e-12,
                               transforms::to_string(rule));
  }
}

// Lion(β₁, β₂, η, λ) == LionK(l1, lion_betas(β₁, β₂), η, λ), i.e. β_pol = β₂, β_nes = β₁/β₂;
// LionK's M = −m. Checked on a matrix, a vector (a (1, n) row) and a 3-D batch.
TEST(Equivalence, LionEqualsLionKL1) {
  for (std::vector<int64_t> shape : {std::vector<int64_t>{6, 5}, {9}, {2, 3, 4}}) {
    const auto X0 = ot::randn(shape, 5);
    const auto grad = ot::nonlinear_grad(shape, 6);
    auto a = X0.clone().requires_grad_(), b = X0.clone().requires_grad_();
    Lion lion({a}, LionOptions(0.01).beta1(0.9).beta2(0.99).weight_decay(0.1));
    LionK lionk({b}, LionKOptions(0.01).map("l1").lion_betas(0.9, 0.99).weight_decay(0.1));
    ot::expect_same_trajectory(ot::trajectory(lion, a, grad, kSteps),
                               ot::trajectory(lionk, b, grad, kSteps), 1e-12, "lion vs l1");
  }
}

// LionK(half_sq_frobenius, β_pol = β_nes = μ, η, λ) is momentum SGD with decoupled weight
// decay in EMA form: m ← μm + (1−μ)g, d = μm + (1−μ)g, X ← X − ηλX − η d (LionK's M = −m,
// its step η·M̃ = −η d).
TEST(Equivalence, LionKHalfSqFrobeniusIsMomentumSgdWithDecoupledDecay) {
  const double mu = 0.9, eta = 0.05, lambda = 0.2;
  const auto X0 = ot::randn({4, 6}, 7);
  const auto grad = ot::nonlinear_grad({4, 6}, 8);
  auto b = X0.clone().requires_grad_();
  LionK lionk({b}, LionKOptions(eta).map("half_sq_frobenius").beta_pol(mu).beta_nes(mu)
                       .weight_decay(lambda));
  at::Tensor m = at::zeros_like(X0);
  auto hand = ot::hand_trajectory(X0, grad, kSteps, [&](at::Tensor& X, const at::Tensor& g, int) {
    m = mu * m + (1 - mu) * g;
    const auto d = mu * m + (1 - mu) * g;
    X = X - eta * lambda * X - eta * d;
  });
  ot::expect_same_trajectory(ot::trajectory(lionk, b, grad, kSteps), hand, 1e-12, "hand loop");
}

// Without Nesterov (β_nes = 1) and λ = 0 it is torch's heavy ball: LionK's M = −(1−μ)·buf
// with torch SGD's buf = Σ μ^{t−k} g_k (buf₁ = g₁, dampening 0), so LionK(η) == SGD(η(1−μ)).
TEST(Equivalence, LionKHalfSqFrobeniusEqualsTorchSgd) {
  const double mu = 0.9, eta = 0.05;
  const auto X0 = ot::randn({4, 6}, 9);
  const auto grad = ot::nonlinear_grad({4, 6}, 10);
  auto a = X0.clone().requires_grad_(), b = X0.clone().requires_grad_();
  torch::optim::SGD sgd({a}, torch::optim::SGDOptions(eta * (1 - mu)).momentum(mu).dampening(0));
  LionK lionk({b}, LionKOptions(eta).map("half_sq_frobenius").beta_pol(mu).beta_nes(1.0));
  ot::expect_same_trajectory(ot::trajectory(sgd, a, grad, kSteps),
                             ot::trajectory(lionk, b, grad, kSteps), 1e-12, "torch SGD");
}

// The two Lion-K spellings: lion_betas(β₁, β₂) (β_pol = β₂, β_nes = β₁/β₂) against a hand
// loop of the original form M̃ = β₁M_t − (1−β₁)g, M_{t+1} = β₂M_t − (1−β₂)g,
// X ← X + η(∇K(M̃) − λX), with K = Schatten-3 and K = nuclear.
TEST(Equivalence, LionKTwoSpellingsAgree) {
  for (const char* spec : {"schatten:q=3", "nuclear"}) {
    const double b1 = 0.8, b2 = 0.97, eta = 0.03, lambda = 0.1;
    const auto X0 = ot::randn({5, 3}, 11);
    const auto grad = ot::nonlinear_grad({5, 3}, 12);
    auto a = X0.clone().requires_grad_(), b = X0.clone().requires_grad_();
    LionK spelled({a}, LionKOptions(eta).map(spec).lion_betas(b1, b2).weight_decay(lambda));
    LionK direct({b}, LionKOptions(eta).map(spec).beta_pol(b2).beta_nes(b1 / b2).weight_decay(lambda));
    EXPECT_DOUBLE_EQ(static_cast<const LionKOptions&>(spelled.defaults()).beta_pol(), b2);
    EXPECT_DOUBLE_EQ(static_cast<const LionKOptions&>(spelled.defaults()).beta_nes(), b1 / b2);
    const auto K = make_convex_map(spec);
    at::Tensor M = at::zeros_like(X0);
    auto hand = ot::hand_trajectory(X0, grad, kSteps, [&](at::Tensor& X, const at::Tensor& g, int) {
      const auto Mt = b1 * M - (1 - b1) * g;
      M = b2 * M - (1 - b2) * g;
      X = X + eta * (K->grad(Mt) - lambda * X);
    });
    const auto ta = ot::trajectory(spelled, a, grad, kSteps);
    ot::expect_same_trajectory(ta, hand, 1e-11, std::string(spec) + " lion_betas vs hand");
    ot::expect_same_trajectory(ta, ot::trajectory(direct, b, grad, kSteps), 1e-12,
                               std::string(spec) + " spellings");
  }
}

// Implicit weight decay: X ← (X + η∇K(M̃)) / (1 + ηλ), by hand.
TEST(Equivalence, LionKImplicitWeightDecayByHand) {
  const double mu = 0.9, eta = 0.05, lambda = 0.5;
  const auto X0 = ot::randn({3, 4}, 13);
  const auto grad = ot::nonlinear_grad({3, 4}, 14);
  auto b = X0.clone().requires_grad_();
  LionK lionk({b}, LionKOptions(eta).map("l1").beta_pol(mu).beta_nes(mu).weight_decay(lambda)
                       .implicit_weight_decay(true));
  at::Tensor M = at::zeros_like(X0);
  auto hand = ot::hand_trajectory(X0, grad, kSteps, [&](at::Tensor& X, const at::Tensor& g, int) {
    M = mu * M - (1 - mu) * g;
    const auto Mt = mu * M - (1 - mu) * g;
    X = (X + eta * Mt.sign()) / (1 + eta * lambda);
  });
  ot::expect_same_trajectory(ot::trajectory(lionk, b, grad, kSteps), hand, 1e-12, "implicit");
}

// SpectralAdam(p = 1) == specopt::AdamW (same β, eps, λ) == torch::optim::AdamW.
TEST(Equivalence, SpectralAdamP1EqualsAdamW) {
  const auto X0 = ot::randn({6, 4}, 15);
  const auto grad = ot::nonlinear_grad({6, 4}, 16);
  auto a = X0.clone().requires_grad_(), b = X0.clone().requires_grad_(),
       c = X0.clone().requires_grad_();
  SpectralAdam sadam({a}, SpectralAdamOptions::adam(0.01).beta1(0.9).beta2(0.95).weight_decay(0.1));
  AdamW adamw({b}, AdamWOptions(0.01).beta1(0.9).beta2(0.95).weight_decay(0.1));
  torch::optim::AdamW torch_adamw(
      {c}, torch::optim::AdamWOptions(0.01).betas(std::make_tuple(0.9, 0.95)).weight_decay(0.1));
  const auto ta = ot::trajectory(sadam, a, grad, kSteps);
  const auto tb = ot::trajectory(adamw, b, grad, kSteps);
  ot::expect_same_trajectory(ta, tb, 0.0, "SpectralAdam(p=1) vs specopt::AdamW (bitwise)");
  ot::expect_same_trajectory(tb, ot::trajectory(torch_adamw, c, grad, kSteps), 1e-12,
                             "specopt::AdamW vs torch::optim::AdamW");
}

// SpectralSGD(p = 1, μ = 0.9, λ = 0) == torch::optim::SGD(momentum 0.9, dampening 0): both
// start the buffer at g. With λ > 0, decoupled decay W(1 − ηλ) by hand.
TEST(Equivalence, SpectralSgdP1EqualsHeavyBall) {
  const auto X0 = ot::randn({6, 4}, 17);
  const auto grad = ot::nonlinear_grad({6, 4}, 18);
  auto a = X0.clone().requires_grad_(), b = X0.clone().requires_grad_(),
       c = X0.clone().requires_grad_();
  SpectralSGD ssgd({a}, SpectralSGDOptions::msgd(0.05));
  torch::optim::SGD sgd({b}, torch::optim::SGDOptions(0.05).momentum(0.9).dampening(0));
  ot::expect_same_trajectory(ot::trajectory(ssgd, a, grad, kSteps),
                             ot::trajectory(sgd, b, grad, kSteps), 1e-13, "torch SGD");
  SpectralSGD ssgd_wd({c}, SpectralSGDOptions::msgd(0.05).weight_decay(0.3));
  at::Tensor buf;
  auto hand = ot::hand_trajectory(X0, grad, kSteps, [&](at::Tensor& X, const at::Tensor& g, int t) {
    X = X * (1 - 0.05 * 0.3);
    buf = t == 1 ? g.clone() : 0.9 * buf + g;
    X = X - 0.05 * buf;
  });
  ot::expect_same_trajectory(ot::trajectory(ssgd_wd, c, grad, kSteps), hand, 1e-13, "hand wd");
}

// SpectralSGD(p = 0, shape rule original) == Muon(μ = 0.9, Nesterov off, same polar,
// original): mSGD's buffer (g, then μbuf + g) is Muon's B from B₀ = 0.
TEST(Equivalence, SpectralSgdP0EqualsMuonWithoutNesterov) {
  const auto X0 = ot::randn({9, 3}, 19);
  const auto grad = ot::nonlinear_grad({9, 3}, 20);
  auto a = X0.clone().requires_grad_(), b = X0.clone().requires_grad_();
  SpectralSGD msgdz({a}, SpectralSGDOptions::msgdz(0.02).weight_decay(0.1)
                             .power(PowerOptions().method(PowerMethod::svd).polar(kSvd)));
  Muon muon({b}, MuonOptions(0.02).momentum(0.9).nesterov(false).polar(kSvd).weight_decay(0.1));
  ot::expect_same_trajectory(ot::trajectory(msgdz, a, grad, kSteps),
                             ot::trajectory(muon, b, grad, kSteps), 1e-12, "mSGDZ vs Muon");
}

// SpectralAdam(p) by hand with the exact U Σ^p Vᵀ of the bias-corrected ratio.
TEST(Equivalence, SpectralAdamByHand) {
  for (double p : {0.5, 0.25}) {
    const double eta = 0.01, b1 = 0.9, b2 = 0.95, eps = 1e-8;
    const auto X0 = ot::randn({5, 8}, 21);
    const auto grad = ot::nonlinear_grad({5, 8}, 22);
    auto a = X0.clone().requires_grad_();
    SpectralAdam opt({a}, SpectralAdamOptions(eta).p(p).power(PowerOptions().method(PowerMethod::svd)));
    at::Tensor m = at::zeros_like(X0), v = at::zeros_like(X0);
    auto hand = ot::hand_trajectory(X0, grad, kSteps, [&](at::Tensor& X, const at::Tensor& g, int t) {
      m = b1 * m + (1 - b1) * g;
      v = b2 * v + (1 - b2) * g * g;
      const auto R = (m / (1 - std::pow(b1, t))) / ((v / (1 - std::pow(b2, t))).sqrt() + eps);
      X = X - eta * specopt::lab::exact_spectral_power(R, p);
    });
    ot::expect_same_trajectory(ot::trajectory(opt, a, grad, kSteps), hand, 1e-11,
                               "p=" + std::to_string(p));
  }
}

// Muon's defaults reproduce the reference algorithm (torch.optim.Muon): B ← μB + g,
// U = g + μB, O = reference 5-step quintic Newton–Schulz (3.4445, −4.7750, 2.0315),
// X ← X − ηλX − η·sqrt(max(1, r/c))·O. specopt::newton_schulz first divides by max|U_ij|
// (overflow safety) and then applies the reference's X/(‖X‖_F + 1e-7), so the eps enters
// relative to the rescaled matrix: with the hand loop fed U/max|U| the trajectories agree to
// rounding; fed U itself they differ only through where eps = 1e-7 sits (≤ 1e-7 here).
TEST(Equivalence, MuonDefaultsMatchReferenceByHand) {
  for (std::vector<int64_t> shape : {std::vector<int64_t>{8, 5}, {5, 8}}) {
    for (bool rescale : {true, false}) {
      const double eta = 0.02, mu = 0.95, lambda = 0.01;
      const auto X0 = ot::randn(shape, 23);
      const auto grad = ot::nonlinear_grad(shape, 24);
      auto a = X0.clone().requires_grad_();
      Muon muon({a}, MuonOptions(eta).weight_decay(lambda));
      const double s = std::sqrt(std::max(1.0, double(shape[0]) / double(shape[1])));
      at::Tensor B = at::zeros_like(X0);
      auto hand = ot::hand_trajectory(X0, grad, kSteps, [&](at::Tensor& X, const at::Tensor& g, int) {
        B = mu * B + g;
        const auto U = g + mu * B;
        const auto O = reference_newton_schulz5(rescale ? U / U.abs().max() : U);
        X = X - eta * lambda * X - eta * s * O;
      });
      ot::expect_same_trajectory(ot::trajectory(muon, a, grad, kSteps), hand,
                                 rescale ? 1e-12 : 1e-7, rescale ? "rescaled" : "raw");
    }
  }
}

// ema_momentum: torch.optim.Muon's EMA B ← μB + (1−μ)g and look-ahead U = μB + (1−μ)g (or B),
// exact polar, against that recurrence by hand (python/tests check the state against torch's).
TEST(Equivalence, MuonEmaMomentumIsTorchMuonByHand) {
  for (bool nesterov : {true, false}) {
    const std::vector<int64_t> shape{8, 5};
    const double eta = 0.02, mu = 0.9, lambda = 0.01;
    const auto X0 = ot::randn(shape, 31);
    const auto grad = ot::nonlinear_grad(shape, 32);
    auto a = X0.clone().requires_grad_();
    Muon muon({a}, MuonOptions(eta).momentum(mu).weight_decay(lambda).polar(kSvd)
                       .nesterov(nesterov).ema_momentum(true));
    const double s = std::sqrt(8.0 / 5.0);
    at::Tensor B = at::zeros_like(X0);
    auto hand = ot::hand_trajectory(X0, grad, kSteps, [&](at::Tensor& X, const at::Tensor& g, int) {
      B = mu * B + (1 - mu) * g;
      const auto U = nesterov ? mu * B + (1 - mu) * g : B;
      X = X - eta * lambda * X - eta * s * specopt::lab::exact_spectral_power(U, 0.0);
    });
    ot::expect_same_trajectory(ot::trajectory(muon, a, grad, kSteps), hand, 1e-10,
                               nesterov ? "nesterov" : "plain");
  }
}

}  // namespace
