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

const KappaRaces* nearest(const std::vector<KappaRaces>& table, double kappa) {
  const KappaRaces* best = nullptr;
  for (const auto& row : table)
    if (!best || std::abs(std::log(row.kappa / kappa)) < std::abs(std::log(best->kappa / kappa)))
      best = &row;
  return best;
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

nlohmann::json Ratio::to_json() const { return {{"value", value}, {"bound", bound}}; }

Ratio spread(const std::vector<KappaRaces>& table, const std::string& method) {
  Ratio r;
  double lo = std::numeric_limits<double>::infinity(), hi = 0;
  bool all = !table.empty();
  for (const auto& row : table) {
    auto it = row.runs.find(method);
    if (it == row.runs.end() || !it->second.reached) {
      all = false;
      continue;
    }
    lo = std::min(lo, double(std::max<int64_t>(it->second.iterations, 1)));
    hi = std::max(hi, double(std::max<int64_t>(it->second.iterations, 1)));
  }
  r.value = all ? hi / lo : kNaN;
  r.bound = all ? "exact" : "unknown";
  return r;
}

Ratio growth(const std::vector<KappaRaces>& table, const std::string& method, double kappa_lo,
             double kappa_hi) {
  Ratio r;
  const KappaRaces *lo = nearest(table, kappa_lo), *hi = nearest(table, kappa_hi);
  if (!lo || !hi || lo == hi || !lo->runs.count(method) || !hi->runs.count(method)) return r;
  const RaceRun &a = lo->runs.at(method), &b = hi->runs.at(method);
  r.value = double(b.iterations) / double(std::max<int64_t>(a.iterations, 1));
  r.bound = !a.reached ? "unknown" : (b.reached ? "exact" : "lower");
  return r;
}

double loglog_slope(const std::vector<KappaRaces>& table, const std::string& method,
                    double kappa_min) {
  std::vector<double> xs, ys;
  for (const auto& row : table) {
    auto it = row.runs.find(method);
    if (row.kappa < kappa_min || it == row.runs.end() || !it->second.reached) continue;
    xs.push_back(std::log(row.kappa));
    ys.push_back(std::log(double(std::max<int64_t>(it->second.iterations, 1))));
  }
  if (xs.size() < 2) return kNaN;
  double mx = 0, my = 0;
  for (size_t i = 0; i < xs.size(); ++i) mx += xs[i] / xs.size(), my += ys[i] / xs.size();
  double sxy = 0, sxx = 0;
  for (size_t i = 0; i < xs.size(); ++i) sxy += (xs[i] - mx) * (ys[i] - my), sxx += (xs[i] - mx) * (xs[i] - mx);
  return sxx > 0 ? sxy / sxx : kNaN;
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
}  // namespace

void claim_flat(RunContext& ctx, const std::string& id, const std::string& what,
                const std::vector<KappaRaces>& table, const std::vector<std::string>& methods,
                double max_spread) {
  Tally tally;
  nlohmann::json numbers = nlohmann::json::object();
  std::string names;
  for (const auto& m : methods) {
    if (!ran(table, m)) continue;
    const Ratio r = spread(table, m);
    const bool ok = r.bound == "exact" && r.value < max_spread;
    tally.add(ok);
    numbers[m] = {{"iterations_by_kappa", counts(table, m)}, {"max_over_min", r.to_json()},
                  {"ok", ok}};
    names += (names.empty() ? "" : " and ") + m;
  }
  if (names.empty()) return;
  numbers["threshold"] = max_spread;
  ctx.claim(id, what + ": " + names + "'s iteration count varies by less than " +
                    fmt_num(max_spread) + "× across κ",
            tally.verdict(), numbers);
}

void claim_growth(RunContext& ctx, const std::string& id, const std::string& what,
                  const std::vector<KappaRaces>& table, const std::string& method,
                  double kappa_lo, double kappa_hi, double min_growth) {
  if (!ran(table, method)) return;
  const KappaRaces *lo = nearest(table, kappa_lo), *hi = nearest(table, kappa_hi);
  const Ratio r = growth(table, method, kappa_lo, kappa_hi);
  const bool ok = r.bound != "unknown" && r.value >= min_growth;
  ctx.claim(id,
            what + ": " + method + "'s iteration count grows at least " + fmt_num(min_growth) +
                "× from κ = " + fmt_num(lo ? lo->kappa : kappa_lo) + " to κ = " +
                fmt_num(hi ? hi->kappa : kappa_hi),
            ok ? Verdict::reproduced : Verdict::not_reproduced,
            {{"iterations_by_kappa", counts(table, method)}, {"growth", r.to_json()},
             {"threshold", min_growth}});
}

}  // namespace lab
}  // namespace specopt
