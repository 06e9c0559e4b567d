// The analysis of the variants comparison (variants.h): runs → per-rule summaries → claims.
#include <algorithm>
#include <cmath>
#include <functional>
#include <map>

#include "lab/experiments/variants.h"
#include "lab/experiments/verdicts.h"

namespace specopt {
namespace lab {

std::string divergence_reason(const std::string& status, const std::string& message,
                              double final_val_loss, double initial_val_loss) {
  if (status != "completed") return message.empty() ? status : message;
  if (!std::isfinite(final_val_loss)) return "non-finite final validation loss";
  if (!(final_val_loss < initial_val_loss)) {
    return "final validation loss " + fmt_num(final_val_loss) + " not below the initial " +
           fmt_num(initial_val_loss);
  }
  return "";
}

RuleSummary summarize_rule(const std::vector<VariantRun>& runs, const std::string& task,
                           const std::string& rule, const std::string& family) {
  RuleSummary s;
  s.rule = rule;
  s.family = family;
  std::map<double, std::vector<const VariantRun*>> by_lr;
  double initial = kVariantNaN, step = 0, opt = 0;
  int timed = 0;
  for (const auto& r : runs) {
    if (r.task != task || r.rule != rule) continue;
    by_lr[r.lr].push_back(&r);
    ++s.runs;
    s.divergences += r.diverged ? 1 : 0;
    if (std::isfinite(r.initial_val_loss)) initial = r.initial_val_loss;
    if (std::isfinite(r.step_seconds) && std::isfinite(r.optimizer_seconds)) {
      step += r.step_seconds;
      opt += r.optimizer_seconds;
      ++timed;
    }
  }
  if (timed > 0) {
    s.step_ms = 1e3 * step / timed;
    s.optimizer_ms = 1e3 * opt / timed;
  }
  const SweepPoint* best = nullptr;
  std::vector<const VariantRun*> best_runs;
  for (const auto& [lr, rs] : by_lr) {
    SweepPoint p;
    p.lr = lr;
    std::vector<double> losses;
    for (const auto* r : rs) {
      if (r->diverged) {
        ++p.diverged_seeds;
      } else {
        losses.push_back(r->val_loss);
      }
    }
    p.stats = seed_stats(losses);
    s.sweep.push_back(p);
  }
  for (const auto& p : s.sweep) {
    if (!p.diverged() && (best == nullptr || p.stats.mean < best->stats.mean)) best = &p;
  }
  if (best != nullptr) {
    s.best_lr = best->lr;
    s.best = best->stats;
    s.best_at_edge = s.sweep.size() > 1 && (best == &s.sweep.front() || best == &s.sweep.back());
    best_runs = by_lr[best->lr];
    double acc = 0;
    int with_acc = 0;
    size_t length = best_runs.front()->train_losses.size();
    for (const auto* r : best_runs) {
      length = std::min(length, r->train_losses.size());
      if (std::isfinite(r->val_accuracy)) {
        acc += r->val_accuracy;
        ++with_acc;
      }
    }
    if (with_acc > 0) s.best_accuracy = acc / with_acc;
    s.best_curve.assign(length, 0.0);
    for (const auto* r : best_runs) {
      for (size_t t = 0; t < length; ++t) s.best_curve[t] += r->train_losses[t] / best_runs.size();
    }
  }
  // Sensitivity over the whole sweep; a diverged point stands at the initial loss.
  double lo = INFINITY, hi = -INFINITY;
  for (const auto& p : s.sweep) {
    const double v = p.diverged() ? initial : p.stats.mean;
    if (!std::isfinite(v)) continue;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  if (std::isfinite(lo)) s.lr_sensitivity = hi - lo;
  return s;
}

Comparison compare_best(const SeedStats& a, const SeedStats& b) {
  Comparison c;
  const bool fa = std::isfinite(a.mean), fb = std::isfinite(b.mean);
  if (!fa || !fb) {
    c.outcome = fa ? "lower" : fb ? "higher" : "tie";
    return c;
  }
  c.margin = b.mean - a.mean;
  c.noise = a.spread + b.spread;
  c.outcome = c.margin > c.noise ? "lower" : -c.margin > c.noise ? "higher" : "tie";
  return c;
}

namespace {

nlohmann::json finite_or_null(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
}

const RuleSummary* find(const std::vector<RuleSummary>& rules, const std::string& name) {
  for (const auto& r : rules) {
    if (r.rule == name) return &r;
  }
  return nullptr;
}

// One side of a comparison, for a claim's numbers.
nlohmann::json side(const RuleSummary& r) {
  return {{"best_lr", finite_or_null(r.best_lr)},
          {"val_loss", finite_or_null(r.best.mean)},
          {"spread", finite_or_null(std::isfinite(r.best.mean) ? r.best.spread : kVariantNaN)},
          {"seeds", r.best.seeds},
          {"divergences", r.divergences}};
}

nlohmann::json comparison_json(const Comparison& c) {
  return {{"margin", finite_or_null(c.margin)},
          {"noise", finite_or_null(c.noise)},
          {"outcome", c.outcome}};
}

// A claim "`a` vs `b`" judged on every task where both ran: `holds` decides per task.
void pairwise_claim(std::vector<Claim>& out, const std::map<std::string, std::vector<RuleSummary>>& by_task,
                    const std::string& id, const std::string& statement, const std::string& a,
                    const std::string& b, const std::function<bool(const Comparison&)>& holds,
                    const std::string& paper) {
  Claim claim;
  claim.id = id;
  claim.statement = statement;
  int holding = 0, tasks = 0;
  for (const auto& [task, rules] : by_task) {
    const RuleSummary* ra = find(rules, a);
    const RuleSummary* rb = find(rules, b);
    if (ra == nullptr || rb == nullptr) continue;
    const Comparison c = compare_best(ra->best, rb->best);
    const bool ok = holds(c);
    ++tasks;
    holding += ok ? 1 : 0;
    auto j = comparison_json(c);
    j[a] = side(*ra);
    j[b] = side(*rb);
    j["holds"] = ok;
    claim.numbers[task] = j;
  }
  if (tasks == 0) return;
  claim.verdict = verdict_of(holding, tasks);
  claim.numbers["tasks_holding"] = holding;
  claim.numbers["tasks"] = tasks;
  claim.numbers["paper"] = paper;
  out.push_back(claim);
}

}  // namespace

std::vector<Claim> variant_claims(const std::map<std::string, std::vector<RuleSummary>>& by_task) {
  std::vector<Claim> out;
  const auto lower = [](const Comparison& c) { return c.outcome == "lower"; };
  const auto not_higher = [](const Comparison& c) { return c.outcome != "higher"; };
  const std::string noise = " by more than the two seed spreads (half ranges) together";
  pairwise_claim(out, by_task, "normuon_beats_muon",
                 "NorMuon's best validation loss is below Muon's" + noise, "normuon", "muon", lower,
                 "arXiv 2510.05491: NorMuon ahead of Muon in its pre-training runs (11% better "
                 "training efficiency than Muon at 1.1B parameters)");
  pairwise_claim(out, by_task, "adamuon_beats_muon",
                 "AdaMuon's best validation loss is below Muon's" + noise, "adamuon", "muon", lower,
                 "arXiv 2507.11005: AdaMuon ahead of Muon in its GPT-2 pre-training runs");
  pairwise_claim(out, by_task, "cautious_wd_no_harm",
                 "cautious weight decay does not hurt: Muon + cautious WD's best validation loss is "
                 "not above Muon's (no decay)" + noise,
                 "muon_cwd", "muon", not_higher,
                 "arXiv 2510.12402: cautious WD keeps the optimiser's objective and only removes "
                 "decay that opposes the update");
  pairwise_claim(out, by_task, "cautious_wd_improves",
                 "cautious weight decay beats decoupled weight decay at the same λ: Muon + cautious "
                 "WD's best validation loss is below Muon + WD's" + noise,
                 "muon_cwd", "muon_wd", lower,
                 "arXiv 2510.12402: lower final loss than decoupled WD for AdamW, Lion and Muon "
                 "at the same hyper-parameters");

  // Every Muon variant against AdamW, each (task, variant) a case; the numbers hold the whole
  // table of the task, every rule with its measures.
  Claim adamw;
  adamw.id = "muon_variants_beat_adamw";
  adamw.statement = "every Muon variant's best validation loss is below AdamW's at the same "
                    "budget" + noise;
  int holding = 0, cases = 0;
  for (const auto& [task, rules] : by_task) {
    const RuleSummary* base = find(rules, "adamw");
    if (base == nullptr) continue;
    nlohmann::json table = nlohmann::json::object();
    for (const auto& r : rules) {
      nlohmann::json row = side(r);
      row["family"] = r.family;
      row["best_at_edge"] = r.best_at_edge;
      row["lr_sensitivity"] = finite_or_null(r.lr_sensitivity);
      row["step_ms"] = finite_or_null(r.step_ms);
      row["optimizer_ms"] = finite_or_null(r.optimizer_ms);
      if (std::isfinite(r.best_accuracy)) row["val_accuracy"] = r.best_accuracy;
      if (r.rule != "adamw") {
        const Comparison c = compare_best(r.best, base->best);
        row["margin_vs_adamw"] = finite_or_null(c.margin);
        row["noise"] = finite_or_null(c.noise);
        row["vs_adamw"] = c.outcome;
        if (r.family == "muon") {
          ++cases;
          holding += c.outcome == "lower" ? 1 : 0;
        }
      }
      table[r.rule] = row;
    }
    adamw.numbers[task] = table;
  }
  if (cases > 0) {
    adamw.verdict = verdict_of(holding, cases);
    adamw.numbers["cases_holding"] = holding;
    adamw.numbers["cases"] = cases;
    adamw.numbers["paper"] =
        "arXiv 2510.05491 and 2507.11005 report NorMuon and AdaMuon ahead of AdamW; Muon's "
        "published speed-ups over AdamW are at the same token budget";
    out.push_back(adamw);
  }
  return out;
}

}  // namespace lab
}  // namespace specopt
