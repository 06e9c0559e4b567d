#include "lab/experiments/race_report.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "lab/experiments/verdicts.h"

namespace specopt {
namespace lab {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

nlohmann::json run_json(const RaceRun& r) {
  nlohmann::json j = {{"lr", r.lr},
                      {"iterations", r.iterations},
                      {"reached", r.reached},
                      {"diverged", r.diverged},
                      {"final_error", r.final_error},
                      {"iterations_text", format_iterations(r)}};
  if (!r.grid.empty()) {
    j["grid"] = nlohmann::json::array();
    for (const auto& g : r.grid) j["grid"].push_back(run_json(g));
  }
  return j;
}

// Iterations at which to sample a curve of `length` points for a log-x figure: every point
// up to 200, then about 400 log-spaced ones, and the last.
std::vector<int64_t> sample_points(int64_t length) {
  std::vector<int64_t> idx;
  for (int64_t t = 1; t < std::min<int64_t>(length, 200); ++t) idx.push_back(t);
  if (length > 200) {
    const double step = std::log(double(length) / 200.0) / 400.0;
    for (int k = 0; k <= 400; ++k) {
      const auto t = static_cast<int64_t>(std::llround(200.0 * std::exp(step * k)));
      if (t < length && t > idx.back()) idx.push_back(t);
    }
    if (idx.back() != length - 1) idx.push_back(length - 1);
  }
  return idx;
}

std::string kappa_text(double k) {
  std::string s = fmt_num(k);
  for (auto& c : s)
    if (c == '.' || c == '+') c = '_';
  return s;
}

}  // namespace

std::vector<KappaRaces> race_over_kappas(
    RunContext& ctx, const std::string& label, const std::vector<double>& kappas,
    const std::function<RaceProblem(double kappa)>& make_problem,
    const std::function<RaceSettings(double kappa)>& settings) {
  std::vector<KappaRaces> table;
  for (double kappa : kappas) {
    const RaceProblem problem = make_problem(kappa);
    const RaceSettings s = settings(kappa);
    KappaRaces row;
    row.kappa = kappa;
    std::string line = label + ", κ=" + fmt_num(kappa) + ":";
    for (const auto& m : s.methods) {
      row.runs[m] = race(problem, m, s);
      line += " " + m + " " + format_iterations(row.runs[m]);
    }
    ctx.log(line);
    table.push_back(std::move(row));
  }
  return table;
}

void write_races(RunContext& ctx, const std::string& stem, const std::string& what,
                 const std::vector<KappaRaces>& table) {
  if (table.empty()) return;
  std::vector<std::string> methods;
  for (const auto& kv : table.front().runs) methods.push_back(kv.first);
  // Report order: the spectral methods first.
  std::sort(methods.begin(), methods.end(), [](const std::string& a, const std::string& b) {
    const auto order = race_method_names();
    return std::find(order.begin(), order.end(), a) < std::find(order.begin(), order.end(), b);
  });

  std::vector<std::string> cols = {"kappa"};
  for (const auto& m : methods) cols.push_back(m);
  for (const auto& m : methods) cols.push_back(m + "_reached");
  std::vector<std::vector<RunContext::Cell>> rows;
  nlohmann::json results = nlohmann::json::array();
  for (const auto& row : table) {
    std::vector<RunContext::Cell> cells = {row.kappa};
    nlohmann::json jrow = {{"kappa", row.kappa}};
    for (const auto& m : methods) cells.push_back(row.runs.at(m).iterations);
    for (const auto& m : methods) {
      cells.push_back(row.runs.at(m).reached ? 1 : 0);
      jrow[m] = run_json(row.runs.at(m));
    }
    rows.push_back(cells);
    results.push_back(jrow);
  }
  ctx.results()[stem] = results;
  ctx.write_csv(stem + "_iterations", cols, rows);
  PlotSpec iters;
  iters.name = iters.csv = stem + "_iterations";
  iters.x = "kappa";
  iters.ys = methods;
  iters.title = what + ": iterations to the tolerance (a run at its cap is drawn at the cap)";
  iters.xlabel = "condition number κ";
  iters.ylabel = "iterations";
  iters.logx = iters.logy = iters.points = true;
  ctx.plot(iters);

  for (const auto& row : table) {
    int64_t longest = 0;
    for (const auto& m : methods)
      longest = std::max<int64_t>(longest, static_cast<int64_t>(row.runs.at(m).curve.size()));
    std::vector<std::vector<RunContext::Cell>> crows;
    for (int64_t t : sample_points(longest)) {
      std::vector<RunContext::Cell> cells = {t};
      for (const auto& m : methods) {
        const auto& c = row.runs.at(m).curve;
        cells.push_back(t < static_cast<int64_t>(c.size()) ? c[t] : kNaN);
      }
      crows.push_back(cells);
    }
    const std::string name = stem + "_curves_kappa" + kappa_text(row.kappa);
    std::vector<std::string> ccols = {"iteration"};
    for (const auto& m : methods) ccols.push_back(m);
    ctx.write_csv(name, ccols, crows);
    PlotSpec curves;
    curves.name = curves.csv = name;
    curves.x = "iteration";
    curves.ys = methods;
    curves.title = what + ", κ = " + fmt_num(row.kappa) + ": relative error";
    curves.xlabel = "iteration";
    curves.ylabel = "relative error";
    curves.logx = curves.logy = true;
    ctx.plot(curves);
  }
}

std::vector<CountAtKappa> counts_of(const std::vector<KappaRaces>& table,
                                    const std::string& method) {
  std::vector<CountAtKappa> out;
  for (const auto& row : table) {
    auto it = row.runs.find(method);
    if (it == row.runs.end()) continue;
    out.push_back({row.kappa, double(it->second.iterations), it->second.reached});
  }
  return out;
}

namespace {
bool ran(const std::vector<KappaRaces>& table, const std::string& method) {
  return !table.empty() && table.front().runs.count(method) > 0;
}
nlohmann::json counts(const std::vector<KappaRaces>& table, const std::string& method) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& row : table)
    if (row.runs.count(method)) j[fmt_num(row.kappa)] = format_iterations(row.runs.at(method));
  return j;
}
nlohmann::json finite_or_null(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }
}  // namespace

