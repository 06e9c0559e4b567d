#pragma once
// Ψ_p(G) = U Σ^p Vᵀ for real p in [0, 1] (paper 3's spectral family).
#include <ATen/ATen.h>
#include <c10/util/Optional.h>
#include <torch/arg.h>

#include <string>
#include <vector>

#include <specopt/matfun/polar.h>

namespace specopt {

enum class PowerMethod {
  automatic,       // "auto"
  coupled_newton,  // paper 3's iteration; p must be 2^-k (½, ¼, ...)
  gram_eigh,       // small-side Gram eigendecomposition, any p
  svd,             // exact, any p
};

std::string to_string(PowerMethod m);
PowerMethod parse_power_method(const std::string& name);
std::vector<std::string> power_method_names();

struct PowerOptions {
  PowerOptions() = default;
  TORCH_ARG(PowerMethod, method) = PowerMethod::automatic;
  // coupled_newton: iterations per square root (15 as released).
  TORCH_ARG(int, iters) = 15;
  // auto: target relative Frobenius error against the exact U Σ^p Vᵀ.
  TORCH_ARG(double, tol) = 1e-3;
  TORCH_ARG(c10::optional<at::ScalarType>, compute_dtype) = c10::nullopt;
  // Used for p = 0, which is the polar factor. The power method maps onto it: svd → svd,
  // gram_eigh → gram_eigh, coupled_newton → newton_schulz, auto → auto.
  TORCH_ARG(PolarOptions, polar) = {};

 public:
  void validate() const;
};

// U Σ^p Vᵀ for G (..., m, n); p = 0 is `polar`, p = 1 returns G (a copy). Throws for p
// outside [0, 1], non-finite input, or coupled_newton with p not a power of ½.
at::Tensor spectral_power(const at::Tensor& G, double p, const PowerOptions& options = {});

// What `auto` picks before any precision fallback (gram_eigh on every device today).
PowerMethod resolve_power_method(const at::Tensor& G, double p, const PowerOptions& options);

// k with p = 2^-k, or -1 when p is not a power of ½ (within 1e-12).
int halvings_of(double p);

}  // namespace specopt
