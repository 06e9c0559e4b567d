// Schedules (pure functions of the step) against their closed forms, the text factory, and the
// LrScheduler / MomentumScheduler drivers on torch::optim::SGD, including position save/restore
// and coexistence with LibTorch's own StepLR.
#include <c10/util/Exception.h>
#include <gtest/gtest.h>
#include <torch/optim/adam.h>
#include <torch/optim/schedulers/step_lr.h>
#include <torch/optim/sgd.h>

#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "specopt/optim/schedule.h"

namespace {

using specopt::ConstantSchedule;
using specopt::DecayShape;
using specopt::LrScheduler;
using specopt::MomentumScheduler;
using specopt::MomentumWarmup;
using specopt::Schedule;
using specopt::WarmupCosineSchedule;
using specopt::WarmupStableDecaySchedule;

constexpr double kPi = 3.14159265358979323846;

// Expects f() to raise a c10::Error whose message contains every one of `parts`.
void expect_error(const std::function<void()>& f, const std::vector<std::string>& parts) {
  try {
    f();
  } catch (const c10::Error& e) {
    const std::string msg = e.what_without_backtrace();
    for (const auto& part : parts) {
      EXPECT_NE(msg.find(part), std::string::npos) << "'" << part << "' not in: " << msg;
    }
    return;
  }
  ADD_FAILURE() << "no error raised (expected one naming '" << (parts.empty() ? "" : parts[0])
                << "')";
}

double cosine(double p, double peak, double min_value) {
  return min_value + (peak - min_value) * 0.5 * (1.0 + std::cos(kPi * p));
}

// Two parameters in two groups with lrs 0.1 and 0.01.
struct TwoGroupSgd {
  torch::Tensor a = torch::zeros({3}).requires_grad_(true);
  torch::Tensor b = torch::zeros({2, 2}).requires_grad_(true);
  torch::optim::SGD opt{
      std::vector<torch::optim::OptimizerParamGroup>{
          torch::optim::OptimizerParamGroup({a}, std::make_unique<torch::optim::SGDOptions>(0.1)),
          torch::optim::OptimizerParamGroup({b},
                                            std::make_unique<torch::optim::SGDOptions>(0.01))},
      torch::optim::SGDOptions(0.1)};

