// polar(): accuracy of every method against a float64 SVD, structural properties,
// Newton–Schulz schedules, the Gram products, edge cases and error messages.
#include <algorithm>
#include <cmath>
#include <iostream>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

#include "test_util.h"

namespace specopt_test {
namespace {

using specopt::NsSchedule;
using specopt::PolarMethod;
using specopt::PolarOptions;

PolarOptions with_method(PolarMethod m) { return PolarOptions().method(m); }

// ---------------------------------------------------------------------------------------
// Accuracy against lab::exact_spectral_power(G, 0) (float64 SVD of the same input).

// Tolerance (relative Frobenius error) of `method` in `dtype` at condition number kappa;
// a negative value means the combination is not tested.
double polar_tolerance(PolarMethod method, at::ScalarType dtype, double kappa) {
  const bool f32 = dtype == at::kFloat;
  switch (method) {
    case PolarMethod::svd:
      // The contract for the exact method: 1e-5 in float32, 1e-10 in float64, at
      // every kappa up to 1e4.
      return f32 ? 1e-5 : 1e-10;
    case PolarMethod::gram_eigh:
      // float64: the Gram matrix squares κ (1e4 → 1e8; eps64·1e8 ≈ 2e-8 on the weakest
      // direction, much less in the Frobenius average): measured worst 6.6e-10 at κ = 1e4
      // over the grid; 1e-8 is the bound.
      if (!f32) return 1e-8;
      // float32: error grows like eps32·κ². Measured worst over the shape grid, 12 seeds,
      // p ∈ {0, 0.1, 0.25, 0.5, 0.75}: κ=1: 5.4e-7, κ=10: 2.5e-6, κ=100: 3.4e-4; bounds
      // are ~3-4x those (κ=100: the 1e-3). κ = 1e4 is beyond float32 (0.5
      // measured): only `auto` is tested there.
      if (kappa <= 1) return 2e-6;
      if (kappa <= 10) return 1e-5;
      if (kappa <= 100) return 1e-3;
      return -1;
    case PolarMethod::automatic:
      // auto promises its tol (default 1e-3) at any κ, falling back to float64.
      return PolarOptions().tol();
    case PolarMethod::newton_schulz:
    case PolarMethod::gram_newton_schulz:
      return -1;
  }
  return -1;
}

using MethodDtype = std::tuple<PolarMethod, at::ScalarType>;

class PolarAccuracy : public ::testing::TestWithParam<MethodDtype> {};

TEST_P(PolarAccuracy, MatchesFloat64SvdOverShapesAndKappa) {
  const auto [method, dtype] = GetParam();
  int checked = 0;
  for (double kappa : {1.0, 10.0, 1e2, 1e4}) {
    const double tol = polar_tolerance(method, dtype, kappa);
    if (tol < 0) continue;
    for (const auto& s : shape_grid()) {
      SCOPED_TRACE(describe(s, kappa, dtype));
      auto G = make_matrix(s.m, s.n, kappa, 11, dtype, s.batch);
      auto Q = specopt::polar(G, with_method(method));
      ASSERT_EQ(Q.sizes(), G.sizes());
      ASSERT_EQ(Q.scalar_type(), dtype);
      EXPECT_LE(rel_err(Q, lab::exact_spectral_power(G, 0)), tol);
      ++checked;
    }
  }
  EXPECT_GE(checked, 21);
}

// The exact methods × dtypes that the accuracy and property suites run over.
auto exact_methods_by_dtype() {
  return ::testing::Combine(::testing::Values(PolarMethod::svd, PolarMethod::gram_eigh,
                                              PolarMethod::automatic),
                            ::testing::Values(at::kFloat, at::kDouble));
}

std::string method_dtype_name(const ::testing::TestParamInfo<MethodDtype>& info) {
  return specopt::to_string(std::get<0>(info.param)) + "_" + dtype_name(std::get<1>(info.param));
}

INSTANTIATE_TEST_SUITE_P(
    Methods, PolarAccuracy,
    exact_methods_by_dtype(), method_dtype_name);

// auto with a tight target on float32 input: tol 1e-5 (the request is 1e-6, but float32
// output rounding alone is ≈ 1e-7 per entry and the float32 input's own rounding sets the
// floor, so 1e-5 is what a float32 result can promise). The κ = 1e4 case needs the float64
// fallback.
TEST(PolarAuto, TightToleranceOnFloat32IsMet) {
  const double tol = 1e-5;
  for (double kappa : {1.0, 10.0, 1e2, 1e4}) {
    for (const auto& s : shape_grid()) {
      SCOPED_TRACE(describe(s, kappa, at::kFloat));
      auto G = make_matrix(s.m, s.n, kappa, 12, at::kFloat, s.batch);
      auto Q = specopt::polar(G, PolarOptions().tol(tol));
      EXPECT_EQ(Q.scalar_type(), at::kFloat);
      EXPECT_LE(rel_err(Q, lab::exact_spectral_power(G, 0)), tol);
    }
  }
}

// On CPU `auto` resolves to gram_eigh (the documented rule); explicit methods resolve to
// themselves.
TEST(PolarAuto, ResolvesToGramEighOnCpu) {
  auto G = make_matrix(8, 12, 10, 1, at::kFloat);
  EXPECT_EQ(specopt::resolve_polar_method(G, PolarOptions()), PolarMethod::gram_eigh);
  for (auto m : {PolarMethod::svd, PolarMethod::gram_eigh, PolarMethod::newton_schulz,
                 PolarMethod::gram_newton_schulz}) {
    EXPECT_EQ(specopt::resolve_polar_method(G, with_method(m)), m);
  }
  // Names round-trip.
  for (const auto& name : specopt::polar_method_names()) {
    EXPECT_EQ(specopt::to_string(specopt::parse_polar_method(name)), name);
  }
}

// ---------------------------------------------------------------------------------------
// The a-posteriori estimate that drives auto's float64 fallback must not under-estimate the
// float32 gram_eigh error. Over the grid below the ratio estimate/actual is recorded (and
// printed); every ratio must be >= 1.

class GramEstimate : public ::testing::TestWithParam<double> {};

TEST_P(GramEstimate, IsAtLeastTheActualFloat32Error) {
  const double p = GetParam();
  const std::vector<Shape> shapes = {{"square_64x64", 64, 64, {}},
                                     {"wide_32x128", 32, 128, {}},
                                     {"tall_128x32", 128, 32, {}},
                                     {"wide_48x96", 48, 96, {}},
                                     {"batch_3x16x48", 16, 48, {3}}};
  double lo = std::numeric_limits<double>::infinity(), hi = 0, lo_above_1 = lo;
  for (double kappa : {1.0, 10.0, 30.0, 1e2, 3e2, 1e3}) {
    for (const auto& s : shapes) {
      for (uint64_t seed : {1u, 2u}) {
        SCOPED_TRACE(describe(s, kappa, at::kFloat) + " seed=" + std::to_string(seed));
        auto G = make_matrix(s.m, s.n, kappa, seed, at::kFloat, s.batch);
        const double est = specopt::gram_eigh_error_estimate(specopt::gram_eig(G, at::kFloat), p);
        // Actual error of the float32 gram_eigh computation (no fallback).
        auto out = p == 0 ? specopt::polar(G, with_method(PolarMethod::gram_eigh))
                          : specopt::spectral_power(
                                G, p, specopt::PowerOptions().method(specopt::PowerMethod::gram_eigh));
        const double actual = rel_err(out, lab::exact_spectral_power(G, p));
        EXPECT_GE(est, actual) << "estimate " << est << " < actual error " << actual;
        lo = std::min(lo, est / actual);
        hi = std::max(hi, est / actual);
        if (kappa > 1) lo_above_1 = std::min(lo_above_1, est / actual);
      }
    }
  }
  std::cout << "[ estimate ] p=" << p << " estimate/actual in [" << lo << ", " << hi
            << "]; min over kappa > 1: " << lo_above_1 << "\n";
  RecordProperty("ratio_min", std::to_string(lo));
  RecordProperty("ratio_max", std::to_string(hi));
}

INSTANTIATE_TEST_SUITE_P(Powers, GramEstimate, ::testing::Values(0.0, 0.5, 0.25),
                         [](const ::testing::TestParamInfo<double>& info) {
                           return info.param == 0 ? std::string("p0")
                                                  : info.param == 0.5 ? std::string("p_half")
                                                                      : std::string("p_quarter");
                         });

// ---------------------------------------------------------------------------------------
// Structural properties of the exact-ish methods.

class PolarProperties : public ::testing::TestWithParam<MethodDtype> {};

TEST_P(PolarProperties, OrthonormalDtypeShapeContiguous) {
  const auto [method, dtype] = GetParam();
  // Orthonormality (max |entry| of QᵀQ − I, QQᵀ for wide) on full-rank input, bounds
  // 1e-5 (float32) / 1e-10 (float64) as the issue states. float32 gram_eigh loses
  // orthogonality like eps32·κ² (measured worst over 12 seeds × the shape grid: 1.9e-6 at
  // κ=1, 3.3e-6 at κ=5, 7.2e-6 at κ=10, 5e-4 at κ=100; svd ≤ 1.3e-6 at κ=100), so
  // float32 uses κ = 5; float64 κ = 100 (measured ≤ 5.5e-13; gram_eigh at κ=1e4: 3.7e-9).
  const double tol = dtype == at::kFloat ? 1e-5 : 1e-10;
  const double kappa = dtype == at::kFloat ? 5 : 100;
  for (const auto& s : shape_grid()) {
    SCOPED_TRACE(describe(s, kappa, dtype));
    auto G = make_matrix(s.m, s.n, kappa, 13, dtype, s.batch);
    auto Q = specopt::polar(G, with_method(method));
    EXPECT_EQ(Q.scalar_type(), dtype);
    EXPECT_EQ(Q.sizes(), G.sizes());
    EXPECT_TRUE(Q.is_contiguous());
    const bool wide = s.m <= s.n;
    auto Qd = Q.to(at::kDouble);
    auto P = wide ? at::matmul(Qd, Qd.transpose(-2, -1)) : at::matmul(Qd.transpose(-2, -1), Qd);
    auto I = at::eye(std::min(s.m, s.n), at::kDouble).expand(P.sizes());
    EXPECT_LE(max_abs_diff(P, I), tol);
  }
  // A non-contiguous (transposed) input gives the transposed factor, contiguous.
  auto G = make_matrix(40, 24, 10, 14, dtype);
  auto Qt = specopt::polar(G.transpose(0, 1), with_method(method));
  EXPECT_TRUE(Qt.is_contiguous());
  EXPECT_LE(rel_err(Qt, specopt::polar(G, with_method(method)).transpose(0, 1)),
            dtype == at::kFloat ? 1e-5 : 1e-10);  // same two tolerances: both are ≈ UVᵀ
}

INSTANTIATE_TEST_SUITE_P(
    Methods, PolarProperties,
    exact_methods_by_dtype(), method_dtype_name);

// A single row (column) has the polar factor g/‖g‖.
TEST(PolarVector, RowAndColumnAreNormalised) {
  for (auto dtype : {at::kFloat, at::kDouble}) {
    auto g = make_matrix(1, 50, 1, 15, dtype);
    auto expected = g / at::linalg_vector_norm(g.to(at::kDouble), 2).to(dtype);
    for (auto m : {PolarMethod::svd, PolarMethod::gram_eigh, PolarMethod::automatic}) {
      SCOPED_TRACE(specopt::to_string(m) + " " + dtype_name(dtype));
      // Rounding only: 1e-6 (float32) / 1e-13 (float64).
      const double tol = dtype == at::kFloat ? 1e-6 : 1e-13;
      EXPECT_LE(rel_err(specopt::polar(g, with_method(m)), expected), tol);
      EXPECT_LE(rel_err(specopt::polar(g.transpose(0, 1), with_method(m)), expected.transpose(0, 1)),
                tol);
    }
  }
}

// ---------------------------------------------------------------------------------------
// Newton–Schulz schedules.

// Published (docs/algorithms.md): jordan on κ = 1e4 leaves singular values in ≈[0.02, 1.20] after 5 steps and
// ≈[0.68, 1.13] after 15. Measured on this 128x512 float32 input: [0.0178, 1.2024] and
// [0.6818, 1.1343].
TEST(NewtonSchulz, JordanSingularValueBands) {
  auto G = make_matrix(128, 512, 1e4, 3, at::kFloat);
  auto s15 = specopt::singular_values(
      specopt::polar(G, with_method(PolarMethod::newton_schulz).steps(15)));
  // 15 steps: the band [0.68, 1.13] with a little slack.
  EXPECT_GE(s15.min().item<double>(), 0.6);
  EXPECT_LE(s15.max().item<double>(), 1.2);
  auto s5 = specopt::singular_values(
      specopt::newton_schulz(G, NsSchedule::jordan(), 5, 1e-7, at::kFloat));
  // 5 steps: the top overshoots to ≈1.20 but no further; the smallest σ (1e-4 of the top,
  // ≈1e-5 after Frobenius normalisation) has not converged: the band stays wide.
  EXPECT_LE(s5.max().item<double>(), 1.25);
  EXPECT_LE(s5.min().item<double>(), 0.1);
  EXPECT_GE(s5.min().item<double>(), 0.0);
}

// Polar Express, 5 steps, κ = 100: measured σ ∈ [0.859, 1.141] (128x512, float32); the
// schedule's design band is about [0.87, 1.13]; asserted [0.75, 1.2].
TEST(NewtonSchulz, PolarExpressFiveStepsBand) {
  auto G = make_matrix(128, 512, 1e2, 3, at::kFloat);
  auto X = specopt::polar(
      G, with_method(PolarMethod::newton_schulz).schedule(NsSchedule::polar_express()).steps(5));
  auto s = specopt::singular_values(X);
  EXPECT_GE(s.min().item<double>(), 0.75);
  EXPECT_LE(s.max().item<double>(), 1.2);
}

// Past its 5-entry table Polar Express continues with its convergent tail quintic
// (15/8, −10/8, 3/8): 10 steps on κ = 100 reach U Vᵀ. Measured (64x128): 1.4e-6 (float32),
// 3.8e-15 (float64); bounds 1e-5 / 1e-10.
TEST(NewtonSchulz, PolarExpressTailConverges) {
  for (auto dtype : {at::kFloat, at::kDouble}) {
    auto G = make_matrix(64, 128, 1e2, 3, dtype);
    auto X = specopt::polar(
        G, with_method(PolarMethod::newton_schulz).schedule(NsSchedule::polar_express()).steps(10));
    EXPECT_LE(rel_err(X, lab::exact_spectral_power(G, 0)), dtype == at::kFloat ? 1e-5 : 1e-10)
        << dtype_name(dtype);
  }
}

// The convergent cubic with 40 steps on κ = 10 reaches the polar factor: measured 1.8e-15
// (float64, 64x96); asserted 1e-10.
TEST(NewtonSchulz, CubicConvergesToPolar) {
  for (auto [m, n] : {std::pair<int64_t, int64_t>{64, 96}, {96, 64}}) {
    auto G = make_matrix(m, n, 10, 4, at::kDouble);
    auto X = specopt::newton_schulz(G, NsSchedule::cubic(), 40, 1e-7, at::kDouble);
    EXPECT_LE(rel_err(X, lab::exact_spectral_power(G, 0)), 1e-10) << m << "x" << n;
  }
}

// A batch of one runs as the matrix (the 2-D products are the faster ones on the CPU): the same
// result, bitwise, for wide and tall, float32 and bf16 arithmetic, with and without the AOL start;
// and it still agrees with the batch it came from (a batch of three, 1e-6 in float64).
TEST(NewtonSchulz, BatchOfOneIsTheMatrix) {
  for (auto [m, n] : {std::pair<int64_t, int64_t>{24, 40}, {40, 24}}) {
    for (auto dtype : {at::kFloat, at::kBFloat16}) {
      for (bool aol : {false, true}) {
        auto G = make_matrix(m, n, 50, 3, at::kFloat);
        auto one = specopt::newton_schulz(G.unsqueeze(0), NsSchedule::jordan(), 5, 1e-7, dtype, aol);
        auto mat = specopt::newton_schulz(G, NsSchedule::jordan(), 5, 1e-7, dtype, aol);
        ASSERT_EQ(one.sizes(), (std::vector<int64_t>{1, m, n}));
        EXPECT_TRUE(at::equal(one[0], mat)) << m << "x" << n << " aol " << aol;
      }
    }
  }
  auto B = make_matrix(24, 40, 50, 3, at::kDouble, {3});
  auto batched = specopt::newton_schulz(B, NsSchedule::jordan(), 5, 1e-7, at::kDouble);
  auto first = specopt::newton_schulz(B.slice(0, 0, 1), NsSchedule::jordan(), 5, 1e-7, at::kDouble);
  EXPECT_LE(rel_err(first[0], batched[0]), 1e-6);
}

TEST(NewtonSchulz, CustomTablesMatchBuiltInsBitwise) {
  auto G = make_matrix(48, 80, 100, 5, at::kFloat, {2});
  auto jordan_copy = NsSchedule::custom({{3.4445, -4.7750, 2.0315}});
  EXPECT_TRUE(at::equal(specopt::newton_schulz(G, jordan_copy, 5, 1e-7, at::kFloat),
                        specopt::newton_schulz(G, NsSchedule::jordan(), 5, 1e-7, at::kFloat)));
  // After the table's last entry the last triple repeats: a 2-entry cubic table is the cubic.
  auto cubic2 = NsSchedule::custom({{1.5, -0.5, 0.0}, {1.5, -0.5, 0.0}});
  EXPECT_TRUE(at::equal(specopt::newton_schulz(G, cubic2, 7, 1e-7, at::kFloat),
                        specopt::newton_schulz(G, NsSchedule::cubic(), 7, 1e-7, at::kFloat)));
  // Past the table: the `tail` triple when set (Polar Express: a convergent quintic),
  // otherwise the last entry.
  auto pe = NsSchedule::polar_express();
  EXPECT_EQ(pe.at_step(2), pe.coefficients[2]);
  EXPECT_EQ(pe.at_step(100), pe.tail.value_or(pe.coefficients.back()));
  EXPECT_EQ(NsSchedule::jordan().at_step(100), NsSchedule::jordan().coefficients.back());
  EXPECT_EQ(cubic2.at_step(9), cubic2.coefficients.back());
  EXPECT_EQ(pe.norm_factor, 1.02);
  for (const auto& name : NsSchedule::names()) {
    EXPECT_EQ(NsSchedule::from_name(name).name, name);
  }
}

// newton_schulz(jordan, 5) against the literal reference implementation. The library divides
// by max|G| before the Frobenius normalisation (+eps), so the two agree exactly in real
// arithmetic when max|G| = 1: then float64 agrees to 1e-12 (measured ~1e-15) and float32 to
// 1e-5 (measured 1.3e-6, blocking/rounding differences amplified by the polynomial). On an
// unnormalised input eps enters differently (measured 4e-8 in float64): 1e-5 both dtypes.
TEST(NewtonSchulz, MatchesReferenceImplementation) {
  for (auto dtype : {at::kFloat, at::kDouble}) {
    for (const auto& s : std::vector<Shape>{{"wide", 64, 96, {2}}, {"tall", 96, 64, {}}}) {
      SCOPED_TRACE(describe(s, 100, dtype));
      auto G = make_matrix(s.m, s.n, 100, 6, dtype, s.batch);
      auto Gn = G / G.abs().amax({-2, -1}, true);
      EXPECT_LE(rel_err(specopt::newton_schulz(Gn, NsSchedule::jordan(), 5, 1e-7, dtype),
                        specopt::reference_newton_schulz5(Gn)),
                dtype == at::kFloat ? 1e-5 : 1e-12);
      EXPECT_LE(rel_err(specopt::newton_schulz(G, NsSchedule::jordan(), 5, 1e-7, dtype),
                        specopt::reference_newton_schulz5(G)),
                1e-5);
    }
  }
}

// ---------------------------------------------------------------------------------------
// The Gram products: the 2 × 2 block path (m ≥ 512 on CPU) and the plain matmul path, each
// against the plain reference.

TEST(Gram, MatchesReferenceAndIsSymmetric) {
  for (auto dtype : {at::kFloat, at::kDouble}) {
    // Same products, different blocking: 1e-6 (float32) / 1e-13 (float64).
    const double tol = dtype == at::kFloat ? 1e-6 : 1e-13;
    std::vector<std::pair<std::string, at::Tensor>> inputs = {
        {"wide", make_matrix(32, 128, 10, 7, dtype)},
        {"tall", make_matrix(48, 16, 10, 7, dtype)},
        {"batched", make_matrix(16, 48, 10, 7, dtype, {3, 2})},
        {"transposed", make_matrix(128, 32, 10, 7, dtype).transpose(0, 1)},
        {"blocks_even", make_matrix(512, 600, 10, 7, dtype)},
        {"blocks_odd", make_matrix(515, 530, 10, 7, dtype)},
        {"blocks_batched", make_matrix(512, 520, 10, 7, dtype, {2})},
        {"blocks_transposed", make_matrix(600, 513, 10, 7, dtype).transpose(0, 1)}};
    for (const auto& [name, X] : inputs) {
      SCOPED_TRACE(name + " " + dtype_name(dtype));
      EXPECT_EQ(specopt::gram_uses_blocks(X), X.size(-2) >= 512);
      auto A = specopt::gram_xxt(X);
      auto R = specopt::gram_xxt_reference(X);
      ASSERT_EQ(A.sizes(), R.sizes());
      EXPECT_EQ(A.scalar_type(), dtype);
      EXPECT_LE(rel_err(A, R), tol);
      // Symmetric to rounding (a GEMM sums (i, j) and (j, i) in different orders; eigh reads
      // one triangle and Newton–Schulz only multiplies, so bitwise symmetry is not needed).
      EXPECT_LE((A - A.transpose(-2, -1)).abs().max().item<double>(),
                tol * A.abs().max().item<double>());
      // beta·C + alpha·XXᵀ with a symmetric C, as Newton–Schulz uses it for bA + cA².
      auto C = specopt::gram_xxt_reference(X);
      auto S = specopt::gram_xxt_add(C, X, -4.775, 2.0315);
      EXPECT_LE(rel_err(S, specopt::gram_xxt_add_reference(C, X, -4.775, 2.0315)), 10 * tol);
      EXPECT_TRUE(at::equal(C, specopt::gram_xxt_reference(X))) << "gram_xxt_add modified C";
    }
  }
  EXPECT_THROW_MSG(specopt::gram_xxt_add(at::zeros({3, 3}), at::zeros({4, 5}), 1.0, 1.0),
                   "gram_xxt_add");
}

// Newton–Schulz on the block path (m ≥ 512) against the literal reference: same tolerance
// reasoning as above, float32 1e-5 relative.
TEST(NewtonSchulz, BlockPathMatchesReference) {
  auto G = make_matrix(512, 700, 100, 3, at::kFloat);
  auto Gn = G / G.abs().amax({-2, -1}, true);
  ASSERT_TRUE(specopt::gram_uses_blocks(Gn));
  EXPECT_LE(rel_err(specopt::newton_schulz(Gn, NsSchedule::jordan(), 5, 1e-7, at::kFloat),
                    specopt::reference_newton_schulz5(Gn)),
            1e-5);
}

// ---------------------------------------------------------------------------------------
// Edge cases.

std::vector<PolarOptions> every_polar_method() {
  return {with_method(PolarMethod::automatic), with_method(PolarMethod::svd),
          with_method(PolarMethod::gram_eigh),
          with_method(PolarMethod::newton_schulz),
          with_method(PolarMethod::newton_schulz).schedule(NsSchedule::polar_express()),
          with_method(PolarMethod::newton_schulz).schedule(NsSchedule::cubic()).steps(20),
          with_method(PolarMethod::gram_newton_schulz)};
}

bool is_newton_schulz(PolarMethod m) {
  return m == PolarMethod::newton_schulz || m == PolarMethod::gram_newton_schulz;
}

std::string label(const PolarOptions& o) {
  return specopt::to_string(o.method()) +
         (is_newton_schulz(o.method()) ? "/" + o.schedule().name : "");
}

TEST(PolarEdge, ZeroMatrixMapsToZeros) {
  for (auto dtype : {at::kFloat, at::kDouble}) {
    for (auto shape : std::vector<std::vector<int64_t>>{{5, 7}, {7, 5}, {1, 4}, {2, 3, 6, 6}}) {
      auto Z = at::zeros(shape, dtype);
      for (const auto& o : every_polar_method()) {
        SCOPED_TRACE(label(o) + " " + dtype_name(dtype) + " " + std::to_string(shape[0]));
        auto Q = specopt::polar(Z, o);
        EXPECT_TRUE(all_finite(Q));
        EXPECT_TRUE(at::equal(Q, at::zeros_like(Z)));
      }
    }
  }
}

TEST(PolarEdge, ZeroMatrixInsideABatch) {
  for (auto dtype : {at::kFloat, at::kDouble}) {
    auto G = make_matrix(16, 24, 10, 8, dtype, {3}).clone();
    G[1].zero_();
    for (const auto& o : every_polar_method()) {
      SCOPED_TRACE(label(o) + " " + dtype_name(dtype));
      auto Q = specopt::polar(G, o);
      EXPECT_TRUE(all_finite(Q));
      EXPECT_TRUE(at::equal(Q[1], at::zeros_like(G[1])));
      for (int i : {0, 2}) {
        if (is_newton_schulz(o.method())) {
          // Batch elements are independent: same as transforming the matrix alone
          // (batched vs single GEMM rounding: 1e-5 float32, 1e-12 float64).
          EXPECT_LE(rel_err(Q[i], specopt::polar(G[i], o)), dtype == at::kFloat ? 1e-5 : 1e-12);
        } else {
          // κ = 10: the methods' κ = 10 tolerances (auto: its 1e-3).
          EXPECT_LE(rel_err(Q[i], lab::exact_spectral_power(G[i], 0)),
                    polar_tolerance(o.method(), dtype, 10));
        }
      }
    }
  }
}

// Entries near 1e-30 and 1e30 in float32: Gram matrices would underflow/overflow without the
// max-entry scaling. Result ≈ polar(G): c·G carries one float32 rounding per entry (≈ eps32·κ
// ≈ 1e-6 in the factor at κ = 10) on top of the method's own error. Measured differences:
// svd 1.0e-6, gram_eigh and auto 2.2e-6, Newton–Schulz (jordan, 5 steps) 1.2e-6. Bounds:
// auto its tol 1e-3; svd 2e-5 (twice its 1e-5 contract); gram_eigh and Newton–Schulz 1e-5.
TEST(PolarEdge, ScaleInvarianceInFloat32) {
  auto G = make_matrix(48, 80, 10, 9, at::kFloat);
  std::vector<std::pair<PolarOptions, double>> cases = {
      {with_method(PolarMethod::automatic), 1e-3},
      {with_method(PolarMethod::svd), 2e-5},
      {with_method(PolarMethod::gram_eigh), 1e-5},
      {with_method(PolarMethod::newton_schulz), 1e-5}};
  for (const auto& [o, tol] : cases) {
    auto base = specopt::polar(G, o);
    for (double c : {1e-30, 1e30}) {
      SCOPED_TRACE(label(o) + " c=" + std::to_string(c));
      auto cG = G * c;
      ASSERT_TRUE(all_finite(cG));
      auto Q = specopt::polar(cG, o);
      EXPECT_TRUE(all_finite(Q));
      EXPECT_LE(rel_err(Q, base), tol);
    }
  }
}

// Rank 3 of 32x64 (σ = 1, ½, ¼, 0, ...): the factor is U_r V_rᵀ over the nonzero σ.
// float64 input: svd and gram_eigh in float64 see the zero σ at ~1e-16, far below their
// cutoffs; measured error ~2e-15; bound 1e-8. float32 input (compared with the float64
// matrix's U_r V_rᵀ): the input's own rounding moves U_r V_rᵀ by ~eps32/σ_r; measured
// ≤ 9.1e-7 (gram_eigh), 2.5e-7 (svd), 3.4e-8 (auto); bound 1e-5.
// Regression: float32 data with genuine small singular values (κ = 1e4) and many columns must
// keep them. A rank cutoff of max(m, n)·eps_float32 = 2.4e-4 at N = 2048 dropped σ = 1e-4 and
// gave 38% error; the data-noise cutoff √N·eps = 5.4e-6 keeps them. svd and auto (float64
// fallback) then meet 1e-5, float32 output rounding included.
TEST(PolarEdge, Float32DataKeepsGenuineSmallSingularValues) {
  auto G = make_matrix(64, 2048, 1e4, 21, at::kFloat);
  auto ref = lab::exact_spectral_power(G.to(at::kDouble), 0);
  for (auto method : {PolarMethod::svd, PolarMethod::automatic}) {
    SCOPED_TRACE(specopt::to_string(method));
    EXPECT_LE(rel_err(specopt::polar(G, with_method(method)), ref), 1e-5);
  }
  auto refp = lab::exact_spectral_power(G.to(at::kDouble), 0.5);
  EXPECT_LE(rel_err(specopt::spectral_power(G, 0.5), refp), 1e-5);
}

TEST(PolarEdge, RankDeficientGivesPartialIsometry) {
  for (auto [m, n] : {std::pair<int64_t, int64_t>{32, 64}, {64, 32}}) {
    auto sigma = at::zeros({std::min(m, n)}, at::kDouble);
    sigma[0] = 1.0;
    sigma[1] = 0.5;
    sigma[2] = 0.25;
    auto G = lab::matrix_with_spectrum(m, n, sigma, 10, at::kDouble);
    auto ref = lab::exact_spectral_power(G, 0);
    // The reference really has rank 3: ‖U_r V_rᵀ‖_F² = 3.
    EXPECT_NEAR(at::linalg_vector_norm(ref, 2).item<double>(), std::sqrt(3.0), 1e-12);
    auto G32 = G.to(at::kFloat);
    for (auto method : {PolarMethod::svd, PolarMethod::automatic, PolarMethod::gram_eigh}) {
      SCOPED_TRACE(specopt::to_string(method) + " " + std::to_string(m) + "x" + std::to_string(n));
      EXPECT_LE(rel_err(specopt::polar(G, with_method(method)), ref), 1e-8);
      auto Q32 = specopt::polar(G32, with_method(method));
      EXPECT_TRUE(all_finite(Q32));
      EXPECT_LE(rel_err(Q32, ref), 1e-5);
    }
  }
}

// ---------------------------------------------------------------------------------------
// Errors: every message names the offending value or option.

TEST(PolarErrors, RejectsBadInputs) {
  auto G = make_matrix(6, 8, 10, 1, at::kFloat);
  auto with_nan = G.clone();
  with_nan[2][3] = std::numeric_limits<float>::quiet_NaN();
  auto with_inf = G.clone();
  with_inf[0][0] = std::numeric_limits<float>::infinity();
  for (const auto& o : every_polar_method()) {
    SCOPED_TRACE(label(o));
    EXPECT_THROW_MSG(specopt::polar(with_nan, o), "non-finite");
    EXPECT_THROW_MSG(specopt::polar(with_inf, o), "non-finite");
    EXPECT_THROW_MSG(specopt::polar(at::ones({5}, at::kFloat), o), "matrix");
    EXPECT_THROW_MSG(specopt::polar(at::ones({4, 4}, at::kLong), o), "floating");
  }
  EXPECT_THROW_MSG(specopt::newton_schulz(with_nan, NsSchedule::jordan(), 5, 1e-7, at::kFloat),
                   "non-finite");
}

TEST(PolarErrors, RejectsBadOptions) {
  auto G = make_matrix(6, 8, 10, 1, at::kFloat);
  EXPECT_THROW_MSG(specopt::polar(G, with_method(PolarMethod::newton_schulz).steps(0)), "steps");
  EXPECT_THROW_MSG(specopt::polar(G, PolarOptions().steps(-3)), "-3");
  EXPECT_THROW_MSG(specopt::newton_schulz(G, NsSchedule::jordan(), 0, 1e-7, at::kFloat), "steps");
  EXPECT_THROW_MSG(specopt::polar(G, PolarOptions().eps(-1e-3)), "eps");
  EXPECT_THROW_MSG(specopt::polar(G, PolarOptions().eps(-1e-3)), "-0.001");
  EXPECT_THROW_MSG(specopt::newton_schulz(G, NsSchedule::jordan(), 5, -1.0, at::kFloat), "eps");
  EXPECT_THROW_MSG(specopt::polar(G, PolarOptions().tol(0)), "tol");
  EXPECT_THROW_MSG(specopt::polar(G, PolarOptions().tol(-0.5)), "-0.5");
  EXPECT_THROW_MSG(specopt::polar(G, PolarOptions().ridge(-2)), "ridge");
  EXPECT_THROW_MSG(specopt::parse_polar_method("foo"), "'foo'");
  EXPECT_THROW_MSG(NsSchedule::from_name("bar"), "bar");
  EXPECT_THROW_MSG(NsSchedule::custom({}), "empty");
  EXPECT_THROW_MSG(NsSchedule::custom({{1.0, std::nan(""), 0.0}}), "finite");
}

}  // namespace
}  // namespace specopt_test
