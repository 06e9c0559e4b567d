#pragma once
// Learning-rate and momentum schedules, and the drivers that apply them to a LibTorch optimizer.
//
// A Schedule is a pure function of the step: value(step) ≥ 0, with no hidden state, so a run is
// resumed by restoring one integer (the driver's position). Four shapes:
//
//   ConstantSchedule          value(s) = value
//   WarmupCosineSchedule      linear init → peak over [0, W], cosine peak → min over [W, T],
//                             min for s ≥ T
//   WarmupStableDecaySchedule linear init → peak over [0, W], peak over [W, T − D],
//                             peak → min over [T − D, T] (linear | cosine | sqrt = 1 − √p),
//                             min for s ≥ T
//   MomentumWarmup            (1 − f)·start + f·end, f = min(s / steps, 1): modded-nanogpt's Muon
//                             momentum warmup, 0.85 → 0.95 over 300 steps by default
//
// Text specs (make_schedule), every key optional unless marked required:
//
//   constant                  constant:value=0.5
//   warmup_cosine:warmup=100,total=1000,min=0.1,peak=1,init=0        (total required)
//   wsd:warmup=100,total=1000,decay=200,min=0,peak=1,init=0,shape=sqrt
//                                      (total and decay required; shape linear|cosine|sqrt)
//   momentum_warmup:start=0.85,end=0.95,steps=300
//
// Errors (TORCH_CHECK → c10::Error) name the schedule and the offending option and value: unknown
// schedule names (listing the known ones), unknown or repeated keys, missing required keys,
// malformed or out-of-range values. Schedule::spec() gives the canonical text of a schedule, and
// make_schedule(s.spec()) rebuilds an equal one (bit-identical values).
//
// Drivers. LrScheduler sets every param group's lr to base_lr(group) × schedule.value(position)
// (multiplicative, so per-group base lrs keep their ratios); the base lrs are the groups'
// get_lr() at construction. MomentumScheduler sets each group's momentum to
// schedule.value(position) (absolute) through a setter callback, since momentum options are
// optimizer-specific. Both follow PyTorch's LambdaLR convention:
//
//   LrScheduler sched(opt, WarmupCosineSchedule(100, 1000));   // applies value(0) now
//   for (...) { loss.backward(); opt.step(); sched.step(); }    // step(): position += 1, apply
//
// so the k-th optimizer step (k = 0, 1, ...) runs with value(k).
//
// Checkpoints: save position() (and, for LrScheduler, base_lrs()); after loading, construct the
// driver, then set_base_lrs(...) and set_position(...), which re-applies the value, so the options
// LibTorch's loader drops or resets are put back as well.
//
// LibTorch's own schedulers (torch::optim::StepLR, ...) multiply the lr currently in the options,
// while LrScheduler overwrites it from its base lrs on every step: use ONE lr driver on an
// optimizer at a time. Neither driver keeps anything inside the optimizer, so once an LrScheduler
// is destroyed, StepLR works on the same optimizer from the lrs it left; MomentumScheduler never
// touches lrs and can run alongside StepLR. The drivers hold a reference to the optimizer, which
// must outlive them.
#include <torch/optim/optimizer.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace specopt {

class Schedule {
 public:
  virtual ~Schedule() = default;
  // The value at step ≥ 0 (a negative step raises).
  virtual double value(int64_t step) const = 0;
  // The registry name: "constant", "warmup_cosine", "wsd", "momentum_warmup".
  virtual std::string name() const = 0;
  // Canonical text with every option: make_schedule(spec()) rebuilds an equal schedule.
  virtual std::string spec() const = 0;
  virtual std::unique_ptr<Schedule> clone() const = 0;
};

class ConstantSchedule : public Schedule {
 public:
  explicit ConstantSchedule(double value = 1.0);
  double value(int64_t step) const override;
  std::string name() const override { return "constant"; }
  std::string spec() const override;
  std::unique_ptr<Schedule> clone() const override;

  double constant() const { return value_; }

 private:
  double value_;
};

// warmup W ≥ 0, total T ≥ max(W, 1), 0 ≤ min ≤ peak, 0 ≤ init ≤ peak (all finite).
class WarmupCosineSchedule : public Schedule {
 public:
  WarmupCosineSchedule(int64_t warmup, int64_t total, double min_value = 0.0, double peak = 1.0,
                       double warmup_init = 0.0);
  double value(int64_t step) const override;
  std::string name() const override { return "warmup_cosine"; }
  std::string spec() const override;
  std::unique_ptr<Schedule> clone() const override;

  int64_t warmup() const { return warmup_; }
  int64_t total() const { return total_; }
  double min_value() const { return min_; }
  double peak() const { return peak_; }
  double warmup_init() const { return init_; }

 private:
  int64_t warmup_, total_;
  double min_, peak_, init_;
};

