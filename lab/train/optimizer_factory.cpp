#include "lab/train/optimizer_factory.h"

#include <filesystem>
#include <stdexcept>

#include <specopt/optim/adamw.h>
#include <specopt/optim/checkpoint.h>
#include <specopt/optim/lion_k.h>
#include <specopt/optim/muon.h>
#include <specopt/optim/normuon.h>
#include <specopt/optim/partition.h>
#include <specopt/optim/spectral_adam.h>

#include "lab/train/data_parallel.h"
#include "lab/train/partition_report.h"

namespace specopt {
namespace lab {

TrainOptimizer::TrainOptimizer(std::unique_ptr<HybridOptimizer> hybrid,
                               const std::string& schedule_spec)
    : hybrid_(std::move(hybrid)) {
  hybrid_ptr_ = hybrid_.get();
  schedulers_.push_back(std::make_unique<LrScheduler>(hybrid_->spectral(), make_schedule(schedule_spec)));
  schedulers_.push_back(std::make_unique<LrScheduler>(hybrid_->adamw(), make_schedule(schedule_spec)));
}

TrainOptimizer::TrainOptimizer(std::unique_ptr<SpecoptOptimizer> single,
                               const std::string& schedule_spec)
    : single_(std::move(single)) {
  single_ptr_ = single_.get();
  schedulers_.push_back(std::make_unique<LrScheduler>(*single_, make_schedule(schedule_spec)));
}

void TrainOptimizer::distribute(std::shared_ptr<dist::Communicator> comm,
                                const DistributedOptions& options) {
  if (dist_) throw std::logic_error("TrainOptimizer::distribute: already distributed");
  // The schedulers hold references to the inner optimizers, which keep their addresses.
  if (hybrid_) {
    dist_ = std::make_unique<DistributedOptimizer>(std::move(hybrid_), std::move(comm), options);
  } else {
    dist_ = std::make_unique<DistributedOptimizer>(std::move(single_), std::move(comm), options);
  }
}

void TrainOptimizer::zero_grad() {
  if (dist_) {
    dist_->zero_grad();
  } else if (hybrid_ptr_) {
    hybrid_ptr_->zero_grad();
  } else {
    single_ptr_->zero_grad();
  }
}

namespace {
struct StepSkipped {};  // thrown out of DistributedOptimizer::step by a refusing prepare()
}  // namespace

bool TrainOptimizer::step(const std::function<bool()>& prepare) {
  if (dist_) {
    dist_->set_after_average([&prepare] {
      if (!prepare()) throw StepSkipped{};
    });
    try {
      dist_->step();
    } catch (const StepSkipped&) {
      dist_->set_after_average(nullptr);
      return false;
    }
    dist_->set_after_average(nullptr);
    return true;
  }
  if (!prepare()) return false;
  if (hybrid_ptr_) {
    hybrid_ptr_->step();
  } else {
    single_ptr_->step();
  }
  return true;
}

void TrainOptimizer::schedule_step() {
  for (auto& s : schedulers_) s->step();
}

double TrainOptimizer::lr_scale() const { return schedulers_.front()->current_value(); }

void TrainOptimizer::save_file(const std::string& path, const std::map<std::string, int64_t>& ints,
                               const std::map<std::string, double>& doubles) const {
  CheckpointExtras first;
  first.lr_schedulers = {schedulers_[0].get()};
  first.integers = ints;
  first.doubles = doubles;
  first.save_parameters = true;
  if (hybrid_ptr_) {
    CheckpointExtras second;
    second.lr_schedulers = {schedulers_[1].get()};
    second.save_parameters = true;
    save_checkpoint(path, *hybrid_ptr_, first, second);
  } else {
    save_checkpoint(path, *single_ptr_, first);
  }
}

void TrainOptimizer::load_file(const std::string& path, std::map<std::string, int64_t>& ints,
                               std::map<std::string, double>& doubles) {
  CheckpointExtras first;
  first.lr_schedulers = {schedulers_[0].get()};
  if (hybrid_ptr_) {
    CheckpointExtras second;
    second.lr_schedulers = {schedulers_[1].get()};
    load_checkpoint(path, *hybrid_ptr_, first, second);
  } else {
    load_checkpoint(path, *single_ptr_, first);
  }
  ints = first.integers;
  doubles = first.doubles;
}

namespace {
std::string trainer_file(const std::string& path, int64_t step) {
  return path + ".train." + std::to_string(step);
}
}  // namespace

void TrainOptimizer::save(const std::string& path, const std::map<std::string, int64_t>& ints,
                          const std::map<std::string, double>& doubles) const {
  if (!dist_) {
    save_file(path, ints, doubles);
    return;
  }
  // Rank 0's file holds the parameters (the same on every rank), the schedules and the
  // trainer's values, plus rank 0's own share of the optimizer state (superseded on load by
  // the shards). It is written before the manifest that names its step, and older ones are
  // removed only after the new manifest is in place.
  const int64_t step = ints.at("step");
  if (dist_->rank() == 0) save_file(trainer_file(path, step), ints, doubles);
  CheckpointExtras extras;
  extras.integers = {{"step", step}};
  save_checkpoint(path, *dist_, extras);
  if (dist_->rank() == 0) {
    namespace fs = std::filesystem;
    const auto dir = fs::path(path).parent_path().empty() ? fs::path(".") : fs::path(path).parent_path();
    const std::string prefix = fs::path(path).filename().string() + ".train.";
    const std::string keep = fs::path(trainer_file(path, step)).filename().string();
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      const auto name = e.path().filename().string();
      if (name.rfind(prefix, 0) == 0 && name != keep) fs::remove(e.path(), ec);
    }
  }
}

void TrainOptimizer::load(const std::string& path, std::map<std::string, int64_t>& ints,
                          std::map<std::string, double>& doubles) {
  if (!is_sharded_checkpoint(path)) {
    // A one-process checkpoint: every rank loads all of it, then keeps the state of what it
    // owns (its slices of element-wise parameters cut from the whole state).
    load_file(path, ints, doubles);
    if (dist_) dist_->adopt_member_state();
    return;
  }
  if (!dist_) distribute(dist::make_single_process_communicator());
  // The manifest's extras name the step of rank 0's file; that file restores parameters,
  // schedules and trainer values (and rank 0's old state), then the shards restore the state
  // this rank owns now.
  CheckpointExtras extras;
  load_checkpoint(path, *dist_, extras);
  const auto it = extras.integers.find("step");
  if (it == extras.integers.end()) {
    throw std::runtime_error("checkpoint '" + path + "' records no step (not a trainer checkpoint)");
  }
  load_file(trainer_file(path, it->second), ints, doubles);
  load_checkpoint(path, *dist_, extras);
}

std::string TrainOptimizer::describe() const {
  if (hybrid_ptr_) {
    return hybrid_ptr_->spectral().name() + " on " +
           std::to_string(hybrid_ptr_->num_spectral_params()) + " matrices + AdamW on " +
           std::to_string(hybrid_ptr_->num_adamw_params()) + " other parameters";
  }
  size_t n = 0;
  for (const auto& g : single_ptr_->param_groups()) n += g.params().size();
  return single_ptr_->name() + " on " + std::to_string(n) + " parameters";
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
  const auto partition = partition_parameters(model, partition_options(c));
  std::unique_ptr<HybridOptimizer> h;
  if (name == "muon") {
    auto o = MuonOptions(c.lr).nesterov(c.nesterov);
    if (c.momentum >= 0) o.momentum(c.momentum);
    if (!c.shape_rule.empty()) o.shape_rule(c.shape_rule);
    h = std::make_unique<HybridOptimizer>(partition, common(o, c), vec);
  } else if (name == "normuon") {
    if (c.split_qkv) {
      throw std::invalid_argument("config key 'optimizer.split_qkv': normuon has no split_qkv");
    }
    auto o = NorMuonOptions(c.lr).nesterov(c.nesterov).weight_decay(c.weight_decay);
    if (c.momentum >= 0) o.momentum(c.momentum);
    if (!c.shape_rule.empty()) o.shape_rule(transforms::parse_shape_rule(c.shape_rule));
    h = std::make_unique<HybridOptimizer>(
        partition, std::make_unique<NorMuon>(partition.spectral_params(), o),
        std::make_unique<AdamW>(partition.adamw_params(), vec));
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
