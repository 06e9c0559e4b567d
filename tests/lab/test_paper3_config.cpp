// examples/train/paper3_gpt2.toml: paper 3's GPT-2 setting parses with the trainer's own
// reader and holds the published values (model shape, optimizer, schedule, clipping).
#include <gtest/gtest.h>

#include <string>

#include "lab/train/config.h"

namespace L = specopt::lab;

TEST(Paper3Config, GPT2SettingParsesWithThePublishedValues) {
  const auto c = L::load_train_config(std::string(SPECOPT_SOURCE_DIR) + "/examples/train/paper3_gpt2.toml");
  EXPECT_EQ(c.model.kind, "gpt");
  EXPECT_EQ(c.model.n_layer, 12);
  EXPECT_EQ(c.model.n_head, 12);
  EXPECT_EQ(c.model.d_model, 768);
  EXPECT_EQ(c.model.context, 1024);
  EXPECT_EQ(c.data.dataset, "brown");
  EXPECT_EQ(c.optimizer.name, "msgdz");
  EXPECT_DOUBLE_EQ(c.optimizer.lr, 7e-3);
  EXPECT_DOUBLE_EQ(c.optimizer.vector_lr, 3e-4);
  EXPECT_DOUBLE_EQ(c.optimizer.momentum, 0.9);
  EXPECT_DOUBLE_EQ(c.optimizer.beta1, 0.9);
  EXPECT_DOUBLE_EQ(c.optimizer.beta2, 0.95);
  EXPECT_DOUBLE_EQ(c.optimizer.weight_decay, 0.0);
  EXPECT_EQ(c.schedule.name, "warmup_cosine");
  EXPECT_EQ(c.warmup_steps(), 2000);
  EXPECT_EQ(c.steps, 200000);
  EXPECT_DOUBLE_EQ(c.grad_clip, 1.0);
  EXPECT_EQ(c.device, "cuda");
  EXPECT_EQ(c.schedule_spec().rfind("warmup_cosine:warmup=2000,total=200000,min=0.1", 0), 0u)
      << c.schedule_spec();
  EXPECT_DOUBLE_EQ(c.schedule.min, 0.1);
  // The shortened run the file's comments suggest is accepted too, as is every variant.
  const auto s = L::load_train_config(
      std::string(SPECOPT_SOURCE_DIR) + "/examples/train/paper3_gpt2.toml",
      {"train.steps=20000", "optimizer.name=adams", "optimizer.lr=1e-2", "train.device=cpu"});
  EXPECT_EQ(s.steps, 20000);
  EXPECT_EQ(s.warmup_steps(), 200);
  EXPECT_EQ(s.optimizer.name, "adams");
}
