// Dion2 (arXiv 2512.16928) against a float64 hand computation of the paper's update, written
// out here slice by slice without specopt's transforms or matrix functions; α = 1 against Muon
// without Nesterov; the selection, its error feedback and the options' checks.
#include <algorithm>
#include <cmath>
#include <utility>

#include "specopt/optim/dion2.h"
#include "tests/optim/optim_test_util.h"

namespace {

using namespace specopt;
namespace ot = specopt_optim_test;

struct Hyper {
  double lr = 0.01, fraction = 0.25, mu = 0.95, wd = 0.01;
  bool l1 = true;
  bool svd = true;  // exact polar factor; otherwise Polar Express (5 steps, eps 1e-8) by hand
};

// Polar Express (arXiv 2505.16932) as microsoft/dion runs it, float64: X / (1.02‖X‖_F + eps),
// then X ← aX + (bA + cA²)X with A = XXᵀ for each of the five triples; X is wide here. G is
// first divided by its largest |entry|, as specopt's Newton–Schulz does against overflow (so
// eps acts on that scaled matrix: microsoft/dion's unscaled X/(1.02‖X‖_F + eps) differs by
// ≈eps/‖X‖).
at::Tensor polar_express5(at::Tensor G) {
  G = G / G.abs().max().item<double>();
  const double abc[5][3] = {{8.156554524902461, -22.48329292557795, 15.878769915207462},
                            {4.042929935166739, -2.808917465908714, 0.5000178451051316},
                            {3.8916678022926607, -2.772484153217685, 0.5060648178503393},
                            {3.285753657755655, -2.3681294933425376, 0.46449024233003106},
                            {2.3465413258596377, -1.7097828382687081, 0.42323551169305323}};
  auto X = G / (1.02 * G.norm().item<double>() + 1e-8);
  for (const auto& c : abc) {
    const auto A = X.matmul(X.t());
    X = c[0] * X + (c[1] * A + c[2] * A.matmul(A)).matmul(X);
  }
  return X;
}

// The paper's step on one matrix W (r × c), in place, with its momentum M.
void hand_step(at::Tensor W, at::Tensor M, const at::Tensor& g, const Hyper& h) {
  const int64_t r = W.size(0), c = W.size(1);
  M.add_(g);                                   // M ← M + g
  const bool columns = r > c;                  // slices: the short side
  auto Ms = columns ? M.t() : M;               // views: row i of Ms is slice i
  auto Ws = columns ? W.t() : W;
  const int64_t s = Ms.size(0);
  const auto k = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(h.fraction * double(s))));
  std::vector<std::pair<double, int64_t>> by_norm;  // (−norm, index): largest first, then index
  for (int64_t i = 0; i < s; ++i) {
    const double n = h.l1 ? Ms[i].abs().sum().item<double>() : Ms[i].norm().item<double>();
    by_norm.emplace_back(-n, i);
  }
  std::sort(by_norm.begin(), by_norm.end());
  std::vector<at::Tensor> rows;
  for (int64_t j = 0; j < k; ++j) rows.push_back(Ms[by_norm[j].second]);
  const auto sub = at::stack(rows);            // M_I, k × L
  at::Tensor O;
  if (h.svd) {
    const auto usv = at::linalg_svd(sub, /*full_matrices=*/false);
    O = std::get<0>(usv).matmul(std::get<2>(usv));  // U Vᵀ
  } else {
    O = polar_express5(sub);
  }
  const double scale = std::sqrt(double(r) / double(c));  // spectral_norm
  W.mul_(1 - h.lr * h.wd);                                // every entry decays
  for (int64_t j = 0; j < k; ++j) {
    const int64_t i = by_norm[j].second;
    Ws[i].sub_(h.lr * scale * O[j]);                      // W_I ← W_I − η s O_I
    Ms[i].mul_(h.mu);                                     // M_I ← μ M_I
  }
}

