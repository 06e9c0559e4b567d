#include "lab/models/classifiers.h"

#include <stdexcept>
#include <string>

namespace specopt {
namespace lab {

MLPImpl::MLPImpl(int64_t hidden, int64_t depth) {
  if (hidden < 1) throw std::invalid_argument("model.hidden = " + std::to_string(hidden) + " must be >= 1");
  if (depth < 1) throw std::invalid_argument("model.depth = " + std::to_string(depth) + " must be >= 1");
  int64_t in = 28 * 28;
  for (int64_t i = 0; i < depth; ++i) {
    layers_.push_back(register_module("fc" + std::to_string(i), torch::nn::Linear(in, hidden)));
    in = hidden;
  }
  head = register_module("head", torch::nn::Linear(in, 10));
}

at::Tensor MLPImpl::forward(const at::Tensor& x) {
  auto h = x.flatten(1);
  for (auto& l : layers_) h = at::gelu(l->forward(h));
  return head->forward(h);
}

CNNImpl::CNNImpl(int64_t channels) {
  if (channels < 1) {
    throw std::invalid_argument("model.channels = " + std::to_string(channels) + " must be >= 1");
  }
  conv0 = register_module("conv0",
                          torch::nn::Conv2d(torch::nn::Conv2dOptions(1, channels, 3).padding(1)));
  conv1 = register_module(
      "conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(channels, 2 * channels, 3).padding(1)));
  head = register_module("head", torch::nn::Linear(2 * channels * 7 * 7, 10));
}

at::Tensor CNNImpl::forward(const at::Tensor& x) {
  auto h = at::max_pool2d(at::relu(conv0->forward(x)), {2, 2});
  h = at::max_pool2d(at::relu(conv1->forward(h)), {2, 2});
  return head->forward(h.flatten(1));
}

}  // namespace lab
}  // namespace specopt