void claim_flat(RunContext& ctx, const std::string& id, const std::string& what,
                const std::vector<KappaRaces>& table, const std::vector<std::string>& methods,
                double max_slope) {
  Tally tally;
  nlohmann::json numbers = nlohmann::json::object();
  std::string names;
  for (const auto& m : methods) {
    if (!ran(table, m)) continue;
    const FlatJudgement j = judge_flat(counts_of(table, m), max_slope);
    tally.add(j.ok);
    numbers[m] = {{"iterations_by_kappa", counts(table, m)},
                  {"loglog_slope", finite_or_null(j.slope)},
                  {"max_over_min", finite_or_null(j.max_over_min)},
                  {"ok", j.ok}};
    if (!j.ok) numbers[m]["why"] = j.why;
    names += (names.empty() ? "" : " and ") + m;
  }
  if (names.empty()) return;
  numbers["max_abs_slope"] = max_slope;
  ctx.claim(id, what + ": " + names + "'s iteration count is flat in κ (fitted log-log slope " +
                    "within ±" + fmt_num(max_slope) + ")",
            tally.verdict(), numbers);
}

void claim_growth(RunContext& ctx, const std::string& id, const std::string& what,
                  const std::vector<KappaRaces>& table, const std::string& method,
                  const std::string& law, double exponent, double max_exponent) {
  if (!ran(table, method)) return;
  const GrowthJudgement j = judge_growth(counts_of(table, method), exponent, max_exponent);
  std::string statement = what + ": " + method + "'s iteration count grows " + law +
                          ": at least (κ_max/κ_min)^" + fmt_num(exponent) + " = " +
                          fmt_num(j.threshold) + "× from κ = " + fmt_num(j.kappa_lo) +
                          " to κ = " + fmt_num(j.kappa_hi);
  if (std::isfinite(max_exponent))
    statement += ", at most ^" + fmt_num(max_exponent) + " = " + fmt_num(j.ceiling) + "×";
  nlohmann::json numbers = {{"iterations_by_kappa", counts(table, method)},
                            {"growth", finite_or_null(j.growth)},
                            {"growth_is", j.bound == "lower" ? "a lower bound (the run at κ_max hit the cap)"
                                          : j.bound == "exact" ? "exact" : "unknown (the run at κ_min hit the cap)"},
                            {"threshold", finite_or_null(j.threshold)},
                            {"exponent", exponent},
                            {"loglog_slope", finite_or_null(loglog_slope(counts_of(table, method)))}};
  if (std::isfinite(max_exponent)) numbers["ceiling"] = j.ceiling;
  if (!j.ok) numbers["why"] = j.why;
  ctx.claim(id, statement, j.ok ? Verdict::reproduced : Verdict::not_reproduced, numbers);
}

}  // namespace lab
}  // namespace specopt
