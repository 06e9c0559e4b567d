// `specopt reproduce`'s orchestration (lab::reproduce) on test-local experiments: failures
// reported, not fatal; reuse rules; refused options; the page's contents and escaping.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <unistd.h>

#include "html_check.h"
#include "lab/report.h"
#include "read_file.h"

namespace fs = std::filesystem;
using namespace specopt::lab;

namespace {

using specopt_test::slurp;

int g_alpha_runs = 0;

// Paper 1: a CSV, a figure, one claim whose numbers carry characters HTML must escape.
Experiment alpha() {
  Experiment e;
  e.name = "alpha";
  e.paper = 1;
  e.summary = "squares <up to> n & more";
  e.knobs = {{"n", "3", "10", "how many squares"}, {"fail", "false", "false", "throw instead"}};
  e.run = [](RunContext& ctx) {
    ++g_alpha_runs;
    if (ctx.params().flag("fail")) throw std::runtime_error("alpha was told to fail");
    const auto n = ctx.params().count("n");
    std::vector<std::vector<RunContext::Cell>> rows;
    for (std::int64_t i = 1; i <= n; ++i) rows.push_back({i, i * i});
    ctx.write_csv("squares", {"i", "square"}, rows);
    ctx.plot({"squares", "squares", "i", {"square"}, "squares", "i", "i²", false, false});
    ctx.claim("grows", "squares grow", Verdict::reproduced, {{"last", n * n}, {"note", "a<b & c"}});
  };
  return e;
}

// Paper 2: always throws, with markup in its message.
Experiment boom() {
  Experiment e;
  e.name = "boom";
  e.paper = 2;
  e.summary = "fails";
  e.run = [](RunContext&) { throw std::runtime_error("boom: <bad> input"); };
  return e;
}

// No paper: a partial and a not-reproduced claim.
Experiment gamma() {
  Experiment e;
  e.name = "gamma";
  e.summary = "a study";
  e.knobs = {{"k", "1", "2", "unused"}};
  e.run = [](RunContext& ctx) {
    ctx.claim("half", "half true", Verdict::partial);
    ctx.claim("no", "not true", Verdict::not_reproduced, {{"x", 1.5}});
  };
  return e;
}

class Reproduce : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("specopt_report_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) +
            "_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    g_alpha_runs = 0;
  }
  void TearDown() override { fs::remove_all(dir_); }

  nlohmann::json run(const std::vector<Experiment>& list, ReproduceOptions o = {}) {
    o.out_dir = dir_.string();
    o.progress = [this](const std::string& line) { log_ += line + "\n"; };
    return reproduce(list, o);
  }
  static const nlohmann::json& entry(const nlohmann::json& s, const std::string& name) {
    for (const auto& e : s["experiments"]) {
      if (e["name"] == name) return e;
    }
    throw std::runtime_error("no entry " + name);
  }

  fs::path dir_;
  std::string log_;
};