// The paper's steps on W (2-D, 3-D as a batch, ≥ 4-D flattened to (out, rest)).
std::vector<at::Tensor> hand_steps(at::Tensor W, const std::vector<at::Tensor>& grads,
                                   const Hyper& h) {
  W = W.clone();
  auto M = at::zeros_like(W);
  auto as_batch = [](const at::Tensor& t) {
    if (t.dim() == 2) return t.unsqueeze(0);
    if (t.dim() == 3) return t;
    return t.reshape({t.size(0), -1}).unsqueeze(0);
  };
  std::vector<at::Tensor> out;
  for (const auto& g : grads) {
    auto Wb = as_batch(W), Mb = as_batch(M);
    const auto gb = as_batch(g);
    for (int64_t b = 0; b < Wb.size(0); ++b) hand_step(Wb[b], Mb[b], gb[b], h);
    out.push_back(W.clone());
  }
  return out;
}

Dion2Options options_of(const Hyper& h) {
  auto o = Dion2Options(h.lr)
               .fraction(h.fraction)
               .momentum(h.mu)
               .weight_decay(h.wd)
               .selection(h.l1 ? "l1" : "l2");
  if (h.svd) o.polar(PolarOptions().method(PolarMethod::svd));
  return o;
}

std::vector<at::Tensor> library_steps(at::Tensor W, const std::vector<at::Tensor>& grads,
                                      const Dion2Options& o) {
  W = W.clone().requires_grad_();
  Dion2 opt({W}, o);
  std::vector<at::Tensor> out;
  for (const auto& g : grads) {
    W.mutable_grad() = g.clone();
    opt.step();
    out.push_back(W.detach().clone());
  }
  return out;
}

std::vector<at::Tensor> grads_of(at::IntArrayRef shape, int n, uint64_t seed) {
  std::vector<at::Tensor> gs;
  for (int t = 0; t < n; ++t) gs.push_back(ot::randn(shape, seed + t));
  return gs;
}

TEST(Dion2, FirstStepsEqualTheHandComputation) {
  // Wide (rows selected), tall (columns), a batch of matrices and a conv weight; α giving one
  // slice, a quarter and a half; ℓ1 and ℓ2 selection; exact polar factor.
  struct Case {
    std::vector<int64_t> shape;
    double fraction;
    bool l1;
  };
  const std::vector<Case> cases = {{{4, 7}, 0.25, true},    {{9, 5}, 0.5, true},
                                   {{2, 3, 6}, 0.5, false}, {{6, 2, 2, 2}, 0.3, true},
                                   {{8, 8}, 0.25, false},   {{5, 3}, 0.1, true}};
  for (const auto& c : cases) {
    Hyper h;
    h.lr = 0.05;
    h.wd = 0.1;
    h.fraction = c.fraction;
    h.l1 = c.l1;
    const auto W0 = ot::randn(c.shape, 1);
    const auto gs = grads_of(c.shape, 6, 10);
    const auto want = hand_steps(W0, gs, h);
    const auto got = library_steps(W0, gs, options_of(h));
    for (size_t t = 0; t < want.size(); ++t) {
      EXPECT_LE(specopt_test::max_abs_diff(got[t], want[t]), 1e-12)
          << "shape " << at::IntArrayRef(c.shape) << ", fraction " << c.fraction << ", step " << t;
    }
    EXPECT_GT(specopt_test::max_abs_diff(want.back(), W0), 0.01);
  }
}

TEST(Dion2, DefaultPolarExpressStepsEqualTheHandComputation) {
  // The defaults' orthogonalisation (Polar Express, 5 steps, float64 here) written out by hand.
  Hyper h;
  h.svd = false;
  h.fraction = 0.5;
  for (const std::vector<int64_t>& shape : {std::vector<int64_t>{6, 10}, {12, 4}}) {
    const auto W0 = ot::randn(shape, 2);
    const auto gs = grads_of(shape, 5, 20);
    const auto want = hand_steps(W0, gs, h);
    const auto got = library_steps(W0, gs, options_of(h));
    for (size_t t = 0; t < want.size(); ++t) {
      EXPECT_LE(specopt_test::max_abs_diff(got[t], want[t]), 1e-12) << "step " << t;
    }
  }
}

