// `specopt run NAME`: one experiment of the laboratory, into a directory of results.
#include <iostream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "commands.h"
#include "lab/experiment.h"
#include "lab/timing.h"

namespace specopt {
namespace cli {

namespace {

struct RunArgs {
  std::string name;
  bool full = false;
  std::string out;
  unsigned long long seed = 0;
  std::vector<std::string> sets;
  int threads = 0;
  bool knobs = false;
  bool strict = false;
};

void print_knobs(const lab::Experiment& e) {
  std::cout << e.name << " (paper " << e.paper << "): " << e.summary << "\n"
            << "full mode: " << (e.full_runtime.empty() ? "runtime not stated" : e.full_runtime)
            << "\n\n";
  std::size_t w = 4;
  for (const auto& k : e.knobs) w = std::max(w, k.name.size());
  std::cout << fmt::format("{:<{}}  {:<18}  {:<18}  {}\n", "knob", w, "quick", "full", "meaning");
  for (const auto& k : e.knobs) {
    std::cout << fmt::format("{:<{}}  {:<18}  {:<18}  {}\n", k.name, w, k.quick, k.full, k.help);
  }
}

int run(const RunArgs& a) {
  const auto& e = lab::find_experiment(a.name);
  if (a.knobs) {
    print_knobs(e);
    return 0;
  }
  lab::use_threads(a.threads);
  lab::RunOptions o;
  o.quick = !a.full;
  o.out_dir = a.out.empty() ? "runs/" + e.name : a.out;
  o.seed = a.seed;
  o.sets = a.sets;
  const auto result = lab::run_experiment(e, o);

  bool all = true;
  std::cout << fmt::format("{} ({} mode, {:.1f} s)\n", e.name, result["mode"].get<std::string>(),
                           result["seconds"].get<double>());
  for (const auto& c : result["claims"]) {
    const auto verdict = c["verdict"].get<std::string>();
    all = all && verdict == "reproduced";
    std::cout << fmt::format("  {:<15} {}: {}\n", verdict, c["id"].get<std::string>(),
                             c["statement"].get<std::string>());
  }
  std::cout << "results: " << o.out_dir << "/results.json\n";
  return a.strict && !all ? 3 : 0;
}

}  // namespace

void register_run(CLI::App& app, Runners& runners) {
  auto args = std::make_shared<RunArgs>();
  auto* sub = app.add_subcommand("run", "Run one experiment: results.json (claims, verdicts), CSV, figures");
  sub->add_option("name", args->name, "Experiment (see 'specopt list')")->required();
  auto* quick = sub->add_flag("--quick", "Reduced grids (default)");
  sub->add_flag("--full", args->full, "The papers' grids (see --knobs for the runtime)")->excludes(quick);
  sub->add_option("--out", args->out, "Output directory (default runs/NAME)");
  sub->add_option("--seed", args->seed, "Random seed")->check(non_negative_int());
  sub->add_option("--set", args->sets, "Override a knob: key=value (repeatable)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  sub->add_option("--threads", args->threads, "LibTorch threads (0 = all cores)")
      ->check(non_negative_int());
  sub->add_flag("--knobs", args->knobs, "List the experiment's knobs and their defaults, then exit");
  sub->add_flag("--strict", args->strict, "Exit with status 3 unless every claim is reproduced");
  runners.emplace_back(sub, [args] { return run(*args); });
}

}  // namespace cli
}  // namespace specopt
