#include "specopt/optim/schedule.h"

#include "specopt/util/spec.h"

#include <c10/util/Exception.h>

#include <cmath>
#include <cstdio>
#include <utility>

namespace specopt {

namespace {

constexpr double kPi = 3.14159265358979323846;

// Shortest text that parses back to exactly `v`.
std::string fmt(double v) {
  char buf[40];
  for (int prec = 1; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof(buf), "%.*g", prec, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

void check_step(const char* name, int64_t step) {
  TORCH_CHECK(step >= 0, name, ": invalid step: ", step, " (must be >= 0)");
}

void check_finite_nonneg(const char* name, const char* key, double v) {
  TORCH_CHECK(std::isfinite(v) && v >= 0, name, ": invalid ", key, ": ", v,
              " (must be finite and >= 0)");
}

// Validates the warmup/min/peak/init options shared by the two warmup schedules.
void check_levels(const char* name, double min_value, double peak, double init) {
  check_finite_nonneg(name, "peak", peak);
  check_finite_nonneg(name, "min", min_value);
  check_finite_nonneg(name, "init", init);
  TORCH_CHECK(min_value <= peak, name, ": invalid min: ", min_value, " (must be <= peak = ", peak,
              ")");
  TORCH_CHECK(init <= peak, name, ": invalid init: ", init, " (must be <= peak = ", peak, ")");
}

// init → peak linearly over [0, W]; only called for step < W.
double warmup_value(int64_t step, int64_t warmup, double init, double peak) {
  return init + (peak - init) * (static_cast<double>(step) / static_cast<double>(warmup));
}

// peak → min as a half cosine, p in [0, 1].
double cosine_value(double p, double peak, double min_value) {
  return min_value + (peak - min_value) * 0.5 * (1.0 + std::cos(kPi * p));
}

std::vector<double> capture_base_lrs(const torch::optim::Optimizer& optimizer) {
  std::vector<double> out;
  for (const auto& group : optimizer.param_groups()) out.push_back(group.options().get_lr());
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// ConstantSchedule

ConstantSchedule::ConstantSchedule(double value) : value_(value) {
  check_finite_nonneg("constant", "value", value);
}

double ConstantSchedule::value(int64_t step) const {
  check_step("constant", step);
  return value_;
}

std::string ConstantSchedule::spec() const { return "constant:value=" + fmt(value_); }

std::unique_ptr<Schedule> ConstantSchedule::clone() const {
  return std::make_unique<ConstantSchedule>(*this);
}

// ---------------------------------------------------------------------------------------------
// WarmupCosineSchedule

WarmupCosineSchedule::WarmupCosineSchedule(int64_t warmup, int64_t total, double min_value,
                                           double peak, double warmup_init)
    : warmup_(warmup), total_(total), min_(min_value), peak_(peak), init_(warmup_init) {
  const char* n = "warmup_cosine";
  TORCH_CHECK(warmup >= 0, n, ": invalid warmup: ", warmup, " (must be >= 0)");
  TORCH_CHECK(total >= 1, n, ": invalid total: ", total, " (must be >= 1)");
  TORCH_CHECK(warmup <= total, n, ": invalid warmup: ", warmup, " (must be <= total = ", total,
              ")");
  check_levels(n, min_value, peak, warmup_init);
}

double WarmupCosineSchedule::value(int64_t step) const {
  check_step("warmup_cosine", step);
  if (step < warmup_) return warmup_value(step, warmup_, init_, peak_);
  if (step >= total_) return min_;
  const double p = static_cast<double>(step - warmup_) / static_cast<double>(total_ - warmup_);
  return cosine_value(p, peak_, min_);
}

std::string WarmupCosineSchedule::spec() const {
  return "warmup_cosine:warmup=" + std::to_string(warmup_) + ",total=" + std::to_string(total_) +
         ",min=" + fmt(min_) + ",peak=" + fmt(peak_) + ",init=" + fmt(init_);
}

std::unique_ptr<Schedule> WarmupCosineSchedule::clone() const {
  return std::make_unique<WarmupCosineSchedule>(*this);
}

// ---------------------------------------------------------------------------------------------
// WarmupStableDecaySchedule

std::string to_string(DecayShape shape) {
  switch (shape) {
    case DecayShape::linear: return "linear";
    case DecayShape::cosine: return "cosine";
    case DecayShape::sqrt: return "sqrt";
  }
  return "?";
}

DecayShape parse_decay_shape(const std::string& text) {
  if (text == "linear") return DecayShape::linear;
  if (text == "cosine") return DecayShape::cosine;
  if (text == "sqrt" || text == "1-sqrt") return DecayShape::sqrt;
  TORCH_CHECK(false, "Invalid shape: '", text, "' (known: linear, cosine, sqrt)");
}

WarmupStableDecaySchedule::WarmupStableDecaySchedule(int64_t warmup, int64_t total,
                                                     int64_t decay, DecayShape shape,
                                                     double min_value, double peak,
                                                     double warmup_init)
    : warmup_(warmup),
      total_(total),
      decay_(decay),
      shape_(shape),
      min_(min_value),
      peak_(peak),
      init_(warmup_init) {
  const char* n = "wsd";
  TORCH_CHECK(warmup >= 0, n, ": invalid warmup: ", warmup, " (must be >= 0)");
  TORCH_CHECK(decay >= 0, n, ": invalid decay: ", decay, " (must be >= 0)");
  TORCH_CHECK(total >= 1, n, ": invalid total: ", total, " (must be >= 1)");
  TORCH_CHECK(warmup <= total && decay <= total - warmup, n, ": invalid total: ", total,
              " (must be >= warmup + decay = ", warmup, " + ", decay, ")");
  TORCH_CHECK(shape == DecayShape::linear || shape == DecayShape::cosine ||
                  shape == DecayShape::sqrt,
              n, ": invalid shape: ", static_cast<int>(shape));
  check_levels(n, min_value, peak, warmup_init);
}

double WarmupStableDecaySchedule::value(int64_t step) const {
  check_step("wsd", step);
  if (step < warmup_) return warmup_value(step, warmup_, init_, peak_);
  if (step >= total_) return min_;
  const int64_t decay_start = total_ - decay_;
  if (step < decay_start) return peak_;
  const double p = static_cast<double>(step - decay_start) / static_cast<double>(decay_);
  switch (shape_) {
    case DecayShape::linear: return peak_ - (peak_ - min_) * p;
    case DecayShape::cosine: return cosine_value(p, peak_, min_);
    case DecayShape::sqrt: return min_ + (peak_ - min_) * (1.0 - std::sqrt(p));
  }
  return min_;
}

std::string WarmupStableDecaySchedule::spec() const {
  return "wsd:warmup=" + std::to_string(warmup_) + ",total=" + std::to_string(total_) +
         ",decay=" + std::to_string(decay_) + ",shape=" + to_string(shape_) + ",min=" + fmt(min_) +
         ",peak=" + fmt(peak_) + ",init=" + fmt(init_);
}

std::unique_ptr<Schedule> WarmupStableDecaySchedule::clone() const {
  return std::make_unique<WarmupStableDecaySchedule>(*this);
}

// ---------------------------------------------------------------------------------------------
// MomentumWarmup

MomentumWarmup::MomentumWarmup(double start, double end, int64_t steps)
    : start_(start), end_(end), steps_(steps) {
  const char* n = "momentum_warmup";
  TORCH_CHECK(std::isfinite(start) && start >= 0 && start <= 1, n, ": invalid start: ", start,
              " (must be in [0, 1])");
  TORCH_CHECK(std::isfinite(end) && end >= 0 && end <= 1, n, ": invalid end: ", end,
              " (must be in [0, 1])");
  TORCH_CHECK(steps >= 0, n, ": invalid steps: ", steps, " (must be >= 0)");
}

double MomentumWarmup::value(int64_t step) const {
  check_step("momentum_warmup", step);
  if (step >= steps_) return end_;
  const double frac = static_cast<double>(step) / static_cast<double>(steps_);
  return (1.0 - frac) * start_ + frac * end_;
}

std::string MomentumWarmup::spec() const {
  return "momentum_warmup:start=" + fmt(start_) + ",end=" + fmt(end_) +
         ",steps=" + std::to_string(steps_);
}

std::unique_ptr<Schedule> MomentumWarmup::clone() const {
  return std::make_unique<MomentumWarmup>(*this);
}

// ---------------------------------------------------------------------------------------------
// Registry

std::vector<std::string> schedule_names() {
  return {"constant", "warmup_cosine", "wsd", "momentum_warmup"};
}

std::unique_ptr<Schedule> make_schedule(const std::string& spec) {
  const auto parts = split_spec(spec, "schedule", schedule_names());
  const auto& name = parts.name;
  const auto& rest = parts.params;
  auto params = [&](std::vector<std::string> known) {
    return SpecParams(name, rest, std::move(known), "option");
  };

  if (name == "constant") {
    auto p = params({"value"});
    return std::make_unique<ConstantSchedule>(p.number_or("value", 1.0));
  }
  if (name == "warmup_cosine") {
    auto p = params({"warmup", "total", "min", "peak", "init"});
    return std::make_unique<WarmupCosineSchedule>(p.integer_or("warmup", 0), p.integer("total"),
                                                  p.number_or("min", 0.0), p.number_or("peak", 1.0),
                                                  p.number_or("init", 0.0));
  }
  if (name == "wsd") {
    auto p = params({"warmup", "total", "decay", "shape", "min", "peak", "init"});
    DecayShape shape = DecayShape::linear;
    if (p.has("shape")) {
      try {
        shape = parse_decay_shape(p.raw("shape"));
      } catch (const c10::Error& e) {
        TORCH_CHECK(false, name, ": ", e.what_without_backtrace());
      }
    }
    return std::make_unique<WarmupStableDecaySchedule>(
        p.integer_or("warmup", 0), p.integer("total"), p.integer("decay"), shape,
        p.number_or("min", 0.0), p.number_or("peak", 1.0), p.number_or("init", 0.0));
  }
  if (name == "momentum_warmup") {
    auto p = params({"start", "end", "steps"});
    return std::make_unique<MomentumWarmup>(p.number_or("start", 0.85), p.number_or("end", 0.95),
                                            p.integer_or("steps", 300));
  }
  TORCH_CHECK(false, "Unknown schedule '", name, "' (known: ", join_names(schedule_names()), ")");
}

// ---------------------------------------------------------------------------------------------
// LrScheduler

LrScheduler::LrScheduler(torch::optim::Optimizer& optimizer, const Schedule& schedule)
    : LrScheduler(optimizer, schedule.clone()) {}

LrScheduler::LrScheduler(torch::optim::Optimizer& optimizer, std::unique_ptr<Schedule> schedule)
    : optimizer_(optimizer), schedule_(std::move(schedule)) {
  TORCH_CHECK(schedule_ != nullptr, "LrScheduler: schedule is null");
  base_lrs_ = capture_base_lrs(optimizer_);
  apply();
}

void LrScheduler::step() {
  ++position_;
  apply();
}

void LrScheduler::set_position(int64_t position) {
  TORCH_CHECK(position >= 0, "LrScheduler: invalid position: ", position, " (must be >= 0)");
  position_ = position;
  apply();
}

void LrScheduler::set_base_lrs(std::vector<double> base_lrs) {
  TORCH_CHECK(base_lrs.size() == optimizer_.param_groups().size(),
              "LrScheduler: invalid base_lrs: ", base_lrs.size(), " values for ",
              optimizer_.param_groups().size(), " param groups");
  for (size_t i = 0; i < base_lrs.size(); ++i) {
    TORCH_CHECK(std::isfinite(base_lrs[i]) && base_lrs[i] >= 0,
                "LrScheduler: invalid base_lrs[", i, "]: ", base_lrs[i],
                " (must be finite and >= 0)");
  }
  base_lrs_ = std::move(base_lrs);
  apply();
}

void LrScheduler::apply() {
  auto& groups = optimizer_.param_groups();
  TORCH_CHECK(groups.size() == base_lrs_.size(), "LrScheduler: the optimizer has ", groups.size(),
              " param groups but the scheduler has base lrs for ", base_lrs_.size(),
              " (groups added after construction: call set_base_lrs)");
  const double v = schedule_->value(position_);
  for (size_t i = 0; i < groups.size(); ++i) groups[i].options().set_lr(base_lrs_[i] * v);
}

// ---------------------------------------------------------------------------------------------
// MomentumScheduler

MomentumScheduler::MomentumScheduler(torch::optim::Optimizer& optimizer, const Schedule& schedule,
                                     MomentumSetter setter, std::vector<size_t> groups)
    : MomentumScheduler(optimizer, schedule.clone(), std::move(setter), std::move(groups)) {}

MomentumScheduler::MomentumScheduler(torch::optim::Optimizer& optimizer,
                                     std::unique_ptr<Schedule> schedule, MomentumSetter setter,
                                     std::vector<size_t> groups)
    : optimizer_(optimizer),
      schedule_(std::move(schedule)),
      setter_(std::move(setter)),
      groups_(std::move(groups)) {
  TORCH_CHECK(schedule_ != nullptr, "MomentumScheduler: schedule is null");
  TORCH_CHECK(static_cast<bool>(setter_), "MomentumScheduler: setter is empty");
  const size_t n = optimizer_.param_groups().size();
  for (size_t g : groups_) {
    TORCH_CHECK(g < n, "MomentumScheduler: invalid groups entry: ", g, " (the optimizer has ", n,
                " param groups)");
  }
  apply();
}

void MomentumScheduler::step() {
  ++position_;
  apply();
}

void MomentumScheduler::set_position(int64_t position) {
  TORCH_CHECK(position >= 0, "MomentumScheduler: invalid position: ", position,
              " (must be >= 0)");
  position_ = position;
  apply();
}

void MomentumScheduler::apply() {
  auto& groups = optimizer_.param_groups();
  const double v = schedule_->value(position_);
  if (groups_.empty()) {
    for (auto& g : groups) setter_(g.options(), v);
    return;
  }
  for (size_t i : groups_) {
    TORCH_CHECK(i < groups.size(), "MomentumScheduler: group ", i, " no longer exists");
    setter_(groups[i].options(), v);
  }
}

}  // namespace specopt
