#pragma once
// DistributedOptimizer: data-parallel training with any specopt optimizer (a HybridOptimizer
// included) over a specopt::dist::Communicator, ZeRO-1 style. It is itself a SpecoptOptimizer
// (a torch::optim::Optimizer): it takes over the wrapped optimizer's groups, options and state,
// and LibTorch schedulers, torch::save and specopt's checkpoints work on it.
//
//   auto comm = specopt::dist::init_from_env();            // single process without WORLD_SIZE
//   auto inner = std::make_unique<specopt::Muon>(params, specopt::MuonOptions(0.02));
//   specopt::DistributedOptimizer opt(std::move(inner), comm);
//   for (...) { opt.zero_grad(); local_loss.backward(); opt.step(); }
//
// Every rank builds the same model and the same inner optimizer over ALL parameters (same
// order); the wrapper then decides, identically on every rank, which rank OWNS each parameter:
// a greedy balance (largest cost first, to the least-loaded rank) of each parameter's update
// cost as its group's rule estimates it (RuleOptions::update_flops: Newton–Schulz FLOPs for the
// spectral rules, a few FLOPs per element for element-wise ones).
// Large parameters of element-wise rules (RuleOptions::elementwise: AdamW, Lion; at least
// slice_min_numel elements, e.g. a token embedding) are not owned whole: they are SLICED, rank
// r updating elements [numel·r/N, numel·(r+1)/N) of the flattened parameter with its own
// "shadow" optimizer (the same group options, the slices as parameters), so that their state
// divides by N too. An element-wise update of a slice is the update of those elements, so this
// changes no result.
//
// step(closure):
//   1. the closure (if any) runs once, with gradients on, on this rank's share of the batch;
//   2. gradients are averaged over ranks: one small all-reduce of which parameters have a
//      gradient anywhere (a parameter with no gradient on any rank is left alone, as in every
//      specopt optimizer), then the gradients flattened into buckets of at most bucket_bytes
//      per dtype, each all-reduced (sum) and divided by the world size;
//   3. one check of the averaged gradients for NaN/Inf (the same on every rank, one
//      device→host read): every rank throws or skips (option nonfinite) alike;
//   4. the groups' rules step with the gradients of the parameters this rank does not own
//      hidden (undefined), so it updates — and keeps state for — only its own parameters;
//      every spectral transform is computed once in the world, by its owner; then each shadow
//      optimizer steps this rank's slices (group options copied from this optimizer's first,
//      so lr schedules apply to the slices too);
//   5. each rank broadcasts its updated parameters and slices (one flat buffer per dtype) to
//      the others.
// After step() every parameter's gradient holds the averaged gradient on every rank.
//
// Equality with one process: every rank's update of a parameter comes from the same averaged
// gradient, so a run on N ranks takes the steps of a single-process run on the global batch up
// to the rounding of the gradient sum (the order of summation differs); with world size 1 the
// wrapper is bit-identical to the inner optimizer (no communication at all).
//
// Checkpoints (save_checkpoint / load_checkpoint below) are sharded: one file per rank and
// member with the state this rank owns (specopt's ordinary checkpoint format, see
// checkpoint.h: keyed by (group, parameter)), one per rank and sliced member with its slices'
// state, plus a manifest recording the world size, each parameter's owner (or that it was
// sliced). torch::save writes this rank's share only. They load at any world size: each rank reads the
// rank files it needs and keeps the state of what it owns under the new assignment, cutting or
// joining slices of element-wise state as the new world size requires.
#include <ATen/ATen.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <specopt/dist/communicator.h>
#include <specopt/optim/base.h>
#include <specopt/optim/checkpoint.h>
#include <specopt/optim/hybrid.h>

namespace specopt {

struct DistributedOptions {
  // Upper bound of one gradient all-reduce bucket, in bytes (>= 1).
  TORCH_ARG(int64_t, bucket_bytes) = int64_t(25) << 20;
  // Parameters of element-wise optimizers (AdamW, Lion) with at least this many elements are
  // sliced across ranks instead of owned whole (>= 0; 0 = never slice). Only with 2 or more
  // ranks, and only contiguous parameters.
  TORCH_ARG(int64_t, slice_min_numel) = int64_t(1) << 16;

 public:
  void validate() const;
};

class DistributedOptimizer : public SpecoptOptimizer {
 public:

  // One parameter of the wrapped optimizer(s): where it sits, its cost, its owner rank.
  struct Slot {
    size_t member = 0;  // index into members()
    size_t group = 0;
    size_t index = 0;   // position in the group
    double cost = 0;    // estimated FLOPs of its update
    int owner = 0;      // kSliced: every rank updates one slice
  };
  static constexpr int kSliced = -1;

  // Rank `rank`'s slice [begin, end) of a flattened parameter of `numel` elements.
  static std::pair<int64_t, int64_t> slice_bounds(int64_t numel, int world, int rank);

  // Takes over `inner`'s param groups, options, state and skipped-step count; from then on
  // this object is the optimizer (schedulers, torch::save, checkpoints go on it). `inner` is
  // kept only for its name and parameter names.
  DistributedOptimizer(std::unique_ptr<SpecoptOptimizer> inner,
                       std::shared_ptr<dist::Communicator> comm,
                       const DistributedOptions& options = {});

