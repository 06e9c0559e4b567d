#pragma once
// Subcommand registration for the `specopt` CLI. Each register_* function adds its
// subcommands to `app` and appends (subcommand, runner) pairs; main() runs the runner of
// the subcommand that was parsed. Runners return the process exit code and may throw
// (main turns exceptions into one-line errors).
#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace specopt {
namespace cli {

using Runner = std::function<int()>;

// Validators with short messages ("--steps: 'x' is not a positive integer").
CLI::Validator positive_int();
CLI::Validator non_negative_int();
CLI::Validator positive_real();
CLI::Validator non_negative_real();
// A real number in [lo, hi] (closed) or (lo, hi) (open).
CLI::Validator real_in(double lo, double hi, bool open);

using Runners = std::vector<std::pair<CLI::App*, Runner>>;

// `specopt matfun polar|power ...`
void register_matfun(CLI::App& app, Runners& runners);
// `specopt bench matfun ...`
void register_bench(CLI::App& app, Runners& runners);
// `specopt run NAME ...`
void register_run(CLI::App& app, Runners& runners);
// `specopt reproduce ...`
void register_reproduce(CLI::App& app, Runners& runners);
// `specopt list [--json]`
void register_list(CLI::App& app, Runners& runners);
// `specopt train --config RUN.toml ...`
void register_train(CLI::App& app, Runners& runners);

}  // namespace cli
}  // namespace specopt
