// Element-wise parameters sliced across ranks (DistributedOptions::slice_min_numel): the state
// split, and sharded checkpoints cut and joined across world sizes. In one process: each rank
// of a world is a DistributedOptimizer over its own copy of the parameters and a communicator
// that never communicates (LoneRank below); every "rank" is given the same gradients. AdamW's
// state depends on the gradients alone, so each rank's slices of state must equal the same
// elements of a one-process AdamW's state.
#include <gtest/gtest.h>

#include <filesystem>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "specopt/dist/communicator.h"
#include "specopt/dist/distributed.h"
#include "specopt/optim/optim.h"
#include "tests/common/temp_dir.h"
#include "tests/dist/dist_problem.h"

namespace fs = std::filesystem;

namespace {

// A member of a world that never communicates, whose peers are taken to hold the same data as
// it does (a sum all-reduce multiplies by the world size, other reductions change nothing),
// except that a broadcast of floats from another rank fills the buffer with NaN: data it
// cannot know.
struct LoneRank : specopt::dist::Communicator {
  LoneRank(int r, int n) : r_(r), n_(n) {}
  int rank() const override { return r_; }
  int size() const override { return n_; }
  std::string backend() const override { return "lone"; }
  void all_reduce(at::Tensor& t, specopt::dist::ReduceOp op) override {
    if (op == specopt::dist::ReduceOp::sum) t.mul_(n_);
  }
  std::vector<at::Tensor> all_gather(const at::Tensor& t) override {
    return std::vector<at::Tensor>(static_cast<size_t>(n_), t);
  }
  void broadcast(at::Tensor& t, int root) override {
    if (root != r_ && t.is_floating_point()) t.fill_(std::numeric_limits<float>::quiet_NaN());
  }
  at::Tensor reduce_scatter(const at::Tensor& t, specopt::dist::ReduceOp) override { return t; }
  void barrier() override {}
  int r_, n_;
};

using TempDir = specopt_test::ScopedTempDir;

// Shapes: three parameters of >= 100 elements (sliced with slice_min_numel 100), one of 10.
std::vector<at::Tensor> make_params() {
  std::vector<at::Tensor> ps;
  const std::vector<std::vector<int64_t>> shapes = {{300, 7}, {10}, {1000}, {64, 64}};
  for (size_t i = 0; i < shapes.size(); ++i) {
    ps.push_back(dist_test::normal(shapes[i], 50 + i).requires_grad_(true));
  }
  return ps;
}

void set_grads(std::vector<at::Tensor>& ps, int step) {
  for (size_t i = 0; i < ps.size(); ++i) {
    ps[i].mutable_grad() = dist_test::normal(ps[i].sizes(), 1000 * step + i);
  }
}

std::unique_ptr<specopt::AdamW> adamw(const std::vector<at::Tensor>& ps) {
  return std::make_unique<specopt::AdamW>(ps, specopt::AdamWOptions(1e-2).weight_decay(0.1));
}

// One "rank" of a world of n: its parameters and optimizer.
struct Rank {
  std::vector<at::Tensor> ps = make_params();
  std::unique_ptr<specopt::DistributedOptimizer> opt;
  Rank(int r, int n, int64_t slice_min = 100) {
    std::shared_ptr<specopt::dist::Communicator> comm;
    if (n == 1) {
      comm = specopt::dist::make_single_process_communicator();
    } else {
      comm = std::make_shared<LoneRank>(r, n);
    }
    opt = std::make_unique<specopt::DistributedOptimizer>(
        adamw(ps), comm, specopt::DistributedOptions().slice_min_numel(slice_min));
  }
};

const specopt::AdamWParamState* state_of(const torch::optim::Optimizer& opt, const at::Tensor& p) {
  auto it = opt.state().find(specopt::SpecoptOptimizer::state_key(opt.state(), p));
  return it == opt.state().end() ? nullptr
                                 : dynamic_cast<const specopt::AdamWParamState*>(it->second.get());
}

// Checks that the ranks of `world` together hold exactly the state of `ref` (a one-process
// AdamW over parameters of the same shapes), each element once, in the right place.
void expect_world_holds(std::vector<Rank>& world, const torch::optim::Optimizer& ref,
                        const std::vector<at::Tensor>& ref_ps) {
  const int n = static_cast<int>(world.size());
  for (size_t i = 0; i < ref_ps.size(); ++i) {
    const auto* want = state_of(ref, ref_ps[i]);
    ASSERT_NE(want, nullptr);
    const bool sliced = world[0].opt->slots()[i].owner == specopt::DistributedOptimizer::kSliced;
    std::vector<at::Tensor> avg, sq;
    for (int r = 0; r < n; ++r) {
      auto& rk = world[static_cast<size_t>(r)];
      const auto* whole = state_of(*rk.opt->members()[0].second, rk.ps[i]);
      const bool owner = !sliced && rk.opt->slots()[i].owner == r;
      EXPECT_EQ(whole != nullptr, owner) << "param " << i << ", rank " << r;
      const auto* st = whole;
      if (sliced) {
        ASSERT_NE(rk.opt->shadow(0), nullptr);
        st = state_of(*rk.opt->shadow(0), rk.opt->slice_param(i));
        ASSERT_NE(st, nullptr) << "param " << i << ", rank " << r << ": no slice state";
        const auto b = specopt::DistributedOptimizer::slice_bounds(ref_ps[i].numel(), n, r);
        EXPECT_EQ(st->exp_avg().numel(), b.second - b.first);
      }
      if (st == nullptr) continue;
      EXPECT_EQ(st->step(), want->step());
      avg.push_back(st->exp_avg().reshape({-1}));
      sq.push_back(st->exp_avg_sq().reshape({-1}));
    }
    ASSERT_FALSE(avg.empty());
    // Slices and whole updates are the same element-wise operations; only vectorisation may
    // differ (FMA contraction), hence a relative 1e-6 rather than bit equality.
    EXPECT_TRUE(at::cat(avg).allclose(want->exp_avg().reshape({-1}), 1e-6, 1e-9)) << "param " << i;
    EXPECT_TRUE(at::cat(sq).allclose(want->exp_avg_sq().reshape({-1}), 1e-6, 1e-12))
        << "param " << i;
  }
}

std::vector<Rank> make_world(int n) {
  std::vector<Rank> world;
  for (int r = 0; r < n; ++r) world.emplace_back(r, n);
  return world;
}

void step_world(std::vector<Rank>& world, int steps) {
  for (int s = 0; s < steps; ++s) {
    for (auto& rk : world) {
      set_grads(rk.ps, s);
      rk.opt->step();
    }
  }
}

// Rank 0 last: it writes the manifest that names every rank's files.
void save_world(std::vector<Rank>& world, const std::string& path) {
  for (size_t r = world.size(); r-- > 0;) specopt::save_checkpoint(path, *world[r].opt);
}

void load_world(std::vector<Rank>& world, const std::string& path) {
  for (auto& rk : world) specopt::load_checkpoint(path, *rk.opt);
}

// One-process AdamW after `steps` steps: the reference state.
struct Reference {
  std::vector<at::Tensor> ps = make_params();
  std::unique_ptr<specopt::AdamW> opt = adamw(ps);
  explicit Reference(int steps) {
    for (int s = 0; s < steps; ++s) {
      set_grads(ps, s);
      opt->step();
    }
  }
};

TEST(Slices, OnlyLargeElementwiseParametersAreSliced) {
  auto world = make_world(2);
  const auto& s = world[0].opt->slots();
  ASSERT_EQ(s.size(), 4u);
  EXPECT_EQ(s[0].owner, specopt::DistributedOptimizer::kSliced);
  EXPECT_NE(s[1].owner, specopt::DistributedOptimizer::kSliced);  // 10 elements < 100
  EXPECT_EQ(s[2].owner, specopt::DistributedOptimizer::kSliced);
  EXPECT_EQ(s[3].owner, specopt::DistributedOptimizer::kSliced);
  EXPECT_EQ(specopt::DistributedOptimizer::slice_bounds(2100, 2, 1),
            std::make_pair(int64_t(1050), int64_t(2100)));
  // The sliced parameters' cost is shared: both ranks carry the same load but for the whole one.
  const auto load = world[0].opt->load_per_rank();
  EXPECT_NEAR(load[0] + load[1], s[0].cost + s[1].cost + s[2].cost + s[3].cost, 1e-6);
  EXPECT_NEAR(std::abs(load[0] - load[1]), s[1].cost, 1e-6);
  // One process never slices (bit-identical to the inner optimizer), nor slice_min_numel 0.
  Rank one(0, 1);
  for (const auto& slot : one.opt->slots()) EXPECT_EQ(slot.owner, 0);
  EXPECT_EQ(one.opt->shadow(0), nullptr);
  Rank off(0, 2, 0);
  for (const auto& slot : off.opt->slots()) EXPECT_GE(slot.owner, 0);
  try {
    Rank bad(0, 2, -1);
    ADD_FAILURE() << "slice_min_numel -1 accepted";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("slice_min_numel: -1"), std::string::npos) << e.what();
  }
  // Spectral optimizers are never sliced, whatever the size.
  auto ps = make_params();
  specopt::DistributedOptimizer muon(
      std::make_unique<specopt::Muon>(std::vector<at::Tensor>{ps[0], ps[3]}),
      std::make_shared<LoneRank>(0, 2), specopt::DistributedOptions().slice_min_numel(1));
  for (const auto& slot : muon.slots()) EXPECT_GE(slot.owner, 0);
}

