#pragma once
// `specopt run variants`: the Muon variants side by side (docs/experiments.md, "variants").
// Every rule of variant_rules() is swept over lr_factors × its centre lr with several seeds on
// the char-GPT (Brown) and the MLP (Fashion-MNIST) at one token/sample budget; the analysis
// here turns the runs into per-rule summaries (best lr, seed spread, lr sensitivity,
// divergences, step time) and the claims, as pure functions of the runs so that
// tests/lab/test_variants.cpp can feed them constructed results.
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "lab/experiment.h"
#include "lab/experiments/judge.h"

namespace specopt {
namespace lab {

// One optimizer configuration of the comparison.
struct VariantRule {
  std::string name;       // its name in tables, figures and `--set rules=...`
  std::string optimizer;  // the trainer's optimizer.name (lab/train/config.h)
  double center_lr;       // the sweep is lr_factors × center_lr
  bool weight_decay;      // decoupled weight decay λ = the `weight_decay` knob (else 0)
  bool cautious;          // cautious weight decay (arXiv 2510.12402)
  std::string family;     // "muon" (a Muon variant), "adamw" (the baseline), "spectral_power"
  std::string source;     // where the rule comes from (paper)
};

// The rules compared, in report order (variants.cpp).
const std::vector<VariantRule>& variant_rules();
const VariantRule& find_variant_rule(const std::string& name);  // throws naming known ones

constexpr double kVariantNaN = std::numeric_limits<double>::quiet_NaN();

// One training run.
struct VariantRun {
  std::string task, rule;
  double lr = 0;
  int64_t seed = 0;
  double initial_val_loss = kVariantNaN;
  double val_loss = kVariantNaN;  // NaN when the run stopped early
  double val_accuracy = kVariantNaN;  // classification tasks
  bool diverged = false;
  std::string why;                // diverged: the reason
  double seconds = 0;             // whole run
  double step_seconds = kVariantNaN, optimizer_seconds = kVariantNaN;  // per training step
  std::vector<double> train_losses;  // per step
};

// A run diverged when it stopped on a non-finite loss or gradient, failed inside the optimizer,
// or ended with a validation loss not below its initial one (a blow-up): `why`, or "" when it
// did not diverge.
std::string divergence_reason(const std::string& status, const std::string& message,
                              double final_val_loss, double initial_val_loss);

// One lr of a rule's sweep: the final validation loss over the seeds that did not diverge.
struct SweepPoint {
  double lr = 0;
  SeedStats stats;
  int diverged_seeds = 0;
  bool diverged() const { return diverged_seeds > 0 || stats.seeds == 0; }
};

struct RuleSummary {
  std::string rule, family;
  std::vector<SweepPoint> sweep;  // by lr, ascending
  double best_lr = kVariantNaN;   // the lowest mean among points no seed diverged at
  SeedStats best;                 // NaN mean: every point diverged (or nothing ran)
  double best_accuracy = kVariantNaN;
  bool best_at_edge = false;      // the best lr is the sweep's smallest or largest
  int runs = 0, divergences = 0;  // runs, and runs that diverged
  // Range (max − min) of the sweep's mean losses, a diverged point counted as the initial loss
  // (what no progress costs).
  double lr_sensitivity = kVariantNaN;
  double step_ms = kVariantNaN, optimizer_ms = kVariantNaN;  // mean per step over the runs
  std::vector<double> best_curve;  // training loss per step at the best lr, mean over seeds
};

RuleSummary summarize_rule(const std::vector<VariantRun>& runs, const std::string& task,
                           const std::string& rule, const std::string& family);

// `a` against `b` on their best points: margin = b.mean − a.mean (> 0: a is lower), noise =
// the two seed spreads (half ranges) together; outcome "lower" / "higher" when |margin| >
// noise, else "tie". A side that diverged at every lr loses ("higher" for a when only a has
// no best point); both: "tie" with no margin.
struct Comparison {
  double margin = kVariantNaN;
  double noise = kVariantNaN;
  std::string outcome = "tie";
};
Comparison compare_best(const SeedStats& a, const SeedStats& b);

// The claims on the summaries of each task (task → one summary per rule run):
//   normuon_beats_muon, adamuon_beats_muon  lower than Muon beyond the noise, per task
//   cautious_wd_no_harm     Muon + cautious WD not higher than Muon (no decay) beyond the noise
//   cautious_wd_improves    Muon + cautious WD lower than Muon + decoupled WD (same λ)
//   muon_variants_beat_adamw  every "muon"-family rule lower than AdamW, per task
// Each: reproduced when it holds on every task (pair), partial on some, not_reproduced on
// none. A claim whose rules did not run on any task is left out.
std::vector<Claim> variant_claims(const std::map<std::string, std::vector<RuleSummary>>& by_task);

}  // namespace lab
}  // namespace specopt
