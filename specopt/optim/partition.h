#pragma once
// Splitting a model's named parameters between a spectral optimizer (Muon, LionK, SpectralAdam,
// SpectralSGD) and AdamW, as the peers do (KellerJordan/Muon's parameter groups, dion, optax's
// partition): hidden matrices are orthogonalised, everything element-wise goes to AdamW.
//
// Default rule (partition_parameters without a predicate), for each parameter `name`, tested in
// this order; the first match decides:
//   1. fewer than 2 dims (biases, norm gains, scalars)                → AdamW  ("< 2-D")
//   2. the name contains an embedding pattern  embed wte wpe tok      → AdamW  ("embedding")
//   3. the name contains a head pattern  lm_head head classifier fc_out → AdamW ("output head")
//   4. the name contains a norm pattern  norm ln                      → AdamW  ("norm")
//   5. the last dot-separated component of the name is "bias"         → AdamW  ("bias")
//   6. otherwise (a hidden weight with ≥ 2 dims: linear, conv, 3-D)   → spectral ("hidden matrix")
// Patterns are case-insensitive substrings of the whole name (e.g. "blocks.0.ln_1.weight"
// matches "ln"), like Keller's `"embed" not in n and "head" not in n`; every pattern list is a
// field of PartitionOptions, so a model whose hidden weights happen to contain one of them can
// replace the lists.
//
// Custom rule: PartitionOptions::predicate(name, tensor) == true sends the parameter to the
// spectral side; it replaces the whole default rule (patterns and dimension test).
//
// Checks (TORCH_CHECK → c10::Error, each message naming the parameter):
//   * the same tensor twice (tied weights, e.g. an embedding shared with the head) or the same
//     name twice → refused; pass a tied tensor once;
//   * a parameter with < 2 dims on the spectral side (only possible with a custom predicate) →
//     refused unless allow_spectral_vectors (LionK and SpectralAdam/SGD with p = 1 take vectors;
//     Muon and p < 1 do not);
//   * an empty spectral side → refused only with require_spectral(true).
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
  TORCH_ARG(std::vector<std::string>, embedding_patterns) =
      std::vector<std::string>{"embed", "wte", "wpe", "tok"};
  TORCH_ARG(std::vector<std::string>, head_patterns) =
      std::vector<std::string>{"lm_head", "head", "classifier", "fc_out"};
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
  std::string reason;  // why it went where it went ("hidden matrix", "embedding", "predicate", ...)
};

struct Partition {
  std::vector<NamedParameter> spectral;
  std::vector<NamedParameter> adamw;

  std::vector<std::string> spectral_names() const;
  std::vector<std::string> adamw_names() const;
  std::vector<at::Tensor> spectral_params() const;
  std::vector<at::Tensor> adamw_params() const;
  // One line per parameter: "spectral  blocks.0.attn.weight [64, 64]  (hidden matrix)".
  std::string summary() const;
};

// The default rule's decision for one parameter: true → spectral. `reason` (optional) receives
// the rule that decided.
bool default_is_spectral(const std::string& name, const at::Tensor& param,
                         const PartitionOptions& options = {}, std::string* reason = nullptr);

Partition partition_parameters(const std::vector<std::pair<std::string, at::Tensor>>& named,
                               const PartitionOptions& options = {});
Partition partition_parameters(const torch::OrderedDict<std::string, at::Tensor>& named,
                               const PartitionOptions& options = {});
// module.named_parameters(/*recurse=*/true).
Partition partition_parameters(const torch::nn::Module& module,
                               const PartitionOptions& options = {});

}  // namespace specopt
