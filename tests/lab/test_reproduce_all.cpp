// A reduced `specopt reproduce` of EVERY registered experiment (the papers' claims and the
// matrix-function study, each at a test size through --set EXPERIMENT.key=value) into a
// temporary directory: every experiment ran, every claim has a verdict and its numbers,
// every file and figure the report names exists and is non-empty, and the HTML is
// well-formed. (The browser rendering is checked by reproduce.report_in_browser.)
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <unistd.h>

#include "tests/common/run_cli.h"
#include "html_check.h"
#include "read_file.h"

namespace fs = std::filesystem;

namespace {

using specopt_test::slurp;

TEST(ReproduceAll, EveryExperimentEveryClaimEveryFigure) {
  const fs::path dir =
      fs::temp_directory_path() / ("specopt_reproduce_all_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  // The experiments list, from the binary itself, so a newly registered one is covered.
  const auto listed = specopt_test::run_cli("list --json");
  ASSERT_EQ(listed.code, 0) << listed.output;
  std::set<std::string> names;
  const auto list = nlohmann::json::parse(listed.output);
  for (const auto& e : list["experiments"]) {
    names.insert(e["name"].get<std::string>());
  }
  ASSERT_GE(names.size(), 6u) << listed.output;

  // Test sizes (the same reductions as the experiments' own tests).
  const std::string sets =
      " --set 'constraint.rows=6' --set 'constraint.cols=4' --set 'constraint.steps=1000'"
      " --set 'constraint.decay=0.985' --set 'constraint.samples=100'"
      " --set 'lyapunov.time=10'"
      " --set 'factorization.problems=symmetric' --set 'factorization.kappas=10,100,1000'"
      " --set 'factorization.gd_lrs=0.4,0.8' --set 'factorization.adam_lrs=0.003,0.01'"
      " --set 'icl.kappas=3,10,30' --set 'icl.prompt_kappas=3,30' --set 'icl.gd_lrs=1.5,1.9'"
      " --set 'icl.adam_lrs=0.3' --set 'icl.prompt_cap=20000'"
      " --set 'spectral-power.variants=adam,adamz,msgd,msgdz' --set 'spectral-power.lr_factors=0.3,3'"
      " --set 'spectral-power.gpt_steps=6' --set 'spectral-power.gpt_layers=1'"
      " --set 'spectral-power.gpt_width=16' --set 'spectral-power.gpt_heads=2'"
      " --set 'spectral-power.gpt_context=16' --set 'spectral-power.gpt_batch=4'"
      " --set 'spectral-power.gpt_eval_batches=1' --set 'spectral-power.mlp_steps=6'"
      " --set 'spectral-power.mlp_hidden=16' --set 'spectral-power.mlp_batch=16'"
      " --set 'spectral-power.mlp_train_images=256' --set 'spectral-power.mlp_val_images=64'"
      " --set 'variants.rules=muon,muon_cwd,adamw' --set 'variants.lr_factors=0.3,3'"
      " --set 'variants.seeds=0'"
      " --set 'variants.gpt_steps=6' --set 'variants.gpt_layers=1' --set 'variants.gpt_width=16'"
      " --set 'variants.gpt_heads=2' --set 'variants.gpt_context=16' --set 'variants.gpt_batch=4'"
      " --set 'variants.gpt_eval_batches=1' --set 'variants.mlp_steps=6'"
      " --set 'variants.mlp_hidden=16' --set 'variants.mlp_batch=16'"
      " --set 'variants.mlp_train_images=256' --set 'variants.mlp_val_images=64'"
      " --set 'matfun-study.shapes=64x32' --set 'matfun-study.kappas=10,10000'"
      " --set 'matfun-study.repeats=1'";
  const auto run =
      specopt_test::run_cli("reproduce --quick --threads 1 --out '" + dir.string() + "'" + sets);
  ASSERT_EQ(run.code, 0) << run.output;

  const auto s = nlohmann::json::parse(slurp(dir / "summary.json"));
  std::set<std::string> ran;
  const std::set<std::string> verdicts = {"reproduced", "not_reproduced", "partial"};
  std::size_t claims = 0, figures = 0;
  for (const auto& e : s["experiments"]) {
    const auto name = e["name"].get<std::string>();
    ran.insert(name);
    EXPECT_EQ(e["status"], "ok") << name << ": " << e.value("error", "");
    EXPECT_FALSE(e["claims"].empty()) << name;
    for (const auto& c : e["claims"]) {
      ++claims;
      EXPECT_TRUE(verdicts.count(c["verdict"].get<std::string>())) << name << ": " << c.dump();
      EXPECT_FALSE(c["statement"].get<std::string>().empty()) << name;
      EXPECT_FALSE(c["numbers"].empty()) << name << ": " << c["id"];
    }
    for (const auto& f : e["files"]) {
      ASSERT_TRUE(fs::exists(dir / f.get<std::string>())) << f;
      EXPECT_GT(fs::file_size(dir / f.get<std::string>()), 0u) << f;
    }
    EXPECT_FALSE(e["figures"].empty()) << name;
    figures += e["figures"].size();
  }
  EXPECT_EQ(ran, names);

  const std::string html = slurp(dir / "index.html");
  EXPECT_EQ(specopt_test::html_problems(html), "");
  const auto srcs = specopt_test::img_sources(html);
  EXPECT_EQ(srcs.size(), figures);
  for (const auto& src : srcs) {
    ASSERT_TRUE(fs::exists(dir / src)) << src;
    EXPECT_GT(fs::file_size(dir / src), 0u) << src;
  }
  EXPECT_GT(claims, 20u);
  fs::remove_all(dir);
}

}  // namespace
