#include <specopt/optim/base.h>

#include <atomic>
#include <cmath>
#include <unordered_map>

#include <c10/core/GradMode.h>

#include <specopt/matfun/validate.h>
#include <specopt/optim/fused.h>

namespace specopt {

SpecoptOptimizer::SpecoptOptimizer(std::vector<torch::optim::OptimizerParamGroup> groups,
                                   const RuleOptions& defaults)
    : torch::optim::Optimizer(groups, defaults.clone_options()) {
  defaults.validate();
  for (size_t i = 0; i < groups.size() && i < param_groups_.size(); ++i) {
    if (groups[i].has_options()) adopt_options(i, groups[i].options());
  }
  check_setup();
}

void SpecoptOptimizer::adopt_options(size_t i, const torch::optim::OptimizerOptions& own) {
  const auto* rule = dynamic_cast<const RuleOptions*>(&own);
  TORCH_CHECK(rule != nullptr, name(), ": param group ", i, " carries options that are not a "
              "specopt rule's (give it MuonOptions, AdamWOptions, ... or no options to use the "
              "defaults)");
  param_groups_[i].set_options(rule->clone_options());
}

void SpecoptOptimizer::add_param_group(const torch::optim::OptimizerParamGroup& group) {
  torch::optim::Optimizer::add_param_group(group);
  try {
    if (group.has_options()) adopt_options(param_groups_.size() - 1, group.options());
    check_setup();
  } catch (...) {
    param_groups_.pop_back();
    throw;
  }
}

std::string SpecoptOptimizer::name() const {
  const auto* rule = dynamic_cast<const RuleOptions*>(&defaults());
  return rule != nullptr ? rule->kind() : "SpecoptOptimizer";
}

std::string SpecoptOptimizer::param_name(size_t group, size_t index) const {
  return "param group " + std::to_string(group) + ", parameter " + std::to_string(index);
}

const RuleOptions& SpecoptOptimizer::rule(size_t group) const {
  TORCH_CHECK(group < param_groups_.size(), name(), ": no param group ", group, " (",
              param_groups_.size(), " groups)");
  const auto* rule = dynamic_cast<const RuleOptions*>(&param_groups_[group].options());
  TORCH_CHECK(rule != nullptr, name(), ": param group ", group,
              " carries options that are not a specopt rule's");
  return *rule;
}

void SpecoptOptimizer::set_skipped_steps(int64_t n) {
  TORCH_CHECK(n >= 0, name(), ": skipped_steps must be >= 0, got ", n);
  skipped_steps_ = n;
}

void SpecoptOptimizer::check_setup() const {
  std::unordered_map<const void*, std::pair<size_t, size_t>> seen;
  for (size_t gi = 0; gi < param_groups_.size(); ++gi) {
    const RuleOptions& r = rule(gi);
    r.validate();
    const auto& params = param_groups_[gi].params();
    for (size_t pi = 0; pi < params.size(); ++pi) {
      auto inserted = seen.emplace(params[pi].unsafeGetTensorImpl(), std::make_pair(gi, pi));
      TORCH_CHECK(inserted.second, name(), ": ", param_name(gi, pi), " (shape ",
                  params[pi].sizes(), ") is the same tensor as ",
                  param_name(inserted.first->second.first, inserted.first->second.second),
                  "; a parameter may appear only once across all groups");
      r.check_param(params[pi], name() + ": " + param_name(gi, pi));
    }
  }
}

torch::optim::OptimizerParamState& SpecoptOptimizer::state_for(const at::Tensor& p,
                                                               const RuleOptions& rule) {
  auto key = state_key(state_, p);
  auto it = state_.find(key);
  if (it == state_.end()) it = state_.emplace(std::move(key), rule.make_state()).first;
  return *it->second;
}

at::Tensor SpecoptOptimizer::evaluate(const LossClosure& closure) {
  if (!closure) return {};
  c10::AutoGradMode enable_grad(true);
  return closure();
}

torch::Tensor SpecoptOptimizer::step(LossClosure closure) {
  c10::NoGradGuard no_grad;
  const at::Tensor loss = evaluate(closure);
  if (gradients_finite()) update_all();
  return loss;
}

void SpecoptOptimizer::update_all() {
  c10::NoGradGuard no_grad;
  detail::InputsCheckedScope inputs_checked;
  for (size_t gi = 0; gi < param_groups_.size(); ++gi) {
    const RuleOptions& r = rule(gi);
    items_.clear();
    for (auto& p : param_groups_[gi].params()) {
      if (!p.grad().defined()) continue;
      // `param` shares storage with p: in-place updates reach the parameter.
      items_.push_back({&state_for(p, r), p, p.grad()});
    }
    if (!items_.empty()) r.update(items_);
  }
  items_.clear();
}

namespace {
std::atomic<int64_t> host_reads{0};
}  // namespace

int64_t optimizer_host_reads() { return host_reads.load(); }

namespace detail {

int64_t first_nonfinite(const std::vector<at::Tensor>& grads) {
  if (grads.empty()) return -1;
  ++host_reads;  // at most one device → host transfer (none for CPU tensors)
  return fused::first_nonfinite(grads);
}

}  // namespace detail

bool SpecoptOptimizer::gradients_finite() {
  std::vector<at::Tensor> grads;
  std::vector<std::pair<size_t, size_t>> where;
  for (size_t gi = 0; gi < param_groups_.size(); ++gi) {
    if (rule(gi).nonfinite() == NonFinite::ignore) continue;
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
  if (rule(gi).nonfinite() == NonFinite::skip) {
    ++skipped_steps_;
    return false;
  }
  TORCH_CHECK(false, name(), ": non-finite (NaN or Inf) gradient in ", param_name(gi, pi),
              " (shape ", param_groups_[gi].params()[pi].sizes(),
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
