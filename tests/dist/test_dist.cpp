// Distributed execution: the communicator (single process and Gloo on loopback), the local
// launcher, and DistributedOptimizer — 2-process runs against 1-process runs of the same global
// batch, per-rank state memory, sharded checkpoints across world sizes, a killed worker.
//
// The binary is its own worker: with SPECOPT_DIST_TEST_WORKER=<mode> set (by the launcher,
// together with RANK / WORLD_SIZE / MASTER_ADDR / MASTER_PORT) main() runs that worker instead
// of the tests. Collective timeouts are 10 s (SPECOPT_DIST_TIMEOUT_S), so no test can hang.
#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "lab/launch.h"
#include "specopt/dist/communicator.h"
#include "tests/common/temp_dir.h"
#include "tests/dist/dist_problem.h"

namespace fs = std::filesystem;
using namespace dist_test;

namespace {

constexpr int kSteps = 20;

std::string env_or(const char* name, const std::string& fallback = "") {
  const char* v = std::getenv(name);
  return v ? std::string(v) : fallback;
}

void write_floats(const std::string& path, const std::vector<float>& v) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * 4));
}

std::vector<float> read_floats(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  EXPECT_TRUE(in.good()) << "missing worker output " << path;
  const auto n = static_cast<size_t>(in.tellg()) / 4;
  std::vector<float> v(n);
  in.seekg(0);
  in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(n * 4));
  return v;
}

// ---- workers -------------------------------------------------------------------------------

// Collectives with known results: rank r contributes r + 1.
int worker_collectives(specopt::dist::Communicator& c) {
  const int r = c.rank(), n = c.size();
  auto t = at::full({3}, float(r + 1));
  c.all_reduce(t);
  if (t[0].item<float>() != float(n * (n + 1) / 2)) return 10;
  auto m = at::full({2}, float(r + 1));
  c.all_reduce(m, specopt::dist::ReduceOp::max);
  if (m[1].item<float>() != float(n)) return 11;
  auto a = at::full({2}, float(r + 1));
  c.all_reduce(a, specopt::dist::ReduceOp::avg);
  if (std::abs(a[0].item<float>() - float(n + 1) / 2) > 1e-6) return 12;
  auto g = c.all_gather(at::full({2, 2}, float(r)));
  if (static_cast<int>(g.size()) != n) return 13;
  for (int i = 0; i < n; ++i) {
    if (!g[static_cast<size_t>(i)].eq(float(i)).all().item<bool>()) return 14;
  }
  auto b = at::full({4}, float(r == n - 1 ? 42 : -1));
  c.broadcast(b, n - 1);
  if (!b.eq(42.f).all().item<bool>()) return 15;
  // Input element k = k·(r+1); sum over ranks = k·n(n+1)/2; rank r keeps chunk r.
  auto in = at::arange(2 * n, at::kFloat).mul(float(r + 1));
  auto out = c.reduce_scatter(in);
  auto want = at::arange(2 * n, at::kFloat).mul(float(n * (n + 1) / 2)).narrow(0, 2 * r, 2);
  if (!out.equal(want)) return 16;
  c.barrier();
  return 0;
}

