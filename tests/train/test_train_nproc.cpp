// `specopt train --nproc N`: data-parallel training through the CLI on a tiny GPT (fixture
// data, one intra-op thread per worker, 20 steps).
//
// Tolerances: two processes take the one-process steps up to the rounding of the split batch
// (the loss mean and the gradient sum are added up in a different order). With an Adam-type
// spectral update (adams) the per-step losses agree to ~2e-7 relative (measured), so 1e-5 is
// asserted. Muon's Newton–Schulz runs in bfloat16 on CPUs with native bf16 (AVX512-BF16/AMX,
// as on the CI machine; MuonOptions' default bf16_where_fast), where a 1e-7 difference in a
// gradient can flip a bf16 rounding (unit roundoff 2^-8 ≈ 3.9e-3): the losses then differ by up
// to ~1e-3 relative (measured) and 5e-3 is asserted; in float32 (other CPUs) the difference is
// ~4e-5. A resume at the same world size repeats the same arithmetic: 1e-9.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <iterator>
#include <thread>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fixtures.h"
#include "tests/common/run_cli.h"
#include "lab/launch.h"
#include "lab/train/config.h"
#include "lab/train/trainer.h"

namespace {

using specopt_train_test::TempDir;
namespace fs = std::filesystem;

using specopt_test::run_cli;

struct Metrics {
  std::vector<double> losses;  // by step (1-based step i at index i-1)
  std::vector<std::pair<int64_t, double>> val;
};

Metrics read_metrics(const std::string& path) {
  Metrics m;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line);
    if (j.contains("loss")) {
      EXPECT_EQ(j.at("step").get<int64_t>(), static_cast<int64_t>(m.losses.size()) + 1) << line;
      m.losses.push_back(j.at("loss").get<double>());
    } else {
      m.val.emplace_back(j.at("step").get<int64_t>(), j.at("val_loss").get<double>());
    }
  }
  return m;
}

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

double rel(double a, double b) { return std::abs(a - b) / std::max(std::abs(b), 1e-12); }

class TrainNproc : public TempDir {
 protected:
  // The config file; `out` names the run folder (part of the config, so a resume must use it).
  // `sliced`: every AdamW-side parameter sliced across the ranks (optimizer.slice_min_numel=1)
  // rather than owned whole, as the default does for parameters this small.
  std::string args(const std::string& optimizer, const std::string& out, bool sliced = false) {
    specopt_train_test::write_brown_fixture(path("brown"), 10);
    specopt_train_test::write_text(
        path("run.toml"),
        "[model]\nkind='gpt'\nn_layer=1\nn_head=2\nd_model=16\ncontext=16\n"
        "[data]\ndataset='brown'\ndir='" + path("brown") + "'\neval_batches=2\n"
        "[optimizer]\nname='muon'\nlr=0.02\nvector_lr=0.01\n"
        "[schedule]\nname='warmup_cosine'\nwarmup=2\nmin=0.1\n"
        "[train]\nsteps=20\nbatch_size=8\neval_interval=10\nlog_interval=1\n"
        "checkpoint_interval=5\nthreads=1\n");
    return "train --quiet --config " + path("run.toml") + " --set optimizer.name=" + optimizer +
           " --set train.out_dir=" + path(out) +
           (sliced ? " --set optimizer.slice_min_numel=1" : "");
  }

  // Runs the config at 1 and 2 processes; the per-step losses and validation losses agree.
  void expect_same_run(const std::string& optimizer, double tol) {
    const auto one = run_cli(args(optimizer, "one"));
    ASSERT_EQ(one.code, 0) << one.output;
    const auto two = run_cli(args(optimizer, "two") + " --nproc 2");
    ASSERT_EQ(two.code, 0) << two.output;
    const auto a = read_metrics(path("one/metrics.jsonl"));
    const auto b = read_metrics(path("two/metrics.jsonl"));
    // Only rank 0 writes: one line per step and per evaluation, not two.
    ASSERT_EQ(a.losses.size(), 20u);
    ASSERT_EQ(b.losses.size(), 20u);
    for (size_t i = 0; i < 20; ++i) {
      EXPECT_LE(rel(b.losses[i], a.losses[i]), tol) << optimizer << " step " << i + 1 << ": "
                                                     << b.losses[i] << " vs " << a.losses[i];
    }
    ASSERT_EQ(a.val.size(), 3u);  // steps 0 (before training), 10, 20
    ASSERT_EQ(b.val.size(), 3u);
    EXPECT_EQ(b.val[0].first, 0);
    for (size_t i = 0; i < 3; ++i) {
      EXPECT_EQ(b.val[i].first, a.val[i].first);
      EXPECT_LE(rel(b.val[i].second, a.val[i].second), tol) << optimizer << " eval " << i;
    }
    const auto s1 = read_json(path("one/summary.json"));
    const auto s2 = read_json(path("two/summary.json"));
    EXPECT_EQ(s1.at("world_size"), 1);
    EXPECT_EQ(s2.at("world_size"), 2);
    EXPECT_EQ(s2.at("status"), "completed");
    EXPECT_LE(rel(s2.at("final_val_loss").get<double>(), s1.at("final_val_loss").get<double>()), tol);
    // The run learnt something (the comparison is not between two untouched models).
    EXPECT_LT(b.losses.back(), 0.9 * b.losses.front());
  }
};