TEST_F(Reproduce, FailureIsReportedAndTheOthersStillRun) {
  const auto s = run({alpha(), boom(), gamma()});
  ASSERT_EQ(s["experiments"].size(), 3u);
  EXPECT_EQ(entry(s, "alpha")["status"], "ok");
  EXPECT_EQ(entry(s, "boom")["status"], "error");
  EXPECT_EQ(entry(s, "boom")["error"], "boom: <bad> input");
  EXPECT_TRUE(entry(s, "boom")["claims"].empty());
  EXPECT_EQ(entry(s, "gamma")["status"], "ok");
  EXPECT_EQ(s["counts"]["reproduced"], 1);
  EXPECT_EQ(s["counts"]["partial"], 1);
  EXPECT_EQ(s["counts"]["not_reproduced"], 1);
  EXPECT_EQ(s["counts"]["error"], 1);
  EXPECT_EQ(s["counts"]["experiments"], 3);
  // Progress: a start and an end line per experiment, the failure with its message.
  EXPECT_NE(log_.find("[1/3] alpha: running"), std::string::npos) << log_;
  EXPECT_NE(log_.find("[2/3] boom: ERROR"), std::string::npos) << log_;
  EXPECT_NE(log_.find("boom: <bad> input"), std::string::npos) << log_;
  EXPECT_NE(log_.find("[3/3] gamma: ok"), std::string::npos) << log_;

  // summary.json on disk is what reproduce returned.
  EXPECT_EQ(nlohmann::json::parse(slurp(dir_ / "summary.json")), s);
  for (const char* key : {"specopt_version", "git_commit", "torch_version", "cpu", "torch_threads"}) {
    EXPECT_TRUE(s["environment"].contains(key)) << key;
  }
  // Every listed file exists and is non-empty; figures are PNGs among the files.
  for (const auto& e : s["experiments"]) {
    for (const auto& f : e["files"]) {
      EXPECT_GT(fs::file_size(dir_ / f.get<std::string>()), 0u) << f;
    }
  }
  EXPECT_EQ(entry(s, "alpha")["figures"], nlohmann::json::array({"alpha/squares.png"}));
  EXPECT_EQ(entry(s, "alpha")["command"],
            "specopt run alpha --quick --seed 0 --out " + (dir_ / "alpha").string());

  const std::string html = slurp(dir_ / "index.html");
  EXPECT_EQ(specopt_test::html_problems(html), "");
  // Escaped everywhere: the error message, a summary, a claim's numbers.
  EXPECT_NE(html.find("boom: &lt;bad&gt; input"), std::string::npos);
  EXPECT_EQ(html.find("<bad>"), std::string::npos);
  EXPECT_NE(html.find("squares &lt;up to&gt; n &amp; more"), std::string::npos);
  EXPECT_NE(html.find("a&lt;b &amp; c"), std::string::npos);
  // One section per paper (3 has no experiment here, and says so), then the study.
  const auto p1 = html.find("id=\"paper-1\""), p2 = html.find("id=\"paper-2\""),
             p3 = html.find("id=\"paper-3\""), st = html.find("id=\"study-gamma\"");
  ASSERT_NE(p1, std::string::npos);
  EXPECT_LT(p1, p2);
  EXPECT_LT(p2, p3);
  EXPECT_LT(p3, st);
  EXPECT_NE(html.find("No experiment of this paper ran", p3), std::string::npos);
  EXPECT_EQ(specopt_test::img_sources(html), std::vector<std::string>{"alpha/squares.png"});
  EXPECT_NE(html.find("<code>specopt run alpha --quick --seed 0 --out "), std::string::npos);
  EXPECT_NE(html.find("<span class=\"badge partial\">partial</span> half true"), std::string::npos);
}

TEST_F(Reproduce, RerunReusesUnlessForcedOrReconfigured) {
  auto s = run({alpha()});
  EXPECT_EQ(g_alpha_runs, 1);
  EXPECT_EQ(entry(s, "alpha")["status"], "ok");

  s = run({alpha()});
  EXPECT_EQ(g_alpha_runs, 1) << "second run should reuse";
  EXPECT_EQ(entry(s, "alpha")["status"], "reused");
  EXPECT_EQ(entry(s, "alpha")["claims"].size(), 1u);
  EXPECT_EQ(entry(s, "alpha")["figures"], nlohmann::json::array({"alpha/squares.png"}));

  ReproduceOptions force;
  force.force = true;
  s = run({alpha()}, force);
  EXPECT_EQ(g_alpha_runs, 2);
  EXPECT_EQ(entry(s, "alpha")["status"], "ok");

  ReproduceOptions changed;
  changed.sets = {"alpha.n=4"};
  s = run({alpha()}, changed);
  EXPECT_EQ(g_alpha_runs, 3) << "a changed knob must rerun";
  EXPECT_EQ(entry(s, "alpha")["claims"][0]["numbers"]["last"], 16);
  EXPECT_EQ(entry(s, "alpha")["command"],
            "specopt run alpha --quick --seed 0 --out " + (dir_ / "alpha").string() + " --set n=4");
  s = run({alpha()}, changed);
  EXPECT_EQ(g_alpha_runs, 3);
  EXPECT_EQ(entry(s, "alpha")["status"], "reused");

  ReproduceOptions seed = changed;
  seed.seed = 7;
  s = run({alpha()}, seed);
  EXPECT_EQ(g_alpha_runs, 4) << "a changed seed must rerun";

  ReproduceOptions full = seed;
  full.quick = false;
  s = run({alpha()}, full);
  EXPECT_EQ(g_alpha_runs, 5) << "a changed mode must rerun";

  // A deleted figure invalidates the earlier results.
  fs::remove(dir_ / "alpha" / "squares.png");
  s = run({alpha()}, full);
  EXPECT_EQ(g_alpha_runs, 6);
  EXPECT_TRUE(fs::exists(dir_ / "alpha" / "squares.png"));

  // Another code version: results.json from a different commit is not reused.
  auto r = nlohmann::json::parse(slurp(dir_ / "alpha" / "results.json"));
  r["git_commit"] = "0000000-elsewhere";
  std::ofstream(dir_ / "alpha" / "results.json") << r.dump();
  s = run({alpha()}, full);
  EXPECT_EQ(g_alpha_runs, 7) << "results from another commit must not be reused";
  EXPECT_EQ(entry(s, "alpha")["status"], "ok");
}

