#include "lab/train/task.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <utility>

#include "lab/data/brown.h"
#include "lab/data/char_vocab.h"
#include "lab/data/fashion_mnist.h"
#include "lab/models/classifiers.h"
#include "lab/models/gpt.h"

namespace specopt {
namespace lab {

namespace {

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

struct BrownTokens {
  CharVocab vocab;
  at::Tensor train, val;
};

// The encoded corpus, loaded once per process and folder: experiments train dozens of models
// on it. The tensors are never written to (batches are gathered copies).
const BrownTokens& brown_tokens(const std::string& dir) {
  static std::mutex mutex;
  static std::map<std::string, BrownTokens> cache;
  std::lock_guard<std::mutex> lock(mutex);
  auto it = cache.find(dir);
  if (it != cache.end()) return it->second;
  // The prepared corpus must be complete (500 documents); a folder of one's own (data.dir)
  // needs at least 10, so that every split has a document.
  const std::size_t min_docs = dir.empty() ? 500 : 10;
  const auto train_text = load_brown_text("train", dir, 10, min_docs);
  const auto val_text = load_brown_text("val", dir, 10, min_docs);
  BrownTokens t;
  t.vocab = CharVocab(train_text + val_text);
  t.train = t.vocab.encode(train_text);
  t.val = t.vocab.encode(val_text);
  return cache.emplace(dir, std::move(t)).first->second;
}

// Rows [index·B/count, (index+1)·B/count) of a batch of B rows.
at::Tensor take_slice(const at::Tensor& batch, const BatchSlice& s) {
  if (s.count == 1) return batch;
  const int64_t B = batch.size(0);
  if (s.count < 1 || s.index < 0 || s.index >= s.count || B % s.count != 0) {
    throw std::invalid_argument("batch slice " + std::to_string(s.index) + " of " +
                                std::to_string(s.count) + ": the batch of " + std::to_string(B) +
                                " does not split into that many equal parts");
  }
  const int64_t n = B / s.count;
  return batch.narrow(0, s.index * n, n);
}

// Items [first, second) of `n` that part `p` covers: contiguous, sizes differing by at most 1.
std::pair<int64_t, int64_t> part_range(int64_t n, const BatchSlice& p) {
  return {n * p.index / p.count, n * (p.index + 1) / p.count};
}

class LanguageTask : public Task {
 public:
  explicit LanguageTask(const TrainConfig& c) : c_(c), device_(c.device) {
    const auto& data = brown_tokens(c.data.dir);
    vocab_ = data.vocab;
    train_ = data.train;
    val_ = data.val;
    const int64_t T = c.model.context;
    if (train_.numel() <= T + 1 || val_.numel() <= T + 1) {
      throw std::runtime_error("Brown corpus too small for context " + std::to_string(T));
    }
    GPTConfig g;
    g.vocab_size = vocab_.size();
    g.context = T;
    g.n_layer = c.model.n_layer;
    g.n_head = c.model.n_head;
    g.d_model = c.model.d_model;
    at::manual_seed(c.seed);
    model_ = GPT(g);
    model_->to(device_);
    // Fixed validation windows (same for every run of this config's context and seed 0).
    auto gen = batch_generator(0, 2, 0);
    eval_offsets_ = at::randint(val_.numel() - T - 1, {c.data.eval_batches, c.batch_size}, gen);
  }

  torch::nn::Module& model() override { return *model_; }

  at::Tensor train_loss(int64_t step, const BatchSlice& slice) override {
    model_->train();
    auto gen = batch_generator(c_.seed, 1, static_cast<uint64_t>(step));
    const int64_t T = c_.model.context;
    auto offsets = at::randint(train_.numel() - T - 1, {c_.batch_size}, gen);
    return loss_at(train_, take_slice(offsets, slice));
  }

  EvalSums evaluate_sums(const BatchSlice& part) override {
    model_->eval();
    at::NoGradGuard no_grad;
    EvalSums s;
    const auto range = part_range(eval_offsets_.size(0), part);
    for (int64_t b = range.first; b < range.second; ++b) {
      s.loss_sum += loss_at(val_, eval_offsets_[b]).item<double>();
    }
    s.weight = static_cast<double>(range.second - range.first);
    return s;
  }

  int64_t items_per_batch() const override { return c_.batch_size * c_.model.context; }
  std::string item_unit() const override { return "tokens"; }
  std::string describe() const override {
    std::ostringstream os;
    os << "GPT " << c_.model.n_layer << "x" << c_.model.d_model << " (" << c_.model.n_head
       << " heads, context " << c_.model.context << ", vocab " << vocab_.size() << ", "
       << count_parameters(*model_) << " parameters) on Brown (" << train_.numel()
       << " training / " << val_.numel() << " validation characters)";
    return os.str();
  }

