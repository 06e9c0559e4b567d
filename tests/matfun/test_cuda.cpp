// The same matrix functions on CUDA tensors. Every test skips (and says so) without a GPU.
#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <gtest/gtest.h>

#include <specopt/matfun.h>

#include "lab/spectra.h"

namespace {

using namespace specopt;

#define SPECOPT_REQUIRE_CUDA() \
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device: CUDA checks not run"

at::Tensor cuda_matrix(int64_t m, int64_t n, double kappa, at::ScalarType dt) {
  return lab::matrix_with_spectrum(m, n, lab::geometric_spectrum(std::min(m, n), kappa), 7, dt)
      .to(at::kCUDA);
}

TEST(Cuda, PolarMethodsMatchExactOnDevice) {
  SPECOPT_REQUIRE_CUDA();
  auto G = cuda_matrix(96, 256, 100, at::kFloat);
  auto ref = lab::exact_spectral_power(G.cpu(), 0);
  for (auto m : {PolarMethod::svd, PolarMethod::gram_eigh, PolarMethod::automatic}) {
    auto opts = PolarOptions().method(m).tol(1e-3);
    auto Q = polar(G, opts);
    EXPECT_TRUE(Q.is_cuda());
    EXPECT_EQ(Q.scalar_type(), at::kFloat);
    // float32 on a κ = 100 matrix: the Gram route's error is ≈ eps·κ² ≈ 1e-3 at worst.
    EXPECT_LE(lab::rel_frobenius_error(Q.cpu(), ref), 2e-3) << to_string(m);
  }
}

TEST(Cuda, NewtonSchulzBf16MatchesFloat32Iteration) {
  SPECOPT_REQUIRE_CUDA();
  auto G = cuda_matrix(128, 512, 1e4, at::kFloat);
  auto opts = PolarOptions().method(PolarMethod::newton_schulz).schedule(NsSchedule::jordan());
  auto q32 = polar(G, opts);
  auto q16 = polar(G, PolarOptions(opts).compute_dtype(at::kBFloat16));
  EXPECT_EQ(q16.scalar_type(), at::kFloat);
  // Five steps leave the small singular values (κ = 1e4) on the steep part of the iteration's
  // polynomial, where bf16's 8-bit mantissa moves them: the two iterations differ by ≈ 0.11
  // (measured on an H200; ≈ 0.15 with CPU bf16). What matters is that bf16 does not make the
  // approximation of U Vᵀ worse: both are ≈ 0.55 from it, bf16 by at most ≈ 0.015 more.
  const auto exact = lab::exact_spectral_power(G.cpu(), 0);
  const double err32 = lab::rel_frobenius_error(q32.cpu(), exact);
  const double err16 = lab::rel_frobenius_error(q16.cpu(), exact);
  EXPECT_LE(err16, err32 + 0.03) << "bf16 " << err16 << " vs float32 " << err32;
  EXPECT_LE(lab::rel_frobenius_error(q16.cpu(), q32.cpu()), 0.2);
  auto cpu = polar(G.cpu(), opts);
  EXPECT_LE(lab::rel_frobenius_error(q32.cpu(), cpu), 1e-4);
}

TEST(Cuda, SpectralPowerTopSingularAndNorms) {
  SPECOPT_REQUIRE_CUDA();
  auto G = cuda_matrix(64, 160, 50, at::kDouble);
  auto ref = lab::exact_spectral_power(G.cpu(), 0.5);
  EXPECT_LE(lab::rel_frobenius_error(spectral_power(G, 0.5).cpu(), ref), 1e-8);
  auto top = top_singular(G, 3);
  EXPECT_TRUE(top.converged);
  auto sv = at::linalg_svdvals(G.cpu());
  EXPECT_LE((top.S.cpu() - sv.narrow(0, 0, 3)).abs().max().item<double>(), 1e-8);
  EXPECT_NEAR(specopt::nuclear_norm(G).item<double>(), sv.sum().item<double>(), 1e-8);
}

TEST(Cuda, ZeroMatrixGivesZerosOnDevice) {
  SPECOPT_REQUIRE_CUDA();
  auto Z = at::zeros({32, 48}, at::TensorOptions().device(at::kCUDA));
  for (auto m : {PolarMethod::svd, PolarMethod::gram_eigh, PolarMethod::newton_schulz}) {
    auto Q = polar(Z, PolarOptions().method(m));
    EXPECT_EQ(Q.abs().max().item<double>(), 0.0) << to_string(m);
  }
}

}  // namespace
