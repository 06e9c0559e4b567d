// AOL-preconditioned Newton–Schulz (Turbo-Muon, arXiv 2512.04632): the rescaling against a
// float64 hand computation and its spectral-norm bound, the library path against the plain
// reference, 4 AOL steps against float64 SVD U Vᵀ and against the reference's 5 plain steps,
// the Gram route with AOL, edge cases and errors.
#include <algorithm>
#include <vector>

#include "test_util.h"

namespace specopt_test {
namespace {

using specopt::NsSchedule;
using specopt::PolarMethod;
using specopt::PolarOptions;

double spectral_norm(const at::Tensor& X) {
  return at::linalg_matrix_norm(X.to(at::kDouble), 2).max().item<double>();
}

TEST(Aol, ScalingMatchesHandComputationAndBoundsTheSpectralNorm) {
  for (const auto& s : std::vector<Shape>{{"wide", 5, 9, {}}, {"square", 7, 7, {}},
                                          {"batch", 4, 6, {3}}}) {
    SCOPED_TRACE(s.name);
    auto X = make_matrix(s.m, s.n, 30, 3, at::kDouble, s.batch);
    auto A = at::matmul(X, X.transpose(-2, -1));
    auto out = specopt::aol_precondition(X, A, 1e-7);
    // s_i = (Σ_j |A_ij|)^{-1/2}, written out entry by entry.
    auto X3 = X.reshape({-1, s.m, s.n});
    auto A3 = A.reshape({-1, s.m, s.m});
    auto expect = X3.clone();
    for (int64_t b = 0; b < X3.size(0); ++b) {
      for (int64_t i = 0; i < s.m; ++i) {
        double row = 0;
        for (int64_t j = 0; j < s.m; ++j) row += std::abs(A3[b][i][j].item<double>());
        expect[b][i] = X3[b][i] / std::sqrt(row);
      }
    }
    EXPECT_LE(max_abs_diff(out.X.reshape({-1, s.m, s.n}), expect), 1e-14);
    EXPECT_LE(max_abs_diff(out.A, at::matmul(out.X, out.X.transpose(-2, -1))), 1e-14);
    EXPECT_LE(spectral_norm(out.X), 1.0 + 1e-12);
  }
  // The bound holds for any input, including rows of very different norms and a matrix
  // whose rows are all nearly parallel (where Σ_j |A_ij| is largest relative to A_ii).
  auto gen = at::make_generator<at::CPUGeneratorImpl>(11);
  auto G = at::randn({40, 90}, gen, at::kDouble) *
           at::exp(-5 * at::rand({40, 1}, gen, at::kDouble));
  auto P = at::randn({1, 90}, gen, at::kDouble) + 1e-3 * at::randn({40, 90}, gen, at::kDouble);
  for (const auto& Y : {G, P}) {
    auto out = specopt::aol_precondition(Y, at::matmul(Y, Y.t()), 0.0);
    EXPECT_LE(spectral_norm(out.X), 1.0 + 1e-12);
  }
}

// The library path (block Gram products for m ≥ 512, the first step reusing the rescaled
// Gram matrix, max|G| scaling first) against the plain reference. In real arithmetic they are
// equal (the max|G| scaling cancels in s X). Measured: float64 ≤ 1e-14, float32 ≤ 3e-6.
TEST(Aol, NewtonSchulzMatchesReference) {
  for (auto dtype : {at::kDouble, at::kFloat}) {
    for (const auto& s : std::vector<Shape>{{"wide", 48, 130, {2}},
                                            {"tall", 130, 48, {}},
                                            {"block_path", 520, 600, {}}}) {
      SCOPED_TRACE(describe(s, 100, dtype));
      auto G = make_matrix(s.m, s.n, 100, 8, dtype, s.batch);
      for (const auto& sched : {NsSchedule::turbo_muon(), NsSchedule::jordan()}) {
        auto lib = specopt::newton_schulz(G, sched, 4, 1e-7, dtype, /*aol=*/true);
        auto ref = specopt::reference_newton_schulz_aol(G, sched, 4);
        ASSERT_EQ(lib.sizes(), G.sizes());
        EXPECT_LE(rel_err(lib, ref), dtype == at::kDouble ? 1e-12 : 2e-5) << sched.name;
      }
    }
  }
}

// Against float64 SVD U Vᵀ. Turbo-Muon's claim: 4 steps from the AOL start are at least as
// accurate as 5 from the Frobenius start. Measured at 768 × 3072 (docs/performance.md) and here
// on smaller shapes of the same aspect ratios; asserted as "no worse than the reference's 5
// steps + 0.01" on the inputs where the claim holds, and the singular-value band of the output.
TEST(Aol, FourStepsVersusFiveReferenceSteps) {
  for (auto compute : {at::kFloat, at::kBFloat16}) {
    for (const auto& s : std::vector<Shape>{{"square", 192, 192, {}},
                                            {"wide", 128, 512, {}},
                                            {"tall", 384, 128, {}}}) {
      for (double kappa : {10.0, 100.0}) {
        SCOPED_TRACE(describe(s, kappa, at::kFloat) + (compute == at::kFloat ? " f32" : " bf16"));
        auto G = make_matrix(s.m, s.n, kappa, 21, at::kFloat, s.batch);
        auto exact = lab::exact_spectral_power(G, 0.0);
        auto five = specopt::newton_schulz(G, NsSchedule::jordan(), 5, 1e-7, compute);
        auto turbo = specopt::newton_schulz(G, NsSchedule::turbo_muon(), 4, 1e-7, compute, true);
        const double e5 = rel_err(five, exact), e4 = rel_err(turbo, exact);
        EXPECT_LE(e4, e5 + 0.01) << "turbo_muon+aol x4 " << e4 << " vs jordan x5 " << e5;
        auto sv = at::linalg_svdvals(turbo.to(at::kDouble));
        EXPECT_GE(sv.min().item<double>(), kappa <= 10 ? 0.9 : 0.4);
        EXPECT_LE(sv.max().item<double>(), 1.2);
      }
    }
  }
}

// Without the AOL start, turbo_muon's 4 steps fall short on small singular values: the
// preconditioning, not the coefficients, is what lets a step go.
TEST(Aol, PreconditioningIsWhatSavesTheStep) {
  auto G = make_matrix(128, 512, 100, 5, at::kFloat);
  auto exact = lab::exact_spectral_power(G, 0.0);
  const double with = rel_err(
      specopt::newton_schulz(G, NsSchedule::turbo_muon(), 4, 1e-7, at::kFloat, true), exact);
  const double without =
      rel_err(specopt::newton_schulz(G, NsSchedule::turbo_muon(), 4, 1e-7, at::kFloat), exact);
  EXPECT_LT(with, 0.5 * without) << with << " vs " << without;
}

TEST(Aol, PolarOptionRunsTheSameIteration) {
  auto G = make_matrix(64, 200, 100, 2, at::kFloat);
  const auto o = PolarOptions()
                     .method(PolarMethod::newton_schulz)
                     .schedule(NsSchedule::turbo_muon())
                     .steps(4)
                     .aol(true);
  EXPECT_TRUE(at::equal(specopt::polar(G, o),
                        specopt::newton_schulz(G, NsSchedule::turbo_muon(), 4, 1e-7, at::kFloat,
                                               true)));
  EXPECT_FALSE(at::equal(specopt::polar(G, o), specopt::polar(G, PolarOptions(o).aol(false))));
}

// Gram Newton–Schulz from the AOL start: the same polynomial of the same X₀, so within the
// tolerances of tests/matfun/test_gram_newton_schulz.cpp of the plain iteration.
TEST(Aol, GramRouteMatchesPlainIteration) {
  for (auto dtype : {at::kDouble, at::kFloat}) {
    for (const auto& s : std::vector<Shape>{{"wide", 32, 128, {}}, {"tall", 150, 37, {}}}) {
      SCOPED_TRACE(describe(s, 100, dtype));
      auto G = make_matrix(s.m, s.n, 100, 4, dtype);
      ASSERT_TRUE(specopt::gram_newton_schulz_pays(G, 4, dtype));
      auto plain = specopt::newton_schulz(G, NsSchedule::turbo_muon(), 4, 1e-7, dtype, true);
      auto gram =
          specopt::gram_newton_schulz(G, NsSchedule::turbo_muon(), 4, 1e-7, dtype, 0, true);
      EXPECT_LE(rel_err(gram, plain), dtype == at::kDouble ? 1e-12 : 2e-4);
    }
  }
}

TEST(Aol, ScaleInvariantAndZeroSafe) {
  auto G = make_matrix(40, 100, 100, 9, at::kFloat);
  auto base = specopt::newton_schulz(G, NsSchedule::turbo_muon(), 4, 1e-7, at::kFloat, true);
  for (double scale : {1e-20, 1e20}) {
    auto X = specopt::newton_schulz(G * scale, NsSchedule::turbo_muon(), 4, 1e-7, at::kFloat, true);
    EXPECT_LE(rel_err(X, base), 1e-5) << scale;
  }
  // A zero matrix maps to zeros, and zero rows stay zero (eps = 0 included).
  for (double eps : {1e-7, 0.0}) {
    auto Z = at::zeros({3, 30, 50});
    auto out = specopt::newton_schulz(Z, NsSchedule::turbo_muon(), 4, eps, at::kFloat, true);
    EXPECT_TRUE(at::equal(out, Z));
    auto H = G.clone();
    H.narrow(0, 5, 3).zero_();
    auto Y = specopt::newton_schulz(H, NsSchedule::turbo_muon(), 4, eps, at::kFloat, true);
    EXPECT_TRUE(all_finite(Y));
    EXPECT_EQ(Y.narrow(0, 5, 3).abs().max().item<float>(), 0.0f);
  }
}

TEST(Aol, RejectsBadOptionsAndShapes) {
  auto G = make_matrix(8, 12, 10, 1, at::kFloat);
  EXPECT_THROW_MSG(specopt::polar(G, PolarOptions().aol(true)), "aol");
  EXPECT_THROW_MSG(specopt::polar(G, PolarOptions().method(PolarMethod::gram_eigh).aol(true)),
                   "gram_eigh");
  auto X = at::randn({4, 6});
  EXPECT_THROW_MSG(specopt::aol_precondition(X, at::randn({5, 5}), 1e-7), "[5, 5]");
  EXPECT_THROW_MSG(specopt::aol_precondition(X, at::matmul(X, X.t()), -1.0), "eps");
  EXPECT_EQ(NsSchedule::from_name("turbo_muon").coefficients.size(), 4u);
}

}  // namespace
}  // namespace specopt_test
