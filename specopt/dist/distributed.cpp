#include "specopt/dist/distributed.h"

#include <c10/core/GradMode.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>

#include <specopt/matfun/newton_schulz.h>
#include <specopt/optim/adamw.h>
#include <specopt/dist/elementwise_slices.h>
#include <specopt/optim/fields.h>
#include <specopt/optim/lion_k.h>
#include <specopt/optim/muon.h>
#include <specopt/optim/spectral_adam.h>
#include <specopt/optim/transforms.h>

namespace specopt {

namespace {

// Update cost of parameter p: its group's rule says (Newton–Schulz FLOPs of its matrices for
// the spectral rules, a few per element otherwise).
double update_cost(const torch::optim::OptimizerOptions& o, const at::Tensor& p) {
  return dynamic_cast<const RuleOptions&>(o).update_flops(p);
}

// Copies of the inner optimizer's groups (the same parameters, copies of the options).
std::vector<torch::optim::OptimizerParamGroup> groups_of(const SpecoptOptimizer* inner) {
  TORCH_CHECK(inner != nullptr, "DistributedOptimizer: the wrapped optimizer is null");
  std::vector<torch::optim::OptimizerParamGroup> groups;
  for (const auto& g : inner->param_groups()) groups.emplace_back(g.params(), g.options().clone());
  return groups;
}

const RuleOptions& defaults_of(const SpecoptOptimizer* inner) {
  TORCH_CHECK(inner != nullptr, "DistributedOptimizer: the wrapped optimizer is null");
  return dynamic_cast<const RuleOptions&>(inner->defaults());
}

}  // namespace

void DistributedOptions::validate() const {
  TORCH_CHECK(bucket_bytes() >= 1, "Invalid DistributedOptions.bucket_bytes: ", bucket_bytes(),
              " (must be >= 1)");
  TORCH_CHECK(slice_min_numel() >= 0, "Invalid DistributedOptions.slice_min_numel: ",
              slice_min_numel(), " (must be >= 0; 0 = never slice)");
}

int64_t optimizer_state_bytes(const torch::optim::Optimizer& optimizer) {
  int64_t total = 0;
  for (const auto& kv : optimizer.state()) {
    auto* fields = dynamic_cast<DeclaredFields*>(kv.second.get());
    TORCH_CHECK(fields != nullptr, "optimizer_state_bytes: a state entry without declared fields");
    for_each_tensor(*fields, [&](const std::string&, at::Tensor& t) {
      if (t.defined()) total += static_cast<int64_t>(t.numel() * t.element_size());
    });
  }
  return total;
}

DistributedOptimizer::DistributedOptimizer(std::unique_ptr<SpecoptOptimizer> inner,
                                           std::shared_ptr<dist::Communicator> comm,
                                           const DistributedOptions& options)
    : SpecoptOptimizer(groups_of(inner.get()), defaults_of(inner.get())),
      comm_(std::move(comm)),
      options_(options),
      inner_(std::move(inner)) {
  // The inner optimizer's state and counter move here; its own groups are not stepped again.
  for (auto& kv : inner_->state()) state_[kv.first] = std::move(kv.second);
  inner_->state().clear();
  skipped_steps_ = inner_->skipped_steps();
  members_.emplace_back("optimizer", this);
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
  // Large parameters of element-wise members are sliced; they load every rank alike, so the
  // balance below only places the others.
  const bool slicing = world_size() > 1 && options_.slice_min_numel() > 0;
  std::vector<size_t> order;
  for (size_t i = 0; i < slots_.size(); ++i) {
    const auto& p = param_of(slots_[i]);
    const auto& rule = dynamic_cast<const RuleOptions&>(
        members_[slots_[i].member].second->param_groups()[slots_[i].group].options());
    if (slicing && rule.elementwise() &&
        p.numel() >= options_.slice_min_numel() && p.is_contiguous()) {
      slots_[i].owner = kSliced;
    } else {
      order.push_back(i);
    }
  }
  // Greedy balance: largest cost first, each to the least-loaded rank (lowest rank on ties).
  // Deterministic, so every rank computes the same assignment without communicating.
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return slots_[a].cost > slots_[b].cost; });
  std::vector<double> load(static_cast<size_t>(world_size()), 0.0);
  for (size_t i : order) {
    const auto r = std::min_element(load.begin(), load.end()) - load.begin();
    slots_[i].owner = static_cast<int>(r);
    load[static_cast<size_t>(r)] += slots_[i].cost;
  }
  make_shadows();
}

