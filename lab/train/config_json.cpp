// TrainConfig::to_json: the resolved config that config.json holds. Every value that a key
// leaves to a default depending on other keys is written out — the optimizer preset's
// momentum, p and shape_rule (the defaults of the library's option presets that
// lab/train/optimizer_factory.cpp builds; tests/train/test_config.cpp checks them against
// those presets), the data folder the loader reads, warmup and decay in steps — and a key that
// does not apply to the chosen optimizer is null. Kept free of LibTorch, like config.cpp, for
// the fuzz builds (scripts/fuzz.sh).
#include <algorithm>
#include <cctype>
#include <string>

#include "lab/data/paths.h"
#include "lab/train/config.h"

namespace specopt {
namespace lab {

namespace {

constexpr double kNone = -2, kFromConfig = -1;

struct Preset {
  const char* name;
  double momentum;   // < 0: the optimizer has no momentum option
  double p;          // the preset's power; kFromConfig: optimizer.p; kNone: no power option
  const char* shape_rule;  // nullptr: no shape rule
};

// The hybrids' spectral presets (specopt/optim/{muon,normuon,adamuon,polargrad,dion2,
// spectral_adam}.h).
constexpr Preset kPresets[] = {
    {"muon", 0.95, kNone, "original"}, {"normuon", 0.95, kNone, "original"},
    {"adamuon", 0.95, kNone, nullptr},    {"polargrad", 0.95, kNone, nullptr},
    {"dion2", 0.95, kNone, "spectral_norm"},
    {"adam", -1, 1.0, "none"},        {"adams", -1, 0.5, "none"},
    {"adamq", -1, 0.25, "none"},      {"adamz", -1, 0.0, "original"},
    {"spectral_adam", -1, kFromConfig, "none"}, {"msgd", 0.9, 1.0, "none"},
    {"msgds", 0.9, 0.5, "none"},      {"msgdq", 0.9, 0.25, "none"},
    {"msgdz", 0.9, 0.0, "original"},  {"spectral_sgd", 0.9, kFromConfig, "none"},
};

const Preset* preset_of(std::string name) {
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  for (const auto& p : kPresets) {
    if (name == p.name) return &p;
  }
  return nullptr;  // adamw, lion, lionk: none of these options
}

nlohmann::json resolved_optimizer(const OptimizerConfig& o) {
  const Preset* preset = preset_of(o.name);
  nlohmann::json momentum = nullptr, p = nullptr, shape_rule = nullptr;
  if (preset != nullptr && preset->momentum >= 0) {
    momentum = o.momentum >= 0 ? o.momentum : preset->momentum;
  }
  if (preset != nullptr && preset->p != kNone) p = preset->p == kFromConfig ? o.p : preset->p;
  if (preset != nullptr && preset->shape_rule != nullptr) {
    shape_rule = o.shape_rule.empty() ? preset->shape_rule : o.shape_rule;
  }
  return {{"name", o.name},
          {"lr", o.lr},
          {"vector_lr", o.vector_lr},
          {"momentum", momentum},
          {"nesterov", o.nesterov},
          {"beta1", o.beta1},
          {"beta2", o.beta2},
          {"eps", o.eps},
          {"weight_decay", o.weight_decay},
          {"vector_weight_decay", o.vector_weight_decay},
          {"cautious_weight_decay", o.cautious_weight_decay},
          {"p", p},
          {"shape_rule", shape_rule},
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
