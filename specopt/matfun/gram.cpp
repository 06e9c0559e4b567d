#include "specopt/matfun/gram.h"

#include <c10/util/Exception.h>

namespace specopt {

at::Tensor gram_xxt_reference(const at::Tensor& X) { return at::matmul(X, X.transpose(-2, -1)); }

at::Tensor gram_xxt_add_reference(const at::Tensor& C, const at::Tensor& X, double beta,
                                  double alpha) {
  return beta * C + alpha * at::matmul(X, X.transpose(-2, -1));
}

bool gram_uses_blocks(const at::Tensor& X) {
  return X.device().is_cpu() && X.size(-2) >= 512 && at::isFloatingType(X.scalar_type());
}

namespace {
// beta·out + alpha·Xi Xjᵀ written into the view `out` (2-D or batched 3-D).
void product_into(at::Tensor out, const at::Tensor& Xi, const at::Tensor& Xj, double beta,
                  double alpha) {
  auto XjT = Xj.transpose(-2, -1);
  if (out.dim() == 2) {
    at::addmm_out(out, out, Xi, XjT, beta, alpha);
  } else {
    at::baddbmm_out(out, out, Xi, XjT, beta, alpha);
  }
}

// beta·C + alpha·X Xᵀ on a 2 × 2 block grid: blocks (0,0), (1,0), (1,1) by GEMM, block (0,1)
// copied from (1,0)ᵀ. C undefined means beta = 0.
at::Tensor blocked_gram(const at::Tensor& X, const at::Tensor& C, double beta, double alpha) {
  const int64_t m = X.size(-2), n = X.size(-1), h = m / 2;
  auto X3 = X.reshape({-1, m, n});
  // With beta = 0 the GEMMs ignore what `out` holds (ATen's addmm contract), so no memset.
  at::Tensor out = C.defined() ? C.reshape({-1, m, m}).clone(at::MemoryFormat::Contiguous)
                               : at::empty({X3.size(0), m, m}, X.options());
  if (!C.defined()) beta = 0;
  auto O = X3.size(0) == 1 ? out.select(0, 0) : out;
  auto Xs = X3.size(0) == 1 ? X3.select(0, 0) : X3;
  auto top = Xs.narrow(-2, 0, h), bottom = Xs.narrow(-2, h, m - h);
  auto block = [&](int64_t r0, int64_t r, int64_t c0, int64_t c) {
    return O.narrow(-2, r0, r).narrow(-1, c0, c);
  };
  product_into(block(0, h, 0, h), top, top, beta, alpha);
  product_into(block(h, m - h, 0, h), bottom, top, beta, alpha);
  product_into(block(h, m - h, h, m - h), bottom, bottom, beta, alpha);
  block(0, h, h, m - h).copy_(block(h, m - h, 0, h).transpose(-2, -1));
  std::vector<int64_t> shape(X.sizes().begin(), X.sizes().end() - 1);
  shape.push_back(m);
  return out.reshape(shape);
}
}  // namespace

at::Tensor gram_xxt(const at::Tensor& X) {
  if (gram_uses_blocks(X)) return blocked_gram(X, at::Tensor(), 0.0, 1.0);
  return gram_xxt_reference(X);
}

at::Tensor gram_xxt_add(const at::Tensor& C, const at::Tensor& X, double beta, double alpha) {
  TORCH_CHECK(C.dim() >= 2 && C.size(-1) == X.size(-2) && C.size(-2) == X.size(-2),
              "gram_xxt_add: C must be (..., m, m) for X of shape (..., m, n); got C ", C.sizes(),
              " and X ", X.sizes());
  const bool same_batch = C.sizes().slice(0, C.dim() - 2) == X.sizes().slice(0, X.dim() - 2);
  if (gram_uses_blocks(X) && same_batch) return blocked_gram(X, C, beta, alpha);
  return gram_xxt_add_reference(C, X, beta, alpha);
}

}  // namespace specopt
