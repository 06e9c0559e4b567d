// Cautious weight decay (arXiv 2510.12402), the option `cautious_weight_decay` of every rule with
// decoupled weight decay: W ← W − η(u + λ·1[u ⊙ W ≥ 0]⊙W), u the update the step subtracts.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <algorithm>
#include <string>
#include <vector>

#include "specopt/optim/registry.h"
#include "tests/optim/optim_test_util.h"

namespace {

using namespace specopt;

// W after one step of `spec` from W0 with gradient g (float64).
at::Tensor one_step(const std::string& spec, const at::Tensor& W0, const at::Tensor& g) {
  auto W = W0.clone();
  auto opt = make_optimizer(spec, {W});
  W.mutable_grad() = g.clone();
  opt->step();
  return W;
}

TEST(CautiousWeightDecay, EveryRuleDecaysOnlyWhereTheUpdateAgreesWithW) {
  // The undecayed step gives u = (W0 − W_plain)/η; cautious decay must equal the decayed step
  // where u ⊙ W0 ≥ 0 and the undecayed one elsewhere — and both cases must occur. Every
  // registered rule that declares the option (all of them today).
  std::vector<std::string> rules;
  for (const auto& r : registered_optimizers()) {
    const auto keys = option_keys(*make_optimizer_options(r.name));
    if (std::find(keys.begin(), keys.end(), "cautious_weight_decay") != keys.end()) {
      rules.push_back(r.name);
    }
  }
  ASSERT_GE(rules.size(), 13u);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  const auto opts = at::TensorOptions().dtype(at::kDouble);
  const auto W0 = at::randn({6, 4}, gen, opts), g = at::randn({6, 4}, gen, opts);
  const double lr = 0.1;
  for (const auto& rule : rules) {
    const std::string base = rule + ":lr=0.1,weight_decay=";
    const auto plain = one_step(base + "0", W0, g);
    const auto decayed = one_step(base + "0.5", W0, g);
    const auto cautious = one_step(base + "0.5,cautious_weight_decay=true", W0, g);
    const auto u = (W0 - plain) / lr;
    const auto agree = (u * W0).ge(0);
    const int64_t n_agree = agree.sum().item<int64_t>();
    ASSERT_GT(n_agree, 0) << rule;
    ASSERT_LT(n_agree, W0.numel()) << rule;
    const auto expected = at::where(agree, decayed, plain);
    const double err = (cautious - expected).abs().max().item<double>();
    EXPECT_LT(err, 1e-12) << rule << ": cautious step off by " << err;
    EXPECT_FALSE(at::allclose(cautious, decayed)) << rule;
  }
}

TEST(CautiousWeightDecay, AdamWFirstStepByHand) {
  // Step 1: m̂ = g, v̂ = g², so u = g / (|g| + ε). W = (1, −1, 2, −2), g = (1, 1, −1, −1):
  // u ⊙ W has signs (+, −, −, +), so only the first and last coordinates decay.
  const auto opts = at::TensorOptions().dtype(at::kDouble);
  const auto W0 = at::tensor({1.0, -1.0, 2.0, -2.0}, opts);
  const auto g = at::tensor({1.0, 1.0, -1.0, -1.0}, opts);
  const auto W = one_step("adamw:lr=0.1,weight_decay=0.5,eps=1e-8,cautious_weight_decay=true",
                          W0, g);
  const double r = 1.0 / (1.0 + 1e-8), eta = 0.1, lam = 0.5;
  const auto expected = at::tensor({1.0 - eta * lam * 1.0 - eta * r, -1.0 - eta * r,
                                    2.0 + eta * r, -2.0 - eta * lam * -2.0 + eta * r},
                                   opts);
  EXPECT_LT((W - expected).abs().max().item<double>(), 1e-14) << W << expected;
}

TEST(CautiousWeightDecay, RefusedWithLionKImplicitDecay) {
  try {
    make_optimizer_options("lion_k:cautious_weight_decay=true,implicit_weight_decay=true");
    FAIL() << "accepted";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("cautious_weight_decay"), std::string::npos) << e.what();
  }
}

}  // namespace
