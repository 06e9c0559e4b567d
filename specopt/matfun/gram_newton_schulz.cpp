#include "specopt/matfun/gram_newton_schulz.h"

#include <c10/util/Exception.h>

#include <algorithm>
#include <cmath>

#include "specopt/matfun/aol.h"
#include "specopt/matfun/gram.h"
#include "specopt/matfun/validate.h"

namespace specopt {

int gram_newton_schulz_restart_interval(at::ScalarType compute_dtype) {
  // Measured (docs/performance.md): in float32 a restart every 2 steps keeps the Gram route
  // within 1e-4 of the plain iteration at 0.75 of its FLOPs (every 3: 0.63 of the FLOPs, but
  // 1e-3 after Polar Express's steep first steps); float64 within 1e-12. In bfloat16 the
  // rounding of R (4e-3 of ‖R‖ a step) grows to O(1) errors at every interval ≥ 2, so
  // bf16/fp16 restart before every step: the plain iteration.
  return compute_dtype == at::kBFloat16 || compute_dtype == at::kHalf ? 1 : 2;
}

namespace {

int effective_restart(int restart_every, at::ScalarType compute_dtype) {
  return restart_every > 0 ? restart_every : gram_newton_schulz_restart_interval(compute_dtype);
}

bool restarts_before(int step, int restart_every) {
  return step > 0 && restart_every > 0 && step % restart_every == 0;
}

}  // namespace

double gram_newton_schulz_flops(int64_t m, int64_t n, int steps, int restart_every,
                                bool symmetric) {
  const double s = static_cast<double>(std::min(m, n)), l = static_cast<double>(std::max(m, n));
  const double w = symmetric ? 0.75 : 1.0;  // share of a symmetric product actually computed
  const double gram = 2 * s * s * l, square = 2 * s * s * s, apply = 2 * s * s * l;
  double flops = w * gram + apply;  // R₀ and the final Q X₀
  for (int k = 0; k < steps; ++k) {
    const bool fresh = k == 0 || restarts_before(k, restart_every);
    if (fresh && k > 0) flops += apply + w * gram;  // X = Q X₀, R = X Xᵀ
    flops += w * square;                            // R²
    if (!fresh) flops += w * square;                // Q·Z
    if (k + 1 < steps && !restarts_before(k + 1, restart_every)) flops += 2 * w * square;
  }
  return flops;
}

bool gram_newton_schulz_pays(const at::Tensor& G, int steps, at::ScalarType compute_dtype,
                             int restart_every) {
  const int64_t m = G.size(-2), n = G.size(-1);
  const bool sym = gram_uses_blocks(is_wide(G) ? G : G.transpose(-2, -1));
  const int r = effective_restart(restart_every, compute_dtype);
  return gram_newton_schulz_flops(m, n, steps, r, sym) < newton_schulz_flops(m, n, steps, sym);
}

double gram_newton_schulz_flops(const at::Tensor& G, int steps, at::ScalarType compute_dtype,
                                int restart_every) {
  if (!gram_newton_schulz_pays(G, steps, compute_dtype, restart_every)) {
    return newton_schulz_flops(G, steps);
  }
  const bool sym = gram_uses_blocks(is_wide(G) ? G : G.transpose(-2, -1));
  double batch = 1;
  for (int64_t i = 0; i + 2 < G.dim(); ++i) batch *= static_cast<double>(G.size(i));
  return batch * gram_newton_schulz_flops(G.size(-2), G.size(-1), steps,
                                          effective_restart(restart_every, compute_dtype), sym);
}

at::Tensor gram_newton_schulz(const at::Tensor& G, const NsSchedule& schedule, int steps,
                              double eps, at::ScalarType compute_dtype, int restart_every,
                              bool aol) {
  detail::check_matrix(G, "gram_newton_schulz");
  TORCH_CHECK(steps >= 1, "gram_newton_schulz: steps must be >= 1, got ", steps);
  TORCH_CHECK(eps >= 0 && std::isfinite(eps), "gram_newton_schulz: eps must be >= 0, got ", eps);
  TORCH_CHECK(restart_every >= 0, "gram_newton_schulz: restart_every must be >= 0, got ",
              restart_every);
  TORCH_CHECK(!schedule.coefficients.empty(), "gram_newton_schulz: schedule '", schedule.name,
              "' has no coefficients");
  if (!gram_newton_schulz_pays(G, steps, compute_dtype, restart_every)) {
    return newton_schulz(G, schedule, steps, eps, compute_dtype, aol);
  }
  const int restart = effective_restart(restart_every, compute_dtype);
  const bool tall = !is_wide(G);
  // The same scaling and normalisation as newton_schulz, so both start from the same X₀.
  auto X = detail::to_scaled(G, detail::safe_scale(G), compute_dtype);
  if (tall) X = X.transpose(-2, -1).contiguous();
  auto start = newton_schulz_start(X, schedule, eps, aol);
  X = start.X;
  at::Tensor R = start.A.defined() ? start.A : gram_xxt(X), Q;

  // Invariant: the plain iterate is Q X (Q = I while undefined); R = (Q X)(Q X)ᵀ. Q, R, Z
  // are polynomials in X Xᵀ, hence symmetric and commuting: every m × m product below has a
  // symmetric result and takes the block path where it pays.
  for (int k = 0; k < steps; ++k) {
    const auto& c = schedule.at_step(k);
    if (restarts_before(k, restart)) {
      X = at::matmul(Q, X);
      R = gram_xxt(X);
      Q = at::Tensor();
    }
    // One step multiplies the iterate by P = aI + Z, Z = bR + cR².
    auto Z = c[2] == 0.0 ? R * c[1] : symmetric_product(R, R, R, c[1], c[2]);
    if (Q.defined()) {
      Q = symmetric_product(Q, Z, Q, /*beta=*/c[0], /*alpha=*/1.0);  // Q P
    } else {
      Q = Z.clone();
      Q.diagonal(0, -2, -1).add_(c[0]);  // P
    }
    if (k + 1 < steps && !restarts_before(k + 1, restart)) {
      auto RP = symmetric_product(R, Z, R, c[0], 1.0);  // R P
      R = symmetric_product(Z, RP, RP, c[0], 1.0);      // P R P
    }
  }
  X = at::matmul(Q, X);
  if (tall) X = X.transpose(-2, -1);
  return X.to(G.scalar_type()).contiguous();
}

}  // namespace specopt
