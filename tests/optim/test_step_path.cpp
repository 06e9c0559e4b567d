// The per-step path: at most one device→host read per step (the non-finite decision for all
// gradients at once) with nonfinite error/skip, none with ignore, for every optimizer, the
// hybrid and batched Muon; and torch.optim.Muon's option names (ns_steps really runs that many
// Newton–Schulz steps; auto + steps is refused naming both).
#include <ATen/record_function.h>

#include <atomic>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>

#include "specopt/matfun/newton_schulz.h"
#include "specopt/optim/hybrid.h"
#include "tests/optim/optim_test_util.h"

namespace {

using namespace specopt;
namespace ot = specopt_optim_test;

// Counts every scalar read from a tensor (Tensor::item → aten::_local_scalar_dense) on this
// thread while alive: on an accelerator each is a device→host synchronisation.
class ScalarReads {
 public:
  ScalarReads() {
    count_ = 0;
    handle_ = at::addThreadLocalCallback(
        at::RecordFunctionCallback(
            [](const at::RecordFunction& fn) -> std::unique_ptr<at::ObserverContext> {
              if (std::strcmp(fn.name(), "aten::_local_scalar_dense") == 0) ++count_;
              return nullptr;
            })
            .scopes({at::RecordScope::FUNCTION}));
  }
  ~ScalarReads() { at::removeCallback(handle_); }
  int count() const { return count_; }

 private:
  static std::atomic<int> count_;
  at::CallbackHandle handle_;
};
std::atomic<int> ScalarReads::count_{0};

struct Reads {
  int64_t checks = 0;  // through specopt's one non-finite decision
  int scalars = 0;     // any other item() during the step
  int64_t total() const { return checks + scalars; }
};

// Reads made by one call of `fn`.
Reads reads_of(const std::function<void()>& fn) {
  ScalarReads scalars;
  const int64_t before = optimizer_host_reads();
  fn();
  return {optimizer_host_reads() - before, scalars.count()};
}

using Make = std::function<std::unique_ptr<torch::optim::Optimizer>(std::vector<at::Tensor>, NonFinite)>;

struct Case {
  std::string name;
  Make make;
};
void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

template <class Opt, class Options>
Make make(std::function<Options()> options) {
  return [options](std::vector<at::Tensor> params, NonFinite nf) {
    return std::unique_ptr<torch::optim::Optimizer>(new Opt(params, options().nonfinite(nf)));
  };
}

std::vector<Case> cases() {
  return {
      {"Muon", make<Muon, MuonOptions>([] { return MuonOptions(0.02); })},
      {"LionK_l1", make<LionK, LionKOptions>([] { return LionKOptions(0.01).map("l1"); })},
      {"LionK_nuclear_ns", make<LionK, LionKOptions>([] {
         return LionKOptions(0.01).map("nuclear:method=newton_schulz");
       })},
      {"SpectralAdam_adam", make<SpectralAdam, SpectralAdamOptions>(
                                [] { return SpectralAdamOptions::adam(0.01); })},
      {"SpectralSGD_msgdz", make<SpectralSGD, SpectralSGDOptions>([] {
         return SpectralSGDOptions::msgdz(0.01).power(
             PowerOptions().method(PowerMethod::coupled_newton));
       })},
      {"AdamW", make<AdamW, AdamWOptions>([] { return AdamWOptions(0.01); })},
      {"Lion", make<Lion, LionOptions>([] { return LionOptions(0.01); })},
  };
}

class StepReads : public ::testing::TestWithParam<Case> {};

// Three same-shaped matrices (batched together by Muon) and one of another shape.
std::vector<at::Tensor> params() {
  return {ot::randn({8, 6}, 1, at::kFloat).requires_grad_(),
          ot::randn({8, 6}, 2, at::kFloat).requires_grad_(),
          ot::randn({8, 6}, 3, at::kFloat).requires_grad_(),
          ot::randn({5, 7}, 4, at::kFloat).requires_grad_()};
}

void set_grads(const std::vector<at::Tensor>& ps, uint64_t seed) {
  for (size_t i = 0; i < ps.size(); ++i) {
    ps[i].mutable_grad() = ot::randn(ps[i].sizes(), seed + i, at::kFloat);
  }
}

TEST(StepReadsCounter, CountsScalarReads) {
  // The counter is live: one item() is one read (otherwise the tests below would be vacuous).
  const auto r = reads_of([] { (void)at::ones({2}).sum().item<float>(); });
  EXPECT_EQ(r.scalars, 1);
  EXPECT_EQ(r.checks, 0);
}

TEST_P(StepReads, AtMostOneReadPerStepAndNoneWithIgnore) {
  for (NonFinite nf : {NonFinite::error, NonFinite::skip, NonFinite::ignore}) {
    auto ps = params();
    auto opt = GetParam().make(ps, nf);
    for (int t = 0; t < 3; ++t) {
      set_grads(ps, 10 * t);
      const auto r = reads_of([&] { opt->step(); });
      if (nf == NonFinite::ignore) {
        EXPECT_EQ(r.total(), 0) << to_string(nf) << " step " << t << ": " << r.checks
                                << " checks, " << r.scalars << " other reads";
      } else {
        EXPECT_EQ(r.checks, 1) << to_string(nf) << " step " << t;
        EXPECT_LE(r.total(), 1) << to_string(nf) << " step " << t << ": " << r.scalars
                                << " other reads";
      }
    }
  }
}

TEST_P(StepReads, IgnoreLetsNonFiniteThroughAsTorchMuonDoes) {
  auto ps = params();
  auto opt = GetParam().make(ps, NonFinite::ignore);
  set_grads(ps, 1);
  ps[3].mutable_grad()[0][0] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_NO_THROW(opt->step());
  // The NaN reached the parameter or its state (sign(NaN) may be 0, as in Lion's update).
  bool nonfinite = !at::isfinite(ps[3]).all().item<bool>();
  for (auto& kv : opt->state()) {
    for_each_tensor(dynamic_cast<DeclaredFields&>(*kv.second), [&](const std::string&, at::Tensor& t) {
      if (t.defined() && !at::isfinite(t).all().item<bool>()) nonfinite = true;
    });
  }
  EXPECT_TRUE(nonfinite);
}

INSTANTIATE_TEST_SUITE_P(EveryOptimizer, StepReads, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return info.param.name; });

