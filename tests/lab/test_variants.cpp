// `specopt run variants`: the analysis on constructed runs (every claim comes out reproduced,
// partial and not reproduced as the numbers say; a tie inside the seed spreads decides
// nothing; divergences are counted, never fatal), then tiny real runs on fixture data (a
// blow-up lr is counted as a divergence and the experiment completes; the tables, sweeps and
// curves are written and drawn; the report shows the claims' tables and the figures) and its
// place in the registry (`specopt list`, `reproduce`).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "../train/fixtures.h"
#include "lab/experiment.h"
#include "lab/experiments/variants.h"
#include "lab/report.h"
#include "read_file.h"

namespace {

namespace L = specopt::lab;
namespace fs = std::filesystem;
using L::Verdict;
using L::VariantRun;

// Two seeds of `rule` on `task` at `lr` with final validation losses `a` and `b` (initial 4).
void add(std::vector<VariantRun>& runs, const std::string& task, const std::string& rule,
         double lr, double a, double b) {
  int64_t seed = 0;
  for (double v : {a, b}) {
    VariantRun r;
    r.task = task;
    r.rule = rule;
    r.lr = lr;
    r.seed = seed++;
    r.initial_val_loss = 4;
    r.val_loss = v;
    r.step_seconds = 0.01;
    r.optimizer_seconds = 0.004;
    r.train_losses = {4, 3, v};
    runs.push_back(r);
  }
}

void add_diverged(std::vector<VariantRun>& runs, const std::string& task, const std::string& rule,
                  double lr, const std::string& why) {
  for (int64_t seed : {0, 1}) {
    VariantRun r;
    r.task = task;
    r.rule = rule;
    r.lr = lr;
    r.seed = seed;
    r.initial_val_loss = 4;
    r.diverged = true;
    r.why = why;
    r.train_losses = {4, NAN};
    runs.push_back(r);
  }
}

const std::map<std::string, std::string> kFamily = {
    {"muon", "muon"},    {"normuon", "muon"},  {"adamuon", "muon"}, {"polargrad", "muon"},
    {"muon_wd", "muon"}, {"muon_cwd", "muon"}, {"adamw", "adamw"},  {"adamz", "spectral_power"}};

std::map<std::string, L::Claim> claims_of(const std::vector<VariantRun>& runs) {
  std::map<std::string, std::vector<L::RuleSummary>> by_task;
  std::set<std::pair<std::string, std::string>> seen;
  for (const auto& r : runs) {
    if (seen.insert({r.task, r.rule}).second)
      by_task[r.task].push_back(L::summarize_rule(runs, r.task, r.rule, kFamily.at(r.rule)));
  }
  std::map<std::string, L::Claim> out;
  for (auto& c : L::variant_claims(by_task)) out[c.id] = c;
  return out;
}

// Every rule at a loss of `base` + its offset (both seeds ± 0.005), on gpt and mlp.
std::vector<VariantRun> table(std::map<std::string, double> offset) {
  std::vector<VariantRun> runs;
  for (const char* task : {"gpt", "mlp"}) {
    for (const auto& [rule, family] : kFamily) {
      const double v = 2.0 + offset[rule];
      add(runs, task, rule, 0.01, v + 0.3, v + 0.31);  // a worse lr
      add(runs, task, rule, 0.02, v - 0.005, v + 0.005);
    }
  }
  return runs;
}

TEST(Variants, SummaryPicksTheBestLrCountsDivergencesAndMeasuresSensitivity) {
  std::vector<VariantRun> runs;
  add(runs, "gpt", "muon", 0.01, 2.5, 2.6);
  add(runs, "gpt", "muon", 0.02, 2.0, 2.2);
  add_diverged(runs, "gpt", "muon", 0.04, "non-finite training loss (nan) at step 3");
  add(runs, "mlp", "muon", 0.02, 0.4, 0.4);  // another task: not mixed in
  const auto s = L::summarize_rule(runs, "gpt", "muon", "muon");
  EXPECT_EQ(s.runs, 6);
  EXPECT_EQ(s.divergences, 2);
  ASSERT_EQ(s.sweep.size(), 3u);
  EXPECT_TRUE(s.sweep[2].diverged());
  EXPECT_DOUBLE_EQ(s.best_lr, 0.02);
  EXPECT_DOUBLE_EQ(s.best.mean, 2.1);
  EXPECT_NEAR(s.best.spread, 0.1, 1e-12);
  EXPECT_FALSE(s.best_at_edge);
  // The diverged point counts as the initial loss 4: range 4 − 2.1.
  EXPECT_NEAR(s.lr_sensitivity, 1.9, 1e-12);
  EXPECT_NEAR(s.step_ms, 10, 1e-9);  // the diverged runs had no timing
  EXPECT_NEAR(s.optimizer_ms, 4, 1e-9);
  ASSERT_EQ(s.best_curve.size(), 3u);
  EXPECT_DOUBLE_EQ(s.best_curve[2], 2.1);

  // One diverged seed makes the point diverged; every point diverged leaves no best point.
  std::vector<VariantRun> half;
  add(half, "gpt", "adamw", 0.01, 2.0, 2.0);
  half[1].diverged = true;
  half[1].why = "blow-up";
  add_diverged(half, "gpt", "adamw", 0.1, "error");
  const auto h = L::summarize_rule(half, "gpt", "adamw", "adamw");
  EXPECT_EQ(h.divergences, 3);
  EXPECT_TRUE(std::isnan(h.best.mean));
  EXPECT_TRUE(std::isnan(h.best_lr));
  EXPECT_DOUBLE_EQ(h.lr_sensitivity, 0.0);  // both points at the initial loss
  EXPECT_TRUE(h.best_curve.empty());
}

TEST(Variants, DivergenceReasons) {
  EXPECT_EQ(L::divergence_reason("completed", "", 2.0, 4.0), "");
  EXPECT_NE(L::divergence_reason("completed", "", 4.5, 4.0).find("not below the initial"),
            std::string::npos);
  EXPECT_NE(L::divergence_reason("completed", "", 4.0, 4.0), "");  // no progress at all
  EXPECT_NE(L::divergence_reason("completed", "", NAN, 4.0), "");
  EXPECT_EQ(L::divergence_reason("diverged", "non-finite gradient norm (inf) at step 7", 0, 4.0),
            "non-finite gradient norm (inf) at step 7");
  EXPECT_EQ(L::divergence_reason("error", "", 0, 4.0), "error");
}

TEST(Variants, ComparisonsAreDecidedBeyondTheSeedSpreads) {
  const auto st = [](std::vector<double> v) { return L::seed_stats(v); };
  auto c = L::compare_best(st({1.90, 1.92}), st({2.00, 2.02}));
  EXPECT_EQ(c.outcome, "lower");
  EXPECT_NEAR(c.margin, 0.10, 1e-12);
  EXPECT_NEAR(c.noise, 0.02, 1e-12);
  EXPECT_EQ(L::compare_best(st({2.00, 2.02}), st({1.90, 1.92})).outcome, "higher");
  EXPECT_EQ(L::compare_best(st({1.90, 2.10}), st({2.00, 2.02})).outcome, "tie");  // noisy seeds
  EXPECT_EQ(L::compare_best(L::SeedStats{}, st({2.0})).outcome, "higher");  // diverged everywhere
  EXPECT_EQ(L::compare_best(st({2.0}), L::SeedStats{}).outcome, "lower");
  EXPECT_EQ(L::compare_best(L::SeedStats{}, L::SeedStats{}).outcome, "tie");
}

TEST(Variants, EachClaimComesOutAsTheNumbersSay) {
  // The papers' picture: NorMuon and AdaMuon ahead of Muon, cautious WD ahead of WD and no
  // worse than Muon, every variant ahead of AdamW.
  auto good = claims_of(table({{"normuon", -0.1}, {"adamuon", -0.1}, {"muon_wd", 0.05},
                               {"muon_cwd", 0.0}, {"polargrad", 0.02}, {"adamw", 0.3},
                               {"adamz", 0.1}}));
  ASSERT_EQ(good.size(), 5u);
  for (const auto& [id, c] : good) EXPECT_EQ(c.verdict, Verdict::reproduced) << id << c.numbers.dump();
  EXPECT_EQ(good["normuon_beats_muon"].numbers["gpt"]["outcome"], "lower");
  EXPECT_NEAR(good["normuon_beats_muon"].numbers["gpt"]["margin"].get<double>(), 0.1, 1e-9);
  EXPECT_EQ(good["muon_variants_beat_adamw"].numbers["cases"], 12);  // 6 variants × 2 tasks
  EXPECT_TRUE(good["muon_variants_beat_adamw"].numbers["mlp"].contains("adamz"));  // in the table

  // The opposite: NorMuon and AdaMuon behind Muon, cautious WD behind both, AdamW ahead.
  auto bad = claims_of(table({{"normuon", 0.1}, {"adamuon", 0.2}, {"muon_wd", 0.0},
                              {"muon_cwd", 0.1}, {"adamw", -0.3}}));
  ASSERT_EQ(bad.size(), 5u);
  for (const auto& [id, c] : bad) EXPECT_EQ(c.verdict, Verdict::not_reproduced) << id << c.numbers.dump();
  EXPECT_EQ(bad["cautious_wd_no_harm"].numbers["gpt"]["outcome"], "higher");

  // Ties inside the seed spreads (±0.005 each side: noise 0.01): a gain is not shown, no harm is.
  auto tie = claims_of(table({{"normuon", -0.006}, {"muon_cwd", 0.006}, {"muon_wd", 0.004}}));
  EXPECT_EQ(tie["normuon_beats_muon"].verdict, Verdict::not_reproduced);
  EXPECT_EQ(tie["normuon_beats_muon"].numbers["mlp"]["outcome"], "tie");
  EXPECT_EQ(tie["cautious_wd_no_harm"].verdict, Verdict::reproduced);
  EXPECT_EQ(tie["cautious_wd_improves"].verdict, Verdict::not_reproduced);
  EXPECT_EQ(tie["muon_variants_beat_adamw"].verdict, Verdict::not_reproduced);  // AdamW ties

  // Mixed: NorMuon ahead on one task only; one variant behind AdamW.
  auto runs = table({{"adamw", 0.2}, {"polargrad", 0.4}});
  for (auto& r : runs) {
    if (r.rule == "normuon" && r.task == "mlp") r.val_loss -= 0.1;
  }
  auto mixed = claims_of(runs);
  EXPECT_EQ(mixed["normuon_beats_muon"].verdict, Verdict::partial);
  EXPECT_EQ(mixed["normuon_beats_muon"].numbers["tasks_holding"], 1);
  EXPECT_EQ(mixed["muon_variants_beat_adamw"].verdict, Verdict::partial);
  EXPECT_EQ(mixed["muon_variants_beat_adamw"].numbers["cases_holding"], 10);
  EXPECT_EQ(mixed["muon_variants_beat_adamw"].numbers["gpt"]["polargrad"]["vs_adamw"], "higher");

  // A variant that diverged at every lr loses to AdamW; AdamW diverging everywhere loses to all.
  std::vector<VariantRun> div;
  add(div, "gpt", "muon", 0.02, 2.0, 2.0);
  add_diverged(div, "gpt", "normuon", 0.02, "non-finite training loss");
  add(div, "gpt", "adamw", 0.003, 2.5, 2.5);
  auto d = claims_of(div);
  EXPECT_EQ(d["normuon_beats_muon"].verdict, Verdict::not_reproduced);
  EXPECT_EQ(d["muon_variants_beat_adamw"].verdict, Verdict::partial);
  EXPECT_EQ(d["muon_variants_beat_adamw"].numbers["gpt"]["normuon"]["divergences"], 2);
  EXPECT_EQ(d.count("cautious_wd_no_harm"), 0u);  // its rules did not run: no claim
}

TEST(Variants, RulesAreDataAndUnknownOnesAreRefused) {
  std::set<std::string> names;
  for (const auto& r : L::variant_rules()) {
    EXPECT_TRUE(names.insert(r.name).second) << r.name;
    EXPECT_GT(r.center_lr, 0) << r.name;
    EXPECT_TRUE(r.family == "muon" || r.family == "adamw" || r.family == "spectral_power") << r.name;
  }
  for (const char* needed : {"muon", "normuon", "adamuon", "polargrad", "muon_wd", "muon_cwd", "adamw"})
    EXPECT_TRUE(names.count(needed)) << needed;
  EXPECT_TRUE(L::find_variant_rule("muon_cwd").cautious);
  EXPECT_TRUE(L::find_variant_rule("muon_cwd").weight_decay);
  try {
    L::find_variant_rule("nosuch");
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("'nosuch'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("normuon"), std::string::npos) << e.what();
  }
  // Registered, and its default rule list is the whole table.
  const auto& e = L::find_experiment("variants");
  const auto p = L::resolve_params(e, true, {});
  EXPECT_EQ(p.texts("rules").size(), L::variant_rules().size());
  EXPECT_GE(p.integers("seeds").size(), 2u);
  EXPECT_GE(p.reals("lr_factors").size(), 3u);
}

class VariantsRun : public specopt_train_test::TempDir {
 protected:
  std::vector<std::string> tiny() {
    specopt_train_test::write_brown_fixture(path("brown"), 10);
    specopt_train_test::write_fmnist_fixture(path("fm"), 256, 64);
    return {"gpt_steps=6", "gpt_layers=1", "gpt_width=16", "gpt_heads=2", "gpt_context=16",
            "gpt_batch=4", "gpt_eval_batches=1", "mlp_steps=6", "mlp_hidden=16", "mlp_batch=16",
            "mlp_train_images=256", "mlp_val_images=64", "gpt_data_dir=" + path("brown"),
            "mlp_data_dir=" + path("fm")};
  }
};

// A factor of 1e4 puts AdamW at lr 30 and Muon at 200: those runs blow up (non-finite or a
// final loss above the initial one), are counted, and the experiment still completes.
TEST_F(VariantsRun, BlowUpsAreCountedAndEverythingIsWritten) {
  auto sets = tiny();
  for (const char* s : {"rules=muon,normuon,adamw", "lr_factors=1,1e4", "seeds=0,1"}) sets.push_back(s);
  L::RunOptions o;
  o.quick = true;
  o.out_dir = path("out");
  o.progress = [](const std::string&) {};
  o.sets = sets;
  const auto r = L::run_experiment(L::find_experiment("variants"), o);

  const auto& res = r.at("results");
  EXPECT_GE(res.at("divergences").get<int>(), 4) << res.at("diverged").dump();
  std::set<std::string> diverged_rules;
  for (const auto& d : res.at("diverged")) {
    EXPECT_DOUBLE_EQ(d.at("lr").get<double>(), 1e4 * L::find_variant_rule(d.at("rule")).center_lr);
    EXPECT_FALSE(d.at("why").get<std::string>().empty());
    diverged_rules.insert(d.at("rule"));
  }
  EXPECT_TRUE(diverged_rules.count("adamw")) << res.at("diverged").dump();
  for (const char* task : {"gpt", "mlp"}) {
    const auto& best = res.at("best_lr").at(task);
    for (const char* rule : {"muon", "normuon", "adamw"}) {
      ASSERT_TRUE(best.contains(rule)) << task << " " << rule;
      EXPECT_TRUE(best[rule]["val_loss_mean"].is_number()) << task << " " << rule;
      EXPECT_GT(best[rule]["step_ms"].get<double>(), 0);
    }
    EXPECT_GE(best["adamw"]["divergences"].get<int>(), 1);
  }
  std::set<std::string> ids;
  for (const auto& c : r.at("claims")) ids.insert(c.at("id").get<std::string>());
  EXPECT_EQ(ids, (std::set<std::string>{"normuon_beats_muon", "muon_variants_beat_adamw"}));
  // 2 tasks × 3 rules × 2 lrs × 2 seeds runs.
  std::ifstream runs(path("out/runs.csv"));
  int lines = 0;
  for (std::string l; std::getline(runs, l);) ++lines;
  EXPECT_EQ(lines, 1 + 2 * 3 * 2 * 2);
  for (const char* task : {"gpt", "mlp"}) {
    for (const std::string stem : {"lr_sweep_", "curves_"}) {
      for (const char* ext : {".csv", ".svg", ".png"}) {
        const auto f = path("out/") + stem + task + ext;
        ASSERT_TRUE(fs::exists(f)) << f;
        EXPECT_GT(fs::file_size(f), 0u) << f;
      }
    }
    EXPECT_TRUE(fs::exists(path("out/best_lr_") + task + ".csv"));
  }
  EXPECT_TRUE(fs::exists(path("out/diverged.csv")));
}

TEST_F(VariantsRun, ReportShowsTheTableAndTheFigures) {
  auto sets = tiny();
  L::ReproduceOptions o;
  o.out_dir = path("report");
  o.progress = [](const std::string&) {};
  for (const auto& s : sets) o.sets.push_back("variants." + s);
  for (const char* s : {"variants.rules=muon,muon_wd,muon_cwd,adamw", "variants.lr_factors=1",
                        "variants.seeds=0,1"})
    o.sets.push_back(s);
  o.only = {"variants"};
  const auto summary = L::reproduce(L::experiments(), o);
  ASSERT_EQ(summary.at("experiments").size(), 1u);
  const auto& e = summary.at("experiments")[0];
  ASSERT_EQ(e.at("status"), "ok") << e.dump();
  const std::string html = specopt_test::slurp(path("report/index.html"));
  for (const char* want : {"muon_variants_beat_adamw", "cautious_wd_no_harm", "cautious_wd_improves",
                           "lr_sensitivity", "step_ms", "variants/lr_sweep_gpt.png",
                           "variants/curves_mlp.png", "Study: variants"})
    EXPECT_NE(html.find(want), std::string::npos) << want;
}

}  // namespace
