#pragma once
// Timing shared by the benchmarks (`specopt bench matfun`, `specopt bench step`).
#include <functional>

namespace specopt {
namespace lab {

// Sets LibTorch's intra-op threads: `requested` > 0, or every hardware thread for 0 (Debian's
// LibTorch starts with one). Returns the count set.
int use_threads(int requested);

// Runs `fn` `warmup` times untimed, then `repeats` (≥ 1) timed calls; returns the median
// wall time in seconds. `fn` must finish its work before returning (synchronise devices).
double median_seconds(const std::function<void()>& fn, int warmup, int repeats);

}  // namespace lab
}  // namespace specopt