TEST_F(TrainNproc, TwoProcessesTakeTheOneProcessStepsAdamS) { expect_same_run("adams", 1e-5); }

TEST_F(TrainNproc, TwoProcessesTakeTheOneProcessStepsMuon) { expect_same_run("muon", 5e-3); }

// A worker killed at step 12 (checkpoints every 5 steps): the launcher stops the other one
// and exits non-zero at once naming the dead rank; --resume at 2 processes then finishes with
// the uninterrupted run's numbers, and the same checkpoint also resumes at 1 process. The
// AdamW side is sliced, so the shards hold slices that the 1-process resume joins.
TEST_F(TrainNproc, KilledWorkerFailsFastAndTheRunResumesAtTwoOrOneProcesses) {
  const auto full = run_cli(args("muon", "full", true) + " --nproc 2");
  ASSERT_EQ(full.code, 0) << full.output;
  const double want = read_json(path("full/summary.json")).at("final_val_loss").get<double>();

  const auto died = run_cli(args("muon", "run", true) + " --nproc 2", "SPECOPT_TEST_DIE_AT_STEP=12");
  EXPECT_NE(died.code, 0) << died.output;
  EXPECT_LT(died.seconds, 60.0);
  std::cerr << "the run with a killed worker exited after " << died.seconds << " s" << std::endl;
  EXPECT_NE(died.output.find("specopt: error: multi-process training failed (2 workers): rank 1 "
                             "killed by signal 9"),
            std::string::npos)
      << died.output;
  EXPECT_NE(died.output.find("--resume"), std::string::npos) << died.output;
  EXPECT_FALSE(fs::exists(path("run/summary.json")));
  ASSERT_TRUE(fs::exists(path("run/checkpoint.pt.train.10"))) << "the step-10 checkpoint";
  fs::copy(path("run"), path("snapshot"), fs::copy_options::recursive);

  const auto two = run_cli(args("muon", "run", true) + " --nproc 2 --resume");
  ASSERT_EQ(two.code, 0) << two.output;
  const auto s2 = read_json(path("run/summary.json"));
  EXPECT_EQ(s2.at("world_size"), 2);
  EXPECT_LE(rel(s2.at("final_val_loss").get<double>(), want), 1e-9);
  const auto m2 = read_metrics(path("run/metrics.jsonl"));  // steps 1..20, each once
  EXPECT_EQ(m2.losses.size(), 20u);
  const auto mf = read_metrics(path("full/metrics.jsonl"));
  ASSERT_EQ(mf.losses.size(), 20u);
  for (size_t i = 0; i < std::min<size_t>(20, m2.losses.size()); ++i) {
    EXPECT_LE(rel(m2.losses[i], mf.losses[i]), 1e-9) << "step " << i + 1;
  }

  // The step-10 checkpoint of 2 processes, resumed by 1.
  fs::remove_all(path("run"));
  fs::rename(path("snapshot"), path("run"));
  const auto one = run_cli(args("muon", "run", true) + " --resume");
  ASSERT_EQ(one.code, 0) << one.output;
  const auto s1 = read_json(path("run/summary.json"));
  EXPECT_EQ(s1.at("world_size"), 1);
  EXPECT_EQ(s1.at("steps"), 20);
  EXPECT_LE(rel(s1.at("final_val_loss").get<double>(), want), 5e-3);
}

