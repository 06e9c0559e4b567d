#pragma once
// `specopt reproduce`: runs a list of experiments (by default the whole registry) into
// DIR/NAME/, then writes DIR/summary.json and a self-contained DIR/index.html.
//
// * One experiment's exception becomes an entry with status "error" and its message; the others
//   still run and the report is still written.
// * A rerun reuses DIR/NAME/results.json when it was made with the same mode, seed, resolved
//   knobs, specopt version and git commit (status "reused"), unless `force`.
// * Knob overrides are per experiment ("factorization.kappas=10,100"); unknown experiments or
//   knobs and unknown `only` names are refused before anything runs.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "lab/experiment.h"

namespace specopt {
namespace lab {

struct ReproduceOptions {
  bool quick = true;
  std::string out_dir;  // required; created if missing
  std::uint64_t seed = 0;
  bool force = false;
  std::vector<std::string> sets;  // "EXPERIMENT.key=value"
  std::vector<std::string> only;  // experiment names; empty: all
  // Progress lines (one per experiment start/end, plus the experiments' own lines prefixed by
  // their name); default: stderr.
  std::function<void(const std::string&)> progress;
};

// Runs `list` (in order) and writes the report. Returns the summary (also DIR/summary.json):
//   {"report_version": 1, "mode", "seed", "out_dir", "environment": {...}, "seconds",
//    "counts": {"reproduced", "not_reproduced", "partial", "error", "experiments"},
//    "experiments": [{"name", "paper", "summary", "status": "ok"|"error"|"reused", "seconds",
//                     "command", "config", "claims": [{"id", "statement", "verdict",
//                     "numbers"}], "files": ["NAME/fig.png", ...], "figures": [...],
//                     "error"?}]}
// Throws std::invalid_argument (before running anything) for bad options.
nlohmann::json reproduce(const std::vector<Experiment>& list, const ReproduceOptions& options);

// The report page for a summary (as returned by `reproduce`).
std::string report_html(const nlohmann::json& summary);

// The `specopt run` command line that reruns one experiment as reproduce ran it.
std::string rerun_command(const std::string& name, bool quick, std::uint64_t seed,
                          const std::string& out_dir, const std::vector<std::string>& sets);

// Escapes & < > " ' for HTML text and attribute values.
std::string html_escape(const std::string& s);

// A paper's short title (1, 2, 3), or "" for anything else.
std::string paper_title(int paper);

}  // namespace lab
}  // namespace specopt
