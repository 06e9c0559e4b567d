#include "lab/models/gpt.h"

#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

namespace specopt {
namespace lab {

void GPTConfig::validate() const {
  auto positive = [](const char* name, int64_t v) {
    if (v < 1) {
      throw std::invalid_argument(std::string("model.") + name + " = " + std::to_string(v) +
                                  " must be >= 1");
    }
  };
  positive("vocab_size", vocab_size);
  positive("context", context);
  positive("n_layer", n_layer);
  positive("n_head", n_head);
  positive("d_model", d_model);
  if (d_model % n_head != 0) {
    throw std::invalid_argument("model.d_model = " + std::to_string(d_model) +
                                " is not divisible by model.n_head = " + std::to_string(n_head));
  }
}

GainLayerNormImpl::GainLayerNormImpl(int64_t dim) {
  weight = register_parameter("weight", at::ones({dim}));
}

at::Tensor GainLayerNormImpl::forward(const at::Tensor& x) {
  return at::layer_norm(x, {weight.size(0)}, weight, /*bias=*/{}, 1e-5);
}

CausalSelfAttentionImpl::CausalSelfAttentionImpl(int64_t d_model, int64_t heads)
    : n_head(heads) {
  qkv = register_module("qkv", torch::nn::Linear(
                                   torch::nn::LinearOptions(d_model, 3 * d_model).bias(false)));
  proj = register_module(
      "proj", torch::nn::Linear(torch::nn::LinearOptions(d_model, d_model).bias(false)));
}

at::Tensor CausalSelfAttentionImpl::forward(const at::Tensor& x) {
  const auto B = x.size(0), T = x.size(1), C = x.size(2);
  const auto hd = C / n_head;
  auto parts = qkv->forward(x).split(C, /*dim=*/2);
  auto heads = [&](const at::Tensor& t) { return t.view({B, T, n_head, hd}).transpose(1, 2); };
  const auto q = heads(parts[0]), k = heads(parts[1]), v = heads(parts[2]);
  auto att = at::matmul(q, k.transpose(-2, -1)) * (1.0 / std::sqrt(static_cast<double>(hd)));
  const auto future = at::ones({T, T}, x.options().dtype(at::kBool)).triu(1);
  att = att.masked_fill(future, -std::numeric_limits<float>::infinity());
  max_logits = att.detach().amax({0, 2, 3});  // [n_head]: what QK-clip looks at
  att = at::softmax(att, -1);
  auto y = at::matmul(att, v).transpose(1, 2).contiguous().view({B, T, C});
  return proj->forward(y);
}

int64_t CausalSelfAttentionImpl::qk_clip(double tau, const at::Tensor& maxima) {
  TORCH_CHECK(tau > 0, "qk_clip: tau must be > 0, got ", tau);
  TORCH_CHECK(maxima.dim() == 1 && maxima.size(0) == n_head, "qk_clip: expected ", n_head,
              " per-head maxima, got shape ", maxima.sizes());
  const auto host = maxima.detach().to(at::kCPU, at::kDouble).contiguous();
  const auto* m = host.data_ptr<double>();
  const int64_t d = qkv->weight.size(1), hd = d / n_head;
  at::NoGradGuard no_grad;
  int64_t clipped = 0;
  for (int64_t h = 0; h < n_head; ++h) {
    if (!(m[h] > tau)) continue;  // NaN or at most tau: untouched
    const double factor = std::sqrt(tau / m[h]);
    qkv->weight.narrow(0, h * hd, hd).mul_(factor);      // W_q of head h
    qkv->weight.narrow(0, d + h * hd, hd).mul_(factor);  // W_k of head h
    ++clipped;
  }
  return clipped;
}

BlockImpl::BlockImpl(int64_t d_model, int64_t n_head) {
  ln_1 = register_module("ln_1", GainLayerNorm(d_model));
  attn = register_module("attn", CausalSelfAttention(d_model, n_head));
  ln_2 = register_module("ln_2", GainLayerNorm(d_model));
  auto mlp = std::make_shared<torch::nn::Module>("MLP");
  fc = mlp->register_module(
      "fc", torch::nn::Linear(torch::nn::LinearOptions(d_model, 4 * d_model).bias(false)));
  proj = mlp->register_module(
      "proj", torch::nn::Linear(torch::nn::LinearOptions(4 * d_model, d_model).bias(false)));
  register_module("mlp", mlp);
}

at::Tensor BlockImpl::forward(const at::Tensor& x) {
  auto h = x + attn->forward(ln_1->forward(x));
  return h + proj->forward(at::gelu(fc->forward(ln_2->forward(h))));
}

GPTImpl::GPTImpl(const GPTConfig& config) : config_(config) {
  config.validate();
  wte = register_module("wte", torch::nn::Embedding(config.vocab_size, config.d_model));
  wpe = register_module("wpe", torch::nn::Embedding(config.context, config.d_model));
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < config.n_layer; ++i) {
    blocks->push_back(Block(config.d_model, config.n_head));
  }
  ln_f = register_module("ln_f", GainLayerNorm(config.d_model));
  // GPT-2's initialisation: N(0, 0.02), residual projections scaled by 1/sqrt(2·n_layer) so
  // the residual stream's variance does not grow with depth.
  at::NoGradGuard no_grad;
  const double proj_std = 0.02 / std::sqrt(2.0 * static_cast<double>(config.n_layer));
  for (auto& item : named_parameters()) {
    auto& p = item.value();
    if (p.dim() < 2) continue;
    const bool residual_out = item.key().size() >= 11 &&
                              item.key().compare(item.key().size() - 11, 11, "proj.weight") == 0;
    p.normal_(0.0, residual_out ? proj_std : 0.02);
  }
}

at::Tensor GPTImpl::forward(const at::Tensor& ids) {
  TORCH_CHECK(ids.dim() == 2, "GPT: ids must be [B, T], got ", ids.sizes());
  const auto T = ids.size(1);
  TORCH_CHECK(T <= config_.context, "GPT: sequence length ", T, " exceeds context ",
              config_.context);
  auto pos = at::arange(T, ids.options());
  auto x = wte->forward(ids) + wpe->forward(pos).unsqueeze(0);
  for (const auto& b : *blocks) x = b->as<BlockImpl>()->forward(x);
  x = ln_f->forward(x);
  return at::matmul(x, wte->weight.t());  // tied output projection
}

at::Tensor GPTImpl::max_logits() const {
  std::vector<at::Tensor> rows;
  for (const auto& b : *blocks) {
    const auto& m = b->as<BlockImpl>()->attn->max_logits;
    TORCH_CHECK(m.defined(), "GPT: no max logits before the first forward");
    rows.push_back(m);
  }
  return at::stack(rows);
}

int64_t GPTImpl::qk_clip(double tau, const at::Tensor& maxima) {
  TORCH_CHECK(maxima.dim() == 2 && maxima.size(0) == config_.n_layer, "GPT::qk_clip: expected [",
              config_.n_layer, ", ", config_.n_head, "] maxima, got ", maxima.sizes());
  int64_t clipped = 0, i = 0;
  for (const auto& b : *blocks) clipped += b->as<BlockImpl>()->attn->qk_clip(tau, maxima[i++]);
  return clipped;
}

int64_t count_parameters(const torch::nn::Module& module) {
  int64_t n = 0;
  for (const auto& p : module.parameters()) n += p.numel();
  return n;
}

}  // namespace lab
}  // namespace specopt
