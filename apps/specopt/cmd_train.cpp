// `specopt train --config RUN.toml [--set section.key=value ...] [--resume] [--nproc N]`: thin
// front end of lab::train (lab/train/trainer.h). Exit status 0 when the run completes, 3 when
// it diverged (the message names the step and the checkpoint kept), 1 on errors.
//
// --nproc N > 1: this process only launches N copies of itself (lab/launch.h) with the same
// arguments minus --nproc; each copy sees WORLD_SIZE > 1 and trains as one rank (so copies
// started by any torchrun-style launcher, on one host or several, do the same).
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "commands.h"
#include "lab/launch.h"
#include "lab/train/data_parallel.h"
#include "lab/train/run_dir.h"
#include "lab/train/config.h"
#include "lab/train/trainer.h"

namespace specopt {
namespace cli {

namespace {
constexpr const char* kSummaryByLauncherEnv = "SPECOPT_SUMMARY_BY_LAUNCHER";

struct TrainArgs {
  std::string config;
  std::vector<std::string> sets;
  bool resume = false;
  bool force = false;
  bool allow_config_change = false;
  bool quiet = false;
  bool plain = false;
  int nproc = 1;
};

// The parent of `train --nproc N`: N workers with this command line minus --nproc; fail fast
// (a worker that dies takes the others down at once, the message says which and how).
int launch_workers(const TrainArgs& a) {
  const auto config = lab::load_train_config(a.config, a.sets);  // bad configs fail here, once
  lab::check_batch_splits(config.batch_size, a.nproc);
  // The launcher holds the run directory's lock for its workers and applies the fresh-run
  // rules once (lab/train/run_dir.h); rank 0 then sees a directory it may use.
  lab::RunDirLock lock(config.out_dir);
  if (!a.resume) lab::prepare_fresh_run_dir(config.out_dir, a.force);
  lab::LaunchOptions lo;
  lo.nproc = a.nproc;
  lo.args = {"train", "--config", a.config};
  for (const auto& s : a.sets) {
    lo.args.push_back("--set");
    lo.args.push_back(s);
  }
  if (a.resume) lo.args.push_back("--resume");
  if (a.allow_config_change) lo.args.push_back("--allow-config-change");
  lo.env[lab::kRunDirLockedEnv] = "1";
  lo.env[kSummaryByLauncherEnv] = "1";
  if (a.quiet) lo.args.push_back("--quiet");
  if (a.plain) lo.args.push_back("--plain");
  const auto result = lab::launch_local(lo);
  // The summary rank 0 wrote, on stdout as a one-process run prints it.
  const auto summary = config.out_dir + "/summary.json";
  const bool finished = result.ok() || (result.first_failed_rank >= 0 &&
                                        result.workers.at(static_cast<size_t>(result.first_failed_rank)).exit_code == 3);
  if (finished && std::filesystem::exists(summary)) {
    std::ifstream in(summary);
    std::ostringstream text;
    text << in.rdbuf();
    std::cout << text.str() << std::flush;
  }
  if (result.ok()) return 0;
  // Every rank diverges alike (the same averaged values everywhere) and exits with 3 after
  // rank 0's summary is written; the first to exit decides the status.
  const auto& first_exit = result.workers.at(static_cast<size_t>(result.first_failed_rank));
  const bool diverged = first_exit.signal == 0 && first_exit.exit_code == 3;
  // The rank that failed first leads the message; the launcher's SIGTERMs to the rest follow.
  std::string what = result.describe_failures();
  std::string first, rest;
  for (size_t pos = 0; pos < what.size();) {
    const size_t end = what.find('\n', pos);
    const std::string line = what.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    pos = end == std::string::npos ? what.size() : end + 1;
    if (line.empty()) continue;
    if (line.rfind("rank " + std::to_string(result.first_failed_rank) + " ", 0) == 0) {
      first = line;
    } else {
      rest += "; " + line;
    }
  }
  std::cerr << "specopt: error: " << (diverged ? "training diverged" : "multi-process training failed")
            << " (" << a.nproc << " workers): " << first << rest;
  if (std::filesystem::exists(config.out_dir + "/checkpoint.pt")) {
    std::cerr << "; the run can continue from its last checkpoint with --resume";
  }
  std::cerr << std::endl;
  return diverged ? 3 : 1;
}
}  // namespace

void register_train(CLI::App& app, Runners& runners) {
  auto args = std::make_shared<TrainArgs>();
  auto* sub = app.add_subcommand(
      "train", "Train a model (GPT on Brown, MLP/CNN on Fashion-MNIST) from a TOML config");
  sub->add_option("--config", args->config, "TOML run config (see docs/training.md)")
      ->required()
      ->check(CLI::ExistingFile);
  sub->add_option("--set", args->sets, "override a config key: section.key=value (repeatable)");
  sub->add_flag("--resume", args->resume,
                "continue from OUT_DIR/checkpoint.pt (bit-exact; same config required)");
  sub->add_flag("--force", args->force,
                "start over in an OUT_DIR that holds a run (the old one is moved to "
                "OUT_DIR/replaced-<N>)");
  sub->add_flag("--allow-config-change", args->allow_config_change,
                "with --resume: accept config changes outside [model] and [optimizer] "
                "(train.steps may always be raised)");
  sub->add_flag("--quiet", args->quiet, "no progress output");
  sub->add_flag("--plain", args->plain, "plain progress lines even on a terminal");
  sub->add_option("--nproc", args->nproc,
                  "data-parallel worker processes on this host (Gloo; the global batch is "
                  "split among them; 1: one process)")
      ->check(CLI::Range(1, 1024));
  runners.emplace_back(sub, [args]() -> int {
    if (args->force && args->resume) throw std::invalid_argument("--force and --resume exclude each other");
    if (args->allow_config_change && !args->resume) {
      throw std::invalid_argument("--allow-config-change applies to --resume only");
    }
    if (args->nproc > 1) {
      if (dist::env_is_distributed()) {
        throw std::invalid_argument("--nproc " + std::to_string(args->nproc) +
                                    " inside a distributed worker (WORLD_SIZE is set): "
                                    "start the workers with one launcher only");
      }
      return launch_workers(*args);
    }
    const auto config = lab::load_train_config(args->config, args->sets);
    lab::TrainHooks hooks;
    hooks.resume = args->resume;
    hooks.force = args->force;
    hooks.allow_config_change = args->allow_config_change;
    hooks.quiet = args->quiet;
    hooks.force_plain = args->plain;
    // A rank of a world when WORLD_SIZE > 1.
    hooks.comm = lab::data_parallel_from_env(config.device);
    const auto r = lab::train(config, hooks);
    const bool lead = hooks.comm == nullptr || hooks.comm->rank() == 0;
    // Under `--nproc` the launcher prints summary.json itself (not prefixed, on its stdout).
    if (lead && std::getenv(kSummaryByLauncherEnv) == nullptr) std::cout << r.summary.dump(2) << std::endl;
    if (r.status == "diverged") {
      if (lead) std::cerr << "specopt: error: training diverged: " << r.message << std::endl;
      return 3;
    }
    return 0;
  });
}

}  // namespace cli
}  // namespace specopt