TEST(Slices, EachRankUpdatesItsSliceAndHoldsItsShareOfTheState) {
  const Reference ref(3);
  auto world = make_world(2);
  step_world(world, 3);
  expect_world_holds(world, *ref.opt, ref.ps);
  // Each rank updated what it owns, its slices and whole parameters, as one process does; the
  // rest came from the broadcast (here NaN: no peer sent anything).
  for (int r = 0; r < 2; ++r) {
    auto& rk = world[static_cast<size_t>(r)];
    const auto fresh = make_params();
    for (size_t i = 0; i < fresh.size(); ++i) {
      const auto& slot = rk.opt->slots()[i];
      auto from_peer = rk.ps[i].detach().reshape({-1}).isnan();
      if (slot.owner == specopt::DistributedOptimizer::kSliced) {
        const auto b = specopt::DistributedOptimizer::slice_bounds(fresh[i].numel(), 2, r);
        EXPECT_EQ(from_peer.sum().item<int64_t>(), fresh[i].numel() - (b.second - b.first)) << i;
        EXPECT_TRUE(rk.ps[i].detach().reshape({-1}).narrow(0, b.first, b.second - b.first)
                        .allclose(ref.ps[i].detach().reshape({-1}).narrow(0, b.first, b.second - b.first),
                                  1e-6, 1e-7))
            << "param " << i << " rank " << r;
      } else {
        EXPECT_EQ(from_peer.all().item<bool>(), slot.owner != r) << i;
        if (slot.owner == r) EXPECT_TRUE(rk.ps[i].allclose(ref.ps[i], 1e-6, 1e-7)) << i;
      }
    }
  }
  // State bytes: the two ranks hold the single-process state between them, each about half.
  const int64_t single = specopt::optimizer_state_bytes(*ref.opt);
  const int64_t b0 = world[0].opt->state_bytes(), b1 = world[1].opt->state_bytes();
  EXPECT_EQ(b0 + b1, single);
  EXPECT_LT(std::abs(b0 - b1), 2 * 10 * 4 + 8) << b0 << " vs " << b1;  // the 10-element one
}

