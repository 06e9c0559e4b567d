#pragma once
// HybridOptimizer: one torch::optim::Optimizer that steps the hidden matrices with a spectral
// rule (Muon, NorMuon, LionK, SpectralAdam, SpectralSGD) and everything else with AdamW, built
// from a Partition (specopt/optim/partition.h) with one options object per side.
//
//   specopt::HybridOptimizer opt(model, specopt::MuonOptions(0.02),
//                                specopt::AdamWOptions(3e-4).weight_decay(0.0));
//   specopt::LrScheduler lr(opt, specopt::WarmupCosineSchedule(100, 5000));  // or any LibTorch
//   for (...) {                                                              // scheduler
//     opt.zero_grad(); loss.backward(); opt.step(); lr.step();
//   }
//
// It is a SpecoptOptimizer whose param groups are the spectral side's (group 0, or the groups
// of a spectral optimizer given as a member) followed by the AdamW side's; each group's options
// decide its rule, so step() is the one step of every specopt optimizer: the closure once, one
// fused NaN/Inf check of every gradient (one device→host read) before anything changes, then
// each group's update. HybridOptions::nonfinite is written into every group's options (the
// sides' own nonfinite options do not apply). Messages and checkpoints name parameters by their
// model names (param_name), so a checkpoint of another model is refused.
//
// Schedules: one LrScheduler (or torch::optim::StepLR, ...) drives both sides, each group from
// its own base lr; a MomentumScheduler goes on the spectral groups only
// (momentum_setter<MuonOptions>(true) skips the AdamW groups).
//
// Checkpoints: the ordinary save_checkpoint / load_checkpoint / torch::save / torch::load of
// specopt/optim/checkpoint.h.
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
#include <specopt/optim/lion_k.h>
#include <specopt/optim/muon.h>
#include <specopt/optim/normuon.h>
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

class HybridOptimizer : public SpecoptOptimizer {
 public:
  // From a partition: the spectral side's parameters in one group with `spectral` (any
  // specopt rule's options: MuonOptions, LionKOptions, ...), the AdamW side's in one group with
  // `adamw`. Both groups exist even when a side is empty.
  HybridOptimizer(Partition partition, const RuleOptions& spectral,
                  const AdamWOptions& adamw = {}, const HybridOptions& options = {});

  // From a module: partition_parameters(module, options.partition()), then as above.
  HybridOptimizer(const torch::nn::Module& module, const RuleOptions& spectral,
                  const AdamWOptions& adamw = {}, const HybridOptions& options = {});

  // From optimizers built by the caller (any param groups / rules): their groups and options
  // are taken over (their state is not). `partition` must hold exactly the parameters of
  // `spectral` and `adamw` respectively, in group order (checked); it gives the names.
  HybridOptimizer(Partition partition, std::unique_ptr<SpecoptOptimizer> spectral,
                  std::unique_ptr<SpecoptOptimizer> adamw, const HybridOptions& options = {});

  std::string name() const override { return "HybridOptimizer"; }
  // "parameter 'blocks.0.attn.weight'" for the partition's parameters.
  std::string param_name(size_t group, size_t index) const override;

  const Partition& partition() const { return partition_; }
  const HybridOptions& options() const { return options_; }

  // Groups [0, num_spectral_groups()) are the spectral side's, the rest the AdamW side's.
  size_t num_spectral_groups() const { return num_spectral_groups_; }
  size_t num_spectral_params() const { return partition_.spectral.size(); }
  size_t num_adamw_params() const { return partition_.adamw.size(); }

 private:
  // Checks the groups hold the partition's parameters in order; records their names.
  void adopt_partition();

  Partition partition_;
  HybridOptions options_;
  size_t num_spectral_groups_ = 0;
  std::vector<std::vector<std::string>> names_;  // per group, per parameter
};

}  // namespace specopt
