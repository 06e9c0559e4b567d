// Config parsing: defaults, --set overrides, and refusals naming the key; the same errors
// through `specopt train` (one line on stderr, exit status 1).
#include <gtest/gtest.h>

#include <filesystem>

#include "fixtures.h"
#include "tests/common/run_cli.h"
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
                                        "train.steps=7", "optimizer.nesterov=false"});
  EXPECT_EQ(c.optimizer.lr, 0.5);
  EXPECT_EQ(c.optimizer.name, "msgds");
  EXPECT_EQ(c.steps, 7);
  EXPECT_FALSE(c.optimizer.nesterov);
  expect_refused("", "--set 'lr=1'", {"lr=1"});
  expect_refused("", "optimizer.lrr", {"optimizer.lrr=1"});
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
