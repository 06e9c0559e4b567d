#include <specopt/optim/partition.h>

#include <c10/util/Exception.h>

#include <algorithm>
#include <cctype>
#include <regex>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

namespace specopt {

namespace {

// A list of compiled patterns (one compilation per partition, not per parameter).
struct PatternList {
  const char* list;  // "adamw_patterns", "embedding_patterns", ...
  std::vector<std::string> text;
  std::vector<std::regex> re;

  PatternList(const char* name, const std::vector<std::string>& patterns) : list(name) {
    for (const auto& p : patterns) {
      if (p.empty()) continue;
      const std::string why = partition_pattern_error(p);
      TORCH_CHECK(why.empty(), "partition_parameters: ", list, ": '", p,
                  "' is not a valid regular expression (", why, ")");
      text.push_back(p);
      re.emplace_back(p, std::regex::ECMAScript | std::regex::icase);
    }
  }
  // The first pattern found in `name`, or nullptr.
  const std::string* find(const std::string& name) const {
    for (size_t i = 0; i < re.size(); ++i) {
      if (std::regex_search(name, re[i])) return &text[i];
    }
    return nullptr;
  }
};

struct CompiledRule {
  PatternList adamw, spectral, embedding, head, norm;
  explicit CompiledRule(const PartitionOptions& o)
      : adamw("adamw_patterns", o.adamw_patterns()),
        spectral("spectral_patterns", o.spectral_patterns()),
        embedding("embedding_patterns", o.embedding_patterns()),
        head("head_patterns", o.head_patterns()),
        norm("norm_patterns", o.norm_patterns()) {}
};

bool decide(const std::string& name, const at::Tensor& param, const CompiledRule& rule,
            std::string* reason, std::string* pattern) {
  auto done = [&](bool spectral, const char* why, const std::string* matched) {
    if (reason != nullptr) *reason = why;
    if (pattern != nullptr) *pattern = matched ? *matched : "";
    return spectral;
  };
  TORCH_CHECK(param.defined(), "partition_parameters: parameter '", name, "' is undefined");
  if (param.dim() < 2) return done(false, "< 2-D", nullptr);
  const std::string* to_adamw = rule.adamw.find(name);
  const std::string* to_spectral = rule.spectral.find(name);
  TORCH_CHECK(to_adamw == nullptr || to_spectral == nullptr, "partition_parameters: parameter '",
              name, "' matches adamw_patterns '", (to_adamw ? *to_adamw : ""),
              "' and spectral_patterns '", (to_spectral ? *to_spectral : ""),
              "'; make the patterns exclusive (e.g. anchor them with ^ and $)");
  if (to_adamw) return done(false, "adamw_patterns", to_adamw);
  if (to_spectral) return done(true, "spectral_patterns", to_spectral);
  if (const auto* m = rule.embedding.find(name)) return done(false, "embedding", m);
  if (const auto* m = rule.head.find(name)) return done(false, "output head", m);
  if (const auto* m = rule.norm.find(name)) return done(false, "norm", m);
  const auto dot = name.rfind('.');
  std::string last = dot == std::string::npos ? name : name.substr(dot + 1);
  std::transform(last.begin(), last.end(), last.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (last == "bias") return done(false, "bias", nullptr);
  return done(true, "hidden matrix", nullptr);
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
      os << label << "  " << np.name << " " << np.param.sizes() << "  (" << np.reason;
      if (!np.pattern.empty()) os << " '" << np.pattern << "'";
      os << ")\n";
    }
  }
  return os.str();
}

std::string partition_pattern_error(const std::string& pattern) {
  if (pattern.empty()) return "an empty pattern matches every name";
  try {
    std::regex re(pattern, std::regex::ECMAScript | std::regex::icase);
  } catch (const std::regex_error& e) {
    return e.what();
  }
  return "";
}

bool default_is_spectral(const std::string& name, const at::Tensor& param,
                         const PartitionOptions& options, std::string* reason,
                         std::string* pattern) {
  return decide(name, param, CompiledRule(options), reason, pattern);
}

Partition partition_parameters(const std::vector<std::pair<std::string, at::Tensor>>& named,
                               const PartitionOptions& options) {
  TORCH_CHECK(!options.predicate() ||
                  (options.adamw_patterns().empty() && options.spectral_patterns().empty()),
              "partition_parameters: a predicate replaces the whole default rule, so it cannot "
              "be combined with adamw_patterns / spectral_patterns; use one or the other");
  const CompiledRule rule(options);
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

    std::string reason, pattern;
    bool spectral;
    if (options.predicate()) {
      spectral = options.predicate()(name, param);
      reason = "predicate";
    } else {
      spectral = decide(name, param, rule, &reason, &pattern);
    }
    if (spectral) {
      TORCH_CHECK(param.dim() >= 2 || options.allow_spectral_vectors(),
                  "partition_parameters: parameter '", name, "' (shape ", param.sizes(), ", ",
                  param.dim(), "-D) was sent to the spectral side by the custom predicate, but "
                  "spectral optimizers act on matrices: send it to AdamW, or set "
                  "allow_spectral_vectors(true) if the spectral optimizer accepts vectors "
                  "(LionK; SpectralAdam/SpectralSGD with p = 1)");
      out.spectral.push_back({name, param, reason, pattern});
    } else {
      out.adamw.push_back({name, param, reason, pattern});
    }
  }
  for (const auto* list : {&rule.adamw, &rule.spectral}) {
    for (size_t i = 0; i < list->re.size(); ++i) {
      const bool matched = std::any_of(named.begin(), named.end(), [&](const auto& np) {
        return std::regex_search(np.first, list->re[i]);
      });
      if (!matched) out.unmatched_patterns.emplace_back(list->list, list->text[i]);
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
