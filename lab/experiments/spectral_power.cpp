// Paper 3's controlled comparison of the spectral-power family at laboratory scale: the Adam
// family (Adam, AdamS, AdamQ, AdamZ: Ψ_p of Adam's normalised update) and the momentum family
// (mSGD, mSGDS, mSGDQ, mSGDZ = Muon: Ψ_p of the momentum buffer), p = 1, ½, ¼, 0, each over a
// learning-rate grid around its own centre (the best matrix lrs published for GPT-2, which the Ψ_p
// scaling spreads over three decades), plus the practitioners' defaults (Muon with Nesterov
// 0.95 and the shape rule, and AdamW), on two tasks: the character-level GPT on the Brown
// corpus and the MLP on Fashion-MNIST. Vector parameters use AdamW, betas (0.9, 0.95).
//
// Every run goes through lab::train (the trainer of `specopt train`), without writing files.
// A run "diverged" when it stopped on a non-finite loss or ended with a validation loss above
// its initial one.
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include "lab/experiments/experiments.h"
#include "lab/experiments/judge.h"
#include "lab/experiments/train_tasks.h"
#include "lab/train/config.h"
#include "lab/train/trainer.h"

namespace specopt {
namespace lab {

namespace {

const std::vector<std::string> kAdamFamily = {"adam", "adams", "adamq", "adamz"};
const std::vector<std::string> kMomentumFamily = {"msgd", "msgds", "msgdq", "msgdz"};
const std::map<std::string, double> kPower = {{"adam", 1},    {"adams", 0.5}, {"adamq", 0.25},
                                              {"adamz", 0},   {"msgd", 1},    {"msgds", 0.5},
                                              {"msgdq", 0.25}, {"msgdz", 0}};

struct Run {
  std::string task, variant;
  double lr = 0;
  int64_t seed = 0;
  double initial = 0, val_loss = 0, val_accuracy = -1;
  bool diverged = false;
  double seconds = 0;
};

Run run_one(RunContext& ctx, const TrainConfig& base, const std::string& task,
            const std::string& variant, const std::string& optimizer, double lr, int64_t seed) {
  auto c = base;
  c.optimizer.name = optimizer;
  c.optimizer.lr = lr;
  c.seed = static_cast<uint64_t>(seed);
  TrainHooks h;
  h.quiet = true;
  h.write_files = false;
  const auto r = train(c, h);
  Run run;
  run.task = task;
  run.variant = variant;
  run.lr = lr;
  run.seed = seed;
  run.initial = r.initial_val_loss;
  run.val_loss = r.status == "completed" ? r.final_val_loss : std::numeric_limits<double>::quiet_NaN();
  run.val_accuracy = r.status == "completed" ? r.final_val_accuracy : -1;
  run.diverged = r.status != "completed" || !(r.final_val_loss <= r.initial_val_loss);
  run.seconds = r.seconds;
  std::ostringstream os;
  os << task << " " << variant << " lr=" << lr << " seed=" << seed << ": val_loss "
     << run.val_loss << (run.diverged ? " (diverged)" : "") << " [" << r.seconds << " s]";
  ctx.log(os.str());
  return run;
}

// Mean and spread (half the range) over seeds of the final validation loss at each lr of one
// (task, variant); a diverged seed makes the point diverged.
struct Point {
  double lr, loss, accuracy;
  bool diverged;
  SeedStats stats;
};

std::vector<Point> curve(const std::vector<Run>& runs, const std::string& task,
                         const std::string& variant) {
  std::map<double, std::vector<const Run*>> by_lr;
  for (const auto& r : runs) {
    if (r.task == task && r.variant == variant) by_lr[r.lr].push_back(&r);
  }
  std::vector<Point> out;
  for (const auto& [lr, rs] : by_lr) {
    Point p{lr, 0, 0, false, {}};
    std::vector<double> losses;
    for (const auto* r : rs) {
      p.diverged = p.diverged || r->diverged;
      losses.push_back(r->val_loss);
      p.accuracy += r->val_accuracy / static_cast<double>(rs.size());
    }
    p.stats = seed_stats(losses);
    p.loss = p.stats.mean;
    out.push_back(p);
  }
  return out;
}

double initial_loss(const std::vector<Run>& runs, const std::string& task) {
  for (const auto& r : runs) {
    if (r.task == task) return r.initial;
  }
  return 0;
}

}  // namespace

Experiment spectral_power_experiment() {
  Experiment e;
  e.name = "spectral-power";
  e.paper = 3;
  e.summary =
      "Adam/mSGD × p ∈ {1, ½, ¼, 0} over lr grids on a char-GPT (Brown) and an MLP "
      "(Fashion-MNIST): best-lr tables, family spreads, lr sensitivity, divergences";
  e.full_runtime =
      "about 2 hours of CPU on 2 cores (3 seeds, 7-point grids: 2 tasks × 3 × 58 = 348 runs; estimated from the "
      "quick runs' per-run times, not measured)";
  e.knobs = {
      {"tasks", "gpt,mlp", "gpt,mlp", "tasks to run: gpt (char-level GPT on Brown), mlp (Fashion-MNIST)"},
      {"variants", "adam,adams,adamq,adamz,msgd,msgds,msgdq,msgdz",
       "adam,adams,adamq,adamz,msgd,msgds,msgdq,msgdz", "spectral-power variants swept"},
      {"defaults", "true", "true", "also run the practitioners' defaults (Muon 0.02 and AdamW 3e-3)"},
      // Centres, in variant order: the published best matrix lrs (arXiv 2602.04669, GPT-2 124M: 4e-3, 1e-2, 2e-2,
      // 7e-3, 5, 0.2, 0.04, 7e-3) moved where a one-seed pilot on the quick MLP put the optimum
      // (AdamZ 2e-2, mSGD 0.3, mSGDS/Q 0.1, Muon 2e-2): gradients of these small models are
      // clipped to norm 1, so p = 1 momentum needs far less than 5. The grid is
      // lr_factors × centre: two decades in quick mode, three in full.
      {"centers", "4e-3,1e-2,2e-2,2e-2,0.3,0.1,0.1,2e-2", "4e-3,1e-2,2e-2,2e-2,0.3,0.1,0.1,2e-2",
       "grid centre per variant, in the order adam,adams,adamq,adamz,msgd,msgds,msgdq,msgdz"},
      {"lr_factors", "0.1,0.316,1,3.16,10", "0.0316,0.1,0.316,1,3.16,10,31.6",
       "multipliers of the centre forming each variant's lr grid"},
      {"seeds", "0,1", "0,1,2", "seeds (added to --seed); losses are reported as mean ± spread (half the range)"},
      {"vector_lr", "3e-3", "3e-3", "AdamW lr of vectors, embeddings and heads (fixed, as in the paper)"},
  };
  const auto tasks = train_task_knobs(
      {/*gpt*/ 150, 2, 64, 2, 64, 16, 4, /*mlp*/ 150, 128, 64, 12000, 2000},
      {/*gpt*/ 400, 2, 96, 4, 64, 16, 16, /*mlp*/ 400, 256, 128, 60000, 10000});
  e.knobs.insert(e.knobs.end(), tasks.begin(), tasks.end());
  e.run = [](RunContext& ctx) {
    const auto& p = ctx.params();
    const auto tasks = p.texts("tasks");
    const auto variants = p.texts("variants");
    const auto centers = p.reals("centers");
    const auto factors = p.reals("lr_factors");
    const auto seeds = p.integers("seeds");
    const std::vector<std::string> all = {"adam", "adams", "adamq", "adamz",
                                          "msgd", "msgds", "msgdq", "msgdz"};
    if (centers.size() != all.size()) {
      throw std::invalid_argument("--set centers: expected 8 values (one per variant), got " +
                                  std::to_string(centers.size()));
    }
    std::map<std::string, double> center;
    for (size_t i = 0; i < all.size(); ++i) center[all[i]] = centers[i];
    for (const auto& v : variants) {
      if (!center.count(v)) throw std::invalid_argument("--set variants: unknown variant '" + v + "'");
    }

    std::vector<Run> runs, defaults;
    for (const auto& task : tasks) {
      const auto base = train_task_config(p, task);
      for (const auto s : seeds) {
        const int64_t seed = static_cast<int64_t>(ctx.seed()) + s;
        for (const auto& v : variants) {
          for (const double f : factors) {
            runs.push_back(run_one(ctx, base, task, v, v, center[v] * f, seed));
          }
        }
        if (p.flag("defaults")) {
          defaults.push_back(run_one(ctx, base, task, "muon_default", "muon", 0.02, seed));
          defaults.push_back(run_one(ctx, base, task, "adamw_default", "adamw", 3e-3, seed));
        }
      }
    }

    // ---- every run ----
    std::vector<std::vector<RunContext::Cell>> rows;
    for (const auto* list : {&runs, &defaults}) {
      for (const auto& r : *list) {
        rows.push_back({r.task, r.variant, r.lr, r.seed, r.initial, r.val_loss,
                        r.val_accuracy >= 0 ? RunContext::Cell(r.val_accuracy) : RunContext::Cell(nullptr),
                        r.diverged ? 1 : 0, r.seconds});
      }
    }
    ctx.write_csv("runs", {"task", "variant", "lr", "seed", "initial_val_loss", "val_loss",
                           "val_accuracy", "diverged", "seconds"}, rows);

    auto& results = ctx.results();
    nlohmann::json spreads = nlohmann::json::object(), sens_all = nlohmann::json::object(),
                   muon_vs_adam = nlohmann::json::object();
    int spread_tasks_ok = 0, stability_tasks_ok = 0, tasks_with_both = 0;
    std::vector<bool> muon_wins;
    for (const auto& task : tasks) {
      const double init = initial_loss(runs, task);
      // ---- best-lr table ----
      std::vector<std::vector<RunContext::Cell>> best_rows;
      nlohmann::json best = nlohmann::json::object();
      std::map<std::string, double> best_loss;
      std::map<std::string, SeedStats> best_stats;
      nlohmann::json sens = nlohmann::json::object();
      for (const auto& v : variants) {
        const auto pts = curve(runs, task, v);
        const Point* b = nullptr;
        int diverged = 0;
        double excess = 0;
        for (const auto& pt : pts) {
          diverged += pt.diverged ? 1 : 0;
          if (!pt.diverged && (b == nullptr || pt.loss < b->loss)) b = &pt;
        }
        // Sensitivity: mean excess of the grid's losses over the best one, a diverged point
        // counting as the initial loss (what "no progress" costs).
        const double best_v = b != nullptr ? b->loss : init;
        for (const auto& pt : pts) excess += (pt.diverged ? init : std::min(pt.loss, init)) - best_v;
        excess /= std::max<size_t>(pts.size(), 1);
        sens[v] = {{"p", kPower.at(v)}, {"divergences", diverged}, {"grid_points", pts.size()},
                   {"mean_excess_loss", excess}};
        if (b != nullptr) {
          best_loss[v] = b->loss;
          best_stats[v] = b->stats;
          best[v] = {{"lr", b->lr}, {"val_loss_mean", b->loss}, {"val_loss_spread", b->stats.spread},
                     {"seeds", b->stats.seeds}};
          if (task == "mlp") best[v]["val_accuracy"] = b->accuracy;
          best_rows.push_back({v, kPower.at(v), b->lr, b->loss, b->stats.spread, b->stats.seeds,
                               task == "mlp" ? RunContext::Cell(b->accuracy) : RunContext::Cell(nullptr),
                               diverged});
        } else {
          best[v] = "diverged at every lr";
          best_rows.push_back({v, kPower.at(v), nullptr, nullptr, nullptr, nullptr, nullptr, diverged});
        }
      }
      for (const auto* list : {&defaults}) {
        for (const auto& name : {"muon_default", "adamw_default"}) {
          const auto pts = curve(*list, task, name);
          if (pts.empty()) continue;
          best[name] = {{"lr", pts[0].lr}, {"val_loss_mean", pts[0].loss},
                        {"val_loss_spread", pts[0].stats.spread}, {"seeds", pts[0].stats.seeds},
                        {"diverged", pts[0].diverged}};
          const bool ok = !pts[0].diverged;
          best_rows.push_back({name, nullptr, pts[0].lr, ok ? RunContext::Cell(pts[0].loss) : RunContext::Cell(nullptr),
                               ok ? RunContext::Cell(pts[0].stats.spread) : RunContext::Cell(nullptr),
                               pts[0].stats.seeds,
                               task == "mlp" && ok ? RunContext::Cell(pts[0].accuracy) : RunContext::Cell(nullptr),
                               pts[0].diverged ? 1 : 0});
        }
      }
      ctx.write_csv("best_lr_" + task,
                    {"variant", "p", "best_lr", "val_loss_mean", "val_loss_spread", "seeds",
                     "val_accuracy", "diverged_points"},
                    best_rows);
      results["best_lr"][task] = best;
      results["sensitivity"][task] = sens;
      sens_all[task] = sens;

      // ---- lr curves: one column per variant, a row per lr (empty where a variant has no run
      // at that lr or diverged) ----
      std::set<double> lrs;
      for (const auto& r : runs) {
        if (r.task == task) lrs.insert(r.lr);
      }
      std::vector<std::string> cols = {"lr"};
      for (const auto& v : variants) cols.push_back(v);
      std::vector<std::vector<RunContext::Cell>> curve_rows;
      for (const double lr : lrs) {
        std::vector<RunContext::Cell> row = {lr};
        for (const auto& v : variants) {
          RunContext::Cell cell = nullptr;
          for (const auto& pt : curve(runs, task, v)) {
            if (pt.lr == lr && !pt.diverged) cell = pt.loss;
          }
          row.push_back(cell);
        }
        curve_rows.push_back(row);
      }
      ctx.write_csv("lr_curve_" + task, cols, curve_rows);
      std::vector<std::string> adam_cols, mom_cols;
      for (const auto& v : variants) {
        (v.rfind("adam", 0) == 0 ? adam_cols : mom_cols).push_back(v);
      }
      const std::string what = task == "gpt" ? "char-GPT on Brown" : "MLP on Fashion-MNIST";
      if (!adam_cols.empty()) {
        ctx.plot({"lr_curve_" + task + "_adam", "lr_curve_" + task, "lr", adam_cols,
                  "Adam family, " + what, "matrix learning rate", "final validation loss", true,
                  false, true});
      }
      if (!mom_cols.empty()) {
        ctx.plot({"lr_curve_" + task + "_msgd", "lr_curve_" + task, "lr", mom_cols,
                  "momentum family, " + what, "matrix learning rate", "final validation loss",
                  true, false, true});
      }

      // ---- family spreads ----
      auto spread = [&](const std::vector<std::string>& fam) -> nlohmann::json {
        double lo = std::numeric_limits<double>::infinity(), hi = -lo;
        int n = 0;
        for (const auto& v : fam) {
          if (!best_loss.count(v)) continue;
          lo = std::min(lo, best_loss[v]);
          hi = std::max(hi, best_loss[v]);
          ++n;
        }
        // A variant that diverged at every lr has no best loss: it counts as the initial loss.
        for (const auto& v : fam) {
          if (std::find(variants.begin(), variants.end(), v) != variants.end() && !best_loss.count(v)) {
            hi = std::max(hi, init);
            ++n;
          }
        }
        if (n < 2) return nullptr;
        return hi - lo;
      };
      const auto sa = spread(kAdamFamily), sm = spread(kMomentumFamily);
      spreads[task] = {{"adam_family", sa}, {"momentum_family", sm}};
      if (!sa.is_null() && !sm.is_null()) {
        ++tasks_with_both;
        const double a = sa.get<double>(), m = sm.get<double>();
        spreads[task]["ratio"] = m > 0 ? nlohmann::json(a / m) : nlohmann::json(nullptr);
        if (judge_family_spread(a, m)) ++spread_tasks_ok;
        // (ii): p = 0 vs p = 1 in the momentum family: fewer (or as few) divergences and a
        // flatter curve.
        if (sens.contains("msgd") && sens.contains("msgdz")) {
          if (judge_small_p(sens["msgdz"]["divergences"].get<int>(), sens["msgd"]["divergences"].get<int>(),
                            sens["msgdz"]["mean_excess_loss"].get<double>(),
                            sens["msgd"]["mean_excess_loss"].get<double>()))
            ++stability_tasks_ok;
        }
      }
      // (iii), judged from the data: a task where Muon's best mean loss is not below Adam's by
      // more than the seed spreads shows that Muon does not always win. A variant that
      // diverged at every lr has no best point (Adam's: Muon wins; Muon's: it does not).
      const bool has_muon = std::find(variants.begin(), variants.end(), "msgdz") != variants.end();
      const bool has_adam = std::find(variants.begin(), variants.end(), "adam") != variants.end();
      if (has_muon && has_adam) {
        const SeedStats muon = best_stats.count("msgdz") ? best_stats["msgdz"] : SeedStats{};
        const SeedStats adam = best_stats.count("adam") ? best_stats["adam"] : SeedStats{};
        const bool wins = muon_beats_adam(muon, adam);
        muon_wins.push_back(wins);
        auto stat = [](const SeedStats& st) {
          return std::isfinite(st.mean) ? nlohmann::json({{"mean", st.mean}, {"spread", st.spread}, {"seeds", st.seeds}})
                                        : nlohmann::json("diverged at every lr");
        };
        muon_vs_adam[task] = {{"muon_msgdz", stat(muon)}, {"adam", stat(adam)},
                              {"margin_adam_minus_muon", std::isfinite(muon.mean) && std::isfinite(adam.mean)
                                                             ? nlohmann::json(adam.mean - muon.mean) : nlohmann::json(nullptr)},
                              {"muon_wins_beyond_seed_spread", wins}};
      }
    }
    results["spreads"] = spreads;

    // ---- diverged runs ----
    std::vector<std::vector<RunContext::Cell>> div_rows;
    nlohmann::json div = nlohmann::json::array();
    for (const auto* list : {&runs, &defaults}) {
      for (const auto& r : *list) {
        if (!r.diverged) continue;
        div_rows.push_back({r.task, r.variant, r.lr, r.seed,
                            std::isfinite(r.val_loss) ? RunContext::Cell(r.val_loss) : RunContext::Cell(nullptr)});
        div.push_back({{"task", r.task}, {"variant", r.variant}, {"lr", r.lr}, {"seed", r.seed}});
      }
    }
    ctx.write_csv("diverged", {"task", "variant", "lr", "seed", "val_loss"}, div_rows);
    results["diverged"] = div;

    ctx.claim("family_spread",
              "(i) the Adam family's best-lr spread is much smaller (≤ ½) than the momentum "
              "family's",
              verdict_of(spread_tasks_ok, tasks_with_both),
              {{"spreads", spreads}, {"tasks_holding", spread_tasks_ok}, {"tasks", tasks_with_both},
               {"paper", {{"adam_family", 0.009}, {"momentum_family", 0.216}}}});
    ctx.claim("small_p_stabilises",
              "(ii) smaller p stabilises first-moment updates: mSGDZ (p = 0) has no more "
              "divergences and a flatter lr curve than mSGD (p = 1)",
              verdict_of(stability_tasks_ok, tasks_with_both),
              {{"sensitivity", sens_all}, {"tasks_holding", stability_tasks_ok},
               {"tasks", tasks_with_both}});
    // The practitioners' defaults, reported beside the claim (not part of its verdict).
    for (const auto& task : tasks) {
      const auto& b = results["best_lr"][task];
      if (b.contains("muon_default") && b.contains("adamw_default") && muon_vs_adam.contains(task))
        muon_vs_adam[task]["defaults"] = {{"muon", b["muon_default"]["val_loss_mean"]},
                                          {"adamw", b["adamw_default"]["val_loss_mean"]}};
    }
    ctx.claim("muon_vs_adam",
              "(iii) Muon (mSGDZ) does not consistently beat Adam: on at least one task Muon's best "
              "mean validation loss is not below Adam's by more than their seed spreads (half "
              "ranges) together",
              judge_muon_vs_adam(muon_wins),
              muon_vs_adam.empty() ? nlohmann::json({{"note", "Muon (msgdz) and Adam were not both run"}})
                                   : muon_vs_adam);
  };
  return e;
}

}  // namespace lab
}  // namespace specopt
