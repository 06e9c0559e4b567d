#pragma once
// A nanoGPT-style decoder for character-level language modelling: token embedding (tied with
// the output projection) + learned positions, n_layer pre-LayerNorm blocks of causal
// self-attention (one packed QKV weight [3d, d]) and a 4× GELU MLP, a final LayerNorm; no
// biases anywhere (LayerNorms have a gain only).
//
// Parameter names (what partition_parameters sees): wte.weight, wpe.weight,
// blocks.<i>.ln_1.weight, blocks.<i>.attn.qkv.weight, blocks.<i>.attn.proj.weight,
// blocks.<i>.ln_2.weight, blocks.<i>.mlp.fc.weight, blocks.<i>.mlp.proj.weight, ln_f.weight.
// The default partition sends the attention and MLP matrices to the spectral side and the
// embeddings and gains to AdamW; the packed QKV weight suits split_qkv.
#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <cstdint>

namespace specopt {
namespace lab {

struct GPTConfig {
  int64_t vocab_size = 96;
  int64_t context = 128;  // longest sequence
  int64_t n_layer = 4;
  int64_t n_head = 4;
  int64_t d_model = 192;  // divisible by n_head
  void validate() const;  // throws std::invalid_argument naming the field
};

// LayerNorm with a gain and no bias.
class GainLayerNormImpl : public torch::nn::Module {
 public:
  explicit GainLayerNormImpl(int64_t dim);
  at::Tensor forward(const at::Tensor& x);
  at::Tensor weight;
};
TORCH_MODULE(GainLayerNorm);

class CausalSelfAttentionImpl : public torch::nn::Module {
 public:
  CausalSelfAttentionImpl(int64_t d_model, int64_t n_head);
  at::Tensor forward(const at::Tensor& x);  // [B, T, d] → [B, T, d]
  // MuonClip's QK-clip (Kimi K2, arXiv 2507.20534): each head h whose maximum logit max_h
  // exceeds tau has its query and key rows of qkv scaled by sqrt(tau / max_h), so its logits
  // (bilinear in W_q and W_k) scale by tau / max_h and their maximum becomes tau; the other
  // heads and the value rows are not touched. `max_logits` [n_head]. Returns the heads clipped.
  int64_t qk_clip(double tau, const at::Tensor& max_logits);
  torch::nn::Linear qkv{nullptr}, proj{nullptr};
  int64_t n_head;
  // Per head, the largest attention logit q·k/√d_head of the last forward over its batch and
  // the causal (unmasked) positions, [n_head], detached; undefined before the first forward.
  at::Tensor max_logits;
};
TORCH_MODULE(CausalSelfAttention);

class BlockImpl : public torch::nn::Module {
 public:
  BlockImpl(int64_t d_model, int64_t n_head);
  at::Tensor forward(const at::Tensor& x);
  GainLayerNorm ln_1{nullptr}, ln_2{nullptr};
  CausalSelfAttention attn{nullptr};
  torch::nn::Linear fc{nullptr}, proj{nullptr};  // registered under "mlp"
};
TORCH_MODULE(Block);

class GPTImpl : public torch::nn::Module {
 public:
  explicit GPTImpl(const GPTConfig& config);
  // ids: int64 [B, T] with T <= context → logits [B, T, vocab_size].
  at::Tensor forward(const at::Tensor& ids);
  const GPTConfig& config() const { return config_; }
  // Every block's per-head max logits of the last forward, [n_layer, n_head] (MuonClip).
  at::Tensor max_logits() const;
  // QK-clip (CausalSelfAttentionImpl::qk_clip) of every block with `max_logits`
  // [n_layer, n_head] (those of max_logits(), or their maximum over data-parallel ranks).
  // Returns the heads clipped; tau > 0.
  int64_t qk_clip(double tau, const at::Tensor& max_logits);

 private:
  GPTConfig config_;
  torch::nn::Embedding wte{nullptr}, wpe{nullptr};
  torch::nn::ModuleList blocks{nullptr};
  GainLayerNorm ln_f{nullptr};
};
TORCH_MODULE(GPT);

int64_t count_parameters(const torch::nn::Module& module);

}  // namespace lab
}  // namespace specopt
