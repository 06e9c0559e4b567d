// `specopt reproduce`: every registered experiment plus the matrix-function study, into one
// report (DIR/index.html, DIR/summary.json). The work is lab::reproduce; this only parses.
// Exit status 0, or 4 when an experiment failed; every --set is validated before anything runs.
#include <algorithm>
#include <filesystem>
#include <stdexcept>
#include <iostream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "commands.h"
#include "lab/report.h"
#include "lab/timing.h"

namespace specopt {
namespace cli {

namespace {

struct ReproduceArgs {
  bool full = false;
  std::string out = "report";
  unsigned long long seed = 0;
  bool force = false;
  std::vector<std::string> sets;
  std::vector<std::string> only;
  int threads = 0;
};

int reproduce(const ReproduceArgs& a) {
  // A knob of an experiment that --only leaves out would be silently unused: refused.
  if (!a.only.empty()) {
    for (const auto& s : a.sets) {
      const std::string name = s.substr(0, s.find('.'));
      if (std::find(a.only.begin(), a.only.end(), name) == a.only.end()) {
        throw std::invalid_argument("--set " + s + ": experiment '" + name +
                                    "' is not selected by --only, so nothing would use it");
      }
    }
  }
  lab::use_threads(a.threads);
  lab::ReproduceOptions o;
  o.quick = !a.full;
  o.out_dir = a.out;
  o.seed = a.seed;
  o.force = a.force;
  o.sets = a.sets;
  o.only = a.only;
  const auto summary = lab::reproduce(lab::experiments(), o);
  const auto& c = summary["counts"];
  std::cout << fmt::format(
      "{} experiment(s) in {:.1f} s: {} claim(s) reproduced, {} partial, {} not reproduced, "
      "{} experiment(s) failed\n",
      c["experiments"].get<int>(), summary["seconds"].get<double>(), c["reproduced"].get<int>(),
      c["partial"].get<int>(), c["not_reproduced"].get<int>(), c["error"].get<int>());
  std::cout << "summary: " << (std::filesystem::path(a.out) / "summary.json").string() << "\n";
  // Last line: where the report is (absolute, so it can be pasted into a browser).
  std::cout << "report: "
            << std::filesystem::absolute(std::filesystem::path(a.out) / "index.html").lexically_normal().string()
            << std::endl;
  // Exit status 4 when an experiment failed (its claims could not be checked).
  if (c["error"].get<int>() > 0) {
    std::cerr << "specopt: error: " << c["error"].get<int>()
              << " experiment(s) failed (see the report)" << std::endl;
    return 4;
  }
  return 0;
}

}  // namespace

void register_reproduce(CLI::App& app, Runners& runners) {
  auto args = std::make_shared<ReproduceArgs>();
  auto* sub = app.add_subcommand(
      "reproduce", "Run every experiment and the matrix-function study; write DIR/index.html and DIR/summary.json");
  auto* quick = sub->add_flag("--quick", "Reduced grids, about 15 minutes on 2 cores (default)");
  sub->add_flag("--full", args->full, "The papers' grids (hours)")->excludes(quick);
  sub->add_option("--out", args->out, "Report directory (default: report)");
  sub->add_flag("--force", args->force, "Rerun experiments whose earlier results could be reused");
  sub->add_option("--seed", args->seed, "Random seed of every experiment")->check(non_negative_int());
  sub->add_option("--set", args->sets, "Override a knob: EXPERIMENT.key=value (repeatable)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  sub->add_option("--only", args->only, "Run only these experiments (comma-separated)")
      ->delimiter(',');
  sub->add_option("--threads", args->threads, "LibTorch threads (0 = all cores)")
      ->check(non_negative_int());
  runners.emplace_back(sub, [args] { return reproduce(*args); });
}

}  // namespace cli
}  // namespace specopt
