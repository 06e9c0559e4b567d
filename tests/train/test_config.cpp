// Config parsing: defaults, --set overrides, and refusals naming the key; the same errors
// through `specopt train` (one line on stderr, exit status 1).
#include <gtest/gtest.h>

#include <filesystem>

#include <specopt/optim/muon.h>
#include <specopt/optim/adamuon.h>
#include <specopt/optim/dion2.h>
#include <specopt/optim/normuon.h>
#include <specopt/optim/polargrad.h>
#include <specopt/optim/spectral_adam.h>
#include <specopt/optim/transforms.h>

#include "fixtures.h"
#include "tests/common/run_cli.h"
#include "lab/data/paths.h"
#include "lab/train/config.h"

namespace {

using specopt_train_test::TempDir;
namespace L = specopt::lab;

void expect_refused(const std::string& toml, const std::string& needle,
                    const std::vector<std::string>& sets = {}) {
  try {
    L::parse_train_config(toml, sets, "run.toml");
    ADD_FAILURE() << "accepted: " << toml;
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos)
        << "message '" << e.what() << "' lacks '" << needle << "'";
  }
}

TEST(TrainConfig, DefaultsAndValues) {
  const auto c = L::parse_train_config("[optimizer]\nname='adamq'\nlr=0.02\n[train]\nsteps=50\n");
  EXPECT_EQ(c.optimizer.name, "adamq");
  EXPECT_EQ(c.optimizer.lr, 0.02);
  EXPECT_EQ(c.steps, 50);
  EXPECT_EQ(c.model.kind, "gpt");
  EXPECT_EQ(c.batch_size, 32);
  EXPECT_EQ(c.schedule_spec(), "constant");
  const auto w = L::parse_train_config(
      "[schedule]\nname='warmup_cosine'\nwarmup=10\nmin=0.1\n[train]\nsteps=100\n");
  EXPECT_EQ(w.schedule_spec(), "warmup_cosine:warmup=10,total=100,min=0.10000000000000001");
}

TEST(TrainConfig, SetOverrides) {
  const auto c = L::parse_train_config("[optimizer]\nlr=0.02\n",
                                       {"optimizer.lr=0.5", "optimizer.name=msgds",
                                        "train.steps=7", "optimizer.nesterov=false",
                                        "optimizer.cautious_weight_decay=true"});
  EXPECT_EQ(c.optimizer.lr, 0.5);
  EXPECT_EQ(c.optimizer.name, "msgds");
  EXPECT_EQ(c.steps, 7);
  EXPECT_FALSE(c.optimizer.nesterov);
  EXPECT_TRUE(c.optimizer.cautious_weight_decay);
  EXPECT_FALSE(L::parse_train_config("", {}).optimizer.cautious_weight_decay);
  expect_refused("", "--set 'lr=1'", {"lr=1"});
  expect_refused("", "optimizer.lrr", {"optimizer.lrr=1"});
}

// The names `specopt list` shows are accepted by train, in any case (and '_' optional).
TEST(TrainConfig, OptimizerNamesAsListShowsThem) {
  const std::vector<std::pair<std::string, std::string>> pairs = {
      {"Muon", "muon"},         {"AdamS", "adams"},   {"LionK", "lionk"},
      {"lion_k", "lionk"},      {"NorMuon", "normuon"}, {"mSGDQ", "msgdq"},
      {"mSGDZ", "msgdz"},       {"AdamW", "adamw"},   {"Hybrid", "muon"},
      {"AdaMuon", "adamuon"},   {"Polar_Grad", "polargrad"}, {"DION2", "dion2"}};
  for (const auto& p : pairs) {
    EXPECT_EQ(L::parse_train_config("[optimizer]\nname='" + p.first + "'\n").optimizer.name,
              p.second)
        << p.first;
    EXPECT_EQ(L::parse_train_config("", {"optimizer.name=" + p.first}).optimizer.name, p.second)
        << p.first << " via --set";
  }
  EXPECT_EQ(L::parse_train_config("[optimizer]\nname='SpectralAdam'\np=0.5\n").optimizer.name,
            "spectraladam");
  expect_refused("[optimizer]\nname='Muom'\n",
                 "config key 'optimizer.name': 'Muom' is not one of: muon, normuon");
}

