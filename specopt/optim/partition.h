#pragma once
// Splitting a model's named parameters between a spectral optimizer (Muon, LionK, SpectralAdam,
// SpectralSGD) and AdamW, as the peers do (KellerJordan/Muon's parameter groups, dion, optax's
// partition): hidden matrices are orthogonalised, everything element-wise goes to AdamW.
//
// Default rule (partition_parameters without a predicate), for each parameter `name`, tested in
// this order; the first match decides (NamedParameter::reason names the rule, ::pattern the
// pattern that matched):
//   1. fewer than 2 dims (biases, norm gains, scalars)                → AdamW    ("< 2-D")
//   2. the name matches one of adamw_patterns (empty by default)      → AdamW    ("adamw_patterns")
//   3. the name matches one of spectral_patterns (empty by default)   → spectral ("spectral_patterns")
//   4. the name matches an embedding pattern  embed wte wpe tok_emb   → AdamW    ("embedding")
//   5. the name matches a head pattern  lm_head head classifier fc_out ^out(put)?\.
//                                                                     → AdamW    ("output head")
//   6. the name matches a norm pattern  norm ln                       → AdamW    ("norm")
//   7. the last dot-separated component of the name is "bias"         → AdamW    ("bias")
//   8. otherwise (a hidden weight with ≥ 2 dims: linear, conv, 3-D)   → spectral ("hidden matrix")
// A pattern is an ECMAScript regular expression searched anywhere in the name, ignoring case:
// a plain word is a substring ("ln" matches "blocks.0.ln_1.weight", like Keller's
// `"embed" not in n and "head" not in n`), and ^ $ anchor it ("^out\.weight$" is the top-level
// module `out` only, not "attn.out.weight"). A name matching both an adamw and a spectral
// pattern is refused (which one is meant cannot be guessed). Every list is a field of
// PartitionOptions: adamw_patterns / spectral_patterns add decisions in front of the built-in
// lists; the built-in lists can also be replaced.
//
// The defaults changed once: "tok" became "tok_emb" (the substring "tok" sent hidden matrices
// such as "token_mixer.weight" to AdamW; minGPT's "tok_emb" and Llama's "tok_embeddings" still
// match), and "^out(put)?\." was added: a top-level module named `out` or `output` (Llama's
// output layer) is the model's output head and no longer goes to the spectral side.
//
// Custom rule: PartitionOptions::predicate(name, tensor) == true sends the parameter to the
// spectral side; it replaces the whole default rule (patterns and dimension test), so setting
// a predicate together with adamw_patterns / spectral_patterns is refused.
//
// Checks (TORCH_CHECK → c10::Error, each message naming the parameter or the pattern):
//   * the same tensor twice (tied weights, e.g. an embedding shared with the head) or the same
//     name twice → refused; pass a tied tensor once;
//   * a pattern that is not a valid regular expression → refused, naming its list;
//   * a parameter with < 2 dims on the spectral side (only possible with a custom predicate) →
//     refused unless allow_spectral_vectors (LionK and SpectralAdam/SGD with p = 1 take vectors;
//     Muon and p < 1 do not);
//   * an empty spectral side → refused only with require_spectral(true).
// Partition::unmatched_patterns lists the adamw_patterns / spectral_patterns that match no
// parameter name at all (a typo, most likely); callers decide whether that is an error.
// Parameters keep their order of appearance on each side.
#include <ATen/ATen.h>
#include <torch/arg.h>
#include <torch/nn/module.h>
#include <torch/ordered_dict.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace specopt {

// true → spectral side, false → AdamW side.
using ParamPredicate = std::function<bool(const std::string& name, const at::Tensor& param)>;

struct PartitionOptions {
  // Decided first (after the dimension test): the user's own patterns.
  TORCH_ARG(std::vector<std::string>, adamw_patterns) = std::vector<std::string>{};
  TORCH_ARG(std::vector<std::string>, spectral_patterns) = std::vector<std::string>{};
  // The built-in lists.
  TORCH_ARG(std::vector<std::string>, embedding_patterns) =
      std::vector<std::string>{"embed", "wte", "wpe", "tok_emb"};
  TORCH_ARG(std::vector<std::string>, head_patterns) =
      std::vector<std::string>{"lm_head", "head", "classifier", "fc_out", "^out(put)?\\."};
  TORCH_ARG(std::vector<std::string>, norm_patterns) = std::vector<std::string>{"norm", "ln"};
  // Replaces the default rule when set.
  TORCH_ARG(ParamPredicate, predicate) = nullptr;
  // Refuse a partition whose spectral side is empty.
  TORCH_ARG(bool, require_spectral) = false;
  // Accept < 2-D parameters on the spectral side (custom predicates only).
  TORCH_ARG(bool, allow_spectral_vectors) = false;
};

struct NamedParameter {
  std::string name;
  at::Tensor param;
  // The rule that decided: "< 2-D", "adamw_patterns", "spectral_patterns", "embedding",
  // "output head", "norm", "bias", "hidden matrix" or "predicate".
  std::string reason;
  std::string pattern;  // the pattern that matched (pattern rules only; empty otherwise)
};

struct Partition {
  std::vector<NamedParameter> spectral;
  std::vector<NamedParameter> adamw;
  // (list, pattern) — list "adamw_patterns" or "spectral_patterns" — for each of the user's
  // patterns that matches no parameter name.
  std::vector<std::pair<std::string, std::string>> unmatched_patterns;

  std::vector<std::string> spectral_names() const;
  std::vector<std::string> adamw_names() const;
  std::vector<at::Tensor> spectral_params() const;
  std::vector<at::Tensor> adamw_params() const;
  // One line per parameter, spectral side first: "spectral  blocks.0.attn.weight [64, 64]
  // (hidden matrix)", "adamw     wte.weight [85, 16]  (embedding 'wte')".
  std::string summary() const;
};

// "" when `pattern` is a valid partition pattern (an ECMAScript regular expression), else why not.
std::string partition_pattern_error(const std::string& pattern);

// The default rule's decision for one parameter: true → spectral. `reason` (optional) receives
// the rule that decided, `pattern` (optional) the pattern that matched ("" for the rules without
// one).
bool default_is_spectral(const std::string& name, const at::Tensor& param,
                         const PartitionOptions& options = {}, std::string* reason = nullptr,
                         std::string* pattern = nullptr);

Partition partition_parameters(const std::vector<std::pair<std::string, at::Tensor>>& named,
                               const PartitionOptions& options = {});
Partition partition_parameters(const torch::OrderedDict<std::string, at::Tensor>& named,
                               const PartitionOptions& options = {});
// module.named_parameters(/*recurse=*/true).
Partition partition_parameters(const torch::nn::Module& module,
                               const PartitionOptions& options = {});

}  // namespace specopt
