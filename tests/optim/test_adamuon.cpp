// AdaMuon (arXiv 2507.11005) against a float64 hand computation of the paper's update, written
// out here without specopt's transforms or matrix functions.
#include <cmath>

#include "specopt/optim/adamuon.h"
#include "tests/optim/optim_test_util.h"

namespace {

using namespace specopt;
namespace ot = specopt_optim_test;

// The reference quintic Newton–Schulz (5 steps, (3.4445, −4.7750, 2.0315), X/(‖X‖_F + eps),
// wide orientation), float64.
at::Tensor ns5(const at::Tensor& G, double eps) {
  const bool tall = G.size(0) > G.size(1);
  auto X = tall ? G.t() : G;
  X = X / (X.norm() + eps);
  for (int k = 0; k < 5; ++k) {
    const auto A = X.matmul(X.t());
    X = 3.4445 * X + (-4.7750 * A + 2.0315 * A.matmul(A)).matmul(X);
  }
  return tall ? X.t() : X;
}

struct Hyper {
  double lr = 0.02, mu = 0.95, beta2 = 0.999, wd = 0.01, eps = 1e-8, rms = 0.2, ns_eps = 1e-7;
  bool nesterov = true, sign = true;
};

// The paper's steps on W (rows × cols) with gradients grads[t].
std::vector<at::Tensor> hand_steps(at::Tensor W, const std::vector<at::Tensor>& grads,
                                   const Hyper& h) {
  std::vector<at::Tensor> out;
  auto M = at::zeros_like(W);
  auto V = at::zeros_like(W);
  const double mn = double(W.size(0)) * double(W.size(1));
  for (const auto& g : grads) {
    M = h.mu * M + (1 - h.mu) * g;
    const auto U = h.nesterov ? h.mu * M + (1 - h.mu) * g : M;
    const auto O = ns5(h.sign ? at::sign(U) : U, h.ns_eps);
    V = h.beta2 * V + (1 - h.beta2) * O * O;
    const auto N = O / (V.sqrt() + h.eps);
    const double gamma = h.rms * std::sqrt(mn) / (N.norm().item<double>() + h.eps);
    W = W * (1 - h.lr * h.wd) - h.lr * gamma * N;
    out.push_back(W.clone());
  }
  return out;
}

AdaMuonOptions options_of(const Hyper& h) {
  return AdaMuonOptions(h.lr)
      .momentum(h.mu)
      .beta2(h.beta2)
      .weight_decay(h.wd)
      .eps(h.eps)
      .rms(h.rms)
      .nesterov(h.nesterov)
      .sign_momentum(h.sign)
      .polar(PolarOptions(AdaMuonOptions().polar()).eps(h.ns_eps));
}

TEST(AdaMuon, FirstStepsEqualFloat64HandComputation) {
  Hyper plain;
  plain.ns_eps = 0.0;  // specopt scales by max|X_ij| before adding eps (below: the defaults)
  Hyper no_sign = plain;
  no_sign.sign = false;
  no_sign.nesterov = false;
  no_sign.beta2 = 0.9;
  for (auto shape : {std::vector<int64_t>{6, 4}, std::vector<int64_t>{4, 7}}) {
    const auto W0 = ot::randn(shape, 1);
    std::vector<at::Tensor> grads;
    for (int t = 0; t < 4; ++t) grads.push_back(ot::randn(shape, 10 + t) * (1.0 + t));
    for (const Hyper& h : {plain, no_sign, Hyper()}) {
      const auto want = hand_steps(W0, grads, h);
      auto W = W0.clone().requires_grad_();
      AdaMuon opt({W}, options_of(h));
      for (size_t t = 0; t < grads.size(); ++t) {
        W.mutable_grad() = grads[t];
        opt.step();
        // eps 1e-7 of the defaults: specopt's normalisation differs from the reference's by
        // ~eps relative (tests/optim/test_normuon.cpp).
        EXPECT_LE(specopt_test::max_abs_diff(W.detach(), want[t]), h.ns_eps == 0 ? 1e-12 : 1e-8)
            << "shape " << shape[0] << "x" << shape[1] << ", step " << t + 1
            << ", sign " << h.sign;
      }
    }
  }
}

// split_qkv: a packed (3d × d) weight steps as its three (d × d) blocks, each with its own γ.
TEST(AdaMuon, SplitQkvStepsEachBlockByItself) {
  Hyper h;
  h.ns_eps = 0.0;
  const auto W0 = ot::randn({9, 3}, 5);
  std::vector<at::Tensor> grads;
  for (int t = 0; t < 3; ++t) grads.push_back(ot::randn({9, 3}, 20 + t));
  auto W = W0.clone().requires_grad_();
  AdaMuon opt({W}, options_of(h).split_qkv(true));
  for (const auto& g : grads) {
    W.mutable_grad() = g;
    opt.step();
  }
  for (int64_t b = 0; b < 3; ++b) {
    std::vector<at::Tensor> block_grads;
    for (const auto& g : grads) block_grads.push_back(g.narrow(0, 3 * b, 3));
    const auto want = hand_steps(W0.narrow(0, 3 * b, 3), block_grads, h).back();
    EXPECT_LE(specopt_test::max_abs_diff(W.detach().narrow(0, 3 * b, 3), want), 1e-12) << b;
  }
}

TEST(AdaMuon, UpdateHasTheTargetRmsAndSignMatters) {
  const auto W0 = ot::randn({6, 4}, 3);
  const auto g = ot::randn({6, 4}, 4);
  for (double rms : {0.2, 0.05}) {
    auto W = W0.clone().requires_grad_();
    AdaMuon opt({W}, AdaMuonOptions(1.0).weight_decay(0).rms(rms));
    W.mutable_grad() = g;
    opt.step();
    const double got = (W.detach() - W0).square().mean().sqrt().item<double>();
    EXPECT_NEAR(got, rms, 1e-9 * rms);
  }
  // Without the sign the first step differs (msign(sign(U)) ≠ msign(U) for a generic U).
  auto A = W0.clone().requires_grad_(), B = W0.clone().requires_grad_();
  AdaMuon with({A}), without({B}, AdaMuonOptions().sign_momentum(false));
  A.mutable_grad() = g;
  B.mutable_grad() = g;
  with.step();
  without.step();
  EXPECT_GT(specopt_test::max_abs_diff(A.detach(), B.detach()), 1e-4);
}

TEST(AdaMuon, DefaultsAndRefusals) {
  const AdaMuonOptions o;
  EXPECT_EQ(o.lr(), 0.02);
  EXPECT_EQ(o.momentum(), 0.95);
  EXPECT_EQ(o.beta2(), 0.999);
  EXPECT_EQ(o.eps(), 1e-8);
  EXPECT_EQ(o.rms(), 0.2);
  EXPECT_EQ(o.weight_decay(), 0.01);
  EXPECT_TRUE(o.nesterov());
  EXPECT_TRUE(o.sign_momentum());
  auto b = ot::randn({5}, 1).requires_grad_();
  EXPECT_THROW_MSG(AdaMuon({b}), "AdaMuon");
  auto w = ot::randn({3, 3}, 1).requires_grad_();
  EXPECT_THROW_MSG(AdaMuon({w}, AdaMuonOptions().beta2(1.5)), "AdaMuonOptions.beta2");
  EXPECT_THROW_MSG(AdaMuon({w}, AdaMuonOptions().rms(-1)), "AdaMuonOptions.rms");
}

}  // namespace
