#include "lab/train/optimizer_factory.h"

#include <algorithm>
#include <filesystem>
#include <sstream>
#include <stdexcept>

#include <specopt/optim/adamw.h>
#include <specopt/optim/checkpoint.h>
#include <specopt/optim/partition.h>
#include <specopt/optim/registry.h>

#include "lab/train/data_parallel.h"
#include "lab/train/partition_report.h"

namespace specopt {
namespace lab {

TrainOptimizer::TrainOptimizer(std::unique_ptr<SpecoptOptimizer> optimizer,
                               const std::string& schedule_spec)
    : owned_(std::move(optimizer)), schedule_spec_(schedule_spec) {
  optimizer_ = owned_.get();
  hybrid_ = dynamic_cast<const HybridOptimizer*>(optimizer_);
  scheduler_ = std::make_unique<LrScheduler>(*optimizer_, make_schedule(schedule_spec_));
}

void TrainOptimizer::distribute(std::shared_ptr<dist::Communicator> comm,
                                const DistributedOptions& options) {
  if (dist_) throw std::logic_error("TrainOptimizer::distribute: already distributed");
  // The distributed optimizer takes over the groups and state; the schedule moves onto it at
  // the position and base lrs it had.
  const auto position = scheduler_->position();
  const auto base_lrs = scheduler_->base_lrs();
  dist_ = std::make_unique<DistributedOptimizer>(std::move(owned_), std::move(comm), options);
  optimizer_ = dist_.get();
  scheduler_ = std::make_unique<LrScheduler>(*optimizer_, make_schedule(schedule_spec_));
  scheduler_->set_base_lrs(base_lrs);
  scheduler_->set_position(position);
}

void TrainOptimizer::zero_grad() { optimizer_->zero_grad(); }

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
  optimizer_->step();
  return true;
}

void TrainOptimizer::schedule_step() { scheduler_->step(); }

double TrainOptimizer::lr_scale() const { return scheduler_->current_value(); }

void TrainOptimizer::save_file(const std::string& path, const std::map<std::string, int64_t>& ints,
                               const std::map<std::string, double>& doubles) const {
  CheckpointExtras extras;
  extras.lr_schedulers = {scheduler_.get()};
  extras.integers = ints;
  extras.doubles = doubles;
  extras.save_parameters = true;
  save_checkpoint(path, *optimizer_, extras);
}

void TrainOptimizer::load_file(const std::string& path, std::map<std::string, int64_t>& ints,
                               std::map<std::string, double>& doubles) {
  CheckpointExtras extras;
  extras.lr_schedulers = {scheduler_.get()};
  load_checkpoint(path, *optimizer_, extras);
  ints = extras.integers;
  doubles = extras.doubles;
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
  if (const auto* h = hybrid_) {
    return std::string(h->rule(0).kind()) + " on " + std::to_string(h->num_spectral_params()) +
           " matrices + AdamW on " + std::to_string(h->num_adamw_params()) +
           " other parameters";
  }
  size_t n = 0;
  for (const auto& g : optimizer_->param_groups()) n += g.params().size();
  return optimizer_->name() + " on " + std::to_string(n) + " parameters";
}

namespace {

bool declares(const RuleOptions& o, const std::string& key) {
  const auto keys = option_keys(o);
  return std::find(keys.begin(), keys.end(), key) != keys.end();
}

std::string text(double x) {
  std::ostringstream os;
  os.precision(17);
  os << x;
  return os.str();
}

}  // namespace

// The betas and eps are the AdamW side's, and SpectralAdam's own (paper 3's protocol shares
// them).
std::unique_ptr<RuleOptions> rule_options(const OptimizerConfig& c) {
  std::unique_ptr<RuleOptions> o;
  try {
    o = make_optimizer_options(c.name);
  } catch (const c10::Error& e) {
    throw std::invalid_argument("config key 'optimizer.name': " +
                                std::string(e.what_without_backtrace()));
  }
  auto set = [&](const std::string& key, const std::string& value) {
    try {
      set_option(*o, key, value);
    } catch (const c10::Error& e) {
      throw std::invalid_argument("config key 'optimizer." + key + "': " +
                                  e.what_without_backtrace());
    }
  };
  const std::string kind = o->kind();
  const bool elementwise = o->elementwise();  // AdamW, Lion
  set("lr", text(c.lr));
  set("weight_decay", text(c.weight_decay));
  if (declares(*o, "cautious_weight_decay")) {
    set("cautious_weight_decay", c.cautious_weight_decay ? "true" : "false");
  } else if (c.cautious_weight_decay) {
    throw std::invalid_argument(std::string("config key 'optimizer.cautious_weight_decay': ") +
                                o->kind() + " has no cautious_weight_decay");
  }
  // split_qkv (default true) applies to the rules that have it; NorMuon normalises whole rows
  // and AdamW/Lion see no matrices, so the default must not make them unusable.
  if (declares(*o, "split_qkv")) set("split_qkv", c.split_qkv ? "true" : "false");
  if (c.momentum >= 0 && declares(*o, "momentum")) set("momentum", text(c.momentum));
  if (declares(*o, "nesterov")) set("nesterov", c.nesterov ? "true" : "false");
  if (!c.shape_rule.empty() && declares(*o, "shape_rule")) set("shape_rule", c.shape_rule);
  if (kind == "SpectralAdam" || elementwise) {
    set("beta1", text(c.beta1));
    set("beta2", text(c.beta2));
    if (declares(*o, "eps")) set("eps", text(c.eps));
  }
  // p for the general rules; the presets (adams, msgdq, ...) fix it.
  if (c.name == "spectraladam" || c.name == "spectralsgd") set("p", text(c.p));
  if (declares(*o, "map")) set("map", c.map);
  o->validate();
  return o;
}

std::unique_ptr<TrainOptimizer> make_train_optimizer(const OptimizerConfig& c,
                                                     const std::string& schedule_spec,
                                                     const torch::nn::Module& model) {
  const auto rule = rule_options(c);
  if (rule->elementwise()) {  // AdamW, Lion: one optimizer over every parameter
    std::vector<at::Tensor> params;
    for (const auto& p : model.parameters()) params.push_back(p);
    std::vector<torch::optim::OptimizerParamGroup> groups;
    groups.emplace_back(std::move(params));
    return std::make_unique<TrainOptimizer>(std::make_unique<SpecoptOptimizer>(groups, *rule),
                                            schedule_spec);
  }
  // Hybrids: vectors, embeddings and heads on AdamW with betas (beta1, beta2) — paper 3's
  // protocol uses (0.9, 0.95) for them.
  const auto vec = AdamWOptions(c.vector_lr)
                       .beta1(c.beta1)
                       .beta2(c.beta2)
                       .eps(c.eps)
                       .weight_decay(c.vector_weight_decay)
                       .cautious_weight_decay(c.cautious_weight_decay);
  auto partition = partition_parameters(model, partition_options(c));
  return std::make_unique<TrainOptimizer>(
      std::make_unique<HybridOptimizer>(std::move(partition), *rule, vec), schedule_spec);
}

}  // namespace lab
}  // namespace specopt
