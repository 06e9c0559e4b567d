#pragma once
// The benchmark behind `specopt bench matfun`: time every polar / spectral-power method on
// matrices with a prescribed spectrum, next to the GEMM that bounds them.
#include <ATen/ATen.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace specopt {
namespace lab {

struct MatrixShape {
  int64_t m = 0;
  int64_t n = 0;
  int64_t batch = 0;        // > 0: a batch of that many m × n matrices in one call
  std::string str() const;  // "768x3072", or "64x128x128" for a batch
};

// "768x3072" -> {768, 3072}; "64x128x128" -> 64 matrices of 128 × 128. Throws
// std::invalid_argument naming the string for anything else (e.g. "12y4", "0x5", "x3", "3x",
// "-1x4", "1x2x3x4").
MatrixShape parse_shape(const std::string& s);
// Comma-separated list of shapes; empty entries are errors.
std::vector<MatrixShape> parse_shapes(const std::string& csv);

struct MatfunBenchConfig {
  std::vector<MatrixShape> shapes = {{1024, 1024}, {768, 3072}};
  at::ScalarType dtype = at::kFloat;       // float32 or float64
  std::string device = "cpu";              // "cpu" or "cuda"
  int repeats = 5;                         // timed calls per method; the median is reported
  int warmup = 1;                          // untimed calls first
  double kappa = 100;                      // σ geometric from 1 down to 1/kappa
  std::vector<double> powers = {0.5, 0.25};
  std::vector<std::string> ops = {"polar", "power"};
  // Method names to run (as in the records, e.g. "svd", "newton_schulz:jordan"); empty: all.
  std::vector<std::string> methods;
  int threads = 0;                         // at::set_num_threads; 0 = hardware_concurrency()
  uint64_t seed = 1234;                    // matrix_with_spectrum seed
  // Called with a short line before each measurement (e.g. to print progress); optional.
  std::function<void(const std::string&)> progress;

  // Throws std::invalid_argument naming the first bad field.
  void validate() const;
};

struct MatfunBenchRecord {
  std::string op;       // "polar" | "power"
  // "reference_ns5", "newton_schulz:jordan", "gram_eigh", "auto", ...; Newton–Schulz rows run
  // 5 steps, "+aol" rows 4 from the AOL start (aol.h), "+bf16" rows in bfloat16.
  std::string method;
  double p = 0;         // 0 for polar
  std::string shape;    // "768x3072"
  std::string dtype;    // "float32" | "float64"
  std::string device;   // "cpu" | "cuda"
  double seconds = 0;   // median wall time of one call
  std::optional<double> gflops;  // nominal FLOPs / seconds; empty for svd (see .cpp)
  double rel_err = 0;   // ‖out − exact‖_F / ‖exact‖_F, exact in float64 by SVD
  // X Xᵀ GEMM of the same shape (X wide), GFLOP/s, in the arithmetic dtype of the row:
  // bfloat16 for the "+bf16" rows (run where bf16 products are native), else `dtype`.
  double gemm_gflops = 0;
  // polar rows: reference_ns5 seconds / seconds; power rows: coupled_newton seconds /
  // seconds (empty when coupled_newton did not run for this p).
  std::optional<double> speedup;
  std::string resolved;  // for "auto": the method it picked (table only, not in JSON)
};

// The method names the benchmark knows, per op.
std::vector<std::string> matfun_bench_methods(const std::string& op);

// Runs the benchmark. Sets at::set_num_threads(config.threads or hardware_concurrency()).
// Throws std::invalid_argument for a bad config, std::runtime_error when CUDA is requested
// but unavailable, and whatever a method throws.
std::vector<MatfunBenchRecord> run_matfun_bench(const MatfunBenchConfig& config);

// Human-readable table (fixed-width columns, one row per record).
std::string format_matfun_table(const std::vector<MatfunBenchRecord>& records);

// The records as a JSON list of objects with keys op, method, p, shape, dtype, device,
// seconds, gflops, rel_err, gemm_gflops and speedup_vs_reference (polar) or
// speedup_vs_coupled_newton (power); null where a value is not defined.
std::string matfun_bench_json(const std::vector<MatfunBenchRecord>& records, int indent = 2);

// matfun_bench_json written atomically to `path`.
void write_matfun_bench_json(const std::string& path,
                             const std::vector<MatfunBenchRecord>& records);

}  // namespace lab
}  // namespace specopt
