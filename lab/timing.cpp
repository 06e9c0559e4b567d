#include "lab/timing.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

namespace specopt {
namespace lab {

int use_threads(int requested) {
  const int n = requested > 0 ? requested
                              : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  at::set_num_threads(n);
  return n;
}

double median_seconds(const std::function<void()>& fn, int warmup, int repeats) {
  if (repeats < 1) throw std::invalid_argument("median_seconds: repeats must be >= 1");
  for (int i = 0; i < warmup; ++i) fn();
  std::vector<double> times;
  for (int i = 0; i < repeats; ++i) {
    const auto start = std::chrono::steady_clock::now();
    fn();
    const auto stop = std::chrono::steady_clock::now();
    times.push_back(std::chrono::duration<double>(stop - start).count());
  }
  std::sort(times.begin(), times.end());
  const size_t k = times.size();
  return k % 2 ? times[k / 2] : 0.5 * (times[k / 2 - 1] + times[k / 2]);
}

}  // namespace lab
}  // namespace specopt
