// The trainer: loss falls, --resume is bit-exact, a NaN/Inf loss stops the run keeping the
// last good checkpoint, summaries and metrics logs. On fixture data (tests/train/fixtures.h),
// one intra-op thread (test_main.cpp), tiny models.
//
// Bit-exactness needs the same floating-point reduction order in both runs: both run in this
// process with one thread, and batches depend only on (seed, step).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <vector>

#include "fixtures.h"
#include "lab/train/config.h"
#include "lab/train/trainer.h"

namespace {

using specopt_train_test::TempDir;
namespace L = specopt::lab;
namespace fs = std::filesystem;

class Train : public TempDir {
 protected:
  L::TrainConfig gpt(const std::string& extra = "") {
    specopt_train_test::write_brown_fixture(path("brown"), 10);
    return L::parse_train_config(specopt_train_test::tiny_gpt_toml(path("brown"), path("run"), extra),
                                 {}, "test");
  }
  L::TrainConfig mlp(const std::string& optimizer_lines, int64_t steps) {
    specopt_train_test::write_fmnist_fixture(path("fm"), 512, 128);
    return L::parse_train_config(
        "[model]\nkind='mlp'\nhidden=32\ndepth=1\n"
        "[data]\ndataset='fashion_mnist'\ndir='" + path("fm") + "'\nval_limit=128\n"
        "[optimizer]\n" + optimizer_lines + "\n"
        "[train]\nsteps=" + std::to_string(steps) +
            "\nbatch_size=32\neval_interval=10\nlog_interval=5\nthreads=1\n"
        "out_dir='" + path("run") + "'\n",
        {}, "test");
  }
  std::vector<nlohmann::json> metrics() {
    std::ifstream m(path("run/metrics.jsonl"));
    std::vector<nlohmann::json> lines;
    for (std::string line; std::getline(m, line);) lines.push_back(nlohmann::json::parse(line));
    return lines;
  }
  L::TrainHooks quiet() {
    L::TrainHooks h;
    h.quiet = true;
    return h;
  }
};

TEST_F(Train, GptLossFallsAndFilesWritten) {
  const auto r = L::train(gpt(), quiet());
  ASSERT_EQ(r.status, "completed") << r.message;
  EXPECT_EQ(r.steps_done, 24);
  ASSERT_EQ(r.train_losses.size(), 24u);
  // Initial loss ≈ ln(vocab); the fixture's repetitive text is learnt quickly.
  EXPECT_LT(r.final_val_loss, 0.8 * r.initial_val_loss)
      << r.initial_val_loss << " -> " << r.final_val_loss;
  EXPECT_GT(r.items_per_second, 0);
  EXPECT_GT(r.optimizer_fraction, 0);
  EXPECT_LT(r.optimizer_fraction, 1);
  for (const char* f : {"config.json", "metrics.jsonl", "checkpoint.pt", "summary.json"}) {
    EXPECT_TRUE(fs::exists(path("run/") + f)) << f;
  }
  std::ifstream s(path("run/summary.json"));
  const auto summary = nlohmann::json::parse(s);
  EXPECT_EQ(summary.at("status"), "completed");
  EXPECT_DOUBLE_EQ(summary.at("final_val_loss").get<double>(), r.final_val_loss);
  EXPECT_GT(summary.at("tokens_per_second").get<double>(), 0);
  EXPECT_TRUE(summary.contains("optimizer_time_fraction"));
  // metrics.jsonl: 6 training lines (every 4 steps) and 3 evaluations (every 8).
  std::ifstream m(path("run/metrics.jsonl"));
  std::string line;
  int train_lines = 0, eval_lines = 0;
  while (std::getline(m, line)) {
    const auto j = nlohmann::json::parse(line);
    (j.contains("val_loss") ? eval_lines : train_lines) += 1;
  }
  EXPECT_EQ(train_lines, 6);
  EXPECT_EQ(eval_lines, 4);  // step 0 (before training), 8, 16, 24
}

TEST_F(Train, MlpAccuracyRises) {
  const auto r = L::train(mlp("name='adams'\nlr=0.01\nvector_lr=0.003", 40), quiet());
  ASSERT_EQ(r.status, "completed") << r.message;
  EXPECT_LT(r.final_val_loss, 0.5 * r.initial_val_loss);
  EXPECT_GT(r.final_val_accuracy, 0.8);  // chance is 0.1
  EXPECT_EQ(r.summary.at("samples_per_second").get<double>(), r.items_per_second);
}

// N steps, stop, resume for N more == 2N uninterrupted, exactly (hybrid Muon + AdamW, a
// warmup-cosine schedule, gradient clipping).
TEST_F(Train, ResumeIsBitExact) {
  auto c = gpt("checkpoint_interval=12\n");
  const auto full = L::train(c, quiet());
  ASSERT_EQ(full.status, "completed");
  fs::remove_all(path("run"));

  auto hooks = quiet();
  hooks.stop_after = 12;
  const auto first = L::train(c, hooks);
  ASSERT_EQ(first.status, "stopped");
  EXPECT_EQ(first.steps_done, 12);
  hooks.stop_after = 0;
  hooks.resume = true;
  const auto second = L::train(c, hooks);
  ASSERT_EQ(second.status, "completed") << second.message;
  EXPECT_EQ(second.train_losses.size(), 12u);
  EXPECT_EQ(second.final_train_loss, full.final_train_loss);  // exact
  EXPECT_EQ(second.final_val_loss, full.final_val_loss);
  EXPECT_EQ(second.best_val_loss, full.best_val_loss);
  EXPECT_EQ(second.parameter_checksum, full.parameter_checksum);
  for (size_t i = 0; i < 12; ++i) EXPECT_EQ(second.train_losses[i], full.train_losses[12 + i]) << i;
}

// metrics.jsonl starts with the validation loss before the first step, and its wall time
// ("seconds") runs on across a resume from the time the checkpoint recorded, instead of
// restarting at zero; config.json holds the resolved config.
TEST_F(Train, MetricsStartAtStepZeroAndWallTimeRunsOnAcrossResume) {
  auto c = gpt("checkpoint_interval=20\n");
  auto hooks = quiet();
  hooks.stop_after = 20;
  const auto first = L::train(c, hooks);
  ASSERT_EQ(first.status, "stopped");
  auto lines = metrics();
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines.front().at("step"), 0);
  EXPECT_EQ(lines.front().at("val_loss").get<double>(), first.initial_val_loss);
  double at_checkpoint = 0;
  for (const auto& j : lines) {
    if (j.contains("seconds") && j.at("step") == 20) at_checkpoint = j.at("seconds").get<double>();
  }
  ASSERT_GT(at_checkpoint, 0);