TEST(Dion2, FractionOneIsMuonWithoutNesterov) {
  // α = 1: every slice is selected and decays, so M_t = μ(M_{t−1} + g_t) = μ B_t with Muon's
  // heavy-ball sum B_t = μ B_{t−1} + g_t, and the step is Muon's (nesterov false) with the
  // same shape rule: W ← W(1 − ηλ) − η s polar(B_t).
  for (bool svd : {true, false}) {
    const auto polar = svd ? PolarOptions().method(PolarMethod::svd) : Dion2Options().polar();
    const auto dion = Dion2Options(0.03).fraction(1.0).momentum(0.9).weight_decay(0.1).polar(polar);
    const auto muon = MuonOptions(0.03)
                          .momentum(0.9)
                          .nesterov(false)
                          .weight_decay(0.1)
                          .shape_rule("spectral_norm")
                          .polar(polar);
    for (const std::vector<int64_t>& shape : {std::vector<int64_t>{5, 8}, {9, 4}, {2, 3, 5}}) {
      auto A = ot::randn(shape, 3).requires_grad_();
      auto B = A.detach().clone().requires_grad_();
      Dion2 d({A}, dion);
      Muon m({B}, muon);
      for (int t = 0; t < 6; ++t) {
        const auto g = ot::randn(shape, 30 + t);
        A.mutable_grad() = g.clone();
        B.mutable_grad() = g.clone();
        d.step();
        m.step();
        EXPECT_LE(specopt_test::max_abs_diff(A, B), 1e-12) << "svd " << svd << ", step " << t;
      }
      const auto& sd = static_cast<const Dion2ParamState&>(*d.state().begin()->second);
      const auto& sm = static_cast<const MuonParamState&>(*m.state().begin()->second);
      EXPECT_LE(specopt_test::max_abs_diff(sd.momentum_buffer(), 0.9 * sm.momentum_buffer()),
                1e-12);
    }
  }
}

TEST(Dion2, OnlySelectedSlicesMoveAndKeepTheirErrorFeedback) {
  // Without weight decay, one step changes exactly the k selected rows (8 × 12: s = 8, α = 0.25,
  // k = 2); the momentum of the selected rows is μg, that of the others g.
  auto W = ot::randn({8, 12}, 4).requires_grad_();
  const auto W0 = W.detach().clone();
  auto g = ot::randn({8, 12}, 5);
  g[3].mul_(10);  // rows 3 and 6 have the largest ℓ1 norms
  g[6].mul_(5);
  Dion2 opt({W}, Dion2Options(0.1).weight_decay(0).polar(PolarOptions().method(PolarMethod::svd)));
  W.mutable_grad() = g.clone();
  opt.step();
  const auto moved = (W.detach() - W0).abs().sum(1).gt(0);
  EXPECT_EQ(moved.sum().item<int64_t>(), 2);
  EXPECT_TRUE(moved[3].item<bool>() && moved[6].item<bool>());
  const auto& state = static_cast<const Dion2ParamState&>(*opt.state().begin()->second);
  const auto& M = state.momentum_buffer();
  for (int64_t i = 0; i < 8; ++i) {
    const double f = (i == 3 || i == 6) ? 0.95 : 1.0;
    EXPECT_LE(specopt_test::max_abs_diff(M[i], f * g[i]), 1e-15) << "row " << i;
  }
  // Tall: the columns are the slices (12 × 8 with the same gradient transposed).
  auto V = W0.t().contiguous().requires_grad_();
  Dion2 tall({V}, Dion2Options(0.1).weight_decay(0).polar(PolarOptions().method(PolarMethod::svd)));
  V.mutable_grad() = g.t().contiguous();
  tall.step();
  const auto moved_cols = (V.detach() - W0.t()).abs().sum(0).gt(0);
  EXPECT_EQ(moved_cols.sum().item<int64_t>(), 2);
  EXPECT_TRUE(moved_cols[3].item<bool>() && moved_cols[6].item<bool>());
}

TEST(Dion2, EqualNormsAreChosenInIndexOrder) {
  // Four rows of equal ℓ1 norm, α = 0.5: rows 0 and 1 move, on every call alike.
  auto W = at::zeros({4, 6}, at::kDouble).requires_grad_();
  Dion2 opt({W}, Dion2Options(0.1).fraction(0.5).weight_decay(0));
  W.mutable_grad() = at::ones({4, 6}, at::kDouble);
  opt.step();
  const auto moved = W.detach().abs().sum(1).gt(0);
  EXPECT_TRUE(moved[0].item<bool>() && moved[1].item<bool>());
  EXPECT_FALSE(moved[2].item<bool>() || moved[3].item<bool>());
}

