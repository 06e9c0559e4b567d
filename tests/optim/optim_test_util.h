#pragma once
// Shared helpers for the optimizer suite: deterministic problems, trajectories, factories.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "specopt/optim/optim.h"
#include "tests/matfun/test_util.h"

namespace specopt_optim_test {

using GradFn = std::function<at::Tensor(const at::Tensor& X)>;

// A smooth nonlinear gradient field: g(X) = (X − T) + 0.3·sin(3X), T fixed by `seed`.
inline GradFn nonlinear_grad(at::IntArrayRef shape, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  auto T = at::normal(0.0, 1.0, shape, gen, at::TensorOptions().dtype(at::kDouble));
  return [T](const at::Tensor& X) { return (X - T.to(X.dtype())) + 0.3 * at::sin(3.0 * X); };
}

// A registered rule (a name `specopt list` shows) as the shared suites run it: the registry's
// options at `lr`, with `weight_decay` where the rule declares it and `nonfinite` skip when
// asked. The suites iterate registered_optimizers(), so a new rule joins them through its
// registry line.
inline std::unique_ptr<torch::optim::OptimizerOptions> registry_options(
    const std::string& name, double lr, double weight_decay, bool skip_nonfinite = false) {
  auto rule = specopt::make_optimizer_options(name);
  const auto keys = specopt::option_keys(*rule);
  if (std::find(keys.begin(), keys.end(), "weight_decay") != keys.end()) {
    specopt::set_option(*rule, "weight_decay", std::to_string(weight_decay));
  }
  if (skip_nonfinite) rule->set_nonfinite(specopt::NonFinite::skip);
  auto options = rule->clone_options();
  options->set_lr(lr);
  return options;
}

// An optimizer of registered rule `name` over `groups` (group i at lrs[i]; defaults at lr 7).
inline std::unique_ptr<specopt::SpecoptOptimizer> registry_optimizer(
    const std::string& name, const std::vector<std::vector<at::Tensor>>& groups,
    const std::vector<double>& lrs, double weight_decay, bool skip_nonfinite = false) {
  std::vector<torch::optim::OptimizerParamGroup> pg;
  for (size_t i = 0; i < groups.size(); ++i) {
    pg.emplace_back(groups[i], registry_options(name, lrs[i], weight_decay, skip_nonfinite));
  }
  const auto defaults = registry_options(name, 7.0, weight_decay, skip_nonfinite);
  return std::make_unique<specopt::SpecoptOptimizer>(
      std::move(pg), dynamic_cast<const specopt::RuleOptions&>(*defaults));
}

inline at::Tensor randn(at::IntArrayRef shape, uint64_t seed, at::ScalarType dt = at::kDouble) {
  auto gen = at::detail::createCPUGenerator(seed);
  return at::normal(0.0, 1.0, shape, gen, at::TensorOptions().dtype(at::kDouble)).to(dt);
}

// Runs `steps` steps of `opt` on the single parameter X (which `opt` was built over), the
// gradient from `grad`; returns X after each step (copies).
inline std::vector<at::Tensor> trajectory(torch::optim::Optimizer& opt, at::Tensor X,
                                          const GradFn& grad, int steps) {
  std::vector<at::Tensor> out;
  for (int t = 0; t < steps; ++t) {
    X.mutable_grad() = grad(X.detach());
    opt.step();
    out.push_back(X.detach().clone());
  }
  return out;
}

// A hand-written update X ← step(X, g, t) (t = 1, 2, ...), same output shape.
inline std::vector<at::Tensor> hand_trajectory(
    at::Tensor X, const GradFn& grad, int steps,
    const std::function<void(at::Tensor& X, const at::Tensor& g, int t)>& step) {
  std::vector<at::Tensor> out;
  X = X.clone();
  for (int t = 1; t <= steps; ++t) {
    step(X, grad(X), t);
    out.push_back(X.clone());
  }
  return out;
}

// Largest |difference| over a whole trajectory, and that the trajectory moved at all.
inline void expect_same_trajectory(const std::vector<at::Tensor>& a,
                                   const std::vector<at::Tensor>& b, double tol,
                                   const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  ASSERT_GE(a.size(), 10u) << what << ": equivalences are asserted on >= 10 steps";
  double worst = 0;
  for (size_t t = 0; t < a.size(); ++t) {
    worst = std::max(worst, specopt_test::max_abs_diff(a[t], b[t]));
  }
  const double moved = specopt_test::max_abs_diff(a.front(), a.back());
  EXPECT_LE(worst, tol) << what;
  EXPECT_GT(moved, 1e-3) << what << ": trajectory did not move";
}

}  // namespace specopt_optim_test
