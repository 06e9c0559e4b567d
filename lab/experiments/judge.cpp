#include "lab/experiments/judge.h"

#include <algorithm>
#include <cmath>

#include "lab/experiments/verdicts.h"

namespace specopt {
namespace lab {

Verdict verdict_of(int holding, int of) {
  if (of > 0 && holding == of) return Verdict::reproduced;
  return holding > 0 ? Verdict::partial : Verdict::not_reproduced;
}

double loglog_slope(const std::vector<CountAtKappa>& counts) {
  std::vector<double> xs, ys;
  for (const auto& c : counts) {
    if (!c.reached || !(c.kappa > 0)) continue;
    xs.push_back(std::log(c.kappa));
    ys.push_back(std::log(std::max(c.iterations, 1.0)));
  }
  const double n = static_cast<double>(xs.size());
  if (xs.size() < 2) return std::numeric_limits<double>::quiet_NaN();
  double mx = 0, my = 0;
  for (size_t i = 0; i < xs.size(); ++i) mx += xs[i] / n, my += ys[i] / n;
  double sxy = 0, sxx = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    sxy += (xs[i] - mx) * (ys[i] - my);
    sxx += (xs[i] - mx) * (xs[i] - mx);
  }
  return sxx > 0 ? sxy / sxx : std::numeric_limits<double>::quiet_NaN();
}

namespace {
std::pair<const CountAtKappa*, const CountAtKappa*> ends(const std::vector<CountAtKappa>& counts) {
  const CountAtKappa *lo = nullptr, *hi = nullptr;
  for (const auto& c : counts) {
    if (!lo || c.kappa < lo->kappa) lo = &c;
    if (!hi || c.kappa > hi->kappa) hi = &c;
  }
  return {lo, hi};
}
}  // namespace

FlatJudgement judge_flat(const std::vector<CountAtKappa>& counts, double max_slope) {
  FlatJudgement j;
  double mn = std::numeric_limits<double>::infinity(), mx = 0;
  bool all = !counts.empty();
  for (const auto& c : counts) {
    all = all && c.reached;
    mn = std::min(mn, std::max(c.iterations, 1.0));
    mx = std::max(mx, std::max(c.iterations, 1.0));
  }
  if (!counts.empty()) j.max_over_min = mx / mn;
  j.slope = loglog_slope(counts);
  if (!all) {
    j.why = "a run did not reach the tolerance";
  } else if (!(std::abs(j.slope) <= max_slope)) {
    j.why = std::isfinite(j.slope) ? "log-log slope " + fmt_num(j.slope) + " is outside ±" + fmt_num(max_slope)
                                   : "fewer than two κ: no slope";
  } else {
    j.ok = true;
  }
  return j;
}

GrowthJudgement judge_growth(const std::vector<CountAtKappa>& counts, double exponent,
                             double max_exponent) {
  GrowthJudgement j;
  const auto [lo, hi] = ends(counts);
  if (!lo || lo == hi || !(hi->kappa > lo->kappa)) {
    j.why = "fewer than two κ";
    return j;
  }
  j.kappa_lo = lo->kappa;
  j.kappa_hi = hi->kappa;
  const double range = hi->kappa / lo->kappa;
  j.threshold = std::pow(range, exponent);
  j.ceiling = std::pow(range, max_exponent);
  j.growth = hi->iterations / std::max(lo->iterations, 1.0);
  j.bound = !lo->reached ? "unknown" : (hi->reached ? "exact" : "lower");
  if (j.bound == "unknown") {
    j.why = "the run at κ = " + fmt_num(lo->kappa) + " did not reach the tolerance";
  } else if (!(j.growth >= j.threshold)) {
    j.why = "growth " + fmt_num(j.growth) + "× is below " + fmt_num(j.threshold) + "×";
  } else if (j.bound == "exact" && j.growth > j.ceiling) {
    j.why = "growth " + fmt_num(j.growth) + "× is above " + fmt_num(j.ceiling) + "×";
  } else {
    j.ok = true;
  }
  return j;
}

BallJudgement judge_enters_ball(const std::vector<double>& ratio, const std::vector<double>& bound) {
  BallJudgement j;
  j.worst_excess = -std::numeric_limits<double>::infinity();
  const size_t n = std::min(ratio.size(), bound.size());
  bool finite = n > 0;
  for (size_t t = 0; t < n; ++t) {
    const double r = ratio[t];
    finite = finite && std::isfinite(r);
    j.worst_excess = std::max(j.worst_excess, (r - bound[t]) / bound[t]);
    if (j.first_inside < 0 && r <= 1 + 1e-9) j.first_inside = static_cast<int64_t>(t);
    if (j.first_within < 0 && r <= 1 + 1e-3) j.first_within = static_cast<int64_t>(t);
    if (j.first_inside >= 0) j.max_after_entry = std::max(j.max_after_entry, r);
  }
  j.final_ratio = n > 0 ? ratio[n - 1] : std::numeric_limits<double>::quiet_NaN();
  j.ok = finite && j.worst_excess <= 1e-9 && j.first_within >= 0 && j.final_ratio <= 1 + 1e-3 &&
         (j.first_inside < 0 || j.max_after_entry <= 1 + 1e-9);
  return j;
}

bool judge_gap(double final_gap, double scale, double tol) {
  return std::isfinite(final_gap) && std::isfinite(scale) && std::abs(final_gap) <= tol * std::abs(scale);
}

bool judge_at_most(double value, double tol) { return std::isfinite(value) && value <= tol; }

bool judge_lyapunov(double max_relative_rise, double final_h, double tol) {
  return std::isfinite(final_h) && std::isfinite(max_relative_rise) && max_relative_rise <= tol;
}

Verdict judge_f_nonmonotone(const std::vector<int64_t>& f_rises, const std::vector<bool>& h_ok) {
  for (size_t i = 0; i < f_rises.size() && i < h_ok.size(); ++i)
    if (f_rises[i] > 0 && h_ok[i]) return Verdict::reproduced;
  return Verdict::not_reproduced;
}

SeedStats seed_stats(const std::vector<double>& losses) {
  SeedStats s;
  s.seeds = static_cast<int>(losses.size());
  if (losses.empty()) return s;
  double sum = 0, lo = losses[0], hi = losses[0];
  for (double v : losses) {
    sum += v;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  s.mean = sum / static_cast<double>(losses.size());
  s.spread = (hi - lo) / 2;
  return s;
}

bool judge_family_spread(double adam_family_spread, double momentum_family_spread) {
  return std::isfinite(adam_family_spread) && std::isfinite(momentum_family_spread) &&
         adam_family_spread <= 0.5 * momentum_family_spread;
}

bool judge_small_p(int divergences_p0, int divergences_p1, double excess_p0, double excess_p1) {
  return divergences_p0 <= divergences_p1 && std::isfinite(excess_p0) && std::isfinite(excess_p1) &&
         excess_p0 <= excess_p1;
}

bool muon_beats_adam(const SeedStats& muon, const SeedStats& adam) {
  if (!std::isfinite(muon.mean)) return false;
  if (!std::isfinite(adam.mean)) return true;  // Adam diverged at every lr
  return adam.mean - muon.mean > muon.spread + adam.spread;
}

Verdict judge_muon_vs_adam(const std::vector<bool>& muon_wins_by_task) {
  if (muon_wins_by_task.empty()) return Verdict::not_reproduced;
  const bool always = std::all_of(muon_wins_by_task.begin(), muon_wins_by_task.end(),
                                  [](bool w) { return w; });
  return always ? Verdict::not_reproduced : Verdict::reproduced;
}

Verdict judge_both(bool first, bool second) {
  return verdict_of(int(first) + int(second), 2);
}

bool within_factor(double measured, double published, double factor) {
  if (!(measured > 0) || !(published > 0)) return false;
  const double r = measured / published;
  return r >= 1 / factor && r <= factor;
}

bool jordan_band_applies(double kappa) { return kappa <= 100 || kappa == 1e4; }

bool jordan_band_ok(double kappa, double sigma_min, double sigma_max) {
  if (kappa <= 100) return sigma_min >= 0.5 && sigma_max <= 1.5;
  return sigma_max >= 1.0 && sigma_max <= 1.3 && sigma_min <= 0.5;
}

}  // namespace lab
}  // namespace specopt
