#pragma once
// Newton–Schulz iterations for the polar factor U Vᵀ, with coefficient schedules.
#include <ATen/ATen.h>
#include <c10/util/Optional.h>

#include <array>
#include <string>
#include <vector>

namespace specopt {

// One odd polynomial per step: X ← a X + b (XXᵀ) X + c (XXᵀ)² X. Past the end of the table
// the `tail` triple is used when set, otherwise the last entry repeats.
struct NsSchedule {
  std::string name;
  std::vector<std::array<double, 3>> coefficients;
  // X is divided by (‖X‖_F · norm_factor + eps) first; Polar Express uses 1.02 as a safety margin.
  double norm_factor = 1.0;
  // Polar Express's last triple sums to 1.06, so repeating it stalls ≈3.5% from U Vᵀ; its
  // extra steps use the convergent quintic (15/8, −10/8, 3/8) instead.
  c10::optional<std::array<double, 3>> tail = c10::nullopt;

  // (3.4445, −4.7750, 2.0315) every step: the reference Muon's quintic. It does not
  // converge to 1 (a+b+c = 0.701): singular values end in roughly [0.7, 1.2].
  static NsSchedule jordan();
  // Amsel et al. 2025, 5 per-step triples computed for safety factor 2e-2.
  static NsSchedule polar_express();
  // The classic convergent cubic: X ← 1.5 X − 0.5 (XXᵀ) X.
  static NsSchedule cubic();
  // Turbo-Muon's (arXiv 2512.04632) 4-step table for an AOL-preconditioned start (aol.h):
  // the last four of the 5-step quintic table of modded-nanogpt/Dion ("Muon+"), whose first,
  // steepest step the preconditioning replaces. Like jordan it does not converge to 1 (the last
  // triple sums to 0.985; repeated past step 4). Meant for 4 steps with aol = true.
  static NsSchedule turbo_muon();
  // A user table; each entry (a, b, c). Throws on an empty table or non-finite entries.
  static NsSchedule custom(std::vector<std::array<double, 3>> coefficients,
                           double norm_factor = 1.0);
  // "jordan" | "polar_express" | "cubic" | "turbo_muon"; throws naming the unknown value.
  static NsSchedule from_name(const std::string& name);
  static std::vector<std::string> names();

  const std::array<double, 3>& at_step(int step) const;
};

// Newton–Schulz on the wide orientation of G (..., m, n), `steps` ≥ 1 iterations of
// `schedule`, arithmetic in `compute_dtype` (e.g. bfloat16 on CUDA). Returns G's dtype.
// Each step costs 4m²n + 2m³ FLOPs (m the small side). A zero matrix returns zeros.
// `aol`: start from the AOL rescaling (aol.h) instead of X/(‖X‖_F·norm_factor + eps); the first
// step reuses the Gram matrix the rescaling computed, so the FLOPs per step are unchanged.
at::Tensor newton_schulz(const at::Tensor& G, const NsSchedule& schedule, int steps,
                         double eps, at::ScalarType compute_dtype, bool aol = false);

// The plain reference, written as the reference Muon implementation does it: Frobenius
// normalisation + 1e-7, transpose to wide, 5 quintic steps of three matmuls each
// (A = XXᵀ; B = bA + cA²; X = aX + BX) in G's dtype. Benchmarks and tests compare against it.
at::Tensor reference_newton_schulz5(const at::Tensor& G);

// FLOPs of `steps` quintic steps on an (m × n) matrix (per batch element), a multiply-add
// counted as 2: 4m²n + 2m³ per step with general products (m the small side), 3.5m²n + 1.5m³
// when the two symmetric products skip their upper off-diagonal block (`symmetric`, the
// block path of `gram_xxt`).
double newton_schulz_flops(int64_t m, int64_t n, int steps, bool symmetric = false);

// The FLOPs `newton_schulz` needs for this tensor (whole batch, on its device's path).
double newton_schulz_flops(const at::Tensor& G, int steps);

}  // namespace specopt
