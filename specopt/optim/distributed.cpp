#include "specopt/optim/distributed.h"

#include <c10/core/GradMode.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <numeric>
#include <sstream>
#include <tuple>

#include <specopt/matfun/newton_schulz.h>
#include <specopt/optim/adamw.h>
#include <specopt/optim/lion_k.h>
#include <specopt/optim/muon.h>
#include <specopt/optim/spectral_adam.h>
#include <specopt/optim/transforms.h>

namespace specopt {

namespace {

// Element-wise updates (Adam-like) cost a handful of FLOPs per element; the exact figure only
// matters relative to the Newton–Schulz FLOPs of the matrices.
constexpr double kElementwiseFlops = 10.0;
constexpr int kNsStepsForCost = 5;

// Update cost of parameter p under group options o: Newton–Schulz FLOPs of its matrices for
// the spectral optimizers, kElementwiseFlops per element otherwise.
double update_cost(const torch::optim::OptimizerOptions& o, const at::Tensor& p) {
  bool spectral = false;
  bool split_qkv = false;
  if (const auto* m = dynamic_cast<const MuonOptions*>(&o)) {
    spectral = true;
    split_qkv = m->split_qkv();
  } else if (const auto* k = dynamic_cast<const LionKOptions*>(&o)) {
    spectral = true;
    split_qkv = k->split_qkv();
  } else if (const auto* a = dynamic_cast<const SpectralAdamOptions*>(&o)) {
    spectral = a->p() < 1.0;
    split_qkv = a->split_qkv();
  } else if (const auto* s = dynamic_cast<const SpectralSGDOptions*>(&o)) {
    spectral = s->p() < 1.0;
    split_qkv = s->split_qkv();
  }
  const double elementwise = kElementwiseFlops * static_cast<double>(p.numel());
  if (!spectral || p.dim() < 2) return elementwise;
  transforms::MatrixLayout layout;
  layout.split_qkv = split_qkv;
  layout.allow_vectors = true;
  const auto rc = transforms::matrix_shape(p, layout, "DistributedOptimizer");
  const int64_t per = rc.first * rc.second;
  const double batch = per > 0 ? static_cast<double>(p.numel()) / static_cast<double>(per) : 0;
  const int64_t small = std::min(rc.first, rc.second), large = std::max(rc.first, rc.second);
  return elementwise + batch * newton_schulz_flops(small, large, kNsStepsForCost);
}

template <typename S>
int64_t tensor_bytes(const S& s) {
  return s.defined() ? static_cast<int64_t>(s.numel() * s.element_size()) : 0;
}

}  // namespace

void DistributedOptions::validate() const {
  TORCH_CHECK(bucket_bytes() >= 1, "Invalid DistributedOptions.bucket_bytes: ", bucket_bytes(),
              " (must be >= 1)");
}

int64_t optimizer_state_bytes(const torch::optim::Optimizer& optimizer) {
  int64_t total = 0;
  for (const auto& kv : optimizer.state()) {
    const auto* st = kv.second.get();
    if (const auto* m = dynamic_cast<const MuonParamState*>(st)) {
      total += tensor_bytes(m->momentum_buffer());
    } else if (const auto* k = dynamic_cast<const LionKParamState*>(st)) {
      total += tensor_bytes(k->momentum());
    } else if (const auto* a = dynamic_cast<const SpectralAdamParamState*>(st)) {
      total += tensor_bytes(a->exp_avg()) + tensor_bytes(a->exp_avg_sq());
    } else if (const auto* s = dynamic_cast<const SpectralSGDParamState*>(st)) {
      total += tensor_bytes(s->momentum_buffer());
    } else if (const auto* w = dynamic_cast<const AdamWParamState*>(st)) {
      total += tensor_bytes(w->exp_avg()) + tensor_bytes(w->exp_avg_sq());
    } else if (const auto* l = dynamic_cast<const LionParamState*>(st)) {
      total += tensor_bytes(l->exp_avg());
    } else {
      TORCH_CHECK(false, "optimizer_state_bytes: a state entry of a type it does not know");
    }
  }
  return total;
}

DistributedOptimizer::DistributedOptimizer(std::unique_ptr<SpecoptOptimizer> inner,
                                           std::shared_ptr<dist::Communicator> comm,
                                           const DistributedOptions& options)
    : comm_(std::move(comm)), options_(options), single_(std::move(inner)) {
  TORCH_CHECK(single_ != nullptr, "DistributedOptimizer: the wrapped optimizer is null");
  members_.emplace_back("optimizer", single_.get());
  init();
}

DistributedOptimizer::DistributedOptimizer(std::unique_ptr<HybridOptimizer> inner,
                                           std::shared_ptr<dist::Communicator> comm,
                                           const DistributedOptions& options)
    : comm_(std::move(comm)), options_(options), hybrid_(std::move(inner)) {
  TORCH_CHECK(hybrid_ != nullptr, "DistributedOptimizer: the wrapped optimizer is null");
  members_ = hybrid_->members();
  init();
}

void DistributedOptimizer::init() {
  TORCH_CHECK(comm_ != nullptr, "DistributedOptimizer: the communicator is null");
  options_.validate();
  for (size_t m = 0; m < members_.size(); ++m) {
    const auto& groups = members_[m].second->param_groups();
    for (size_t g = 0; g < groups.size(); ++g) {
      for (size_t i = 0; i < groups[g].params().size(); ++i) {
        Slot s;
        s.member = m;
        s.group = g;
        s.index = i;
        s.cost = update_cost(groups[g].options(), groups[g].params()[i]);
        slots_.push_back(s);
      }
    }
  }
  // Greedy balance: largest cost first, each to the least-loaded rank (lowest rank on ties).
  // Deterministic, so every rank computes the same assignment without communicating.
  std::vector<size_t> order(slots_.size());
  std::iota(order.begin(), order.end(), size_t(0));
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return slots_[a].cost > slots_[b].cost; });
  std::vector<double> load(static_cast<size_t>(world_size()), 0.0);
  for (size_t i : order) {
    const auto r = std::min_element(load.begin(), load.end()) - load.begin();
    slots_[i].owner = static_cast<int>(r);
    load[static_cast<size_t>(r)] += slots_[i].cost;
  }
}

