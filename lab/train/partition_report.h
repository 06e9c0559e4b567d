#pragma once
// Which parameters a training run's hybrid optimizer gives to its spectral member and which to
// AdamW, and why (specopt/optim/partition.h): `specopt train` prints it at the start and writes
// it to "<out_dir>/partition.json", so a head that a name-based rule misplaces is seen before
// it is trained. optimizer.adamw_patterns / optimizer.spectral_patterns (docs/training.md,
// "Partition") change the rule.
#include <string>

#include <nlohmann/json.hpp>
#include <torch/nn/module.h>

#include <specopt/optim/partition.h>

#include "lab/train/config.h"

namespace specopt {
namespace lab {

// The partition options of a run: the config's patterns, a non-empty spectral side required.
PartitionOptions partition_options(const OptimizerConfig& config);

struct PartitionReport {
  std::string text;     // the lines printed at the start (header, then one per parameter)
  nlohmann::json json;  // what partition.json holds
};

// The partition of `model` under `config` (hybrid: split by partition_options(config); not
// hybrid: one optimizer on every parameter). Throws std::invalid_argument naming the config
// key when one of its patterns matches no parameter name.
PartitionReport report_partition(const OptimizerConfig& config, const torch::nn::Module& model,
                                 bool hybrid);

}  // namespace lab
}  // namespace specopt
