#include "specopt/optim/elementwise_slices.h"

#include <c10/core/GradMode.h>
#include <c10/util/Exception.h>

#include <string>
#include <typeinfo>

#include <specopt/optim/adamw.h>

namespace specopt {
namespace slices {

bool is_elementwise(const SpecoptOptimizer& optimizer) {
  return dynamic_cast<const AdamW*>(&optimizer) != nullptr ||
         dynamic_cast<const Lion*>(&optimizer) != nullptr;
}

std::unique_ptr<SpecoptOptimizer> make_like(const SpecoptOptimizer& like,
                                            std::vector<torch::optim::OptimizerParamGroup> groups) {
  if (dynamic_cast<const AdamW*>(&like) != nullptr) {
    return std::make_unique<AdamW>(std::move(groups),
                                   static_cast<const AdamWOptions&>(like.defaults()));
  }
  if (dynamic_cast<const Lion*>(&like) != nullptr) {
    return std::make_unique<Lion>(std::move(groups),
                                  static_cast<const LionOptions&>(like.defaults()));
  }
  TORCH_CHECK(false, "slices::make_like: ", like.name(), " is not an element-wise optimizer");
}

at::Tensor alias(const at::Tensor& param, int64_t begin, int64_t len) {
  at::Tensor slice = at::empty({0}, param.options());
  rebind(slice, param, begin, len);
  return slice;
}

void rebind(at::Tensor& slice, const at::Tensor& param, int64_t begin, int64_t len) {
  TORCH_CHECK(param.is_contiguous(), "DistributedOptimizer: a sliced parameter (shape ",
              param.sizes(), ") is no longer contiguous");
  TORCH_CHECK(begin >= 0 && len >= 0 && begin + len <= param.numel(),
              "DistributedOptimizer: slice [", begin, ", ", begin + len, ") outside a parameter of ",
              param.numel(), " elements");
  c10::NoGradGuard no_grad;
  slice.set_(param.storage(), param.storage_offset() + begin, {len}, {1});
}

namespace {

// The pieces' `field` laid end to end, reshaped.
template <class State, class Get>
at::Tensor join_field(const std::vector<Piece>& pieces, at::IntArrayRef shape, Get get) {
  std::vector<at::Tensor> parts;
  for (const auto& pc : pieces) {
    parts.push_back(get(static_cast<const State&>(*pc.state)).reshape({-1}).narrow(0, pc.begin, pc.len));
  }
  return at::cat(parts).reshape(shape);  // cat allocates: nothing aliases the pieces
}

template <class State>
int64_t common_step(const std::vector<Piece>& pieces, const std::string& what) {
  const int64_t step = static_cast<const State&>(*pieces.front().state).step();
  for (const auto& pc : pieces) {
    TORCH_CHECK(static_cast<const State&>(*pc.state).step() == step, what,
                ": the slices' step counts differ (", step, " and ",
                static_cast<const State&>(*pc.state).step(), ")");
  }
  return step;
}

}  // namespace

std::unique_ptr<torch::optim::OptimizerParamState> join(const std::vector<Piece>& pieces,
                                                        at::IntArrayRef shape,
                                                        const std::string& what) {
  TORCH_CHECK(!pieces.empty(), what, ": no state pieces to join");
  const auto* first = pieces.front().state;
  for (const auto& pc : pieces) {
    TORCH_CHECK(pc.state != nullptr && typeid(*pc.state) == typeid(*first), what,
                ": the slices' states are of different types");
  }
  if (dynamic_cast<const AdamWParamState*>(first) != nullptr) {
    auto out = std::make_unique<AdamWParamState>();
    out->step(common_step<AdamWParamState>(pieces, what));
    out->exp_avg(join_field<AdamWParamState>(pieces, shape, [](const AdamWParamState& s) { return s.exp_avg(); }));
    out->exp_avg_sq(join_field<AdamWParamState>(pieces, shape, [](const AdamWParamState& s) { return s.exp_avg_sq(); }));
    return out;
  }
  if (dynamic_cast<const LionParamState*>(first) != nullptr) {
    auto out = std::make_unique<LionParamState>();
    out->step(common_step<LionParamState>(pieces, what));
    out->exp_avg(join_field<LionParamState>(pieces, shape, [](const LionParamState& s) { return s.exp_avg(); }));
    return out;
  }
  TORCH_CHECK(false, what, ": only AdamW and Lion state can be cut into slices");
}

}  // namespace slices
}  // namespace specopt
