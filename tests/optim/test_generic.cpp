// The generic behaviours PyTorch runs on every optimizer (test/optim's OptimizerInfo suite), run
// over every specopt optimizer: loss decreases in 20 steps on a 10×5 weight (contiguous and
// non-contiguous, with and without StepLR); a group with lr 1e-28 stays put while another
// moves; no gradient → no change; zero gradient with weight decay 0 → exactly no change; the
// gradient is never modified in place; state is non-empty after a step; options print.
#include <torch/optim/schedulers/step_lr.h>

#include <functional>
#include <memory>
#include <sstream>

#include "tests/optim/optim_test_util.h"

namespace {

using namespace specopt;
namespace ot = specopt_optim_test;
using Groups = std::vector<torch::optim::OptimizerParamGroup>;

// One optimizer type: builds it over param groups, group i at lrs[i], weight decay `wd`.
struct Case {
  std::string name;
  std::function<std::unique_ptr<SpecoptOptimizer>(const std::vector<at::Tensor>& params,
                                                  const std::vector<double>& lrs, double wd)>
      make;
  double lr;  // a learning rate at which 20 steps decrease the test loss
};
void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

template <class Opt, class Options>
Case make_case(const std::string& name, double lr, std::function<Options(double lr)> options) {
  return {name,
          [options](const std::vector<at::Tensor>& params, const std::vector<double>& lrs,
                    double wd) {
            Groups groups;
            for (size_t i = 0; i < params.size(); ++i) {
              auto o = options(lrs[i]);
              o.weight_decay(wd);
              groups.emplace_back(std::vector<at::Tensor>{params[i]}, std::make_unique<Options>(o));
            }
            auto defaults = options(lrs[0]);
            defaults.weight_decay(wd);
            return std::unique_ptr<SpecoptOptimizer>(new Opt(std::move(groups), defaults));
          },
          lr};
}

// One optimizer over groups of two rules: even groups Muon, odd groups AdamW (what a
// HybridOptimizer is).
Case mixed_case() {
  return {"Mixed_Muon_AdamW",
          [](const std::vector<at::Tensor>& params, const std::vector<double>& lrs, double wd) {
            Groups groups;
            for (size_t i = 0; i < params.size(); ++i) {
              std::unique_ptr<torch::optim::OptimizerOptions> o;
              if (i % 2 == 0) {
                o = std::make_unique<MuonOptions>(MuonOptions(lrs[i]).weight_decay(wd));
              } else {
                o = std::make_unique<AdamWOptions>(AdamWOptions(lrs[i]).weight_decay(wd));
              }
              groups.emplace_back(std::vector<at::Tensor>{params[i]}, std::move(o));
            }
            return std::make_unique<SpecoptOptimizer>(std::move(groups),
                                                      MuonOptions(lrs[0]).weight_decay(wd));
          },
          0.01};
}

// Every registered rule at its registry default lr (a new rule joins by its registry line),
// then variants and the mixed optimizer.
std::vector<Case> cases() {
  std::vector<Case> all;
  for (const auto& r : registered_optimizers()) {
    const std::string name = r.name;
    all.push_back({name,
                   [name](const std::vector<at::Tensor>& params, const std::vector<double>& lrs,
                          double wd) {
                     std::vector<std::vector<at::Tensor>> groups;
                     for (const auto& p : params) groups.push_back({p});
                     return ot::registry_optimizer(name, groups, lrs, wd);
                   },
                   make_optimizer_options(name)->clone_options()->get_lr()});
  }
  all.push_back(make_case<PolarGrad, PolarGradOptions>(
      "PolarGrad_lr_0_005", 0.005, [](double lr) { return PolarGradOptions(lr); }));
  all.push_back(make_case<Dion2, Dion2Options>("Dion2_lr_0_05", 0.05,
                                               [](double lr) { return Dion2Options(lr); }));
  all.push_back(make_case<LionK, LionKOptions>("LionK_l1", 0.01,
                                               [](double lr) { return LionKOptions(lr).map("l1"); }));
  all.push_back(mixed_case());
  return all;
}

class Generic : public ::testing::TestWithParam<Case> {};

// L(W) = ½‖W − T‖²_F with T fixed; its gradient is W − T.
double loss_of(const at::Tensor& W, const at::Tensor& T) {
  return 0.5 * (W.detach() - T).square().sum().item<double>();
}

void expect_loss_decreases(const Case& c, bool contiguous, bool step_lr) {
  const auto T = ot::randn({10, 5}, 7);
  // Non-contiguous: every other element of a (10, 5, 2) tensor, as PyTorch's `[..., 0]`.
  auto W = contiguous ? ot::randn({10, 5}, 8).requires_grad_()
                      : ot::randn({10, 5, 2}, 8).select(-1, 0).detach().requires_grad_();
  ASSERT_EQ(W.is_contiguous(), contiguous);
  auto opt = c.make({W}, {c.lr}, 0.0);
  std::unique_ptr<torch::optim::StepLR> sched;
  if (step_lr) sched = std::make_unique<torch::optim::StepLR>(*opt, 5, 0.5);
  const double initial = loss_of(W, T);
  for (int t = 0; t < 20; ++t) {
    W.mutable_grad() = W.detach() - T;
    opt->step();
    if (sched) sched->step();
  }
  EXPECT_LT(loss_of(W, T), initial) << c.name << (contiguous ? "" : " non-contiguous")
                                    << (step_lr ? " with StepLR" : "");
  if (step_lr) {
    EXPECT_LT(opt->param_groups()[0].options().get_lr(), c.lr / 4);  // the scheduler acted
  }
}

TEST_P(Generic, LossDecreasesIn20Steps) {
  for (bool contiguous : {true, false}) {
    for (bool step_lr : {false, true}) expect_loss_decreases(GetParam(), contiguous, step_lr);
  }
}

TEST_P(Generic, TinyLrGroupUnchangedWhileAnotherMoves) {
  auto still = ot::randn({2, 2}, 1).requires_grad_();
  auto moving = ot::randn({2, 2}, 2).requires_grad_();
  const auto still0 = still.detach().clone(), moving0 = moving.detach().clone();
  auto opt = GetParam().make({still, moving}, {1e-28, GetParam().lr}, 0.1);
  for (int t = 0; t < 3; ++t) {
    still.mutable_grad() = ot::randn({2, 2}, 10 + t);
    moving.mutable_grad() = ot::randn({2, 2}, 20 + t);
    opt->step();
  }
  EXPECT_TRUE(at::equal(still.detach(), still0));
  EXPECT_FALSE(at::equal(moving.detach(), moving0));
}

TEST_P(Generic, NoGradNoChangeAndZeroGradExactlyNoChange) {
  auto W = ot::randn({10, 5}, 3).requires_grad_();
  const auto W0 = W.detach().clone();
  auto opt = GetParam().make({W}, {GetParam().lr}, 0.0);
  opt->step();  // no gradient at all
  EXPECT_TRUE(at::equal(W.detach(), W0));
  EXPECT_TRUE(opt->state().empty());
  for (int t = 0; t < 3; ++t) {
    W.mutable_grad() = at::zeros_like(W);
    opt->step();
  }
  EXPECT_TRUE(at::equal(W.detach(), W0))
      << "moved by " << (W.detach() - W0).abs().max().item<double>();
}

TEST_P(Generic, GradientNotModifiedInPlaceAndStateAfterOneStep) {
  auto W = ot::randn({10, 5}, 4).requires_grad_();
  auto opt = GetParam().make({W}, {GetParam().lr}, 0.1);
  for (int t = 0; t < 2; ++t) {
    W.mutable_grad() = ot::randn({10, 5}, 30 + t);
    const auto g0 = W.grad().clone();
    const auto version = W.grad()._version();
    opt->step();
    EXPECT_EQ(W.grad()._version(), version);
    EXPECT_TRUE(at::equal(W.grad(), g0));
  }
  EXPECT_EQ(opt->state().size(), 1u);
}

TEST_P(Generic, OptionsPrint) {
  auto W = ot::randn({10, 5}, 5).requires_grad_();
  auto opt = GetParam().make({W}, {GetParam().lr}, 0.0);
  std::ostringstream os;
  os << dynamic_cast<const RuleOptions&>(opt->param_groups()[0].options());
  EXPECT_EQ(os.str().rfind(std::string(dynamic_cast<const RuleOptions&>(opt->defaults()).kind()) +
                               "Options(lr=",
                           0),
            0u)
      << os.str();
  EXPECT_NE(os.str().find("nonfinite=error"), std::string::npos) << os.str();
}

INSTANTIATE_TEST_SUITE_P(EveryOptimizer, Generic, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