// A one-process checkpoint (written by lab::train stopped after 10 steps, in this process)
// resumed by `--nproc 2`: every rank loads the whole file and keeps the state of what it owns,
// its slices of the (sliced) AdamW side cut from the whole state.
TEST_F(TrainNproc, OneProcessCheckpointResumesAtTwoProcesses) {
  const auto full = run_cli(args("adams", "full"));
  ASSERT_EQ(full.code, 0) << full.output;
  const double want = read_json(path("full/summary.json")).at("final_val_loss").get<double>();

  args("adams", "run");  // writes run.toml and the fixture
  const auto config = specopt::lab::load_train_config(
      path("run.toml"),
      {"optimizer.name=adams", "train.out_dir=" + path("run"), "optimizer.slice_min_numel=1"});
  specopt::lab::TrainHooks hooks;
  hooks.quiet = true;
  hooks.stop_after = 10;
  ASSERT_EQ(specopt::lab::train(config, hooks).status, "stopped");

  const auto two = run_cli(args("adams", "run", true) + " --nproc 2 --resume");
  ASSERT_EQ(two.code, 0) << two.output;
  const auto s = read_json(path("run/summary.json"));
  EXPECT_EQ(s.at("world_size"), 2);
  EXPECT_EQ(s.at("steps"), 20);
  EXPECT_LE(rel(s.at("final_val_loss").get<double>(), want), 1e-5);
  std::cerr << "1-process checkpoint resumed at 2: final val loss " << s.at("final_val_loss")
            << ", uninterrupted " << want << std::endl;
  EXPECT_EQ(read_metrics(path("run/metrics.jsonl")).losses.size(), 20u);
}

// Under an external launcher (no fail fast) the surviving rank notices the dead peer by itself:
// its next collective fails and it exits with an error, well within the collective timeout.
TEST_F(TrainNproc, SurvivorExitsOnItsOwnWhenAPeerDies) {
  specopt::lab::LaunchOptions o;
  o.nproc = 2;
  o.program = SPECOPT_CLI_PATH;
  const std::string a = args("adamw", "run");
  for (size_t pos = 0; pos < a.size();) {  // split on spaces (the temporary paths have none)
    const size_t end = a.find(' ', pos);
    o.args.push_back(a.substr(pos, end == std::string::npos ? std::string::npos : end - pos));
    pos = end == std::string::npos ? a.size() : end + 1;
  }
  o.env = {{"SPECOPT_TEST_DIE_AT_STEP", "3"}, {"SPECOPT_DIST_TIMEOUT_S", "30"}};
  o.fail_fast = false;
  std::string out;
  o.on_line = [&out](const std::string& l) { out += l + "\n"; };
  const auto r = specopt::lab::launch_local(o);
  ASSERT_EQ(r.workers.size(), 2u);
  EXPECT_EQ(r.workers[1].signal, 9);
  EXPECT_EQ(r.workers[0].signal, 0) << "rank 0 must exit by itself, not be killed";
  EXPECT_NE(r.workers[0].exit_code, 0) << out;
  EXPECT_FALSE(r.workers[0].killed_by_launcher);
  EXPECT_LT(r.workers[0].seconds, 30.0) << out;
  EXPECT_NE(out.find("[rank 0] specopt: error:"), std::string::npos) << out;
}

// A run that diverges stops on every rank at the same step (the loss is the all-reduced mean):
// status 3, and rank 0's summary.json says so (the launcher does not cut it short).
TEST_F(TrainNproc, DivergenceStopsEveryRankWithStatus3) {
  const auto r = run_cli(args("adamw", "run") +
                         " --nproc 2 --set optimizer.lr=1e30 --set train.grad_clip=0");
  EXPECT_EQ(r.code, 3) << r.output;
  EXPECT_NE(r.output.find("[rank 0] specopt: error: training diverged: non-finite"),
            std::string::npos)
      << r.output;
  ASSERT_TRUE(fs::exists(path("run/summary.json"))) << r.output;
  const auto s = read_json(path("run/summary.json"));
  EXPECT_EQ(s.at("status"), "diverged");
  EXPECT_EQ(s.at("world_size"), 2);
  EXPECT_LT(s.at("steps").get<int64_t>(), 20);
}

TEST_F(TrainNproc, BatchThatDoesNotSplitIsRefused) {
  const auto r = run_cli(args("adamw", "run") + " --nproc 3");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("train.batch_size = 8 does not divide by the 3 processes"),
            std::string::npos)
      << r.output;
  EXPECT_FALSE(fs::exists(path("run/metrics.jsonl")));
}

