// Each fused element-wise kernel (specopt/optim/fused.h) against its plain reference: float32
// and float64, sizes around the vector width and the chunk size, zero-size tensors,
// non-contiguous views and mixed lists, several steps.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include <specopt/optim/fused.h>

namespace specopt {
namespace {

using List = std::vector<at::Tensor>;

// Sizes: empty, below/at/above a vector (4–16 lanes), across a chunk (16384) and across the
// threads' share of chunks.
const std::vector<int64_t> kSizes = {0, 1, 7, 8, 9, 33, 1000, 16384 + 17, 70001};

// Tolerance of fused vs reference: the same operations in the same order, so a few ulps
// (ATen's own vector kernels may fuse a multiply-add that the fused kernel does not).
void expect_close(const at::Tensor& a, const at::Tensor& b, const std::string& what) {
  ASSERT_EQ(a.sizes(), b.sizes()) << what;
  ASSERT_EQ(a.scalar_type(), b.scalar_type()) << what;
  if (a.numel() == 0) return;
  const bool f32 = a.scalar_type() == at::kFloat;
  const double rtol = f32 ? 4e-6 : 1e-14, atol = f32 ? 1e-7 : 1e-16;
  const double err = (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
  const double scale = b.to(at::kDouble).abs().max().item<double>();
  EXPECT_LE(err, atol + rtol * scale) << what << ": max |fused − reference| = " << err
                                      << " at scale " << scale;
}

List clones(const List& xs) {
  List out;
  for (const auto& x : xs) out.push_back(x.clone());
  return out;
}

// A list with one tensor per size, in `dtype`; `positive` for second moments.
List random_list(at::ScalarType dtype, bool positive, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  List out;
  for (int64_t n : kSizes) {
    auto t = at::randn({n}, gen, at::TensorOptions().dtype(at::kDouble)).to(dtype);
    out.push_back(positive ? t.square() : t);
  }
  return out;
}

// The same lists as (rows, 2·cols)-shaped non-contiguous column slices: the reference path.
List as_strided_views(const List& xs) {
  List out;
  for (const auto& x : xs) {
    auto wide = at::zeros({x.numel(), 2}, x.options());
    wide.select(1, 0).copy_(x);
    out.push_back(wide.select(1, 0));  // stride 2: not contiguous
  }
  return out;
}

struct Case {
  std::string name;
  at::ScalarType dtype;
  bool strided;
};

std::vector<Case> cases() {
  return {{"float32", at::kFloat, false}, {"float64", at::kDouble, false},
          {"float32 strided", at::kFloat, true}, {"float64 strided", at::kDouble, true}};
}

List prepare(const Case& c, bool positive, uint64_t seed) {
  auto xs = random_list(c.dtype, positive, seed);
  return c.strided ? as_strided_views(xs) : xs;
}

void expect_lists_close(const List& a, const List& b, const std::string& what) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) expect_close(a[i], b[i], what + " [" + std::to_string(i) + "]");
}

using AdamWKernel = void (*)(at::TensorList, at::TensorList, at::TensorList, at::TensorList,
                            at::IntArrayRef, const fused::AdamArgs&);

// Three steps of `kernel` against the reference, every case.
void expect_adamw_matches_reference(AdamWKernel kernel, const fused::AdamArgs& args,
                                    const std::string& name) {
  for (const auto& c : cases()) {
    List W = prepare(c, false, 1), m = prepare(c, false, 2), v = prepare(c, true, 3);
    List W2 = clones(W), m2 = clones(m), v2 = clones(v);
    for (int64_t t = 1; t <= 3; ++t) {
      const List g = prepare(c, false, 10 + t);
      const std::vector<int64_t> steps(W.size(), t);
      kernel(W, g, m, v, steps, args);
      fused::adamw_reference_(W2, g, m2, v2, steps, args);
    }
    const std::string what = name + " " + c.name + (args.cautious ? " cautious" : "");
    expect_lists_close(W, W2, what + " W");
    expect_lists_close(m, m2, what + " m");
    expect_lists_close(v, v2, what + " v");
  }
}

TEST(Fused, AdamWMatchesReference) {
  for (const bool cautious : {false, true}) {
    expect_adamw_matches_reference(fused::adamw_, {1e-2, 0.9, 0.999, 1e-8, 0.1, cautious},
                                   "AdamW");
  }
}

TEST(Fused, LibTorchFusedAdamWMatchesReference) {
  // The kernel adamw_ hands CUDA tensors to; on CPU it exists from LibTorch 2.4, so the suite
  // built against 2.x checks the call (arguments, step convention) without a GPU.
  if (!fused::libtorch_adamw_available(at::kCPU)) {
    GTEST_SKIP() << "the linked LibTorch has no fused AdamW on CPU (it has from 2.4)";
  }
  expect_adamw_matches_reference(fused::libtorch_adamw_, {1e-2, 0.9, 0.999, 1e-8, 0.1},
                                 "LibTorch fused AdamW");
}

TEST(Fused, AdamRatioMatchesReference) {
  const fused::AdamArgs args{1e-2, 0.8, 0.95, 1e-6, 0.0};
  for (const auto& c : cases()) {
    List m = prepare(c, false, 4), v = prepare(c, true, 5);
    List m2 = clones(m), v2 = clones(v);
    const List g = prepare(c, false, 6);
    const std::vector<int64_t> steps(m.size(), 7);
    const auto R = fused::adam_ratio_(g, m, v, steps, args);
    const auto R2 = fused::adam_ratio_reference_(g, m2, v2, steps, args);
    expect_lists_close(R, R2, "Adam ratio " + c.name);
    expect_lists_close(m, m2, "Adam ratio m " + c.name);
    expect_lists_close(v, v2, "Adam ratio v " + c.name);
  }
}

TEST(Fused, LionMatchesReference) {
  for (const bool cautious : {false, true}) {
  const fused::LionArgs args{1e-3, 0.9, 0.99, 0.5, cautious};
  for (const auto& c : cases()) {
    List W = prepare(c, false, 7), m = prepare(c, false, 8);
    List W2 = clones(W), m2 = clones(m);
    for (int t = 0; t < 3; ++t) {
      const List g = prepare(c, false, 20 + t);
      fused::lion_(W, g, m, args);
      fused::lion_reference_(W2, g, m2, args);
    }
    expect_lists_close(W, W2, "Lion W " + c.name + (cautious ? " cautious" : ""));
    expect_lists_close(m, m2, "Lion m " + c.name);
  }
  }
}

TEST(Fused, LionSignIsZeroAtZero) {
  // sign(0) = 0 as at::sign: a zero gradient on zero momentum leaves W to weight decay alone.
  auto W = at::ones({9}), m = at::zeros({9}), g = at::zeros({9});
  fused::lion_({W}, {g}, {m}, {0.1, 0.9, 0.99, 0.0});
  EXPECT_TRUE(at::equal(W, at::ones({9})));
}

TEST(Fused, HeavyBallDirectionMatchesReference) {
  for (const bool nesterov : {true, false}) {
    for (const auto& c : cases()) {
      List B = prepare(c, false, 9), B2 = clones(B);
      const List g = prepare(c, false, 10);
      const auto U = fused::heavy_ball_direction_(B, g, 0.95, nesterov);
      const auto U2 = fused::heavy_ball_direction_reference_(B2, g, 0.95, nesterov);
      const std::string what = c.name + (nesterov ? " nesterov" : "");
      expect_lists_close(U, U2, "heavy-ball U " + what);
      expect_lists_close(B, B2, "heavy-ball B " + what);
      // Without Nesterov the direction is the buffer itself, not a copy.
      if (!nesterov) EXPECT_TRUE(U[3].is_same(B[3])) << what;
    }
  }
}

TEST(Fused, EmaDirectionMatchesReference) {
  for (const bool lookahead : {true, false}) {
    for (const double scale : {1.0, -1.0}) {
      for (const auto& c : cases()) {
        List M = prepare(c, false, 11), M2 = clones(M);
        const List g = prepare(c, false, 12);
        const auto U = fused::ema_direction_(M, g, 0.9, lookahead, 0.99, scale);
        const auto U2 = fused::ema_direction_reference_(M2, g, 0.9, lookahead, 0.99, scale);
        const std::string what = c.name + " lookahead=" + std::to_string(lookahead) +
                                 " scale=" + std::to_string(scale);
        expect_lists_close(U, U2, "EMA U " + what);
        expect_lists_close(M, M2, "EMA M " + what);
      }
    }
  }
}

TEST(Fused, DecayAndApplyMatchesReference) {
  for (const bool cautious : {false, true}) {
  for (const auto& c : cases()) {
    List W = prepare(c, false, 13), W2 = clones(W);
    const List U = prepare(c, false, 14);
    std::vector<double> alphas;
    for (size_t i = 0; i < W.size(); ++i) alphas.push_back(-0.01 * static_cast<double>(i + 1));
    fused::decay_and_apply_(W, U, 0.02, 0.1, alphas, cautious);
    fused::decay_and_apply_reference_(W2, U, 0.02, 0.1, alphas, cautious);
    expect_lists_close(W, W2, "decay and apply " + c.name + (cautious ? " cautious" : ""));
  }
  }
}

TEST(Fused, RowKernelsMatchReference) {
  // 2-D, a batch of matrices, a conv weight seen as (out, in·kh·kw), odd widths, and a
  // non-contiguous W (reference path).
  auto gen = at::make_generator<at::CPUGeneratorImpl>(17);
  const std::vector<std::vector<int64_t>> shapes = {{5, 7}, {3, 9, 33}, {4, 3, 3, 3}, {1, 16400}};
  for (const auto dtype : {at::kFloat, at::kDouble}) {
    for (const auto& shape : shapes) {
      const auto U = at::randn(shape, gen, at::TensorOptions().dtype(at::kDouble)).to(dtype);
      const auto Um = U.dim() >= 4 ? U.reshape({U.size(0), -1}) : U;
      const std::string what = std::string(c10::toString(dtype)) + " " + c10::str(U.sizes());
      const auto ss = fused::row_sum_squares(Um);
      expect_close(ss, fused::row_sum_squares_reference(Um), "row sums " + what);
      const auto d = ss.sqrt().reciprocal();
      auto W = at::randn_like(U), W2 = W.clone();
      fused::decay_and_apply_rows_(W, U, d, 0.1, 0.2, -0.3);
      fused::decay_and_apply_rows_reference_(W2, U, d, 0.1, 0.2, -0.3);
      expect_close(W, W2, "row update " + what);
      fused::decay_and_apply_rows_(W, U, d, 0.1, 0.2, -0.3, /*cautious=*/true);
      fused::decay_and_apply_rows_reference_(W2, U, d, 0.1, 0.2, -0.3, /*cautious=*/true);
      expect_close(W, W2, "cautious row update " + what);
      // The same update on a transposed (non-contiguous) parameter goes through the reference.
      if (U.dim() == 2) {
        auto Wt = W2.t().contiguous().t();
        fused::decay_and_apply_rows_(Wt, U, d, 0.1, 0.2, -0.3);
        fused::decay_and_apply_rows_reference_(W2, U, d, 0.1, 0.2, -0.3);
        expect_close(Wt, W2, "row update, strided W " + what);
      }
    }
  }
  try {
    fused::decay_and_apply_rows_(at::zeros({3, 4}), at::zeros({3, 4}), at::ones({5}), 0, 0, 1);
    FAIL() << "5 row factors for 12 elements accepted";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("5 row factors"), std::string::npos) << e.what();
  }
}

