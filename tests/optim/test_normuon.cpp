// NorMuon (arXiv 2510.05491) against a float64 hand computation of the paper's update, written
// out here without specopt's transforms or matrix functions.
#include <cmath>

#include "specopt/optim/normuon.h"
#include "tests/optim/optim_test_util.h"

namespace {

using namespace specopt;
namespace ot = specopt_optim_test;

// The reference quintic Newton–Schulz (5 steps, (3.4445, −4.7750, 2.0315), X/(‖X‖_F + eps),
// wide orientation), float64.
at::Tensor ns5(const at::Tensor& G, double eps = 1e-7) {
  const bool tall = G.size(0) > G.size(1);
  auto X = tall ? G.t() : G;
  X = X / (X.norm() + eps);
  for (int k = 0; k < 5; ++k) {
    const auto A = X.matmul(X.t());
    const auto B = -4.7750 * A + 2.0315 * A.matmul(A);
    X = 3.4445 * X + B.matmul(X);
  }
  return tall ? X.t() : X;
}

// Steps of the paper's update on W (rows × cols) with gradients grads[t].
std::vector<at::Tensor> hand_steps(at::Tensor W, const std::vector<at::Tensor>& grads, double lr,
                                   double mu, double beta2, double wd, double eps,
                                   double ns_eps) {
  std::vector<at::Tensor> out;
  auto M = at::zeros_like(W);
  auto v = at::zeros({W.size(0), 1}, W.options());
  const double s = std::sqrt(std::max(1.0, double(W.size(0)) / double(W.size(1))));
  for (const auto& g : grads) {
    M = mu * M + (1 - mu) * g;
    const auto U = mu * M + (1 - mu) * g;  // Nesterov
    const auto O = ns5(U, ns_eps);
    v = beta2 * v + (1 - beta2) * (O * O).mean(1, true);
    auto N = O / (v.sqrt() + eps);
    N = N * (O.norm() / (N.norm() + eps));
    W = W * (1 - lr * wd) - lr * s * N;
    out.push_back(W.clone());
  }
  return out;
}

TEST(NorMuon, FirstStepsEqualFloat64HandComputation) {
  for (auto shape : {std::vector<int64_t>{6, 4}, std::vector<int64_t>{4, 7}}) {
    const auto W0 = ot::randn(shape, 1);
    std::vector<at::Tensor> grads;
    for (int t = 0; t < 4; ++t) grads.push_back(ot::randn(shape, 10 + t) * (1.0 + t));
    // Newton–Schulz's eps 0 on both sides: specopt scales X by max|X_ij| before adding eps to
    // the norm, the reference does not, which moves the result by ~eps relative (below).
    const auto want = hand_steps(W0, grads, 0.02, 0.95, 0.95, 0.1, 1e-10, 0.0);
    auto W = W0.clone().requires_grad_();
    NorMuon opt({W}, NorMuonOptions(0.02).weight_decay(0.1).polar(
                         PolarOptions(NorMuonOptions().polar()).eps(0.0)));
    // The defaults (eps 1e-7) against the reference's own normalisation.
    const auto want_default = hand_steps(W0, grads, 0.02, 0.95, 0.95, 0.1, 1e-10, 1e-7);
    auto D = W0.clone().requires_grad_();
    NorMuon by_default({D}, NorMuonOptions(0.02).weight_decay(0.1));
    for (size_t t = 0; t < grads.size(); ++t) {
      W.mutable_grad() = grads[t];
      opt.step();
      EXPECT_LE(specopt_test::max_abs_diff(W.detach(), want[t]), 1e-12)
          << "shape " << shape[0] << "x" << shape[1] << ", step " << t + 1;
      D.mutable_grad() = grads[t];
      by_default.step();
      EXPECT_LE(specopt_test::max_abs_diff(D.detach(), want_default[t]), 1e-8)
          << "defaults, shape " << shape[0] << "x" << shape[1] << ", step " << t + 1;
    }
    // The row normalisation mattered: Muon's plain update (no row moments) is elsewhere.
    const auto plain = W0 * (1 - 0.02 * 0.1) -
                       0.02 * std::sqrt(std::max(1.0, double(shape[0]) / shape[1])) *
                           ns5(0.95 * (0.05 * grads[0]) + 0.05 * grads[0]);
    auto first = W0.clone().requires_grad_();
    NorMuon one({first}, NorMuonOptions(0.02).weight_decay(0.1));
    first.mutable_grad() = grads[0];
    one.step();
    EXPECT_GT(specopt_test::max_abs_diff(first.detach(), plain), 1e-6);
  }
}

TEST(NorMuon, DefaultsAndRefusals) {
  const NorMuonOptions o;
  EXPECT_EQ(o.lr(), 0.02);
  EXPECT_EQ(o.momentum(), 0.95);
  EXPECT_EQ(o.beta2(), 0.95);
  EXPECT_EQ(o.eps(), 1e-10);
  EXPECT_EQ(o.weight_decay(), 0.0);
  EXPECT_TRUE(o.nesterov());
  EXPECT_EQ(o.shape_rule(), ShapeRule::original);
  auto b = ot::randn({5}, 1).requires_grad_();
  EXPECT_THROW_MSG(NorMuon({b}), "NorMuon");
  auto w = ot::randn({3, 3}, 1).requires_grad_();
  EXPECT_THROW_MSG(NorMuon({w}, NorMuonOptions().beta2(1.5)), "NorMuonOptions.beta2");
}

}  // namespace
