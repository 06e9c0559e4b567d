#include <specopt/optim/dion2.h>

#include <algorithm>
#include <cmath>

#include <specopt/matfun/newton_schulz.h>
#include <specopt/optim/fused.h>

namespace specopt {

namespace T = transforms;

Dion2Options::Dion2Options(double lr) : lr_(lr) {}

Dion2Options& Dion2Options::shape_rule(const std::string& name) {
  shape_rule_ = T::parse_shape_rule(name);
  return *this;
}

void Dion2Options::fields(FieldVisitor& v) {
  v("lr", lr_, Range::nonneg);
  v("fraction", fraction_, Range::unit);
  v("momentum", momentum_, Range::unit);
  v("selection", selection_);
  v("polar", polar_);
  v("shape_rule", shape_rule_);
  v("weight_decay", weight_decay_, Range::nonneg);
  v("cautious_weight_decay", cautious_weight_decay_);
  v("split_qkv", split_qkv_);
  v("nonfinite", nonfinite_);
}

void Dion2Options::validate() const {
  validate_fields(*this, "Dion2Options");
  TORCH_CHECK(fraction() > 0, "Invalid Dion2Options.fraction: ", fraction(),
              " (must be in (0, 1]: the share of rows or columns orthogonalised per step)");
  TORCH_CHECK(selection() == "l1" || selection() == "l2", "Invalid Dion2Options.selection: '",
              selection(), "' (expected l1 or l2)");
  polar().validate();
}

void Dion2Options::check_param(const at::Tensor& p, const std::string& where) const {
  T::matrix_shape(p, {split_qkv(), /*allow_vectors=*/false}, where);
}

int64_t Dion2Options::selected_slices(int64_t short_side) const {
  // As microsoft/dion computes it: ⌈α·s⌉ in floating point, at least one slice.
  const auto k = static_cast<int64_t>(std::ceil(fraction() * static_cast<double>(short_side)));
  return std::min(short_side, std::max<int64_t>(1, k));
}

double Dion2Options::update_flops(const at::Tensor& p) const {
  const double elementwise = T::elementwise_update_flops(p);
  if (p.dim() < 2 || p.numel() == 0) return elementwise;
  const auto rc = T::matrix_shape(p, {split_qkv(), /*allow_vectors=*/true}, "update cost");
  const double batch = static_cast<double>(p.numel()) / static_cast<double>(rc.first * rc.second);
  const int64_t s = std::min(rc.first, rc.second), L = std::max(rc.first, rc.second);
  return elementwise + batch * newton_schulz_flops(selected_slices(s), L, polar().steps());
}

namespace {

// One matrix view's selection: the slices (rows of `slices`, a view of M's matrices with the
// short side second to last) and which of them were chosen.
struct Selection {
  bool rows;          // the slices are M's rows (rows ≤ cols), otherwise its columns
  at::Tensor slices;  // (..., s, L), a view of M's matrices (transposed for columns)
  at::Tensor index;   // (..., k, L): the chosen slices' indices, expanded along L; undefined
                      // when every slice is chosen (k = s: no gather, no permutation)
};

}  // namespace

void Dion2Options::update(std::vector<RuleItem>& items) const {
  const Dion2Options& o = *this;
  const T::MatrixLayout layout{o.split_qkv(), /*allow_vectors=*/false};
  std::vector<at::Tensor> X, B, g;
  for (auto& it : items) {
    auto& state = state_of<Dion2ParamState>(it);
    if (!state.momentum_buffer().defined()) {
      // Contiguous, so that the matrix views below are views of the state itself.
      state.momentum_buffer(at::zeros(it.param.sizes(), it.param.options()));
    }
    X.push_back(it.param);
    B.push_back(state.momentum_buffer());
    g.push_back(it.grad);
  }
  fused::heavy_ball_direction_(B, g, /*mu=*/1.0, /*nesterov=*/false);  // M ← M + g

  std::vector<Selection> sel;
  std::vector<at::Tensor> sub;  // M_I, (..., k, L)
  std::vector<double> alphas;
  for (size_t i = 0; i < items.size(); ++i) {
    auto& M = B[i];
    const auto Mm = T::as_matrices(M, layout, kName);
    const bool rows = Mm.size(-2) <= Mm.size(-1);
    Selection s{rows, rows ? Mm : Mm.transpose(-2, -1), {}};
    const int64_t k = o.selected_slices(s.slices.size(-2));
    if (k == s.slices.size(-2)) {
      sub.push_back(s.slices.clone());
      s.slices.mul_(o.momentum());  // M ← μM
    } else {
      const auto norms = o.selection() == "l1" ? s.slices.abs().sum(-1) : s.slices.square().sum(-1);
      // A stable descending sort: equal norms are chosen in index order, the same on every
      // device and rank.
      const auto order = std::get<1>(at::sort(norms, /*stable=*/true, -1, /*descending=*/true));
      const auto chosen = order.narrow(-1, 0, k).unsqueeze(-1);  // (..., k, 1)
      auto sizes = s.slices.sizes().vec();
      sizes[sizes.size() - 2] = k;
      s.index = chosen.expand(sizes);
      sub.push_back(s.slices.gather(-2, s.index));
      auto decay = at::ones_like(norms).unsqueeze(-1);  // (..., s, 1)
      decay.scatter_(-2, chosen, o.momentum());
      s.slices.mul_(decay);  // M_I ← μ M_I
    }
    if (!Mm.is_alias_of(M)) M.copy_(Mm.reshape(M.sizes()));  // a state that did not view
    const auto shape = T::matrix_shape(X[i], layout, kName);
    alphas.push_back(-o.lr() * T::shape_scale(o.shape_rule(), shape.first, shape.second));
    sel.push_back(std::move(s));
  }
  // O_I ≈ polar(M_I): the submatrices are (k, L) or batches (b, k, L).
  const auto O = T::polar_map_batched(sub, o.polar(), T::MatrixLayout{}, kName);
  std::vector<at::Tensor> D;  // the update in W's shape: O_I in the selected slices, 0 elsewhere
  for (size_t i = 0; i < items.size(); ++i) {
    const auto& s = sel[i];
    auto d = s.index.defined() ? at::zeros_like(s.slices).scatter_(-2, s.index, O[i]) : O[i];
    if (!s.rows) d = d.transpose(-2, -1);
    D.push_back(d.reshape(X[i].sizes()).contiguous());
  }
  fused::decay_and_apply_(X, D, o.lr(), o.weight_decay(), alphas,
                          o.cautious_weight_decay());  // W ← W(1 − ηλ) − η s D
}

}  // namespace specopt
