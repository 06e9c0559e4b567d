#include "specopt/matfun/polar.h"

#include <c10/util/Exception.h>

#include <cmath>
#include <limits>

#include "specopt/matfun/gram_eigh.h"
#include "specopt/matfun/gram_newton_schulz.h"
#include "specopt/matfun/validate.h"

namespace specopt {

std::string to_string(PolarMethod m) {
  switch (m) {
    case PolarMethod::automatic: return "auto";
    case PolarMethod::newton_schulz: return "newton_schulz";
    case PolarMethod::gram_eigh: return "gram_eigh";
    case PolarMethod::svd: return "svd";
    case PolarMethod::gram_newton_schulz: return "gram_newton_schulz";
  }
  return "?";
}

std::vector<std::string> polar_method_names() {
  return {"auto", "newton_schulz", "gram_newton_schulz", "gram_eigh", "svd"};
}

PolarMethod parse_polar_method(const std::string& name) {
  return detail::parse_choice(name, "polar method",
                              {PolarMethod::automatic, PolarMethod::newton_schulz,
                               PolarMethod::gram_newton_schulz, PolarMethod::gram_eigh,
                               PolarMethod::svd});
}

void PolarOptions::validate() const {
  TORCH_CHECK(steps_ >= 1, "Invalid PolarOptions steps: ", steps_, " (must be >= 1)");
  // steps belongs to Newton–Schulz; `auto` would pick a method silently and ignore it.
  TORCH_CHECK(method_ != PolarMethod::automatic || steps_ == PolarOptions().steps(),
              "Invalid PolarOptions: steps(", steps_, ") with method auto (auto chooses the method "
              "and would ignore steps); set method(PolarMethod::newton_schulz) to run ", steps_,
              " Newton-Schulz steps, or another method without steps");
  TORCH_CHECK(eps_ >= 0 && std::isfinite(eps_), "Invalid PolarOptions eps: ", eps_,
              " (must be >= 0)");
  TORCH_CHECK(ridge_ >= 0 && std::isfinite(ridge_), "Invalid PolarOptions ridge: ", ridge_,
              " (must be >= 0)");
  TORCH_CHECK(tol_ > 0 && std::isfinite(tol_), "Invalid PolarOptions tol: ", tol_,
              " (must be > 0)");
  TORCH_CHECK(!aol_ || method_ == PolarMethod::newton_schulz ||
                  method_ == PolarMethod::gram_newton_schulz,
              "Invalid PolarOptions: aol(true) with method ", to_string(method_),
              " (AOL preconditions the Newton-Schulz iteration; set method(newton_schulz) or "
              "method(gram_newton_schulz))");
  TORCH_CHECK(!schedule_.coefficients.empty(), "Invalid PolarOptions schedule '", schedule_.name,
              "': no coefficients");
}

bool fast_bf16_matmul(const at::Device& device) {
  if (device.is_cuda()) return true;
  if (!device.is_cpu()) return false;
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
  static const bool cpu = __builtin_cpu_supports("avx512bf16") || __builtin_cpu_supports("amx-bf16");
  return cpu;
#else
  return false;
#endif
}

PolarMethod resolve_polar_method(const at::Tensor& G, const PolarOptions& options) {
  if (options.method() != PolarMethod::automatic) return options.method();
  // CPU: one small-side eigendecomposition beats five Newton–Schulz steps and is accurate
  // (docs/performance.md). CUDA: eigensolvers are slow and matmuls fast, so Newton–Schulz
  // serves loose targets (optimizer updates); tight targets need the eigendecomposition.
  if (G.device().is_cpu()) return PolarMethod::gram_eigh;
  return options.tol() >= 0.1 ? PolarMethod::newton_schulz : PolarMethod::gram_eigh;
}

namespace {

// The arithmetic dtype of the Newton–Schulz methods: compute_dtype when set; else bf16 where
// asked for and native, float64 for float64 input, float32 otherwise.
at::ScalarType newton_schulz_dtype(const at::Tensor& G, const PolarOptions& options) {
  const auto out_dtype = G.scalar_type();
  const bool bf16 =
      options.bf16_where_fast() && out_dtype != at::kDouble && fast_bf16_matmul(G.device());
  return options.compute_dtype().value_or(
      out_dtype == at::kDouble ? at::kDouble : bf16 ? at::kBFloat16 : at::kFloat);
}

at::Tensor polar_from(const GramEig& e, double ridge) {
  auto lam = e.lambda;
  if (ridge > 0) lam = lam + ridge * lam.narrow(-1, lam.size(-1) - 1, 1);
  return gram_apply(e, at::rsqrt(lam));
}

at::Tensor polar_svd(const at::Tensor& G, at::ScalarType compute) {
  auto X = detail::to_scaled(G, detail::safe_scale(G), compute);
  auto svd = at::linalg_svd(X, /*full_matrices=*/false);
  auto S = std::get<1>(svd);
  auto smax = std::get<0>(S.max(-1, /*keepdim=*/true));
  auto keep = (S > smax * detail::rank_rcond(G, compute)).to(compute);
  return at::matmul(std::get<0>(svd) * keep.unsqueeze(-2), std::get<2>(svd));
}

}  // namespace

at::Tensor polar(const at::Tensor& G, const PolarOptions& options) {
  detail::check_matrix(G, "polar");
  options.validate();
  const auto out_dtype = G.scalar_type();
  const auto lapack = detail::lapack_dtype(options.compute_dtype().value_or(out_dtype));
  const auto method = resolve_polar_method(G, options);
  switch (method) {
    case PolarMethod::newton_schulz:
    case PolarMethod::gram_newton_schulz: {
      const auto compute = newton_schulz_dtype(G, options);
      auto schedule = options.method() == PolarMethod::automatic ? NsSchedule::polar_express()
                                                                 : options.schedule();
      return method == PolarMethod::newton_schulz
                 ? newton_schulz(G, schedule, options.steps(), options.eps(), compute, options.aol())
                 : gram_newton_schulz(G, schedule, options.steps(), options.eps(), compute,
                                      /*restart_every=*/0, options.aol());
    }
    case PolarMethod::gram_eigh: {
      // auto picks the precision from the computed spectrum (float32 when it meets tol).
      auto e = options.method() == PolarMethod::automatic && !options.compute_dtype()
                   ? gram_eig_within(G, 0.0, options.tol())
                   : gram_eig(G, lapack);
      return polar_from(e, options.ridge()).to(out_dtype).contiguous();
    }
    case PolarMethod::svd:
      // The exact method: float64 unless the caller asks otherwise (a float32 SVD is only
      // accurate to ≈ eps·κ).
      return polar_svd(G, options.compute_dtype() ? lapack : at::kDouble).to(out_dtype).contiguous();
    case PolarMethod::automatic:
      break;
  }
  TORCH_CHECK(false, "polar: unresolved method");
}

}  // namespace specopt