std::vector<double> DistributedOptimizer::load_per_rank() const {
  std::vector<double> load(static_cast<size_t>(world_size()), 0.0);
  for (const auto& s : slots_) load[static_cast<size_t>(s.owner)] += s.cost;
  return load;
}

int64_t DistributedOptimizer::state_bytes() const {
  int64_t total = 0;
  for (const auto& m : members_) total += optimizer_state_bytes(*m.second);
  return total;
}

at::Tensor& DistributedOptimizer::param_of(const Slot& s) {
  return members_[s.member].second->param_groups()[s.group].params()[s.index];
}

void DistributedOptimizer::zero_grad() {
  for (auto& m : members_) m.second->zero_grad();
}

void DistributedOptimizer::average_gradients(std::vector<char>& has_grad) {
  const size_t n = slots_.size();
  has_grad.assign(n, 0);
  for (size_t i = 0; i < n; ++i) has_grad[i] = param_of(slots_[i]).grad().defined() ? 1 : 0;
  if (world_size() == 1) return;
  // Which parameters have a gradient on any rank (ranks may differ, e.g. an unused embedding
  // row set); missing ones count as zero there.
  auto flags = at::empty({static_cast<int64_t>(n)}, at::kFloat);
  auto* f = flags.data_ptr<float>();
  for (size_t i = 0; i < n; ++i) f[i] = has_grad[i] ? 1.f : 0.f;
  comm_->all_reduce(flags, dist::ReduceOp::max);
  for (size_t i = 0; i < n; ++i) {
    has_grad[i] = f[i] > 0 ? 1 : 0;
    auto& p = param_of(slots_[i]);
    if (has_grad[i] && !p.grad().defined()) p.mutable_grad() = at::zeros_like(p);
  }
  // Buckets: consecutive parameters of one dtype and device, at most bucket_bytes each (a
  // single larger parameter gets a bucket of its own).
  const double inv = 1.0 / world_size();
  size_t i = 0;
  while (i < n) {
    if (!has_grad[i]) {
      ++i;
      continue;
    }
    const auto& first = param_of(slots_[i]).grad();
    std::vector<at::Tensor> bucket{first};
    int64_t bytes = first.numel() * static_cast<int64_t>(first.element_size());
    size_t j = i + 1;
    for (; j < n; ++j) {
      if (!has_grad[j]) continue;
      const auto& g = param_of(slots_[j]).grad();
      const int64_t b = g.numel() * static_cast<int64_t>(g.element_size());
      if (g.scalar_type() != first.scalar_type() || g.device() != first.device() ||
          bytes + b > options_.bucket_bytes()) {
        break;
      }
      bucket.push_back(g);
      bytes += b;
    }
    std::vector<at::Tensor> flat_parts;
    for (const auto& g : bucket) flat_parts.push_back(g.reshape({-1}));
    at::Tensor flat = at::cat(flat_parts);
    comm_->all_reduce(flat, dist::ReduceOp::sum);
    flat.mul_(inv);
    int64_t off = 0;
    for (auto& g : bucket) {
      g.copy_(flat.narrow(0, off, g.numel()).view(g.sizes()));
      off += g.numel();
    }
    i = j;
  }
}

