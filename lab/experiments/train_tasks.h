#pragma once
// The two training tasks that the lab's optimizer comparisons (spectral-power, variants) run
// through lab::train, the trainer of `specopt train`: the character-level GPT on the Brown
// corpus ("gpt") and the MLP on Fashion-MNIST ("mlp"). Each experiment declares the task
// knobs with its own sizes (train_task_knobs) and builds a run's config from them
// (train_task_config); the optimizer, its lr and the seed are set by the caller.
#include <cstdint>
#include <string>
#include <vector>

#include "lab/experiment.h"
#include "lab/train/config.h"

namespace specopt {
namespace lab {

// The sizes of both tasks in one mode.
struct TrainTaskSizes {
  int64_t gpt_steps, gpt_layers, gpt_width, gpt_heads, gpt_context, gpt_batch, gpt_eval_batches;
  int64_t mlp_steps, mlp_hidden, mlp_batch, mlp_train_images, mlp_val_images;
};

// The knobs gpt_steps … mlp_val_images, threads, gpt_data_dir, mlp_data_dir, with `quick`
// and `full` as their defaults.
std::vector<KnobSpec> train_task_knobs(const TrainTaskSizes& quick, const TrainTaskSizes& full);

// A run of `task` ("gpt" or "mlp"; anything else is refused naming it) at the knobs' sizes:
// gradient clipping at 1.0, warmup (10 % of the steps) then cosine to 0.1 of the peak, AdamW
// betas (0.9, 0.95) and lr `vector_lr` for the hybrids' vectors, no weight decay, one
// evaluation at the end.
TrainConfig train_task_config(const Params& p, const std::string& task);

// The items (tokens or images) of one training step of `c`.
int64_t items_per_step(const TrainConfig& c);

}  // namespace lab
}  // namespace specopt
