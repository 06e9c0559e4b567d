// `specopt bench step`'s rows and floors, where they can fail deterministically: the bytes per
// rule against the state each rule really keeps, the reference Newton–Schulz FLOP count, the
// reference Muon against a float64 hand computation of the same algorithm, LibTorch's AdamW
// against specopt's, and the allocation counter behind peak_extra_bytes. (Timings are the
// benchmark's output, not tested.)
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <specopt/matfun/newton_schulz.h>
#include <specopt/optim/fields.h>
#include <specopt/optim/optim.h>
#include <specopt/optim/registry.h>

#include "lab/step_bench.h"
#include "lab/step_bench_bounds.h"
#include "lab/step_bench_peers.h"

namespace {

using namespace specopt;
using namespace specopt::lab;

TEST(StepBenchBounds, BytesPerRuleAndElement) {
  // AdamW: read p, g, m, v; write p, m, v → 7 elements, 28 bytes in float32.
  EXPECT_DOUBLE_EQ(rule_step_bytes("AdamW", {10, 3}, 4), 28.0 * 30);
  EXPECT_DOUBLE_EQ(rule_step_bytes("AdamW", {10, 3}, 8), 56.0 * 30);
  EXPECT_DOUBLE_EQ(rule_step_bytes("Lion", {7}, 4), 20.0 * 7);
  EXPECT_DOUBLE_EQ(rule_step_bytes("Muon", {4, 6}, 4), 20.0 * 24);
  EXPECT_DOUBLE_EQ(rule_step_bytes("SpectralAdam", {4, 6}, 4), 28.0 * 24);
  EXPECT_DOUBLE_EQ(rule_step_bytes("SpectralSGD", {4, 6}, 4), 20.0 * 24);
  EXPECT_DOUBLE_EQ(rule_step_bytes("LionK", {4, 6}, 4), 20.0 * 24);
  // NorMuon: Muon's 5 elements plus its per-row second moment, read and written.
  EXPECT_DOUBLE_EQ(rule_step_bytes("NorMuon", {4, 6}, 4), 20.0 * 24 + 2 * 4 * 4);
  EXPECT_THROW(rule_step_bytes("Adagrad", {3}, 4), std::invalid_argument);
}

// The traffic is read off each rule's own state (a probe step), so a rule added to the
// registry has it without a table line; these are the counts each rule's paper gives it.
TEST(StepBenchBounds, TrafficIsTheStateEachRuleKeeps) {
  const struct {
    const char* rule;
    int full, row;
  } expected[] = {{"AdamW", 2, 0},   {"Lion", 1, 0},         {"Muon", 1, 0},
                  {"NorMuon", 1, 1}, {"Dion2", 1, 0},        {"AdaMuon", 2, 0},
                  {"PolarGrad", 1, 0}, {"SpectralAdam", 2, 0}, {"AdamQ", 2, 0},
                  {"SpectralSGD", 1, 0}, {"mSGDZ", 1, 0},     {"LionK", 1, 0}};
  for (const auto& e : expected) {
    const auto& t = rule_traffic(e.rule);
    EXPECT_EQ(t.full_state, e.full) << e.rule << ": " << t.why;
    EXPECT_EQ(t.row_state, e.row) << e.rule << ": " << t.why;
  }
  EXPECT_EQ(rule_traffic("AdamW").why, "exp_avg, exp_avg_sq");
  EXPECT_EQ(rule_traffic("NorMuon").why.find("momentum_buffer"), 0u) << rule_traffic("NorMuon").why;
  // Every optimizer of the registry has a figure (a new rule's row needs no line here).
  for (const auto& r : registered_optimizers()) EXPECT_NO_THROW(rule_traffic(r.name)) << r.name;
}

TEST(StepBenchBounds, ReferenceNewtonSchulzFlops) {
  // 4×6: s = 4, l = 6; per step X Xᵀ 2·16·6 = 192, A·A 2·64 = 128, B·X 192.
  EXPECT_DOUBLE_EQ(reference_ns_flops(4, 6, 1), 512);
  EXPECT_DOUBLE_EQ(reference_ns_flops(6, 4, 1), 512);  // iterates on the small side
  EXPECT_DOUBLE_EQ(reference_ns_flops(4, 6), 5 * 512);
  // One GPT-small MLP matrix: 5 · (4·768²·3072 + 2·768³) ≈ 40.8 GFLOP.
  EXPECT_DOUBLE_EQ(reference_ns_flops(3072, 768), 5.0 * (4.0 * 768 * 768 * 3072 + 2.0 * 768 * 768 * 768));
}

TEST(StepBenchRows, BytesMovedPerRow) {
  StepBenchConfig c;
  c.blocks = 1;
  c.width = 8;
  c.vocab = 20;
  c.positions = 10;
  std::vector<std::pair<std::string, at::Tensor>> named;
  std::vector<at::Tensor> all;
  for (const auto& [name, shape] : step_bench_shapes(c)) {
    auto p = at::randn(shape).requires_grad_(true);
    p.mutable_grad() = at::randn(shape);
    named.emplace_back(name, p);
    all.push_back(p);
  }
  const auto part = partition_parameters(named);
  int64_t n = 0, hidden = 0, rows = 0;
  for (const auto& p : all) n += p.numel();
  for (const auto& p : part.spectral_params()) {
    hidden += p.numel();
    rows += p.size(0);
  }
  EXPECT_DOUBLE_EQ(make_step_bench_stepper("adamw", part, all).bytes_moved, 28.0 * n);
  EXPECT_DOUBLE_EQ(make_step_bench_stepper("torch_adamw", part, all).bytes_moved, 28.0 * n);
  EXPECT_DOUBLE_EQ(make_step_bench_stepper("lion", part, all).bytes_moved, 20.0 * n);
  EXPECT_DOUBLE_EQ(make_step_bench_stepper("muon", part, all).bytes_moved,
                   20.0 * hidden + 28.0 * (n - hidden));
  EXPECT_DOUBLE_EQ(make_step_bench_stepper("reference_muon", part, all).bytes_moved,
                   20.0 * hidden + 28.0 * (n - hidden));
  EXPECT_DOUBLE_EQ(make_step_bench_stepper("normuon", part, all).bytes_moved,
                   20.0 * hidden + 8.0 * rows + 28.0 * (n - hidden));
  // A registry optimizer without a row of its own: its defaults, as a hybrid.
  const auto adamz = make_step_bench_stepper("adamz", part, all);
  EXPECT_TRUE(adamz.spectral);
  EXPECT_DOUBLE_EQ(adamz.bytes_moved, 28.0 * hidden + 28.0 * (n - hidden));
  const auto known = step_bench_known_optimizers();
  for (const char* name : {"muon", "adamq", "spectraladam", "msgd", "lionk", "dion2"}) {
    EXPECT_NE(std::find(known.begin(), known.end(), name), known.end()) << name;
  }
  const auto defaults = step_bench_optimizers();
  EXPECT_EQ(std::find(defaults.begin(), defaults.end(), "msgd"), defaults.end());  // not a default row
  EXPECT_TRUE(make_step_bench_stepper("reference_muon", part, all).spectral);
  EXPECT_FALSE(make_step_bench_stepper("torch_adamw", part, all).spectral);
  EXPECT_THROW(make_step_bench_optimizer("torch_adamw", part, all), std::invalid_argument);
  EXPECT_TRUE(is_step_bench_peer("reference_muon"));
  EXPECT_FALSE(is_step_bench_peer("muon"));
}

// KellerJordan/Muon's algorithm written out in float64: EMA momentum, Nesterov, quintic
// Newton–Schulz ×5 on the small side of the normalised matrix, scale sqrt(max(1, rows/cols)).
at::Tensor hand_ns5(const at::Tensor& G) {
  const double a = 3.4445, b = -4.7750, c = 2.0315;
  const bool tall = G.size(0) > G.size(1);
  auto X = tall ? G.t() : G;
  X = X / (X.norm().item<double>() + 1e-7);
  for (int i = 0; i < 5; ++i) {
    auto A = X.mm(X.t());
    auto B = b * A + c * A.mm(A);
    X = a * X + B.mm(X);
  }
  return tall ? X.t() : X;
}

// Three steps of reference_muon on one matrix (+ a vector on the AdamW side) against the hand
// computation; returns ‖Δp − Δp_hand‖ / ‖Δp_hand‖.
double reference_muon_error(std::vector<int64_t> shape, at::ScalarType dtype,
                            at::ScalarType ns_dtype) {
  at::manual_seed(3);
  const double lr = 0.02, mu = 0.95;
  auto p = at::randn(shape, dtype).requires_grad_(true);
  auto v = at::randn({5}, dtype).requires_grad_(true);
  const auto p0 = p.detach().to(at::kDouble).clone();  // a copy even when p is float64
  auto stepper =
      make_reference_muon({p}, {v}, BenchAdamW{}, /*fused_adamw=*/false, lr, mu, ns_dtype);
  at::Tensor buf = at::zeros(shape, at::kDouble), expected = p0.clone();
  for (int k = 0; k < 3; ++k) {
    p.mutable_grad() = at::randn(shape, dtype);
    v.mutable_grad() = at::randn({5}, dtype);
    stepper.step();
    const auto g = p.grad().to(at::kDouble);
    buf = buf + (1 - mu) * (g - buf);
    const auto u = g + mu * (buf - g);
    const double scale = std::sqrt(std::max(1.0, double(shape[0]) / double(shape[1])));
    expected = expected - lr * scale * hand_ns5(u);
  }
  const auto got = p.detach().to(at::kDouble);
  return ((got - expected).norm() / (expected - p0).norm()).item<double>();
}

TEST(StepBenchPeers, ReferenceMuonMatchesAFloat64HandComputation) {
  for (auto shape : {std::vector<int64_t>{12, 8}, std::vector<int64_t>{8, 12}}) {
    // The algorithm (momentum, Nesterov, normalisation, iteration, scale), in float64: exact.
    EXPECT_LT(reference_muon_error(shape, at::kDouble, at::kDouble), 1e-12);
    // As benchmarked, in bf16: within bf16's reach of the float64 update. bf16 keeps 8 bits of
    // mantissa and the quintic amplifies rounding where it is steep: PyTorch's own bf16
    // iteration is 5–11% from float64 on random 12×8 matrices; a wrong coefficient, scale
    // (√1.5 here) or momentum is further off. And bf16 is really used (not float64).
    const double bf16 = reference_muon_error(shape, at::kFloat, at::kBFloat16);
    EXPECT_LT(bf16, 0.12) << shape[0] << "x" << shape[1];
    EXPECT_GT(bf16, 1e-4) << shape[0] << "x" << shape[1];
  }
}

// Both are AdamW with the same hyper-parameters: after k steps they agree to rounding.
void expect_torch_adamw_matches_specopt(bool fused) {
  at::manual_seed(5);
  std::vector<at::Tensor> mine, theirs;
  for (auto shape : {std::vector<int64_t>{7, 5}, std::vector<int64_t>{13}, std::vector<int64_t>{3, 4}}) {
    auto p = at::randn(shape);
    mine.push_back(p.clone().requires_grad_(true));
    theirs.push_back(p.clone().requires_grad_(true));
  }
  auto specopt_adamw = make_optimizer(
      "adamw:lr=3e-4,beta1=0.9,beta2=0.999,eps=1e-8,weight_decay=0.01", mine);
  auto torch_adamw = make_torch_adamw(theirs, BenchAdamW{}, fused);
  for (int k = 0; k < 5; ++k) {
    for (size_t i = 0; i < mine.size(); ++i) {
      const auto g = at::randn(mine[i].sizes());
      mine[i].mutable_grad() = g.clone();
      theirs[i].mutable_grad() = g.clone();
    }
    specopt_adamw->step();
    torch_adamw.step();
  }
  for (size_t i = 0; i < mine.size(); ++i) {
    EXPECT_LT((mine[i] - theirs[i]).abs().max().item<double>(), 1e-6) << i;
  }
}

TEST(StepBenchPeers, TorchAdamWMatchesSpecoptAdamW) {
  expect_torch_adamw_matches_specopt(/*fused=*/false);
}

TEST(StepBenchPeers, FusedTorchAdamWMatchesSpecoptAdamW) {
  if (!fused_adamw_available()) {
    GTEST_SKIP() << "this LibTorch has no aten::_fused_adamw_ (added in 2.0, CPU kernels 2.4)";
  }
  expect_torch_adamw_matches_specopt(/*fused=*/true);
}

TEST(StepBenchBounds, AllocationCounterCountsWhatAStepAllocates) {
  AllocationCounter counter(at::kCPU);
  ASSERT_TRUE(counter.available());
  auto x = at::zeros({1000});
  at::Tensor kept;
  // In place: nothing allocated.
  const auto y = at::ones({1000});
  EXPECT_EQ(counter.peak_extra_bytes([&] { x.add_(y); }), 0);
  // A temporary of 4000 bytes, freed before the end, and one of 8000 kept.
  const int64_t peak = counter.peak_extra_bytes([&] {
    { auto t = at::empty({1000}); }
    kept = at::empty({2000});
  });
  EXPECT_GE(peak, 8000);
  EXPECT_LT(peak, 12000);  // the temporary was gone before the second allocation
  // The kept block is freed through the counter: the next measurement starts from it.
  kept = at::Tensor();
  EXPECT_EQ(counter.peak_extra_bytes([&] { x.mul_(y); }), 0);
}

}  // namespace
