#pragma once
// Fashion-MNIST classifiers: an MLP and a small CNN. Both take [B, 1, 28, 28] and return
// logits [B, 10]. The last layer is named "head" so partition_parameters sends it, like every
// bias, to AdamW; the hidden weights (fc*, conv*) go to the spectral side.
#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <cstdint>

namespace specopt {
namespace lab {

// 784 → hidden (× depth, GELU) → 10. Names: fc0, fc1, ..., head.
class MLPImpl : public torch::nn::Module {
 public:
  MLPImpl(int64_t hidden = 256, int64_t depth = 2);
  at::Tensor forward(const at::Tensor& x);

 private:
  std::vector<torch::nn::Linear> layers_;
  torch::nn::Linear head{nullptr};
};
TORCH_MODULE(MLP);

// conv0 (1 → c, 3×3) → ReLU → 2×2 max-pool → conv1 (c → 2c) → ReLU → pool → head (2c·7·7 → 10).
class CNNImpl : public torch::nn::Module {
 public:
  explicit CNNImpl(int64_t channels = 16);
  at::Tensor forward(const at::Tensor& x);

 private:
  torch::nn::Conv2d conv0{nullptr}, conv1{nullptr};
  torch::nn::Linear head{nullptr};
};
TORCH_MODULE(CNN);

}  // namespace lab
}  // namespace specopt