std::pair<int64_t, int64_t> DistributedOptimizer::slice_bounds(int64_t numel, int world,
                                                               int rank) {
  return {numel * rank / world, numel * (rank + 1) / world};
}

void DistributedOptimizer::make_shadows() {
  shadows_.clear();
  shadows_.resize(members_.size());
  shadow_slots_.assign(members_.size(), {});
  slice_param_.assign(slots_.size(), {size_t(-1), size_t(-1)});
  for (size_t m = 0; m < members_.size(); ++m) {
    const auto& groups = members_[m].second->param_groups();
    std::vector<torch::optim::OptimizerParamGroup> shadow_groups;
    bool any = false;
    shadow_slots_[m].resize(groups.size());
    for (size_t g = 0; g < groups.size(); ++g) {
      std::vector<at::Tensor> slices;
      for (size_t i = 0; i < slots_.size(); ++i) {
        const auto& s = slots_[i];
        if (s.member != m || s.group != g || s.owner != kSliced) continue;
        const auto& p = param_of(s);
        const auto b = slice_bounds(p.numel(), world_size(), rank());
        slice_param_[i] = {g, slices.size()};
        slices.push_back(slices::alias(p, b.first, b.second - b.first));
        shadow_slots_[m][g].push_back(i);
        any = true;
      }
      shadow_groups.emplace_back(std::move(slices), groups[g].options().clone());
    }
    if (any) shadows_[m] = slices::make_like(*members_[m].second, std::move(shadow_groups));
  }
}

at::Tensor& DistributedOptimizer::slice_param(size_t slot) {
  const auto& gk = slice_param_.at(slot);
  TORCH_CHECK(slots_.at(slot).owner == kSliced, "DistributedOptimizer::slice_param: slot ", slot,
              " is not sliced");
  return shadows_[slots_[slot].member]->param_groups()[gk.first].params()[gk.second];
}

void DistributedOptimizer::prepare_shadows(const std::vector<char>& has_grad) {
  for (size_t m = 0; m < shadows_.size(); ++m) {
    auto* shadow = shadows_[m].get();
    if (shadow == nullptr) continue;
    auto& groups = shadow->param_groups();
    const auto& member_groups = members_[m].second->param_groups();
    for (size_t g = 0; g < groups.size(); ++g) {
      // The member's current options (a scheduler may have changed its lr since last step).
      groups[g].set_options(member_groups[g].options().clone());
      for (size_t k = 0; k < groups[g].params().size(); ++k) {
        const size_t i = shadow_slots_[m][g][k];
        const auto& p = param_of(slots_[i]);
        const auto b = slice_bounds(p.numel(), world_size(), rank());
        auto& slice = groups[g].params()[k];
        slices::rebind(slice, p, b.first, b.second - b.first);
        slice.mutable_grad() =
            has_grad[i] ? p.grad().reshape({-1}).narrow(0, b.first, b.second - b.first) : at::Tensor();
      }
    }
  }
}

void DistributedOptimizer::drop_shadow_grads() {
  for (auto& shadow : shadows_) {
    if (!shadow) continue;
    for (auto& group : shadow->param_groups()) {
      for (auto& slice : group.params()) slice.mutable_grad() = at::Tensor();
    }
  }
}

void DistributedOptimizer::adopt_member_state() {
  for (size_t i = 0; i < slots_.size(); ++i) {
    const auto& s = slots_[i];
    if (s.owner == rank()) continue;
    auto& state = members_[s.member].second->state();
    const auto& p = param_of(s);
    auto it = state.find(SpecoptOptimizer::state_key(state, p));
    if (it == state.end()) continue;
    if (s.owner == kSliced) {
      const auto b = slice_bounds(p.numel(), world_size(), rank());
      auto& slice = slice_param(i);
      auto& shadow_state = shadows_[s.member]->state();
      shadow_state[SpecoptOptimizer::state_key(shadow_state, slice)] = slices::join(
          {{it->second.get(), b.first, b.second - b.first}}, {b.second - b.first},
          "DistributedOptimizer::adopt_member_state: " + members_[s.member].first +
              " param group " + std::to_string(s.group) + ", parameter " + std::to_string(s.index));
    }
    state.erase(it);
  }
}

