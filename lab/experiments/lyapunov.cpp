// `lyapunov` (paper 1, Figure 1): continuous-time Lion-K on a non-convex F, integrated with
// RK4 (arXiv 2506.15054, with the Lyapunov function of 2310.05898; docs/algorithms.md, "Paper 1"):
//
//     m̃ = m − ε(α∇F(x) + γm),   ẋ = ∇K(m̃) − λx,   ṁ = −α∇F(x) − γm
//     H(x, m) = αF(x) + (γ/λ)K*(λx) + ((1 − ελ)/(1 + εγ)) (K*(λx) + K(m) − λ⟨m, x⟩)
//
// H must never increase along the flow while F itself may. F is the symmetric factorization
// loss ¼‖XXᵀ − M‖²_F (non-convex), the maps are the differentiable ones.
#include <ATen/ATen.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include <specopt/maps/registry.h>

#include "lab/experiments/experiments.h"
#include "lab/experiments/judge.h"
#include "lab/experiments/paper1_testbeds.h"
#include "lab/experiments/paper2_testbeds.h"
#include "lab/experiments/verdicts.h"
#include "lab/spectra.h"

namespace specopt {
namespace lab {

namespace {

void run(RunContext& ctx) {
  const Params& P = ctx.params();
  const auto specs = P.texts("maps");
  LionKFlow c;
  c.alpha = P.positive("alpha");
  c.gamma = P.positive("gamma");
  c.epsilon = P.real("epsilon");
  c.lambda = P.positive("lambda");
  if (c.epsilon < 0 || c.epsilon * c.lambda > 1)
    throw std::invalid_argument("--set epsilon=" + P.text("epsilon") +
                                ": need 0 <= epsilon and epsilon·lambda <= 1");
  const double dt = P.positive("dt"), T = P.positive("time"), tol = P.positive("tol");
  const double start = P.positive("start");
  if (start >= 1)
    throw std::invalid_argument("--set start=" + P.text("start") +
                                ": λ‖X₀‖_op must be < 1 (K* is finite only inside the ball)");
  const int64_t n = P.count("n"), r = P.count("r");
  const auto steps = static_cast<int64_t>(std::llround(T / dt));
  const int64_t every = std::max<int64_t>(1, steps / 2000);  // CSV rows

  // F(X) = ¼‖XXᵀ − M‖²_F, M = Q diag(l) Qᵀ with l from 1 to 1/kappa.
  FactorizationSpec fs;
  fs.n = n;
  fs.r = r;
  fs.kappa = P.positive("kappa");
  fs.init_scale = 1;
  fs.seed = ctx.seed();
  const RaceProblem problem = factorization_problem(fs);
  const at::Tensor x0 = problem.init[0] * (start / c.lambda /
                                           at::linalg_matrix_norm(problem.init[0], 2).item<double>());
  auto grad_F = [&](const at::Tensor& x) {
    std::vector<at::Tensor> g;
    problem.evaluate({x}, &g);
    return g[0];
  };
  // ¼‖XXᵀ − M‖² from the relative error the testbed reports: F = ¼ (err · ‖M‖_F)².
  const double m_norm = geometric_spectrum(r, fs.kappa).to(at::kDouble).norm().item<double>();
  auto F_of = [&](const at::Tensor& x) {
    const double e = problem.evaluate({x}, nullptr) * m_norm;
    return 0.25 * e * e;
  };

  Tally h_tally;
  std::vector<int64_t> f_rises_by_map;
  std::vector<bool> h_ok_by_map;
  nlohmann::json h_numbers = nlohmann::json::object(), f_numbers = nlohmann::json::object();
  for (const auto& spec : specs) {
    auto K = make_convex_map(spec);
    if (!K->smooth())
      throw std::invalid_argument("--set maps: '" + spec +
                                  "' is not differentiable (the Lyapunov function needs a "
                                  "smooth K: relativistic, logcosh, huber, half_sq_frobenius, power)");
    at::Tensor x = x0.clone(), m = at::zeros_like(x0);
    double F = F_of(x), H = lion_k_lyapunov(*K, c, F, x, m);
    const double H0 = H;
    double max_h_rise = 0, max_f_rise = 0;
    int64_t f_rises = 0;
    std::vector<std::vector<RunContext::Cell>> rows = {{0.0, F, H}};
    for (int64_t k = 1; k <= steps; ++k) {
      lion_k_flow_rk4_step(*K, c, grad_F, x, m, dt);
      const double F1 = F_of(x), H1 = lion_k_lyapunov(*K, c, F1, x, m);
      const double scale = std::max(std::abs(H), std::abs(H1));
      max_h_rise = std::max(max_h_rise, (H1 - H) / scale);
      if (F1 > F * (1 + 1e-9)) {
        ++f_rises;
        max_f_rise = std::max(max_f_rise, (F1 - F) / F);
      }
      F = F1;
      H = H1;
      if (k % every == 0) rows.push_back({k * dt, F, H});
    }
    const bool h_ok = judge_lyapunov(max_h_rise, H, tol);
    h_tally.add(h_ok);
    f_rises_by_map.push_back(f_rises);
    h_ok_by_map.push_back(h_ok);
    h_numbers[spec] = {{"H_start", H0}, {"H_end", H}, {"max_relative_increase", max_h_rise},
                       {"ok", h_ok}};
    f_numbers[spec] = {{"F_start", rows.front()[1]}, {"F_end", F}, {"steps_where_F_rose", f_rises},
                       {"largest_relative_rise", max_f_rise}};
    ctx.log(spec + ": H " + fmt_num(H0) + " → " + fmt_num(H) +
            ", max relative rise of H " + fmt_num(max_h_rise) + "; F rose on " +
            std::to_string(f_rises) + " steps");
    std::string stem;
    for (char ch : spec) stem += (std::isalnum(static_cast<unsigned char>(ch)) || ch == '.') ? ch : '_';
    ctx.write_csv("flow_" + stem, {"time", "F", "H"}, rows);
    ctx.plot({"flow_" + stem, "flow_" + stem, "time", {"F", "H"},
              "continuous-time Lion-K, K = " + spec + ": F and the Lyapunov function H",
              "time t", "value", false, true});
  }
  h_numbers["tolerance"] = tol;
  ctx.claim("h_nonincreasing",
            "H(x, m) never increases along the RK4-integrated flow (beyond " + fmt_num(tol) +
                " relative per step) for every map",
            h_tally.verdict(), h_numbers);
  ctx.claim("f_nonmonotone",
            "F itself is non-monotone in at least one run whose H decreases (paper 1, Figure 1)",
            judge_f_nonmonotone(f_rises_by_map, h_ok_by_map), f_numbers);
}

}  // namespace

Experiment lyapunov_experiment() {
  Experiment e;
  e.name = "lyapunov";
  e.paper = 1;
  e.summary = "continuous-time Lion-K (RK4): the Lyapunov function H decreases while F need not";
  e.full_runtime = "under a minute (22 s measured)";
  e.knobs = {
      {"maps", "relativistic:delta=1,logcosh,huber:delta=0.5,half_sq_frobenius",
       "relativistic:delta=1,logcosh,huber:delta=0.5,half_sq_frobenius",
       "differentiable convex maps (one parameter each: the list splits on commas)"},
      {"n", "6", "10", "rows of X in F = ¼‖XXᵀ − M‖²"},
      {"r", "3", "4", "columns of X (rank of M)"},
      {"kappa", "10", "10", "condition number of M"},
      {"alpha", "1", "1", "α (gradient scale)"},
      {"gamma", "0.2", "0.2", "γ (momentum damping)"},
      {"epsilon", "0.1", "0.1", "ε (Nesterov look-ahead), ελ ≤ 1"},
      {"lambda", "0.5", "0.5", "weight decay λ"},
      {"start", "0.5", "0.5", "λ‖X₀‖_op (< 1: inside the ball), M₀ = 0"},
      {"dt", "0.01", "0.005", "RK4 step"},
      {"time", "30", "60", "integration time"},
      {"tol", "1e-10", "1e-10", "claim: largest allowed relative rise of H per step"},
  };
  e.run = run;
  return e;
}

}  // namespace lab
}  // namespace specopt