TEST(Slices, StillFollowsAParameterWhoseStorageWasReplaced) {
  // torch::load gives parameters new storage with set_(); the slices must follow.
  Rank rk(1, 2);
  set_grads(rk.ps, 0);
  rk.opt->step();
  auto fresh = make_params();
  for (size_t i = 0; i < rk.ps.size(); ++i) {
    c10::NoGradGuard no_grad;
    rk.ps[i].set_(fresh[i].detach().clone());
  }
  set_grads(rk.ps, 1);
  rk.opt->step();
  const auto b = specopt::DistributedOptimizer::slice_bounds(rk.ps[2].numel(), 2, 1);
  EXPECT_FALSE(rk.ps[2].detach().narrow(0, b.first, b.second - b.first)
                   .equal(fresh[2].narrow(0, b.first, b.second - b.first)));
}

TEST(Slices, AParameterThatCanNoLongerBeSlicedFailsTheStepBeforeAnythingChanges) {
  Rank rk(0, 2);
  set_grads(rk.ps, 0);
  rk.opt->step();
  // Parameter 0 (300 x 7) re-pointed at a transposed (non-contiguous) layout of its storage.
  {
    c10::NoGradGuard no_grad;
    auto t = rk.ps[0].detach().clone().t().contiguous().t();
    rk.ps[0].set_(t.storage(), t.storage_offset(), t.sizes(), t.strides());
  }
  ASSERT_FALSE(rk.ps[0].is_contiguous());
  std::vector<at::Tensor> before;
  for (const auto& p : rk.ps) before.push_back(p.detach().clone());
  const int64_t bytes = rk.opt->state_bytes();
  set_grads(rk.ps, 1);
  try {
    rk.opt->step();
    ADD_FAILURE() << "a non-contiguous sliced parameter was stepped";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("no longer contiguous"), std::string::npos) << e.what();
  }
  // (NaN where the peer's broadcast would have written: compare with equal_nan)
  for (size_t i = 0; i < rk.ps.size(); ++i) {
    EXPECT_TRUE(rk.ps[i].detach().allclose(before[i], 0, 0, /*equal_nan=*/true)) << i;
  }
  EXPECT_EQ(rk.opt->state_bytes(), bytes);
  for (const auto& p : rk.ps) EXPECT_TRUE(p.grad().defined());  // gradients handed back
}

