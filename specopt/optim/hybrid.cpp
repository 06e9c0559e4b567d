#include <specopt/optim/hybrid.h>

#include <c10/util/Exception.h>

namespace specopt {

namespace {

std::vector<torch::optim::OptimizerParamGroup> side_groups(const Partition& partition,
                                                           const RuleOptions& spectral,
                                                           const AdamWOptions& adamw) {
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(partition.spectral_params(), spectral.clone_options());
  groups.emplace_back(partition.adamw_params(), adamw.clone_options());
  return groups;
}

// The groups of both members, spectral first, each with a copy of its options.
std::vector<torch::optim::OptimizerParamGroup> member_groups(const SpecoptOptimizer* spectral,
                                                             const SpecoptOptimizer* adamw) {
  TORCH_CHECK(spectral != nullptr && adamw != nullptr,
              "HybridOptimizer: both member optimizers must be given");
  std::vector<torch::optim::OptimizerParamGroup> groups;
  for (const auto* member : {spectral, adamw}) {
    for (const auto& g : member->param_groups()) {
      groups.emplace_back(g.params(), g.options().clone());
    }
  }
  return groups;
}

const RuleOptions& defaults_of(const SpecoptOptimizer* spectral) {
  TORCH_CHECK(spectral != nullptr, "HybridOptimizer: both member optimizers must be given");
  return dynamic_cast<const RuleOptions&>(spectral->defaults());
}

}  // namespace

HybridOptimizer::HybridOptimizer(Partition partition, const RuleOptions& spectral,
                                 const AdamWOptions& adamw, const HybridOptions& options)
    : SpecoptOptimizer(side_groups(partition, spectral, adamw), spectral),
      partition_(std::move(partition)),
      options_(options),
      num_spectral_groups_(1) {
  adopt_partition();
}

HybridOptimizer::HybridOptimizer(const torch::nn::Module& module, const RuleOptions& spectral,
                                 const AdamWOptions& adamw, const HybridOptions& options)
    : HybridOptimizer(partition_parameters(module, options.partition()), spectral, adamw,
                      options) {}

HybridOptimizer::HybridOptimizer(Partition partition, std::unique_ptr<SpecoptOptimizer> spectral,
                                 std::unique_ptr<SpecoptOptimizer> adamw,
                                 const HybridOptions& options)
    : SpecoptOptimizer(member_groups(spectral.get(), adamw.get()),
                       defaults_of(spectral.get())),
      partition_(std::move(partition)),
      options_(options),
      num_spectral_groups_(spectral->param_groups().size()) {
  // Sizes per side, named by the member, before the parameter-by-parameter check.
  const struct {
    const char* side;
    const std::vector<NamedParameter>& expected;
    const SpecoptOptimizer& member;
  } sides[] = {{"spectral", partition_.spectral, *spectral}, {"adamw", partition_.adamw, *adamw}};
  for (const auto& s : sides) {
    size_t held = 0;
    for (const auto& g : s.member.param_groups()) held += g.params().size();
    TORCH_CHECK(held == s.expected.size(), "HybridOptimizer: the ", s.side, " member (",
                s.member.name(), ") holds ", held, " parameter(s) but the partition's ", s.side,
                " side has ", s.expected.size());
  }
  adopt_partition();
}

void HybridOptimizer::adopt_partition() {
  names_.assign(param_groups_.size(), {});
  size_t next[2] = {0, 0};
  for (size_t gi = 0; gi < param_groups_.size(); ++gi) {
    const bool is_spectral = gi < num_spectral_groups_;
    const auto& side = is_spectral ? partition_.spectral : partition_.adamw;
    size_t& k = next[is_spectral ? 0 : 1];
    for (const auto& p : param_groups_[gi].params()) {
      TORCH_CHECK(k < side.size() &&
                      p.unsafeGetTensorImpl() == side[k].param.unsafeGetTensorImpl(),
                  "HybridOptimizer: parameter ", names_[gi].size(), " of param group ", gi,
                  " is not the partition's ",
                  k < side.size() ? "'" + side[k].name + "'" : std::string("(none left)"),
                  " (the ", is_spectral ? "spectral" : "adamw",
                  " side's groups must hold the partition's parameters in order)");
      names_[gi].push_back(side[k++].name);
    }
  }
  TORCH_CHECK(next[0] == partition_.spectral.size() && next[1] == partition_.adamw.size(),
              "HybridOptimizer: the groups hold ", next[0], " spectral and ", next[1],
              " adamw parameter(s), the partition ", partition_.spectral.size(), " and ",
              partition_.adamw.size());
  for (auto& g : param_groups_) {
    dynamic_cast<RuleOptions&>(g.options()).set_nonfinite(options_.nonfinite());
  }
  check_setup();  // again, now that parameters have their model names
}

std::string HybridOptimizer::param_name(size_t group, size_t index) const {
  if (group < names_.size() && index < names_[group].size()) {
    return "parameter '" + names_[group][index] + "'";
  }
  return SpecoptOptimizer::param_name(group, index);
}

}  // namespace specopt
