#include "specopt/matfun/spectral_power.h"

#include <c10/util/Exception.h>

#include <cmath>

#include "specopt/matfun/coupled_newton.h"
#include "specopt/matfun/gram_eigh.h"
#include "specopt/matfun/spectral_map.h"
#include "specopt/matfun/validate.h"

namespace specopt {

std::string to_string(PowerMethod m) {
  switch (m) {
    case PowerMethod::automatic: return "auto";
    case PowerMethod::coupled_newton: return "coupled_newton";
    case PowerMethod::gram_eigh: return "gram_eigh";
    case PowerMethod::svd: return "svd";
  }
  return "?";
}

std::vector<std::string> power_method_names() {
  return {"auto", "coupled_newton", "gram_eigh", "svd"};
}

PowerMethod parse_power_method(const std::string& name) {
  return detail::parse_choice(name, "spectral power method",
                              {PowerMethod::automatic, PowerMethod::coupled_newton,
                               PowerMethod::gram_eigh, PowerMethod::svd});
}

void PowerOptions::validate() const {
  TORCH_CHECK(iters_ >= 1, "Invalid PowerOptions iters: ", iters_, " (must be >= 1)");
  TORCH_CHECK(tol_ > 0 && std::isfinite(tol_), "Invalid PowerOptions tol: ", tol_,
              " (must be > 0)");
  polar_.validate();
}

int halvings_of(double p) {
  if (!(p > 0 && p <= 0.5)) return -1;
  const double k = -std::log2(p);
  const double r = std::round(k);
  return std::abs(k - r) < 1e-12 ? static_cast<int>(r) : -1;
}

PowerMethod resolve_power_method(const at::Tensor& G, double p, const PowerOptions& options) {
  // gram_eigh on every device: the coupled iteration does ~90 s³ FLOPs per square root
  // against one s × s eigendecomposition, and is less accurate (docs/performance.md).
  return options.method() == PowerMethod::automatic ? PowerMethod::gram_eigh : options.method();
}

namespace {
PolarMethod polar_counterpart(PowerMethod m) {
  switch (m) {
    case PowerMethod::automatic: return PolarMethod::automatic;
    case PowerMethod::coupled_newton: return PolarMethod::newton_schulz;
    case PowerMethod::gram_eigh: return PolarMethod::gram_eigh;
    case PowerMethod::svd: return PolarMethod::svd;
  }
  return PolarMethod::automatic;
}

// Ψ_p from a Gram decomposition: Q diag(λ^{(p-1)/2}) Qᵀ G, then the scale taken out by
// gram_eig comes back as scale^p (Ψ_p(cG) = c^p Ψ_p(G)).
at::Tensor apply_power(const GramEig& e, double p) {
  return gram_apply(e, at::pow(e.lambda, (p - 1) / 2)) * at::pow(e.scale.to(e.G.scalar_type()), p);
}
}  // namespace

at::Tensor spectral_power(const at::Tensor& G, double p, const PowerOptions& options) {
  detail::check_matrix(G, "spectral_power");
  TORCH_CHECK(std::isfinite(p) && p >= 0 && p <= 1, "spectral_power: p must be in [0, 1], got ", p);
  options.validate();
  if (p == 0) {
    auto polar_options = options.polar();
    if (options.method() != PowerMethod::automatic || polar_options.method() == PolarMethod::automatic) {
      polar_options.method(polar_counterpart(options.method()));
    }
    if (options.compute_dtype()) polar_options.compute_dtype(options.compute_dtype());
    return polar(G, polar_options);
  }
  if (p == 1) return G.clone();
  const auto out_dtype = G.scalar_type();
  const auto lapack = detail::lapack_dtype(options.compute_dtype().value_or(out_dtype));
  switch (resolve_power_method(G, p, options)) {
    case PowerMethod::coupled_newton: {
      const int k = halvings_of(p);
      TORCH_CHECK(k >= 1, "spectral_power: method coupled_newton supports p = 1/2, 1/4, 1/8, ... "
                          "(repeated square roots); got p = ", p, ". Use gram_eigh or svd.");
      auto compute = options.compute_dtype().value_or(
          out_dtype == at::kDouble ? at::kDouble : at::kFloat);
      auto R = coupled_newton_power(G.to(compute), k, options.iters());
      TORCH_CHECK(at::isfinite(R).all().item<bool>(),
                  "spectral_power: coupled_newton overflowed (its released recipe forms OOᵀ "
                  "unscaled); rescale the input or use method gram_eigh");
      return R.to(out_dtype).contiguous();
    }
    case PowerMethod::gram_eigh: {
      auto e = options.method() == PowerMethod::automatic && !options.compute_dtype()
                   ? gram_eig_within(G, p, options.tol())
                   : gram_eig(G, lapack);
      return apply_power(e, p).to(out_dtype).contiguous();
    }
    case PowerMethod::svd:
      return spectral_map(G, [p](const at::Tensor& s) { return at::pow(s, p); },
                          SpectralMapMethod::svd);
    case PowerMethod::automatic:
      break;
  }
  TORCH_CHECK(false, "spectral_power: unresolved method");
}

}  // namespace specopt
