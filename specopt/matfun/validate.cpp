#include "specopt/matfun/validate.h"

#include <c10/util/Exception.h>

namespace specopt {
namespace detail {

void check_matrix(const at::Tensor& G, const char* fn) {
  TORCH_CHECK(G.defined(), fn, ": input tensor is undefined");
  TORCH_CHECK(G.dim() >= 2, fn, ": expected a matrix or a batch of matrices (..., m, n), got shape ",
              G.sizes());
  TORCH_CHECK(at::isFloatingType(G.scalar_type()), fn,
              ": expected a floating-point tensor (float32, float64, bfloat16, float16), got ",
              G.scalar_type());
  TORCH_CHECK(G.size(-2) >= 1 && G.size(-1) >= 1, fn, ": matrix dimensions must be positive, got ",
              G.sizes());
  check_finite(G, fn);
}

void check_finite(const at::Tensor& G, const char* fn) {
  if (G.numel() == 0) return;
  // One fused reduction; only on failure do we look for the offending entry.
  if (at::isfinite(G).all().item<bool>()) return;
  auto flat = G.reshape({-1});
  auto bad = at::nonzero(at::logical_not(at::isfinite(flat)));
  const int64_t i = bad[0][0].item<int64_t>();
  TORCH_CHECK(false, fn, ": input has non-finite entries (", bad.size(0), " of ", flat.numel(),
              "; first at flat index ", i, ": ", flat[i].item<double>(), ")");
}

at::Tensor safe_scale(const at::Tensor& G) {
  auto s = G.abs().amax({-2, -1}, /*keepdim=*/true);
  return at::where(s > 0, s, at::ones_like(s));
}

at::Tensor is_zero_matrix(const at::Tensor& G) {
  return (G.abs().amax({-2, -1}, /*keepdim=*/true) == 0);
}

at::ScalarType lapack_dtype(at::ScalarType t) {
  return t == at::kDouble ? at::kDouble : at::kFloat;
}

}  // namespace detail
}  // namespace specopt
