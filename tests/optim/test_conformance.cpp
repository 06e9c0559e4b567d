// One conformance suite run over every specopt optimizer (and its main variants):
// undefined / zero / non-finite gradients, skip_nonfinite, per-group option isolation,
// StepLR interplay, save/load round trip, dtype preservation (and CUDA where available),
// closures, duplicate parameters, cloneable state.
#include <torch/optim/schedulers/step_lr.h>

#include <cmath>
#include <limits>

#include "specopt/optim/checkpoint.h"
#include "tests/optim/optim_test_util.h"

namespace {

using specopt::SpecoptOptimizer;
using torch::optim::OptimizerParamGroup;
namespace ot = specopt_optim_test;

// Builds an optimizer with one group per entry of `groups`, group i with its own options at
// lr `lrs[i]`; the defaults get lr 7.0 (used by no group, so a group that silently fell back
// to the defaults shows up).
using Factory = std::function<std::unique_ptr<SpecoptOptimizer>(
    const std::vector<std::vector<at::Tensor>>& groups, const std::vector<double>& lrs,
    bool skip_nonfinite)>;

template <typename Opt, typename Options>
Factory factory(std::function<Options(double lr)> base) {
  return [base](const std::vector<std::vector<at::Tensor>>& groups, const std::vector<double>& lrs,
                bool skip) -> std::unique_ptr<SpecoptOptimizer> {
    std::vector<OptimizerParamGroup> pg;
    for (size_t i = 0; i < groups.size(); ++i) {
      auto o = base(lrs[i]);
      o.skip_nonfinite(skip);
      pg.emplace_back(groups[i], std::make_unique<Options>(o));
    }
    auto defaults = base(7.0);
    defaults.skip_nonfinite(skip);
    return std::make_unique<Opt>(std::move(pg), defaults);
  };
}

struct Case {
  std::string name;
  Factory make;
  bool linear_in_lr = true;  // first-step displacement proportional to lr
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

// Every registered rule with its registry defaults and weight decay 0.1 (a new rule joins by its
// registry line), then variants of their options.
std::vector<Case> all_cases() {
  using namespace specopt;
  std::vector<Case> cases;
  for (const auto& r : registered_optimizers()) {
    const std::string name = r.name;
    cases.push_back({name, [name](const std::vector<std::vector<at::Tensor>>& groups,
                                  const std::vector<double>& lrs, bool skip) {
                       return ot::registry_optimizer(name, groups, lrs, 0.1, skip);
                     }});
  }
  const PolarOptions svd = PolarOptions().method(PolarMethod::svd);
  const std::vector<Case> variants = {
      {"Muon_svd_match_rms",
       factory<Muon, MuonOptions>([svd](double lr) {
         return MuonOptions(lr).polar(svd).shape_rule("match_rms_adamw").nesterov(false);
       })},
      {"AdaMuon_svd_no_sign",
       factory<AdaMuon, AdaMuonOptions>([svd](double lr) {
         return AdaMuonOptions(lr).polar(svd).sign_momentum(false).nesterov(false);
       })},
      {"PolarGrad_svd_nesterov",
       factory<PolarGrad, PolarGradOptions>([svd](double lr) {
         return PolarGradOptions(lr).polar(svd).nesterov(true).scale(2.0);
       })},
      {"Dion2_svd_all_rows_l2",
       factory<Dion2, Dion2Options>([svd](double lr) {
         return Dion2Options(lr).polar(svd).fraction(1.0).selection("l2").shape_rule("original");
       })},
      {"LionK_l1", factory<LionK, LionKOptions>(
                       [](double lr) { return LionKOptions(lr).map("l1").lion_betas(0.9, 0.99); })},
      {"LionK_schatten3",
       factory<LionK, LionKOptions>([](double lr) { return LionKOptions(lr).map("schatten:q=3"); })},
      {"LionK_hsf_implicit",
       factory<LionK, LionKOptions>([](double lr) {
         return LionKOptions(lr).map("half_sq_frobenius").weight_decay(0.5).implicit_weight_decay(true);
       }),
       /*linear_in_lr=*/false},
      {"SpectralAdam_adams_no_decay",
       factory<SpectralAdam, SpectralAdamOptions>([](double lr) { return SpectralAdamOptions::adams(lr); })},
      {"SpectralSGD_msgdq_no_decay",
       factory<SpectralSGD, SpectralSGDOptions>([](double lr) { return SpectralSGDOptions::msgdq(lr); })},
      {"AdamW_no_decay", factory<AdamW, AdamWOptions>([](double lr) { return AdamWOptions(lr); })},
  };
  cases.insert(cases.end(), variants.begin(), variants.end());
  return cases;
}

class Conformance : public ::testing::TestWithParam<Case> {
 protected:
  // Two matrix parameters (a wide and a tall one), float64 unless told.
  static std::vector<at::Tensor> params(at::ScalarType dt = at::kDouble) {
    return {ot::randn({3, 5}, 1, dt).requires_grad_(), ot::randn({6, 4}, 2, dt).requires_grad_()};
  }
  static void set_grads(std::vector<at::Tensor>& ps, uint64_t seed) {
    for (size_t i = 0; i < ps.size(); ++i) {
      ps[i].mutable_grad() = ot::randn(ps[i].sizes(), seed + 10 * i, ps[i].scalar_type());
    }
  }
  static std::vector<at::Tensor> snapshot(const std::vector<at::Tensor>& ps) {
    std::vector<at::Tensor> out;
    for (const auto& p : ps) out.push_back(p.detach().clone());
    return out;
  }
  static bool bitwise_equal(const at::Tensor& a, const at::Tensor& b) {
    return a.sizes() == b.sizes() && at::equal(a.detach(), b.detach());
  }
};

TEST_P(Conformance, UndefinedGradLeavesParamAndStateUntouched) {
  auto ps = params();
  auto opt = GetParam().make({ps}, {0.05}, false);
  ps[0].mutable_grad() = ot::randn(ps[0].sizes(), 3);  // ps[1] has no gradient
  const auto before = snapshot(ps);
  for (int t = 0; t < 3; ++t) opt->step();
  EXPECT_FALSE(bitwise_equal(ps[0], before[0]));
  EXPECT_TRUE(bitwise_equal(ps[1], before[1])) << "no weight decay without a gradient";
  EXPECT_EQ(opt->state().size(), 1u) << "no state for a parameter that never had a gradient";
}

TEST_P(Conformance, ZeroGradGivesFiniteParams) {
  auto ps = params();
  auto opt = GetParam().make({ps}, {0.05}, false);
  for (int t = 0; t < 3; ++t) {
    for (auto& p : ps) p.mutable_grad() = at::zeros_like(p);
    opt->step();
  }
  for (const auto& p : ps) EXPECT_TRUE(specopt_test::all_finite(p)) << p;
}

TEST_P(Conformance, NonFiniteGradThrowsNamingParamAndChangesNothing) {
  for (double bad : {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity()}) {
    auto ps = params();
    auto twin_ps = params();
    auto opt = GetParam().make({ps}, {0.05}, false);
    auto twin = GetParam().make({twin_ps}, {0.05}, false);
    set_grads(ps, 5);
    set_grads(twin_ps, 5);
    opt->step();
    twin->step();
    const auto before = snapshot(ps);
    set_grads(ps, 6);
    ps[1].mutable_grad()[2][3] = bad;  // the second parameter (6 × 4) is bad
    EXPECT_THROW_MSG(opt->step(), "param group 0, parameter 1 (shape [6, 4])");
    for (size_t i = 0; i < ps.size(); ++i) EXPECT_TRUE(bitwise_equal(ps[i], before[i]));
    // State untouched too: the next good step equals that of a twin that never saw it.
    set_grads(ps, 7);
    set_grads(twin_ps, 7);
    opt->step();
    twin->step();
    for (size_t i = 0; i < ps.size(); ++i) EXPECT_TRUE(bitwise_equal(ps[i], twin_ps[i]));
    EXPECT_EQ(opt->skipped_steps(), 0);
  }
}

TEST_P(Conformance, SkipNonfiniteSkipsAndCounts) {
  auto ps = params();
  auto twin_ps = params();
  auto opt = GetParam().make({ps}, {0.05}, true);
  auto twin = GetParam().make({twin_ps}, {0.05}, true);
  set_grads(ps, 5);
  set_grads(twin_ps, 5);
  opt->step();
  twin->step();
  const auto before = snapshot(ps);
  set_grads(ps, 6);
  ps[0].mutable_grad()[0][0] = std::numeric_limits<double>::infinity();
  EXPECT_NO_THROW(opt->step());
  EXPECT_EQ(opt->skipped_steps(), 1);
  for (size_t i = 0; i < ps.size(); ++i) EXPECT_TRUE(bitwise_equal(ps[i], before[i]));
  set_grads(ps, 7);
  set_grads(twin_ps, 7);
  opt->step();
  twin->step();
  for (size_t i = 0; i < ps.size(); ++i) EXPECT_TRUE(bitwise_equal(ps[i], twin_ps[i]));
  EXPECT_EQ(twin->skipped_steps(), 0);
}

TEST_P(Conformance, PerGroupOptionsIsolatedAndReadable) {
  const auto init = ot::randn({4, 6}, 11);
  auto a = init.clone().requires_grad_();
  auto b = init.clone().requires_grad_();
  auto opt = GetParam().make({{a}, {b}}, {0.01, 0.03}, false);
  ASSERT_EQ(opt->param_groups().size(), 2u);
  EXPECT_DOUBLE_EQ(opt->param_groups()[0].options().get_lr(), 0.01);
  EXPECT_DOUBLE_EQ(opt->param_groups()[1].options().get_lr(), 0.03);
  EXPECT_DOUBLE_EQ(opt->defaults().get_lr(), 7.0);
  const auto g = ot::randn({4, 6}, 12);
  a.mutable_grad() = g.clone();
  b.mutable_grad() = g.clone();
  opt->step();
  const auto da = (a.detach() - init), db = (b.detach() - init);
  EXPECT_GT(da.abs().max().item<double>(), 0);
  EXPECT_GT(specopt_test::max_abs_diff(da, db), 0) << "groups with different lr moved alike";
  if (GetParam().linear_in_lr) {
    EXPECT_LE(specopt_test::max_abs_diff(db, 3.0 * da), 1e-12 * (1 + db.abs().max().item<double>()));
  }
}

TEST_P(Conformance, WorksWithStepLR) {
  auto ps = params();
  auto opt = GetParam().make({{ps[0]}, {ps[1]}}, {0.04, 0.08}, false);
  torch::optim::StepLR sched(*opt, /*step_size=*/1, /*gamma=*/0.5);
  for (int t = 0; t < 3; ++t) {
    set_grads(ps, 20 + t);
    opt->step();
    sched.step();
  }
  // LibTorch's StepLR decays on its 2nd and 3rd step() (its first call sees step count 0).
  const double f0 = opt->param_groups()[0].options().get_lr() / 0.04;
  const double f1 = opt->param_groups()[1].options().get_lr() / 0.08;
  EXPECT_NEAR(f0, 0.25, 1e-15);
  EXPECT_NEAR(f1, 0.25, 1e-15);
  // The scheduled lr is the one the next step uses: a group at lr 0 does not move.
  opt->param_groups()[0].options().set_lr(0.0);
  const auto before = snapshot(ps);
  set_grads(ps, 29);
  opt->step();
  EXPECT_TRUE(bitwise_equal(ps[0], before[0]));
  EXPECT_FALSE(bitwise_equal(ps[1], before[1]));
}

TEST_P(Conformance, PreservesDtype) {
  for (auto dt : {at::kFloat, at::kDouble}) {
    auto ps = params(dt);
    auto opt = GetParam().make({ps}, {0.05}, false);
    for (int t = 0; t < 3; ++t) {
      set_grads(ps, 30 + t);
      opt->step();
    }
    for (const auto& p : ps) {
      EXPECT_EQ(p.scalar_type(), dt);
      EXPECT_TRUE(specopt_test::all_finite(p));
    }
  }
}

// Save/load round trip: a checkpoint taken after 3 steps, loaded into a fresh optimizer over
// copies of the parameters (with other lrs), gives bitwise the same next steps.
TEST_P(Conformance, SaveLoadRoundTripContinuesBitwise) {
  auto a = params();
  auto opt_a = GetParam().make({{a[0]}, {a[1]}}, {0.05, 0.02}, false);
  for (int t = 0; t < 3; ++t) {
    set_grads(a, 50 + t);
    opt_a->step();
  }
  const auto bytes = specopt::checkpoint_bytes(*opt_a);
  std::vector<at::Tensor> b;
  for (const auto& p : a) b.push_back(p.detach().clone().requires_grad_());
  auto opt_b = GetParam().make({{b[0]}, {b[1]}}, {0.3, 0.4}, false);
  specopt::CheckpointExtras none;
  specopt::load_checkpoint_bytes(bytes, "memory", *opt_b, none);
  for (int t = 3; t < 6; ++t) {
    set_grads(a, 50 + t);
    set_grads(b, 50 + t);
    opt_a->step();
    opt_b->step();
  }
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(at::equal(a[i], b[i])) << "param " << i;
}

// CUDA where available: the same steps on device tensors stay on the device, keep their dtype
// and follow the CPU trajectory (float64; 1e-8 allows for different BLAS/LAPACK summation
// orders). Skips, saying so, without a GPU.
TEST_P(Conformance, RunsOnCudaLikeOnCpu) {
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device: CUDA conformance not run";
  auto cpu = params(at::kDouble);
  std::vector<at::Tensor> gpu;
  for (const auto& p : cpu) gpu.push_back(p.detach().to(at::kCUDA).requires_grad_());
  auto on_cpu = GetParam().make({cpu}, {0.05}, false);
  auto on_gpu = GetParam().make({gpu}, {0.05}, false);
  for (int t = 0; t < 3; ++t) {
    set_grads(cpu, 40 + t);
    for (size_t i = 0; i < cpu.size(); ++i) gpu[i].mutable_grad() = cpu[i].grad().to(at::kCUDA);
    on_cpu->step();
    on_gpu->step();
  }
  for (size_t i = 0; i < cpu.size(); ++i) {
    EXPECT_TRUE(gpu[i].is_cuda());
    EXPECT_EQ(gpu[i].scalar_type(), at::kDouble);
    EXPECT_LE((gpu[i].detach().cpu() - cpu[i].detach()).abs().max().item<double>(), 1e-8);
  }
}

TEST_P(Conformance, ClosureRunsWithGradAndReturnsLoss) {
  auto ps = params();
  auto opt = GetParam().make({ps}, {0.05}, false);
  const auto before = snapshot(ps);
  auto loss = opt->step([&] {
    opt->zero_grad();
    auto l = (ps[0] * ps[0]).sum() + (ps[1] * ps[1] * ps[1]).sum();
    l.backward();
    return l;
  });
  ASSERT_TRUE(loss.defined());
  EXPECT_FALSE(bitwise_equal(ps[0], before[0]));
  EXPECT_FALSE(bitwise_equal(ps[1], before[1]));
}

TEST_P(Conformance, RejectsDuplicateParameters) {
  auto ps = params();
  EXPECT_THROW_MSG(GetParam().make({{ps[0], ps[1]}, {ps[1]}}, {0.1, 0.1}, false), "same tensor");
}

TEST_P(Conformance, StateIsCloneable) {
  auto ps = params();
  auto opt = GetParam().make({ps}, {0.05}, false);
  set_grads(ps, 40);
  opt->step();
  ASSERT_EQ(opt->state().size(), 2u);
  for (const auto& kv : opt->state()) {
    const torch::optim::OptimizerParamState& s = *kv.second;
    auto copy = s.clone();
    ASSERT_NE(copy, nullptr);
    EXPECT_EQ(typeid(*copy), typeid(s));
  }
}

INSTANTIATE_TEST_SUITE_P(AllOptimizers, Conformance, ::testing::ValuesIn(all_cases()),
                         [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

}  // namespace
