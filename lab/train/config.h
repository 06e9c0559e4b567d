#pragma once
// The configuration of one training run (`specopt train --config RUN.toml`), read from TOML.
// docs/training.md lists every key with its type, default and meaning; parse_train_config()
// refuses unknown sections and keys, wrong types and out-of-range values, naming the key
// ("optimizer.lr = -1: must be > 0").
//
//   [model]      kind = "gpt" | "mlp" | "cnn", sizes
//   [data]       dataset = "brown" | "fashion_mnist", dir, limits, eval batches
//   [optimizer]  name (any optimizer of the registry, specopt/optim/registry.h: muon, normuon,
//                adamuon, polargrad, dion2, lionk, spectral_adam, spectral_sgd, adam, adams,
//                adamq, adamz, msgd, msgds, msgdq, msgdz, adamw, lion) and its options
//   [schedule]   name = "constant" | "warmup_cosine" | "wsd", warmup, decay (steps, or fractions
//                of train.steps below 1), min
//   [train]      steps, batch_size, grad_clip, eval_interval, checkpoint_interval,
//                log_interval, seed, device, threads, out_dir
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace specopt {
namespace lab {

struct ModelConfig {
  std::string kind = "gpt";
  // gpt
  int64_t n_layer = 4;
  int64_t n_head = 4;
  int64_t d_model = 192;
  int64_t context = 128;
  // mlp
  int64_t hidden = 256;
  int64_t depth = 2;
  // cnn
  int64_t channels = 16;
};

struct DataConfig {
  std::string dataset = "brown";
  std::string dir;           // empty: brown_dir() / fashion_mnist_dir()
  int64_t train_limit = 0;   // fashion_mnist: first N training images (0: all)
  int64_t val_limit = 2000;  // fashion_mnist: first N test images used for evaluation (0: all)
  int64_t eval_batches = 8;  // brown: validation batches per evaluation
};

struct OptimizerConfig {
  std::string name = "muon";
  double lr = 0.02;             // the matrix (spectral side) lr, or the only lr
  double vector_lr = 3e-3;      // AdamW lr for embeddings, gains, biases, heads (hybrids)
  double momentum = -1;         // < 0: the optimizer's default (Muon 0.95, mSGD 0.9)
  bool nesterov = true;         // muon only
  double beta1 = 0.9;
  double beta2 = 0.95;
  double eps = 1e-8;
  double weight_decay = 0.0;
  double vector_weight_decay = 0.0;
  bool cautious_weight_decay = false;  // arXiv 2510.12402, both sides of hybrids
  double p = -1;                // spectral_adam / spectral_sgd: the power (required there)
  std::string shape_rule;       // empty: the preset's default
  bool split_qkv = true;
  std::string map = "nuclear";  // lionk
  // Data parallel: AdamW/Lion parameters with at least this many elements are sliced across
  // the ranks (DistributedOptions::slice_min_numel; 0 = never).
  int64_t slice_min_numel = int64_t(1) << 16;
  // Hybrids: PartitionOptions::adamw_patterns / spectral_patterns (specopt/optim/partition.h),
  // regular expressions searched in parameter names, decided before the built-in lists.
  std::vector<std::string> adamw_patterns;
  std::vector<std::string> spectral_patterns;
  // MuonClip's QK-clip after every step (gpt only): a head whose largest attention logit of
  // the step's forward exceeds tau has its W_q and W_k rows scaled by sqrt(tau / max); 0: off.
  double qk_clip_tau = 0;
};

struct ScheduleConfig {
  std::string name = "constant";
  // As written: a whole number >= 1 counts steps, a value in [0, 1) is a fraction of
  // train.steps (TrainConfig::warmup_steps() / decay_steps() resolve both).
  double warmup = 0;
  double decay = 0;  // wsd: the final decay
  double min = 0.0;  // final multiplier (warmup_cosine, wsd)
};

struct TrainConfig {
  ModelConfig model;
  DataConfig data;
  OptimizerConfig optimizer;
  ScheduleConfig schedule;
  int64_t steps = 1000;
  int64_t batch_size = 32;
  double grad_clip = 1.0;  // 0: no clipping (the norm is still measured and logged)
  int64_t eval_interval = 100;
  int64_t checkpoint_interval = 0;  // 0: only at the end
  int64_t log_interval = 10;
  uint64_t seed = 0;
  std::string device = "cpu";
  int64_t threads = 0;  // 0: leave LibTorch's setting
  std::string out_dir = "runs/train";

  // schedule.warmup / schedule.decay in steps: a fraction times train.steps, rounded to the
  // nearest step; a step count as it is.
  int64_t warmup_steps() const;
  int64_t decay_steps() const;
  // The make_schedule() text of the lr schedule ("warmup_cosine:warmup=...,total=steps,...").
  std::string schedule_spec() const;
  // The resolved config (lab/train/config_json.cpp), as config.json holds it: every default
  // that depends on other keys written out (the optimizer's momentum, p and shape_rule, the
  // data folder, warmup and decay in steps); null for a key that does not apply to the
  // optimizer (momentum of AdamW, ...).
  nlohmann::json to_json() const;
};

// Parses TOML text; `sets` are "section.key=value" overrides applied first (values in TOML
// syntax; a bare word is taken as a string). `source` names the text in messages. Throws
// std::invalid_argument naming the key and the bad value.
TrainConfig parse_train_config(const std::string& toml_text, const std::vector<std::string>& sets = {},
                               const std::string& source = "config");
TrainConfig load_train_config(const std::string& path, const std::vector<std::string>& sets = {});

// The optimizer names parse_train_config accepts: the optimizer registry's, lower case
// without '_' ("muon", "spectraladam"). Defined in config_registry.cpp (the library's
// registry; the fuzz builds link a fixed list instead).
std::vector<std::string> optimizer_names();

}  // namespace lab
}  // namespace specopt
