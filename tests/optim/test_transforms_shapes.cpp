// The shared transforms and Muon's shape handling: shape rules, conv flattening, 3-D batches,
// split QKV, 1-D rejection, and option validation messages.
#include "tests/optim/optim_test_util.h"
#include <torch/optim/adam.h>

namespace {

using namespace specopt;
namespace ot = specopt_optim_test;
namespace T = specopt::transforms;
const PolarOptions kSvd = PolarOptions().method(PolarMethod::svd);

TEST(Transforms, ShapeRules) {
  EXPECT_DOUBLE_EQ(T::shape_scale(ShapeRule::original, 12, 3), 2.0);
  EXPECT_DOUBLE_EQ(T::shape_scale(ShapeRule::original, 3, 12), 1.0);
  EXPECT_DOUBLE_EQ(T::shape_scale(ShapeRule::match_rms_adamw, 3, 100), 2.0);
  EXPECT_DOUBLE_EQ(T::shape_scale(ShapeRule::none, 7, 2), 1.0);
  EXPECT_EQ(T::parse_shape_rule("match_rms_adamw"), ShapeRule::match_rms_adamw);
  EXPECT_THROW_MSG(T::parse_shape_rule("bogus"), "shape_rule");
}

TEST(Transforms, MomentumAndRms) {
  auto buf = at::ones({2, 2}, at::kDouble);
  const auto g = at::full({2, 2}, 2.0, at::kDouble);
  T::ema_(buf, g, 0.9, -1.0);  // 0.9 − 0.1·2
  EXPECT_NEAR(buf[0][0].item<double>(), 0.7, 1e-15);
  T::heavy_ball_(buf, g, 0.5);  // 0.35 + 2
  EXPECT_NEAR(buf[0][0].item<double>(), 2.35, 1e-15);
  const auto R = T::rms_normalize(g * 0.1, g * g * 0.05, 1, 0.9, 0.95, 0.0);
  EXPECT_NEAR(R[0][0].item<double>(), 1.0, 1e-15);  // first Adam step is sign(g)
}

// Muon's first step on a conv weight is −η·s·msign of the (out, in·kh·kw) matrix.
TEST(MuonShapes, ConvWeightFlattened) {
  const auto X0 = ot::randn({6, 2, 3, 3}, 1);
  const auto g = ot::randn({6, 2, 3, 3}, 2);
  auto X = X0.clone().requires_grad_();
  Muon muon({X}, MuonOptions(0.1).polar(kSvd).nesterov(false));
  X.mutable_grad() = g;
  muon.step();
  const auto expected = X0 - 0.1 * 1.0 * polar(g.reshape({6, 18}), kSvd).reshape(X0.sizes());
  EXPECT_LE(specopt_test::max_abs_diff(X, expected), 1e-13);
}

TEST(MuonShapes, ThreeDIsBatchOfMatrices) {
  const auto X0 = ot::randn({3, 8, 2}, 3);
  const auto g = ot::randn({3, 8, 2}, 4);
  auto X = X0.clone().requires_grad_();
  Muon muon({X}, MuonOptions(0.1).polar(kSvd).nesterov(false));
  X.mutable_grad() = g;
  muon.step();
  for (int64_t b = 0; b < 3; ++b) {
    const auto expected = X0[b] - 0.1 * 2.0 * polar(g[b], kSvd);  // s = sqrt(8/2)
    EXPECT_LE(specopt_test::max_abs_diff(X[b], expected), 1e-13) << b;
  }
}

TEST(MuonShapes, SplitQkvTransformsEachThird) {
  const int64_t d = 4;
  const auto X0 = ot::randn({3 * d, d}, 5);
  const auto g = ot::randn({3 * d, d}, 6);
  auto X = X0.clone().requires_grad_(), Y = X0.clone().requires_grad_();
  Muon split({X}, MuonOptions(0.1).polar(kSvd).nesterov(false).split_qkv(true));
  Muon whole({Y}, MuonOptions(0.1).polar(kSvd).nesterov(false));
  X.mutable_grad() = g;
  Y.mutable_grad() = g;
  split.step();
  whole.step();
  for (int64_t k = 0; k < 3; ++k) {
    const auto rows = at::indexing::Slice(k * d, (k + 1) * d);
    const auto expected = X0.index({rows}) - 0.1 * polar(g.index({rows}), kSvd);  // s = 1
    EXPECT_LE(specopt_test::max_abs_diff(X.index({rows}), expected), 1e-13) << k;
  }
  const auto expected_whole = X0 - 0.1 * std::sqrt(3.0) * polar(g, kSvd);
  EXPECT_LE(specopt_test::max_abs_diff(Y, expected_whole), 1e-13);
}

TEST(MuonShapes, RejectsVectorsNamingAdamW) {
  auto w = ot::randn({4, 4}, 7).requires_grad_();
  auto bias = ot::randn({4}, 8).requires_grad_();
  EXPECT_THROW_MSG(Muon({w, bias}, MuonOptions(0.1)), "AdamW");
  EXPECT_THROW_MSG(Muon({w, bias}, MuonOptions(0.1)), "parameter 1");
  EXPECT_THROW_MSG(SpectralAdam({bias}, SpectralAdamOptions::adams(0.1)), "not a matrix");
  EXPECT_NO_THROW(SpectralAdam({bias}, SpectralAdamOptions::adam(0.1)));
  EXPECT_NO_THROW(LionK({bias}, LionKOptions(0.1).map("l1")));
}

TEST(OptionsValidation, NamesTheOption) {
  auto w = ot::randn({4, 4}, 9).requires_grad_();
  EXPECT_THROW_MSG(Muon({w}, MuonOptions(-1.0)), "MuonOptions.lr");
  EXPECT_THROW_MSG(Muon({w}, MuonOptions(0.1).momentum(1.5)), "MuonOptions.momentum");
  EXPECT_THROW_MSG(Muon({w}, MuonOptions(0.1).weight_decay(-0.1)), "MuonOptions.weight_decay");
  EXPECT_THROW_MSG(Muon({w}, MuonOptions(0.1).polar(PolarOptions().steps(0))), "steps");
  EXPECT_THROW_MSG(MuonOptions(0.1).shape_rule("sqrt"), "shape_rule");
  EXPECT_THROW_MSG(LionK({w}, LionKOptions(-0.1)), "LionKOptions.lr");
  EXPECT_THROW_MSG(LionK({w}, LionKOptions(0.1).beta_pol(-0.1)), "LionKOptions.beta_pol");
  EXPECT_THROW_MSG(LionK({w}, LionKOptions(0.1).beta_nes(1.5)), "LionKOptions.beta_nes");
  EXPECT_THROW_MSG(LionKOptions(0.1).lion_betas(1.2, 0.9), "beta1");
  EXPECT_THROW_MSG(LionKOptions(0.1).lion_betas(0.9, 0.0), "beta2");
  EXPECT_THROW_MSG(LionKOptions(0.1).map("no_such_map"), "no_such_map");
  EXPECT_THROW_MSG(SpectralAdam({w}, SpectralAdamOptions(0.1).p(1.5)), "SpectralAdamOptions.p");
  EXPECT_THROW_MSG(SpectralAdam({w}, SpectralAdamOptions(0.1).beta2(-0.5)), "SpectralAdamOptions.beta2");
  EXPECT_THROW_MSG(SpectralAdamOptions(0.1).shape_rule("x"), "shape_rule");
  EXPECT_THROW_MSG(SpectralSGD({w}, SpectralSGDOptions(0.1).momentum(2.0)), "SpectralSGDOptions.momentum");
  EXPECT_THROW_MSG(SpectralSGD({w}, SpectralSGDOptions(-2.0)), "SpectralSGDOptions.lr");
  EXPECT_THROW_MSG(AdamW({w}, AdamWOptions(0.1).beta1(1.1)), "AdamWOptions.beta1");
  EXPECT_THROW_MSG(AdamW({w}, AdamWOptions(0.1).eps(-1)), "AdamWOptions.eps");
  EXPECT_THROW_MSG(Lion({w}, LionOptions(0.1).beta2(-0.01)), "LionOptions.beta2");
  EXPECT_THROW_MSG(Lion({w}, LionOptions(std::nan(""))), "LionOptions.lr");
}

// A group's options decide its rule: an AdamW group inside a Muon optimizer steps as AdamW;
// options that are not a specopt rule's are refused; a group without options uses the
// defaults.
TEST(OptionsValidation, GroupOptionsDecideTheRule) {
  auto w = ot::randn({4, 4}, 10).requires_grad_();
  auto v = ot::randn({4, 4}, 11).requires_grad_();
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(std::vector<at::Tensor>{w}, std::make_unique<AdamWOptions>(0.1));
  Muon mixed(groups, MuonOptions(0.1));
  EXPECT_STREQ(mixed.rule(0).kind(), "AdamW");
  auto w2 = w.detach().clone().requires_grad_();
  AdamW plain_adamw({w2}, AdamWOptions(0.1));
  w.mutable_grad() = ot::randn({4, 4}, 12);
  w2.mutable_grad() = w.grad().clone();
  mixed.step();
  plain_adamw.step();
  EXPECT_TRUE(at::equal(w, w2)) << "the AdamW group did not step as AdamW";
  std::vector<torch::optim::OptimizerParamGroup> foreign;
  foreign.emplace_back(std::vector<at::Tensor>{v}, std::make_unique<torch::optim::AdamOptions>(0.1));
  EXPECT_THROW_MSG(Muon(foreign, MuonOptions(0.1)), "not a specopt rule's");
  std::vector<torch::optim::OptimizerParamGroup> plain;
  plain.emplace_back(std::vector<at::Tensor>{v});
  Muon muon(plain, MuonOptions(0.125));
  EXPECT_DOUBLE_EQ(muon.param_groups()[0].options().get_lr(), 0.125);
}

}  // namespace
