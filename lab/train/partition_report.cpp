#include "lab/train/partition_report.h"

#include <sstream>
#include <stdexcept>

namespace specopt {
namespace lab {

namespace {

std::string shape_of(const at::Tensor& t) {
  std::ostringstream os;
  os << t.sizes();
  return os.str();
}

std::string why(const NamedParameter& np) {
  return np.pattern.empty() ? np.reason : np.reason + " '" + np.pattern + "'";
}

}  // namespace

PartitionOptions partition_options(const OptimizerConfig& c) {
  return PartitionOptions()
      .require_spectral(true)
      .adamw_patterns(c.adamw_patterns)
      .spectral_patterns(c.spectral_patterns);
}

PartitionReport report_partition(const OptimizerConfig& c, const torch::nn::Module& model,
                                 bool hybrid) {
  PartitionReport out;
  nlohmann::json rows = nlohmann::json::array();
  std::ostringstream text;
  if (!hybrid) {
    const auto named = model.named_parameters(/*recurse=*/true);
    text << "partition: none, optimizer '" << c.name << "' updates all " << named.size()
         << " parameters alike\n";
    for (const auto& item : named) {
      rows.push_back({{"name", item.key()}, {"shape", item.value().sizes().vec()},
                      {"side", c.name}, {"rule", "one optimizer"}, {"pattern", nullptr}});
    }
    out.json = {{"optimizer", c.name}, {"hybrid", false}, {"parameters", rows}};
    out.text = text.str();
    return out;
  }
  const auto options = partition_options(c);
  const Partition part = partition_parameters(model, options);
  if (!part.unmatched_patterns.empty()) {
    std::string names;
    for (const auto& item : model.named_parameters(/*recurse=*/true)) {
      names += (names.empty() ? "" : ", ") + item.key();
    }
    const auto& [list, pattern] = part.unmatched_patterns.front();
    throw std::invalid_argument("config key 'optimizer." + list + "': '" + pattern +
                                "' matches no parameter name of the model (its parameters: " +
                                names + ")");
  }
  text << "partition: " << part.spectral.size() << " parameter(s) to " << c.name << ", "
       << part.adamw.size()
       << " to AdamW (rule: optimizer.adamw_patterns, optimizer.spectral_patterns, then the "
          "built-in lists; written to partition.json)\n";
  for (const auto* side : {&part.spectral, &part.adamw}) {
    const std::string label = side == &part.spectral ? "spectral" : "adamw";
    for (const auto& np : *side) {
      text << "  " << (label == "adamw" ? "adamw   " : label) << "  " << np.name << " "
           << shape_of(np.param) << "  (" << why(np) << ")\n";
      rows.push_back({{"name", np.name}, {"shape", np.param.sizes().vec()}, {"side", label},
                      {"rule", np.reason},
                      {"pattern", np.pattern.empty() ? nlohmann::json(nullptr) : nlohmann::json(np.pattern)}});
    }
  }
  out.json = {{"optimizer", c.name},
              {"hybrid", true},
              {"adamw_patterns", options.adamw_patterns()},
              {"spectral_patterns", options.spectral_patterns()},
              {"embedding_patterns", options.embedding_patterns()},
              {"head_patterns", options.head_patterns()},
              {"norm_patterns", options.norm_patterns()},
              {"parameters", rows}};
  out.text = text.str();
  return out;
}

}  // namespace lab
}  // namespace specopt
