#include <specopt/optim/partition.h>

#include <c10/util/Exception.h>

#include <algorithm>
#include <cctype>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

namespace specopt {

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool contains_any(const std::string& lower_name, const std::vector<std::string>& patterns) {
  for (const auto& p : patterns) {
    if (!p.empty() && lower_name.find(lower(p)) != std::string::npos) return true;
  }
  return false;
}

std::vector<std::string> names_of(const std::vector<NamedParameter>& side) {
  std::vector<std::string> out;
  out.reserve(side.size());
  for (const auto& np : side) out.push_back(np.name);
  return out;
}

std::vector<at::Tensor> params_of(const std::vector<NamedParameter>& side) {
  std::vector<at::Tensor> out;
  out.reserve(side.size());
  for (const auto& np : side) out.push_back(np.param);
  return out;
}

}  // namespace

std::vector<std::string> Partition::spectral_names() const { return names_of(spectral); }
std::vector<std::string> Partition::adamw_names() const { return names_of(adamw); }
std::vector<at::Tensor> Partition::spectral_params() const { return params_of(spectral); }
std::vector<at::Tensor> Partition::adamw_params() const { return params_of(adamw); }

std::string Partition::summary() const {
  std::ostringstream os;
  for (const auto* side : {&spectral, &adamw}) {
    const char* label = side == &spectral ? "spectral" : "adamw   ";
    for (const auto& np : *side) {
      os << label << "  " << np.name << " " << np.param.sizes() << "  (" << np.reason << ")\n";
    }
  }
  return os.str();
}

bool default_is_spectral(const std::string& name, const at::Tensor& param,
                         const PartitionOptions& options, std::string* reason) {
  auto decide = [&](bool spectral, const char* why) {
    if (reason != nullptr) *reason = why;
    return spectral;
  };
  TORCH_CHECK(param.defined(), "partition_parameters: parameter '", name, "' is undefined");
  if (param.dim() < 2) return decide(false, "< 2-D");
  const std::string n = lower(name);
  if (contains_any(n, options.embedding_patterns())) return decide(false, "embedding");
  if (contains_any(n, options.head_patterns())) return decide(false, "output head");
  if (contains_any(n, options.norm_patterns())) return decide(false, "norm");
  const auto dot = n.rfind('.');
  if ((dot == std::string::npos ? n : n.substr(dot + 1)) == "bias") return decide(false, "bias");
  return decide(true, "hidden matrix");
}

Partition partition_parameters(const std::vector<std::pair<std::string, at::Tensor>>& named,
                               const PartitionOptions& options) {
  Partition out;
  std::unordered_map<const void*, std::string> seen_tensors;
  std::unordered_set<std::string> seen_names;
  for (const auto& [name, param] : named) {
    TORCH_CHECK(param.defined(), "partition_parameters: parameter '", name, "' is undefined");
    TORCH_CHECK(seen_names.insert(name).second, "partition_parameters: the name '", name,
                "' appears twice; every parameter needs its own name");
    const void* key = param.unsafeGetTensorImpl();
    const auto it = seen_tensors.find(key);
    TORCH_CHECK(it == seen_tensors.end(), "partition_parameters: parameter '", name,
                "' is the same tensor as '", (it == seen_tensors.end() ? "" : it->second),
                "' (tied weights?); pass each tensor once, e.g. drop one of the names");
    seen_tensors.emplace(key, name);

    std::string reason;
    bool spectral;
    if (options.predicate()) {
      spectral = options.predicate()(name, param);
      reason = "predicate";
    } else {
      spectral = default_is_spectral(name, param, options, &reason);
    }
    if (spectral) {
      TORCH_CHECK(param.dim() >= 2 || options.allow_spectral_vectors(),
                  "partition_parameters: parameter '", name, "' (shape ", param.sizes(), ", ",
                  param.dim(), "-D) was sent to the spectral side by the custom predicate, but "
                  "spectral optimizers act on matrices: send it to AdamW, or set "
                  "allow_spectral_vectors(true) if the spectral optimizer accepts vectors "
                  "(LionK; SpectralAdam/SpectralSGD with p = 1)");
      out.spectral.push_back({name, param, reason});
    } else {
      out.adamw.push_back({name, param, reason});
    }
  }
  TORCH_CHECK(!options.require_spectral() || !out.spectral.empty(),
              "partition_parameters: no parameter went to the spectral side (require_spectral "
              "is set); ", out.adamw.size(), " parameter(s) went to AdamW");
  return out;
}

Partition partition_parameters(const torch::OrderedDict<std::string, at::Tensor>& named,
                               const PartitionOptions& options) {
  std::vector<std::pair<std::string, at::Tensor>> pairs;
  pairs.reserve(named.size());
  for (const auto& item : named) pairs.emplace_back(item.key(), item.value());
  return partition_parameters(pairs, options);
}

Partition partition_parameters(const torch::nn::Module& module, const PartitionOptions& options) {
  return partition_parameters(module.named_parameters(/*recurse=*/true), options);
}

}  // namespace specopt