  hooks.stop_after = 0;
  hooks.resume = true;
  ASSERT_EQ(L::train(c, hooks).status, "completed");
  lines = metrics();
  EXPECT_EQ(lines.front().at("step"), 0);  // kept by the resume
  double last = 0;
  int after = 0;
  for (const auto& j : lines) {
    if (!j.contains("seconds")) continue;
    EXPECT_GE(j.at("seconds").get<double>(), last) << j.dump();  // never goes back
    last = j.at("seconds").get<double>();
    if (j.at("step").get<int64_t>() > 20) {
      EXPECT_GE(j.at("seconds").get<double>(), at_checkpoint) << j.dump();
      ++after;
    }
  }
  EXPECT_EQ(after, 1);  // step 24
  std::ifstream in(path("run/config.json"));
  const auto saved = nlohmann::json::parse(in);
  EXPECT_EQ(saved.at("optimizer").at("momentum").get<double>(), 0.95);
  EXPECT_EQ(saved.at("optimizer").at("shape_rule"), "original");
  EXPECT_EQ(saved.at("schedule").at("warmup_steps"), 2);
}

// The partition is printed at the start and written to partition.json, each parameter with
// its side and the rule (and pattern) that decided; optimizer.adamw_patterns moves a matrix.
TEST_F(Train, PartitionIsPrintedWrittenAndConfigurable) {
  auto c = gpt();
  c.steps = 2;
  c.schedule.name = "constant";
  c.schedule.warmup = 0;
  std::string log;
  L::TrainHooks hooks;
  hooks.force_plain = true;
  hooks.log = [&log](const std::string& line) { log += line + "\n"; };
  ASSERT_EQ(L::train(c, hooks).status, "completed");
  EXPECT_NE(log.find("partition: 4 parameter(s) to muon, 5 to AdamW"), std::string::npos) << log;
  EXPECT_NE(log.find("spectral  blocks.0.mlp.fc.weight [64, 16]  (hidden matrix)"),
            std::string::npos) << log;
  EXPECT_NE(log.find("adamw     wte.weight "), std::string::npos) << log;
  EXPECT_NE(log.find("(embedding 'wte')"), std::string::npos) << log;
  EXPECT_LT(log.find("partition:"), log.find("optimizer: "));  // before training starts
  std::ifstream in(path("run/partition.json"));
  const auto part = nlohmann::json::parse(in);
  EXPECT_EQ(part.at("optimizer"), "muon");
  std::map<std::string, nlohmann::json> rows;
  for (const auto& row : part.at("parameters")) rows[row.at("name")] = row;
  EXPECT_EQ(rows.size(), 9u);
  EXPECT_EQ(rows.at("blocks.0.attn.qkv.weight").at("side"), "spectral");
  EXPECT_EQ(rows.at("blocks.0.attn.qkv.weight").at("rule"), "hidden matrix");
  EXPECT_EQ(rows.at("ln_f.weight").at("rule"), "< 2-D");
  EXPECT_EQ(rows.at("wpe.weight").at("pattern"), "wpe");

  // The same run with the MLP's first matrix sent to AdamW by a pattern.
  c.optimizer.adamw_patterns = {"^blocks\\.0\\.mlp\\.fc\\."};
  hooks.force = true;
  log.clear();
  ASSERT_EQ(L::train(c, hooks).status, "completed");
  EXPECT_NE(log.find("partition: 3 parameter(s) to muon, 6 to AdamW"), std::string::npos) << log;
  EXPECT_NE(log.find("adamw     blocks.0.mlp.fc.weight [64, 16]  (adamw_patterns "
                     "'^blocks\\.0\\.mlp\\.fc\\.')"), std::string::npos) << log;
  std::ifstream in2(path("run/partition.json"));
  const auto moved = nlohmann::json::parse(in2);
  for (const auto& row : moved.at("parameters")) {
    if (row.at("name") == "blocks.0.mlp.fc.weight") EXPECT_EQ(row.at("side"), "adamw");
  }

  // A pattern that matches no parameter is refused, naming the key and the model's names.
  c.optimizer.adamw_patterns = {"^out\\.weight$"};
  hooks.quiet = true;
  try {
    L::train(c, hooks);
    FAIL() << "accepted a pattern that matches nothing";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("config key 'optimizer.adamw_patterns': '^out\\.weight$' "
                                         "matches no parameter name of the model (its parameters: "
                                         "wte.weight, wpe.weight"),
              std::string::npos) << e.what();
  }
}