 private:
  at::Tensor loss_at(const at::Tensor& tokens, const at::Tensor& offsets) {
    const int64_t T = c_.model.context;
    auto idx = offsets.unsqueeze(1) + at::arange(T + 1, at::kLong).unsqueeze(0);
    auto window = tokens.index_select(0, idx.view({-1})).view({offsets.size(0), T + 1}).to(device_);
    auto x = window.narrow(1, 0, T), y = window.narrow(1, 1, T);
    auto logits = model_->forward(x);
    return at::cross_entropy_loss(logits.reshape({-1, logits.size(-1)}), y.reshape({-1}));
  }

  TrainConfig c_;
  at::Device device_;
  CharVocab vocab_;
  at::Tensor train_, val_, eval_offsets_;
  GPT model_{nullptr};
};

class ImageTask : public Task {
 public:
  explicit ImageTask(const TrainConfig& c) : c_(c), device_(c.device) {
    train_ = load_fashion_mnist("train", c.data.train_limit, c.data.dir);
    val_ = load_fashion_mnist("test", c.data.val_limit, c.data.dir);
    if (train_.labels.numel() < c.batch_size) {
      throw std::invalid_argument("train.batch_size = " + std::to_string(c.batch_size) +
                                  " exceeds the " + std::to_string(train_.labels.numel()) +
                                  " training images");
    }
    at::manual_seed(c.seed);
    if (c.model.kind == "mlp") {
      auto m = MLP(c.model.hidden, c.model.depth);
      module_ = m.ptr();
      forward_ = [m](const at::Tensor& x) mutable { return m->forward(x); };
    } else {
      auto m = CNN(c.model.channels);
      module_ = m.ptr();
      forward_ = [m](const at::Tensor& x) mutable { return m->forward(x); };
    }
    module_->to(device_);
    val_images_ = val_.images.to(device_);
    val_labels_ = val_.labels.to(device_);
  }

  torch::nn::Module& model() override { return *module_; }

  at::Tensor train_loss(int64_t step, const BatchSlice& slice) override {
    module_->train();
    const int64_t N = train_.labels.numel(), B = c_.batch_size;
    const int64_t per_epoch = N / B;
    const int64_t epoch = step / per_epoch;
    if (epoch != epoch_) {
      auto gen = batch_generator(c_.seed, 3, static_cast<uint64_t>(epoch));
      order_ = at::randperm(N, gen, at::kLong);
      epoch_ = epoch;
    }
    auto idx = take_slice(order_.narrow(0, (step % per_epoch) * B, B), slice);
    auto x = train_.images.index_select(0, idx).to(device_);
    auto y = train_.labels.index_select(0, idx).to(device_);
    return at::cross_entropy_loss(forward_(x), y);
  }

  EvalSums evaluate_sums(const BatchSlice& part) override {
    module_->eval();
    at::NoGradGuard no_grad;
    const int64_t N = val_labels_.numel();
    const int64_t chunks = (N + 999) / 1000;
    const auto range = part_range(chunks, part);
    EvalSums sums;
    sums.classification = true;
    for (int64_t s = range.first * 1000; s < std::min(N, range.second * 1000); s += 1000) {
      const int64_t n = std::min<int64_t>(1000, N - s);
      auto logits = forward_(val_images_.narrow(0, s, n));
      auto y = val_labels_.narrow(0, s, n);
      sums.loss_sum += at::cross_entropy_loss(logits, y).item<double>() * static_cast<double>(n);
      sums.correct += logits.argmax(1).eq(y).sum().item<double>();
      sums.weight += static_cast<double>(n);
    }
    return sums;
  }

  int64_t items_per_batch() const override { return c_.batch_size; }
  std::string item_unit() const override { return "samples"; }
  std::string describe() const override {
    std::ostringstream os;
    int64_t n = 0;
    for (const auto& p : module_->parameters()) n += p.numel();
    os << (c_.model.kind == "mlp" ? "MLP" : "CNN") << " (" << n << " parameters) on Fashion-MNIST ("
       << train_.labels.numel() << " training / " << val_labels_.numel() << " test images)";
    return os.str();
  }

 private:
  TrainConfig c_;
  at::Device device_;
  ImageSet train_, val_;
  at::Tensor val_images_, val_labels_, order_;
  int64_t epoch_ = -1;
  std::shared_ptr<torch::nn::Module> module_;
  std::function<at::Tensor(const at::Tensor&)> forward_;
};

}  // namespace

at::Generator batch_generator(uint64_t seed, uint64_t stream, uint64_t index) {
  const uint64_t s = splitmix64(splitmix64(splitmix64(seed) ^ stream) ^ index);
  return at::detail::createCPUGenerator(s);
}

std::unique_ptr<Task> make_task(const TrainConfig& config) {
  if (config.model.kind == "gpt") return std::make_unique<LanguageTask>(config);
  return std::make_unique<ImageTask>(config);
}

}  // namespace lab
}  // namespace specopt