TEST(Fused, MixedListsTakeEachItemsPath) {
  // float32, float64, a non-contiguous view and an empty tensor in one call.
  auto gen = at::make_generator<at::CPUGeneratorImpl>(15);
  List W = {at::randn({40, 30}, gen), at::randn({17}, gen).to(at::kDouble),
            at::randn({30, 40}, gen).t(), at::randn({0}, gen)};
  List g, m, v;
  for (const auto& w : W) {
    g.push_back(at::randn_like(w));
    m.push_back(at::zeros_like(w));
    v.push_back(at::zeros_like(w));
  }
  List W2 = clones(W), m2 = clones(m), v2 = clones(v);
  const std::vector<int64_t> steps(W.size(), 1);
  fused::adamw_(W, g, m, v, steps, {});
  fused::adamw_reference_(W2, g, m2, v2, steps, {});
  expect_lists_close(W, W2, "mixed AdamW W");
  expect_lists_close(v, v2, "mixed AdamW v");
}

TEST(Fused, FirstNonfiniteFindsEveryPosition) {
  const double inf = std::numeric_limits<double>::infinity();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (const auto dtype : {at::kFloat, at::kDouble}) {
    // Large finite values are finite: x − x is 0 for them, not NaN.
    List finite = {at::full({70001}, 1e30, dtype), at::randn({33}).to(dtype), at::zeros({0}, dtype)};
    EXPECT_EQ(fused::first_nonfinite(finite), -1);
    EXPECT_EQ(fused::first_nonfinite_reference(finite), -1);
    for (const double bad : {inf, -inf, nan}) {
      for (const int64_t at_index : {int64_t{0}, int64_t{16383}, int64_t{16384}, int64_t{70000}}) {
        List xs = {at::randn({33}).to(dtype), at::randn({70001}).to(dtype),
                   at::full({5}, nan, dtype)};
        xs[1][at_index] = bad;
        EXPECT_EQ(fused::first_nonfinite(xs), 1) << bad << " at " << at_index;
        EXPECT_EQ(fused::first_nonfinite_reference(xs), 1) << bad << " at " << at_index;
      }
    }
    // The tail of a tensor shorter than a vector, and a non-contiguous (reference-path) tensor.
    List tail = {at::ones({3}, dtype), at::ones({3}, dtype)};
    tail[1][2] = nan;
    EXPECT_EQ(fused::first_nonfinite(tail), 1);
    auto strided = at::ones({8, 2}, dtype).select(1, 0);
    strided[7] = inf;
    EXPECT_EQ(fused::first_nonfinite({at::ones({4}, dtype), strided}), 1);
    EXPECT_EQ(fused::first_nonfinite({strided, at::full({4}, nan, dtype)}), 0);
  }
}

