// Convex maps K (specopt/maps/): ∇K against finite differences, Fenchel–Young, equivalences
// between maps, batching, the zero matrix, the registry and the stationarity gap.
#include <cctype>
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "specopt/maps/convex_map.h"
#include "specopt/maps/half_sq_nuclear.h"
#include "specopt/maps/maps.h"
#include "specopt/maps/registry.h"
#include "tests/matfun/test_util.h"

namespace specopt_test {
namespace {

using specopt::ConvexMap;
using specopt::make_convex_map;

// Canonical spellings: one per map, several parameter values where the map has parameters.
std::vector<std::string> all_specs() {
  return {"nuclear",        "spectral",         "frobenius",       "half_sq_frobenius",
          "half_sq_nuclear",
          "l1",             "schatten:q=3",     "schatten:q=1.5",  "schatten:q=1",
          "schatten:q=inf", "ky_fan:k=2",       "ky_fan:k=1",      "power:p=0.5",
          "power:p=0.25",   "power:p=1",        "huber:delta=0.5", "relativistic:delta=1",
          "relativistic:delta=0.2", "logcosh"};
}

// Distinct, nonzero singular values away from huber's δ = 0.5 kink: K is differentiable here.
at::Tensor test_matrix(int64_t m, int64_t n, uint64_t seed, std::vector<int64_t> batch = {}) {
  std::vector<double> s = {1.7, 1.1, 0.7, 0.3, 0.15, 0.08};
  s.resize(std::min(m, n));
  return lab::matrix_with_spectrum(m, n, at::tensor(s, at::kDouble), seed, at::kDouble,
                                   std::move(batch));
}

at::Tensor randn(std::vector<int64_t> shape, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  return at::normal(0.0, 1.0, shape, gen, at::TensorOptions().dtype(at::kDouble));
}

double d(const at::Tensor& t) { return t.item<double>(); }

double ip(const at::Tensor& A, const at::Tensor& B) {
  return d(specopt::frobenius_inner(A, B));
}

struct Mn {
  int64_t m, n;
};
const Mn kShapes[] = {{6, 4}, {5, 7}};

class EveryMap : public ::testing::TestWithParam<std::string> {
 protected:
  std::unique_ptr<ConvexMap> K = make_convex_map(GetParam());
};

std::string spec_test_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string s;
  for (char c : info.param) s += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return s;
}

// (1) ∇K matches central differences of K on random directions.
TEST_P(EveryMap, GradMatchesFiniteDifferences) {
  for (const auto& sh : kShapes) {
    auto X = test_matrix(sh.m, sh.n, 11);
    auto g = K->grad(X);
    ASSERT_EQ(g.sizes(), X.sizes());
    ASSERT_EQ(g.scalar_type(), at::kDouble);
    const double gnorm = d(at::norm(g));
    for (uint64_t seed : {1, 2, 3}) {
      auto D = randn({sh.m, sh.n}, seed);
      D = D / at::norm(D);
      const double h = 1e-5;
      const double fd = (d(K->value(X + h * D)) - d(K->value(X - h * D))) / (2 * h);
      const double an = ip(g, D);
      EXPECT_NEAR(fd, an, 1e-5 * (std::abs(an) + gnorm))
          << GetParam() << " " << sh.m << "x" << sh.n << " direction " << seed;
    }
  }
}

// (2) Fenchel–Young: K(X) + K*(Y) ≥ ⟨X, Y⟩, with equality at Y = ∇K(X).
TEST_P(EveryMap, FenchelYoung) {
  for (const auto& sh : kShapes) {
    auto X = test_matrix(sh.m, sh.n, 21);
    const double kx = d(K->value(X));
    // Random pairs: Gaussian Y at two scales, and points inside K*'s domain (0.8 ∇K(Z)).
    for (uint64_t seed : {4, 5, 6}) {
      auto Z = randn({sh.m, sh.n}, seed);
      for (const auto& Y : {Z, 0.1 * Z, 0.8 * K->grad(Z), 0.3 * K->grad(Z)}) {
        const double ky = d(K->conjugate(Y));
        EXPECT_FALSE(std::isnan(ky));
        EXPECT_GE(kx + ky, ip(X, Y) - 1e-10) << GetParam() << " seed " << seed;
      }
      // The inequality holds for random X too.
      auto W = randn({sh.m, sh.n}, seed + 100);
      EXPECT_GE(d(K->value(W)) + d(K->conjugate(0.5 * K->grad(Z))),
                ip(W, 0.5 * K->grad(Z)) - 1e-10);
    }
    auto G = K->grad(X);
    const double kg = d(K->conjugate(G));
    const double xg = ip(X, G);
    EXPECT_NEAR(kx + kg, xg, 1e-8 * (1 + std::abs(xg))) << GetParam();
    auto c = K->constraint();
    if (c) {
      EXPECT_LE(d(c->norm(G)), c->radius * (1 + 1e-9)) << GetParam();
      if (c->indicator) {
        EXPECT_EQ(kg, 0.0) << GetParam();
      }
      // Outside the domain K* is +inf.
      EXPECT_TRUE(std::isinf(d(K->conjugate(1.01 * G / c->norm(G)))));
    }
  }
}

// (4) Batched input gives per-matrix results.
TEST_P(EveryMap, Batched) {
  auto X = test_matrix(5, 7, 31, {2, 3});
  auto v = K->value(X);
  auto g = K->grad(X);
  auto Y = 0.5 * g;
  auto c = K->conjugate(Y);
  auto dn = K->dual_norm(X);
  ASSERT_EQ(v.sizes(), (at::IntArrayRef{2, 3}));
  ASSERT_EQ(c.sizes(), (at::IntArrayRef{2, 3}));
  ASSERT_EQ(dn.sizes(), (at::IntArrayRef{2, 3}));
  ASSERT_EQ(g.sizes(), X.sizes());
  for (int64_t i = 0; i < 2; ++i) {
    for (int64_t j = 0; j < 3; ++j) {
      auto Xi = X[i][j];
      EXPECT_NEAR(d(v[i][j]), d(K->value(Xi)), 1e-12 * (1 + std::abs(d(v[i][j]))));
      EXPECT_NEAR(d(c[i][j]), d(K->conjugate(Y[i][j])), 1e-12 * (1 + std::abs(d(c[i][j]))));
      EXPECT_NEAR(d(dn[i][j]), d(K->dual_norm(Xi)), 1e-12 * (1 + std::abs(d(dn[i][j]))));
      EXPECT_LE(max_abs_diff(g[i][j], K->grad(Xi)), 1e-12);
    }
  }
}

// (5) The zero matrix: ∇K(0) = 0 (no NaN), K(0) = 0, K*(0) = 0.
TEST_P(EveryMap, ZeroMatrix) {
  for (const auto& sh : kShapes) {
    auto Z = at::zeros({sh.m, sh.n}, at::kDouble);
    auto g = K->grad(Z);
    EXPECT_TRUE(all_finite(g)) << GetParam();
    EXPECT_EQ(d(g.abs().max()), 0.0) << GetParam();
    EXPECT_EQ(d(K->value(Z)), 0.0) << GetParam();
    EXPECT_EQ(d(K->conjugate(Z)), 0.0) << GetParam();
    EXPECT_EQ(d(K->dual_norm(Z)), 0.0) << GetParam();
  }
}

// float32 in, float32 out.
TEST_P(EveryMap, Float32) {
  auto X = test_matrix(6, 4, 41).to(at::kFloat);
  auto g = K->grad(X);
  EXPECT_EQ(g.scalar_type(), at::kFloat);
  EXPECT_EQ(K->value(X).scalar_type(), at::kFloat);
  EXPECT_EQ(K->conjugate(0.5f * g).scalar_type(), at::kFloat);
  EXPECT_LE(rel_err(g, K->grad(X.to(at::kDouble))), 1e-4) << GetParam();
}

// (6) Every canonical spelling round-trips; descriptions exist; parameters are kept.
TEST_P(EveryMap, RegistryRoundTrip) {
  EXPECT_EQ(K->name(), GetParam());
  EXPECT_EQ(make_convex_map(K->name())->name(), GetParam());
  EXPECT_FALSE(K->describe().empty());
}

// (7) The stationarity gap is ≥ 0 at random points inside the domain (F = ½‖X − A‖²_F).
TEST_P(EveryMap, GapNonNegative) {
  auto A = 2.0 * test_matrix(6, 4, 51);
  for (double lambda : {0.5, 1.0, 3.0}) {
    for (uint64_t seed : {7, 8, 9}) {
      auto X = randn({6, 4}, seed);
      auto c = K->constraint();
      if (c) X = X * (0.9 * c->radius / lambda) / c->norm(X);  // inside norm(X) ≤ 1/λ
      EXPECT_EQ(d(specopt::constraint_violation(*K, X, lambda)), 0.0);
      const double gap = d(specopt::stationarity_gap(*K, X - A, X, lambda));
      EXPECT_GE(gap, -1e-10) << GetParam() << " lambda " << lambda;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Maps, EveryMap, ::testing::ValuesIn(all_specs()), spec_test_name);

TEST(Registry, EveryNameIsCovered) {
  for (const auto& name : specopt::convex_map_names()) {
    bool found = false;
    for (const auto& s : all_specs()) found = found || s.substr(0, s.find(':')) == name;
    EXPECT_TRUE(found) << name << " has no test spec";
  }
  EXPECT_EQ(specopt::convex_map_names().size(), 12u);
}

TEST(Registry, NonCanonicalSpellings) {
  EXPECT_EQ(make_convex_map(" schatten : q = 3.0 ")->name(), "schatten:q=3");
  EXPECT_EQ(make_convex_map("schatten:q=infinity")->name(), "schatten:q=inf");
  EXPECT_EQ(make_convex_map("power:p=0.5,method=gram_eigh")->name(),
            "power:p=0.5,method=gram_eigh");
  EXPECT_EQ(make_convex_map("power:method=svd,p=0.5")->name(), "power:p=0.5");
  EXPECT_EQ(make_convex_map("nuclear:method=svd")->name(), "nuclear");
  EXPECT_EQ(make_convex_map("nuclear:method=newton_schulz")->name(),
            "nuclear:method=newton_schulz");
  EXPECT_EQ(make_convex_map("huber:delta=1e-3")->name(), "huber:delta=0.001");
  auto h = make_convex_map("huber:delta=0.1");
  EXPECT_DOUBLE_EQ(dynamic_cast<specopt::HuberMap&>(*h).delta(), 0.1);
}

TEST(Registry, Errors) {
  EXPECT_THROW_MSG(make_convex_map("nucler"), "Unknown convex map 'nucler'");
  EXPECT_THROW_MSG(make_convex_map("nucler"), "known: nuclear, spectral, frobenius");
  EXPECT_THROW_MSG(make_convex_map(""), "Empty convex map name");
  EXPECT_THROW_MSG(make_convex_map("schatten"), "schatten: missing required parameter 'q'");
  EXPECT_THROW_MSG(make_convex_map("schatten:"), "nothing after ':'");
  EXPECT_THROW_MSG(make_convex_map("schatten:q=0.5"), "schatten: q must be >= 1");
  EXPECT_THROW_MSG(make_convex_map("schatten:q=0.5"), "got 0.5");
  EXPECT_THROW_MSG(make_convex_map("schatten:q=abc"), "malformed value for q: 'abc'");
  EXPECT_THROW_MSG(make_convex_map("schatten:q=3x"), "'3x'");
  EXPECT_THROW_MSG(make_convex_map("schatten:q=nan"), "'nan'");
  EXPECT_THROW_MSG(make_convex_map("schatten:r=3"), "unknown parameter 'r' (known: q)");
  EXPECT_THROW_MSG(make_convex_map("schatten:q=3,q=4"), "'q' given twice");
  EXPECT_THROW_MSG(make_convex_map("schatten:q3"), "malformed parameter 'q3'");
  EXPECT_THROW_MSG(make_convex_map("schatten:q="), "empty value for parameter 'q'");
  EXPECT_THROW_MSG(make_convex_map("ky_fan:k=0"), "ky_fan: k must be >= 1, got 0");
  EXPECT_THROW_MSG(make_convex_map("ky_fan:k=2.5"), "malformed value for k: '2.5'");
  EXPECT_THROW_MSG(make_convex_map("ky_fan"), "missing required parameter 'k'");
  EXPECT_THROW_MSG(make_convex_map("power:p=0"), "power: p must be in (0, 1], got 0");
  EXPECT_THROW_MSG(make_convex_map("power:p=1.5"), "got 1.5");
  EXPECT_THROW_MSG(make_convex_map("power:p=0.3,method=coupled_newton"), "p = 0.3");
  EXPECT_THROW_MSG(make_convex_map("power:p=0.5,method=magic"), "magic");
  EXPECT_THROW_MSG(make_convex_map("nuclear:method=magic"), "nuclear: ");
  EXPECT_THROW_MSG(make_convex_map("nuclear:method=magic"), "magic");
  EXPECT_THROW_MSG(make_convex_map("huber:delta=-1"), "huber: delta must be > 0");
  EXPECT_THROW_MSG(make_convex_map("huber:delta=-1"), "got -1");
  EXPECT_THROW_MSG(make_convex_map("huber:delta=inf"), "got inf");
  EXPECT_THROW_MSG(make_convex_map("huber"), "missing required parameter 'delta'");
  EXPECT_THROW_MSG(make_convex_map("relativistic:delta=0"), "relativistic: delta must be > 0");
  EXPECT_THROW_MSG(make_convex_map("l1:x=1"), "l1: takes no parameters, got 'x=1'");
  EXPECT_THROW_MSG(make_convex_map("logcosh:delta=1"), "logcosh: takes no parameters");
}

TEST(Maps, BadInputsAreNamed) {
  auto K = make_convex_map("huber:delta=1");
  EXPECT_THROW_MSG(K->value(at::ones({3}, at::kDouble)), "huber.value");
  EXPECT_THROW_MSG(K->grad(at::ones({3}, at::kDouble)), "huber.grad");
  auto nanX = at::full({3, 3}, std::nan(""), at::kDouble);
  EXPECT_THROW(K->grad(nanX), c10::Error);
  EXPECT_THROW_MSG(make_convex_map("l1")->grad(at::ones({3}, at::kLong)), "l1.grad");
  auto X = test_matrix(4, 3, 1);
  EXPECT_THROW_MSG(specopt::stationarity_gap(*K, X, X, 0.0), "lambda must be > 0, got 0");
  EXPECT_THROW_MSG(specopt::stationarity_gap(*K, X, X.t(), 1.0), "same shape");
}

// ---------------------------------------------------------------------------------------------
// (3) Equivalences.

void expect_same_map(const std::string& a, const std::string& b, const at::Tensor& X,
                     double tol = 1e-12) {
  SCOPED_TRACE(a + " vs " + b);
  auto A = make_convex_map(a), B = make_convex_map(b);
  EXPECT_NEAR(d(A->value(X)), d(B->value(X)), tol * (1 + std::abs(d(B->value(X)))));
  EXPECT_LE(max_abs_diff(A->grad(X), B->grad(X)), tol * 10);
  auto Y = 0.9 * A->grad(randn(X.sizes().vec(), 3));
  EXPECT_NEAR(d(A->conjugate(Y)), d(B->conjugate(Y)), tol * (1 + std::abs(d(B->conjugate(Y)))));
  EXPECT_NEAR(d(A->dual_norm(X)), d(B->dual_norm(X)), tol * (1 + std::abs(d(B->dual_norm(X)))));
}

TEST(Equivalences, Families) {
  for (const auto& sh : kShapes) {
    auto X = test_matrix(sh.m, sh.n, 61);
    expect_same_map("schatten:q=1", "nuclear", X);
    expect_same_map("schatten:q=inf", "spectral", X);
    expect_same_map("schatten:q=2", "frobenius", X, 1e-10);
    expect_same_map("ky_fan:k=1", "spectral", X);
    expect_same_map("ky_fan:k=" + std::to_string(std::min(sh.m, sh.n)), "nuclear", X, 1e-10);
    expect_same_map("ky_fan:k=50", "nuclear", X, 1e-10);  // k > min(m, n) acts as min(m, n)
    // power:p=1 is half_sq_frobenius (∇K = X); conjugates agree: s^2/2.
    expect_same_map("power:p=1", "half_sq_frobenius", X, 1e-10);
    EXPECT_LE(max_abs_diff(make_convex_map("power:p=1")->grad(X), X), 0.0);
  }
}

TEST(Equivalences, ClosedFormGradients) {
  auto X = test_matrix(6, 4, 71);
  // nuclear: the polar factor.
  auto polar = specopt::polar(X, specopt::PolarOptions().method(specopt::PolarMethod::svd));
  EXPECT_LE(max_abs_diff(make_convex_map("nuclear")->grad(X), polar), 1e-12);
  EXPECT_LE(max_abs_diff(make_convex_map("nuclear")->grad(X), lab::exact_spectral_power(X, 0)),
            1e-12);
  // nuclear with a fast method stays close.
  EXPECT_LE(rel_err(make_convex_map("nuclear:method=gram_eigh")->grad(X), polar), 1e-8);
  // l1: sign; frobenius: X / ‖X‖_F; power: U Σ^p Vᵀ.
  EXPECT_LE(max_abs_diff(make_convex_map("l1")->grad(X), at::sign(X)), 0.0);
  EXPECT_LE(max_abs_diff(make_convex_map("frobenius")->grad(X), X / at::norm(X)), 1e-15);
  EXPECT_LE(rel_err(make_convex_map("power:p=0.5")->grad(X), lab::exact_spectral_power(X, 0.5)),
            1e-12);
  EXPECT_LE(rel_err(make_convex_map("power:p=0.5,method=gram_eigh")->grad(X),
                    lab::exact_spectral_power(X, 0.5)),
            1e-8);
  // spectral: u₁v₁ᵀ; huber: spectral clipping; relativistic: X (XᵀX + δ²I)^{-1/2}.
  auto svd = at::linalg_svd(X, false);
  auto U = std::get<0>(svd), S = std::get<1>(svd), Vh = std::get<2>(svd);
  auto u1v1 = at::outer(U.select(1, 0), Vh.select(0, 0));
  EXPECT_LE(max_abs_diff(make_convex_map("spectral")->grad(X), u1v1), 1e-12);
  auto clip = at::matmul(U * (S / 0.5).clamp_max(1), Vh);
  EXPECT_LE(max_abs_diff(make_convex_map("huber:delta=0.5")->grad(X), clip), 1e-12);
  const double dl = 0.7;
  auto XtX = at::matmul(X.t(), X) + dl * dl * at::eye(4, at::kDouble);
  auto ev = at::linalg_eigh(XtX);
  auto inv_sqrt = at::matmul(std::get<1>(ev) * at::rsqrt(std::get<0>(ev)), std::get<1>(ev).t());
  EXPECT_LE(max_abs_diff(make_convex_map("relativistic:delta=0.7")->grad(X),
                         at::matmul(X, inv_sqrt)),
            1e-12);
  auto th = at::matmul(U * at::tanh(S), Vh);
  EXPECT_LE(max_abs_diff(make_convex_map("logcosh")->grad(X), th), 1e-12);
}

// Ties: spectral and ky_fan return the average over the tied group, a valid subgradient
// (⟨g, X⟩ = K(X), dual norm of g ≤ 1), independent of the basis of the tied subspace.
TEST(Equivalences, TiedSingularValues) {
  auto X = lab::matrix_with_spectrum(6, 4, at::tensor({2.0, 2.0, 1.0, 0.5}, at::kDouble), 81);
  for (const char* spec : {"spectral", "ky_fan:k=1", "ky_fan:k=2", "ky_fan:k=3"}) {
    SCOPED_TRACE(spec);
    auto K = make_convex_map(spec);
    auto g = K->grad(X);
    EXPECT_NEAR(ip(g, X), d(K->value(X)), 1e-12);
    EXPECT_LE(d(K->constraint()->norm(g)), 1 + 1e-12);
    EXPECT_EQ(d(K->conjugate(g)), 0.0);
  }
  auto g = make_convex_map("spectral")->grad(X);
  auto sg = specopt::singular_values(g);
  EXPECT_NEAR(d(sg[0]), 0.5, 1e-12);
  EXPECT_NEAR(d(sg[1]), 0.5, 1e-12);
}

// Large and small singular values: no overflow or cancellation.
TEST(Maps, NumericExtremes) {
  auto X = lab::matrix_with_spectrum(5, 3, at::tensor({800.0, 1e-3, 1e-9}, at::kDouble), 91);
  auto lc = make_convex_map("logcosh");
  // log cosh σ: 800 − log 2, σ²/2 for the small ones.
  EXPECT_NEAR(d(lc->value(X)), 800 - std::log(2.0) + 0.5e-6, 1e-10);
  EXPECT_TRUE(all_finite(lc->grad(X)));
  auto rel = make_convex_map("relativistic:delta=1");
  EXPECT_NEAR(d(rel->value(X)), std::sqrt(800.0 * 800 + 1) - 1 + 0.5e-6, 1e-10);
  // Small-σ values relative to their size: K ≈ σ²/(2δ).
  auto Xs = lab::matrix_with_spectrum(4, 3, at::tensor({1e-6, 1e-7, 0.0}, at::kDouble), 92);
  EXPECT_NEAR(d(rel->value(Xs)) / (0.5 * (1e-12 + 1e-14)), 1.0, 1e-6);
  EXPECT_NEAR(d(lc->value(Xs)) / (0.5 * (1e-12 + 1e-14)), 1.0, 1e-6);
  // Conjugates at the boundary s = 1: relativistic δ, logcosh log 2 per singular value. A signed
  // permutation has exactly these singular values (and an exact SVD).
  auto P = at::tensor({0.0, -1.0, 0.0, 0.0, 0.0, 1e-4, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0}, at::kDouble)
               .reshape({4, 3});
  EXPECT_NEAR(d(rel->conjugate(P)), 2.0 + 0.5e-8, 1e-12);
  EXPECT_NEAR(d(lc->conjugate(P)), 2 * std::log(2.0) + 0.5e-8, 1e-12);
  // A rotated matrix U diag(1, 1, 1e-4) Vᵀ, once rounded to float64, has singular values within
  // a few ε of 1 on either side. There δ(1 − sqrt(1 − s²)) has infinite slope: s = 1 − kε moves
  // it by δ·sqrt(2kε), so even its exact value is 2 + 0.5e-8 only to ~1e-8 (over 200 random
  // rotations, 50-digit singular values put them up to 3.7ε from 1 and K* up to 5.2e-8 from
  // 2 + 0.5e-8); the bound allows k = 8 for both σ (rounding plus the SVD's own error). log
  // cosh's conjugate has slope atanh(s) ≈ 18 there, so it keeps the 1e-12 check.
  auto B = lab::matrix_with_spectrum(4, 3, at::tensor({1.0, 1.0, 1e-4}, at::kDouble), 93);
  const double eps = std::numeric_limits<double>::epsilon();
  EXPECT_NEAR(d(rel->conjugate(B)), 2.0 + 0.5e-8, 2 * std::sqrt(2 * 8 * eps));
  EXPECT_NEAR(d(lc->conjugate(B)), 2 * std::log(2.0) + 0.5e-8, 1e-12);
  EXPECT_TRUE(std::isinf(d(lc->conjugate(1.001 * B))));
}

// ---------------------------------------------------------------------------------------------
// (7) The gap vanishes at known minimisers of F(X) = ½‖X − A‖²_F + (1/λ) K*(λX).

TEST(StationarityGap, KnownMinimisers) {
  const double lambda = 1.5;
  for (const auto& sh : kShapes) {
    auto A = 2.0 * test_matrix(sh.m, sh.n, 101) + 0.3 * randn({sh.m, sh.n}, 5);
    auto clip_sv = [&](double radius) {
      return specopt::spectral_map(A, [radius](const at::Tensor& s) {
        return s.clamp_max(radius);
      });
    };
    struct Case {
      std::string spec;
      at::Tensor X;
    };
    auto fro = d(at::norm(A));
    std::vector<Case> cases = {
        {"nuclear", clip_sv(1 / lambda)},                                  // ‖X‖_op ≤ 1/λ
        {"l1", A.clamp(-1 / lambda, 1 / lambda)},                          // ‖X‖_∞ ≤ 1/λ
        {"frobenius", A * std::min(1.0, (1 / lambda) / fro)},              // ‖X‖_F ≤ 1/λ
        {"half_sq_frobenius", A / (1 + lambda)},                           // + (λ/2)‖X‖²
        {"half_sq_nuclear", specopt::half_sq_nuclear_minimiser(A, lambda)},  // + (λ/2)‖X‖²_op
        {"huber:delta=0.5", specopt::spectral_map(A, [&](const at::Tensor& s) {
           return (s / (1 + 0.5 * lambda)).clamp_max(1 / lambda);
         })},
    };
    for (const auto& c : cases) {
      SCOPED_TRACE(c.spec);
      auto K = make_convex_map(c.spec);
      EXPECT_LE(d(specopt::constraint_violation(*K, c.X, lambda)), 1e-12);
      const double gap = d(specopt::stationarity_gap(*K, c.X - A, c.X, lambda));
      EXPECT_LE(std::abs(gap), 1e-8);
      // Moving away from the minimiser inside the set makes the gap positive.
      auto Xo = 0.8 * c.X;
      EXPECT_GT(d(specopt::stationarity_gap(*K, Xo - A, Xo, lambda)), 1e-4);
      // Smooth K: Lion-K's fixed point λX = ∇K(−∇F) holds there. (For a norm only the
      // inclusion −∇F ∈ ∂(K*)(λX) does: the returned subgradient need not be λX.)
      if (K->smooth()) {
        EXPECT_LE(max_abs_diff(lambda * c.X, K->grad(A - c.X)), 1e-8);
      }
    }
  }
}

TEST(StationarityGap, ObjectiveAndViolation) {
  auto K = make_convex_map("nuclear");
  auto X = test_matrix(6, 4, 111);  // ‖X‖_op = 1.7
  auto F = at::scalar_tensor(2.0, at::kDouble);
  EXPECT_EQ(d(specopt::lion_k_objective(*K, F, X, 0.5)), 2.0);  // inside ‖X‖_op ≤ 2
  EXPECT_TRUE(std::isinf(d(specopt::lion_k_objective(*K, F, X, 1.0))));
  EXPECT_NEAR(d(specopt::constraint_violation(*K, X, 1.0)), 0.7, 1e-12);
  EXPECT_EQ(d(specopt::constraint_violation(*make_convex_map("power:p=0.5"), X, 1.0)), 0.0);
  // A penalty map's objective: F + (λ/2)‖X‖²_F for half_sq_frobenius.
  auto H = make_convex_map("half_sq_frobenius");
  EXPECT_NEAR(d(specopt::lion_k_objective(*H, F, X, 0.3)),
              2.0 + 0.15 * d(at::norm(X)) * d(at::norm(X)), 1e-12);
  // Batched gap: shape (...).
  auto Xb = test_matrix(5, 7, 112, {2, 3});
  EXPECT_EQ(specopt::stationarity_gap(*K, Xb, Xb, 1.0).sizes(), (at::IntArrayRef{2, 3}));
}

}  // namespace
}  // namespace specopt_test