bool DistributedOptimizer::any_nonfinite(const std::vector<char>& has_grad) {
  std::vector<at::Tensor> flags;
  for (size_t i = 0; i < slots_.size(); ++i) {
    if (has_grad[i]) flags.push_back(param_of(slots_[i]).grad().isfinite().all().logical_not());
  }
  if (flags.empty()) return false;
  return at::stack(flags).any().item<bool>();
}

void DistributedOptimizer::sync_parameters(const std::vector<char>& has_grad) {
  if (world_size() == 1) return;
  // One broadcast per (owner rank, dtype): the owner's updated parameters, flattened.
  for (int r = 0; r < world_size(); ++r) {
    std::map<at::ScalarType, std::vector<at::Tensor*>> by_type;
    for (size_t i = 0; i < slots_.size(); ++i) {
      if (has_grad[i] && slots_[i].owner == r) {
        auto& p = param_of(slots_[i]);
        by_type[p.scalar_type()].push_back(&p);
      }
    }
    for (auto& kv : by_type) {
      std::vector<at::Tensor> parts;
      for (auto* p : kv.second) parts.push_back(p->detach().reshape({-1}));
      at::Tensor flat = at::cat(parts);
      comm_->broadcast(flat, r);
      if (r == rank()) continue;
      int64_t off = 0;
      for (auto* p : kv.second) {
        p->detach().copy_(flat.narrow(0, off, p->numel()).view(p->sizes()));
        off += p->numel();
      }
    }
  }
}

at::Tensor DistributedOptimizer::step(const LossClosure& closure) {
  c10::NoGradGuard no_grad;
  at::Tensor loss;
  if (closure) {
    c10::AutoGradMode enable_grad(true);
    loss = closure();
  }
  using Clock = std::chrono::steady_clock;
  auto seconds_since = [](Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
  };
  times_ = StepTimes();
  auto t0 = Clock::now();
  std::vector<char> has_grad;
  average_gradients(has_grad);
  times_.reduce = seconds_since(t0);
  t0 = Clock::now();
  if (after_average_) after_average_();
  if (any_nonfinite(has_grad)) {
    // Same averaged gradients on every rank: the inner optimizer throws (nothing modified) or
    // skips the step (skip_nonfinite) identically everywhere.
    if (hybrid_) {
      hybrid_->step();
    } else {
      single_->step();
    }
    return loss;
  }
  // Hide the gradients of parameters owned elsewhere: the inner step neither updates them nor
  // creates state for them.
  std::vector<std::pair<at::Tensor*, at::Tensor>> hidden;
  for (size_t i = 0; i < slots_.size(); ++i) {
    if (has_grad[i] && slots_[i].owner != rank()) {
      auto& p = param_of(slots_[i]);
      hidden.emplace_back(&p, p.grad());
      p.mutable_grad() = at::Tensor();
    }
  }
  try {
    for (auto& m : members_) m.second->step();
  } catch (...) {
    for (auto& h : hidden) h.first->mutable_grad() = h.second;
    throw;
  }
  for (auto& h : hidden) h.first->mutable_grad() = h.second;
  times_.compute = seconds_since(t0);
  t0 = Clock::now();
  sync_parameters(has_grad);
  times_.sync = seconds_since(t0);
  return loss;
}