// Trains kSteps steps (or up to SPECOPT_TEST_STOP) and writes every step's parameters.
// Options through the environment: SPECOPT_TEST_OUT (directory), SPECOPT_TEST_OPT (optimizer),
// SPECOPT_TEST_CKPT (checkpoint path, saved every 5 steps), SPECOPT_TEST_RESUME (load it
// first), SPECOPT_TEST_DIE_AFTER (rank 1 kills itself with SIGKILL after that step),
// SPECOPT_TEST_SLICE_MIN (DistributedOptions::slice_min_numel).
int worker_train(specopt::dist::Communicator&, std::shared_ptr<specopt::dist::Communicator> comm) {
  const std::string out = env_or("SPECOPT_TEST_OUT");
  const std::string kind = env_or("SPECOPT_TEST_OPT", "muon");
  const std::string ckpt = env_or("SPECOPT_TEST_CKPT");
  const bool resume = !env_or("SPECOPT_TEST_RESUME").empty();
  const int die_after = std::stoi(env_or("SPECOPT_TEST_DIE_AFTER", "-1"));
  auto ps = make_params();
  specopt::DistributedOptions options;
  if (!env_or("SPECOPT_TEST_SLICE_MIN").empty()) {
    options.slice_min_numel(std::stoll(env_or("SPECOPT_TEST_SLICE_MIN")));
  }
  specopt::DistributedOptimizer opt(make_inner(kind, ps), comm, options);
  int64_t start = 0;
  if (resume) {
    specopt::CheckpointExtras extras;
    specopt::load_checkpoint(ckpt, opt, extras);
    start = extras.integers.at("step");
  }
  std::vector<float> traj;
  for (int64_t s = start; s < kSteps; ++s) {
    train_step(opt, ps, s);
    const auto f = flat_params(ps);
    traj.insert(traj.end(), f.begin(), f.end());
    if (!ckpt.empty() && (s + 1) % 5 == 0) {
      specopt::CheckpointExtras extras;
      extras.integers["step"] = s + 1;
      extras.save_parameters = true;
      specopt::save_checkpoint(ckpt, opt, extras);
    }
    if (die_after == s + 1 && opt.rank() == 1) ::raise(SIGKILL);
  }
  const std::string r = std::to_string(opt.rank());
  write_floats(out + "/traj.r" + r, traj);
  std::ofstream(out + "/state_bytes.r" + r) << opt.state_bytes() << "\n";
  return 0;
}

int run_worker(const std::string& mode) {
  at::set_num_threads(1);
  try {
    const auto t0 = std::chrono::steady_clock::now();
    auto comm = specopt::dist::init_from_env();
    if (!env_or("SPECOPT_TEST_VERBOSE").empty()) {
      std::cerr << "rendezvous took "
                << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()
                << " s" << std::endl;
    }
    if (mode == "collectives") return worker_collectives(*comm);
    if (mode == "train") return worker_train(*comm, comm);
    std::cerr << "unknown worker mode " << mode << std::endl;
    return 3;
  } catch (const c10::Error& e) {
    std::cerr << "worker failed: " << e.what_without_backtrace() << std::endl;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "worker failed: " << e.what() << std::endl;
    return 2;
  }
}

// ---- helpers for the tests -----------------------------------------------------------------

using TempDir = specopt_test::ScopedTempDir;

specopt::lab::LaunchResult launch(const std::string& mode, int n,
                                  std::map<std::string, std::string> env,
                                  std::vector<std::string>* lines = nullptr,
                                  bool fail_fast = true) {
  specopt::lab::LaunchOptions o;
  o.nproc = n;
  o.env = std::move(env);
  o.env["SPECOPT_DIST_TEST_WORKER"] = mode;
  o.env["SPECOPT_DIST_TIMEOUT_S"] = "10";
  o.fail_fast = fail_fast;
  o.on_line = [lines](const std::string& l) {
    if (lines) lines->push_back(l);
    std::cerr << l << std::endl;
  };
  return specopt::lab::launch_local(o);
}

// The 1-process reference: every step's parameters on the global batch.
std::vector<float> reference(const std::string& kind, int steps) {
  auto ps = make_params();
  specopt::DistributedOptimizer opt(make_inner(kind, ps),
                                    specopt::dist::make_single_process_communicator());
  std::vector<float> traj;
  for (int s = 0; s < steps; ++s) {
    train_step(opt, ps, s);
    const auto f = flat_params(ps);
    traj.insert(traj.end(), f.begin(), f.end());
  }
  return traj;
}

int64_t reference_state_bytes(const std::string& kind) {
  auto ps = make_params();
  auto inner = make_inner(kind, ps);
  for (const auto& p : ps) p.mutable_grad() = at::ones_like(p);
  inner->step();
  return specopt::optimizer_state_bytes(*inner);
}

// ---- tests ---------------------------------------------------------------------------------

TEST(DistComm, SingleProcessCollectivesAreTheIdentity) {
  auto c = specopt::dist::make_single_process_communicator();
  EXPECT_EQ(c->rank(), 0);
  EXPECT_EQ(c->size(), 1);
  EXPECT_EQ(worker_collectives(*c), 0);
  auto t = at::ones({2});
  EXPECT_THROW(c->broadcast(t, 1), c10::Error);
}

