#include "specopt/optim/schedule.h"

#include <c10/util/Exception.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
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

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + v[i];
  return out;
}

// The key=value pairs of one spec, checked against the keys the schedule accepts.
class Params {
 public:
  Params(std::string sched, const std::string& text, const std::vector<std::string>& known)
      : sched_(std::move(sched)) {
    if (trim(text).empty()) return;
    size_t start = 0;
    while (true) {
      const auto comma = text.find(',', start);
      const auto item = trim(
          text.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
      const auto eq = item.find('=');
      TORCH_CHECK(eq != std::string::npos && eq > 0, sched_, ": malformed option '", item,
                  "' (expected key=value)");
      const auto key = trim(item.substr(0, eq));
      const auto value = trim(item.substr(eq + 1));
      bool ok = false;
      for (const auto& k : known) ok = ok || k == key;
      TORCH_CHECK(ok, sched_, ": unknown option '", key, "' (known: ", join(known), ")");
      TORCH_CHECK(!values_.count(key), sched_, ": option '", key, "' given twice");
      TORCH_CHECK(!value.empty(), sched_, ": empty value for option '", key, "'");
      values_[key] = value;
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }

  bool has(const std::string& key) const { return values_.count(key) > 0; }

  const std::string& raw(const std::string& key) const {
    auto it = values_.find(key);
    TORCH_CHECK(it != values_.end(), sched_, ": missing required option '", key, "'");
    return it->second;
  }

  double number(const std::string& key, double fallback) const {
    if (!has(key)) return fallback;
    const auto& s = raw(key);
    char* end = nullptr;
    errno = 0;
    const double v = std::strtod(s.c_str(), &end);
    TORCH_CHECK(end != s.c_str() && *end == '\0' && errno != ERANGE && std::isfinite(v), sched_,
                ": malformed value for ", key, ": '", s, "' (expected a finite number)");
    return v;
  }

  int64_t integer(const std::string& key) const {
    const auto& s = raw(key);
    char* end = nullptr;
    errno = 0;
    const long long v = std::strtoll(s.c_str(), &end, 10);
    TORCH_CHECK(end != s.c_str() && *end == '\0' && errno != ERANGE, sched_,
                ": malformed value for ", key, ": '", s, "' (expected an integer)");
    return static_cast<int64_t>(v);
  }

  int64_t integer(const std::string& key, int64_t fallback) const {
    return has(key) ? integer(key) : fallback;
  }

 private:
  std::string sched_;
  std::map<std::string, std::string> values_;
};

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
  const auto colon = spec.find(':');
  const auto name = trim(spec.substr(0, colon));
  const auto rest = colon == std::string::npos ? std::string() : spec.substr(colon + 1);
  TORCH_CHECK(!name.empty(), "Empty schedule name in '", spec, "' (known: ",
              join(schedule_names()), ")");
  TORCH_CHECK(colon == std::string::npos || !trim(rest).empty(), name,
              ": nothing after ':' in '", spec, "'");

  if (name == "constant") {
    Params p(name, rest, {"value"});
    return std::make_unique<ConstantSchedule>(p.number("value", 1.0));
  }
  if (name == "warmup_cosine") {
    Params p(name, rest, {"warmup", "total", "min", "peak", "init"});
    return std::make_unique<WarmupCosineSchedule>(p.integer("warmup", 0), p.integer("total"),
                                                  p.number("min", 0.0), p.number("peak", 1.0),
                                                  p.number("init", 0.0));
  }
  if (name == "wsd") {
    Params p(name, rest, {"warmup", "total", "decay", "shape", "min", "peak", "init"});
    DecayShape shape = DecayShape::linear;
    if (p.has("shape")) {
      try {
        shape = parse_decay_shape(p.raw("shape"));
      } catch (const c10::Error& e) {
        TORCH_CHECK(false, name, ": ", e.what_without_backtrace());
      }
    }
    return std::make_unique<WarmupStableDecaySchedule>(
        p.integer("warmup", 0), p.integer("total"), p.integer("decay"), shape,
        p.number("min", 0.0), p.number("peak", 1.0), p.number("init", 0.0));
  }
  if (name == "momentum_warmup") {
    Params p(name, rest, {"start", "end", "steps"});
    return std::make_unique<MomentumWarmup>(p.number("start", 0.85), p.number("end", 0.95),
                                            p.integer("steps", 300));
  }
  TORCH_CHECK(false, "Unknown schedule '", name, "' (known: ", join(schedule_names()), ")");
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
