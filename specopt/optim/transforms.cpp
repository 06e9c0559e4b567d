#include <specopt/optim/transforms.h>

#include <c10/util/Exception.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <tuple>

#include <specopt/matfun/newton_schulz.h>
#include <specopt/matfun/validate.h>

namespace specopt {
namespace transforms {

at::Tensor& ema_(at::Tensor& buf, const at::Tensor& x, double beta, double scale) {
  return buf.mul_(beta).add_(x, (1.0 - beta) * scale);
}

at::Tensor& heavy_ball_(at::Tensor& buf, const at::Tensor& x, double mu) {
  return buf.mul_(mu).add_(x);
}

at::Tensor& heavy_ball_init_(at::Tensor& buf, const at::Tensor& x, double mu) {
  if (!buf.defined()) {
    buf = x.clone();
    return buf;
  }
  return heavy_ball_(buf, x, mu);
}

at::Tensor& ema_sq_(at::Tensor& v, const at::Tensor& x, double beta) {
  return v.mul_(beta).addcmul_(x, x, 1.0 - beta);
}

at::Tensor interpolate(const at::Tensor& a, const at::Tensor& b, double beta, double scale) {
  return at::add(a * beta, b, (1.0 - beta) * scale);
}

at::Tensor nesterov(const at::Tensor& g, const at::Tensor& buf, double mu) {
  return at::add(g, buf, mu);
}

at::Tensor rms_normalize(const at::Tensor& m, const at::Tensor& v, int64_t step, double beta1,
                         double beta2, double eps) {
  TORCH_CHECK(step >= 1, "rms_normalize: step must be >= 1, got ", step);
  const double bc1 = 1.0 - std::pow(beta1, static_cast<double>(step));
  const double bc2 = 1.0 - std::pow(beta2, static_cast<double>(step));
  // (m / bc1) / (sqrt(v / bc2) + eps), written out as in paper 3.
  return (m / bc1) / ((v / bc2).sqrt_().add_(eps));
}

at::Tensor as_matrices(const at::Tensor& X, const MatrixLayout& layout, const std::string& who) {
  const int64_t d = X.dim();
  if (d <= 1) {
    TORCH_CHECK(layout.allow_vectors, who, ": a parameter of shape ", X.sizes(),
                " is not a matrix. 0-D and 1-D parameters (biases, norm gains) belong to an "
                "element-wise optimizer such as specopt::AdamW; put them in a separate "
                "optimizer.");
    return X.reshape({1, d == 0 ? 1 : X.size(0)});
  }
  if (d == 2) {
    if (layout.split_qkv && X.size(0) == 3 * X.size(1)) {
      // Rows [0, n), [n, 2n), [2n, 3n) are Q, K, V: a batch of three (n, n) blocks.
      return X.reshape({3, X.size(1), X.size(1)});
    }
    return X;
  }
  if (d == 3) return X;  // a batch of matrices
  return X.reshape({X.size(0), -1});  // conv weight (out, in·kh·kw)
}

std::pair<int64_t, int64_t> matrix_shape(const at::Tensor& X, const MatrixLayout& layout,
                                         const std::string& who) {
  // as_matrices only views/reshapes (no copy for contiguous X), so this is cheap.
  const auto M = as_matrices(X, layout, who);
  return {M.size(-2), M.size(-1)};
}

double elementwise_update_flops(const at::Tensor& X) {
  // Element-wise updates (Adam-like) cost a handful of FLOPs per element; the exact figure only
  // matters relative to the Newton–Schulz FLOPs of the matrices.
  constexpr double kFlopsPerElement = 10.0;
  return kFlopsPerElement * static_cast<double>(X.numel());
}

double spectral_update_flops(const at::Tensor& X, const MatrixLayout& layout) {
  constexpr int kNsSteps = 5;
  const double elementwise = elementwise_update_flops(X);
  if (X.dim() < 2 || X.numel() == 0) return elementwise;
  MatrixLayout matrices = layout;
  matrices.allow_vectors = true;
  const auto rc = matrix_shape(X, matrices, "update cost");
  const int64_t per = rc.first * rc.second;
  const double batch = static_cast<double>(X.numel()) / static_cast<double>(per);
  return elementwise + batch * newton_schulz_flops(std::min(rc.first, rc.second),
                                                   std::max(rc.first, rc.second), kNsSteps);
}

at::Tensor map_matrices(const at::Tensor& X, const MatrixLayout& layout, const std::string& who,
                        const std::function<at::Tensor(const at::Tensor&)>& f) {
  const auto M = as_matrices(X, layout, who);
  auto out = f(M);
  TORCH_CHECK(out.sizes() == M.sizes(), who, ": matrix function changed the shape ", M.sizes(),
              " to ", out.sizes());
  return out.reshape(X.sizes());
}

std::vector<at::Tensor> map_matrices_batched(
    const std::vector<at::Tensor>& Xs, const MatrixLayout& layout, const std::string& who,
    const std::function<at::Tensor(const at::Tensor&)>& f, bool transpose_equivariant,
    bool batch_on_cpu) {
  struct Member {
    size_t index;
    at::Tensor M;  // (k, r, c), oriented as the batch
    bool transposed;
  };
  std::vector<at::Tensor> out(Xs.size());
  // Key: oriented (rows, cols), dtype, device, and on CPU the tensor's own index: there one
  // call per tensor is faster (measured: 5 Newton–Schulz steps on 12 matrices 768×768 took
  // 1.39× (float32) and 1.48× (bf16) longer as one batch than one by one, docs/performance.md),
  // while on accelerators one batched call saves a launch sequence per matrix. A std::map keeps
  // the call order deterministic.
  std::map<std::tuple<int64_t, int64_t, int, std::string, size_t>, std::vector<Member>> batches;
  for (size_t i = 0; i < Xs.size(); ++i) {
    auto M = as_matrices(Xs[i], layout, who);
    M = M.reshape({-1, M.size(-2), M.size(-1)});
    const bool transpose = transpose_equivariant && M.size(-2) > M.size(-1);
    if (transpose) M = M.transpose(-2, -1);
    const auto key = std::make_tuple(M.size(-2), M.size(-1), static_cast<int>(M.scalar_type()),
                                     M.device().str(),
                                     M.device().is_cpu() && !batch_on_cpu ? i : size_t(0));
    batches[key].push_back({i, M, transpose});
  }
  for (auto& [key, members] : batches) {
    std::vector<at::Tensor> parts;
    for (const auto& m : members) parts.push_back(m.M);
    // A lone matrix goes as is (no copy into a batch).
    const auto batch = parts.size() == 1 ? parts.front() : at::cat(parts, 0);
    const auto result = f(batch);
    TORCH_CHECK(result.sizes() == batch.sizes(), who, ": matrix function changed the shape ",
                batch.sizes(), " to ", result.sizes());
    int64_t offset = 0;
    for (const auto& m : members) {
      const int64_t k = m.M.size(0);
      auto O = result.narrow(0, offset, k);
      offset += k;
      if (m.transposed) O = O.transpose(-2, -1);
      out[m.index] = O.reshape(Xs[m.index].sizes());
    }
  }
  return out;
}

std::vector<at::Tensor> polar_map_batched(const std::vector<at::Tensor>& Xs,
                                          const PolarOptions& options, const MatrixLayout& layout,
                                          const std::string& who, bool batch_on_cpu) {
  return map_matrices_batched(
      Xs, layout, who, [&](const at::Tensor& M) { return polar(M, options); },
      /*transpose_equivariant=*/true, batch_on_cpu);
}

std::vector<at::Tensor> power_map_batched(const std::vector<at::Tensor>& Xs, double p,
                                          const PowerOptions& options, const MatrixLayout& layout,
                                          const std::string& who, bool batch_on_cpu) {
  if (p == 1.0) {  // Ψ_1 is the identity for every shape
    std::vector<at::Tensor> out;
    for (const auto& X : Xs) out.push_back(X.clone());
    return out;
  }
  return map_matrices_batched(
      Xs, layout, who, [&](const at::Tensor& M) { return spectral_power(M, p, options); },
      /*transpose_equivariant=*/true, batch_on_cpu);
}

at::Tensor polar_map(const at::Tensor& X, const PolarOptions& options, const MatrixLayout& layout,
                     const std::string& who) {
  return map_matrices(X, layout, who, [&](const at::Tensor& M) { return polar(M, options); });
}

at::Tensor power_map(const at::Tensor& X, double p, const PowerOptions& options,
                     const MatrixLayout& layout, const std::string& who) {
  if (p == 1.0) return X.clone();  // Ψ_1 is the identity for every shape
  return map_matrices(X, layout, who,
                      [&](const at::Tensor& M) { return spectral_power(M, p, options); });
}

at::Tensor convex_map_grad(const at::Tensor& X, const ConvexMap& map, const MatrixLayout& layout,
                           const std::string& who) {
  return map_matrices(X, layout, who, [&](const at::Tensor& M) { return map.grad(M); });
}

std::string to_string(ShapeRule r) {
  switch (r) {
    case ShapeRule::original:
      return "original";
    case ShapeRule::match_rms_adamw:
      return "match_rms_adamw";
    case ShapeRule::none:
      return "none";
    case ShapeRule::spectral_norm:
      return "spectral_norm";
  }
  return "?";
}

ShapeRule parse_shape_rule(const std::string& name) {
  return detail::parse_choice(name, "shape_rule",
                              {ShapeRule::original, ShapeRule::match_rms_adamw, ShapeRule::none,
                               ShapeRule::spectral_norm});
}

std::vector<std::string> shape_rule_names() {
  return {"original", "match_rms_adamw", "none", "spectral_norm"};
}

double shape_scale(ShapeRule rule, int64_t rows, int64_t cols) {
  TORCH_CHECK(rows > 0 && cols > 0, "shape_scale: empty matrix shape (", rows, ", ", cols, ")");
  switch (rule) {
    case ShapeRule::original:
      return std::sqrt(std::max(1.0, static_cast<double>(rows) / static_cast<double>(cols)));
    case ShapeRule::match_rms_adamw:
      return 0.2 * std::sqrt(static_cast<double>(std::max(rows, cols)));
    case ShapeRule::none:
      return 1.0;
    case ShapeRule::spectral_norm:
      return std::sqrt(static_cast<double>(rows) / static_cast<double>(cols));
  }
  return 1.0;
}

at::Tensor& decoupled_weight_decay_(at::Tensor& X, double lr, double weight_decay) {
  if (lr * weight_decay != 0.0) X.mul_(1.0 - lr * weight_decay);
  return X;
}

at::Tensor& cautious_weight_decay_(at::Tensor& X, const at::Tensor& u, double lr,
                                   double weight_decay) {
  if (lr * weight_decay == 0.0) return X;
  const auto agree = (u * X).ge(0).to(X.scalar_type());  // 1[u ⊙ X ≥ 0]
  return X.mul_(1.0 - lr * weight_decay * agree);
}

at::Tensor& implicit_weight_decay_(at::Tensor& X, double lr, double weight_decay) {
  if (lr * weight_decay != 0.0) X.div_(1.0 + lr * weight_decay);
  return X;
}

at::Tensor& apply_update_(at::Tensor& X, const at::Tensor& U, double alpha) {
  return X.add_(U, alpha);
}

}  // namespace transforms
}  // namespace specopt