TEST(StepReadsHybrid, OneReadForBothSidesNoneWithIgnore) {
  for (NonFinite nf : {NonFinite::error, NonFinite::skip, NonFinite::ignore}) {
    std::vector<std::pair<std::string, at::Tensor>> named{
        {"fc.weight", ot::randn({8, 6}, 1, at::kFloat).requires_grad_()},
        {"fc2.weight", ot::randn({8, 6}, 2, at::kFloat).requires_grad_()},
        {"fc.bias", ot::randn({8}, 3, at::kFloat).requires_grad_()}};
    HybridOptimizer opt(partition_parameters(named), MuonOptions(0.02), AdamWOptions(0.01),
                        HybridOptions().nonfinite(nf));
    for (int t = 0; t < 2; ++t) {
      for (auto& np : named) np.second.mutable_grad() = at::randn_like(np.second);
      const auto r = reads_of([&] { opt.step(); });
      EXPECT_EQ(r.total(), nf == NonFinite::ignore ? 0 : 1) << to_string(nf);
    }
  }
}

// ---- torch.optim.Muon's names --------------------------------------------------------------

// The update O of one Muon step with lr 1, no momentum, no weight decay, no shape factor.
at::Tensor one_update(const MuonOptions& base, const at::Tensor& g) {
  auto X = ot::randn(g.sizes(), 9).requires_grad_();
  const auto before = X.detach().clone();
  Muon opt({X}, MuonOptions(base).lr(1.0).momentum(0.0).nesterov(false).adjust_lr_fn("none"));
  X.mutable_grad() = g;
  opt.step();
  return before - X.detach();
}

TEST(MuonTorchNames, NsStepsRunsThatManyNewtonSchulzSteps) {
  const auto g = ot::randn({12, 7}, 5);
  const auto o3 = one_update(MuonOptions().ns_steps(3), g);
  const auto want3 = newton_schulz(g, NsSchedule::jordan(), 3, 1e-7, at::kDouble);
  EXPECT_LE(specopt_test::max_abs_diff(o3, want3), 1e-12);
  EXPECT_EQ(MuonOptions().ns_steps(3).polar().method(), PolarMethod::newton_schulz);
  // Three steps of the quintic leave singular values visibly away from 1, unlike five.
  const auto s3 = at::linalg_svdvals(o3);
  const auto s5 = at::linalg_svdvals(one_update(MuonOptions(), g));
  EXPECT_GT((s3 - 1).abs().max().item<double>(), 0.05);
  EXPECT_GT(specopt_test::max_abs_diff(s3, s5), 1e-3);
}

TEST(MuonTorchNames, CoefficientsEpsAndAdjustLrFnMapOntoPolarAndShapeRule) {
  const auto o = MuonOptions().ns_coefficients({3.4, -4.7, 2.0}).eps(1e-6).adjust_lr_fn(
      "match_rms_adamw");
  EXPECT_EQ(o.ns_coefficients(), std::make_tuple(3.4, -4.7, 2.0));
  EXPECT_EQ(o.polar().schedule().coefficients.size(), 1u);
  EXPECT_EQ(o.eps(), 1e-6);
  EXPECT_EQ(o.polar().eps(), 1e-6);
  EXPECT_EQ(o.shape_rule(), ShapeRule::match_rms_adamw);
  EXPECT_EQ(o.adjust_lr_fn(), "match_rms_adamw");
  // torch's defaults are the reference coefficients and eps.
  EXPECT_EQ(MuonOptions().ns_coefficients(), std::make_tuple(3.4445, -4.7750, 2.0315));
  EXPECT_EQ(MuonOptions().eps(), 1e-7);
  EXPECT_EQ(MuonOptions().ns_steps(), 5);
  EXPECT_EQ(MuonOptions().adjust_lr_fn(), "original");
  EXPECT_THROW_MSG(MuonOptions().adjust_lr_fn("sqrt"), "sqrt");
}

TEST(MuonTorchNames, AutoWithStepsIsRefusedNamingBoth) {
  auto w = ot::randn({4, 3}, 1).requires_grad_();
  EXPECT_THROW_MSG(Muon({w}, MuonOptions().polar(PolarOptions().steps(3))), "steps(3) with method auto");
  EXPECT_THROW_MSG(PolarOptions().steps(3).validate(), "newton_schulz");
  // An explicit method keeps its steps.
  EXPECT_NO_THROW(PolarOptions().method(PolarMethod::newton_schulz).steps(3).validate());
}

}  // namespace
