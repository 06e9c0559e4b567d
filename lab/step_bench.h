#pragma once
// The benchmark behind `specopt bench step`: wall time of one optimizer step on a
// GPT-small-shaped parameter set, for every specopt optimizer and the peers a user would
// otherwise pick (LibTorch's AdamW, the reference Muon), each as a ratio to specopt's and
// torch's AdamW in the same run, beside the floors measured in that run (bytes to move / copy
// rate, Newton–Schulz FLOPs / GEMM rate) and the memory a step allocates.
#include <ATen/ATen.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
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
  // Optimizer names (see step_bench_optimizers()); empty: all. "adamw" and "torch_adamw" are
  // always run (first) as the baselines, even when not listed; each is reported only when
  // listed or when the list is empty.
  std::vector<std::string> optimizers;
  std::function<void(const std::string&)> progress;

  void validate() const;  // throws std::invalid_argument naming the first bad field
};

struct StepBenchRecord {
  std::string optimizer;     // "adamw", "torch_adamw", "muon", "reference_muon", ...
  std::string description;   // e.g. "hybrid: Muon(NS jordan x5, split_qkv) + AdamW"
  double seconds = 0;        // median wall time of one step()
  double ratio_to_adamw = 0; // seconds / specopt adamw's seconds
  double ratio_to_torch_adamw = 0;  // seconds / torch_adamw's seconds
  int64_t spectral_params = 0;  // elements on the spectral side (0 for element-wise)
  int64_t adamw_params = 0;     // elements on the AdamW (or Lion) side
  // Bytes the rule must move in one step (lab/step_bench_bounds.h) / the run's copy rate.
  double bytes_moved = 0;
  double bandwidth_bound_seconds = 0;
  // Spectral rows: the reference Muon's Newton–Schulz FLOPs on the spectral matrices / the
  // run's GEMM rate; unset for element-wise rows.
  std::optional<double> gemm_bound_seconds;
  double reference_ns_flops = 0;
  // Peak bytes allocated during one step beyond parameters, gradients and state; unset where
  // the device's allocations cannot be counted.
  std::optional<int64_t> peak_extra_bytes;
  // The run's rates, the same in every record: at::copy_ (read + write bytes per second) and
  // the GEMM X Xᵀ of the largest spectral matrix in gemm_dtype ("bfloat16" where the device
  // multiplies bf16 natively and the weights are float32, else the weights' dtype).
  double copy_bytes_per_second = 0;
  double gemm_flops_per_second = 0;
  std::string gemm_dtype;
  std::string gemm_shape;  // "768x3072"
};

// The benchmark's default rows, in order.
std::vector<std::string> step_bench_optimizers();
// Every name a row may have: the default rows, then each optimizer of the registry that has no
// row of its own, by its name in lower case without '_' ("adamq", "lionk", a new rule), with
// its defaults.
std::vector<std::string> step_bench_known_optimizers();
// True for the rows that are not specopt optimizers (torch_adamw, reference_muon): they run in
// one process only (not under --nproc).
bool is_step_bench_peer(const std::string& name);

// The named parameter set (name, shape) for a config, GPT-2 naming (wte, wpe,
// blocks.i.ln_1.weight, blocks.i.attn.c_attn.weight, ...).
std::vector<std::pair<std::string, std::vector<int64_t>>> step_bench_shapes(
    const StepBenchConfig& config);

// The optimizer a specopt benchmark name stands for, over `all` (= the partition's
// parameters), built from the registry (specopt/optim/registry.h): `single` for the
// element-wise ones (adamw, lion), `hybrid` for the spectral ones. The peers (torch_adamw,
// reference_muon) are not specopt optimizers and are refused here.
struct StepBenchOptimizer {
  std::unique_ptr<SpecoptOptimizer> single;
  std::unique_ptr<HybridOptimizer> hybrid;
  StepBenchOptimizer();
  StepBenchOptimizer(StepBenchOptimizer&&) noexcept;
  ~StepBenchOptimizer();
};
StepBenchOptimizer make_step_bench_optimizer(const std::string& name, const Partition& part,
                                             const std::vector<at::Tensor>& all);

// Any benchmark row as one step function over `all` (peers included), with the bytes its
// rule must move per step (element_size: the parameters' bytes per element).
struct StepBenchStepper {
  std::function<void()> step;
  std::string description;
  int64_t spectral_params = 0;
  int64_t adamw_params = 0;
  double bytes_moved = 0;
  bool spectral = false;        // has a spectral side (gets a GEMM bound)
  std::shared_ptr<void> keep;   // owns the optimizer
};
StepBenchStepper make_step_bench_stepper(const std::string& name, const Partition& part,
                                         const std::vector<at::Tensor>& all);

std::vector<StepBenchRecord> run_step_bench(const StepBenchConfig& config);

std::string format_step_table(const std::vector<StepBenchRecord>& records);

// JSON list of {optimizer, seconds, ratio_to_adamw, ratio_to_torch_adamw,
// bandwidth_bound_seconds, gemm_bound_seconds (null for element-wise rows), peak_extra_bytes
// (null where not counted), bytes_moved, reference_ns_flops, copy_gb_per_s, gemm_gflops,
// gemm_dtype, gemm_shape, spectral_params, adamw_params, description}.
std::string step_bench_json(const std::vector<StepBenchRecord>& records, int indent = 2);
void write_step_bench_json(const std::string& path, const std::vector<StepBenchRecord>& records);

}  // namespace lab
}  // namespace specopt