TEST(DistComm, RendezvousFromEnvRejectsBadValuesByName) {
  ::setenv("WORLD_SIZE", "two", 1);
  try {
    specopt::dist::rendezvous_from_env();
    ADD_FAILURE() << "WORLD_SIZE=two was accepted";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("WORLD_SIZE='two'"), std::string::npos) << e.what();
  }
  ::setenv("WORLD_SIZE", "2", 1);
  ::setenv("RANK", "2", 1);
  try {
    specopt::dist::rendezvous_from_env();
    ADD_FAILURE() << "RANK=2 of 2 was accepted";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("invalid rank 2"), std::string::npos) << e.what();
  }
  ::unsetenv("RANK");
  ::unsetenv("WORLD_SIZE");
  EXPECT_FALSE(specopt::dist::env_is_distributed());
  EXPECT_EQ(specopt::dist::init_from_env()->backend(), "single");
}

TEST(DistComm, GlooCollectivesOnTwoProcesses) {
  const auto r = launch("collectives", 2, {});
  EXPECT_TRUE(r.ok()) << r.describe_failures();
}

TEST(DistComm, GlooCollectivesThroughFileStore) {
  TempDir dir;
  const auto r = launch("collectives", 2, {{"SPECOPT_DIST_FILE_STORE", (dir.path / "store").string()}});
  EXPECT_TRUE(r.ok()) << r.describe_failures();
}

TEST(Launch, FailFastKillsTheOthersAndNamesTheFailedRank) {
  specopt::lab::LaunchOptions o;
  o.nproc = 2;
  o.program = "/bin/sh";
  // Rank 1 fails at once; rank 0 would sleep 60 s.
  o.args = {"-c", "if [ \"$RANK\" = 1 ]; then echo bye; exit 3; fi; sleep 60"};
  o.kill_grace = std::chrono::seconds(2);
  std::vector<std::string> lines;
  o.on_line = [&](const std::string& l) { lines.push_back(l); };
  const auto t0 = std::chrono::steady_clock::now();
  const auto r = specopt::lab::launch_local(o);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(r.first_failed_rank, 1);
  EXPECT_EQ(r.workers[1].exit_code, 3);
  EXPECT_TRUE(r.workers[0].killed_by_launcher);
  EXPECT_LT(s, 10.0);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0], "[rank 1] bye");
  o.nproc = 0;
  EXPECT_THROW(specopt::lab::launch_local(o), std::invalid_argument);

  // Second host of two: global ranks 2 and 3 of 4, local ranks 0 and 1.
  o.nproc = 2;
  o.nnodes = 2;
  o.node_rank = 1;
  o.master_port = 29999;
  o.args = {"-c", "echo $RANK/$WORLD_SIZE/$LOCAL_RANK/$MASTER_PORT"};
  lines.clear();
  const auto two = specopt::lab::launch_local(o);
  EXPECT_TRUE(two.ok()) << two.describe_failures();
  std::sort(lines.begin(), lines.end());
  EXPECT_EQ(lines, (std::vector<std::string>{"[rank 2] 2/4/0/29999", "[rank 3] 3/4/1/29999"}));
  o.master_port = 0;
  EXPECT_THROW(specopt::lab::launch_local(o), std::invalid_argument);
}

TEST(DistOptimizer, WorldSizeOneIsBitIdenticalToTheInnerOptimizer) {
  for (const std::string kind : {"muon", "spectral_adam", "adamw"}) {
    auto a = make_params();
    auto b = make_params();
    auto plain = make_inner(kind, a);
    specopt::DistributedOptimizer wrapped(make_inner(kind, b),
                                          specopt::dist::make_single_process_communicator());
    for (int s = 0; s < 5; ++s) {
      plain->zero_grad();
      local_loss(a, s, 0, 1).backward();
      plain->step();
      train_step(wrapped, b, s);
    }
    for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(a[i].equal(b[i])) << kind << " param " << i;
  }
}

