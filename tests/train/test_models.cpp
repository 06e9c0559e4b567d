// Model shapes, parameter counts, names (what the optimizer partition sees), causality and
// weight tying.
#include <gtest/gtest.h>

#include <specopt/optim/partition.h>

#include "lab/models/classifiers.h"
#include "lab/models/gpt.h"

namespace {

namespace L = specopt::lab;

L::GPTConfig tiny_gpt() {
  L::GPTConfig c;
  c.vocab_size = 10;
  c.context = 8;
  c.n_layer = 2;
  c.n_head = 2;
  c.d_model = 16;
  return c;
}

TEST(GPT, ShapesAndParameterCount) {
  L::GPT m(tiny_gpt());
  const auto ids = at::randint(10, {3, 8}, at::kLong);
  EXPECT_EQ(m->forward(ids).sizes(), (std::vector<int64_t>{3, 8, 10}));
  EXPECT_EQ(m->forward(ids.narrow(1, 0, 5)).sizes(), (std::vector<int64_t>{3, 5, 10}));
  // V·d + context·d + n_layer·(12d² + 2d) + d, no biases.
  EXPECT_EQ(L::count_parameters(*m), 10 * 16 + 8 * 16 + 2 * (12 * 16 * 16 + 2 * 16) + 16);
  EXPECT_THROW(m->forward(at::zeros({1, 9}, at::kLong)), c10::Error);  // longer than context
}

TEST(GPT, DefaultIsOneToThreeMillionParameters) {
  L::GPTConfig c;  // defaults, vocab of the Brown corpus' order
  c.vocab_size = 90;
  const auto n = L::count_parameters(*L::GPT(c));
  EXPECT_GE(n, 1000000);
  EXPECT_LE(n, 3000000);
}

TEST(GPT, CausalAndTied) {
  at::manual_seed(0);
  L::GPT m(tiny_gpt());
  auto a = at::randint(10, {1, 8}, at::kLong);
  auto b = a.clone();
  b[0][6] = (b[0][6].item<int64_t>() + 1) % 10;  // change a late token
  const auto la = m->forward(a), lb = m->forward(b);
  EXPECT_TRUE(at::equal(la.narrow(1, 0, 6), lb.narrow(1, 0, 6)));  // earlier positions unchanged
  EXPECT_FALSE(at::equal(la.narrow(1, 6, 2), lb.narrow(1, 6, 2)));
  // Tied: no separate output matrix; the embedding receives the output layer's gradient.
  for (const auto& p : m->named_parameters()) EXPECT_EQ(p.key().find("head"), std::string::npos);
  m->forward(a).sum().backward();
  EXPECT_GT(m->named_parameters()["wte.weight"].grad().abs().sum().item<double>(), 0);
}

TEST(GPT, PartitionSendsMatricesToSpectralSide) {
  L::GPT m(tiny_gpt());
  const auto part = specopt::partition_parameters(*m);
  EXPECT_EQ(part.spectral_names(),
            (std::vector<std::string>{"blocks.0.attn.qkv.weight", "blocks.0.attn.proj.weight",
                                      "blocks.0.mlp.fc.weight", "blocks.0.mlp.proj.weight",
                                      "blocks.1.attn.qkv.weight", "blocks.1.attn.proj.weight",
                                      "blocks.1.mlp.fc.weight", "blocks.1.mlp.proj.weight"}));
  EXPECT_EQ(part.adamw.size(), 2u + 2 * 2 + 1);  // wte, wpe, ln_1/ln_2 per block, ln_f
  EXPECT_EQ(m->named_parameters()["blocks.0.attn.qkv.weight"].sizes(),
            (std::vector<int64_t>{48, 16}));  // packed QKV: rows = 3·cols
}

TEST(GPT, BadConfigNamesField) {
  auto c = tiny_gpt();
  c.n_head = 3;
  try {
    L::GPT m(c);
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("model.d_model = 16"), std::string::npos) << e.what();
  }
}

TEST(Classifiers, MlpAndCnnShapesAndCounts) {
  L::MLP mlp(32, 2);
  const auto x = at::randn({5, 1, 28, 28});
  EXPECT_EQ(mlp->forward(x).sizes(), (std::vector<int64_t>{5, 10}));
  EXPECT_EQ(L::count_parameters(*mlp), 784 * 32 + 32 + 32 * 32 + 32 + 32 * 10 + 10);
  L::CNN cnn(4);
  EXPECT_EQ(cnn->forward(x).sizes(), (std::vector<int64_t>{5, 10}));
  EXPECT_EQ(L::count_parameters(*cnn), (9 * 4 + 4) + (4 * 8 * 9 + 8) + (8 * 49 * 10 + 10));
  const auto part = specopt::partition_parameters(*mlp);
  EXPECT_EQ(part.spectral_names(), (std::vector<std::string>{"fc0.weight", "fc1.weight"}));
  EXPECT_EQ(specopt::partition_parameters(*cnn).spectral_names(),
            (std::vector<std::string>{"conv0.weight", "conv1.weight"}));
}

}  // namespace