TEST_F(Train, ResumeRefusals) {
  auto c = gpt();
  auto hooks = quiet();
  hooks.resume = true;
  EXPECT_THROW(L::train(c, hooks), std::runtime_error);  // no checkpoint yet
  hooks.resume = false;
  hooks.stop_after = 8;
  c.checkpoint_interval = 4;
  L::train(c, hooks);
  hooks.resume = true;
  hooks.stop_after = 0;
  auto other = c;
  other.optimizer.lr = 0.03;
  try {
    L::train(other, hooks);
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("config differs"), std::string::npos) << e.what();
  }
}

// AdamW with lr 1e30 (warmup from 0): step 0 is harmless, step 1 makes the weights ~1e28,
// and the next forward pass overflows float32, so the loss is NaN. The run stops with
// "diverged", the message names the step and the checkpoint kept (written after every step
// that ended finite), no temporary file is left, and that checkpoint loads (resume works).
TEST_F(Train, NonFiniteLossStopsKeepingLastGoodCheckpoint) {
  auto c = mlp("name='adamw'\nlr=1e30", 60);
  c.grad_clip = 0;
  c.schedule.name = "warmup_cosine";
  c.schedule.warmup = 20;
  c.checkpoint_interval = 1;
  c.eval_interval = 100;
  const auto r = L::train(c, quiet());
  ASSERT_EQ(r.status, "diverged") << "final loss " << r.final_train_loss;
  EXPECT_GE(r.steps_done, 2);
  EXPECT_LT(r.steps_done, 60);
  EXPECT_NE(r.message.find("non-finite training loss (nan) at step " + std::to_string(r.steps_done)),
            std::string::npos) << r.message;
  EXPECT_NE(r.message.find("checkpoint.pt' (step " + std::to_string(r.steps_done) + ") was kept"),
            std::string::npos) << r.message;
  for (double l : r.train_losses) EXPECT_TRUE(std::isfinite(l));
  std::ifstream s(path("run/summary.json"));
  EXPECT_EQ(nlohmann::json::parse(s).at("status"), "diverged");
  for (const auto& e : fs::directory_iterator(path("run"))) {
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
  }
  // The checkpoint holds the last finite step; resuming from it repeats the failure.
  auto hooks = quiet();
  hooks.resume = true;
  const auto again = L::train(c, hooks);
  EXPECT_EQ(again.status, "diverged");
  EXPECT_EQ(again.steps_done, r.steps_done);
  EXPECT_TRUE(again.train_losses.empty());
}

TEST_F(Train, NoFilesWhenAskedAndEveryOptimizerBuilds) {
  // With the default config (split_qkv true, which NorMuon does not have).
  for (const char* name : {"muon", "normuon", "adamuon", "polargrad", "dion2", "adamw", "lion",
                           "lionk", "adam", "adams", "adamq", "adamz", "msgd", "msgds", "msgdq",
                           "msgdz"}) {
    auto c = gpt();
    c.optimizer.name = name;
    c.optimizer.lr = std::string(name).rfind("msgd", 0) == 0 && std::string(name) != "msgdz" ? 0.05 : 0.005;
    c.steps = 3;
    c.schedule.name = "constant";
    c.schedule.warmup = 0;
    auto h = quiet();
    h.write_files = false;
    const auto r = L::train(c, h);
    EXPECT_EQ(r.status, "completed") << name << ": " << r.message;
    EXPECT_EQ(r.train_losses.size(), 3u) << name;
  }
  EXPECT_FALSE(fs::exists(path("run")));
}

}  // namespace
