#include "lab/experiments/race.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <stdexcept>

#include <specopt/matfun/polar.h>
#include <specopt/optim/adamw.h>
#include <specopt/optim/muon.h>

namespace specopt {
namespace lab {
namespace {

// Takes one step given the gradients at the current parameters (t counts from 0).
using Stepper = std::function<void(int64_t t, const std::vector<at::Tensor>& grads)>;

// Runs `step` from the problem's start until tol, the cap or divergence. `params` are the
// tensors the stepper updates in place (already cloned from problem.init).
RaceRun run_loop(const RaceProblem& problem, const std::string& method, double lr, int64_t cap,
                 double tol, std::vector<at::Tensor>& params, const Stepper& step) {
  RaceRun run;
  run.method = method;
  run.lr = lr;
  std::vector<at::Tensor> grads, view(params.size());
  double e0 = std::numeric_limits<double>::quiet_NaN();
  for (int64_t t = 0;; ++t) {
    for (size_t i = 0; i < params.size(); ++i) view[i] = params[i].detach();
    const double e = problem.evaluate(view, &grads);
    if (t == 0) e0 = e;
    run.curve.push_back(e);
    run.final_error = e;
    if (!std::isfinite(e) || e > 1e6 * e0) {
      run.diverged = true;
      run.iterations = cap;
      return run;
    }
    if (e <= tol) {
      run.reached = true;
      run.iterations = t;
      return run;
    }
    if (t >= cap) {
      run.iterations = cap;
      return run;
    }
    step(t, grads);
  }
}

std::vector<at::Tensor> start(const RaceProblem& problem, bool leaf) {
  std::vector<at::Tensor> params;
  for (const auto& x : problem.init) {
    TORCH_CHECK(x.scalar_type() == at::kDouble, "race: parameters must be float64, got ",
                x.scalar_type());
    params.push_back(leaf ? x.clone().set_requires_grad(true) : x.clone());
  }
  return params;
}

RaceRun run_msign(const RaceProblem& problem, const RaceSettings& s) {
  auto params = start(problem, false);
  const auto polar_options = PolarOptions().method(PolarMethod::svd);
  return run_loop(problem, "msign", s.msign_lr, s.cap, s.tol, params,
                  [&](int64_t t, const std::vector<at::Tensor>& grads) {
                    const double eta = s.msign_lr * std::pow(s.msign_decay, double(t));
                    for (size_t i = 0; i < params.size(); ++i) {
                      at::Tensor O = polar(grads[i], polar_options);
                      if (problem.symmetrize_msign) O = 0.5 * (O + O.transpose(-2, -1));
                      params[i].sub_(O, eta);
                    }
                  });
}

RaceRun run_muon(const RaceProblem& problem, const RaceSettings& s) {
  auto params = start(problem, true);
  Muon opt(params, MuonOptions(s.muon_lr)
                       .momentum(s.muon_momentum)
                       .nesterov(true)
                       .polar(PolarOptions().method(PolarMethod::svd))
                       .shape_rule(ShapeRule::none));
  return run_loop(problem, "muon", s.muon_lr, s.cap, s.tol, params,
                  [&](int64_t t, const std::vector<at::Tensor>& grads) {
                    opt.param_groups()[0].options().set_lr(s.muon_lr *
                                                           std::pow(s.muon_decay, double(t)));
                    for (size_t i = 0; i < params.size(); ++i) params[i].mutable_grad() = grads[i];
                    opt.step();
                  });
}

RaceRun run_gd(const RaceProblem& problem, double lr, int64_t cap, double tol) {
  auto params = start(problem, false);
  return run_loop(problem, "gd", lr, cap, tol, params,
                  [&](int64_t, const std::vector<at::Tensor>& grads) {
                    for (size_t i = 0; i < params.size(); ++i) params[i].sub_(grads[i], lr);
                  });
}

RaceRun run_adam(const RaceProblem& problem, double lr, int64_t cap, double tol) {
  auto params = start(problem, true);
  AdamW opt(params, AdamWOptions(lr).weight_decay(0.0));
  return run_loop(problem, "adam", lr, cap, tol, params,
                  [&](int64_t, const std::vector<at::Tensor>& grads) {
                    for (size_t i = 0; i < params.size(); ++i) params[i].mutable_grad() = grads[i];
                    opt.step();
                  });
}

// Best of a grid: fewest iterations among the runs that reach tol; if none does, the one with
// the smallest final error. Larger steps go first, and each later run is capped at the best
// count so far (it cannot beat it beyond that), which keeps slow steps cheap.
RaceRun best_of_grid(const RaceProblem& problem, const std::string& method,
                     std::vector<double> lrs, const RaceSettings& s) {
  if (lrs.empty()) throw std::invalid_argument(method + ": the step grid is empty");
  std::sort(lrs.begin(), lrs.end(), std::greater<double>());
  RaceRun best;
  bool have = false;
  std::vector<RaceRun> grid;
  for (double lr : lrs) {
    const int64_t cap = (have && best.reached) ? best.iterations : s.cap;
    RaceRun run = method == "gd" ? run_gd(problem, lr, cap, s.tol)
                                 : run_adam(problem, lr, cap, s.tol);
    const bool better =
        !have || (run.reached && (!best.reached || run.iterations < best.iterations)) ||
        (!run.reached && !best.reached && !run.diverged &&
         (best.diverged || run.final_error < best.final_error));
    RaceRun summary = run;
    summary.curve.clear();
    grid.push_back(std::move(summary));
    if (better) {
      best = std::move(run);
      have = true;
    }
  }
  best.grid = std::move(grid);
  return best;
}

}  // namespace

std::vector<std::string> race_method_names() { return {"msign", "muon", "gd", "adam"}; }

RaceRun race(const RaceProblem& problem, const std::string& method, const RaceSettings& s) {
  if (method == "msign") return run_msign(problem, s);
  if (method == "muon") return run_muon(problem, s);
  if (method == "gd") return best_of_grid(problem, method, s.gd_lrs, s);
  if (method == "adam") return best_of_grid(problem, method, s.adam_lrs, s);
  throw std::invalid_argument("unknown method '" + method + "' (known: msign, muon, gd, adam)");
}

std::string format_iterations(const RaceRun& run) {
  return (run.reached ? "" : "≥ ") + std::to_string(run.iterations);
}

}  // namespace lab
}  // namespace specopt