// ---- sharded checkpoints -----------------------------------------------------------------

namespace {

constexpr const char* kManifestMagic = "specopt-distributed-checkpoint";

std::string shard_path(const std::string& path, const std::string& tag, int world, int rank,
                       int64_t gen) {
  return path + "." + tag + ".w" + std::to_string(world) + ".r" + std::to_string(rank) + "." +
         std::to_string(gen);
}

struct Manifest {
  int64_t generation = 0;
  int world_size = 0;
  std::vector<std::string> members;
  // (member, group, index) → owner
  std::map<std::tuple<size_t, size_t, size_t>, int> owner;
};

bool read_manifest(const std::string& path, Manifest& m, std::string& error) {
  std::ifstream in(path);
  if (!in) {
    error = "cannot open the manifest";
    return false;
  }
  std::string magic;
  int version = 0;
  in >> magic >> version;
  if (magic != kManifestMagic || version != 1) {
    error = "not a specopt distributed checkpoint manifest (version 1)";
    return false;
  }
  std::string key;
  size_t nmembers = 0;
  in >> key >> m.generation;
  if (key != "generation") return error = "missing 'generation'", false;
  in >> key >> m.world_size;
  if (key != "world_size" || m.world_size < 1) return error = "bad 'world_size'", false;
  in >> key >> nmembers;
  if (key != "members") return error = "missing 'members'", false;
  for (size_t i = 0; i < nmembers; ++i) {
    std::string tag;
    in >> tag;
    m.members.push_back(tag);
  }
  size_t nslots = 0;
  in >> key >> nslots;
  if (key != "slots") return error = "missing 'slots'", false;
  for (size_t i = 0; i < nslots; ++i) {
    size_t mem = 0, g = 0, p = 0;
    int owner = -1;
    in >> mem >> g >> p >> owner;
    if (!in || owner < 0 || owner >= m.world_size || mem >= nmembers) {
      return error = "bad slot line " + std::to_string(i), false;
    }
    m.owner[{mem, g, p}] = owner;
  }
  return true;
}

}  // namespace

void save_checkpoint(const std::string& path, DistributedOptimizer& optimizer,
                     const CheckpointExtras& extras) {
  auto& comm = optimizer.comm();
  // Generation: one more than the manifest's, decided by rank 0 for everyone.
  auto gen = at::zeros({1}, at::kLong);
  if (comm.rank() == 0) {
    Manifest old;
    std::string err;
    if (read_manifest(path, old, err)) gen.fill_(old.generation + 1);
  }
  comm.broadcast(gen, 0);
  const int64_t g = gen.item<int64_t>();
  const int world = comm.size();
  const auto& members = optimizer.members();
  for (size_t m = 0; m < members.size(); ++m) {
    const CheckpointExtras none;
    write_file_atomic_bytes(shard_path(path, members[m].first, world, comm.rank(), g),
                            checkpoint_bytes(*members[m].second, m == 0 ? extras : none));
  }
  comm.barrier();  // every shard is on disk before the manifest names them
  if (comm.rank() == 0) {
    std::ostringstream os;
    os << kManifestMagic << " 1\ngeneration " << g << "\nworld_size " << world << "\nmembers "
       << members.size();
    for (const auto& m : members) os << " " << m.first;
    os << "\nslots " << optimizer.slots().size() << "\n";
    for (const auto& s : optimizer.slots()) {
      os << s.member << " " << s.group << " " << s.index << " " << s.owner << "\n";
    }
    Manifest old;
    std::string err;
    const bool had_old = read_manifest(path, old, err);
    write_file_atomic_bytes(path, os.str());
    if (had_old && old.generation != g) {
      for (int r = 0; r < old.world_size; ++r) {
        for (const auto& tag : old.members) {
          std::remove(shard_path(path, tag, old.world_size, r, old.generation).c_str());
        }
      }
    }
  }
  comm.barrier();
}

