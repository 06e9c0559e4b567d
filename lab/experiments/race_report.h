#pragma once
// Running paper 2's optimizers over a κ grid and writing what both experiments
// (factorization, icl) show: iterations vs κ (CSV + log-log figure), error curves per κ, and
// the numbers their claims use (spread across κ, growth between two κ).
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "lab/experiment.h"
#include "lab/experiments/race.h"

namespace specopt {
namespace lab {

struct KappaRaces {
  double kappa = 0;
  std::map<std::string, RaceRun> runs;  // by method
};

// For each κ: builds the problem, races every method of the settings, logs one line per run.
std::vector<KappaRaces> race_over_kappas(
    RunContext& ctx, const std::string& label, const std::vector<double>& kappas,
    const std::function<RaceProblem(double kappa)>& make_problem,
    const std::function<RaceSettings(double kappa)>& settings);

// Writes STEM_iterations.csv/.svg/.png (κ, one column per method, counts at the cap marked in
// STEM_iterations's "<method>_reached" columns), STEM_curves_kappaK.csv/figures (error vs
// iteration, log-log) and results()[STEM] (every run, grids included).
void write_races(RunContext& ctx, const std::string& stem, const std::string& what,
                 const std::vector<KappaRaces>& table);

// A ratio of iteration counts. `bound` "exact", "lower" (true ratio ≥ value: the numerator
// hit the cap) or "unknown" (the denominator hit the cap, or a run is missing).
struct Ratio {
  double value = 0;
  std::string bound = "unknown";
  nlohmann::json to_json() const;
};
// max/min over κ of `method`'s counts ("unknown" if any run hit the cap).
Ratio spread(const std::vector<KappaRaces>& table, const std::string& method);
// count(κ_hi)/count(κ_lo), κ_lo/κ_hi the grid's entries nearest to the requested ones.
Ratio growth(const std::vector<KappaRaces>& table, const std::string& method, double kappa_lo,
             double kappa_hi);
// Least-squares slope of log(count) against log(κ) over the runs with κ ≥ kappa_min that
// reached tol (NaN with fewer than two).
double loglog_slope(const std::vector<KappaRaces>& table, const std::string& method,
                    double kappa_min);


// Claim: each of `methods` (those that ran) varies by less than `max_spread`× across κ.
void claim_flat(RunContext& ctx, const std::string& id, const std::string& what,
                const std::vector<KappaRaces>& table, const std::vector<std::string>& methods,
                double max_spread);
// Claim: `method`'s count grows at least `min_growth`× from κ_lo to κ_hi (a capped count at
// κ_hi still shows it: the ratio is then a lower bound). Not stated if the method did not run.
void claim_growth(RunContext& ctx, const std::string& id, const std::string& what,
                  const std::vector<KappaRaces>& table, const std::string& method,
                  double kappa_lo, double kappa_hi, double min_growth);

}  // namespace lab
}  // namespace specopt
