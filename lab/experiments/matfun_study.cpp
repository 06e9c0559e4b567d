// The matrix-function study of `specopt reproduce`: paper 3's coupled Newton iteration against
// the Gram eigendecomposition, Newton–Schulz schedules and the SVD — accuracy over κ, time over
// shapes — checked against the figures published for the released code of arXiv 2602.04669
// (docs/algorithms.md, "Matrix functions").
//
// Accuracy and the timing of every method the matfun benchmark knows come from
// run_matfun_bench (one call per κ; only the last κ is timed with `repeats`). The cubic
// schedule and the singular-value band of Jordan's quintic are not part of that benchmark and
// are measured here.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <specopt/matfun/newton_schulz.h>
#include <specopt/matfun/polar.h>

#include "lab/experiments/experiments.h"
#include "lab/experiments/judge.h"
#include "lab/matfun_bench.h"
#include "lab/spectra.h"
#include "lab/timing.h"

namespace specopt {
namespace lab {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Published accuracy of the released coupled Newton iteration at κ = 1e4 (arXiv 2602.04669's
// code, fp32, 256×128; docs/algorithms.md): relative Frobenius error ≈ 2.5e-2 for p = ½ and 8e-2 for p = ¼.
const std::map<double, double> kPaperCoupledNewtonError = {{0.5, 2.5e-2}, {0.25, 8e-2}};
constexpr double kPaperKappa = 1e4;

// Column names of the polar / power error tables (method names without the "newton_schulz:"
// prefix so the legends stay short).
const std::vector<std::string> kPolarColumns = {"ns_jordan", "ns_polar_express", "ns_cubic",
                                                "gram_eigh", "svd", "auto"};
const std::vector<std::string> kPowerColumns = {"coupled_newton", "gram_eigh", "svd", "auto"};

std::string polar_column(const std::string& bench_method) {
  if (bench_method == "newton_schulz:jordan") return "ns_jordan";
  if (bench_method == "newton_schulz:polar_express") return "ns_polar_express";
  return bench_method;
}

std::string power_stem(double p) { return fmt::format("p{:g}", p * 100); }  // p50, p25

// "x" in the figure of time per shape: the number of entries m·n (log scale).
double elements(const MatrixShape& s) { return static_cast<double>(s.m) * static_cast<double>(s.n); }

struct Measurement {
  double rel_err = kNaN;
  double seconds = kNaN;
};

void run_study(RunContext& ctx) {
  const auto& P = ctx.params();
  const auto shapes = parse_shapes(P.text("shapes"));
  auto kappas = P.reals("kappas");
  for (double k : kappas) {
    if (!(k >= 1)) throw std::invalid_argument(fmt::format("--set kappas={}: κ = {} is below 1", P.text("kappas"), k));
  }
  std::sort(kappas.begin(), kappas.end());
  kappas.erase(std::unique(kappas.begin(), kappas.end()), kappas.end());
  const auto powers = P.reals("powers");
  for (double p : powers) {
    if (!(p > 0 && p < 1)) {
      throw std::invalid_argument(fmt::format("--set powers={}: p = {} is not in (0, 1)", P.text("powers"), p));
    }
  }
  const int repeats = static_cast<int>(P.count("repeats"));
  const int ns_steps = static_cast<int>(P.count("ns_steps"));
  const double timing_kappa = kappas.back();
  const std::string dtype_name = P.text("dtype");
  if (dtype_name != "float32" && dtype_name != "float64") {
    throw std::invalid_argument("--set dtype=" + dtype_name + ": expected float32 or float64");
  }
  const at::ScalarType dtype = dtype_name == "float64" ? at::kDouble : at::kFloat;

  // errors[shape][kappa][(op key)] ; op key "polar/ns_jordan" or "p0.5/coupled_newton".
  std::map<std::string, std::map<double, std::map<std::string, Measurement>>> table;
  // Jordan's singular values after `ns_steps` steps, per shape and κ: {min, max}.
  std::map<std::string, std::map<double, std::pair<double, double>>> band;

  for (double kappa : kappas) {
    const bool timed = kappa == timing_kappa;
    MatfunBenchConfig c;
    c.shapes = shapes;
    c.kappa = kappa;
    c.powers = powers;
    c.repeats = timed ? repeats : 1;
    c.warmup = timed ? 1 : 0;
    c.threads = at::get_num_threads();  // keep the caller's thread setting
    c.seed = ctx.seed();
    c.methods = {"newton_schulz:jordan", "newton_schulz:polar_express", "gram_eigh", "svd",
                 "coupled_newton", "auto"};
    c.dtype = dtype;
    ctx.log(fmt::format("κ={:g}: benchmark methods on {} shape(s){}", kappa, shapes.size(),
                        timed ? fmt::format(" (timed, {} repeats)", repeats) : ""));
    for (const auto& r : run_matfun_bench(c)) {
      const std::string key = r.op == "polar" ? "polar/" + polar_column(r.method)
                                              : fmt::format("p{:g}/{}", r.p, r.method);
      table[r.shape][kappa][key] = {r.rel_err, timed ? r.seconds : kNaN};
    }
    // The cubic schedule and Jordan's band, on the same matrices as the benchmark's.
    for (const auto& s : shapes) {
      const auto sigma = geometric_spectrum(std::min(s.m, s.n), kappa);
      const auto G = matrix_with_spectrum(s.m, s.n, sigma, ctx.seed(), dtype);
      const auto exact = exact_spectral_power(G, 0.0);
      const auto cubic = PolarOptions().method(PolarMethod::newton_schulz)
                             .schedule(NsSchedule::cubic()).steps(ns_steps);
      at::Tensor out;
      const double secs = median_seconds([&] { out = polar(G, cubic); }, timed ? 1 : 0,
                                         timed ? repeats : 1);
      table[s.str()][kappa]["polar/ns_cubic"] = {rel_frobenius_error(out, exact),
                                                 timed ? secs : kNaN};
      const auto jordan = polar(G, PolarOptions().method(PolarMethod::newton_schulz)
                                       .schedule(NsSchedule::jordan()).steps(ns_steps));
      const auto sv = at::linalg_svdvals(jordan.to(at::kDouble));
      band[s.str()][kappa] = {sv.min().item<double>(), sv.max().item<double>()};
    }
  }

  // --- CSV: every measurement, long format ---
  std::vector<std::vector<RunContext::Cell>> long_rows;
  for (const auto& [shape, by_kappa] : table) {
    for (const auto& [kappa, by_key] : by_kappa) {
      for (const auto& [key, m] : by_key) {
        const auto slash = key.find('/');
        long_rows.push_back({shape, kappa, key.substr(0, slash), key.substr(slash + 1), m.rel_err,
                             m.seconds});
      }
    }
  }
  ctx.write_csv("measurements", {"shape", "kappa", "op", "method", "rel_err", "seconds"},
                long_rows);

  // --- Figures: error vs κ on the first shape (the papers' 256×128 by default) ---
  const std::string first = shapes.front().str();
  auto error_figure = [&](const std::string& stem, const std::string& prefix,
                          const std::vector<std::string>& columns, const std::string& title) {
    std::vector<std::string> header = {"kappa"};
    header.insert(header.end(), columns.begin(), columns.end());
    std::vector<std::vector<RunContext::Cell>> rows;
    for (double kappa : kappas) {
      std::vector<RunContext::Cell> row = {kappa};
      for (const auto& col : columns) row.push_back(table[first][kappa][prefix + col].rel_err);
      rows.push_back(row);
    }
    ctx.write_csv(stem, header, rows);
    ctx.plot({.name = stem, .csv = stem, .x = "kappa", .ys = columns, .title = title,
              .xlabel = "condition number κ", .ylabel = "relative Frobenius error",
              .logx = true, .logy = true, .points = true});
  };
  error_figure("error_polar", "polar/", kPolarColumns,
               fmt::format("polar factor U Vᵀ, {} {}, {} NS steps", first, dtype_name, ns_steps));
  for (double p : powers) {
    error_figure("error_power_" + power_stem(p), fmt::format("p{:g}/", p), kPowerColumns,
                 fmt::format("U Σ^{:g} Vᵀ, {} {}", p, first, dtype_name));
  }

  // --- Figure: time per method per shape at the timing κ ---
  std::vector<std::string> time_columns;
  for (const auto& c : kPolarColumns) time_columns.push_back("polar_" + c);
  for (double p : powers) {
    for (const auto& c : kPowerColumns) time_columns.push_back(power_stem(p) + "_" + c);
  }
  std::vector<std::vector<RunContext::Cell>> time_rows;
  auto by_size = shapes;
  std::sort(by_size.begin(), by_size.end(),
            [](const MatrixShape& a, const MatrixShape& b) { return elements(a) < elements(b); });
  for (const auto& s : by_size) {
    std::vector<RunContext::Cell> row = {elements(s), s.str()};
    const auto& by_key = table[s.str()][timing_kappa];
    for (const auto& c : kPolarColumns) {
      const auto it = by_key.find("polar/" + c);
      row.push_back(it == by_key.end() ? kNaN : it->second.seconds);
    }
    for (double p : powers) {
      for (const auto& c : kPowerColumns) {
        const auto it = by_key.find(fmt::format("p{:g}/{}", p, c));
        row.push_back(it == by_key.end() ? kNaN : it->second.seconds);
      }
    }
    time_rows.push_back(row);
  }
  std::vector<std::string> time_header = {"elements", "shape"};
  time_header.insert(time_header.end(), time_columns.begin(), time_columns.end());
  ctx.write_csv("time", time_header, time_rows);
  ctx.plot({.name = "time", .csv = "time", .x = "elements", .ys = time_columns,
            .title = fmt::format("median time per call, {}, κ = {:g}, {} thread(s)",
                                 dtype_name, timing_kappa, at::get_num_threads()),
            .xlabel = "matrix entries m·n", .ylabel = "seconds", .logx = true, .logy = true,
            .points = true});

  // --- Claims ---
  // (a) Coupled Newton at κ = 1e4 matches the published errors within an order of magnitude.
  {
    nlohmann::json numbers = {{"shape", first}, {"kappa", kPaperKappa}};
    bool have_kappa = std::find(kappas.begin(), kappas.end(), kPaperKappa) != kappas.end();
    int checked = 0, within = 0;
    for (const auto& [p, paper] : kPaperCoupledNewtonError) {
      if (!have_kappa || std::find(powers.begin(), powers.end(), p) == powers.end()) continue;
      const double err = table[first][kPaperKappa][fmt::format("p{:g}/coupled_newton", p)].rel_err;
      ++checked;
      const double ratio = err / paper;
      within += within_factor(err, paper, 10);
      numbers[fmt::format("rel_err_p{:g}", p)] = err;
      numbers[fmt::format("paper_p{:g}", p)] = paper;
      numbers[fmt::format("ratio_p{:g}", p)] = ratio;
    }
    if (checked == 0) {
      ctx.log("coupled_newton_error not stated: κ = 1e4 with p = ½ or ¼ is not in this run");
    }
    if (checked > 0) {
      ctx.claim("coupled_newton_error",
                "Paper 3's coupled Newton iteration has relative error ≈2.5e-2 (p=½) and ≈8e-2 "
                "(p=¼) at κ = 1e4, float32 (matched within a factor 10 for each p measured)",
                verdict_of(within, checked), numbers);
    }
  }
  // (b) Gram-eigh: ≤ 1e-3 at every κ and shape, and faster than coupled Newton on CPU.
  {
    double worst = 0;
    std::string worst_where;
    for (const auto& [shape, by_kappa] : table) {
      for (const auto& [kappa, by_key] : by_kappa) {
        for (const auto& [key, m] : by_key) {
          if (key.find("gram_eigh") == std::string::npos) continue;
          if (!(m.rel_err <= worst)) {
            worst = m.rel_err;
            worst_where = fmt::format("{} κ={:g} {}", shape, kappa, key);
          }
        }
      }
    }
    double slowest_ratio = std::numeric_limits<double>::infinity();  // cn time / gram time
    std::string slowest_where;
    for (const auto& s : shapes) {
      for (double p : powers) {
        const auto& by_key = table[s.str()][timing_kappa];
        const auto cn = by_key.find(fmt::format("p{:g}/coupled_newton", p));
        const auto ge = by_key.find(fmt::format("p{:g}/gram_eigh", p));
        if (cn == by_key.end() || ge == by_key.end()) continue;
        const double ratio = cn->second.seconds / ge->second.seconds;
        if (ratio < slowest_ratio) {
          slowest_ratio = ratio;
          slowest_where = fmt::format("{} p={:g}", s.str(), p);
        }
      }
    }
    const bool accurate = judge_at_most(worst, 1e-3);
    const bool compared = std::isfinite(slowest_ratio);
    const bool faster = compared && slowest_ratio > 1;
    nlohmann::json numbers = {{"worst_rel_err", worst}, {"worst_at", worst_where},
                              {"tolerance", 1e-3}};
    if (compared) {
      numbers["min_speedup_vs_coupled_newton"] = slowest_ratio;
      numbers["min_speedup_at"] = slowest_where;
    } else {
      numbers["note"] = "no power p = 2^-k in this run: coupled Newton was not timed";
    }
    ctx.claim("gram_eigh_accurate_and_fast",
              "The Gram eigendecomposition reaches ≤ 1e-3 relative error at every κ (polar and "
              "powers) and is faster than coupled Newton on CPU at every shape",
              judge_both(accurate, faster), numbers);
  }
  // (c) Jordan's quintic after 5 steps: singular values in [0.5, 1.5] while the spectrum is not
  // too ill-conditioned (κ ≤ 100), top ≈ 1.2 and bottom far below 1 at κ = 1e4 (the band
  // published for the released code; docs/algorithms.md). Stated only where it applies.
  {
    nlohmann::json numbers = nlohmann::json::object();
    int checked = 0, holding = 0;
    for (const auto& [shape, by_kappa] : band) {
      for (const auto& [kappa, mm] : by_kappa) {
        const auto [lo, hi] = mm;
        if (shape == first) {
          numbers[fmt::format("sigma_min_k{:g}", kappa)] = lo;
          numbers[fmt::format("sigma_max_k{:g}", kappa)] = hi;
        }
        if (!jordan_band_applies(kappa)) continue;
        ++checked;
        holding += jordan_band_ok(kappa, lo, hi);
      }
    }
    numbers["steps"] = ns_steps;
    numbers["paper_band_k1e4"] = "≈[0.02, 1.20]";
    numbers["cases_holding"] = holding;
    numbers["cases"] = checked;
    if (checked == 0 || ns_steps != 5) {
      ctx.log("jordan_band not stated: the band is published for 5 steps at κ ≤ 100 or κ = 1e4");
    } else {
      ctx.claim("jordan_band",
                "Newton–Schulz with Jordan's quintic (5 steps) leaves singular values in [0.5, 1.5] "
                "for κ ≤ 100 and in ≈[0.02, 1.20] at κ = 1e4, not at 1",
                holding == checked ? Verdict::reproduced : Verdict::not_reproduced, numbers);
    }
  }
  // (d) Polar Express gets closer to U Vᵀ than Jordan's quintic with the same steps.
  {
    int better = 0, total = 0;
    nlohmann::json numbers = nlohmann::json::object();
    for (double kappa : kappas) {
      const auto& by_key = table[first][kappa];
      const double j = by_key.at("polar/ns_jordan").rel_err;
      const double pe = by_key.at("polar/ns_polar_express").rel_err;
      ++total;
      better += pe < j;
      numbers[fmt::format("k{:g}", kappa)] = {{"jordan", j}, {"polar_express", pe}};
    }
    ctx.claim("polar_express_closer",
              "Polar Express's 5-step schedule is closer to U Vᵀ than Jordan's quintic at every κ",
              verdict_of(better, total), numbers);
  }
  // (e) What users get: `auto` (Gram eigendecomposition with its precision fallback) meets its
  // default tolerance 1e-3 at every κ, shape and power.
  {
    double worst = 0;
    std::string worst_where;
    int n = 0;
    for (const auto& [shape, by_kappa] : table) {
      for (const auto& [kappa, by_key] : by_kappa) {
        for (const auto& [key, m] : by_key) {
          if (key.size() < 5 || key.compare(key.size() - 5, 5, "/auto") != 0) continue;
          ++n;
          if (!(m.rel_err <= worst)) {
            worst = m.rel_err;
            worst_where = fmt::format("{} κ={:g} {}", shape, kappa, key);
          }
        }
      }
    }
    ctx.claim("auto_meets_tolerance",
              "The library's default method (auto) reaches ≤ 1e-3 relative error at every κ, "
              "shape and power",
              n > 0 && judge_at_most(worst, 1e-3) ? Verdict::reproduced : Verdict::not_reproduced,
              {{"worst_rel_err", worst}, {"worst_at", worst_where}, {"tolerance", 1e-3},
               {"measurements", n}});
  }
  ctx.results()["timing_kappa"] = timing_kappa;
  ctx.results()["threads"] = at::get_num_threads();
}

}  // namespace

Experiment matfun_study_experiment() {
  Experiment e;
  e.name = "matfun-study";
  e.paper = 0;
  e.summary =
      "Matrix functions: paper 3's coupled Newton vs Gram eigendecomposition vs Newton–Schulz "
      "schedules vs SVD — accuracy over κ, time over shapes";
  e.full_runtime = "about 10 minutes";
  e.knobs = {
      {"shapes", "256x128,128x64,256x512", "256x128,768x3072,1024x4096",
       "matrix shapes MxN; the first is used for the error-vs-κ figures (256x128 is the published figures' shape)"},
      {"kappas", "10,100,1000,10000", "1,10,100,1000,10000,100000",
       "condition numbers (σ geometric from 1 to 1/κ); the largest is also the timing κ"},
      {"powers", "0.5,0.25", "0.5,0.25,0.75", "spectral powers p in (0, 1) (coupled Newton needs 2^-k)"},
      {"repeats", "3", "7", "timed calls per method (median reported)"},
      {"ns_steps", "5", "5", "Newton–Schulz steps of the cubic schedule and the Jordan band check"},
      {"dtype", "float32", "float32", "float32 (as the published figures) or float64"},
  };
  e.run = run_study;
  return e;
}

}  // namespace lab
}  // namespace specopt
