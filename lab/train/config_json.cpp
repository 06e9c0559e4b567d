// TrainConfig::to_json: the resolved config that config.json holds. Every value that a key
// leaves to a default depending on other keys is written out — the optimizer preset's
// momentum, p and shape_rule as the rule lab/train/optimizer_factory.cpp builds has them
// (config_registry.h; tests/train/test_config.cpp checks them against the library's presets),
// the data folder the loader reads, warmup and decay in steps — and a key that does not apply
// to the chosen optimizer is null. Kept free of LibTorch, like config.cpp, for the fuzz builds
// (scripts/fuzz.sh).
#include <string>

#include "lab/data/paths.h"
#include "lab/train/config.h"
#include "lab/train/config_registry.h"

namespace specopt {
namespace lab {

namespace {

nlohmann::json resolved_optimizer(const OptimizerConfig& o) {
  const auto rule = resolved_rule_options(o);
  return {{"name", o.name},
          {"lr", o.lr},
          {"vector_lr", o.vector_lr},
          {"momentum", rule.momentum},
          {"nesterov", o.nesterov},
          {"beta1", o.beta1},
          {"beta2", o.beta2},
          {"eps", o.eps},
          {"weight_decay", o.weight_decay},
          {"vector_weight_decay", o.vector_weight_decay},
          {"cautious_weight_decay", o.cautious_weight_decay},
          {"p", rule.p},
          {"shape_rule", rule.shape_rule},
          {"split_qkv", o.split_qkv},
          {"map", o.map},
          {"slice_min_numel", o.slice_min_numel},
          {"adamw_patterns", o.adamw_patterns},
          {"spectral_patterns", o.spectral_patterns},
          {"qk_clip_tau", o.qk_clip_tau}};
}

// As written: a step count as an integer, a fraction as a number below 1.
nlohmann::json steps_or_fraction(double v) {
  return v < 1 ? nlohmann::json(v) : nlohmann::json(static_cast<int64_t>(v));
}

}  // namespace

nlohmann::json TrainConfig::to_json() const {
  const std::string data_dir =
      !data.dir.empty() ? data.dir : data.dataset == "brown" ? brown_dir() : fashion_mnist_dir();
  return {
      {"model",
       {{"kind", model.kind}, {"n_layer", model.n_layer}, {"n_head", model.n_head},
        {"d_model", model.d_model}, {"context", model.context}, {"hidden", model.hidden},
        {"depth", model.depth}, {"channels", model.channels}}},
      {"data",
       {{"dataset", data.dataset}, {"dir", data_dir}, {"train_limit", data.train_limit},
        {"val_limit", data.val_limit}, {"eval_batches", data.eval_batches}}},
      {"optimizer", resolved_optimizer(optimizer)},
      {"schedule",
       {{"name", schedule.name}, {"warmup", steps_or_fraction(schedule.warmup)},
        {"decay", steps_or_fraction(schedule.decay)}, {"warmup_steps", warmup_steps()},
        {"decay_steps", schedule.name == "wsd" ? decay_steps() : 0}, {"min", schedule.min},
        {"spec", schedule_spec()}}},
      {"train",
       {{"steps", steps}, {"batch_size", batch_size}, {"grad_clip", grad_clip},
        {"eval_interval", eval_interval}, {"checkpoint_interval", checkpoint_interval},
        {"log_interval", log_interval}, {"seed", seed}, {"device", device},
        {"threads", threads}, {"out_dir", out_dir}}},
  };
}

}  // namespace lab
}  // namespace specopt
