// Gram Newton–Schulz: against the plain newton_schulz on the same inputs (its reference),
// against float64 SVD U Vᵀ, its fall-back, restarts, FLOP count, the symmetric products it
// uses, edge cases and errors.
#include <algorithm>
#include <iostream>
#include <limits>
#include <string>
#include <vector>

#include "test_util.h"

namespace specopt_test {
namespace {

using specopt::NsSchedule;
using specopt::PolarMethod;
using specopt::PolarOptions;

const char* compute_name(at::ScalarType t) {
  return t == at::kFloat ? "f32" : t == at::kDouble ? "f64" : "bf16";
}

// Tall, wide, odd sizes, a batch, a single row; every one far enough from square that the
// Gram route pays (asserted below, so none silently tests the fall-back).
std::vector<Shape> gram_shapes() {
  return {{"wide_32x128", 32, 128, {}},  {"tall_150x37", 150, 37, {}},
          {"odd_45x131", 45, 131, {}},   {"batch_3x2x16x48", 16, 48, {3, 2}},
          {"row_1x50", 1, 50, {}},       {"col_70x3", 70, 3, {}}};
}

// Tolerance (relative Frobenius distance to the plain iteration in the same arithmetic).
// Both compute the same polynomial of X₀; they differ by rounding. The Gram route rounds R
// additively (not in proportion to the small σ², as X Xᵀ formed from X does), and the
// polynomials amplify that: measured worst over these shapes × κ ∈ {10, 100, 1e4} × both
// schedules (5 steps, restart every 2): float64 5.7e-14, float32 3.6e-5 (the plain float32
// iteration is 1e-6–4e-5 from its float64 self; restarting every 3 steps reached 1e-3).
// Bounds: float64 1e-12, float32 2e-4.
double tolerance_vs_plain(at::ScalarType compute) { return compute == at::kDouble ? 1e-12 : 2e-4; }

TEST(GramNewtonSchulz, MatchesPlainNewtonSchulz) {
  int checked = 0;
  for (auto compute : {at::kDouble, at::kFloat}) {
    double worst = 0;
    const auto input = compute;
    for (const auto& sched : {NsSchedule::jordan(), NsSchedule::polar_express()}) {
      for (double kappa : {10.0, 1e2, 1e4}) {
        for (const auto& s : gram_shapes()) {
          SCOPED_TRACE(describe(s, kappa, input) + " compute=" + compute_name(compute) + " " +
                       sched.name);
          auto G = make_matrix(s.m, s.n, kappa, 31, input, s.batch);
          ASSERT_TRUE(specopt::gram_newton_schulz_pays(G, 5, compute));
          auto plain = specopt::newton_schulz(G, sched, 5, 1e-7, compute);
          auto gram = specopt::gram_newton_schulz(G, sched, 5, 1e-7, compute);
          ASSERT_EQ(gram.sizes(), G.sizes());
          ASSERT_EQ(gram.scalar_type(), input);
          EXPECT_TRUE(gram.is_contiguous());
          const double e = rel_err(gram, plain);
          EXPECT_LE(e, tolerance_vs_plain(compute));
          worst = std::max(worst, e);
          ++checked;
        }
      }
    }
    std::cout << "[ gram ns  ] " << compute_name(compute) << ": worst distance to the plain "
              << "iteration " << worst << "\n";
  }
  EXPECT_EQ(checked, 2 * 2 * 3 * 6);
}

// Polar Express past its table continues with the convergent quintic: 10 steps reach U Vᵀ
// (as for the plain iteration, NewtonSchulz.PolarExpressTailConverges, 1e-5 / 1e-10).
// Measured at κ = 100 on these shapes: float32 ≤ 3e-5 (the plain iteration 1e-6–9e-6: the
// Gram route's rounding above), float64 ≤ 1e-13. Bounds 2e-4 / 1e-10.
TEST(GramNewtonSchulz, ConvergesToFloat64SvdPolar) {
  for (auto dtype : {at::kFloat, at::kDouble}) {
    for (const auto& s : gram_shapes()) {
      SCOPED_TRACE(describe(s, 100, dtype));
      auto G = make_matrix(s.m, s.n, 1e2, 32, dtype, s.batch);
      auto X = specopt::polar(G, PolarOptions()
                                     .method(PolarMethod::gram_newton_schulz)
                                     .schedule(NsSchedule::polar_express())
                                     .steps(10));
      EXPECT_LE(rel_err(X, lab::exact_spectral_power(G, 0)), dtype == at::kFloat ? 2e-4 : 1e-10);
    }
  }
}

// Without restarts rounding in R grows ≈a² per step: jordan × 15 in float32 without a
// restart ends in NaN/Inf (measured on every input tried); with the default interval it stays
// at the plain iteration's result (measured 2.9e-5 here; bound 5e-4).
TEST(GramNewtonSchulz, RestartsKeepItStable) {
  auto G = make_matrix(96, 400, 1e3, 33, at::kFloat);
  const auto sched = NsSchedule::jordan();
  const auto plain = specopt::newton_schulz(G, sched, 15, 1e-7, at::kFloat);
  const auto never = specopt::gram_newton_schulz(G, sched, 15, 1e-7, at::kFloat, 100);
  EXPECT_FALSE(all_finite(never) && rel_err(never, plain) < 0.1);
  const double restarted = rel_err(specopt::gram_newton_schulz(G, sched, 15, 1e-7, at::kFloat), plain);
  std::cout << "[ gram ns  ] jordan x15, restart every 2: " << restarted << " from the plain\n";
  EXPECT_LE(restarted, 5e-4);
  EXPECT_EQ(specopt::gram_newton_schulz_restart_interval(at::kFloat), 2);
  // restart_every = 1 re-forms R before every step: the plain iteration's products
  // (X Xᵀ, bA + cA², then (aI + B) X as one product instead of aX + BX).
  EXPECT_LE(rel_err(specopt::gram_newton_schulz(G.to(at::kDouble), sched, 5, 1e-7, at::kDouble, 1),
                    specopt::newton_schulz(G.to(at::kDouble), sched, 5, 1e-7, at::kDouble)),
            1e-12);
}

// bfloat16 rounds R to 4e-3 of its norm each step; the Gram route then drifts by O(1) from
// the plain iteration at every restart interval ≥ 2 (measured 0.05–1e9, NaN past 5 steps).
// So bf16 restarts before every step, which costs what the plain iteration costs: it runs
// the plain iteration, bitwise.
TEST(GramNewtonSchulz, Bf16RunsThePlainIteration) {
  EXPECT_EQ(specopt::gram_newton_schulz_restart_interval(at::kBFloat16), 1);
  auto G = make_matrix(45, 131, 100, 40, at::kFloat, {2});
  EXPECT_FALSE(specopt::gram_newton_schulz_pays(G, 5, at::kBFloat16));
  for (const auto& sched : {NsSchedule::jordan(), NsSchedule::polar_express()}) {
    EXPECT_TRUE(at::equal(specopt::gram_newton_schulz(G, sched, 5, 1e-7, at::kBFloat16),
                          specopt::newton_schulz(G, sched, 5, 1e-7, at::kBFloat16)));
  }
}

// Square and nearly square matrices: the Gram route would cost more FLOPs, so the plain
// iteration runs, bitwise.
TEST(GramNewtonSchulz, FallsBackToPlainWhereItDoesNotPay) {
  for (auto [m, n] : {std::pair<int64_t, int64_t>{40, 40}, {40, 48}, {48, 40}}) {
    auto G = make_matrix(m, n, 100, 34, at::kFloat);
    EXPECT_FALSE(specopt::gram_newton_schulz_pays(G, 5, at::kFloat)) << m << "x" << n;
    EXPECT_TRUE(at::equal(specopt::gram_newton_schulz(G, NsSchedule::jordan(), 5, 1e-7, at::kFloat),
                          specopt::newton_schulz(G, NsSchedule::jordan(), 5, 1e-7, at::kFloat)));
    EXPECT_EQ(specopt::gram_newton_schulz_flops(G, 5, at::kFloat),
              specopt::newton_schulz_flops(G, 5));
  }
}

// The FLOP count, by hand for s = 1, l = 4, 5 steps, restarts before steps 2 and 4:
// R₀ 8, final Q X₀ 8; step 0: R² 2 + R update 4; step 1: R² 2 + Q·Z 2; step 2: restart 16 +
// R² 2 + R update 4; step 3: R² 2 + Q·Z 2; step 4: restart 16 + R² 2. Total 70 (plain: 90).
TEST(GramNewtonSchulz, FlopCount) {
  EXPECT_DOUBLE_EQ(specopt::gram_newton_schulz_flops(1, 4, 5, 2), 70.0);
  EXPECT_DOUBLE_EQ(specopt::gram_newton_schulz_flops(4, 1, 5, 2), 70.0);
  EXPECT_DOUBLE_EQ(specopt::newton_schulz_flops(1, 4, 5), 90.0);
  // No restart: 8 + 8 + (2+4) + 3·(2+2+4) + (2+2) = 50.
  EXPECT_DOUBLE_EQ(specopt::gram_newton_schulz_flops(1, 4, 5, 0), 50.0);
  // The Muon shapes: fewer FLOPs than the plain iteration on both paths.
  for (bool sym : {false, true}) {
    EXPECT_LT(specopt::gram_newton_schulz_flops(768, 3072, 5, 3, sym),
              0.75 * specopt::newton_schulz_flops(768, 3072, 5, sym));
  }
  // A batch counts every element.
  auto G = make_matrix(16, 64, 10, 35, at::kFloat, {3});
  EXPECT_DOUBLE_EQ(specopt::gram_newton_schulz_flops(G, 5, at::kFloat),
                   3 * specopt::gram_newton_schulz_flops(16, 64, 5, 2));
}

// The block path (m ≥ 512 on CPU) for every m × m product: float32 as above.
TEST(GramNewtonSchulz, BlockPathMatchesPlain) {
  auto G = make_matrix(515, 1600, 100, 36, at::kFloat);
  ASSERT_TRUE(specopt::gram_uses_blocks(G));
  ASSERT_TRUE(specopt::gram_newton_schulz_pays(G, 5, at::kFloat));
  EXPECT_LE(rel_err(specopt::gram_newton_schulz(G, NsSchedule::jordan(), 5, 1e-7, at::kFloat),
                    specopt::newton_schulz(G, NsSchedule::jordan(), 5, 1e-7, at::kFloat)),
            tolerance_vs_plain(at::kFloat));
}

// polar() with the method: the same arithmetic dtype rules as newton_schulz.
TEST(GramNewtonSchulz, ThroughPolar) {
  auto G = make_matrix(24, 96, 100, 37, at::kFloat, {2});
  auto o = PolarOptions().method(PolarMethod::gram_newton_schulz);
  EXPECT_TRUE(at::equal(specopt::polar(G, o),
                        specopt::gram_newton_schulz(G, NsSchedule::jordan(), 5, 1e-7, at::kFloat)));
  EXPECT_TRUE(at::equal(
      specopt::polar(G, PolarOptions(o).compute_dtype(at::kBFloat16)),
      specopt::gram_newton_schulz(G, NsSchedule::jordan(), 5, 1e-7, at::kBFloat16)));
  EXPECT_EQ(specopt::parse_polar_method("gram_newton_schulz"), PolarMethod::gram_newton_schulz);
  EXPECT_EQ(specopt::resolve_polar_method(G, o), PolarMethod::gram_newton_schulz);
}

TEST(GramNewtonSchulz, ZeroMatrices) {
  for (auto compute : {at::kDouble, at::kFloat, at::kBFloat16}) {
    const auto input = compute == at::kDouble ? at::kDouble : at::kFloat;
    for (auto shape : std::vector<std::vector<int64_t>>{{5, 70}, {70, 5}, {2, 3, 8, 40}}) {
      auto Z = at::zeros(shape, input);
      auto Q = specopt::gram_newton_schulz(Z, NsSchedule::polar_express(), 5, 1e-7, compute);
      EXPECT_TRUE(at::equal(Q, at::zeros_like(Z))) << compute_name(compute);
    }
    // A zero matrix inside a batch stays zero; the others are as if transformed alone
    // (batched vs single GEMM rounding, amplified as above; bf16, which runs the plain
    // iteration: its batched and single products round differently, measured 0.07).
    auto G = make_matrix(16, 80, 10, 38, input, {3}).clone();
    G[1].zero_();
    auto Q = specopt::gram_newton_schulz(G, NsSchedule::jordan(), 5, 1e-7, compute);
    EXPECT_TRUE(at::equal(Q[1], at::zeros_like(G[1])));
    for (int i : {0, 2}) {
      EXPECT_LE(rel_err(Q[i], specopt::gram_newton_schulz(G[i], NsSchedule::jordan(), 5, 1e-7,
                                                          compute)),
                compute == at::kBFloat16 ? 0.1 : tolerance_vs_plain(compute));
    }
  }
}

TEST(GramNewtonSchulz, RejectsBadArguments) {
  auto G = make_matrix(6, 30, 10, 1, at::kFloat);
  auto with_nan = G.clone();
  with_nan[2][3] = std::numeric_limits<float>::quiet_NaN();
  const auto j = NsSchedule::jordan();
  EXPECT_THROW_MSG(specopt::gram_newton_schulz(with_nan, j, 5, 1e-7, at::kFloat), "non-finite");
  EXPECT_THROW_MSG(specopt::gram_newton_schulz(G, j, 0, 1e-7, at::kFloat), "steps");
  EXPECT_THROW_MSG(specopt::gram_newton_schulz(G, j, 5, -1.0, at::kFloat), "eps");
  EXPECT_THROW_MSG(specopt::gram_newton_schulz(G, j, 5, 1e-7, at::kFloat, -2), "-2");
  EXPECT_THROW_MSG(specopt::gram_newton_schulz(at::ones({5}), j, 5, 1e-7, at::kFloat), "matrix");
}

// symmetric_product = βC + αABᵀ for products known to be symmetric, on both paths, against
// the plain reference: same blocking tolerance as gram_xxt (1e-6 float32, 1e-13 float64;
// 10× for the β, α form).
TEST(Gram, BlockPathOnlyForFloat32AndFloat64) {
  for (auto dtype : {at::kFloat, at::kDouble}) {
    EXPECT_TRUE(specopt::gram_uses_blocks(at::zeros({768, 768}, dtype)));
  }
  // bf16 products into blocks of a larger output measured slower than one GEMM.
  auto X = at::randn({600, 700}).to(at::kBFloat16);
  EXPECT_FALSE(specopt::gram_uses_blocks(X));
  EXPECT_TRUE(at::equal(specopt::gram_xxt(X), specopt::gram_xxt_reference(X)));
  EXPECT_FALSE(specopt::gram_uses_blocks(at::zeros({600, 700}, at::kHalf)));
}

TEST(Gram, SymmetricProductMatchesReference) {
  for (auto dtype : {at::kFloat, at::kDouble}) {
    const double tol = dtype == at::kFloat ? 1e-6 : 1e-13;
    for (int64_t m : {48, 515}) {
      for (std::vector<int64_t> batch : {std::vector<int64_t>{}, std::vector<int64_t>{2}}) {
        SCOPED_TRACE(std::to_string(m) + (batch.empty() ? "" : " batched") + " " +
                     dtype_name(dtype));
        auto X = make_matrix(m, m + 20, 10, 39, dtype, batch);
        auto R = specopt::gram_xxt_reference(X);
        // Two polynomials in R: symmetric and commuting.
        auto A = 2.0 * R + at::matmul(R, R);
        auto B = R - 0.5 * at::matmul(R, R);
        ASSERT_EQ(specopt::gram_uses_blocks(A), m >= 512);
        auto ref = specopt::symmetric_product_reference(A, B, R, 0.3, -1.7);
        EXPECT_LE(rel_err(specopt::symmetric_product(A, B, R, 0.3, -1.7), ref), 10 * tol);
        auto P = specopt::symmetric_product(A, B, at::Tensor(), 0.3, 2.0);
        EXPECT_LE(rel_err(P, specopt::symmetric_product_reference(A, B, at::Tensor(), 0.3, 2.0)),
                  10 * tol);
      }
    }
  }
  EXPECT_THROW_MSG(specopt::symmetric_product(at::zeros({3, 3}), at::zeros({3, 4}), at::Tensor(),
                                              0.0, 1.0),
                   "symmetric_product");
}

}  // namespace
}  // namespace specopt_test