TEST(TrainConfig, RefusalsNameTheKey) {
  expect_refused("[optimizer]\nlrr=0.1\n", "config key 'optimizer.lrr': unknown key");
  expect_refused("[optimiser]\nlr=0.1\n", "config key 'optimiser': unknown section");
  expect_refused("[optimizer]\nlr=-1\n", "config key 'optimizer.lr': -1 must be > 0");
  expect_refused("[optimizer]\nlr='fast'\n", "config key 'optimizer.lr': expected a number, got 'fast'");
  expect_refused("[optimizer]\nname='adagrad'\n", "'adagrad' is not one of");
  expect_refused("[optimizer]\nbeta2=1.5\n", "optimizer.beta2");
  expect_refused("[optimizer]\nname='spectral_adam'\n", "optimizer.p");
  expect_refused("[train]\nsteps=0\n", "config key 'train.steps': 0 must be >= 1");
  expect_refused("[train]\nsteps=2.5\n", "train.steps': expected an integer");
  expect_refused("[train]\ndevice='tpu'\n", "train.device");
  expect_refused("[model]\nkind='mlp'\n", "model.kind");
  expect_refused("[model]\nd_model=30\nn_head=4\n", "model.d_model");
  expect_refused("[schedule]\nname='wsd'\n[train]\nsteps=10\n", "schedule.decay");
  expect_refused("[schedule]\nwarmup=20\n[train]\nsteps=10\n", "schedule.warmup");
  expect_refused("[train\nsteps=1\n", "run.toml:1");
}

// Every shipped example config parses (and names an existing optimizer and model).
TEST(TrainConfig, ExamplesParse) {
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(std::string(SPECOPT_SOURCE_DIR) + "/examples/train")) {
    if (e.path().extension() != ".toml") continue;
    const auto c = L::load_train_config(e.path().string());
    EXPECT_GE(c.steps, 100) << e.path();
    ++n;
  }
  EXPECT_GE(n, 4);
}

// Every shipped example still parses when train.steps is lowered far below its warmup and
// decay: they are fractions of the run and follow it.
TEST(TrainConfig, ExamplesFollowALoweredStepCount) {
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(std::string(SPECOPT_SOURCE_DIR) + "/examples/train")) {
    if (e.path().extension() != ".toml") continue;
    L::TrainConfig c;
    ASSERT_NO_THROW(c = L::load_train_config(e.path().string(), {"train.steps=20"})) << e.path();
    EXPECT_EQ(c.steps, 20);
    EXPECT_LE(c.warmup_steps() + (c.schedule.name == "wsd" ? c.decay_steps() : 0), 20) << e.path();
    if (c.schedule.name != "constant") EXPECT_LT(c.schedule.warmup, 1) << e.path();  // a fraction
    ++n;
  }
  EXPECT_GE(n, 5);
}

TEST(TrainConfig, WarmupAndDecayAreStepsOrFractionsOfTheRun) {
  const std::string wsd = "[schedule]\nname='wsd'\nwarmup=0.05\ndecay=0.2\nmin=0.0\n[train]\n";
  auto c = L::parse_train_config(wsd + "steps=1000\n");
  EXPECT_EQ(c.warmup_steps(), 50);
  EXPECT_EQ(c.decay_steps(), 200);
  EXPECT_EQ(c.schedule_spec(), "wsd:warmup=50,total=1000,decay=200,min=0");
  c = L::parse_train_config(wsd + "steps=30\n");  // 1.5 → 2 (nearest), 6
  EXPECT_EQ(c.warmup_steps(), 2);
  EXPECT_EQ(c.decay_steps(), 6);
  // Whole numbers are steps, as before.
  c = L::parse_train_config("[schedule]\nname='warmup_cosine'\nwarmup=7\n[train]\nsteps=30\n");
  EXPECT_EQ(c.warmup_steps(), 7);
  // config.json keeps what was written and the steps it resolves to.
  c = L::parse_train_config(wsd + "steps=1000\n");
  const auto j = c.to_json().at("schedule");
  EXPECT_EQ(j.at("warmup").get<double>(), 0.05);
  EXPECT_EQ(j.at("warmup_steps").get<int64_t>(), 50);
  EXPECT_EQ(j.at("decay_steps").get<int64_t>(), 200);
  // Neither a step count nor a fraction:
  expect_refused("[schedule]\nname='warmup_cosine'\nwarmup=1.5\n", "schedule.warmup': 1.5 is neither");
  expect_refused("[schedule]\nname='warmup_cosine'\nwarmup=-0.1\n", "schedule.warmup");
  expect_refused("[schedule]\nname='wsd'\nwarmup=0.1\ndecay='x'\n", "schedule.decay': expected a number");
}