TEST(Fused, ResultsDoNotDependOnTheThreadCount) {
  // Each element is updated by one thread with the same arithmetic: bit-identical results.
  const int threads = at::get_num_threads();
  auto run = [](int n) {
    at::set_num_threads(n);
    auto gen = at::make_generator<at::CPUGeneratorImpl>(16);
    List W = {at::randn({100003}, gen)}, g = {at::randn({100003}, gen)};
    List m = {at::zeros({100003})}, v = {at::zeros({100003})};
    fused::adamw_(W, g, m, v, std::vector<int64_t>{1}, {});
    return W[0];
  };
  const auto one = run(1), two = run(2);
  at::set_num_threads(threads);
  EXPECT_TRUE(at::equal(one, two));
}

TEST(Fused, BadArgumentsAreRefusedNamingThem) {
  List W = {at::zeros({3})}, g = {at::zeros({3})}, m = {at::zeros({3})}, v = {at::zeros({3})};
  try {
    fused::adamw_(W, g, m, v, std::vector<int64_t>{0}, {});
    FAIL() << "step 0 accepted";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("fused::adamw_: step must be >= 1, got 0"),
              std::string::npos)
        << e.what();
  }
  EXPECT_TRUE(at::equal(W[0], at::zeros({3})));  // nothing written
  try {
    fused::lion_(W, {}, m, {});
    FAIL() << "lists of different lengths accepted";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("different lengths (1 and 0)"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace specopt
