// MuonClip's QK-clip (Kimi K2, arXiv 2507.20534) in the trainer's GPT: the model reports each
// head's maximum attention logit of the last forward (checked against a float64 recomputation
// from the weights), and on a model forced to large logits the clip brings every head's
// recomputed maximum to at most τ while heads already below τ, the value rows and every other
// weight stay bit-identical. Also the `optimizer.qk_clip_tau` key of `specopt train`.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <ATen/CPUGeneratorImpl.h>

#include "lab/models/gpt.h"
#include "lab/train/config.h"

namespace {

namespace L = specopt::lab;

L::GPTConfig clip_gpt() {
  L::GPTConfig c;
  c.vocab_size = 12;
  c.context = 8;
  c.n_layer = 2;
  c.n_head = 4;
  c.d_model = 16;
  return c;
}

// Each block's input of `ids` (the embeddings, then the blocks before it), float64.
std::vector<at::Tensor> block_inputs(L::GPT& m, const at::Tensor& ids) {
  at::NoGradGuard no_grad;
  auto params = m->named_parameters();
  auto modules = m->named_modules();
  const int64_t T = ids.size(1);
  auto x = params["wte.weight"].index({ids}) + params["wpe.weight"].narrow(0, 0, T).unsqueeze(0);
  std::vector<at::Tensor> inputs;
  for (int64_t i = 0; i < m->config().n_layer; ++i) {
    inputs.push_back(x);
    x = std::dynamic_pointer_cast<L::BlockImpl>(modules["blocks." + std::to_string(i)])->forward(x);
  }
  return inputs;
}

// Every head's largest causal logit q·k/√d_head, [n_layer, n_head], recomputed by hand from the
// current weights (LayerNorm, the head's W_q and W_k rows, the causal mask) on the blocks'
// inputs `inputs`.
at::Tensor recomputed_max_logits(L::GPT& m, const std::vector<at::Tensor>& inputs) {
  at::NoGradGuard no_grad;
  const auto cfg = m->config();
  const int64_t d = cfg.d_model, hd = d / cfg.n_head;
  auto params = m->named_parameters();
  auto ln = [](const at::Tensor& x, const at::Tensor& g) {
    const auto mu = x.mean(-1, true);
    const auto var = (x - mu).square().mean(-1, true);
    return (x - mu) / (var + 1e-5).sqrt() * g;
  };
  std::vector<at::Tensor> rows;
  for (int64_t i = 0; i < cfg.n_layer; ++i) {
    const std::string b = "blocks." + std::to_string(i);
    const auto h = ln(inputs[i], params[b + ".ln_1.weight"]);
    const int64_t T = h.size(1);
    const auto future = at::ones({T, T}, at::kBool).triu(1);
    const auto& W = params[b + ".attn.qkv.weight"];
    auto row = at::empty({cfg.n_head}, at::kDouble);
    for (int64_t head = 0; head < cfg.n_head; ++head) {
      const auto q = h.matmul(W.narrow(0, head * hd, hd).t());
      const auto k = h.matmul(W.narrow(0, d + head * hd, hd).t());
      const auto s = q.matmul(k.transpose(-2, -1)) / std::sqrt(double(hd));
      row[head] = s.masked_fill(future, -std::numeric_limits<double>::infinity()).max();
    }
    rows.push_back(row);
  }
  return at::stack(rows);
}

// A float64 GPT (exact recomputation) seeded with `seed`.
L::GPT make_gpt(uint64_t seed) {
  at::manual_seed(seed);
  L::GPT m(clip_gpt());
  m->to(at::kDouble);
  return m;
}

// A batch of token ids, fixed.
at::Tensor ids_of() {
  auto gen = at::detail::createCPUGenerator(3);
  return at::randint(0, 12, {3, 8}, gen, at::kLong);
}

TEST(QkClip, ModelReportsEachHeadsMaxLogitOfTheLastForward) {
  auto m = make_gpt(1);
  const auto ids = ids_of();
  m->forward(ids);
  const auto reported = m->max_logits().to(at::kDouble);
  ASSERT_EQ(reported.sizes(), (at::IntArrayRef{2, 4}));
  EXPECT_LE((reported - recomputed_max_logits(m, block_inputs(m, ids))).abs().max().item<double>(),
            1e-10);
}

TEST(QkClip, ClipBringsEveryHeadToTauAndLeavesTheOthersUntouched) {
  auto m = make_gpt(2);
  const int64_t d = 16, hd = 4;
  {
    // Force large logits: heads 0 and 2 of block 0 and head 1 of block 1 get W_q, W_k × 30.
    at::NoGradGuard no_grad;
    auto params = m->named_parameters();
    for (auto [layer, head] : {std::pair<int, int>{0, 0}, {0, 2}, {1, 1}}) {
      auto W = params["blocks." + std::to_string(layer) + ".attn.qkv.weight"];
      W.narrow(0, head * hd, hd).mul_(30.0);
      W.narrow(0, d + head * hd, hd).mul_(30.0);
    }
  }
  const auto ids = ids_of();
  m->forward(ids);
  const auto before = m->max_logits().clone();
  const auto inputs = block_inputs(m, ids);  // what the step's forward saw
  // τ between the untouched heads' maxima and the forced ones'.
  const double tau = 2.0;
  std::vector<std::pair<int64_t, int64_t>> above, below;
  for (int64_t l = 0; l < 2; ++l) {
    for (int64_t h = 0; h < 4; ++h) {
      (before[l][h].item<double>() > tau ? above : below).emplace_back(l, h);
    }
  }
  ASSERT_EQ(above.size(), 3u) << before;  // the forced heads, and only those
  std::map<std::string, at::Tensor> old;
  for (const auto& kv : m->named_parameters()) old[kv.key()] = kv.value().detach().clone();

  EXPECT_EQ(m->qk_clip(tau, before), 3);

  // On the activations the maxima were measured on (the step's forward), every clipped head's
  // maximum is now τ and every other head's is what it was.
  const auto after = recomputed_max_logits(m, inputs);
  for (int64_t l = 0; l < 2; ++l) {
    for (int64_t h = 0; h < 4; ++h) {
      const double b = before[l][h].item<double>(), a = after[l][h].item<double>();
      if (b > tau) {
        EXPECT_NEAR(a, tau, 1e-12 * tau) << l << "," << h;
      } else {
        EXPECT_NEAR(a, b, 1e-12 * (1 + std::abs(b))) << l << "," << h;
      }
    }
  }
  for (const auto& kv : m->named_parameters()) {
    const auto& name = kv.key();
    const auto& W = kv.value();
    if (name.find("attn.qkv.weight") == std::string::npos) {
      EXPECT_TRUE(at::equal(W, old[name])) << name;
      continue;
    }
    const int64_t l = name.rfind("blocks.0.", 0) == 0 ? 0 : 1;
    EXPECT_TRUE(at::equal(W.narrow(0, 2 * d, d), old[name].narrow(0, 2 * d, d))) << "values " << name;
    for (int64_t h = 0; h < 4; ++h) {
      for (int64_t part : {0, 1}) {  // W_q, W_k
        const auto rows = W.narrow(0, part * d + h * hd, hd);
        const auto rows0 = old[name].narrow(0, part * d + h * hd, hd);
        const bool clipped = before[l][h].item<double>() > tau;
        if (clipped) {
          const double f = std::sqrt(tau / before[l][h].item<double>());
          EXPECT_LE((rows - rows0 * f).abs().max().item<double>(), 1e-15) << name << " head " << h;
        } else {
          EXPECT_TRUE(at::equal(rows, rows0)) << name << " head " << h << " below tau";
        }
      }
    }
  }
  // A second forward reports the clipped maxima; nothing is left above τ in layer 0.
  m->forward(ids);
  EXPECT_LE(m->max_logits()[0].max().item<double>(), tau * (1 + 1e-12));
  EXPECT_THROW(m->qk_clip(0.0, before), c10::Error);
}

TEST(QkClip, ConfigKeyIsCheckedNamingIt) {
  EXPECT_EQ(L::parse_train_config("").optimizer.qk_clip_tau, 0.0);
  EXPECT_EQ(L::parse_train_config("[optimizer]\nqk_clip_tau=100\n").optimizer.qk_clip_tau, 100.0);
  EXPECT_EQ(L::parse_train_config("", {"optimizer.qk_clip_tau=50"}).to_json().at("optimizer")
                .at("qk_clip_tau").get<double>(), 50.0);
  auto refused = [](const std::string& toml, const std::string& needle) {
    try {
      L::parse_train_config(toml);
      ADD_FAILURE() << "accepted: " << toml;
    } catch (const std::exception& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  refused("[optimizer]\nqk_clip_tau=-1\n", "optimizer.qk_clip_tau");
  refused("[model]\nkind='mlp'\n[data]\ndataset='fashion_mnist'\n[optimizer]\nqk_clip_tau=10\n",
          "optimizer.qk_clip_tau");
}

}  // namespace