  double lr(size_t g) { return opt.param_groups()[g].options().get_lr(); }
  double momentum(size_t g) {
    return static_cast<torch::optim::SGDOptions&>(opt.param_groups()[g].options()).momentum();
  }
};

// ------------------------------------------------------------------------------------------
// Schedules

TEST(Schedule, ConstantIsConstant) {
  ConstantSchedule s(0.25);
  for (int64_t step : {0, 1, 7, 1000, 1000000}) EXPECT_EQ(s.value(step), 0.25);
  EXPECT_EQ(ConstantSchedule().value(3), 1.0);
  EXPECT_EQ(s.name(), "constant");
}

TEST(Schedule, WarmupCosineKeySteps) {
  const int64_t W = 100, T = 1000;
  const double peak = 2.0, min_value = 0.2, init = 0.1;
  WarmupCosineSchedule s(W, T, min_value, peak, init);
  EXPECT_DOUBLE_EQ(s.value(0), init);
  EXPECT_DOUBLE_EQ(s.value(50), init + (peak - init) * 0.5);
  EXPECT_DOUBLE_EQ(s.value(99), init + (peak - init) * 0.99);
  EXPECT_DOUBLE_EQ(s.value(W), peak);
  EXPECT_DOUBLE_EQ(s.value(550), cosine(0.5, peak, min_value));
  EXPECT_DOUBLE_EQ(s.value(550), 0.5 * (peak + min_value));
  EXPECT_DOUBLE_EQ(s.value(325), cosine(0.25, peak, min_value));
  EXPECT_DOUBLE_EQ(s.value(T - 1), cosine(899.0 / 900.0, peak, min_value));
  EXPECT_EQ(s.value(T), min_value);
  EXPECT_EQ(s.value(T + 1), min_value);
  EXPECT_EQ(s.value(100 * T), min_value);

  // Defaults: warmup from 0 to 1, cosine to 0.
  WarmupCosineSchedule d(10, 20);
  EXPECT_EQ(d.value(0), 0.0);
  EXPECT_DOUBLE_EQ(d.value(5), 0.5);
  EXPECT_EQ(d.value(10), 1.0);
  EXPECT_DOUBLE_EQ(d.value(15), 0.5);
  EXPECT_EQ(d.value(20), 0.0);
}

TEST(Schedule, WarmupCosineEdgeCases) {
  WarmupCosineSchedule no_warmup(0, 10, 0.1);
  EXPECT_EQ(no_warmup.value(0), 1.0);
  EXPECT_DOUBLE_EQ(no_warmup.value(5), cosine(0.5, 1.0, 0.1));
  WarmupCosineSchedule all_warmup(10, 10, 0.3);
  EXPECT_DOUBLE_EQ(all_warmup.value(9), 0.9);
  EXPECT_EQ(all_warmup.value(10), 0.3);
}

TEST(Schedule, WarmupCosineMonotone) {
  WarmupCosineSchedule s(50, 400, 0.05, 1.5, 0.0);
  for (int64_t t = 0; t < 50; ++t) EXPECT_LT(s.value(t), s.value(t + 1)) << t;
  for (int64_t t = 50; t < 450; ++t) EXPECT_GE(s.value(t), s.value(t + 1)) << t;
  for (int64_t t = 0; t < 450; ++t) {
    EXPECT_GE(s.value(t), 0.0);
    EXPECT_LE(s.value(t), 1.5);
  }
}

TEST(Schedule, WsdKeyStepsAllShapes) {
  const int64_t W = 10, T = 100, D = 20;
  const double peak = 1.0, min_value = 0.1;
  for (auto shape : {DecayShape::linear, DecayShape::cosine, DecayShape::sqrt}) {
    SCOPED_TRACE(specopt::to_string(shape));
    WarmupStableDecaySchedule s(W, T, D, shape, min_value, peak);
    EXPECT_EQ(s.value(0), 0.0);
    EXPECT_DOUBLE_EQ(s.value(5), 0.5);
    EXPECT_EQ(s.value(W), peak);
    EXPECT_EQ(s.value(50), peak);
    EXPECT_EQ(s.value(T - D), peak);  // decay progress 0
    const double p = 0.25;            // step 85
    double expected = 0;
    switch (shape) {
      case DecayShape::linear: expected = peak - (peak - min_value) * p; break;
      case DecayShape::cosine: expected = cosine(p, peak, min_value); break;
      case DecayShape::sqrt: expected = min_value + (peak - min_value) * (1 - std::sqrt(p)); break;
    }
    EXPECT_DOUBLE_EQ(s.value(85), expected);
    EXPECT_EQ(s.value(T), min_value);
    EXPECT_EQ(s.value(T + 1000), min_value);
    for (int64_t t = 0; t < W; ++t) EXPECT_LT(s.value(t), s.value(t + 1));
    for (int64_t t = W; t < T + 5; ++t) EXPECT_GE(s.value(t), s.value(t + 1));
    // Close to the end every shape has decayed most of the way.
    EXPECT_LT(s.value(T - 1), min_value + 0.25 * (peak - min_value));
  }
  // linear midpoint of the decay, sqrt's 1 - sqrt(p) at p = 1/4 is 1/2.
  EXPECT_DOUBLE_EQ(WarmupStableDecaySchedule(W, T, D).value(90), 0.5);
  EXPECT_DOUBLE_EQ(WarmupStableDecaySchedule(W, T, D, DecayShape::sqrt).value(85), 0.5);
}

TEST(Schedule, WsdWithoutDecayDropsAtTotal) {
  WarmupStableDecaySchedule s(0, 10, 0, DecayShape::linear, 0.2);
  EXPECT_EQ(s.value(0), 1.0);
  EXPECT_EQ(s.value(9), 1.0);
  EXPECT_EQ(s.value(10), 0.2);
}

TEST(Schedule, MomentumWarmupModdedNanogptDefaults) {
  MomentumWarmup s;
  EXPECT_EQ(s.start(), 0.85);
  EXPECT_EQ(s.end(), 0.95);
  EXPECT_EQ(s.steps(), 300);
  EXPECT_EQ(s.value(0), 0.85);
  for (int64_t t : {1, 100, 150, 299}) {
    const double frac = t / 300.0;
    EXPECT_DOUBLE_EQ(s.value(t), (1 - frac) * 0.85 + frac * 0.95) << t;
  }
  EXPECT_DOUBLE_EQ(s.value(150), 0.90);
  EXPECT_EQ(s.value(300), 0.95);
  EXPECT_EQ(s.value(10000), 0.95);
  for (int64_t t = 0; t < 310; ++t) EXPECT_LE(s.value(t), s.value(t + 1));
  EXPECT_EQ(MomentumWarmup(0.5, 0.9, 0).value(0), 0.9);
}

TEST(Schedule, ValidationNamesTheOption) {
  expect_error([] { ConstantSchedule(-1); }, {"constant", "value", "-1"});
  expect_error([] { ConstantSchedule(NAN); }, {"value"});
  expect_error([] { WarmupCosineSchedule(-1, 10); }, {"warmup_cosine", "warmup", "-1"});
  expect_error([] { WarmupCosineSchedule(0, 0); }, {"total", "0"});
  expect_error([] { WarmupCosineSchedule(20, 10); }, {"warmup", "20"});
  expect_error([] { WarmupCosineSchedule(1, 10, 2.0); }, {"min", "2"});
  expect_error([] { WarmupCosineSchedule(1, 10, -0.5); }, {"min", "-0.5"});
  expect_error([] { WarmupCosineSchedule(1, 10, 0, INFINITY); }, {"peak", "inf"});
  expect_error([] { WarmupCosineSchedule(1, 10, 0, 1, 3); }, {"init", "3"});
  expect_error([] { WarmupStableDecaySchedule(0, 10, -2); }, {"wsd", "decay", "-2"});
  expect_error([] { WarmupStableDecaySchedule(5, 10, 6); }, {"total", "10"});
  expect_error([] { WarmupStableDecaySchedule(-5, 10, 1); }, {"warmup", "-5"});
  expect_error([] { WarmupStableDecaySchedule(0, 10, 1, DecayShape::linear, 5); }, {"min", "5"});
  expect_error([] { MomentumWarmup(1.5); }, {"momentum_warmup", "start", "1.5"});
  expect_error([] { MomentumWarmup(0.8, -0.1); }, {"end", "-0.1"});
  expect_error([] { MomentumWarmup(0.8, 0.9, -3); }, {"steps", "-3"});
  expect_error([] { WarmupCosineSchedule(1, 10).value(-1); }, {"step", "-1"});
}

// ------------------------------------------------------------------------------------------
// Text factory

TEST(ScheduleFactory, ParsesAndRoundTrips) {
  const std::vector<std::string> specs = {
      "constant",
      "constant:value=0.5",
      "warmup_cosine:warmup=100,total=1000,min=0.1",
      "warmup_cosine:total=50",
      "warmup_cosine: warmup = 3 , total=7, peak=2.5, init=0.1, min=0.3",
      "wsd:warmup=10,total=100,decay=20",
      "wsd:warmup=10,total=100,decay=20,shape=cosine,min=0.01",
      "wsd:total=100,decay=30,shape=1-sqrt",
      "momentum_warmup",
      "momentum_warmup:start=0.85,end=0.95,steps=300",
      "momentum_warmup:start=0.1,end=0.7,steps=3"};
  for (const auto& text : specs) {
    SCOPED_TRACE(text);
    auto s = specopt::make_schedule(text);
    auto again = specopt::make_schedule(s->spec());
    EXPECT_EQ(again->spec(), s->spec());
    EXPECT_EQ(again->name(), s->name());
    for (int64_t t = 0; t < 1200; t += 7) EXPECT_EQ(again->value(t), s->value(t)) << t;
    auto copy = s->clone();
    EXPECT_EQ(copy->spec(), s->spec());
  }
  EXPECT_EQ(specopt::make_schedule("constant")->spec(), "constant:value=1");
  EXPECT_EQ(specopt::make_schedule("warmup_cosine:warmup=100,total=1000,min=0.1")->spec(),
            "warmup_cosine:warmup=100,total=1000,min=0.1,peak=1,init=0");
  EXPECT_EQ(specopt::make_schedule("wsd:total=100,decay=30,shape=1-sqrt")->spec(),
            "wsd:warmup=0,total=100,decay=30,shape=sqrt,min=0,peak=1,init=0");
  EXPECT_EQ(specopt::make_schedule("momentum_warmup")->spec(),
            "momentum_warmup:start=0.85,end=0.95,steps=300");
  // Values equal the directly constructed schedule's.
  auto parsed = specopt::make_schedule("warmup_cosine:warmup=100,total=1000,min=0.1");
  WarmupCosineSchedule direct(100, 1000, 0.1);
  for (int64_t t = 0; t < 1100; ++t) EXPECT_EQ(parsed->value(t), direct.value(t));
  // Awkward doubles survive the round trip exactly.
  ConstantSchedule odd(1.0 / 3.0);
  EXPECT_EQ(specopt::make_schedule(odd.spec())->value(0), 1.0 / 3.0);
  const auto names = specopt::schedule_names();
  for (const auto& n : names) {
    if (n == "warmup_cosine") continue;  // needs total
    if (n == "wsd") continue;            // needs total, decay
    EXPECT_EQ(specopt::make_schedule(n)->name(), n);
  }
}

TEST(ScheduleFactory, RejectsBadSpecs) {
  expect_error([] { specopt::make_schedule("cosine"); },
               {"Unknown schedule 'cosine'", "warmup_cosine", "wsd", "momentum_warmup"});
  expect_error([] { specopt::make_schedule(""); }, {"Empty schedule name"});
  expect_error([] { specopt::make_schedule("constant:"); }, {"nothing after ':'"});
  expect_error([] { specopt::make_schedule("warmup_cosine:warmup=1,total=10,floor=0.1"); },
               {"warmup_cosine", "unknown option 'floor'", "min"});
  expect_error([] { specopt::make_schedule("warmup_cosine:warmup=1"); },
               {"warmup_cosine", "missing required option 'total'"});
  expect_error([] { specopt::make_schedule("wsd:total=10"); }, {"wsd", "'decay'"});
  expect_error([] { specopt::make_schedule("warmup_cosine:total=10,total=20"); },
               {"'total' given twice"});
  expect_error([] { specopt::make_schedule("warmup_cosine:total=ten"); },
               {"total", "'ten'", "integer"});
  expect_error([] { specopt::make_schedule("warmup_cosine:total=10.5"); }, {"total", "10.5"});
  expect_error([] { specopt::make_schedule("constant:value=abc"); }, {"value", "'abc'"});
  expect_error([] { specopt::make_schedule("constant:value=inf"); }, {"constant", "invalid value: inf"});
  expect_error([] { specopt::make_schedule("constant:value"); }, {"malformed option 'value'"});
  expect_error([] { specopt::make_schedule("constant:value="); }, {"empty value", "'value'"});
  expect_error([] { specopt::make_schedule("wsd:total=10,decay=2,shape=exp"); },
               {"wsd", "shape", "'exp'", "linear, cosine, sqrt"});
  expect_error([] { specopt::make_schedule("momentum_warmup:start=2"); }, {"start", "2"});
  expect_error([] { specopt::make_schedule("momentum_warmup:beta=0.9"); },
               {"unknown option 'beta'", "start, end, steps"});
}

// ------------------------------------------------------------------------------------------
// LrScheduler

TEST(LrScheduler, SetsBaseTimesScheduleAndKeepsGroupRatio) {
  TwoGroupSgd m;
  WarmupCosineSchedule sched(5, 30, 0.1);
  LrScheduler s(m.opt, sched);
  ASSERT_EQ(s.base_lrs().size(), 2u);
  EXPECT_EQ(s.base_lrs()[0], 0.1);
  EXPECT_EQ(s.base_lrs()[1], 0.01);
  EXPECT_EQ(s.position(), 0);
  EXPECT_EQ(m.lr(0), 0.0);  // value(0) applied at construction
  for (int64_t k = 0; k < 40; ++k) {
    EXPECT_EQ(s.position(), k);
    EXPECT_EQ(m.lr(0), 0.1 * sched.value(k)) << k;
    EXPECT_EQ(m.lr(1), 0.01 * sched.value(k)) << k;
    if (sched.value(k) > 0) {
      EXPECT_NEAR(m.lr(0) / m.lr(1), 10.0, 1e-12) << k;
    }
    EXPECT_EQ(s.current_value(), sched.value(k));
    // The optimizer really steps with the scheduled lr.
    m.a.mutable_grad() = torch::ones_like(m.a);
    m.b.mutable_grad() = torch::ones_like(m.b);
    const auto a0 = m.a.detach().clone();
    const auto b0 = m.b.detach().clone();
    m.opt.step();
    EXPECT_NEAR((a0 - m.a.detach()).max().item<double>(), 0.1 * sched.value(k), 1e-7) << k;
    EXPECT_NEAR((b0 - m.b.detach()).max().item<double>(), 0.01 * sched.value(k), 1e-7) << k;
    s.step();
  }
}

TEST(LrScheduler, PositionSaveRestoreGivesIdenticalLrs) {
  auto sched = specopt::make_schedule("wsd:warmup=4,total=60,decay=20,shape=sqrt,min=0.05");
  TwoGroupSgd first;
  LrScheduler a(first.opt, *sched);
  for (int i = 0; i < 37; ++i) a.step();
  const int64_t saved_position = a.position();
  const auto saved_base = a.base_lrs();
  EXPECT_EQ(saved_position, 37);

  // A fresh process: its optimizer starts from other lrs (as after torch::load, which drops
  // group options); the saved base lrs and position are put back.
  TwoGroupSgd second;
  second.opt.param_groups()[0].options().set_lr(0.7);
  second.opt.param_groups()[1].options().set_lr(0.7);
  LrScheduler b(second.opt, sched->clone());
  b.set_base_lrs(saved_base);
  b.set_position(saved_position);
  EXPECT_EQ(b.position(), 37);
  EXPECT_EQ(second.lr(0), first.lr(0));
  EXPECT_EQ(second.lr(1), first.lr(1));
  for (int i = 0; i < 40; ++i) {
    a.step();
    b.step();
    EXPECT_EQ(a.position(), b.position());
    EXPECT_EQ(second.lr(0), first.lr(0)) << i;
    EXPECT_EQ(second.lr(1), first.lr(1)) << i;
  }
  // Going back works too.
  a.set_position(3);
  EXPECT_EQ(first.lr(0), 0.1 * sched->value(3));
}

TEST(LrScheduler, ValidatesInputs) {
  TwoGroupSgd m;
  LrScheduler s(m.opt, ConstantSchedule(0.5));
  expect_error([&] { s.set_position(-2); }, {"position", "-2"});
  expect_error([&] { s.set_base_lrs({0.1}); }, {"base_lrs", "1 values for 2 param groups"});
  expect_error([&] { s.set_base_lrs({0.1, -1.0}); }, {"base_lrs[1]", "-1"});
  expect_error([&] { LrScheduler(m.opt, std::unique_ptr<Schedule>()); }, {"schedule is null"});
  // A group added after construction is reported, and set_base_lrs takes it in.
  auto c = torch::zeros({1}).requires_grad_(true);
  m.opt.add_param_group(
      torch::optim::OptimizerParamGroup({c}, std::make_unique<torch::optim::SGDOptions>(0.2)));
  expect_error([&] { s.step(); }, {"3 param groups", "set_base_lrs"});
  s.set_base_lrs({0.1, 0.01, 0.2});
  s.step();
  EXPECT_EQ(m.lr(2), 0.2 * 0.5);
}

TEST(LrScheduler, StepLRWorksAfterOurSchedulerIsDestroyed) {
  TwoGroupSgd m;
  {
    LrScheduler s(m.opt, ConstantSchedule(0.5));
    s.step();
  }
  EXPECT_EQ(m.lr(0), 0.05);
  EXPECT_EQ(m.lr(1), 0.005);

  // Reference: StepLR on an optimizer that starts from those lrs without ever seeing ours.
  TwoGroupSgd ref;
  ref.opt.param_groups()[0].options().set_lr(0.05);
  ref.opt.param_groups()[1].options().set_lr(0.005);

  torch::optim::StepLR ours_then_steplr(m.opt, 2, 0.1);
  torch::optim::StepLR steplr_only(ref.opt, 2, 0.1);
  bool decayed = false;
  for (int i = 0; i < 6; ++i) {
    ours_then_steplr.step();
    steplr_only.step();
    EXPECT_EQ(m.lr(0), ref.lr(0)) << i;
    EXPECT_EQ(m.lr(1), ref.lr(1)) << i;
    decayed = decayed || m.lr(0) < 0.05;
  }
  EXPECT_TRUE(decayed);  // StepLR really drove the lrs
  EXPECT_NEAR(m.lr(0) / m.lr(1), 10.0, 1e-12);

  // And the other way: after StepLR, a new LrScheduler takes the current lrs as its base.
  LrScheduler again(m.opt, ConstantSchedule(2.0));
  EXPECT_EQ(again.base_lrs()[0], ref.lr(0));
  EXPECT_EQ(m.lr(0), 2.0 * ref.lr(0));
}

// ------------------------------------------------------------------------------------------
// MomentumScheduler

TEST(MomentumScheduler, DrivesSgdMomentumThroughSetter) {
  TwoGroupSgd m;
  MomentumWarmup sched(0.85, 0.95, 10);
  MomentumScheduler s(m.opt, sched, specopt::momentum_setter<torch::optim::SGDOptions>());
  for (int64_t k = 0; k < 15; ++k) {
    EXPECT_EQ(s.position(), k);
    EXPECT_EQ(m.momentum(0), sched.value(k)) << k;
    EXPECT_EQ(m.momentum(1), sched.value(k)) << k;
    EXPECT_EQ(m.lr(0), 0.1);  // lrs untouched
    EXPECT_EQ(m.lr(1), 0.01);
    s.step();
  }
  EXPECT_EQ(m.momentum(0), 0.95);
  s.set_position(5);
  EXPECT_EQ(m.momentum(1), sched.value(5));

  // SGD uses it: second step of heavy ball with constant grad g: buf = mu*g + g.
  TwoGroupSgd h;
  MomentumScheduler hs(h.opt, ConstantSchedule(0.5),
                       specopt::momentum_setter<torch::optim::SGDOptions>());
  for (int i = 0; i < 2; ++i) {
    h.a.mutable_grad() = torch::ones_like(h.a);
    h.b.mutable_grad() = torch::ones_like(h.b);
    h.opt.step();
  }
  EXPECT_NEAR(h.a.detach()[0].item<double>(), -(0.1 * 1.0 + 0.1 * 1.5), 1e-7);
}

TEST(MomentumScheduler, RestoreAndGroupsSubsetAndCustomSetter) {
  TwoGroupSgd m;
  auto sched = specopt::make_schedule("momentum_warmup");
  MomentumScheduler only_second(m.opt, *sched,
                                specopt::momentum_setter<torch::optim::SGDOptions>(), {1});
  for (int i = 0; i < 120; ++i) only_second.step();
  EXPECT_EQ(m.momentum(0), 0.0);
  EXPECT_EQ(m.momentum(1), sched->value(120));

  TwoGroupSgd n;
  std::vector<double> seen;
  MomentumScheduler restored(n.opt, sched->clone(),
                             [&seen](torch::optim::OptimizerOptions& o, double v) {
                               seen.push_back(v);
                               static_cast<torch::optim::SGDOptions&>(o).momentum(v);
                             });
  restored.set_position(only_second.position());
  EXPECT_EQ(n.momentum(1), m.momentum(1));
  EXPECT_EQ(n.momentum(0), m.momentum(1));
  EXPECT_EQ(seen.back(), sched->value(120));
  for (int i = 0; i < 200; ++i) {
    only_second.step();
    restored.step();
    EXPECT_EQ(n.momentum(1), m.momentum(1)) << i;
  }
  EXPECT_EQ(n.momentum(1), 0.95);
}

TEST(MomentumScheduler, ValidationAndSetterTypeChecks) {
  TwoGroupSgd m;
  auto setter = specopt::momentum_setter<torch::optim::SGDOptions>();
  expect_error([&] { MomentumScheduler(m.opt, MomentumWarmup(), {}); }, {"setter is empty"});
  expect_error([&] { MomentumScheduler(m.opt, MomentumWarmup(), setter, {2}); },
               {"groups entry: 2", "2 param groups"});
  MomentumScheduler s(m.opt, MomentumWarmup(), setter);
  expect_error([&] { s.set_position(-1); }, {"position", "-1"});

  torch::optim::AdamOptions adam(1e-3);
  expect_error([&] { setter(adam, 0.9); }, {"momentum_setter", "expected type"});
  auto lenient = specopt::momentum_setter<torch::optim::SGDOptions>(/*skip_other_types=*/true);
  lenient(adam, 0.9);  // no-op
  EXPECT_EQ(std::get<0>(adam.betas()), 0.9);  // Adam's default beta1, untouched
}

TEST(MomentumScheduler, RunsAlongsideStepLR) {
  TwoGroupSgd m;
  MomentumScheduler mom(m.opt, MomentumWarmup(0.5, 0.9, 4),
                        specopt::momentum_setter<torch::optim::SGDOptions>());
  TwoGroupSgd ref;
  torch::optim::StepLR lr(m.opt, 1, 0.5);
  torch::optim::StepLR lr_ref(ref.opt, 1, 0.5);
  for (int i = 0; i < 6; ++i) {
    mom.step();
    lr.step();
    lr_ref.step();
    EXPECT_EQ(m.lr(0), ref.lr(0)) << i;
    EXPECT_EQ(m.momentum(0), MomentumWarmup(0.5, 0.9, 4).value(i + 1)) << i;
  }
  EXPECT_LT(m.lr(0), 0.1);
}

}  // namespace
