// The Muon variants side by side (variants.h; docs/experiments.md, "variants"): Muon, NorMuon,
// AdaMuon, PolarGrad, Dion2, Muon with decoupled and with cautious weight decay, AdamW and a
// spectral-power preset, each swept over lr_factors × its centre with several seeds on the
// char-GPT (Brown) and the MLP (Fashion-MNIST), every run at the same steps and batch (the
// same tokens / samples). Hybrids put the matrices on the rule and everything else on AdamW
// (fixed lr vector_lr), as spectral-power does; the AdamW rule sweeps the lr of every
// parameter. Runs go through lab::train without writing files; a run that diverges (non-finite
// loss or gradient, an optimizer failure, or a final validation loss not below the initial
// one) is counted and the sweep goes on.
#include "lab/experiments/variants.h"

#include <c10/util/Exception.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>
#include <stdexcept>

#include "lab/experiments/experiments.h"
#include "lab/experiments/train_tasks.h"
#include "lab/experiments/verdicts.h"
#include "lab/train/trainer.h"

namespace specopt {
namespace lab {

const std::vector<VariantRule>& variant_rules() {
  // One line per rule: {name, trainer optimizer, centre lr, weight decay, cautious, family,
  // source}. Centres: Muon's 0.02 (its variants' defaults too); AdamZ 2e-2 as in
  // spectral-power; AdamW 5e-3, between its optima on the two tasks (about 3e-3 on the GPT and
  // 1e-2 on the MLP in a sweep centred at 3e-3); AdaMuon and PolarGrad where a one-seed pilot
  // on both quick tasks put their optimum (AdaMuon's RMS-matched step wants about AdamW's lr;
  // PolarGrad's step is ‖U‖_* times Muon's, and clipped gradients keep ‖U‖_* small here).
  // Dion2 at 10× its default lr (microsoft/dion's 0.01): at 0.01 the sweep's best was its top
  // edge on both tasks (only a quarter of the rows move per step, and its shape factor
  // √(rows/cols) shrinks wide matrices' steps).
  // A new rule is one line here, once the trainer knows its optimizer name
  // (optimizer_names(), lab/train/config.cpp): it joins every sweep, table and figure and the
  // variants held against AdamW.
  static const std::vector<VariantRule> rules = {
      {"muon", "muon", 0.02, false, false, "muon", "KellerJordan/Muon (analysed in arXiv 2506.15054)"},
      {"normuon", "normuon", 0.02, false, false, "muon", "arXiv 2510.05491"},
      {"adamuon", "adamuon", 6e-3, false, false, "muon", "arXiv 2507.11005"},
      {"polargrad", "polargrad", 0.1, false, false, "muon", "arXiv 2505.21799"},
      {"dion2", "dion2", 0.1, false, false, "muon", "arXiv 2512.16928"},
      {"muon_wd", "muon", 0.02, true, false, "muon", "Muon + decoupled weight decay"},
      {"muon_cwd", "muon", 0.02, true, true, "muon", "Muon + cautious weight decay (arXiv 2510.12402)"},
      {"adamw", "adamw", 5e-3, false, false, "adamw", "AdamW on every parameter"},
      {"adamz", "adamz", 2e-2, false, false, "spectral_power", "SpectralAdam p = 0 (arXiv 2602.04669)"},
  };
  return rules;
}

const VariantRule& find_variant_rule(const std::string& name) {
  std::string known;
  for (const auto& r : variant_rules()) {
    if (r.name == name) return r;
    known += (known.empty() ? "" : ", ") + r.name;
  }
  throw std::invalid_argument("--set rules: unknown rule '" + name + "' (known: " + known + ")");
}

namespace {

std::string all_rule_names() {
  std::string names;
  for (const auto& r : variant_rules()) names += (names.empty() ? "" : ",") + r.name;
  return names;
}

VariantRun train_one(RunContext& ctx, const TrainConfig& base, const std::string& task,
                     const VariantRule& rule, double lr, double weight_decay, int64_t seed) {
  auto c = base;
  c.optimizer.name = rule.optimizer;
  c.optimizer.lr = lr;
  c.optimizer.weight_decay = rule.weight_decay ? weight_decay : 0.0;
  c.optimizer.cautious_weight_decay = rule.cautious;
  c.seed = static_cast<uint64_t>(seed);
  TrainHooks h;
  h.quiet = true;
  h.write_files = false;
  VariantRun run;
  run.task = task;
  run.rule = rule.name;
  run.lr = lr;
  run.seed = seed;
  TrainResult r;
  // A failure inside the step (a numerical error an optimizer refuses to go on from) counts
  // as a divergence of this run; a bad configuration (std::invalid_argument) is not caught.
  try {
    r = train(c, h);
  } catch (const c10::Error& e) {
    r.status = "error";
    r.message = e.what_without_backtrace();
  } catch (const std::runtime_error& e) {
    r.status = "error";
    r.message = e.what();
  }
  run.initial_val_loss = r.status == "error" ? kVariantNaN : r.initial_val_loss;
  run.why = divergence_reason(r.status, r.message, r.final_val_loss, r.initial_val_loss);
  run.diverged = !run.why.empty();
  if (r.status == "completed") {
    run.val_loss = r.final_val_loss;
    if (r.final_val_accuracy >= 0) run.val_accuracy = r.final_val_accuracy;
  }
  run.seconds = r.seconds;
  if (r.items_per_second > 0) {
    run.step_seconds = static_cast<double>(items_per_step(c)) / r.items_per_second;
    run.optimizer_seconds = run.step_seconds * r.optimizer_fraction;
  }
  run.train_losses = r.train_losses;
  std::ostringstream os;
  os << task << " " << rule.name << " lr=" << fmt_num(lr) << " seed=" << seed << ": val_loss "
     << fmt_num(run.val_loss) << (run.diverged ? " (diverged: " + run.why + ")" : "") << " ["
     << fmt_num(r.seconds) << " s]";
  ctx.log(os.str());
  return run;
}

RunContext::Cell num(double v) { return std::isfinite(v) ? RunContext::Cell(v) : RunContext::Cell(nullptr); }

// Training loss at the best lr, averaged over windows of steps (the per-step loss of one
// small batch is noisy): one row per window, at its last step.
void write_curves(RunContext& ctx, const std::string& task, const std::string& what,
                  const std::vector<RuleSummary>& rules) {
  size_t length = 0;
  for (const auto& r : rules) length = std::max(length, r.best_curve.size());
  if (length == 0) return;
  const size_t window = std::max<size_t>(1, length / 40);
  std::vector<std::string> cols = {"step"};
  for (const auto& r : rules) cols.push_back(r.rule);
  std::vector<std::vector<RunContext::Cell>> rows;
  for (size_t end = window; end <= length; end += window) {
    std::vector<RunContext::Cell> row = {static_cast<int64_t>(end)};
    for (const auto& r : rules) {
      if (r.best_curve.size() < end) {
        row.push_back(nullptr);
        continue;
      }
      double sum = 0;
      for (size_t t = end - window; t < end; ++t) sum += r.best_curve[t];
      row.push_back(num(sum / window));
    }
    rows.push_back(row);
  }
  ctx.write_csv("curves_" + task, cols, rows);
  ctx.plot({"curves_" + task, "curves_" + task, "step", {cols.begin() + 1, cols.end()},
            what + ": training loss at the best lr (seed mean, " + std::to_string(window) +
                "-step windows)",
            "step", "training loss"});
}

void write_sweep(RunContext& ctx, const std::string& task, const std::string& what,
                 const std::vector<RuleSummary>& rules) {
  std::set<double> lrs;
  for (const auto& r : rules) {
    for (const auto& p : r.sweep) lrs.insert(p.lr);
  }
  std::vector<std::string> cols = {"lr"};
  for (const auto& r : rules) cols.push_back(r.rule);
  std::vector<std::vector<RunContext::Cell>> rows;
  for (const double lr : lrs) {
    std::vector<RunContext::Cell> row = {lr};
    for (const auto& r : rules) {
      RunContext::Cell cell = nullptr;
      for (const auto& p : r.sweep) {
        if (p.lr == lr && !p.diverged()) cell = p.stats.mean;
      }
      row.push_back(cell);
    }
    rows.push_back(row);
  }
  ctx.write_csv("lr_sweep_" + task, cols, rows);
  ctx.plot({"lr_sweep_" + task, "lr_sweep_" + task, "lr", {cols.begin() + 1, cols.end()},
            what + ": final validation loss vs lr (seed mean; diverged points left out)",
            "learning rate (the matrices' for hybrids)", "final validation loss", /*logx=*/true,
            /*logy=*/false, /*points=*/true});
}

void write_best_table(RunContext& ctx, const std::string& task, const std::vector<RuleSummary>& rules) {
  std::vector<std::vector<RunContext::Cell>> rows;
  nlohmann::json best = nlohmann::json::object(), sweep = nlohmann::json::object();
  for (const auto& r : rules) {
    const bool ok = std::isfinite(r.best.mean);
    rows.push_back({r.rule, r.family, num(r.best_lr), num(r.best.mean),
                    ok ? RunContext::Cell(r.best.spread) : RunContext::Cell(nullptr), r.best.seeds,
                    num(r.best_accuracy), r.best_at_edge ? 1 : 0, num(r.lr_sensitivity),
                    r.divergences, r.runs, num(r.step_ms), num(r.optimizer_ms)});
    best[r.rule] = {{"best_lr", num(r.best_lr)}, {"val_loss_mean", num(r.best.mean)},
                    {"val_loss_spread", ok ? nlohmann::json(r.best.spread) : nlohmann::json(nullptr)},
                    {"val_accuracy", num(r.best_accuracy)}, {"best_at_edge", r.best_at_edge},
                    {"lr_sensitivity", num(r.lr_sensitivity)}, {"divergences", r.divergences},
                    {"runs", r.runs}, {"step_ms", num(r.step_ms)}, {"optimizer_ms", num(r.optimizer_ms)}};
    sweep[r.rule] = nlohmann::json::array();
    for (const auto& p : r.sweep) {
      sweep[r.rule].push_back({{"lr", p.lr}, {"val_loss_mean", num(p.stats.mean)},
                               {"val_loss_spread", p.stats.seeds ? nlohmann::json(p.stats.spread) : nlohmann::json(nullptr)},
                               {"diverged_seeds", p.diverged_seeds}});
    }
  }
  ctx.write_csv("best_lr_" + task,
                {"rule", "family", "best_lr", "val_loss_mean", "val_loss_spread", "seeds",
                 "val_accuracy", "best_at_edge", "lr_sensitivity", "divergences", "runs", "step_ms",
                 "optimizer_ms"},
                rows);
  ctx.results()["best_lr"][task] = best;
  ctx.results()["sweep"][task] = sweep;
}

void run_variants(RunContext& ctx) {
  const auto& p = ctx.params();
  const auto tasks = p.texts("tasks");
  std::vector<VariantRule> rules;
  for (const auto& name : p.texts("rules")) rules.push_back(find_variant_rule(name));
  const auto factors = p.reals("lr_factors");
  for (double f : factors) {
    if (!(f > 0) || !std::isfinite(f)) {
      throw std::invalid_argument("--set lr_factors=" + p.text("lr_factors") + ": " + fmt_num(f) +
                                  " is not a positive number");
    }
  }
  const auto seeds = p.integers("seeds");
  const double weight_decay = p.real("weight_decay");
  if (!(weight_decay >= 0)) {
    throw std::invalid_argument("--set weight_decay=" + p.text("weight_decay") + ": must be ≥ 0");
  }
  const auto known = optimizer_names();
  for (const auto& r : rules) {
    if (std::find(known.begin(), known.end(), r.optimizer) == known.end()) {
      throw std::invalid_argument("rule '" + r.name + "': the trainer has no optimizer '" +
                                  r.optimizer + "'");
    }
  }
  std::map<std::string, TrainConfig> bases;  // every task checked before anything runs
  for (const auto& task : tasks) bases[task] = train_task_config(p, task);

  nlohmann::json table = nlohmann::json::array();
  for (const auto& r : rules) {
    table.push_back({{"rule", r.name}, {"optimizer", r.optimizer}, {"center_lr", r.center_lr},
                     {"weight_decay", r.weight_decay ? weight_decay : 0.0},
                     {"cautious_weight_decay", r.cautious}, {"family", r.family}, {"source", r.source}});
  }
  ctx.results()["rules"] = table;

  std::vector<VariantRun> runs;
  for (const auto& task : tasks) {
    for (const auto s : seeds) {
      const int64_t seed = static_cast<int64_t>(ctx.seed()) + s;
      for (const auto& r : rules) {
        for (const double f : factors) {
          runs.push_back(train_one(ctx, bases[task], task, r, r.center_lr * f, weight_decay, seed));
        }
      }
    }
  }

  std::vector<std::vector<RunContext::Cell>> rows, diverged_rows;
  ctx.results()["diverged"] = nlohmann::json::array();
  for (const auto& r : runs) {
    rows.push_back({r.task, r.rule, r.lr, r.seed, num(r.initial_val_loss), num(r.val_loss),
                    num(r.val_accuracy), r.diverged ? 1 : 0, r.seconds, num(1e3 * r.step_seconds),
                    num(1e3 * r.optimizer_seconds)});
    if (r.diverged) {
      diverged_rows.push_back({r.task, r.rule, r.lr, r.seed, r.why});
      ctx.results()["diverged"].push_back({{"task", r.task}, {"rule", r.rule}, {"lr", r.lr},
                                           {"seed", r.seed}, {"why", r.why}});
    }
  }
  ctx.write_csv("runs", {"task", "rule", "lr", "seed", "initial_val_loss", "val_loss", "val_accuracy",
                         "diverged", "seconds", "step_ms", "optimizer_ms"}, rows);
  ctx.write_csv("diverged", {"task", "rule", "lr", "seed", "why"}, diverged_rows);
  ctx.results()["divergences"] = diverged_rows.size();

  std::map<std::string, std::vector<RuleSummary>> by_task;
  for (const auto& task : tasks) {
    auto& summaries = by_task[task];
    for (const auto& r : rules) summaries.push_back(summarize_rule(runs, task, r.name, r.family));
    const std::string what = task == "gpt" ? "char-GPT on Brown" : "MLP on Fashion-MNIST";
    write_best_table(ctx, task, summaries);
    write_sweep(ctx, task, what, summaries);
    write_curves(ctx, task, what, summaries);
  }
  for (auto& c : variant_claims(by_task)) ctx.claim(c.id, c.statement, c.verdict, c.numbers);
}

}  // namespace

Experiment variants_experiment() {
  Experiment e;
  e.name = "variants";
  e.summary =
      "Muon, NorMuon, AdaMuon, PolarGrad, Dion2, Muon + (cautious) weight decay, AdamW and AdamZ "
      "over lr sweeps on a char-GPT (Brown) and an MLP (Fashion-MNIST): best-lr loss ± seed spread, lr "
      "sensitivity, divergences, step time";
  e.full_runtime =
      "about 20 minutes on one idle core (measured: 1219 s; 3 seeds, 5-point sweeps, 200 "
      "steps, all the training images: 2 tasks × 9 rules × 15 = 270 runs)";
  const std::string all = all_rule_names();
  e.knobs = {
      {"tasks", "gpt,mlp", "gpt,mlp", "tasks to run: gpt (char-level GPT on Brown), mlp (Fashion-MNIST)"},
      {"rules", all, all, "rules compared (lab/experiments/variants.cpp lists them)"},
      {"lr_factors", "0.316,1,3.16", "0.1,0.316,1,3.16,10",
       "multipliers of each rule's centre lr forming its sweep"},
      {"seeds", "0,1", "0,1,2", "seeds (added to --seed); losses are reported as mean ± spread (half the range)"},
      {"weight_decay", "0.1", "0.1", "λ of the rules with weight decay (muon_wd, muon_cwd), on the matrices"},
      {"vector_lr", "3e-3", "3e-3", "AdamW lr of vectors, embeddings and heads in the hybrids (fixed)"},
  };
  const auto task_knobs = train_task_knobs(
      {/*gpt*/ 100, 2, 64, 2, 64, 16, 4, /*mlp*/ 100, 128, 64, 12000, 2000},
      {/*gpt*/ 200, 2, 64, 2, 64, 16, 16, /*mlp*/ 200, 128, 64, 60000, 10000});
  e.knobs.insert(e.knobs.end(), task_knobs.begin(), task_knobs.end());
  e.run = run_variants;
  return e;
}

}  // namespace lab
}  // namespace specopt
