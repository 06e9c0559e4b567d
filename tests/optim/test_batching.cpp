// Batched matrix functions inside an optimizer step: on accelerators, same-sized matrices of a
// group go to one polar / spectral-power call (tall ones transposed to join the wide ones); the
// batching is tested here on CPU by forcing it. Batching must not change what any parameter
// receives; Muon's bf16-where-native default stays within bf16
// rounding of the float32 iteration.
#include "tests/optim/optim_test_util.h"

namespace {

using namespace specopt;
namespace ot = specopt_optim_test;
namespace T = specopt::transforms;

// Mixed shapes: two equal (8×5), their transpose (5×8), a 3-D batch of (8×5), a packed
// QKV (12×4 → three 4×4 blocks with split_qkv), a conv weight, and a lone shape.
std::vector<at::Tensor> mixed(uint64_t seed) {
  std::vector<std::vector<int64_t>> shapes = {{8, 5}, {8, 5}, {5, 8}, {2, 8, 5}, {12, 4},
                                              {4, 4}, {4, 2, 2}, {6, 3}, {3, 2, 2, 2}};
  std::vector<at::Tensor> out;
  for (size_t i = 0; i < shapes.size(); ++i) out.push_back(ot::randn(shapes[i], seed + i));
  return out;
}

TEST(Batching, PolarMapBatchedEqualsOneByOne) {
  const auto Xs = mixed(40);
  const T::MatrixLayout layout{/*split_qkv=*/true, /*allow_vectors=*/false};
  for (auto method : {PolarMethod::svd, PolarMethod::newton_schulz, PolarMethod::gram_eigh}) {
    const auto opts = PolarOptions().method(method);
    const auto batched = T::polar_map_batched(Xs, opts, layout, "test", /*batch_on_cpu=*/true);
    ASSERT_EQ(batched.size(), Xs.size());
    for (size_t i = 0; i < Xs.size(); ++i) {
      const auto one = T::polar_map(Xs[i], opts, layout, "test");
      ASSERT_EQ(batched[i].sizes(), Xs[i].sizes()) << i;
      EXPECT_LT((batched[i] - one).abs().max().item<double>(), 1e-12)
          << "tensor " << i << ", method " << to_string(method);
    }
  }
}

TEST(Batching, PowerMapBatchedEqualsOneByOne) {
  const auto Xs = mixed(50);
  const T::MatrixLayout layout{/*split_qkv=*/true, /*allow_vectors=*/false};
  for (double p : {0.0, 0.25, 0.5, 1.0}) {
    const auto opts = PowerOptions().method(PowerMethod::gram_eigh);
    const auto batched = T::power_map_batched(Xs, p, opts, layout, "test", /*batch_on_cpu=*/true);
    for (size_t i = 0; i < Xs.size(); ++i) {
      const auto one = T::power_map(Xs[i], p, opts, layout, "test");
      EXPECT_LT((batched[i] - one).abs().max().item<double>(), 1e-12) << i << " p=" << p;
    }
  }
}

TEST(Batching, TransposeOnlyWhenEquivariant) {
  // A map that is not transpose-equivariant (add the row index) must see each matrix as is.
  const std::vector<at::Tensor> Xs = {ot::randn({3, 2}, 1), ot::randn({2, 3}, 2)};
  const auto f = [](const at::Tensor& M) {
    return M + at::arange(M.size(-2), M.options()).unsqueeze(-1);
  };
  const auto out = T::map_matrices_batched(Xs, {}, "test", f, /*transpose_equivariant=*/false,
                                           /*batch_on_cpu=*/true);
  for (size_t i = 0; i < Xs.size(); ++i) {
    EXPECT_TRUE(at::allclose(out[i], f(Xs[i]), 0, 0)) << i;
  }
}

// Each optimizer stepping many parameters at once takes the same steps as one optimizer per
// parameter (where nothing can be batched).
template <class Opt, class Options>
void expect_same_as_separate(const Options& options, const char* what) {
  const auto X0 = mixed(60);
  std::vector<at::Tensor> together, alone;
  for (const auto& X : X0) {
    together.push_back(X.clone().requires_grad_());
    alone.push_back(X.clone().requires_grad_());
  }
  Opt all(together, options);
  std::vector<std::unique_ptr<Opt>> each;
  for (auto& a : alone) each.push_back(std::make_unique<Opt>(std::vector<at::Tensor>{a}, options));
  for (int t = 0; t < 4; ++t) {
    for (size_t i = 0; i < X0.size(); ++i) {
      const auto g = ot::randn(X0[i].sizes().vec(), 100 * t + i);
      together[i].mutable_grad() = g.clone();
      alone[i].mutable_grad() = g.clone();
    }
    all.step();
    for (auto& o : each) o->step();
    for (size_t i = 0; i < X0.size(); ++i) {
      EXPECT_LT((together[i] - alone[i]).abs().max().item<double>(), 1e-12)
          << what << ": step " << t << ", parameter " << i;
    }
  }
}

TEST(Batching, OptimizersMatchOneOptimizerPerParameter) {
  expect_same_as_separate<Muon>(MuonOptions(0.05).split_qkv(true).weight_decay(0.1), "Muon NS");
  expect_same_as_separate<Muon>(
      MuonOptions(0.05).split_qkv(true).polar(PolarOptions().method(PolarMethod::svd)), "Muon svd");
  expect_same_as_separate<SpectralAdam>(SpectralAdamOptions::adamq(1e-2).split_qkv(true),
                                        "AdamQ");
  expect_same_as_separate<SpectralSGD>(SpectralSGDOptions::msgds(1e-2).split_qkv(true), "mSGDS");
  expect_same_as_separate<SpectralSGD>(SpectralSGDOptions::msgdz(1e-2), "mSGDZ");
}

// The default (reference Muon: bf16 Newton–Schulz where bf16 is native) on float32 weights:
// bf16 is used exactly when fast_bf16_matmul says so, and stays within bf16 rounding of the
// float32 iteration. float64 weights never drop to bf16.
TEST(Batching, MuonBf16WhereNative) {
  const auto G = ot::randn({64, 32}, 7).to(at::kFloat);
  const auto def = MuonOptions().polar();
  const auto f32 = PolarOptions(def).bf16_where_fast(false);
  const auto a = polar(G, def), b = polar(G, f32);
  const double diff = ((a - b).norm() / b.norm()).item<double>();
  if (fast_bf16_matmul(G.device())) {
    EXPECT_GT(diff, 1e-5) << "bf16 arithmetic expected on this CPU";
    EXPECT_LT(diff, 5e-2) << "bf16 Newton–Schulz strays beyond bf16 rounding";
  } else {
    EXPECT_EQ(diff, 0.0) << "no native bf16: the default must compute in float32";
  }
  EXPECT_EQ(a.scalar_type(), at::kFloat);
  const auto G64 = G.to(at::kDouble);
  EXPECT_TRUE(at::equal(polar(G64, def), polar(G64, PolarOptions(def).bf16_where_fast(false))));
}

}  // namespace
