// `specopt list` (text and --json) and `specopt reproduce`'s refusals, through the binary.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <specopt/maps/registry.h>
#include <specopt/matfun/polar.h>
#include <specopt/matfun/spectral_power.h>

#include "tests/common/run_cli.h"
#include "lab/experiment.h"

using specopt_test::run_cli;

namespace {

TEST(ListCli, JsonMatchesTheLibrary) {
  const auto r = run_cli("list --json");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output);
  std::vector<std::string> names;
  for (const auto& e : j["experiments"]) names.push_back(e["name"]);
  std::vector<std::string> registered;
  for (const auto& e : specopt::lab::experiments()) registered.push_back(e.name);
  EXPECT_EQ(names, registered);
  EXPECT_EQ(names.back(), "matfun-study") << "the study is registered last";
  EXPECT_EQ(j["convex_maps"].get<std::vector<std::string>>(), specopt::convex_map_names());
  EXPECT_EQ(j["matfun"]["polar"].get<std::vector<std::string>>(), specopt::polar_method_names());
  EXPECT_EQ(j["matfun"]["spectral_power"].get<std::vector<std::string>>(),
            specopt::power_method_names());
  EXPECT_EQ(j["matfun"]["newton_schulz_schedules"].get<std::vector<std::string>>(),
            (std::vector<std::string>{"jordan", "polar_express", "cubic", "turbo_muon",
                                      "custom"}));
  std::vector<std::string> optimizers;
  for (const auto& o : j["optimizers"]) optimizers.push_back(o["name"]);
  for (const char* want : {"Muon", "LionK", "SpectralAdam", "SpectralSGD", "Adam", "AdamS", "AdamQ",
                           "AdamZ", "mSGD", "mSGDS", "mSGDQ", "mSGDZ", "AdamW", "Lion", "Hybrid"}) {
    EXPECT_NE(std::find(optimizers.begin(), optimizers.end(), want), optimizers.end()) << want;
  }
}

TEST(ListCli, TextNamesEveryGroup) {
  const auto r = run_cli("list");
  ASSERT_EQ(r.code, 0) << r.output;
  for (const char* want : {"experiments", "matfun-study", "study", "optimizers:", "mSGDQ", "Hybrid",
                           "convex maps", "nuclear", "polar:", "gram_eigh", "polar_express",
                           "spectral power:", "coupled_newton"}) {
    EXPECT_NE(r.output.find(want), std::string::npos) << want << " missing from:\n" << r.output;
  }
}

TEST(ReproduceCli, RefusesUnknownExperimentsAndKnobsWithOneLine) {
  auto r = run_cli("reproduce --out /nonexistent/never --set nosuch.x=1");
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.output.rfind("specopt: error: --set nosuch.x=1: unknown experiment 'nosuch'", 0), 0u) << r.output;
  r = run_cli("reproduce --out /nonexistent/never --set matfun-study.bogus=1");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.output.find("--set bogus: unknown knob for experiment 'matfun-study'"), std::string::npos)
      << r.output;
  r = run_cli("reproduce --out /nonexistent/never --only matfun-study,nosuch");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.output.find("--only nosuch: unknown experiment"), std::string::npos) << r.output;
  r = run_cli("reproduce --quick --full");
  EXPECT_EQ(r.code, 2) << r.output;
}

}  // namespace