TEST(Slices, CheckpointsCutAndJoinSlicesAcrossWorldSizes) {
  TempDir dir;
  const Reference ref(3);
  // 2 ranks → 1, 3 and 2 ranks.
  {
    auto two = make_world(2);
    step_world(two, 3);
    save_world(two, (dir.path / "w2").string());
  }
  for (int n : {1, 3, 2}) {
    auto world = make_world(n);
    load_world(world, (dir.path / "w2").string());
    expect_world_holds(world, *ref.opt, ref.ps);
  }
  // A plain one-process AdamW checkpoint loaded into each rank's member, then adopted.
  {
    const std::string plain = (dir.path / "plain").string();
    specopt::save_checkpoint(plain, *ref.opt);
    auto three = make_world(3);
    for (auto& rk : three) {
      specopt::load_checkpoint(plain, *rk.opt->members()[0].second);
      rk.opt->adopt_member_state();
    }
    expect_world_holds(three, *ref.opt, ref.ps);
  }
  // 1 rank (state whole in the member) → 2 ranks (cut), and back.
  {
    auto one = make_world(1);
    step_world(one, 3);
    save_world(one, (dir.path / "w1").string());
    auto two = make_world(2);
    load_world(two, (dir.path / "w1").string());
    expect_world_holds(two, *ref.opt, ref.ps);
    // Both continue alike: two more steps of the loaded world of 2, saved, loaded at 1.
    for (int s = 3; s < 5; ++s) {
      for (auto& rk : two) {
        set_grads(rk.ps, s);
        rk.opt->step();
      }
    }
    save_world(two, (dir.path / "w1to2").string());
    const Reference ref5(5);
    auto back = make_world(1);
    load_world(back, (dir.path / "w1to2").string());
    expect_world_holds(back, *ref5.opt, ref5.ps);
  }
}

TEST(Slices, ARefusedLoadChangesNothing) {
  TempDir dir;
  const std::string path = (dir.path / "ck").string();
  {
    auto two = make_world(2);
    step_world(two, 2);
    save_world(two, path);
  }
  // Loading at 1 rank reads rank 0's member file (which would change the optimizer), then both
  // slice files; the second is gone.
  int removed = 0;
  for (const auto& e : fs::directory_iterator(dir.path)) {
    const auto name = e.path().filename().string();
    if (name.find("-slices.w2.r1.") != std::string::npos) removed += fs::remove(e.path()) ? 1 : 0;
  }
  ASSERT_EQ(removed, 1);
  const Reference ref(1);
  auto one = make_world(1);
  step_world(one, 1);
  expect_world_holds(one, *ref.opt, ref.ps);
  try {
    load_world(one, path);
    ADD_FAILURE() << "a checkpoint with a missing slice file was accepted";
  } catch (const c10::Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("-slices.w2.r1."), std::string::npos) << msg;
    EXPECT_NE(msg.find("the optimizer was not changed"), std::string::npos) << msg;
  }
  expect_world_holds(one, *ref.opt, ref.ps);  // still the 1-step state, not the 2-step one
}

TEST(Slices, HybridSkippedStepsSurviveAShardedCheckpoint) {
  TempDir dir;
  const std::string path = (dir.path / "ck").string();
  auto make = [] {
    auto ps = make_params();
    std::vector<std::pair<std::string, at::Tensor>> named = {
        {"wte.weight", ps[0]}, {"ln.weight", ps[1]}, {"b.bias", ps[2]}, {"h.weight", ps[3]}};
    auto hybrid = std::make_unique<specopt::HybridOptimizer>(
        specopt::partition_parameters(named), specopt::MuonOptions(0.02),
        specopt::AdamWOptions(1e-3), specopt::HybridOptions().skip_nonfinite(true));
    return std::make_pair(ps, std::make_unique<specopt::DistributedOptimizer>(
                                  std::move(hybrid), specopt::dist::make_single_process_communicator()));
  };
  auto a = make();
  set_grads(a.first, 0);
  a.first[3].mutable_grad()[0][0] = std::nan("");
  a.second->step();
  ASSERT_EQ(a.second->skipped_steps(), 1);
  specopt::save_checkpoint(path, *a.second);
  auto b = make();
  specopt::load_checkpoint(path, *b.second);
  EXPECT_EQ(b.second->skipped_steps(), 1);
}

}  // namespace
