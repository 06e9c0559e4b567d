#pragma once
// Every claim's verdict as a pure function of the measured numbers and the run's settings, so
// that each can be fed data that contradicts its claim (tests/lab/test_verdicts.cpp) and so
// that the thresholds follow the settings a user picks (κ grid, λ, sizes, seeds) instead of
// the defaults they were first written for. docs/algorithms.md states each claim.
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "lab/experiment.h"

namespace specopt {
namespace lab {

// `holding` of `of` cases hold: all → reproduced, some → partial, none (or no case) →
// not_reproduced.
Verdict verdict_of(int holding, int of);

// ---- Paper 2: iterations to a tolerance against the condition number κ -------------------

// The laws the claims test, as exponents of κ_max/κ_min (docs/algorithms.md, "Paper 2"):
// Spectral methods: |slope| ≤ 0.3. The published simplified-Muon counts themselves rise mildly
// (ICL 238 / 266 / 328 at κ = 3 / 10 / 30: slope 0.19 between 10 and 30) — the η₀ρᵗ schedule
// adds ~log κ steps — while GD's slope is 1 or 3.
constexpr double kFlatMaxSlope = 0.3;
constexpr double kLinearGrowthExponent = 0.8;  // factorization GD ~ κ: ≥ κ^0.8
constexpr double kCubicMinExponent = 2.5;      // ICL population GD ~ κ³: between κ^2.5 …
constexpr double kCubicMaxExponent = 3.5;      //                                … and κ^3.5
constexpr double kPromptsGrowthExponent = 2;   // ICL finite prompts GD: ≥ κ²
constexpr double kAdamGrowthExponent = 0.25;   // Adam depends on κ: ≥ κ^0.25

struct CountAtKappa {
  double kappa = 0;
  double iterations = 0;  // at the cap (a lower bound) when !reached
  bool reached = false;
};

// Least-squares slope of log(iterations) against log(κ) over the runs that reached the
// tolerance (NaN with fewer than two distinct κ).
double loglog_slope(const std::vector<CountAtKappa>& counts);

// "Flat in κ": every run reached the tolerance and the fitted log-log slope is within
// ±max_slope (iterations ∝ κ^slope). The slope does not depend on the grid's range, so a
// κ-linear method (slope 1) fails on any grid; a grid of one κ fails (no slope).
struct FlatJudgement {
  bool ok = false;
  double slope = std::numeric_limits<double>::quiet_NaN();
  double max_over_min = std::numeric_limits<double>::quiet_NaN();
  std::string why;  // when !ok
};
FlatJudgement judge_flat(const std::vector<CountAtKappa>& counts, double max_slope);

// "Grows at least like κ^exponent" between the ends of the grid:
// count(κ_max)/count(κ_min) ≥ (κ_max/κ_min)^exponent. A capped count at κ_max is a lower bound
// on the growth and can still show it; a capped count at κ_min leaves the growth unknown.
// With max_exponent finite, an exact growth above (κ_max/κ_min)^max_exponent also fails
// (e.g. "like κ³" is at most κ^3.5).
struct GrowthJudgement {
  bool ok = false;
  double kappa_lo = 0, kappa_hi = 0;
  double growth = std::numeric_limits<double>::quiet_NaN();
  std::string bound = "unknown";  // "exact", "lower" (κ_max capped) or "unknown"
  double threshold = std::numeric_limits<double>::quiet_NaN();  // (κ_max/κ_min)^exponent
  double ceiling = std::numeric_limits<double>::infinity();     // (κ_max/κ_min)^max_exponent
  std::string why;
};
GrowthJudgement judge_growth(const std::vector<CountAtKappa>& counts, double exponent,
                             double max_exponent = std::numeric_limits<double>::infinity());

// ---- Paper 1: Lion-K with weight decay (constraint) and its flow (lyapunov) ---------------

// One constrained map's trajectory λ‖X_t‖ against the phase-1 bound b_t: never above it
// (relative slack 1e-9), within 1e-3 of the ball at the end, and once strictly inside (≤ 1 +
// 1e-9), never out again.
struct BallJudgement {
  bool ok = false;
  double worst_excess = 0;         // max_t (ratio_t − b_t)/b_t
  int64_t first_inside = -1;       // −1: never strictly inside (see first_within)
  int64_t first_within = -1;       // first step within 1e-3 of the ball; −1: never
  double max_after_entry = 0;
  double final_ratio = 0;
};
BallJudgement judge_enters_ball(const std::vector<double>& ratio, const std::vector<double>& bound);

// Stationarity: |final gap| ≤ tol · scale (scale: F at the start, so the threshold follows
// the problem's size and λ — the gap has the units of F).
bool judge_gap(double final_gap, double scale, double tol);
// Closeness: finite and ≤ tol (relative distance to a minimiser, or an error).
bool judge_at_most(double value, double tol);

// H never rises by more than tol (relative, per step), and ends finite.
bool judge_lyapunov(double max_relative_rise, double final_h, double tol);

// Paper 1, Figure 1: F rises somewhere (f_rises[i] > 0) in a run whose H did not rise (h_ok[i]).
Verdict judge_f_nonmonotone(const std::vector<int64_t>& f_rises, const std::vector<bool>& h_ok);

// ---- Paper 3: the spectral-power family at laboratory scale --------------------------------

// A variant's final validation loss over seeds at one lr: mean and spread (half the range).
struct SeedStats {
  double mean = std::numeric_limits<double>::quiet_NaN();
  double spread = 0;
  int seeds = 0;
};
SeedStats seed_stats(const std::vector<double>& losses);

// (i) on one task: the Adam family's best-lr spread is at most half the momentum family's.
bool judge_family_spread(double adam_family_spread, double momentum_family_spread);

// (ii) on one task: mSGDZ (p = 0) has no more divergences than mSGD (p = 1) and a flatter lr
// curve (mean excess loss over its best point no larger).
bool judge_small_p(int divergences_p0, int divergences_p1, double excess_p0, double excess_p1);

// (iii) on one task, Muon beats Adam when its best mean loss is lower by more than the two
// seed spreads together (a margin inside the seed noise is no win). The claim "Muon does not
// consistently beat Adam" holds when some measured task is not a Muon win; it is
// not_reproduced when Muon wins every task measured (or nothing was measured).
bool muon_beats_adam(const SeedStats& muon, const SeedStats& adam);
Verdict judge_muon_vs_adam(const std::vector<bool>& muon_wins_by_task);

// ---- Matrix-function study ------------------------------------------------------------------

// Both halves hold → reproduced, one → partial, none → not_reproduced.
Verdict judge_both(bool first, bool second);
// A measured error against a published one: within a factor `factor` either way.
bool within_factor(double measured, double published, double factor);
// Jordan's quintic after 5 steps: singular values in [0.5, 1.5] for κ ≤ 100; at κ = 1e4 the
// top in [1.0, 1.3] and the bottom ≤ 0.5 (published ≈ [0.02, 1.20]). Other κ: no statement.
bool jordan_band_applies(double kappa);
bool jordan_band_ok(double kappa, double sigma_min, double sigma_max);

}  // namespace lab
}  // namespace specopt
