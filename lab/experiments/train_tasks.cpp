#include "lab/experiments/train_tasks.h"

#include <algorithm>
#include <stdexcept>

namespace specopt {
namespace lab {

std::vector<KnobSpec> train_task_knobs(const TrainTaskSizes& q, const TrainTaskSizes& f) {
  auto knob = [](const char* name, int64_t quick, int64_t full, const char* help) {
    return KnobSpec{name, std::to_string(quick), std::to_string(full), help};
  };
  return {
      knob("gpt_steps", q.gpt_steps, f.gpt_steps, "training steps of the GPT"),
      knob("gpt_layers", q.gpt_layers, f.gpt_layers, "GPT layers"),
      knob("gpt_width", q.gpt_width, f.gpt_width, "GPT width d_model"),
      knob("gpt_heads", q.gpt_heads, f.gpt_heads, "GPT heads"),
      knob("gpt_context", q.gpt_context, f.gpt_context, "GPT context (characters)"),
      knob("gpt_batch", q.gpt_batch, f.gpt_batch, "GPT sequences per batch"),
      knob("gpt_eval_batches", q.gpt_eval_batches, f.gpt_eval_batches, "GPT validation batches"),
      knob("mlp_steps", q.mlp_steps, f.mlp_steps, "training steps of the MLP"),
      knob("mlp_hidden", q.mlp_hidden, f.mlp_hidden, "MLP width (2 hidden layers)"),
      knob("mlp_batch", q.mlp_batch, f.mlp_batch, "MLP batch size"),
      knob("mlp_train_images", q.mlp_train_images, f.mlp_train_images, "training images used"),
      knob("mlp_val_images", q.mlp_val_images, f.mlp_val_images, "test images used for validation"),
      // One thread: these models are too small to gain from two, and one run per core wastes
      // nothing on spinning OpenMP workers when the machine is shared.
      {"threads", "1", "1", "intra-op threads per run (0: leave as set by --threads)"},
      {"gpt_data_dir", "", "", "Brown folder override (empty: the prepared cache)"},
      {"mlp_data_dir", "", "", "Fashion-MNIST folder override (empty: the cache / Debian's package)"},
  };
}

TrainConfig train_task_config(const Params& p, const std::string& task) {
  TrainConfig c;
  if (task == "gpt") {
    c.model.kind = "gpt";
    c.data.dataset = "brown";
    c.model.n_layer = p.count("gpt_layers");
    c.model.d_model = p.count("gpt_width");
    c.model.n_head = p.count("gpt_heads");
    c.model.context = p.count("gpt_context");
    c.data.eval_batches = p.count("gpt_eval_batches");
    c.batch_size = p.count("gpt_batch");
    c.steps = p.count("gpt_steps");
  } else if (task == "mlp") {
    c.model.kind = "mlp";
    c.data.dataset = "fashion_mnist";
    c.model.hidden = p.count("mlp_hidden");
    c.model.depth = 2;
    c.data.train_limit = p.count("mlp_train_images");
    c.data.val_limit = p.count("mlp_val_images");
    c.batch_size = p.count("mlp_batch");
    c.steps = p.count("mlp_steps");
  } else {
    throw std::invalid_argument("--set tasks: unknown task '" + task + "' (known: gpt, mlp)");
  }
  c.data.dir = p.text(task == "gpt" ? "gpt_data_dir" : "mlp_data_dir");
  c.eval_interval = c.steps;
  c.log_interval = c.steps;
  c.grad_clip = 1.0;
  c.schedule.name = "warmup_cosine";
  c.schedule.warmup = std::max<int64_t>(1, c.steps / 10);
  c.schedule.min = 0.1;
  c.optimizer.vector_lr = p.positive("vector_lr");
  c.optimizer.beta1 = 0.9;
  c.optimizer.beta2 = 0.95;
  c.optimizer.weight_decay = 0;
  c.optimizer.vector_weight_decay = 0;
  c.threads = p.integer("threads");
  return c;
}

int64_t items_per_step(const TrainConfig& c) {
  return c.model.kind == "gpt" ? c.batch_size * c.model.context : c.batch_size;
}

}  // namespace lab
}  // namespace specopt