// The summary of `--nproc 2` is the same JSON on stdout as with one process (not prefixed
// "[rank 0]"), equal to summary.json.
TEST_F(TrainNproc, SummaryIsPrintedOnStdoutAsWithOneProcess) {
  const auto r = run_cli(args("adamw", "run") + " --nproc 2");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(r.output.find("[rank 0] {"), std::string::npos) << r.output;
  const size_t begin = r.output.rfind("\n{", r.output.size()) == std::string::npos
                           ? r.output.find('{')
                           : r.output.rfind("\n{") + 1;
  ASSERT_EQ(r.output.compare(begin, 1, "{"), 0) << r.output;
  const auto printed = nlohmann::json::parse(r.output.substr(begin, r.output.rfind('}') - begin + 1));
  EXPECT_EQ(printed, read_json(path("run/summary.json")));
  EXPECT_EQ(printed.at("world_size"), 2);
}

// A failure before training (no data) does not suggest --resume: there is nothing to resume.
TEST_F(TrainNproc, FailureBeforeTrainingDoesNotSuggestResume) {
  const auto r = run_cli(args("adamw", "run") + " --nproc 2 --set data.dir=" + path("nothing"));
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("multi-process training failed"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("--resume"), std::string::npos) << r.output;
}

// Processes whose command line mentions `needle` (the run's unique directory).
std::vector<int> processes_with(const std::string& needle) {
  std::vector<int> pids;
  for (const auto& e : fs::directory_iterator("/proc")) {
    const auto name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(e.path() / "cmdline", std::ios::binary);
    std::string cmd((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (cmd.find(needle) != std::string::npos && cmd.find("train") != std::string::npos) {
      pids.push_back(std::stoi(name));
    }
  }
  return pids;
}

// While a `--nproc 2` run holds its directory a second run there is refused; SIGKILL to the
// launcher takes both workers with it; the lock it leaves is taken over by the next run.
TEST_F(TrainNproc, WorkersDieWithTheLauncherAndTheLockIsTakenOver) {
  const std::string a = args("adamw", "run") + " --set train.steps=100000 --set train.checkpoint_interval=0";
  std::vector<std::string> argv = {SPECOPT_CLI_PATH};
  for (size_t pos = 0; pos < a.size();) {
    const size_t end = a.find(' ', pos);
    argv.push_back(a.substr(pos, end == std::string::npos ? std::string::npos : end - pos));
    pos = end == std::string::npos ? a.size() : end + 1;
  }
  argv.push_back("--nproc");
  argv.push_back("2");
  const pid_t launcher = ::fork();
  ASSERT_GE(launcher, 0);
  if (launcher == 0) {
    std::vector<char*> cargv;
    for (auto& s : argv) cargv.push_back(&s[0]);
    cargv.push_back(nullptr);
    ::freopen("/dev/null", "w", stdout);
    ::freopen("/dev/null", "w", stderr);
    ::execv(cargv[0], cargv.data());
    ::_exit(127);
  }
  // Training has started once metrics.jsonl has a line.
  const auto t0 = std::chrono::steady_clock::now();
  bool started = false;
  while (std::chrono::steady_clock::now() - t0 < std::chrono::seconds(60)) {
    std::ifstream m(path("run/metrics.jsonl"));
    std::string line;
    if (std::getline(m, line) && !line.empty()) {
      started = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(started);
  EXPECT_EQ(processes_with(path("run")).size(), 3u);  // the launcher and two workers

  const auto second = run_cli(args("adamw", "run") + " --resume");
  EXPECT_EQ(second.code, 1) << second.output;
  EXPECT_NE(second.output.find("is in use by another specopt run (pid " + std::to_string(launcher)),
            std::string::npos) << second.output;

  ASSERT_EQ(::kill(launcher, SIGKILL), 0);
  int status = 0;
  ::waitpid(launcher, &status, 0);
  std::vector<int> left;
  const auto t1 = std::chrono::steady_clock::now();
  do {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    left = processes_with(path("run"));
  } while (!left.empty() && std::chrono::steady_clock::now() - t1 < std::chrono::seconds(10));
  EXPECT_TRUE(left.empty()) << left.size() << " worker(s) outlived the launcher";

  const auto next = run_cli(args("adamw", "run") + " --force");
  EXPECT_EQ(next.code, 0) << next.output;
  EXPECT_TRUE(fs::exists(path("run/replaced-1/metrics.jsonl")));
}

}  // namespace
