#pragma once
// The ONE place where a training config's [optimizer] section becomes a specopt optimizer
// (the update math stays in specopt/optim; this only maps names and options).
//
//   adamw, lion           one optimizer over every parameter (lr; betas, eps, weight_decay)
//   everything else       HybridOptimizer: the spectral optimizer on the hidden matrices (lr),
//                         AdamW on embeddings, gains, biases and heads (vector_lr, betas
//                         (beta1, beta2), vector_weight_decay), split by partition_parameters'
//                         default rule:
//     muon                Muon (momentum 0.95 unless set, Nesterov, shape_rule original)
//     adam adams adamq adamz      SpectralAdam presets, p = 1, ½, ¼, 0
//     msgd msgds msgdq msgdz      SpectralSGD presets, p = 1, ½, ¼, 0 (momentum 0.9 unless set)
//     spectral_adam spectral_sgd  any p in [0, 1] (optimizer.p)
//     lionk               LionK with the convex map optimizer.map ("nuclear", "schatten:q=3", ...)
//
// TrainOptimizer also owns one LrScheduler per member (the same schedule applied to each
// member's own base lrs) and saves / loads everything, parameters included, in one atomic
// checkpoint file.
#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <specopt/optim/base.h>
#include <specopt/optim/hybrid.h>
#include <specopt/optim/schedule.h>

#include "lab/train/config.h"

namespace specopt {
namespace lab {

class TrainOptimizer {
 public:
  // Built by make_train_optimizer.
  TrainOptimizer(std::unique_ptr<HybridOptimizer> hybrid, const std::string& schedule_spec);
  TrainOptimizer(std::unique_ptr<SpecoptOptimizer> single, const std::string& schedule_spec);

  void zero_grad();
  void step();           // the optimizer step (no closure)
  void schedule_step();  // every lr driver: position += 1
  double lr_scale() const;  // the schedule's current multiplier

  // One atomic file: optimizer state, options, schedule positions, parameters, and `ints` /
  // `doubles` (the trainer's step, best losses, ...). load refuses a checkpoint of another
  // model or optimizer and changes nothing then.
  void save(const std::string& path, const std::map<std::string, int64_t>& ints,
            const std::map<std::string, double>& doubles) const;
  void load(const std::string& path, std::map<std::string, int64_t>& ints,
            std::map<std::string, double>& doubles);

  // "Muon on 8 matrices + AdamW on 9 other parameters" / "AdamW on 17 parameters".
  std::string describe() const;
  bool is_hybrid() const { return hybrid_ != nullptr; }

 private:
  std::unique_ptr<HybridOptimizer> hybrid_;
  std::unique_ptr<SpecoptOptimizer> single_;
  std::vector<std::unique_ptr<LrScheduler>> schedulers_;
};

std::unique_ptr<TrainOptimizer> make_train_optimizer(const OptimizerConfig& config,
                                                     const std::string& schedule_spec,
                                                     const torch::nn::Module& model);

}  // namespace lab
}  // namespace specopt
