// Google Benchmark timings of the polar factor (every method) and spectral_power(p = ½) on a
// 768 × 3072 float32 matrix with singular values geometric from 1 to 1e-2. The "FLOP/s"
// counter is each method's nominal matmul FLOPs per second (svd: none; eigensolver work is
// not counted). `specopt bench matfun` is the fuller tool (errors, GEMM baseline, JSON).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>

#include <algorithm>
#include <thread>

#include <specopt/matfun/coupled_newton.h>
#include <specopt/matfun/gram.h>
#include <specopt/matfun/newton_schulz.h>
#include <specopt/matfun/polar.h>
#include <specopt/matfun/spectral_power.h>

#include "lab/spectra.h"

namespace {

constexpr int64_t kM = 768, kN = 3072;

const at::Tensor& input() {
  static const at::Tensor G = [] {
    return specopt::lab::matrix_with_spectrum(
        kM, kN, specopt::lab::geometric_spectrum(std::min(kM, kN), 100.0), 1234, at::kFloat);
  }();
  return G;
}

double gram_eigh_flops(int64_t m, int64_t n) {
  const double k = std::min(m, n), N = std::max(m, n);
  return 4 * k * k * N + 2 * k * k * k;
}

void set_flops(benchmark::State& state, double flops_per_call) {
  if (flops_per_call > 0) {
    state.counters["FLOP/s"] =
        benchmark::Counter(flops_per_call, benchmark::Counter::kIsIterationInvariantRate);
  }
}

template <class F>
void run(benchmark::State& state, F&& fn, double flops) {
  const auto& G = input();
  for (auto _ : state) {
    const at::Tensor out = fn(G);
    benchmark::DoNotOptimize(out.sum().item<double>());  // waits for the result
  }
  set_flops(state, flops);
}

void BM_polar_reference_ns5(benchmark::State& state) {
  run(state, [](const at::Tensor& G) { return specopt::reference_newton_schulz5(G); },
      specopt::newton_schulz_flops(kM, kN, 5));
}

void BM_polar_ns_jordan(benchmark::State& state) {
  const auto opts = specopt::PolarOptions()
                        .method(specopt::PolarMethod::newton_schulz)
                        .schedule(specopt::NsSchedule::jordan());
  run(state, [&](const at::Tensor& G) { return specopt::polar(G, opts); },
      specopt::newton_schulz_flops(kM, kN, opts.steps()));
}

void BM_polar_ns_polar_express(benchmark::State& state) {
  const auto opts = specopt::PolarOptions()
                        .method(specopt::PolarMethod::newton_schulz)
                        .schedule(specopt::NsSchedule::polar_express());
  run(state, [&](const at::Tensor& G) { return specopt::polar(G, opts); },
      specopt::newton_schulz_flops(kM, kN, opts.steps()));
}

void BM_polar_gram_eigh(benchmark::State& state) {
  const auto opts = specopt::PolarOptions().method(specopt::PolarMethod::gram_eigh);
  run(state, [&](const at::Tensor& G) { return specopt::polar(G, opts); },
      gram_eigh_flops(kM, kN));
}

void BM_polar_svd(benchmark::State& state) {
  const auto opts = specopt::PolarOptions().method(specopt::PolarMethod::svd);
  run(state, [&](const at::Tensor& G) { return specopt::polar(G, opts); }, 0);
}

void BM_polar_auto(benchmark::State& state) {
  run(state, [](const at::Tensor& G) { return specopt::polar(G); }, 0);
}

void BM_power_half_coupled_newton(benchmark::State& state) {
  const auto opts = specopt::PowerOptions().method(specopt::PowerMethod::coupled_newton);
  run(state, [&](const at::Tensor& G) { return specopt::spectral_power(G, 0.5, opts); },
      specopt::coupled_newton_flops(kM, kN, 1, opts.iters()));
}

void BM_power_half_gram_eigh(benchmark::State& state) {
  const auto opts = specopt::PowerOptions().method(specopt::PowerMethod::gram_eigh);
  run(state, [&](const at::Tensor& G) { return specopt::spectral_power(G, 0.5, opts); },
      gram_eigh_flops(kM, kN));
}

void BM_power_half_svd(benchmark::State& state) {
  const auto opts = specopt::PowerOptions().method(specopt::PowerMethod::svd);
  run(state, [&](const at::Tensor& G) { return specopt::spectral_power(G, 0.5, opts); }, 0);
}

void BM_gemm_xxt(benchmark::State& state) {
  run(state, [](const at::Tensor& G) { return at::mm(G, G.t()); }, 2.0 * kM * kM * kN);
}

// The symmetric products of a Newton–Schulz step, plain GEMM vs the 2 × 2 block path
// (docs/performance.md, "Symmetric products"). Arg: m; X is m × 4m, A = X Xᵀ is m × m.
void BM_gram_reference(benchmark::State& state) {
  const int64_t m = state.range(0);
  auto X = at::randn({m, 4 * m});
  for (auto _ : state) benchmark::DoNotOptimize(specopt::gram_xxt_reference(X));
}
void BM_gram_blocks(benchmark::State& state) {
  const int64_t m = state.range(0);
  auto X = at::randn({m, 4 * m});
  for (auto _ : state) benchmark::DoNotOptimize(specopt::gram_xxt(X));
}
void BM_square_reference(benchmark::State& state) {
  const int64_t m = state.range(0);
  auto A = specopt::gram_xxt_reference(at::randn({m, 4 * m}));
  for (auto _ : state) benchmark::DoNotOptimize(specopt::gram_xxt_add_reference(A, A, -4.775, 2.0315));
}
void BM_square_blocks(benchmark::State& state) {
  const int64_t m = state.range(0);
  auto A = specopt::gram_xxt_reference(at::randn({m, 4 * m}));
  for (auto _ : state) benchmark::DoNotOptimize(specopt::gram_xxt_add(A, A, -4.775, 2.0315));
}

}  // namespace

BENCHMARK(BM_gram_reference)->Arg(256)->Arg(512)->Arg(768)->Arg(1024)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_gram_blocks)->Arg(256)->Arg(512)->Arg(768)->Arg(1024)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_square_reference)->Arg(512)->Arg(768)->Arg(1024)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_square_blocks)->Arg(512)->Arg(768)->Arg(1024)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_gemm_xxt)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_polar_reference_ns5)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_polar_ns_jordan)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_polar_ns_polar_express)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_polar_gram_eigh)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_polar_svd)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_polar_auto)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_power_half_coupled_newton)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_power_half_gram_eigh)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_power_half_svd)->Unit(benchmark::kMillisecond)->UseRealTime();

// Debian's LibTorch starts with one intra-op thread: use every core, for every benchmark, before
// the first one runs (setting it lazily made early benchmarks run on a different thread count).
int main(int argc, char** argv) {
  at::set_num_threads(static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
