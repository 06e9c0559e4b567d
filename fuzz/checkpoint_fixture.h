#pragma once
// The fixed optimizers of the checkpoint fuzz target (fuzz/checkpoint_fuzz.cpp) and of its
// seed generator (fuzz/checkpoint_seeds.cpp), so that the seeds fit the target's optimizers:
//
//   Muon   group 0 {W0 4×3 float32}, group 1 {W1 3×5 float64, W2 2×2 float32 (never gets a
//          gradient: no state)}, different options per group; an LrScheduler and a
//          MomentumScheduler; extras {"epoch": 3}, {"best": 0.25}.
//   AdamW  one group {b 3 float32, M 2×3 float64}; an LrScheduler.
//
// Both are stepped `steps` times with fixed gradients, so their state is deterministic.
#include <ATen/ATen.h>
#include <torch/optim/optimizer.h>

#include <memory>
#include <string>
#include <vector>

#include "specopt/optim/adamw.h"
#include "specopt/optim/checkpoint.h"
#include "specopt/optim/muon.h"
#include "specopt/optim/schedule.h"

namespace specopt_fuzz {

inline at::Tensor filled(std::vector<int64_t> shape, at::ScalarType dtype, double offset) {
  const int64_t n = at::ones(shape).numel();
  return (at::arange(n, at::kDouble).reshape(shape).mul(0.37).add(offset).sin())
      .to(dtype)
      .requires_grad_(true);
}

// One optimizer with its schedulers and extras; `snapshot()` is what the target compares.
struct Case {
  std::vector<at::Tensor> params;
  std::unique_ptr<specopt::SpecoptOptimizer> opt;
  std::unique_ptr<specopt::LrScheduler> lr;
  std::unique_ptr<specopt::MomentumScheduler> mom;
  specopt::CheckpointExtras extras;

  // Every parameter gets a fixed gradient (except those listed in `no_grad`), then `steps`
  // steps of the optimizer and its schedulers.
  void step(int steps, const std::vector<size_t>& no_grad = {}) {
    for (size_t i = 0; i < params.size(); ++i) {
      bool skip = false;
      for (size_t j : no_grad) skip = skip || j == i;
      if (!skip) params[i].mutable_grad() = params[i].detach().cos().mul(0.5 + 0.1 * i);
    }
    for (int s = 0; s < steps; ++s) {
      opt->step();
      lr->step();
      if (mom) mom->step();
    }
  }
  // The optimizer's full checkpoint (parameters included): equal bytes, equal state.
  std::string snapshot() const { return specopt::checkpoint_bytes(*opt, extras); }
};

inline std::unique_ptr<Case> make_muon(int steps) {
  auto c = std::make_unique<Case>();
  c->params = {filled({4, 3}, at::kFloat, 0.1), filled({3, 5}, at::kDouble, 0.2),
               filled({2, 2}, at::kFloat, 0.3)};
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(std::vector<at::Tensor>{c->params[0]},
                      std::make_unique<specopt::MuonOptions>(
                          specopt::MuonOptions(0.02).weight_decay(0.1)));
  groups.emplace_back(std::vector<at::Tensor>{c->params[1], c->params[2]},
                      std::make_unique<specopt::MuonOptions>(specopt::MuonOptions(0.05)
                                                                 .momentum(0.9)
                                                                 .nesterov(false)
                                                                 .shape_rule("match_rms_adamw")));
  c->opt = std::make_unique<specopt::Muon>(std::move(groups), specopt::MuonOptions(0.02));
  c->lr = std::make_unique<specopt::LrScheduler>(*c->opt, specopt::WarmupCosineSchedule(2, 20));
  c->mom = std::make_unique<specopt::MomentumScheduler>(
      *c->opt, specopt::ConstantSchedule(0.9), specopt::momentum_setter<specopt::MuonOptions>());
  c->extras.lr_schedulers = {c->lr.get()};
  c->extras.momentum_schedulers = {c->mom.get()};
  c->extras.integers["epoch"] = 3;
  c->extras.doubles["best"] = 0.25;
  c->extras.save_parameters = true;
  c->step(steps, /*no_grad=*/{2});
  return c;
}

inline std::unique_ptr<Case> make_adamw(int steps) {
  auto c = std::make_unique<Case>();
  c->params = {filled({3}, at::kFloat, 0.4), filled({2, 3}, at::kDouble, 0.5)};
  c->opt = std::make_unique<specopt::AdamW>(c->params,
                                            specopt::AdamWOptions(0.01).weight_decay(0.05));
  c->lr = std::make_unique<specopt::LrScheduler>(*c->opt, specopt::ConstantSchedule(1.0));
  c->extras.lr_schedulers = {c->lr.get()};
  c->extras.save_parameters = true;
  c->step(steps);
  return c;
}

}  // namespace specopt_fuzz
