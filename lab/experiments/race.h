#pragma once
// Iterations to a target error, for the optimizers paper 2 compares (arXiv 2601.13474;
// docs/algorithms.md, "Paper 2's testbeds"):
//
//   msign  simplified Muon:  X ← X − η₀ρᵗ · msign(∇f(X))   (exact polar factor, no momentum)
//   muon   specopt::Muon (Nesterov momentum, exact polar, no shape factor), same η₀ρᵗ schedule
//   gd     X ← X − η ∇f(X), the best fixed η of a grid
//   adam   specopt::AdamW without weight decay, the best fixed lr of a grid
//
// Shared by the factorization and icl experiments. Everything runs in float64. A run stops at
// the first iteration whose error is ≤ tol, at the cap (then its count is a lower bound:
// "≥ cap"), or when the error diverges (non-finite or 1e6 × the starting error).
#include <ATen/ATen.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace specopt {
namespace lab {

// A problem over float64 matrices. `evaluate` returns the relative error at `params` (1 at
// the start for the testbeds here, 0 at the minimiser) and, when `grads` is not null, fills
// it with the loss's gradient for each parameter.
struct RaceProblem {
  std::vector<at::Tensor> init;
  std::function<double(const std::vector<at::Tensor>& params, std::vector<at::Tensor>* grads)>
      evaluate;
  // Replace the polar factor O by (O + Oᵀ)/2: for symmetric problems whose gradient is
  // symmetric, where a mode crossing zero makes the computed polar factor inject
  // antisymmetric round-off (the pitfall docs/algorithms.md notes).
  bool symmetrize_msign = false;
};

struct RaceSettings {
  double tol = 1e-6;
  int64_t cap = 100000;  // iterations per run
  double msign_lr = 0.3;
  double msign_decay = 0.97;
  double muon_lr = 0.3;
  double muon_decay = 0.97;
  double muon_momentum = 0.9;
  std::vector<double> gd_lrs = {0.1};
  std::vector<double> adam_lrs = {1e-2};
  std::vector<std::string> methods = {"msign", "muon", "gd", "adam"};
};

struct RaceRun {
  std::string method;
  double lr = 0;                 // η₀ (msign, muon) or the fixed step (gd, adam)
  int64_t iterations = 0;        // iterations taken to reach tol; the cap when not reached
  bool reached = false;          // false: iterations is a lower bound (cap or divergence)
  bool diverged = false;
  double final_error = 0;
  std::vector<double> curve;     // error before each iteration: curve[t], t = 0..iterations
  std::vector<RaceRun> grid;     // gd/adam: every step of the grid (without curves)
};

std::vector<std::string> race_method_names();  // msign, muon, gd, adam

// One method: msign/muon use the settings' schedule, gd/adam try every step of their grid
// (largest first; a step stops once it cannot beat the best so far) and return the best, with
// the grid's runs in `grid`. Throws std::invalid_argument naming an unknown method.
RaceRun race(const RaceProblem& problem, const std::string& method, const RaceSettings& s);

// "415" or "≥ 20000" (cap hit or diverged).
std::string format_iterations(const RaceRun& run);

}  // namespace lab
}  // namespace specopt
