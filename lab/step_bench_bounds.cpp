#include "lab/step_bench_bounds.h"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <c10/util/ThreadLocalDebugInfo.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <map>
#include <mutex>
#include <stdexcept>
#include <unordered_map>

#include <specopt/matfun/newton_schulz.h>
#include <specopt/optim/base.h>
#include <specopt/optim/fields.h>
#include <specopt/optim/registry.h>

#include "lab/timing.h"

namespace specopt {
namespace lab {

namespace {

RuleTraffic probe_traffic(const std::string& rule) {
  std::unique_ptr<RuleOptions> options;
  try {
    options = make_optimizer_options(rule);
  } catch (const c10::Error& e) {
    throw std::invalid_argument("bench step: no memory-traffic figure for rule '" + rule +
                                "': " + e.what_without_backtrace());
  }
  // A probe with rows (6), columns (4) and elements (24) all different, and no random draw
  // (the benchmark's seeded weights must not depend on which rows ran first).
  constexpr int64_t kRows = 6, kCols = 4;
  const auto grid = at::arange(kRows * kCols, at::kDouble).reshape({kRows, kCols});
  auto p = (grid.sin() + 0.1).requires_grad_(true);
  p.mutable_grad() = grid.cos() * 1e-2;
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(std::vector<at::Tensor>{p});
  SpecoptOptimizer opt(std::move(groups), *options);
  opt.step();
  struct Count : FieldVisitor {
    RuleTraffic t;
    void visit(const std::string& key, at::Tensor& x) override {
      if (!x.defined()) return;
      if (x.numel() == kRows * kCols) {
        ++t.full_state;
      } else if (x.numel() == kRows) {
        ++t.row_state;
      } else {
        throw std::logic_error("bench step: state tensor '" + key + "' of rule '" + t.rule +
                               "' is neither parameter-sized nor one value per row");
      }
      t.why += (t.why.empty() ? "" : ", ") + key;
    }
  } count;
  count.t.rule = rule;
  for (auto& [key, state] : opt.state()) {
    dynamic_cast<DeclaredFields&>(*state).fields(count);
  }
  return count.t;
}

}  // namespace

const RuleTraffic& rule_traffic(const std::string& rule) {
  static std::mutex mutex;
  static std::map<std::string, RuleTraffic> probed;
  std::lock_guard<std::mutex> lock(mutex);
  auto it = probed.find(rule);
  if (it == probed.end()) it = probed.emplace(rule, probe_traffic(rule)).first;
  return it->second;
}

double rule_step_bytes(const std::string& rule, const std::vector<int64_t>& shape,
                       int64_t element_size) {
  const auto& t = rule_traffic(rule);
  double numel = 1;
  for (auto s : shape) numel *= static_cast<double>(s);
  const double rows = shape.size() >= 2 ? numel / static_cast<double>(shape.back()) : 0.0;
  return static_cast<double>(element_size) *
         ((3.0 + 2.0 * t.full_state) * numel + 2.0 * t.row_state * rows);
}

double reference_ns_flops(int64_t rows, int64_t cols, int steps) {
  return newton_schulz_flops(rows, cols, steps, /*symmetric=*/false);
}

namespace {

// Waits for the device's queued work (one stream): a scalar read-back.
void sync(const at::Tensor& t) {
  if (t.device().is_cuda()) (void)t.reshape(-1)[0].item<double>();
}

// A GPU runs one 768×3072 product in microseconds, close to the cost of a read-back: time
// several calls per synchronisation there.
int calls_per_sync(const at::Device& device) { return device.is_cuda() ? 20 : 1; }

}  // namespace

double measure_copy_rate(const at::Device& device, at::ScalarType dtype, int64_t elements,
                         int repeats) {
  auto src = at::ones({elements}, at::TensorOptions().dtype(dtype).device(device));
  auto dst = at::empty_like(src);
  const int inner = calls_per_sync(device);
  const double s = median_seconds(
      [&] {
        for (int i = 0; i < inner; ++i) dst.copy_(src);
        sync(dst);
      },
      1, repeats);
  return 2.0 * static_cast<double>(src.nbytes()) * inner / s;
}

double measure_gemm_rate(const at::Device& device, at::ScalarType dtype, int64_t s, int64_t l,
                         int repeats) {
  auto x = at::randn({s, l}, at::TensorOptions().dtype(at::kFloat)).to(device, dtype);
  const auto xt = x.t();
  const int inner = calls_per_sync(device);
  const double seconds = median_seconds(
      [&] {
        at::Tensor a;
        for (int i = 0; i < inner; ++i) a = at::matmul(x, xt);
        sync(a);
      },
      1, repeats);
  return 2.0 * static_cast<double>(s) * static_cast<double>(s) * static_cast<double>(l) * inner /
         seconds;
}

namespace {

// The CPU side: c10's CPU allocator wrapped, every block it hands out recorded with its size.
// Blocks keep data == context and a plain deleter, as c10's own CPU allocator does, so that
// raw_allocate / raw_deallocate (oneDNN's workspaces) work across installing and removing it.
struct CpuCounts {
  c10::Allocator* inner = nullptr;
  c10::DeleterFnPtr inner_delete = nullptr;
  std::mutex mutex;
  std::unordered_map<void*, size_t> sizes;
  std::atomic<int64_t> current{0};
  std::atomic<int64_t> peak{0};
};
CpuCounts& cpu_counts() {
  static CpuCounts c;  // never destroyed before the last counted block is freed
  return c;
}

void raise_peak(CpuCounts& c, int64_t now) {
  int64_t p = c.peak.load();
  while (now > p && !c.peak.compare_exchange_weak(p, now)) {
  }
}

void free_counted(void* p) {
  auto& c = cpu_counts();
  {
    std::lock_guard<std::mutex> lock(c.mutex);
    auto it = c.sizes.find(p);
    if (it != c.sizes.end()) {
      c.current -= static_cast<int64_t>(it->second);
      c.sizes.erase(it);
    }
  }
  c.inner_delete(p);
}

c10::DataPtr allocate_counted(size_t n) {
  auto& c = cpu_counts();
  c10::DataPtr d = c.inner->allocate(n);
  void* p = d.get();
  if (p == nullptr || p != d.get_context()) return d;
  if (!d.compare_exchange_deleter(c.inner_delete, &free_counted)) return d;
  {
    std::lock_guard<std::mutex> lock(c.mutex);
    c.sizes[p] = n;
  }
  raise_peak(c, c.current += static_cast<int64_t>(n));
  return d;
}

// LibTorch 1.x declares Allocator::allocate const and 2.x non-const; of the two overloads
// below one overrides it and the other is an ordinary member, so no version test is needed.
// copy_data is pure virtual from 2.3 on and an unused member before.
class CountingCpuAllocator final : public c10::Allocator {
 public:
  c10::DataPtr allocate(size_t n) const { return allocate_counted(n); }
  c10::DataPtr allocate(size_t n) { return allocate_counted(n); }
  c10::DeleterFnPtr raw_deleter() const override { return &free_counted; }
  void copy_data(void* dest, const void* src, std::size_t count) const {
    std::memcpy(dest, src, count);
  }
};
CountingCpuAllocator& counting_cpu_allocator() {
  static CountingCpuAllocator a;
  return a;
}

// The CUDA side: the caching allocator reports every block it hands out or takes back to the
// thread's c10::MemoryReportingInfoBase. Its total_allocated parameters are int64_t in 1.x and
// size_t in 2.x: one overload overrides, the other is unused.
struct CudaReports : c10::MemoryReportingInfoBase {
  int64_t current = 0;
  int64_t peak = 0;
  void add(int64_t size, c10::Device d) {
    if (!d.is_cuda()) return;
    current += size;
    peak = std::max(peak, current);
  }
  void reportMemoryUsage(void*, int64_t size, int64_t, int64_t, c10::Device d) { add(size, d); }
  void reportMemoryUsage(void*, int64_t size, size_t, size_t, c10::Device d) { add(size, d); }
  bool memoryProfilingEnabled() const { return true; }
};

}  // namespace

AllocationCounter::AllocationCounter(const at::Device& device) : device_(device) {
  if (!device.is_cpu()) return;
  auto& c = cpu_counts();
  c10::Allocator* current = c10::GetCPUAllocator();
  if (current == &counting_cpu_allocator()) return;  // another counter is active
  // The wrapped allocator's blocks must be plain (data == context, one deleter) to be counted.
  if (current->raw_deleter() == nullptr) return;
  if (c.inner != nullptr && c.inner != current) return;  // the deleter kept must stay valid
  c.inner = current;
  c.inner_delete = current->raw_deleter();
  c10::SetCPUAllocator(&counting_cpu_allocator());
  installed_ = c10::GetCPUAllocator() == &counting_cpu_allocator();
}

AllocationCounter::~AllocationCounter() {
  if (installed_) c10::SetCPUAllocator(cpu_counts().inner);
}

bool AllocationCounter::available() const { return device_.is_cuda() || installed_; }

int64_t AllocationCounter::peak_extra_bytes(const std::function<void()>& fn) {
  if (device_.is_cuda()) {
    auto reports = std::make_shared<CudaReports>();
    {
      c10::DebugInfoGuard guard(c10::DebugInfoKind::PROFILER_STATE, reports);
      fn();
    }
    return reports->peak;
  }
  if (!installed_) {
    fn();
    return -1;
  }
  auto& c = cpu_counts();
  const int64_t start = c.current.load();
  c.peak.store(start);
  fn();
  return std::max<int64_t>(0, c.peak.load() - start);
}

}  // namespace lab
}  // namespace specopt
