#include <specopt/optim/base.h>

#include <atomic>
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

namespace {
std::atomic<int64_t> host_reads{0};
}  // namespace

int64_t optimizer_host_reads() { return host_reads.load(); }

namespace detail {

int64_t first_nonfinite(const std::vector<at::Tensor>& grads) {
  if (grads.empty()) return -1;
  const auto device = grads.front().device();
  std::vector<at::Tensor> flags;
  flags.reserve(grads.size());
  for (const auto& g : grads) flags.push_back(at::isfinite(g).all().to(device));
  // The one device → host transfer; then the flags are plain host memory.
  ++host_reads;
  const auto ok = at::stack(flags).to(at::kCPU);
  const auto* data = ok.data_ptr<bool>();
  for (size_t i = 0; i < grads.size(); ++i) {
    if (!data[i]) return static_cast<int64_t>(i);
  }
  return -1;
}

}  // namespace detail

bool SpecoptOptimizer::gradients_finite() {
  std::vector<at::Tensor> grads;
  std::vector<std::pair<size_t, size_t>> where;
  for (size_t gi = 0; gi < param_groups_.size(); ++gi) {
    const auto* rule = dynamic_cast<const RuleOptions*>(&param_groups_[gi].options());
    if (rule != nullptr && rule->nonfinite() == NonFinite::ignore) continue;
    const auto& params = param_groups_[gi].params();
    for (size_t pi = 0; pi < params.size(); ++pi) {
      if (!params[pi].grad().defined()) continue;
      grads.push_back(params[pi].grad());
      where.emplace_back(gi, pi);
    }
  }
  const int64_t bad = detail::first_nonfinite(grads);
  if (bad < 0) return true;
  const auto gi = where[static_cast<size_t>(bad)].first;
  const auto pi = where[static_cast<size_t>(bad)].second;
  const auto* rule = dynamic_cast<const RuleOptions*>(&param_groups_[gi].options());
  if (rule != nullptr && rule->nonfinite() == NonFinite::skip) {
    ++skipped_steps_;
    return false;
  }
  TORCH_CHECK(false, name(), ": non-finite (NaN or Inf) gradient in param group ", gi,
              ", parameter ", pi, " (shape ", param_groups_[gi].params()[pi].sizes(),
              "); no parameter or state was modified. Set nonfinite(\"skip\") (or "
              "skip_nonfinite(true)) to skip such steps instead.");
  return false;
}

}  // namespace specopt

namespace specopt {
namespace detail {

void check_option_unit(const char* options, const char* name, double value) {
  TORCH_CHECK(value >= 0 && value <= 1, "Invalid ", options, ".", name, ": ", value,
              " (must be in [0, 1])");
}

}  // namespace detail
}  // namespace specopt
