#pragma once
// A training task: a model and its data, built from a TrainConfig. Batches are a pure function
// of (seed, step), so a resumed run sees exactly the batches an uninterrupted one would, with
// no loader state to save:
//   * brown + gpt: B windows of context+1 characters at offsets drawn from a generator seeded
//     with (seed, step); validation uses eval_batches fixed windows of the validation split.
//   * fashion_mnist + mlp/cnn: epoch e visits the training images in the order of a
//     permutation drawn from (seed, e); step k takes batch k mod (N / B) of epoch k / (N / B).
//     Validation is the first val_limit test images.
#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include <cstdint>
#include <memory>
#include <string>

#include "lab/train/config.h"

namespace specopt {
namespace lab {

// Part `index` of `count` equal, contiguous parts of a training batch (data-parallel ranks);
// {0, 1} is the whole batch. The batch size must divide by count.
struct BatchSlice {
  int64_t index = 0;
  int64_t count = 1;
};

struct EvalResult {
  double loss = 0;
  double accuracy = -1;  // classification only; -1 for language models
};

// Additive validation figures: loss_sum / weight is the loss, correct / weight the accuracy.
struct EvalSums {
  double loss_sum = 0;
  double weight = 0;
  double correct = 0;
  bool classification = false;
  EvalResult result() const {
    return {loss_sum / weight, classification ? correct / weight : -1};
  }
};

class Task {
 public:
  virtual ~Task() = default;
  virtual torch::nn::Module& model() = 0;
  // Training loss (the mean over the slice) of batch `step`, or of a slice of it: the whole
  // batch is drawn as in a one-process run and the slice's items taken from it, so the N
  // slices of N ranks together are exactly the one-process batch. Forward only.
  virtual at::Tensor train_loss(int64_t step, const BatchSlice& slice) = 0;
  at::Tensor train_loss(int64_t step) { return train_loss(step, BatchSlice{}); }
  // Validation sums over part `part` of the validation set (contiguous evaluation batches, or
  // chunks of test images); a part may be empty. Ranks add their parts up (data_parallel.h).
  virtual EvalSums evaluate_sums(const BatchSlice& part) = 0;
  // The whole validation set: the sums' loss and accuracy.
  EvalResult evaluate() { return evaluate_sums(BatchSlice{}).result(); }
  // Items per training batch (tokens or samples) and their unit ("tokens" | "samples").
  virtual int64_t items_per_batch() const = 0;
  virtual std::string item_unit() const = 0;
  virtual std::string describe() const = 0;
};

// Loads the data (only what the config needs), seeds LibTorch's global generator with
// config.seed and builds the model on config.device. Throws naming the missing data and the
// command that fixes it.
std::unique_ptr<Task> make_task(const TrainConfig& config);

// A CPU generator for stream `stream` at index `index` of a run seeded with `seed` (SplitMix64
// mixing, so neighbouring seeds and steps give unrelated streams).
at::Generator batch_generator(uint64_t seed, uint64_t stream, uint64_t index);

}  // namespace lab
}  // namespace specopt