TEST(Dion2, SplitQkvSelectsInEachBlock) {
  // A packed (3d × d) weight with split_qkv steps as the batch of its three (d × d) blocks.
  const auto o = Dion2Options(0.05).fraction(0.5).polar(PolarOptions().method(PolarMethod::svd));
  const auto W0 = ot::randn({12, 4}, 6);
  const auto gs = grads_of({12, 4}, 4, 60);
  std::vector<at::Tensor> batched_grads;
  for (const auto& g : gs) batched_grads.push_back(g.reshape({3, 4, 4}));
  const auto packed = library_steps(W0, gs, Dion2Options(o).split_qkv(true));
  const auto batch = library_steps(W0.reshape({3, 4, 4}), batched_grads, o);
  for (size_t t = 0; t < packed.size(); ++t) {
    EXPECT_LE(specopt_test::max_abs_diff(packed[t], batch[t].reshape({12, 4})), 1e-14);
  }
}

TEST(Dion2, OptionsAreCheckedByName) {
  EXPECT_THROW_MSG(Dion2({ot::randn({3, 4}, 1)}, Dion2Options().fraction(0)),
                   "Invalid Dion2Options.fraction: 0");
  EXPECT_THROW_MSG(Dion2({ot::randn({3, 4}, 1)}, Dion2Options().fraction(1.5)),
                   "Invalid Dion2Options.fraction: 1.5");
  EXPECT_THROW_MSG(Dion2({ot::randn({3, 4}, 1)}, Dion2Options().selection("random")),
                   "Invalid Dion2Options.selection: 'random'");
  EXPECT_THROW_MSG(Dion2({ot::randn({3, 4}, 1)}, Dion2Options().momentum(-0.1)),
                   "Invalid Dion2Options.momentum: -0.1");
  EXPECT_THROW_MSG(Dion2({ot::randn({4}, 1)}, Dion2Options()), "not a matrix");
  EXPECT_THROW_MSG(make_optimizer_options("dion2:fraction=2"), "Invalid Dion2Options.fraction: 2");
  const auto o = make_optimizer_options("dion2:fraction=0.5,selection=l2,shape_rule=original");
  const auto& d = dynamic_cast<const Dion2Options&>(*o);
  EXPECT_EQ(d.fraction(), 0.5);
  EXPECT_EQ(d.selection(), "l2");
  EXPECT_EQ(d.shape_rule(), ShapeRule::original);
}

TEST(Dion2, DefaultsAreMicrosoftDions) {
  const Dion2Options o;
  EXPECT_EQ(o.lr(), 0.01);
  EXPECT_EQ(o.fraction(), 0.25);
  EXPECT_EQ(o.momentum(), 0.95);
  EXPECT_EQ(o.weight_decay(), 0.01);
  EXPECT_EQ(o.selection(), "l1");
  EXPECT_EQ(o.shape_rule(), ShapeRule::spectral_norm);
  EXPECT_EQ(o.polar().schedule().name, "polar_express");
  EXPECT_EQ(o.polar().steps(), 5);
  EXPECT_EQ(o.polar().eps(), 1e-8);
  EXPECT_DOUBLE_EQ(transforms::shape_scale(ShapeRule::spectral_norm, 3, 12), 0.5);
}

TEST(Dion2, UpdateCostCountsOnlyTheSubmatrix) {
  // Newton–Schulz on k × L instead of s × L: a quarter of the rows costs well under half.
  const auto p = at::zeros({256, 1024});
  const double dion = Dion2Options().update_flops(p);
  const double muon = MuonOptions().update_flops(p);
  EXPECT_LT(dion, 0.5 * muon);
  EXPECT_GT(dion, 0.0);
  EXPECT_EQ(Dion2Options().selected_slices(10), 3);  // ⌈2.5⌉
  EXPECT_EQ(Dion2Options().selected_slices(1), 1);
  EXPECT_EQ(Dion2Options().fraction(1.0).selected_slices(7), 7);
}

}  // namespace
