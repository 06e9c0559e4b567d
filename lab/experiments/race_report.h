#pragma once
// Running paper 2's optimizers over a κ grid and writing what both experiments
// (factorization, icl) show: iterations vs κ (CSV + log-log figure), error curves per κ, and
// the claims on them (judge_flat, judge_growth of judge.h).
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "lab/experiment.h"
#include "lab/experiments/judge.h"
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

// One method's counts over the grid (for the judge functions of judge.h).
std::vector<CountAtKappa> counts_of(const std::vector<KappaRaces>& table, const std::string& method);

// Claim: each of `methods` (those that ran) is flat in κ: judge_flat with |slope| ≤
// max_slope over the whole grid.
void claim_flat(RunContext& ctx, const std::string& id, const std::string& what,
                const std::vector<KappaRaces>& table, const std::vector<std::string>& methods,
                double max_slope);
// Claim: `method`'s count grows at least like κ^exponent between the ends of the grid
// (judge_growth; at most κ^max_exponent when that is finite). `law` names the expectation in
// the statement ("like κ", "like κ³"). Not stated if the method did not run.
void claim_growth(RunContext& ctx, const std::string& id, const std::string& what,
                  const std::vector<KappaRaces>& table, const std::string& method,
                  const std::string& law, double exponent,
                  double max_exponent = std::numeric_limits<double>::infinity());

}  // namespace lab
}  // namespace specopt