std::vector<double> DistributedOptimizer::load_per_rank() const {
  std::vector<double> load(static_cast<size_t>(world_size()), 0.0);
  for (const auto& s : slots_) {
    if (s.owner == kSliced) {
      for (auto& l : load) l += s.cost / world_size();
    } else {
      load[static_cast<size_t>(s.owner)] += s.cost;
    }
  }
  return load;
}

int64_t DistributedOptimizer::state_bytes() const {
  int64_t total = 0;
  for (const auto& m : members_) total += optimizer_state_bytes(*m.second);
  for (const auto& sh : shadows_) {
    if (sh) total += optimizer_state_bytes(*sh);
  }
  return total;
}

at::Tensor& DistributedOptimizer::param_of(const Slot& s) {
  return members_[s.member].second->param_groups()[s.group].params()[s.index];
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

void DistributedOptimizer::sync_parameters(const std::vector<char>& has_grad) {
  if (world_size() == 1) return;
  // One broadcast per (rank, dtype): the parameters rank r owns and its slices, flattened.
  struct Part {
    at::Tensor* param;
    int64_t begin, len;
    bool whole;
  };
  for (int r = 0; r < world_size(); ++r) {
    std::map<at::ScalarType, std::vector<Part>> by_type;
    for (size_t i = 0; i < slots_.size(); ++i) {
      if (!has_grad[i]) continue;
      auto& p = param_of(slots_[i]);
      if (slots_[i].owner == r) {
        by_type[p.scalar_type()].push_back({&p, 0, p.numel(), true});
      } else if (slots_[i].owner == kSliced) {
        const auto b = slice_bounds(p.numel(), world_size(), r);
        if (b.second > b.first) by_type[p.scalar_type()].push_back({&p, b.first, b.second - b.first, false});
      }
    }
    for (auto& kv : by_type) {
      at::Tensor flat;
      if (r == rank()) {
        std::vector<at::Tensor> parts;
        for (const auto& part : kv.second) {
          parts.push_back(part.param->detach().reshape({-1}).narrow(0, part.begin, part.len));
        }
        flat = at::cat(parts);
      } else {
        int64_t total = 0;
        for (const auto& part : kv.second) total += part.len;
        flat = at::empty({total}, kv.second.front().param->options());
      }
      comm_->broadcast(flat, r);
      if (r == rank()) continue;
      int64_t off = 0;
      for (const auto& part : kv.second) {
        auto src = flat.narrow(0, off, part.len);
        if (part.whole) {
          part.param->detach().copy_(src.view(part.param->sizes()));
        } else {
          part.param->detach().view({-1}).narrow(0, part.begin, part.len).copy_(src);
        }
        off += part.len;
      }
    }
  }
}

torch::Tensor DistributedOptimizer::step(LossClosure closure) {
  c10::NoGradGuard no_grad;
  const at::Tensor loss = evaluate(closure);
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
  // The same averaged gradients on every rank: each throws (nothing modified) or skips the
  // step (nonfinite = skip) alike. One device→host read.
  if (!gradients_finite()) return loss;
  // The shadows' slices and their gradients first: a parameter that can no longer be sliced
  // throws here, before anything has changed.
  try {
    prepare_shadows(has_grad);
  } catch (...) {
    drop_shadow_grads();
    throw;
  }
  // Hide the gradients of parameters owned elsewhere (or sliced: their slices are the shadows'
  // business): the inner step neither updates them nor creates state for them.
  std::vector<std::pair<at::Tensor*, at::Tensor>> hidden;
  for (size_t i = 0; i < slots_.size(); ++i) {
    if (has_grad[i] && slots_[i].owner != rank()) {
      auto& p = param_of(slots_[i]);
      hidden.emplace_back(&p, p.grad());
      p.mutable_grad() = at::Tensor();
    }
  }
  try {
    // Every gradient was checked once above (the same averaged values on every rank).
    update_all();
    for (auto& shadow : shadows_) {
      if (shadow) shadow->update_all();
    }
  } catch (...) {
    for (auto& h : hidden) h.first->mutable_grad() = h.second;
    drop_shadow_grads();
    throw;
  }
  for (auto& h : hidden) h.first->mutable_grad() = h.second;
  drop_shadow_grads();
  times_.compute = seconds_since(t0);
  t0 = Clock::now();
  sync_parameters(has_grad);
  times_.sync = seconds_since(t0);
  return loss;
}

}  // namespace specopt
