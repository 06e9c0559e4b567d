#pragma once
// The polar factor U Vᵀ of G = U Σ Vᵀ ("msign", the zeroth spectral power).
#include <ATen/ATen.h>
#include <c10/util/Optional.h>
#include <torch/arg.h>

#include <string>
#include <vector>

#include <specopt/matfun/newton_schulz.h>

namespace specopt {

enum class PolarMethod {
  automatic,      // "auto": the fastest method that meets `tol` on the tensor's device
  newton_schulz,  // odd-polynomial iteration: matmuls only, approximate by design
  gram_eigh,      // eigendecomposition of the small-side Gram matrix
  svd,            // exact (LAPACK / cuSOLVER)
  // The Newton–Schulz polynomials applied through the small-side Gram matrix with restarts
  // (gram_newton_schulz.h): the same result as newton_schulz in fewer FLOPs when m ≠ n.
  gram_newton_schulz,
};

std::string to_string(PolarMethod m);
// "auto" | "newton_schulz" | "gram_newton_schulz" | "gram_eigh" | "svd"; throws naming the
// unknown value.
PolarMethod parse_polar_method(const std::string& name);
std::vector<std::string> polar_method_names();

struct PolarOptions {
  PolarOptions() = default;
  TORCH_ARG(PolarMethod, method) = PolarMethod::automatic;
  // Newton–Schulz and Gram Newton–Schulz only.
  TORCH_ARG(NsSchedule, schedule) = NsSchedule::jordan();
  TORCH_ARG(int, steps) = 5;
  TORCH_ARG(double, eps) = 1e-7;
  // gram_eigh only: ρ·λ_max added to every Gram eigenvalue (σ ↦ σ/√(σ²+ρσ₁²)). The default 0
  // relies on the numerical-rank cutoff instead, which biases no singular value.
  TORCH_ARG(double, ridge) = 0.0;
  // auto only: target relative Frobenius error against the exact U Vᵀ.
  TORCH_ARG(double, tol) = 1e-3;
  // Arithmetic dtype (e.g. at::kBFloat16 for Newton–Schulz on CUDA); default: the input's
  // (half types are promoted to float32 for the LAPACK methods).
  TORCH_ARG(c10::optional<at::ScalarType>, compute_dtype) = c10::nullopt;
  // Newton–Schulz and Gram Newton–Schulz only, when compute_dtype is not set: run a float32 (or lower) input's
  // iteration in bfloat16 where the device multiplies bf16 natively (fast_bf16_matmul), as the
  // reference Muon does everywhere; float32 elsewhere (emulated bf16 would be slower) and for
  // float64 input (whoever asks for float64 wants its precision).
  TORCH_ARG(bool, bf16_where_fast) = false;
  // Newton–Schulz and Gram Newton–Schulz only: start from Turbo-Muon's AOL rescaling (aol.h,
  // arXiv 2512.04632) instead of dividing by ‖X‖_F; its closer start lets 4 steps (with
  // NsSchedule::turbo_muon()) replace 5 (docs/performance.md has the measured errors).
  TORCH_ARG(bool, aol) = false;

 public:
  // Throws on steps < 1, eps < 0, ridge < 0, tol <= 0, and on aol with a method other than
  // (gram_)newton_schulz, naming the option and value.
  void validate() const;
};

// U Vᵀ for G of shape (..., m, n), float32/float64 (and bfloat16/float16, computed in
// float32 except where `compute_dtype` says otherwise). Returns G's dtype and shape.
// Singular values at or below the numerical-rank cutoff map to 0 (so a zero matrix maps to
// zeros and a rank-r matrix to U_r V_rᵀ). Non-finite input throws.
at::Tensor polar(const at::Tensor& G, const PolarOptions& options = {});

// The method `auto` picks for this tensor before any precision fallback, by device, shape,
// arithmetic dtype and `tol` (a Newton–Schulz variant only when tol allows its error). The
// rule is stated in docs/matfun.md; docs/performance.md has the measurements behind it.
PolarMethod resolve_polar_method(const at::Tensor& G, const PolarOptions& options);

// Whether bf16 matrix products run natively on this device: always on CUDA; on CPU when it
// has AVX512-BF16 or AMX-BF16 (x86-64; oneDNN then multiplies bf16 ≈2–5× faster than
// OpenBLAS float32, docs/performance.md).
bool fast_bf16_matmul(const at::Device& device);

}  // namespace specopt