  DistributedOptimizer(const DistributedOptimizer&) = delete;
  DistributedOptimizer& operator=(const DistributedOptimizer&) = delete;

  // A collective: every rank must call it, in the same order. Returns the closure's loss
  // (this rank's), undefined without a closure.
  torch::Tensor step(LossClosure closure = nullptr) override;
  std::string name() const override { return inner_->name(); }
  std::string param_name(size_t group, size_t index) const override {
    return inner_->param_name(group, index);
  }

  // Runs inside step() on every rank, after the gradients are averaged and before the
  // non-finite check and the inner step: the place for gradient clipping by the global norm
  // (the averaged gradients are the same on every rank, so every rank clips alike). An
  // exception it throws leaves step() with nothing updated. Empty: nothing runs.
  void set_after_average(std::function<void()> hook) { after_average_ = std::move(hook); }

  // After state was loaded into the wrapped optimizers themselves (a one-process checkpoint,
  // loaded on every rank): moves each sliced parameter's state from its member into this rank's
  // slice and drops the state of parameters owned elsewhere, as if this rank had taken every
  // step. Not a collective.
  void adopt_member_state();

  dist::Communicator& comm() { return *comm_; }
  int rank() const { return comm_->rank(); }
  int world_size() const { return comm_->size(); }
  const DistributedOptions& options() const { return options_; }

  // The wrapped optimizer with its tag in sharded checkpoints: {"optimizer"}.
  const std::vector<std::pair<std::string, SpecoptOptimizer*>>& members() const {
    return members_;
  }
  // The optimizer holding this rank's slices of member m's sliced parameters (its group g
  // holds the slices of member group g's sliced parameters, in order), or nullptr.
  SpecoptOptimizer* shadow(size_t m) { return shadows_[m].get(); }
  // This rank's slice (a parameter of a shadow) of the sliced parameter slots()[slot].
  at::Tensor& slice_param(size_t slot);

  // Wall time of the last step()'s phases, in seconds (the benchmark's breakdown).
  struct StepTimes {
    double reduce = 0;   // gradient averaging (all-reduces)
    double compute = 0;  // non-finite check and the inner optimizers' steps on owned parameters
    double sync = 0;     // broadcasting the updated parameters
  };
  const StepTimes& last_step_times() const { return times_; }

  const std::vector<Slot>& slots() const { return slots_; }
  // Sum of slot costs per rank (the balance the assignment reached; a sliced parameter's cost
  // counts 1/N on every rank).
  std::vector<double> load_per_rank() const;
  // Bytes of optimizer-state tensors this rank holds (all members and shadows).
  int64_t state_bytes() const;

 private:
  void init();
  at::Tensor& param_of(const Slot& s);
  void average_gradients(std::vector<char>& has_grad);
  void sync_parameters(const std::vector<char>& has_grad);
  void make_shadows();
  // Points the shadows' slices at their parameters, with the averaged gradients' slices.
  void prepare_shadows(const std::vector<char>& has_grad);
  void drop_shadow_grads();

  std::shared_ptr<dist::Communicator> comm_;
  DistributedOptions options_;
  std::unique_ptr<SpecoptOptimizer> inner_;
  std::vector<std::pair<std::string, SpecoptOptimizer*>> members_;
  std::vector<Slot> slots_;
  // Per member: the shadow optimizer (or null) and, per shadow group, the slot of each slice.
  std::vector<std::unique_ptr<SpecoptOptimizer>> shadows_;
  std::vector<std::vector<std::vector<size_t>>> shadow_slots_;
  std::vector<std::pair<size_t, size_t>> slice_param_;  // per slot: (shadow group, index)
  StepTimes times_;
  std::function<void()> after_average_;
};

// Bytes of state tensors held by `optimizer` (every state entry it has).
int64_t optimizer_state_bytes(const torch::optim::Optimizer& optimizer);

// A collective. Writes this rank's state as "<path>.<tag>.w<N>.r<rank>.<gen>" (one file per
// member, and "<tag>-slices" per member with sliced parameters; gen numbers successive saves to
// the same path) and, after every rank has written,
// rank 0 writes the manifest `path` atomically, then removes the previous generation's files.
// A crash at any point leaves the last complete checkpoint loadable. `extras` (schedulers,
// counters) must be the same on every rank; rank 0's copy is the one kept.
void save_checkpoint(const std::string& path, DistributedOptimizer& optimizer,
                     const CheckpointExtras& extras = {});
// A collective. Restores the state this rank owns (at the current world size, whatever the
// saved one), options, skipped steps and `extras` (restored into the first member's
// schedulers as given). Throws c10::Error naming the file on a missing or mismatched file; a
// refusal on any rank is a refusal on every rank, and every rank's optimizer (and extras) is
// then left as it was.
void load_checkpoint(const std::string& path, DistributedOptimizer& optimizer,
                     CheckpointExtras& extras);
void load_checkpoint(const std::string& path, DistributedOptimizer& optimizer);

// True when `path` is the manifest of a sharded checkpoint (saved by the save_checkpoint above)
// rather than a one-process checkpoint file.
bool is_sharded_checkpoint(const std::string& path);

}  // namespace specopt
