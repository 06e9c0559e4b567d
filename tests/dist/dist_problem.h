#pragma once
// The training problem shared by the multi-process tests and their single-process references:
// a 4-layer bias-free tanh MLP (16 → 32 → 32 → 32 → 16) on synthetic regression data, a fixed
// global batch of 32 rows per step, rank r of N taking rows [32r/N, 32(r+1)/N). Every rank's
// loss is the mean over its rows, so the average of the ranks' gradients is the gradient of the
// global batch's mean loss.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/GradMode.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "specopt/optim/optim.h"
#include "specopt/dist/distributed.h"

namespace dist_test {

constexpr int64_t kBatch = 32;
constexpr int64_t kIn = 16;

inline at::Tensor normal(at::IntArrayRef shape, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  return at::normal(0.0, 1.0, shape, gen, at::TensorOptions().dtype(at::kFloat));
}

inline std::vector<at::Tensor> make_params() {
  const std::vector<std::vector<int64_t>> shapes = {{32, 16}, {32, 32}, {32, 32}, {16, 32}};
  std::vector<at::Tensor> ps;
  for (size_t i = 0; i < shapes.size(); ++i) {
    auto p = normal(shapes[i], 100 + i).mul_(1.0 / std::sqrt(double(shapes[i][1])));
    p.set_requires_grad(true);
    ps.push_back(p);
  }
  return ps;
}

// This rank's loss at `step`: mean squared error over its rows of the step's global batch.
inline at::Tensor local_loss(const std::vector<at::Tensor>& ps, int64_t step, int rank,
                             int world) {
  auto x = normal({kBatch, kIn}, 1000 + static_cast<uint64_t>(step));
  auto target = at::sin(x.matmul(normal({kIn, 16}, 7)));
  const int64_t lo = kBatch * rank / world, hi = kBatch * (rank + 1) / world;
  x = x.narrow(0, lo, hi - lo);
  target = target.narrow(0, lo, hi - lo);
  auto h = x;
  for (size_t i = 0; i + 1 < ps.size(); ++i) h = at::tanh(h.matmul(ps[i].t()));
  auto y = h.matmul(ps.back().t());
  return (y - target).pow(2).mean();
}

inline std::unique_ptr<specopt::SpecoptOptimizer> make_inner(const std::string& kind,
                                                             const std::vector<at::Tensor>& ps) {
  if (kind == "muon") {
    // float32 Newton–Schulz: with Muon's default bf16 arithmetic (where native) the ≈1e-7
    // differences of the gradient sum's order would be rounded to bf16 (≈4e-3) and hide what
    // these tests check, that the distribution itself changes nothing.
    const auto o = specopt::MuonOptions(0.02).weight_decay(0.01);
    return std::make_unique<specopt::Muon>(
        ps, specopt::MuonOptions(o).polar(specopt::PolarOptions(o.polar()).bf16_where_fast(false)));
  }
  if (kind == "dion2") {
    // A quarter of each matrix's short side orthogonalised per step (float32 Newton–Schulz, as
    // for Muon above): the selection is made by the owner from the averaged momentum.
    const auto o = specopt::Dion2Options(0.02).weight_decay(0.01);
    const auto f32 = specopt::PolarOptions(o.polar()).bf16_where_fast(false);
    return std::make_unique<specopt::Dion2>(ps, specopt::Dion2Options(o).polar(f32));
  }
  if (kind == "spectral_adam") {
    return std::make_unique<specopt::SpectralAdam>(
        ps, specopt::SpectralAdamOptions::adamq(3e-3).weight_decay(0.01));
  }
  if (kind == "adamw") {
    return std::make_unique<specopt::AdamW>(ps, specopt::AdamWOptions(3e-3).weight_decay(0.01));
  }
  if (kind == "lion") {
    return std::make_unique<specopt::Lion>(ps, specopt::LionOptions(3e-4).weight_decay(0.01));
  }
  throw std::invalid_argument("dist test: unknown optimizer '" + kind + "'");
}

inline std::vector<float> flat_params(const std::vector<at::Tensor>& ps) {
  std::vector<at::Tensor> parts;
  for (const auto& p : ps) parts.push_back(p.detach().reshape({-1}));
  auto f = at::cat(parts).contiguous();
  return std::vector<float>(f.data_ptr<float>(), f.data_ptr<float>() + f.numel());
}

// One optimizer step of the problem at `step` on this rank.
inline void train_step(specopt::DistributedOptimizer& opt, const std::vector<at::Tensor>& ps,
                       int64_t step) {
  opt.zero_grad();
  auto loss = local_loss(ps, step, opt.rank(), opt.world_size());
  loss.backward();
  opt.step();
}

}  // namespace dist_test