TEST(DistOptimizer, OwnershipIsBalancedByTransformCost) {
  // Fake world of 2: ownership is computed without communicating, so a communicator that only
  // reports rank/size suffices.
  struct Fake : specopt::dist::Communicator {
    int rank() const override { return 0; }
    int size() const override { return 2; }
    std::string backend() const override { return "fake"; }
    void all_reduce(at::Tensor&, specopt::dist::ReduceOp) override {}
    std::vector<at::Tensor> all_gather(const at::Tensor& t) override { return {t, t}; }
    void broadcast(at::Tensor&, int) override {}
    at::Tensor reduce_scatter(const at::Tensor& t, specopt::dist::ReduceOp) override { return t; }
    void barrier() override {}
  };
  std::vector<at::Tensor> ps = {at::zeros({64, 64}), at::zeros({16, 16}), at::zeros({16, 16}),
                                at::zeros({64, 64}), at::zeros({16, 256})};
  specopt::DistributedOptimizer opt(std::make_unique<specopt::Muon>(ps),
                                    std::make_shared<Fake>());
  const auto& s = opt.slots();
  // Costs: 64x64 ≫ 16x256 > 16x16; the two big ones go to different ranks.
  EXPECT_GT(s[0].cost, s[4].cost);
  EXPECT_GT(s[4].cost, s[1].cost);
  EXPECT_NE(s[0].owner, s[3].owner);
  const auto load = opt.load_per_rank();
  EXPECT_LT(std::abs(load[0] - load[1]), s[4].cost + 1);
}

class TwoProcesses : public ::testing::TestWithParam<std::string> {};

// The acceptance check: 2 processes, global batch split in two, every one of 20 steps
// equal to the 1-process run to float tolerance; each rank holds half the optimizer state.
// "<kind>+slices": every parameter of the element-wise optimizer sliced across the two ranks
// (slice_min_numel 1) instead of owned whole.
TEST_P(TwoProcesses, MatchOneProcessEveryStepWithHalfTheState) {
  const std::string param = GetParam();
  const auto plus = param.find('+');
  const std::string kind = param.substr(0, plus);
  std::map<std::string, std::string> env = {{"SPECOPT_TEST_OPT", kind}};
  TempDir dir;
  env["SPECOPT_TEST_OUT"] = dir.path.string();
  if (plus != std::string::npos) env["SPECOPT_TEST_SLICE_MIN"] = "1";
  const auto r = launch("train", 2, env);
  ASSERT_TRUE(r.ok()) << r.describe_failures();
  const auto ref = reference(kind, kSteps);
  const auto r0 = read_floats((dir.path / "traj.r0").string());
  const auto r1 = read_floats((dir.path / "traj.r1").string());
  ASSERT_EQ(r0.size(), ref.size());
  ASSERT_EQ(r1.size(), ref.size());
  // Both ranks hold exactly the same parameters (the owners' broadcast copies).
  EXPECT_TRUE(r0 == r1);
  // Against one process: the gradient sum is rounded in another order (float32, eps 1.2e-7);
  // after 20 steps the parameters (entries of size ~0.1-1) agree to 2e-5 absolute.
  const size_t per_step = ref.size() / kSteps;
  double worst = 0;
  for (int s = 0; s < kSteps; ++s) {
    double d = 0;
    for (size_t k = s * per_step; k < (s + 1) * per_step; ++k) {
      d = std::max(d, static_cast<double>(std::abs(r0[k] - ref[k])));
    }
    EXPECT_LE(d, 2e-5) << param << ": step " << s;
    worst = std::max(worst, d);
  }
  std::cerr << param << ": max |2-process - 1-process| over " << kSteps << " steps = " << worst
            << std::endl;
  // Memory: each rank's optimizer state is half the single-process figure (the four matrices
  // split 2 + 2 by cost, or each cut in two halves), and together they are all of it.
  int64_t b0 = 0, b1 = 0;
  std::ifstream((dir.path / "state_bytes.r0").string()) >> b0;
  std::ifstream((dir.path / "state_bytes.r1").string()) >> b1;
  const int64_t single = reference_state_bytes(kind);
  EXPECT_GT(single, 0);
  EXPECT_EQ(b0 + b1, single);
  EXPECT_EQ(b0, single / 2);
  std::cerr << param << ": state bytes single " << single << ", rank 0 " << b0 << ", rank 1 "
            << b1 << std::endl;
}

INSTANTIATE_TEST_SUITE_P(Optimizers, TwoProcesses,
                         ::testing::Values("muon", "dion2", "spectral_adam", "adamw",
                                           "adamw+slices", "lion+slices"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param;
                           std::replace(name.begin(), name.end(), '+', '_');
                           return name;
                         });