void load_checkpoint(const std::string& path, DistributedOptimizer& optimizer,
                     CheckpointExtras& extras) {
  Manifest man;
  std::string err;
  TORCH_CHECK(read_manifest(path, man, err), "load_checkpoint(", path, "): ", err);
  const auto& members = optimizer.members();
  TORCH_CHECK(man.members.size() == members.size(), "load_checkpoint(", path, "): ",
              man.members.size(), " members in the checkpoint, ", members.size(),
              " in the optimizer");
  for (size_t m = 0; m < members.size(); ++m) {
    TORCH_CHECK(man.members[m] == members[m].first, "load_checkpoint(", path, "): member ", m,
                " is '", man.members[m], "' in the checkpoint, '", members[m].first,
                "' in the optimizer");
  }
  TORCH_CHECK(man.owner.size() == optimizer.slots().size(), "load_checkpoint(", path, "): ",
              man.owner.size(), " parameters in the checkpoint, ", optimizer.slots().size(),
              " in the optimizer");
  const int me = optimizer.rank();
  for (size_t m = 0; m < members.size(); ++m) {
    auto& opt = *members[m].second;
    auto& groups = opt.param_groups();
    // State of the parameters this rank owns now, collected from the rank files that hold it.
    std::map<std::pair<size_t, size_t>, std::unique_ptr<torch::optim::OptimizerParamState>> mine;
    std::vector<int> needed;
    for (const auto& s : optimizer.slots()) {
      if (s.member != m || s.owner != me) continue;
      auto it = man.owner.find({m, s.group, s.index});
      TORCH_CHECK(it != man.owner.end(), "load_checkpoint(", path, "): no owner recorded for ",
                  members[m].first, " param group ", s.group, ", parameter ", s.index);
      if (std::find(needed.begin(), needed.end(), it->second) == needed.end()) {
        needed.push_back(it->second);
      }
    }
    if (needed.empty()) needed.push_back(0);  // options, counters and extras still come back
    std::sort(needed.begin(), needed.end());
    for (int r : needed) {
      const std::string file = shard_path(path, members[m].first, man.world_size, r,
                                          man.generation);
      CheckpointExtras none;
      load_checkpoint_bytes(read_checkpoint_file(file), file, opt, m == 0 ? extras : none);
      for (const auto& s : optimizer.slots()) {
        if (s.member != m || s.owner != me || man.owner[{m, s.group, s.index}] != r) continue;
        const auto& p = groups[s.group].params()[s.index];
        auto key = SpecoptOptimizer::state_key(opt.state(), p);
        auto st = opt.state().find(key);
        if (st != opt.state().end()) mine[{s.group, s.index}] = st->second->clone();
      }
    }
    opt.state().clear();
    for (auto& kv : mine) {
      const auto& p = groups[kv.first.first].params()[kv.first.second];
      opt.state()[SpecoptOptimizer::state_key(opt.state(), p)] = std::move(kv.second);
    }
  }
}

void load_checkpoint(const std::string& path, DistributedOptimizer& optimizer) {
  CheckpointExtras extras;
  load_checkpoint(path, optimizer, extras);
}

}  // namespace specopt
