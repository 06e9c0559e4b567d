#pragma once
// What DistributedOptimizer needs to slice the parameters of element-wise optimizers (AdamW,
// Lion) across ranks: a same-type optimizer over slices, slices that alias their parameter's
// storage, and the cutting and joining of per-parameter state when the slicing changes (a
// checkpoint loaded at another world size). Internal to specopt/dist.
#include <ATen/ATen.h>
#include <torch/optim/optimizer.h>

#include <cstdint>
#include <memory>
#include <vector>

#include <specopt/optim/base.h>

namespace specopt {
namespace slices {

// A new optimizer with `like`'s default options over `groups` (each group with slices of an
// element-wise rule: RuleOptions::elementwise(); empty groups of any rule keep their place).
std::unique_ptr<SpecoptOptimizer> make_like(const SpecoptOptimizer& like,
                                            std::vector<torch::optim::OptimizerParamGroup> groups);

// A 1-D tensor aliasing elements [begin, begin + len) of contiguous `param` (no autograd).
at::Tensor alias(const at::Tensor& param, int64_t begin, int64_t len);
// Points `slice` (made by alias) at those elements again, keeping its identity (and so its
// optimizer state): torch::load replaces a parameter's storage with set_().
void rebind(at::Tensor& slice, const at::Tensor& param, int64_t begin, int64_t len);

// Elements [begin, begin + len) of the flattened tensors of one parameter's state.
struct Piece {
  const torch::optim::OptimizerParamState* state = nullptr;
  int64_t begin = 0;
  int64_t len = 0;
};
// The state of the pieces laid end to end, its tensors reshaped to `shape` (fresh memory).
// Every declared tensor field is cut; integer fields (step counts) must agree. Throws naming
// `what` on pieces of different state types or whose step counts differ.
std::unique_ptr<torch::optim::OptimizerParamState> join(const std::vector<Piece>& pieces,
                                                        at::IntArrayRef shape,
                                                        const std::string& what);

}  // namespace slices
}  // namespace specopt
