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
//     normuon             NorMuon (momentum 0.95 unless set, beta2 0.95, Nesterov)
//     adamuon             AdaMuon (momentum 0.95 unless set, its own beta2 0.999, Nesterov)
//     polargrad           PolarGrad (momentum 0.95 unless set, nesterov as the config says)
//     dion2               Dion2 (momentum = its error-feedback decay, 0.95 unless set; fraction
//                         0.25, shape_rule spectral_norm)
//     adam adams adamq adamz      SpectralAdam presets, p = 1, ½, ¼, 0
//     msgd msgds msgdq msgdz      SpectralSGD presets, p = 1, ½, ¼, 0 (momentum 0.9 unless set)
//     spectral_adam spectral_sgd  any p in [0, 1] (optimizer.p)
//     lionk               LionK with the convex map optimizer.map ("nuclear", "schatten:q=3", ...)
//
// The spectral rule's options come from the optimizer registry (specopt/optim/registry.h: the
// names `specopt list` shows, any case), then the config's keys that the rule declares.
// TrainOptimizer also owns the LrScheduler (each param group from its own base lr) and saves / loads everything, parameters included, in one atomic
// checkpoint file. After distribute() (data-parallel ranks) it steps through a
// DistributedOptimizer and checkpoints are sharded: `path` is the DistributedOptimizer's
// manifest (each rank's optimizer-state shard beside it) and rank 0 writes the parameters,
// schedules and trainer values to "<path>.train.<step>" first; the manifest records the step,
// so a crash at any point leaves the last complete checkpoint loadable. load() reads either
// kind at any world size (a sharded one in a one-process run distributes over a world of 1).
#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <specopt/dist/communicator.h>
#include <specopt/optim/base.h>
#include <specopt/dist/distributed.h>
#include <specopt/optim/hybrid.h>
#include <specopt/optim/schedule.h>

#include "lab/train/config.h"

namespace specopt {
namespace lab {

class TrainOptimizer {
 public:
  // Built by make_train_optimizer (a HybridOptimizer or one optimizer over every parameter).
  TrainOptimizer(std::unique_ptr<SpecoptOptimizer> optimizer, const std::string& schedule_spec);

  // Wraps the optimizer in a DistributedOptimizer over `comm` (every rank, same model).
  void distribute(std::shared_ptr<dist::Communicator> comm,
                  const DistributedOptions& options = {});
  bool distributed() const { return dist_ != nullptr; }
  // The rank that writes shared files (0 without a communicator).
  int rank() const { return dist_ ? dist_->rank() : 0; }

  void zero_grad();
  // The optimizer step (no closure). `prepare` runs first on the gradients the step will use
  // (after the averaging over ranks when distributed): clipping; when it returns false the
  // step is skipped (nothing changes) and step() returns false — on every rank alike.
  bool step(const std::function<bool()>& prepare);
  void schedule_step();  // the lr schedule's position += 1
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
  void save_file(const std::string& path, const std::map<std::string, int64_t>& ints,
                 const std::map<std::string, double>& doubles) const;
  void load_file(const std::string& path, std::map<std::string, int64_t>& ints,
                 std::map<std::string, double>& doubles);

  // Owned here until distribute() hands it to dist_, which then is the optimizer.
  std::unique_ptr<SpecoptOptimizer> owned_;
  SpecoptOptimizer* optimizer_ = nullptr;
  const HybridOptimizer* hybrid_ = nullptr;  // the built optimizer when it is a hybrid
  std::unique_ptr<DistributedOptimizer> dist_;
  std::string schedule_spec_;
  std::unique_ptr<LrScheduler> scheduler_;
};

// The spectral (or element-wise) rule's options: the registry's for `c.name`, then the config's
// keys that the rule declares; validated. Throws std::invalid_argument naming the config key.
std::unique_ptr<RuleOptions> rule_options(const OptimizerConfig& c);

std::unique_ptr<TrainOptimizer> make_train_optimizer(const OptimizerConfig& config,
                                                     const std::string& schedule_spec,
                                                     const torch::nn::Module& model);

}  // namespace lab
}  // namespace specopt
