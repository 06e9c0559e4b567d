#pragma once
// What bounds one optimizer step from below, for `specopt bench step`: the bytes a rule must
// move (its memory-bandwidth floor), the reference Muon's Newton–Schulz FLOPs (its GEMM floor),
// this machine's copy and GEMM rates measured in the same run, and the memory a step
// allocates beyond parameters, gradients and state.
#include <ATen/ATen.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace specopt {
namespace lab {

// The memory traffic a rule cannot avoid in one step: every element of a parameter is read and
// written, its gradient read, and each state tensor read and written, once. Matrix-function
// workspaces are not counted (the GEMM bound covers the spectral part).
struct RuleTraffic {
  std::string rule;      // a registry name or RuleOptions::kind() ("AdamW", "Muon", ...)
  int full_state = 0;    // state tensors of the parameter's shape
  int row_state = 0;     // state tensors with one value per matrix row
  std::string why;       // which state tensors ("exp_avg, exp_avg_sq")
};
// Read off the rule itself, so that a rule added to the registry has its row without a table
// entry: one step of the registry's default options for `rule` on a 6×4 float64 probe, whose
// state tensors are counted by size (parameter-sized or one value per row). Throws
// std::invalid_argument naming a rule the registry does not know, std::logic_error naming a
// state tensor of any other size.
const RuleTraffic& rule_traffic(const std::string& rule);
// Bytes one step of `rule` must move over a parameter of `shape` whose elements have
// `element_size` bytes: (3 + 2·full_state)·numel + 2·row_state·rows, times element_size.
double rule_step_bytes(const std::string& rule, const std::vector<int64_t>& shape,
                       int64_t element_size);

// FLOPs of the reference Muon's orthogonalisation of one rows×cols matrix (KellerJordan/Muon):
// `steps` quintic Newton–Schulz steps on the small side s = min(rows, cols) against the large
// side l, three general products a step: A = X Xᵀ (2 s² l), A·A (2 s³), B·X (2 s² l)
// (specopt::newton_schulz_flops without the symmetric saving). Element-wise terms not counted.
double reference_ns_flops(int64_t rows, int64_t cols, int steps = 5);

// Bytes per second of a large at::copy_ on `device` in `dtype` (read + write counted), the
// median of `repeats` copies of `elements` elements.
double measure_copy_rate(const at::Device& device, at::ScalarType dtype, int64_t elements,
                         int repeats);
// FLOP/s of the product X Xᵀ of an s×l matrix on `device` in `dtype` (median of `repeats`).
double measure_gemm_rate(const at::Device& device, at::ScalarType dtype, int64_t s, int64_t l,
                         int repeats);

// Counts what is allocated on one device while a function runs. On the CPU it puts a counting
// allocator in front of c10's CPU allocator for its lifetime (create it before the tensors of
// interest, so that their frees are counted too); on CUDA it listens to the caching
// allocator's reports (c10::MemoryReportingInfoBase) while the function runs.
class AllocationCounter {
 public:
  explicit AllocationCounter(const at::Device& device);
  ~AllocationCounter();
  AllocationCounter(const AllocationCounter&) = delete;
  AllocationCounter& operator=(const AllocationCounter&) = delete;

  // False when the device's allocations cannot be counted (another CPU allocator has priority).
  bool available() const;
  // Runs `fn` and returns the peak of (bytes allocated − bytes allocated when it began) while
  // it ran; -1 when not available.
  int64_t peak_extra_bytes(const std::function<void()>& fn);

 private:
  at::Device device_;
  bool installed_ = false;
};

}  // namespace lab
}  // namespace specopt
