#include "specopt/dist/elementwise_slices.h"

#include <c10/core/GradMode.h>
#include <c10/util/Exception.h>

#include <string>
#include <typeinfo>

#include <specopt/optim/fields.h>

namespace specopt {
namespace slices {

std::unique_ptr<SpecoptOptimizer> make_like(const SpecoptOptimizer& like,
                                            std::vector<torch::optim::OptimizerParamGroup> groups) {
  // Groups without slices (a hybrid's spectral group) keep their place, so group indices match.
  for (size_t g = 0; g < groups.size(); ++g) {
    const auto* rule = dynamic_cast<const RuleOptions*>(&groups[g].options());
    TORCH_CHECK(rule != nullptr && (groups[g].params().empty() || rule->elementwise()),
                "slices::make_like: param group ", g, " of ", like.name(),
                " has slices but is not of an element-wise rule");
  }
  return std::make_unique<SpecoptOptimizer>(std::move(groups),
                                            dynamic_cast<const RuleOptions&>(like.defaults()));
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

// A state's declared tensors and integers, in declaration order.
struct Collect : FieldVisitor {
  std::vector<at::Tensor> tensors;
  std::vector<int64_t> integers;
  void visit(const std::string&, int64_t& x, Range) override { integers.push_back(x); }
  void visit(const std::string&, at::Tensor& t) override { tensors.push_back(t); }
};

Collect collect(const torch::optim::OptimizerParamState& state, const std::string& what) {
  auto* fields = dynamic_cast<DeclaredFields*>(const_cast<torch::optim::OptimizerParamState*>(&state));
  TORCH_CHECK(fields != nullptr, what, ": a slice's state has no declared fields");
  Collect c;
  fields->fields(c);
  return c;
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
  std::vector<Collect> parts;
  for (const auto& pc : pieces) parts.push_back(collect(*pc.state, what));
  // Integer fields (step counts) must agree; tensor fields are laid end to end.
  for (const auto& part : parts) {
    for (size_t k = 0; k < part.integers.size(); ++k) {
      TORCH_CHECK(part.integers[k] == parts.front().integers[k], what,
                  ": the slices' step counts differ (", parts.front().integers[k], " and ",
                  part.integers[k], ")");
    }
  }
  std::vector<at::Tensor> joined;
  for (size_t k = 0; k < parts.front().tensors.size(); ++k) {
    std::vector<at::Tensor> cut;
    for (size_t i = 0; i < pieces.size(); ++i) {
      const auto& t = parts[i].tensors[k];
      TORCH_CHECK(t.defined(), what, ": a slice's state tensor is undefined");
      cut.push_back(t.reshape({-1}).narrow(0, pieces[i].begin, pieces[i].len));
    }
    joined.push_back(at::cat(cut).reshape(shape));  // cat allocates: nothing aliases the pieces
  }
  auto out = first->clone();
  size_t next = 0;
  for_each_tensor(dynamic_cast<DeclaredFields&>(*out),
                  [&](const std::string&, at::Tensor& t) { t = joined[next++]; });
  return out;
}

}  // namespace slices
}  // namespace specopt
