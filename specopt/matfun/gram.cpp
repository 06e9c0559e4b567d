#include "specopt/matfun/gram.h"

#include <c10/util/Exception.h>

namespace specopt {

at::Tensor gram_xxt_reference(const at::Tensor& X) { return at::matmul(X, X.transpose(-2, -1)); }

at::Tensor gram_xxt_add_reference(const at::Tensor& C, const at::Tensor& X, double beta,
                                  double alpha) {
  return beta * C + alpha * at::matmul(X, X.transpose(-2, -1));
}

bool gram_uses_blocks(const at::Tensor& X) {
  // float32/float64 only: bf16 products on blocks of a larger output (strided) leave oneDNN's
  // fast path, and even into contiguous blocks they lost to one GEMM (docs/performance.md).
  const auto t = X.scalar_type();
  return X.device().is_cpu() && X.size(-2) >= 512 && (t == at::kFloat || t == at::kDouble);
}

namespace {
// beta·out + alpha·Ai Bjᵀ written into the view `out` (2-D or batched 3-D).
void product_into(at::Tensor out, const at::Tensor& Ai, const at::Tensor& Bj, double beta,
                  double alpha) {
  auto BjT = Bj.transpose(-2, -1);
  if (out.dim() == 2) {
    at::addmm_out(out, out, Ai, BjT, beta, alpha);
  } else {
    at::baddbmm_out(out, out, Ai, BjT, beta, alpha);
  }
}

// beta·C + alpha·A Bᵀ (a symmetric result) on a 2 × 2 block grid: blocks (0,0), (1,0), (1,1)
// by GEMM, block (0,1) copied from (1,0)ᵀ. C undefined means beta = 0.
at::Tensor blocked_product(const at::Tensor& A, const at::Tensor& B, const at::Tensor& C,
                           double beta, double alpha) {
  const int64_t m = A.size(-2), k = A.size(-1), h = m / 2;
  auto A3 = A.reshape({-1, m, k});
  auto B3 = B.reshape({-1, m, k});
  // With beta = 0 the GEMMs ignore what `out` holds (ATen's addmm contract), so no memset.
  at::Tensor out = C.defined() ? C.reshape({-1, m, m}).clone(at::MemoryFormat::Contiguous)
                               : at::empty({A3.size(0), m, m}, A.options());
  if (!C.defined()) beta = 0;
  const bool single = A3.size(0) == 1;
  auto O = single ? out.select(0, 0) : out;
  auto As = single ? A3.select(0, 0) : A3;
  auto Bs = single ? B3.select(0, 0) : B3;
  auto rows = [](const at::Tensor& T, int64_t r0, int64_t r) { return T.narrow(-2, r0, r); };
  auto block = [&](int64_t r0, int64_t r, int64_t c0, int64_t c) {
    return O.narrow(-2, r0, r).narrow(-1, c0, c);
  };
  product_into(block(0, h, 0, h), rows(As, 0, h), rows(Bs, 0, h), beta, alpha);
  product_into(block(h, m - h, 0, h), rows(As, h, m - h), rows(Bs, 0, h), beta, alpha);
  product_into(block(h, m - h, h, m - h), rows(As, h, m - h), rows(Bs, h, m - h), beta, alpha);
  block(0, h, h, m - h).copy_(block(h, m - h, 0, h).transpose(-2, -1));
  std::vector<int64_t> shape(A.sizes().begin(), A.sizes().end() - 1);
  shape.push_back(m);
  return out.reshape(shape);
}

bool same_batch(const at::Tensor& X, const at::Tensor& Y) {
  return X.sizes().slice(0, X.dim() - 2) == Y.sizes().slice(0, Y.dim() - 2);
}
}  // namespace

at::Tensor symmetric_product_reference(const at::Tensor& A, const at::Tensor& B,
                                       const at::Tensor& C, double beta, double alpha) {
  auto P = at::matmul(A, B.transpose(-2, -1));
  return C.defined() ? beta * C + alpha * P : alpha * P;
}

at::Tensor symmetric_product(const at::Tensor& A, const at::Tensor& B, const at::Tensor& C,
                             double beta, double alpha) {
  TORCH_CHECK(A.dim() >= 2 && A.sizes() == B.sizes(),
              "symmetric_product: A and B must have the same shape (..., m, k); got A ",
              A.sizes(), " and B ", B.sizes());
  TORCH_CHECK(!C.defined() || (C.dim() >= 2 && C.size(-1) == A.size(-2) &&
                               C.size(-2) == A.size(-2)),
              "symmetric_product: C must be (..., m, m) for A of shape (..., m, k); got C ",
              C.sizes(), " and A ", A.sizes());
  if (gram_uses_blocks(A) && (!C.defined() || same_batch(C, A))) {
    return blocked_product(A, B, C, beta, alpha);
  }
  return symmetric_product_reference(A, B, C, beta, alpha);
}

at::Tensor gram_xxt(const at::Tensor& X) {
  if (gram_uses_blocks(X)) return blocked_product(X, X, at::Tensor(), 0.0, 1.0);
  return gram_xxt_reference(X);
}

at::Tensor gram_xxt_add(const at::Tensor& C, const at::Tensor& X, double beta, double alpha) {
  TORCH_CHECK(C.dim() >= 2 && C.size(-1) == X.size(-2) && C.size(-2) == X.size(-2),
              "gram_xxt_add: C must be (..., m, m) for X of shape (..., m, n); got C ", C.sizes(),
              " and X ", X.sizes());
  if (gram_uses_blocks(X) && same_batch(C, X)) return blocked_product(X, X, C, beta, alpha);
  return gram_xxt_add_reference(C, X, beta, alpha);
}

}  // namespace specopt
