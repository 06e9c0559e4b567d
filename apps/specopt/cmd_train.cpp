// `specopt train --config RUN.toml [--set section.key=value ...] [--resume]`: thin front end
// of lab::train (lab/train/trainer.h). Exit status 0 when the run completes, 3 when it
// diverged (the message names the step and the checkpoint kept), 1 on errors.
#include <iostream>
#include <string>
#include <vector>

#include "commands.h"
#include "lab/train/config.h"
#include "lab/train/trainer.h"

namespace specopt {
namespace cli {

namespace {
struct TrainArgs {
  std::string config;
  std::vector<std::string> sets;
  bool resume = false;
  bool quiet = false;
  bool plain = false;
};
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
  sub->add_flag("--quiet", args->quiet, "no progress output");
  sub->add_flag("--plain", args->plain, "plain progress lines even on a terminal");
  runners.emplace_back(sub, [args]() -> int {
    const auto config = lab::load_train_config(args->config, args->sets);
    lab::TrainHooks hooks;
    hooks.resume = args->resume;
    hooks.quiet = args->quiet;
    hooks.force_plain = args->plain;
    const auto r = lab::train(config, hooks);
    std::cout << r.summary.dump(2) << std::endl;
    if (r.status == "diverged") {
      std::cerr << "specopt: error: training diverged: " << r.message << std::endl;
      return 3;
    }
    return 0;
  });
}

}  // namespace cli
}  // namespace specopt
