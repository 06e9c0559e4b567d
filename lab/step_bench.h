#pragma once
// The benchmark behind `specopt bench step`: wall time of one optimizer step on a
// GPT-small-shaped parameter set, each optimizer as a ratio to AdamW in the same run.
#include <ATen/ATen.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace specopt {
class SpecoptOptimizer;
class HybridOptimizer;
struct Partition;

namespace lab {

struct StepBenchConfig {
  int blocks = 12;          // transformer blocks
  int64_t width = 768;      // d
  int64_t vocab = 50257;    // wte rows (tied head: no extra matrix)
  int64_t positions = 1024; // wpe rows
  at::ScalarType dtype = at::kFloat;
  std::string device = "cpu";  // "cpu" | "cuda" (parameters drawn on the CPU, then moved)
  int repeats = 3;          // timed steps per optimizer; the median is reported
  int warmup = 1;           // untimed steps first (state allocation)
  int threads = 0;          // at::set_num_threads; 0 = hardware_concurrency()
  uint64_t seed = 1234;     // gradients (and initial weights)
  // Optimizer names (see step_bench_optimizers()); empty: all. "adamw" is always run
  // (first) as the baseline, even when not listed; it is reported only when listed or
  // when the list is empty.
  std::vector<std::string> optimizers;
  std::function<void(const std::string&)> progress;

  void validate() const;  // throws std::invalid_argument naming the first bad field
};

struct StepBenchRecord {
  std::string optimizer;     // "adamw", "muon", "muon_auto", ...
  std::string description;   // e.g. "hybrid: Muon(NS jordan x5, split_qkv) + AdamW"
  double seconds = 0;        // median wall time of one step()
  double ratio_to_adamw = 0; // seconds / adamw seconds
  int64_t spectral_params = 0;  // elements on the spectral side (0 for element-wise)
  int64_t adamw_params = 0;     // elements on the AdamW (or Lion) side
};

// The optimizer names known to the benchmark, in default order.
std::vector<std::string> step_bench_optimizers();

// The named parameter set (name, shape) for a config, GPT-2 naming (wte, wpe,
// blocks.i.ln_1.weight, blocks.i.attn.c_attn.weight, ...).
std::vector<std::pair<std::string, std::vector<int64_t>>> step_bench_shapes(
    const StepBenchConfig& config);

// The optimizer a benchmark name stands for, over `all` (= the partition's parameters):
// `single` for the element-wise ones (adamw, lion), `hybrid` for the spectral ones.
struct StepBenchOptimizer {
  std::unique_ptr<SpecoptOptimizer> single;
  std::unique_ptr<HybridOptimizer> hybrid;
  StepBenchOptimizer();
  StepBenchOptimizer(StepBenchOptimizer&&) noexcept;
  ~StepBenchOptimizer();
};
StepBenchOptimizer make_step_bench_optimizer(const std::string& name, const Partition& part,
                                             const std::vector<at::Tensor>& all);

std::vector<StepBenchRecord> run_step_bench(const StepBenchConfig& config);

std::string format_step_table(const std::vector<StepBenchRecord>& records);

// JSON list of {optimizer, seconds, ratio_to_adamw, spectral_params, adamw_params, description}.
std::string step_bench_json(const std::vector<StepBenchRecord>& records, int indent = 2);
void write_step_bench_json(const std::string& path, const std::vector<StepBenchRecord>& records);

}  // namespace lab
}  // namespace specopt
