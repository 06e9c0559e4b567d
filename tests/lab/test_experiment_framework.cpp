// The experiment framework behind `specopt run`: knob resolution and validation, CSV cells,
// gnuplot figures (distinct styles past 8 series), results.json contents, nested claim
// numbers in the report.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "lab/experiment.h"
#include "lab/report.h"
#include "read_file.h"

namespace fs = std::filesystem;
using namespace specopt::lab;

namespace {

using specopt_test::slurp;

fs::path fresh_dir(const std::string& name) {
  auto d = fs::temp_directory_path() / ("specopt_expfw_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  return d;
}

// A small experiment: geometric decay y = r^t, claim "falls below tol".
Experiment decay_experiment() {
  Experiment e;
  e.name = "decay";
  e.paper = 0;
  e.summary = "geometric decay";
  e.full_runtime = "seconds";
  e.knobs = {{"rate", "0.5", "0.9", "decay factor per step"},
             {"steps", "20", "200", "number of steps"},
             {"tols", "1e-3,1e-6", "1e-3,1e-6,1e-9", "tolerances"}};
  e.run = [](RunContext& ctx) {
    const double r = ctx.params().positive("rate");
    const auto n = ctx.params().count("steps");
    std::vector<std::vector<RunContext::Cell>> rows;
    double y = 1;
    for (std::int64_t t = 0; t < n; ++t, y *= r) {
      rows.push_back({t, y, t % 2 ? std::nan("") : 2 * y});
    }
    ctx.write_csv("decay", {"step", "y", "twice y"}, rows);
    ctx.plot({"decay", "decay", "step", {"y", "twice y"}, "decay", "step t", "value", false, true});
    const double tol = ctx.params().reals("tols").front();
    ctx.claim("falls", "y falls below the first tolerance",
              y < tol ? Verdict::reproduced : Verdict::not_reproduced, {{"final", y}});
    ctx.results()["final"] = y;
  };
  return e;
}

}  // namespace

TEST(ExperimentFramework, RunWritesResultsCsvAndFigures) {
  const auto dir = fresh_dir("run");
  RunOptions o;
  o.out_dir = dir.string();
  o.seed = 7;
  o.sets = {"steps=30"};
  o.progress = [](const std::string&) {};
  const auto r = run_experiment(decay_experiment(), o);

  EXPECT_EQ(r["experiment"], "decay");
  EXPECT_EQ(r["mode"], "quick");
  EXPECT_EQ(r["seed"], 7);
  EXPECT_EQ(r["config"]["steps"], "30");
  EXPECT_EQ(r["config"]["rate"], "0.5");
  ASSERT_EQ(r["claims"].size(), 1u);
  EXPECT_EQ(r["claims"][0]["verdict"], "reproduced");
  EXPECT_NEAR(r["claims"][0]["numbers"]["final"].get<double>(), std::pow(0.5, 30), 1e-20);
  EXPECT_GE(r["seconds"].get<double>(), 0.0);
  EXPECT_FALSE(r["git_commit"].get<std::string>().empty());

  // results.json on disk is the returned JSON.
  EXPECT_EQ(nlohmann::json::parse(slurp(dir / "results.json")), r);
  for (const char* f : {"decay.csv", "decay.svg", "decay.png", "decay.gp"}) {
    ASSERT_TRUE(fs::exists(dir / f)) << f;
    EXPECT_GT(fs::file_size(dir / f), 100u) << f;
  }
  const auto csv = slurp(dir / "decay.csv");
  EXPECT_EQ(csv.substr(0, csv.find('\n')), "step,y,twice y");
  EXPECT_NE(csv.find("\n1,0.5,\n"), std::string::npos) << "NaN must be an empty cell";
  const auto svg = slurp(dir / "decay.svg");
  EXPECT_NE(svg.find("<svg"), std::string::npos);
  EXPECT_NE(svg.find("twice y"), std::string::npos) << "legend entry";
  EXPECT_NE(svg.find("step t"), std::string::npos) << "x label";
  const auto png = slurp(dir / "decay.png");
  EXPECT_EQ(png.substr(1, 3), "PNG");
  EXPECT_FALSE(fs::exists(dir / "decay.svg.tmp"));
  fs::remove_all(dir);
}

TEST(ExperimentFramework, FullModeUsesFullDefaults) {
  const auto p = resolve_params(decay_experiment(), false, {});
  EXPECT_EQ(p.text("rate"), "0.9");
  EXPECT_EQ(p.integers("steps"), std::vector<std::int64_t>{200});
  EXPECT_EQ(p.reals("tols").size(), 3u);
}

TEST(ExperimentFramework, BadSetsAreRefusedByName) {
  const auto e = decay_experiment();
  try {
    resolve_params(e, true, {"ratee=0.1"});
    FAIL() << "unknown knob accepted";
  } catch (const std::invalid_argument& ex) {
    EXPECT_NE(std::string(ex.what()).find("ratee"), std::string::npos) << ex.what();
    EXPECT_NE(std::string(ex.what()).find("rate, steps, tols"), std::string::npos) << ex.what();
  }
  EXPECT_THROW(resolve_params(e, true, {"rate"}), std::invalid_argument);
  EXPECT_THROW(resolve_params(e, true, {"=1"}), std::invalid_argument);

  // Values that are not of the kind the knob's defaults are, refused by resolve_params itself
  // (before anything runs), naming the knob and the value.
  for (const char* set : {"rate=abc", "tols=1e-3,,2"}) {
    try {
      resolve_params(e, true, {set});
      FAIL() << set;
    } catch (const std::invalid_argument& ex) {
      EXPECT_NE(std::string(ex.what()).find(set), std::string::npos) << ex.what();
    }
  }
  // Values of the right kind but out of the knob's range: refused when the experiment reads them.
  const auto p = resolve_params(e, true, {"rate=-1", "steps=0"});
  try {
    p.positive("rate");
    FAIL();
  } catch (const std::invalid_argument& ex) {
    EXPECT_NE(std::string(ex.what()).find("rate=-1"), std::string::npos) << ex.what();
  }
  EXPECT_THROW(p.count("steps"), std::invalid_argument);
  EXPECT_THROW(p.text("nope"), std::logic_error);

  // A bad value stops the run before results.json is written.
  const auto dir = fresh_dir("bad");
  RunOptions o;
  o.out_dir = dir.string();
  o.sets = {"rate=-1"};
  o.progress = [](const std::string&) {};
  EXPECT_THROW(run_experiment(e, o), std::invalid_argument);
  EXPECT_FALSE(fs::exists(dir / "results.json"));
  fs::remove_all(dir);
}

TEST(ExperimentFramework, PlotNeedsItsCsv) {
  const auto dir = fresh_dir("plot");
  fs::create_directories(dir);
  RunContext ctx(dir.string(), Params(), 0, true);
  EXPECT_THROW(ctx.plot({"f", "missing", "x", {"y"}}), std::invalid_argument);
  EXPECT_THROW(ctx.write_csv("../escape", {"x"}, {}), std::invalid_argument);
  EXPECT_THROW(ctx.write_csv("rows", {"x", "y"}, {{1}}), std::invalid_argument);
  ctx.claim("a", "first", Verdict::partial);
  EXPECT_THROW(ctx.claim("a", "again", Verdict::reproduced), std::logic_error);
  fs::remove_all(dir);
}

// A figure with more series than gnuplot's 8 default colours: every series gets its own
// colour + dash + marker, and markers are drawn.
TEST(ExperimentFramework, ManySeriesGetDistinctStyles) {
  std::set<std::string> styles;
  for (std::size_t i = 0; i < 32; ++i) {
    const auto s = series_style(i, true);
    EXPECT_NE(s.find(" pt "), std::string::npos) << s;
    // (colour, dash) alone is already unique up to 32 series.
    const auto line = series_style(i, false);
    EXPECT_EQ(line.find(" pt "), std::string::npos) << line;
    EXPECT_TRUE(styles.insert(line).second) << "repeated style " << line << " at " << i;
  }
  const auto dir = fresh_dir("many");
  fs::create_directories(dir);
  RunContext ctx(dir.string(), Params(), 0, true);
  std::vector<std::string> cols = {"x"}, ys;
  for (int i = 0; i < 14; ++i) ys.push_back("s" + std::to_string(i));
  cols.insert(cols.end(), ys.begin(), ys.end());
  std::vector<std::vector<RunContext::Cell>> rows;
  for (int x = 1; x <= 50; ++x) {
    std::vector<RunContext::Cell> row = {x};
    for (int i = 0; i < 14; ++i) row.push_back(double(x) * (i + 1));
    rows.push_back(row);
  }
  ctx.write_csv("many", cols, rows);
  ctx.plot({"many", "many", "x", ys, "fourteen series", "x", "y", false, false});
  const auto gp = slurp(dir / "many.gp");
  for (int i = 0; i < 14; ++i) {
    EXPECT_NE(gp.find(series_style(i, true)), std::string::npos) << i;
  }
  EXPECT_NE(gp.find("with linespoints"), std::string::npos);
  EXPECT_EQ(gp.find("with lines "), std::string::npos);
  fs::remove_all(dir);
}

// Nested claim numbers (the spectral-power sensitivity: task → variant → fields) render as
// tables with a row per variant and a column per field, not as one line of text.
TEST(ExperimentFramework, ReportRendersNestedNumbersAsTables) {
  nlohmann::json numbers = {
      {"sensitivity",
       {{"gpt", {{"adam", {{"p", 1}, {"divergences", 0}, {"mean_excess_loss", 0.12}}},
                 {"msgdz", {{"p", 0}, {"divergences", 2}, {"mean_excess_loss", 0.5}}}}}}},
      {"tasks", 1}};
  nlohmann::json summary = {
      {"mode", "quick"}, {"seed", 0}, {"seconds", 1.0}, {"command", "specopt reproduce"},
      {"environment", nlohmann::json::object()},
      {"counts", {{"reproduced", 0}, {"partial", 0}, {"not_reproduced", 1}, {"error", 0}}},
      {"experiments",
       {{{"name", "x"}, {"paper", 3}, {"summary", "s"}, {"status", "ok"}, {"seconds", 1.0},
         {"command", "specopt run x"},
         {"claims", {{{"id", "small_p"}, {"statement", "st"}, {"verdict", "not_reproduced"},
                      {"numbers", numbers}}}},
         {"figures", nlohmann::json::array()}, {"files", nlohmann::json::array()}}}}};
  const auto html = report_html(summary);
  EXPECT_NE(html.find("<table class=\"records\">"), std::string::npos) << html;
  EXPECT_NE(html.find("<th>mean_excess_loss</th>"), std::string::npos);
  EXPECT_NE(html.find("<th>msgdz</th>"), std::string::npos);
  EXPECT_EQ(html.find("adam = "), std::string::npos) << "nested record flattened into text";
}