enum class DecayShape { linear, cosine, sqrt };
std::string to_string(DecayShape shape);
DecayShape parse_decay_shape(const std::string& text);  // "linear" | "cosine" | "sqrt"

// warmup W ≥ 0, decay D ≥ 0, total T ≥ 1 with W + D ≤ T, 0 ≤ min ≤ peak, 0 ≤ init ≤ peak.
// Decay progress p = (s − (T − D)) / D: linear peak − (peak − min)·p, cosine
// min + (peak − min)·(1 + cos πp)/2, sqrt min + (peak − min)·(1 − √p).
class WarmupStableDecaySchedule : public Schedule {
 public:
  WarmupStableDecaySchedule(int64_t warmup, int64_t total, int64_t decay,
                            DecayShape shape = DecayShape::linear, double min_value = 0.0,
                            double peak = 1.0, double warmup_init = 0.0);
  double value(int64_t step) const override;
  std::string name() const override { return "wsd"; }
  std::string spec() const override;
  std::unique_ptr<Schedule> clone() const override;

  int64_t warmup() const { return warmup_; }
  int64_t total() const { return total_; }
  int64_t decay() const { return decay_; }
  DecayShape shape() const { return shape_; }
  double min_value() const { return min_; }
  double peak() const { return peak_; }
  double warmup_init() const { return init_; }

 private:
  int64_t warmup_, total_, decay_;
  DecayShape shape_;
  double min_, peak_, init_;
};

// start, end in [0, 1], steps ≥ 0 (0: end from step 0).
class MomentumWarmup : public Schedule {
 public:
  explicit MomentumWarmup(double start = 0.85, double end = 0.95, int64_t steps = 300);
  double value(int64_t step) const override;
  std::string name() const override { return "momentum_warmup"; }
  std::string spec() const override;
  std::unique_ptr<Schedule> clone() const override;

  double start() const { return start_; }
  double end() const { return end_; }
  int64_t steps() const { return steps_; }

 private:
  double start_, end_;
  int64_t steps_;
};

std::unique_ptr<Schedule> make_schedule(const std::string& spec);
std::vector<std::string> schedule_names();

// lr(group) = base_lr(group) × schedule.value(position). See the top of this file.
class LrScheduler {
 public:
  LrScheduler(torch::optim::Optimizer& optimizer, const Schedule& schedule);
  LrScheduler(torch::optim::Optimizer& optimizer, std::unique_ptr<Schedule> schedule);

  // position += 1, then apply value(position).
  void step();
  int64_t position() const { return position_; }
  // Moves to `position` (≥ 0) and applies value(position) to every group.
  void set_position(int64_t position);

  const std::vector<double>& base_lrs() const { return base_lrs_; }
  // One finite, non-negative lr per param group; re-applies the current value.
  void set_base_lrs(std::vector<double> base_lrs);

  const Schedule& schedule() const { return *schedule_; }
  double current_value() const { return schedule_->value(position_); }

 private:
  void apply();

  torch::optim::Optimizer& optimizer_;
  std::unique_ptr<Schedule> schedule_;
  std::vector<double> base_lrs_;
  int64_t position_ = 0;
};

using MomentumSetter = std::function<void(torch::optim::OptimizerOptions&, double)>;

// A setter for option types with a TORCH_ARG(double, momentum), e.g.
// momentum_setter<torch::optim::SGDOptions>(). Groups whose options are of another type raise,
// or are left alone with skip_other_types (hybrid optimizers whose AdamW groups have no momentum).
template <class Options>
MomentumSetter momentum_setter(bool skip_other_types = false) {
  return [skip_other_types](torch::optim::OptimizerOptions& options, double momentum) {
    auto* typed = dynamic_cast<Options*>(&options);
    if (typed == nullptr) {
      TORCH_CHECK(skip_other_types,
                  "momentum_setter: a param group's options are not of the expected type");
      return;
    }
    typed->momentum(momentum);
  };
}

// momentum(group) = schedule.value(position), written by `setter` into every group's options
// (or only the groups listed in `groups`). Same step()/position convention as LrScheduler.
class MomentumScheduler {
 public:
  MomentumScheduler(torch::optim::Optimizer& optimizer, const Schedule& schedule,
                    MomentumSetter setter, std::vector<size_t> groups = {});
  MomentumScheduler(torch::optim::Optimizer& optimizer, std::unique_ptr<Schedule> schedule,
                    MomentumSetter setter, std::vector<size_t> groups = {});

  void step();
  int64_t position() const { return position_; }
  void set_position(int64_t position);

  const Schedule& schedule() const { return *schedule_; }
  double current_value() const { return schedule_->value(position_); }

 private:
  void apply();

  torch::optim::Optimizer& optimizer_;
  std::unique_ptr<Schedule> schedule_;
  MomentumSetter setter_;
  std::vector<size_t> groups_;
  int64_t position_ = 0;
};

}  // namespace specopt