TEST_F(Reproduce, FailedRerunLeavesNoStaleResults) {
  run({alpha()});
  ReproduceOptions fail;
  fail.sets = {"alpha.fail=true"};
  auto s = run({alpha()}, fail);
  EXPECT_EQ(entry(s, "alpha")["status"], "error");
  EXPECT_EQ(entry(s, "alpha")["error"], "alpha was told to fail");
  EXPECT_FALSE(fs::exists(dir_ / "alpha" / "results.json"));
  s = run({alpha()});
  EXPECT_EQ(entry(s, "alpha")["status"], "ok");
  EXPECT_EQ(g_alpha_runs, 3);
}

TEST_F(Reproduce, OnlyRunsTheNamedSubsetInRegistryOrder) {
  ReproduceOptions o;
  o.only = {"gamma", "alpha"};
  const auto s = run({alpha(), boom(), gamma()}, o);
  ASSERT_EQ(s["experiments"].size(), 2u);
  EXPECT_EQ(s["experiments"][0]["name"], "alpha");
  EXPECT_EQ(s["experiments"][1]["name"], "gamma");
  EXPECT_FALSE(fs::exists(dir_ / "boom"));
}

TEST_F(Reproduce, BadOptionsAreRefusedBeforeAnythingRuns) {
  auto refused = [&](ReproduceOptions o, const std::string& needle) {
    try {
      run({alpha(), gamma()}, o);
      ADD_FAILURE() << "accepted; expected an error containing " << needle;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
    EXPECT_FALSE(fs::exists(dir_)) << "nothing may be written for refused options";
    EXPECT_EQ(g_alpha_runs, 0);
  };
  ReproduceOptions o;
  o.sets = {"nosuch.n=3"};
  refused(o, "unknown experiment 'nosuch'");
  o.sets = {"alpha.size=3"};
  refused(o, "--set size: unknown knob for experiment 'alpha'");
  o.sets = {"n=3"};
  refused(o, "expected EXPERIMENT.key=value");
  o.sets = {"alpha.n"};
  refused(o, "expected EXPERIMENT.key=value");
  o.sets = {};
  o.only = {"alpha", "delta"};
  refused(o, "--only delta: unknown experiment (known: alpha, gamma)");
}

TEST(ReportHtml, EscapesAndRerunCommandsQuote) {
  EXPECT_EQ(html_escape("<a href=\"x\">'&'</a>"), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
  EXPECT_EQ(rerun_command("icl", false, 3, "my dir/icl", {"dims=8,16", "label=a b"}),
            "specopt run icl --full --seed 3 --out 'my dir/icl' --set dims=8,16 --set 'label=a b'");
}

TEST(ReportHtml, CheckerCatchesMalformedPages) {
  // The checker itself must be able to fail, or the report tests prove nothing.
  const std::string ok = "<!DOCTYPE html><html><body><p>a &amp; b<img src=\"x.png\"></p></body></html>";
  EXPECT_EQ(specopt_test::html_problems(ok), "");
  EXPECT_NE(specopt_test::html_problems("<html><body><p>a</body></html>"), "");
  EXPECT_NE(specopt_test::html_problems("<html><body>a < b</body></html>"), "");
  EXPECT_NE(specopt_test::html_problems("<html><body>a & b</body></html>"), "");
  EXPECT_NE(specopt_test::html_problems("<html><body><img src=x.png></body></html>"), "");
  EXPECT_NE(specopt_test::html_problems("<html><body><div></span></div></body></html>"), "");
}

}  // namespace
