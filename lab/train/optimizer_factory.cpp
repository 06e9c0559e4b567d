#include "lab/train/optimizer_factory.h"

#include <stdexcept>

#include <specopt/optim/adamw.h>
#include <specopt/optim/checkpoint.h>
#include <specopt/optim/lion_k.h>
#include <specopt/optim/muon.h>
#include <specopt/optim/partition.h>
#include <specopt/optim/spectral_adam.h>

namespace specopt {
namespace lab {

TrainOptimizer::TrainOptimizer(std::unique_ptr<HybridOptimizer> hybrid,
                               const std::string& schedule_spec)
    : hybrid_(std::move(hybrid)) {
  schedulers_.push_back(std::make_unique<LrScheduler>(hybrid_->spectral(), make_schedule(schedule_spec)));
  schedulers_.push_back(std::make_unique<LrScheduler>(hybrid_->adamw(), make_schedule(schedule_spec)));
}

TrainOptimizer::TrainOptimizer(std::unique_ptr<SpecoptOptimizer> single,
                               const std::string& schedule_spec)
    : single_(std::move(single)) {
  schedulers_.push_back(std::make_unique<LrScheduler>(*single_, make_schedule(schedule_spec)));
}

void TrainOptimizer::zero_grad() {
  if (hybrid_) {
    hybrid_->zero_grad();
  } else {
    single_->zero_grad();
  }
}

void TrainOptimizer::step() {
  if (hybrid_) {
    hybrid_->step();
  } else {
    single_->step();
  }
}

void TrainOptimizer::schedule_step() {
  for (auto& s : schedulers_) s->step();
}

double TrainOptimizer::lr_scale() const { return schedulers_.front()->current_value(); }

void TrainOptimizer::save(const std::string& path, const std::map<std::string, int64_t>& ints,
                          const std::map<std::string, double>& doubles) const {
  CheckpointExtras first;
  first.lr_schedulers = {schedulers_[0].get()};
  first.integers = ints;
  first.doubles = doubles;
  first.save_parameters = true;
  if (hybrid_) {
    CheckpointExtras second;
    second.lr_schedulers = {schedulers_[1].get()};
    second.save_parameters = true;
    save_checkpoint(path, *hybrid_, first, second);
  } else {
    save_checkpoint(path, *single_, first);
  }
}

void TrainOptimizer::load(const std::string& path, std::map<std::string, int64_t>& ints,
                          std::map<std::string, double>& doubles) {
  CheckpointExtras first;
  first.lr_schedulers = {schedulers_[0].get()};
  if (hybrid_) {
    CheckpointExtras second;
    second.lr_schedulers = {schedulers_[1].get()};
    load_checkpoint(path, *hybrid_, first, second);
  } else {
    load_checkpoint(path, *single_, first);
  }
  ints = first.integers;
  doubles = first.doubles;
}

std::string TrainOptimizer::describe() const {
  if (hybrid_) {
    return hybrid_->spectral().name() + " on " + std::to_string(hybrid_->num_spectral_params()) +
           " matrices + AdamW on " + std::to_string(hybrid_->num_adamw_params()) +
           " other parameters";
  }
  size_t n = 0;
  for (const auto& g : single_->param_groups()) n += g.params().size();
  return single_->name() + " on " + std::to_string(n) + " parameters";
}

namespace {

template <typename Options>
Options& common(Options& o, const OptimizerConfig& c) {
  o.weight_decay(c.weight_decay).split_qkv(c.split_qkv);
  return o;
}

}  // namespace

std::unique_ptr<TrainOptimizer> make_train_optimizer(const OptimizerConfig& c,
                                                     const std::string& schedule_spec,
                                                     const torch::nn::Module& model) {
  const auto& name = c.name;
  if (name == "adamw" || name == "lion") {
    std::vector<at::Tensor> params;
    for (const auto& p : model.parameters()) params.push_back(p);
    std::unique_ptr<SpecoptOptimizer> single;
    if (name == "adamw") {
      single = std::make_unique<AdamW>(
          params, AdamWOptions(c.lr).beta1(c.beta1).beta2(c.beta2).eps(c.eps).weight_decay(c.weight_decay));
    } else {
      single = std::make_unique<Lion>(
          params, LionOptions(c.lr).beta1(c.beta1).beta2(c.beta2).weight_decay(c.weight_decay));
    }
    return std::make_unique<TrainOptimizer>(std::move(single), schedule_spec);
  }

  // Hybrids: vectors, embeddings and heads on AdamW with betas (beta1, beta2) — paper 3's
  // protocol uses (0.9, 0.95) for them.
  const auto vec = AdamWOptions(c.vector_lr)
                       .beta1(c.beta1)
                       .beta2(c.beta2)
                       .eps(c.eps)
                       .weight_decay(c.vector_weight_decay);
  const auto partition = partition_parameters(model, PartitionOptions().require_spectral(true));
  std::unique_ptr<HybridOptimizer> h;
  if (name == "muon") {
    auto o = MuonOptions(c.lr).nesterov(c.nesterov);
    if (c.momentum >= 0) o.momentum(c.momentum);
    if (!c.shape_rule.empty()) o.shape_rule(c.shape_rule);
    h = std::make_unique<HybridOptimizer>(partition, common(o, c), vec);
  } else if (name == "lionk") {
    auto o = LionKOptions(c.lr).map(c.map);
    o.weight_decay(c.weight_decay).split_qkv(c.split_qkv);
    h = std::make_unique<HybridOptimizer>(partition, o, vec);
  } else if (name.rfind("adam", 0) == 0 || name == "spectral_adam") {
    SpectralAdamOptions o = name == "adam"    ? SpectralAdamOptions::adam(c.lr)
                            : name == "adams" ? SpectralAdamOptions::adams(c.lr)
                            : name == "adamq" ? SpectralAdamOptions::adamq(c.lr)
                            : name == "adamz" ? SpectralAdamOptions::adamz(c.lr)
                                              : SpectralAdamOptions(c.lr).p(c.p);
    o.beta1(c.beta1).beta2(c.beta2).eps(c.eps);
    if (!c.shape_rule.empty()) o.shape_rule(c.shape_rule);
    h = std::make_unique<HybridOptimizer>(partition, common(o, c), vec);
  } else if (name.rfind("msgd", 0) == 0 || name == "spectral_sgd") {
    SpectralSGDOptions o = name == "msgd"    ? SpectralSGDOptions::msgd(c.lr)
                           : name == "msgds" ? SpectralSGDOptions::msgds(c.lr)
                           : name == "msgdq" ? SpectralSGDOptions::msgdq(c.lr)
                           : name == "msgdz" ? SpectralSGDOptions::msgdz(c.lr)
                                             : SpectralSGDOptions(c.lr).p(c.p);
    if (c.momentum >= 0) o.momentum(c.momentum);
    if (!c.shape_rule.empty()) o.shape_rule(c.shape_rule);
    h = std::make_unique<HybridOptimizer>(partition, common(o, c), vec);
  } else {
    throw std::invalid_argument("config key 'optimizer.name': unknown optimizer '" + name + "'");
  }
  return std::make_unique<TrainOptimizer>(std::move(h), schedule_spec);
}

}  // namespace lab
}  // namespace specopt