// A warmup (+ decay) longer than the run names the key to change and the way out.
TEST(TrainConfig, ScheduleLongerThanTheRunSaysWhichKeyToChange) {
  expect_refused("[schedule]\nname='warmup_cosine'\nwarmup=100\n[train]\nsteps=50\n",
                 "config key 'schedule.warmup': schedule.warmup = 100 exceeds train.steps = 50: "
                 "lower it, or give it as a fraction of the run (e.g. warmup = 0.05)");
  expect_refused("[schedule]\nname='wsd'\nwarmup=10\ndecay=200\n[train]\nsteps=100\n",
                 "config key 'schedule.decay': schedule.warmup = 10 + schedule.decay = 200 exceeds "
                 "train.steps = 100");
  expect_refused("[schedule]\nname='wsd'\nwarmup=0.6\ndecay=0.6\n[train]\nsteps=100\n",
                 "schedule.warmup = 0.6 (60 steps) + schedule.decay = 0.6 (60 steps) exceeds");
}

std::vector<std::string> sentinels(const nlohmann::json& j, const std::string& at = "") {
  std::vector<std::string> found;
  if (j.is_object()) {
    for (const auto& kv : j.items()) {
      const auto sub = sentinels(kv.value(), at.empty() ? kv.key() : at + "." + kv.key());
      found.insert(found.end(), sub.begin(), sub.end());
    }
  } else if ((j.is_number() && j.get<double>() == -1) || (j.is_string() && j.get<std::string>().empty())) {
    found.push_back(at + " = " + j.dump());
  }
  return found;
}