// A worker killed mid-run (rank 1, SIGKILL after step 12): the survivor exits on its own with a
// clear error within the collective timeout, then a restart from the last checkpoint (step 10)
// finishes the run at 2 processes and, from the same files, at 1 process; both end where the
// uninterrupted run ends.
TEST(DistOptimizer, KilledWorkerFailsFastAndRestartContinues) {
  TempDir dir;
  const std::string ckpt = (dir.path / "opt.ckpt").string();
  std::map<std::string, std::string> env = {{"SPECOPT_TEST_OUT", dir.path.string()},
                                            {"SPECOPT_TEST_OPT", "muon"},
                                            {"SPECOPT_TEST_CKPT", ckpt},
                                            {"SPECOPT_TEST_DIE_AFTER", "12"}};
  std::vector<std::string> lines;
  const auto killed = launch("train", 2, env, &lines, /*fail_fast=*/false);
  ASSERT_EQ(killed.workers.size(), 2u);
  EXPECT_EQ(killed.workers[1].signal, SIGKILL);
  EXPECT_EQ(killed.workers[0].exit_code, 2);
  const double detect = killed.workers[0].seconds - killed.workers[1].seconds;
  EXPECT_LT(detect, 15.0) << "the survivor took too long to notice";
  std::cerr << "survivor exited " << detect << " s after its peer was killed" << std::endl;
  bool clear = false;
  for (const auto& l : lines) {
    clear |= l.rfind("[rank 0] worker failed: specopt::dist:", 0) == 0 &&
             l.find("failed on rank 0 of 2") != std::string::npos;
  }
  EXPECT_TRUE(clear) << "no clear error line from rank 0";

  const auto ref = reference("muon", kSteps);
  const size_t per_step = ref.size() / kSteps;
  const std::vector<float> want(ref.end() - static_cast<std::ptrdiff_t>(per_step), ref.end());

  env.erase("SPECOPT_TEST_DIE_AFTER");
  env["SPECOPT_TEST_RESUME"] = "1";
  env["SPECOPT_TEST_CKPT"] = ckpt;
  // The resumed run saves to another path so the step-10 checkpoint stays for the 1-process run.
  const std::string ckpt2 = (dir.path / "opt2.ckpt").string();
  fs::copy_file(ckpt, ckpt2);
  for (const auto& e : fs::directory_iterator(dir.path)) {
    const auto name = e.path().filename().string();
    if (name.rfind("opt.ckpt.", 0) == 0) {
      fs::copy_file(e.path(), dir.path / ("opt2.ckpt." + name.substr(9)));
    }
  }
  env["SPECOPT_TEST_CKPT"] = ckpt2;
  const auto resumed = launch("train", 2, env);
  ASSERT_TRUE(resumed.ok()) << resumed.describe_failures();
  const auto r0 = read_floats((dir.path / "traj.r0").string());
  ASSERT_EQ(r0.size(), per_step * 10);  // steps 10..19
  double d2 = 0;
  for (size_t k = 0; k < per_step; ++k) {
    d2 = std::max(d2, static_cast<double>(std::abs(r0[r0.size() - per_step + k] - want[k])));
  }
  EXPECT_LE(d2, 2e-5);

  // The same 2-rank checkpoint at world size 1.
  auto ps = make_params();
  specopt::DistributedOptimizer one(make_inner("muon", ps),
                                    specopt::dist::make_single_process_communicator());
  specopt::CheckpointExtras extras;
  specopt::load_checkpoint(ckpt, one, extras);
  ASSERT_EQ(extras.integers.at("step"), 10);
  EXPECT_EQ(one.state_bytes(), reference_state_bytes("muon"));
  for (int s = 10; s < kSteps; ++s) train_step(one, ps, s);
  const auto f = flat_params(ps);
  double d1 = 0;
  for (size_t k = 0; k < per_step; ++k) {
    d1 = std::max(d1, static_cast<double>(std::abs(f[k] - want[k])));
  }
  EXPECT_LE(d1, 2e-5);
  std::cerr << "resume at 2 ranks: max diff " << d2 << "; at 1 rank: " << d1 << std::endl;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = env_or("SPECOPT_DIST_TEST_WORKER");
  if (!mode.empty()) return run_worker(mode);
  at::set_num_threads(1);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
