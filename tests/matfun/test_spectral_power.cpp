// spectral_power() Ψ_p(G) = U Σ^p Vᵀ, the coupled Newton iteration as released, and
// spectral_map() U f(Σ) Vᵀ.
#include <cmath>
#include <iostream>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

#include "test_util.h"

namespace specopt_test {
namespace {

using specopt::PolarMethod;
using specopt::PowerMethod;
using specopt::PowerOptions;
using specopt::SpectralMapMethod;

PowerOptions with_method(PowerMethod m) { return PowerOptions().method(m); }

const std::vector<double> kPowers = {1.0, 0.75, 0.5, 0.25, 0.1, 0.0};

// Tolerance (relative Frobenius error vs lab::exact_spectral_power) of `method` in `dtype` at
// condition number kappa; negative: not tested.
double power_tolerance(PowerMethod method, at::ScalarType dtype, double kappa) {
  const bool f32 = dtype == at::kFloat;
  switch (method) {
    case PowerMethod::svd:
      // The contract for the exact method at every κ up to 1e4.
      return f32 ? 1e-5 : 1e-10;
    case PowerMethod::gram_eigh:
      // float64: measured worst 3.6e-10 (p = 0.1, κ = 1e4; smaller p weighs the least
      // accurate σ most); bound 1e-8 from the issue.
      if (!f32) return 1e-8;
      // float32, worst over p ∈ {0, 0.1, 0.25, 0.5, 0.75}, 12 seeds and the shape grid:
      // κ=1: 5.4e-7, κ=10: 2.5e-6, κ=100: 3.4e-4; bounds ~3-4x (κ=100: the 1e-3).
      // κ = 1e4 is beyond float32 gram_eigh.
      if (kappa <= 1) return 2e-6;
      if (kappa <= 10) return 1e-5;
      if (kappa <= 100) return 1e-3;
      return -1;
    case PowerMethod::automatic:
      return PowerOptions().tol();  // 1e-3: what auto promises at any κ
    case PowerMethod::coupled_newton:
      return -1;
  }
  return -1;
}

using MethodDtype = std::tuple<PowerMethod, at::ScalarType>;

class PowerAccuracy : public ::testing::TestWithParam<MethodDtype> {};

TEST_P(PowerAccuracy, MatchesFloat64SvdOverPowersShapesAndKappa) {
  const auto [method, dtype] = GetParam();
  int checked = 0;
  for (double p : kPowers) {
    for (double kappa : {1.0, 10.0, 1e2, 1e4}) {
      const double tol = power_tolerance(method, dtype, kappa);
      if (tol < 0) continue;
      for (const auto& s : shape_grid()) {
        SCOPED_TRACE(describe(s, kappa, dtype) + " p=" + std::to_string(p));
        auto G = make_matrix(s.m, s.n, kappa, 21, dtype, s.batch);
        auto R = specopt::spectral_power(G, p, with_method(method));
        ASSERT_EQ(R.sizes(), G.sizes());
        ASSERT_EQ(R.scalar_type(), dtype);
        EXPECT_TRUE(R.is_contiguous());
        EXPECT_LE(rel_err(R, lab::exact_spectral_power(G, p)), tol);
        ++checked;
      }
    }
  }
  EXPECT_GE(checked, 6 * 3 * 7);
}

INSTANTIATE_TEST_SUITE_P(
    Methods, PowerAccuracy,
    ::testing::Combine(::testing::Values(PowerMethod::svd, PowerMethod::gram_eigh,
                                         PowerMethod::automatic),
                       ::testing::Values(at::kFloat, at::kDouble)),
    [](const ::testing::TestParamInfo<MethodDtype>& info) {
      return specopt::to_string(std::get<0>(info.param)) + "_" +
             dtype_name(std::get<1>(info.param));
    });

// auto with tol 1e-5 on float32 input (the float32 result's practical floor, see
// test_polar.cpp) at every κ up to 1e4.
TEST(PowerAuto, TightToleranceOnFloat32IsMet) {
  const double tol = 1e-5;
  for (double p : {0.5, 0.25, 0.1}) {
    for (double kappa : {1.0, 10.0, 1e2, 1e4}) {
      for (const auto& s : shape_grid()) {
        SCOPED_TRACE(describe(s, kappa, at::kFloat) + " p=" + std::to_string(p));
        auto G = make_matrix(s.m, s.n, kappa, 22, at::kFloat, s.batch);
        EXPECT_LE(rel_err(specopt::spectral_power(G, p, PowerOptions().tol(tol)),
                          lab::exact_spectral_power(G, p)),
                  tol);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------
// Properties of the family (paper 3): Ψ_p(cG) = c^p Ψ_p(G), κ(Ψ_p(G)) = κ(G)^p, Ψ_1 = id,
// Ψ_0 = polar.

TEST(PowerProperties, Homogeneity) {
  auto G = make_matrix(40, 64, 100, 23, at::kDouble, {2});
  for (auto method : {PowerMethod::svd, PowerMethod::gram_eigh, PowerMethod::automatic}) {
    for (double p : {0.75, 0.5, 0.25, 0.1, 0.0}) {
      auto base = specopt::spectral_power(G, p, with_method(method));
      for (double c : {1e-3, 7.0, 1e3}) {
        SCOPED_TRACE(specopt::to_string(method) + " p=" + std::to_string(p) +
                     " c=" + std::to_string(c));
        // float64, κ = 100: each side is within ~1e-13 of exact and the scaled input carries
        // one rounding per entry (measured worst difference 1.4e-13): 1e-10.
        EXPECT_LE(rel_err(specopt::spectral_power(G * c, p, with_method(method)),
                          base * std::pow(c, p)),
                  1e-10);
      }
    }
  }
}

TEST(PowerProperties, ConditionNumberIsRaisedToP) {
  auto G = make_matrix(48, 72, 100, 24, at::kDouble);
  auto sG = specopt::singular_values(G);
  const double kappa = (sG.max() / sG.min()).item<double>();
  EXPECT_NEAR(kappa, 100.0, 1e-8);
  for (auto method : {PowerMethod::svd, PowerMethod::gram_eigh, PowerMethod::automatic}) {
    for (double p : {0.75, 0.5, 0.25, 0.1}) {
      SCOPED_TRACE(specopt::to_string(method) + " p=" + std::to_string(p));
      auto s = specopt::singular_values(specopt::spectral_power(G, p, with_method(method)));
      const double kp = (s.max() / s.min()).item<double>();
      // float64 singular values of a κ ≤ 100 matrix: relative 1e-6 as the issue states
      // (measured agreement ~1e-13).
      EXPECT_NEAR(kp / std::pow(kappa, p), 1.0, 1e-6);
    }
  }
}

TEST(PowerProperties, POneIsIdentityAndPZeroIsPolar) {
  for (auto dtype : {at::kFloat, at::kDouble}) {
    auto G = make_matrix(24, 40, 100, 25, dtype, {2});
    const std::vector<std::pair<PowerMethod, PolarMethod>> pairs = {
        {PowerMethod::automatic, PolarMethod::automatic},
        {PowerMethod::svd, PolarMethod::svd},
        {PowerMethod::gram_eigh, PolarMethod::gram_eigh},
        {PowerMethod::coupled_newton, PolarMethod::newton_schulz}};
    for (const auto& [pm, qm] : pairs) {
      SCOPED_TRACE(specopt::to_string(pm) + " " + dtype_name(dtype));
      auto one = specopt::spectral_power(G, 1.0, with_method(pm));
      EXPECT_TRUE(at::equal(one, G));
      EXPECT_NE(one.data_ptr(), G.data_ptr()) << "p = 1 must return a copy";
      EXPECT_TRUE(at::equal(specopt::spectral_power(G, 0.0, with_method(pm)),
                            specopt::polar(G, specopt::PolarOptions().method(qm))));
    }
  }
}

// ---------------------------------------------------------------------------------------
// The coupled Newton–Schulz iteration as released (docs/algorithms.md, "Paper 3's released matrix functions").

// Published (docs/algorithms.md): fp32 256x128, error ≈1.5e-4 at κ = 10, ≈2.5e-2 (p=½) and 8e-2 (p=¼) at κ = 1e4.
// Measured here: κ=10: 1.45e-4 (p=½), 1.25e-4 (p=¼); κ=1e4: 2.48e-2 (p=½), 8.02e-2 (p=¼),
// identical over three seeds. Bounds: κ=10 ≤ 1e-3; κ=1e4 within ~3x either side of the
// measured value — it is NOT exact, by design of the released recipe (the ridge).
TEST(CoupledNewton, ReleasedAccuracy) {
  struct Case {
    double kappa, p, lo, hi;
  };
  for (const Case& c : {Case{10, 0.5, 0.0, 1e-3}, Case{10, 0.25, 0.0, 1e-3},
                        Case{1e4, 0.5, 8e-3, 7.5e-2}, Case{1e4, 0.25, 2.5e-2, 0.2}}) {
    SCOPED_TRACE("kappa=" + std::to_string(c.kappa) + " p=" + std::to_string(c.p));
    auto G = make_matrix(256, 128, c.kappa, 26, at::kFloat);
    auto R = specopt::spectral_power(G, c.p, with_method(PowerMethod::coupled_newton));
    EXPECT_EQ(R.scalar_type(), at::kFloat);
    const double err = rel_err(R, lab::exact_spectral_power(G, c.p));
    std::cout << "[ coupled_newton ] kappa=" << c.kappa << " p=" << c.p << " err=" << err << "\n";
    EXPECT_GE(err, c.lo);
    EXPECT_LE(err, c.hi);
  }
}

// auto (gram_eigh with its float64 fallback) beats the coupled iteration where it matters.
TEST(CoupledNewton, AutoIsMoreAccurate) {
  for (double kappa : {1e2, 1e4}) {
    for (double p : {0.5, 0.25}) {
      SCOPED_TRACE("kappa=" + std::to_string(kappa) + " p=" + std::to_string(p));
      auto G = make_matrix(128, 64, kappa, 27, at::kFloat);
      auto ref = lab::exact_spectral_power(G, p);
      const double e_cn =
          rel_err(specopt::spectral_power(G, p, with_method(PowerMethod::coupled_newton)), ref);
      const double e_auto = rel_err(specopt::spectral_power(G, p), ref);
      EXPECT_LT(e_auto, e_cn);
    }
  }
}

TEST(CoupledNewton, RejectsPowersItCannotDo) {
  auto G = make_matrix(8, 12, 10, 1, at::kFloat);
  EXPECT_THROW_MSG(specopt::spectral_power(G, 0.3, with_method(PowerMethod::coupled_newton)),
                   "0.3");
  for (auto method : {PowerMethod::coupled_newton, PowerMethod::automatic, PowerMethod::svd}) {
    EXPECT_THROW_MSG(specopt::spectral_power(G, -0.1, with_method(method)), "-0.1");
    EXPECT_THROW_MSG(specopt::spectral_power(G, -0.1, with_method(method)), "p must");
    EXPECT_THROW_MSG(specopt::spectral_power(G, 1.5, with_method(method)), "1.5");
    EXPECT_THROW_MSG(specopt::spectral_power(G, 1.5, with_method(method)), "p must");
  }
  EXPECT_EQ(specopt::halvings_of(0.5), 1);
  EXPECT_EQ(specopt::halvings_of(0.25), 2);
  EXPECT_EQ(specopt::halvings_of(0.125), 3);
  EXPECT_EQ(specopt::halvings_of(0.3), -1);
  EXPECT_EQ(specopt::halvings_of(1.0), -1);
  EXPECT_EQ(specopt::halvings_of(0.0), -1);
  // p = 1/8 is accepted (three halvings).
  EXPECT_TRUE(all_finite(specopt::spectral_power(G, 0.125, with_method(PowerMethod::coupled_newton))));
}

// The square root itself on an SPD matrix with κ = 100 (A = B Bᵀ, σ(B) from 1 to 0.1),
// 64x64, 15 iterations. Measured: ‖S² − A‖/‖A‖ = 6.8e-5 (both dtypes: the ridge), and
// max|S·Z − I| = 7.8e-7 (float32) / 8.9e-16 (float64).
TEST(CoupledNewton, SquareRootOfSpdMatrix) {
  for (auto dtype : {at::kFloat, at::kDouble}) {
    SCOPED_TRACE(dtype_name(dtype));
    auto B = make_matrix(64, 64, 10, 28, at::kDouble);
    auto A = at::matmul(B, B.transpose(0, 1)).to(dtype);
    auto r = specopt::coupled_newton_sqrt(A);
    EXPECT_EQ(r.sqrt.scalar_type(), dtype);
    auto I = at::eye(64, at::kDouble);
    const double sq_err = rel_err(at::matmul(r.sqrt, r.sqrt), A);
    const double id_err =
        max_abs_diff(at::matmul(r.sqrt.to(at::kDouble), r.inv_sqrt.to(at::kDouble)), I);
    std::cout << "[ coupled_newton_sqrt ] " << dtype_name(dtype) << " |S^2-A|/|A|=" << sq_err
              << " max|S Z - I|=" << id_err << "\n";
    // The ridge 1e-6 + 1e-4·tr(A)/n shifts A by ~1e-4 of its mean eigenvalue: 1e-3 relative.
    EXPECT_LE(sq_err, 1e-3);
    // √A·A^{-1/2} = I once converged (Y and Z are polynomials in the ridged A, so the ridge
    // cancels here): 1e-5 (float32) / 1e-10 (float64).
    EXPECT_LE(id_err, dtype == at::kFloat ? 1e-5 : 1e-10);
    // Symmetrised at the end: exactly symmetric.
    EXPECT_TRUE(at::equal(r.sqrt, r.sqrt.transpose(0, 1)));
  }
}

// ---------------------------------------------------------------------------------------
// spectral_map.

TEST(SpectralMap, PowerEqualsSpectralPowerSvd) {
  for (auto dtype : {at::kFloat, at::kDouble}) {
    auto G = make_matrix(40, 64, 100, 29, dtype, {2});
    for (double p : {0.75, 0.5, 0.1}) {
      auto f = [p](const at::Tensor& s) { return at::pow(s, p); };
      // Same decomposition either way: identical up to rounding (1e-6 / 1e-13).
      EXPECT_LE(rel_err(specopt::spectral_map(G, f),
                        specopt::spectral_power(G, p, with_method(PowerMethod::svd))),
                dtype == at::kFloat ? 1e-6 : 1e-13)
          << "p=" << p << " " << dtype_name(dtype);
    }
  }
}

TEST(SpectralMap, TanhMatchesExplicitSvd) {
  // σ from 3 down to 0.03 so tanh is far from linear and from saturated.
  auto G = make_matrix(40, 64, 100, 30, at::kDouble, {2}) * 3.0;
  auto svd = at::linalg_svd(G, /*full_matrices=*/false);
  auto expected = at::matmul(std::get<0>(svd) * at::tanh(std::get<1>(svd)).unsqueeze(-2),
                             std::get<2>(svd));
  auto f = [](const at::Tensor& s) { return at::tanh(s); };
  // float64 SVD vs float64 SVD (after max-entry scaling): 1e-10.
  EXPECT_LE(rel_err(specopt::spectral_map(G, f, SpectralMapMethod::svd), expected), 1e-10);
  // gram_eigh in float64 at κ = 100: measured ~1e-14; the 1e-8.
  EXPECT_LE(rel_err(specopt::spectral_map(G, f, SpectralMapMethod::gram_eigh), expected), 1e-8);
  // f sees the true singular values (the range scaling is undone): tall input, too.
  auto Gt = G.transpose(-2, -1);
  EXPECT_LE(rel_err(specopt::spectral_map(Gt, f, SpectralMapMethod::gram_eigh),
                    expected.transpose(-2, -1)),
            1e-8);
}

TEST(SpectralMap, GramEighAgreesWithSvd) {
  auto f = [](const at::Tensor& s) { return at::log1p(s) * at::exp(-s); };
  for (const auto& s : std::vector<Shape>{{"wide", 32, 80, {}}, {"tall", 80, 32, {3}}}) {
    auto G = make_matrix(s.m, s.n, 100, 31, at::kDouble, s.batch) * 5.0;
    // Both float64 at κ = 100: 1e-8 (issue), measured ~1e-14.
    EXPECT_LE(rel_err(specopt::spectral_map(G, f, SpectralMapMethod::gram_eigh),
                      specopt::spectral_map(G, f, SpectralMapMethod::svd)),
              1e-8)
        << s.name;
  }
}

TEST(SpectralMap, RejectsBadFunctions) {
  auto G = make_matrix(8, 12, 10, 1, at::kDouble);
  for (auto method : {SpectralMapMethod::svd, SpectralMapMethod::gram_eigh}) {
    EXPECT_THROW_MSG(specopt::spectral_map(G, [](const at::Tensor& s) { return s.sum(-1); }, method),
                     "shaped");
    EXPECT_THROW_MSG(
        specopt::spectral_map(
            G, [](const at::Tensor& s) { return at::full_like(s, std::numeric_limits<double>::infinity()); },
            method),
        "non-finite");
  }
}

// ---------------------------------------------------------------------------------------
// Edge cases and errors.

TEST(PowerEdge, ZeroMatrixMapsToZeros) {
  for (auto dtype : {at::kFloat, at::kDouble}) {
    for (auto shape : std::vector<std::vector<int64_t>>{{5, 7}, {7, 5}, {2, 4, 4}}) {
      auto Z = at::zeros(shape, dtype);
      for (auto method : {PowerMethod::automatic, PowerMethod::svd, PowerMethod::gram_eigh,
                          PowerMethod::coupled_newton}) {
        SCOPED_TRACE(specopt::to_string(method) + " " + dtype_name(dtype));
        auto R = specopt::spectral_power(Z, 0.5, with_method(method));
        EXPECT_TRUE(all_finite(R));
        EXPECT_TRUE(at::equal(R, at::zeros_like(Z)));
      }
      for (auto method : {SpectralMapMethod::svd, SpectralMapMethod::gram_eigh}) {
        auto R = specopt::spectral_map(Z, [](const at::Tensor& s) { return at::sqrt(s); }, method);
        EXPECT_TRUE(at::equal(R, at::zeros_like(Z)));
      }
    }
  }
}

// Entries near 1e±30 in float32: Ψ_p(cG) = c^p Ψ_p(G) with c^p representable.
TEST(PowerEdge, ExtremeScalesInFloat32) {
  auto G = make_matrix(32, 48, 10, 32, at::kFloat);
  for (auto method : {PowerMethod::automatic, PowerMethod::svd, PowerMethod::gram_eigh}) {
    for (double p : {0.5, 0.25}) {
      auto base = specopt::spectral_power(G, p, with_method(method)).to(at::kDouble);
      for (double c : {1e-30, 1e30}) {
        SCOPED_TRACE(specopt::to_string(method) + " p=" + std::to_string(p) +
                     " c=" + std::to_string(c));
        auto R = specopt::spectral_power(G * c, p, with_method(method));
        EXPECT_TRUE(all_finite(R));
        // One float32 rounding of c·G plus the κ = 10 method error on both sides: 2e-5
        // (measured ≤ 1.4e-6).
        EXPECT_LE(rel_err(R, base * std::pow(c, p)), 2e-5);
      }
    }
  }
}

TEST(PowerErrors, RejectsBadInputsAndOptions) {
  auto G = make_matrix(6, 8, 10, 1, at::kFloat);
  auto bad = G.clone();
  bad[1][1] = std::numeric_limits<float>::quiet_NaN();
  for (auto method : {PowerMethod::automatic, PowerMethod::svd, PowerMethod::gram_eigh,
                      PowerMethod::coupled_newton}) {
    EXPECT_THROW_MSG(specopt::spectral_power(bad, 0.5, with_method(method)), "non-finite");
    EXPECT_THROW_MSG(specopt::spectral_power(at::ones({3}), 0.5, with_method(method)), "matrix");
  }
  EXPECT_THROW_MSG(specopt::spectral_power(G, 0.5, PowerOptions().tol(0)), "tol");
  EXPECT_THROW_MSG(specopt::spectral_power(G, 0.5, PowerOptions().iters(0)), "iters");
  EXPECT_THROW_MSG(specopt::spectral_power(G, std::nan(""), PowerOptions()), "p must");
  EXPECT_THROW_MSG(specopt::parse_power_method("newton"), "'newton'");
  EXPECT_THROW_MSG(specopt::spectral_map(bad, [](const at::Tensor& s) { return s; }), "non-finite");
  for (const auto& name : specopt::power_method_names()) {
    EXPECT_EQ(specopt::to_string(specopt::parse_power_method(name)), name);
  }
}

}  // namespace
}  // namespace specopt_test
