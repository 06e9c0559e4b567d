#pragma once
// HybridOptimizer: one object that owns a spectral optimizer for the hidden matrices (Muon,
// LionK, SpectralAdam or SpectralSGD) and a specopt::AdamW for everything else, built from a
// Partition (specopt/optim/partition.h) with one options object per side.
//
//   auto opt = specopt::HybridOptimizer(model, specopt::MuonOptions(0.02),
//                                       specopt::AdamWOptions(3e-4).weight_decay(0.0));
//   specopt::LrScheduler spectral_lr(opt.spectral(), specopt::WarmupCosineSchedule(100, 5000));
//   specopt::LrScheduler adamw_lr(opt.adamw(), specopt::WarmupCosineSchedule(100, 5000));
//   for (...) {
//     opt.zero_grad(); loss.backward(); opt.step();
//     spectral_lr.step(); adamw_lr.step();
//   }
//
// step(closure): the closure is evaluated ONCE (with gradients enabled), then every defined
// gradient of both sides is checked for NaN/Inf in one fused reduction (one device→host read)
// before either side changes anything: by default the step throws naming the parameter by its
// model name and side; with nonfinite skip both sides skip the step and skipped_steps() counts
// it; with ignore nothing is checked. Then the spectral side updates, then the AdamW side
// (each exactly as the standalone optimizer would). The members' own nonfinite options never
// come into play inside a hybrid: use HybridOptions::nonfinite.
// Parameters with undefined gradients are left alone, as in every specopt optimizer.
//
// Schedules: one driver per member (the two sides usually have different base lrs and the
// LrScheduler multiplies each group's own base lr); MomentumScheduler goes on spectral() only.
//
// Checkpoints: save_checkpoint / load_checkpoint below keep both members (each as a full
// specopt checkpoint), the parameter names of the partition and skipped_steps() in one file,
// written atomically; a checkpoint of another model or optimizer is refused and nothing changes.
#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <specopt/optim/adamw.h>
#include <specopt/optim/base.h>
#include <specopt/optim/checkpoint.h>
#include <specopt/optim/lion_k.h>
#include <specopt/optim/muon.h>
#include <specopt/optim/partition.h>
#include <specopt/optim/spectral_adam.h>

namespace specopt {

struct HybridOptions {
  TORCH_ARG(PartitionOptions, partition) = {};
  // On a NaN/Inf gradient anywhere: error → throw naming the parameter, nothing modified;
  // skip → neither side steps, skipped_steps() += 1; ignore → no check, no device→host read.
  TORCH_ARG(NonFinite, nonfinite) = NonFinite::error;

 public:
  // Shorthand: true → nonfinite(skip), false → nonfinite(error).
  HybridOptions& skip_nonfinite(bool skip) {
    nonfinite_ = skip ? NonFinite::skip : NonFinite::error;
    return *this;
  }
  bool skip_nonfinite() const { return nonfinite_ == NonFinite::skip; }
};

class HybridOptimizer {
 public:
  using LossClosure = std::function<at::Tensor()>;

  // From a partition (each side's parameters in one param group with that side's options).
  HybridOptimizer(Partition partition, const MuonOptions& spectral,
                  const AdamWOptions& adamw = {}, const HybridOptions& options = {});
  HybridOptimizer(Partition partition, const LionKOptions& spectral,
                  const AdamWOptions& adamw = {}, const HybridOptions& options = {});
  HybridOptimizer(Partition partition, const SpectralAdamOptions& spectral,
                  const AdamWOptions& adamw = {}, const HybridOptions& options = {});
  HybridOptimizer(Partition partition, const SpectralSGDOptions& spectral,
                  const AdamWOptions& adamw = {}, const HybridOptions& options = {});

  // From a module: partition_parameters(module, options.partition()), then as above.
  template <typename SpectralOptions>
  HybridOptimizer(const torch::nn::Module& module, const SpectralOptions& spectral,
                  const AdamWOptions& adamw = {}, const HybridOptions& options = {})
      : HybridOptimizer(partition_parameters(module, options.partition()), spectral, adamw,
                        options) {}

  // Members built by the caller (any param groups / options). `partition` must hold exactly
  // the parameters of `spectral` and `adamw` respectively, in group order (checked); it gives
  // the names used in messages.
  HybridOptimizer(Partition partition, std::unique_ptr<SpecoptOptimizer> spectral,
                  std::unique_ptr<SpecoptOptimizer> adamw, const HybridOptions& options = {});

  HybridOptimizer(const HybridOptimizer&) = delete;
  HybridOptimizer& operator=(const HybridOptimizer&) = delete;
  HybridOptimizer(HybridOptimizer&&) = default;
  HybridOptimizer& operator=(HybridOptimizer&&) = default;

  // Evaluates the closure once, checks every gradient, steps the spectral side then AdamW.
  // Returns the closure's loss (undefined without a closure).
  at::Tensor step(const LossClosure& closure = nullptr);
  void zero_grad();

  SpecoptOptimizer& spectral() { return *spectral_; }
  const SpecoptOptimizer& spectral() const { return *spectral_; }
  SpecoptOptimizer& adamw() { return *adamw_; }
  const SpecoptOptimizer& adamw() const { return *adamw_; }

  const Partition& partition() const { return partition_; }
  const HybridOptions& options() const { return options_; }

  // Every param group: the spectral member's groups first, then AdamW's.
  std::vector<torch::optim::OptimizerParamGroup*> param_groups();
  size_t num_spectral_params() const { return partition_.spectral.size(); }
  size_t num_adamw_params() const { return partition_.adamw.size(); }

  // Steps skipped by this object because of a non-finite gradient (skip_nonfinite).
  int64_t skipped_steps() const { return skipped_steps_; }

  // Both members with stable tags: {"spectral", spectral()}, {"adamw", adamw()}.
  std::vector<std::pair<std::string, SpecoptOptimizer*>> members();

  // Restores the count (checkpoints); must be >= 0.
  void set_skipped_steps(int64_t n);

 private:
  void check_members() const;

  Partition partition_;
  HybridOptions options_;
  std::unique_ptr<SpecoptOptimizer> spectral_;
  std::unique_ptr<SpecoptOptimizer> adamw_;
  int64_t skipped_steps_ = 0;
};

// One file for both members: each member's checkpoint (see checkpoint.h) plus the partition's
// parameter names and skipped_steps(). Extras are per member (e.g. one LrScheduler each).
// Loading validates both members before keeping either: if the second member is refused, the
// first is restored from an in-memory snapshot, so a refused load changes nothing.
void save_checkpoint(const std::string& path, const HybridOptimizer& optimizer,
                     const CheckpointExtras& spectral_extras = {},
                     const CheckpointExtras& adamw_extras = {});
void load_checkpoint(const std::string& path, HybridOptimizer& optimizer,
                     CheckpointExtras& spectral_extras, CheckpointExtras& adamw_extras);
void load_checkpoint(const std::string& path, HybridOptimizer& optimizer);

}  // namespace specopt
