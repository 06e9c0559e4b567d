#include <specopt/optim/base.h>

#include <cmath>
#include <unordered_map>

namespace specopt {

void SpecoptOptimizer::check_no_duplicates() const {
  std::unordered_map<const void*, std::pair<size_t, size_t>> seen;
  for (size_t gi = 0; gi < param_groups_.size(); ++gi) {
    const auto& params = param_groups_[gi].params();
    for (size_t pi = 0; pi < params.size(); ++pi) {
      const void* key = params[pi].unsafeGetTensorImpl();
      auto inserted = seen.emplace(key, std::make_pair(gi, pi));
      TORCH_CHECK(inserted.second, name(), ": parameter ", pi, " of param group ", gi,
                  " (shape ", params[pi].sizes(), ") is the same tensor as parameter ",
                  inserted.first->second.second, " of param group ",
                  inserted.first->second.first,
                  "; a parameter may appear only once across all groups");
    }
  }
}

std::pair<int64_t, int64_t> SpecoptOptimizer::find_nonfinite_grad() const {
  std::vector<at::Tensor> flags;
  std::vector<std::pair<int64_t, int64_t>> where;
  for (size_t gi = 0; gi < param_groups_.size(); ++gi) {
    const auto& params = param_groups_[gi].params();
    for (size_t pi = 0; pi < params.size(); ++pi) {
      const auto& g = params[pi].grad();
      if (!g.defined()) continue;
      flags.push_back(at::isfinite(g).all().reshape({1}));
      where.emplace_back(static_cast<int64_t>(gi), static_cast<int64_t>(pi));
    }
  }
  if (flags.empty()) return {-1, -1};
  // One device → host transfer for the whole model.
  const auto ok = at::cat(flags).to(at::kCPU);
  if (ok.all().item<bool>()) return {-1, -1};
  const auto* data = ok.data_ptr<bool>();
  for (size_t i = 0; i < where.size(); ++i) {
    if (!data[i]) return where[i];
  }
  return {-1, -1};
}

}  // namespace specopt

namespace specopt {
namespace detail {

void check_option_nonneg(const char* options, const char* name, double value) {
  TORCH_CHECK(std::isfinite(value) && value >= 0, "Invalid ", options, ".", name, ": ", value,
              " (must be finite and >= 0)");
}

void check_option_unit(const char* options, const char* name, double value) {
  TORCH_CHECK(value >= 0 && value <= 1, "Invalid ", options, ".", name, ": ", value,
              " (must be in [0, 1])");
}

void check_option_positive(const char* options, const char* name, double value) {
  TORCH_CHECK(std::isfinite(value) && value > 0, "Invalid ", options, ".", name, ": ", value,
              " (must be finite and > 0)");
}

}  // namespace detail
}  // namespace specopt