// config.json (to_json) holds resolved values: the optimizer preset's momentum, p and
// shape_rule (the library's own presets), the data folder; null where a key does not apply.
TEST(TrainConfig, ResolvedJsonHasNoSentinels) {
  for (const auto& name : L::optimizer_names()) {
    const bool needs_p = name == "spectraladam" || name == "spectralsgd";
    const auto c = L::parse_train_config("[optimizer]\nname='" + name + "'\n" +
                                         (needs_p ? "p=0.3\n" : ""));
    const auto j = c.to_json();
    EXPECT_EQ(sentinels(j), std::vector<std::string>{}) << name << ": " << j.dump();
    EXPECT_EQ(j.at("data").at("dir"), L::brown_dir());
    const auto& o = j.at("optimizer");
    if (needs_p) EXPECT_EQ(o.at("p").get<double>(), 0.3) << name;
  }
  auto opt = [](const std::string& name) {
    return L::parse_train_config("[optimizer]\nname='" + name + "'\n").to_json().at("optimizer");
  };
  using specopt::to_string;
  EXPECT_EQ(opt("muon").at("momentum").get<double>(), specopt::MuonOptions(1).momentum());
  EXPECT_EQ(opt("muon").at("shape_rule"), to_string(specopt::MuonOptions(1).shape_rule()));
  EXPECT_TRUE(opt("muon").at("p").is_null());
  EXPECT_EQ(opt("normuon").at("momentum").get<double>(), specopt::NorMuonOptions(1).momentum());
  EXPECT_EQ(opt("normuon").at("shape_rule"), to_string(specopt::NorMuonOptions(1).shape_rule()));
  EXPECT_EQ(opt("adamuon").at("momentum").get<double>(), specopt::AdaMuonOptions(1).momentum());
  EXPECT_TRUE(opt("adamuon").at("shape_rule").is_null());  // AdaMuon's γ replaces Muon's shape rule
  EXPECT_EQ(opt("polargrad").at("momentum").get<double>(), specopt::PolarGradOptions(1).momentum());
  EXPECT_TRUE(opt("polargrad").at("shape_rule").is_null());
  EXPECT_EQ(opt("dion2").at("momentum").get<double>(), specopt::Dion2Options(1).momentum());
  EXPECT_EQ(opt("dion2").at("shape_rule"), to_string(specopt::Dion2Options(1).shape_rule()));
  const std::pair<const char*, specopt::SpectralAdamOptions> adams[] = {
      {"adam", specopt::SpectralAdamOptions::adam(1)}, {"adams", specopt::SpectralAdamOptions::adams(1)},
      {"adamq", specopt::SpectralAdamOptions::adamq(1)}, {"adamz", specopt::SpectralAdamOptions::adamz(1)},
      {"spectral_adam", specopt::SpectralAdamOptions(1)}};
  for (const auto& [name, preset] : adams) {
    if (std::string(name) != "spectral_adam") EXPECT_EQ(opt(name).at("p").get<double>(), preset.p()) << name;
    EXPECT_EQ(L::parse_train_config(std::string("[optimizer]\nname='") + name + "'\np=0.5\n")
                  .to_json().at("optimizer").at("shape_rule"),
              to_string(preset.shape_rule())) << name;
    EXPECT_TRUE(L::parse_train_config(std::string("[optimizer]\nname='") + name + "'\np=0.5\n")
                    .to_json().at("optimizer").at("momentum").is_null()) << name;
  }
  const std::pair<const char*, specopt::SpectralSGDOptions> sgds[] = {
      {"msgd", specopt::SpectralSGDOptions::msgd(1)}, {"msgds", specopt::SpectralSGDOptions::msgds(1)},
      {"msgdq", specopt::SpectralSGDOptions::msgdq(1)}, {"msgdz", specopt::SpectralSGDOptions::msgdz(1)}};
  for (const auto& [name, preset] : sgds) {
    EXPECT_EQ(opt(name).at("p").get<double>(), preset.p()) << name;
    EXPECT_EQ(opt(name).at("momentum").get<double>(), preset.momentum()) << name;
    EXPECT_EQ(opt(name).at("shape_rule"), to_string(preset.shape_rule())) << name;
  }
  for (const char* name : {"adamw", "lion", "lionk"}) {
    EXPECT_TRUE(opt(name).at("momentum").is_null()) << name;
    EXPECT_TRUE(opt(name).at("p").is_null()) << name;
    EXPECT_TRUE(opt(name).at("shape_rule").is_null()) << name;
  }
  // Values that were set stay as set.
  const auto set = L::parse_train_config("[optimizer]\nname='muon'\nmomentum=0.5\nshape_rule='none'\n")
                       .to_json().at("optimizer");
  EXPECT_EQ(set.at("momentum").get<double>(), 0.5);
  EXPECT_EQ(set.at("shape_rule"), "none");
}

