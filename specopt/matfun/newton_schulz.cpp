#include "specopt/matfun/newton_schulz.h"

#include <c10/util/Exception.h>

#include <cmath>

#include "specopt/matfun/aol.h"
#include "specopt/matfun/gram.h"
#include "specopt/matfun/validate.h"

namespace specopt {

NsSchedule NsSchedule::jordan() { return {"jordan", {{3.4445, -4.7750, 2.0315}}, 1.0}; }

NsSchedule NsSchedule::polar_express() {
  return {"polar_express",
          {{8.156554524902461, -22.48329292557795, 15.878769915207462},
           {4.042929935166739, -2.808917465908714, 0.5000178451051316},
           {3.8916678022926607, -2.772484153217685, 0.5060648178503393},
           {3.285753657755655, -2.3681294933425376, 0.46449024233003106},
           {2.3465413258596377, -1.7097828382687081, 0.42323551169305323}},
          1.02,
          std::array<double, 3>{1.875, -1.25, 0.375}};
}

NsSchedule NsSchedule::cubic() { return {"cubic", {{1.5, -0.5, 0.0}}, 1.0}; }

NsSchedule NsSchedule::turbo_muon() {
  return {"turbo_muon",
          {{3.9505, -6.3029, 2.6377},
           {3.7418, -5.5913, 2.3037},
           {2.8769, -3.1427, 1.2046},
           {2.8366, -3.0525, 1.2012}},
          1.0};
}

NsSchedule NsSchedule::custom(std::vector<std::array<double, 3>> coefficients, double norm_factor) {
  TORCH_CHECK(!coefficients.empty(), "NsSchedule::custom: the coefficient table is empty");
  for (size_t i = 0; i < coefficients.size(); ++i) {
    for (double c : coefficients[i]) {
      TORCH_CHECK(std::isfinite(c), "NsSchedule::custom: coefficient ", c, " in step ", i,
                  " is not finite");
    }
  }
  TORCH_CHECK(norm_factor > 0 && std::isfinite(norm_factor),
              "NsSchedule::custom: norm_factor must be positive, got ", norm_factor);
  return {"custom", std::move(coefficients), norm_factor};
}

std::vector<std::string> NsSchedule::names() {
  return {"jordan", "polar_express", "cubic", "turbo_muon"};
}

NsSchedule NsSchedule::from_name(const std::string& name) {
  if (name == "jordan") return jordan();
  if (name == "polar_express") return polar_express();
  if (name == "cubic") return cubic();
  if (name == "turbo_muon") return turbo_muon();
  TORCH_CHECK(false, "Unknown Newton-Schulz schedule '", name,
              "' (expected jordan, polar_express, cubic or turbo_muon)");
}

const std::array<double, 3>& NsSchedule::at_step(int step) const {
  TORCH_CHECK(!coefficients.empty(), "NsSchedule '", name, "' has no coefficients");
  if (static_cast<size_t>(step) >= coefficients.size() && tail.has_value()) return *tail;
  const size_t i = std::min<size_t>(static_cast<size_t>(step), coefficients.size() - 1);
  return coefficients[i];
}

double newton_schulz_flops(int64_t m, int64_t n, int steps, bool symmetric) {
  const double s = static_cast<double>(std::min(m, n)), l = static_cast<double>(std::max(m, n));
  // XXᵀ (2s²l, or 3/4 of it on the block path), A² (2s³ or 3/4 of it), B·X (2s²l).
  return symmetric ? steps * (3.5 * s * s * l + 1.5 * s * s * s)
                   : steps * (4.0 * s * s * l + 2.0 * s * s * s);
}

double newton_schulz_flops(const at::Tensor& G, int steps) {
  const bool sym = gram_uses_blocks(G.size(-2) <= G.size(-1) ? G : G.transpose(-2, -1));
  double batch = 1;
  for (int64_t i = 0; i + 2 < G.dim(); ++i) batch *= static_cast<double>(G.size(i));
  return batch * newton_schulz_flops(G.size(-2), G.size(-1), steps, sym);
}

namespace {
at::Tensor wide(const at::Tensor& X) { return is_wide(X) ? X : X.transpose(-2, -1).contiguous(); }

// beta·C + alpha·(A @ B) as one BLAS call: addmm for a matrix, baddbmm for a batch.
at::Tensor add_matmul(const at::Tensor& C, const at::Tensor& A, const at::Tensor& B, double beta,
                      double alpha) {
  if (C.dim() == 2) return at::addmm(C, A, B, beta, alpha);
  auto as3 = [](const at::Tensor& T) { return T.reshape({-1, T.size(-2), T.size(-1)}); };
  return at::baddbmm(as3(C), as3(A), as3(B), beta, alpha).reshape(C.sizes());
}
}  // namespace

at::Tensor newton_schulz(const at::Tensor& G, const NsSchedule& schedule, int steps, double eps,
                         at::ScalarType compute_dtype, bool aol) {
  detail::check_matrix(G, "newton_schulz");
  TORCH_CHECK(steps >= 1, "newton_schulz: steps must be >= 1, got ", steps);
  TORCH_CHECK(eps >= 0 && std::isfinite(eps), "newton_schulz: eps must be >= 0, got ", eps);
  TORCH_CHECK(!schedule.coefficients.empty(), "newton_schulz: schedule '", schedule.name,
              "' has no coefficients");
  // A batch of one runs as a matrix: on the CPU addmm/mm take about 10 % less time than
  // baddbmm/bmm on the same products (bf16, 2 threads, 5 steps on 768×3072: 73 against 81 ms),
  // and the optimizers hand each matrix over as a batch of one (docs/performance.md).
  if (G.dim() == 3 && G.size(0) == 1) {
    return newton_schulz(G[0], schedule, steps, eps, compute_dtype, aol).unsqueeze(0);
  }
  const bool tall = !is_wide(G);
  // Divide by the largest entry first so ‖X‖_F neither overflows nor underflows; after it
  // ‖X‖_F ≥ 1 and eps only guards the all-zero matrix.
  auto X = detail::to_scaled(G, detail::safe_scale(G), compute_dtype);
  X = wide(X);
  // A and B below are symmetric: for large m on CPU both skip their upper off-diagonal block.
  const bool symmetric_gram = gram_uses_blocks(X);
  auto gram = [&](const at::Tensor& Y) {
    return symmetric_gram ? gram_xxt(Y) : at::matmul(Y, Y.transpose(-2, -1));
  };
  auto start = newton_schulz_start(X, schedule, eps, aol);
  X = start.X;
  const at::Tensor first_gram = start.A;  // with aol: step 0's X Xᵀ, a by-product of the start
  for (int k = 0; k < steps; ++k) {
    const auto& c = schedule.at_step(k);
    // Quintic step on the wide side: A = XXᵀ (m×m), B = bA + cA², X = aX + BX.
    auto A = k == 0 && first_gram.defined() ? first_gram : gram(X);
    auto B = c[2] == 0.0            ? A * c[1]
             : symmetric_gram ? gram_xxt_add(A, A, c[1], c[2])
                              : add_matmul(A, A, A, c[1], c[2]);
    X = add_matmul(X, B, X, /*beta=*/c[0], /*alpha=*/1.0);
  }
  if (tall) X = X.transpose(-2, -1);
  return X.to(G.scalar_type()).contiguous();
}

at::Tensor reference_newton_schulz5(const at::Tensor& G) {
  detail::check_matrix(G, "reference_newton_schulz5");
  const double a = 3.4445, b = -4.7750, c = 2.0315;
  auto X = G;
  const bool tall = G.size(-2) > G.size(-1);
  if (tall) X = X.transpose(-2, -1);
  X = X / (at::linalg_vector_norm(X, 2, {-2, -1}, /*keepdim=*/true) + 1e-7);
  for (int k = 0; k < 5; ++k) {
    auto A = at::matmul(X, X.transpose(-2, -1));
    auto B = b * A + c * at::matmul(A, A);
    X = a * X + at::matmul(B, X);
  }
  if (tall) X = X.transpose(-2, -1);
  return X;
}

}  // namespace specopt