// optimizer.adamw_patterns / spectral_patterns: arrays of regular expressions, checked.
TEST(TrainConfig, PartitionPatternsAreCheckedNamingTheKey) {
  const auto c = L::parse_train_config(
      "[optimizer]\nname='muon'\nadamw_patterns=['^out\\.weight$']\nspectral_patterns=['mixer']\n");
  EXPECT_EQ(c.optimizer.adamw_patterns, std::vector<std::string>{"^out\\.weight$"});
  EXPECT_EQ(c.optimizer.spectral_patterns, std::vector<std::string>{"mixer"});
  EXPECT_EQ(c.to_json().at("optimizer").at("adamw_patterns"), nlohmann::json({"^out\\.weight$"}));
  const auto s = L::parse_train_config("[optimizer]\nname='muon'\n", {"optimizer.spectral_patterns=['a', 'b']"});
  EXPECT_EQ(s.optimizer.spectral_patterns, (std::vector<std::string>{"a", "b"}));
  expect_refused("[optimizer]\nadamw_patterns=['out[']\n",
                 "config key 'optimizer.adamw_patterns': 'out[' is not a valid regular expression");
  expect_refused("[optimizer]\nspectral_patterns='out'\n",
                 "config key 'optimizer.spectral_patterns': expected an array of strings");
  expect_refused("[optimizer]\nadamw_patterns=[3]\n", "optimizer.adamw_patterns': expected an array");
  expect_refused("[optimizer]\nadamw_patterns=['']\n", "optimizer.adamw_patterns': an empty pattern");
  expect_refused("[optimizer]\nname='adamw'\nadamw_patterns=['head']\n",
                 "config key 'optimizer.adamw_patterns': optimizer 'adamw' updates every parameter");
}

// ---- through the CLI ------------------------------------------------------------------

using specopt_test::run_cli;

class TrainCli : public TempDir {};

TEST_F(TrainCli, ConfigErrorsAreOneLineNamingTheKey) {
  specopt_train_test::write_text(path("bad.toml"), "[optimizer]\nname='muon'\nmomentun=0.9\n");
  auto r = run_cli("train --config " + path("bad.toml"));
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_EQ(r.output.rfind("specopt: error: config key 'optimizer.momentun': unknown key", 0), 0u)
      << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;

  specopt_train_test::write_text(path("ok.toml"), "[optimizer]\nname='muon'\n");
  r = run_cli("train --config " + path("ok.toml") + " --set optimizer.lr=-3");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("'optimizer.lr': -3 must be > 0"), std::string::npos) << r.output;

  r = run_cli("train --config " + path("missing.toml"));
  EXPECT_EQ(r.code, 2) << r.output;  // CLI11 parse error: file does not exist
  EXPECT_NE(r.output.find("missing.toml"), std::string::npos) << r.output;
}

TEST_F(TrainCli, TrainsFromConfigAndPrintsSummary) {
  specopt_train_test::write_fmnist_fixture(path("fm"), 256, 64);
  specopt_train_test::write_text(
      path("run.toml"), "[model]\nkind='mlp'\nhidden=16\ndepth=1\n[data]\ndataset='fashion_mnist'\n"
                        "dir='" + path("fm") + "'\n[optimizer]\nname='muon'\nlr=0.02\n"
                        "[train]\nsteps=6\nbatch_size=16\nthreads=1\nout_dir='" + path("out") + "'\n");
  const auto r = run_cli("train --config " + path("run.toml") + " --plain");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("\"status\": \"completed\""), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("step 6/6"), std::string::npos) << r.output;  // plain progress line
  EXPECT_TRUE(std::filesystem::exists(path("out/summary.json")));
  // The partition, printed at the start and written to the run directory.
  EXPECT_NE(r.output.find("partition: 1 parameter(s) to muon, 3 to AdamW"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("spectral  fc0.weight [16, 784]  (hidden matrix)"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("adamw     head.weight [10, 16]  (output head 'head')"), std::string::npos)
      << r.output;
  EXPECT_TRUE(std::filesystem::exists(path("out/partition.json")));

  // A divergent run (AdamW lr 1e30: the weights overflow float32 after step 1) exits with
  // status 3 and one error line naming the step and the kept checkpoint.
  const auto d = run_cli("train --config " + path("run.toml") +
                         " --set optimizer.name=adamw --set optimizer.lr=1e30 --set train.grad_clip=0"
                         " --set train.checkpoint_interval=1 --quiet --force");  // a new run in out/
  EXPECT_EQ(d.code, 3) << d.output;
  EXPECT_NE(d.output.find("specopt: error: training diverged: non-finite training loss"),
            std::string::npos) << d.output;
  EXPECT_NE(d.output.find("checkpoint.pt' (step 1) was kept"), std::string::npos) << d.output;
}

}  // namespace
