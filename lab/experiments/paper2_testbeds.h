#pragma once
// Paper 2's testbeds (arXiv 2601.13474; docs/algorithms.md, "Paper 2's testbeds"), in float64, as RaceProblems:
//
// * matrix factorization: symmetric f(X) = ¼‖XXᵀ − M‖²_F with M = Q diag(l) Qᵀ (n × n, rank
//   r), or asymmetric f(X, Y) = ½‖XYᵀ − M‖²_F with M = U diag(l) Vᵀ; l geometric from 1 down
//   to 1/κ; X₀ (and Y₀) = init_scale · N(0, 1). Error ‖XXᵀ − M‖_F / ‖M‖_F (or XYᵀ).
// * in-context linear regression with one linear-attention layer, ŷ = x_qᵀ Γ (1/N) Σᵢ yᵢxᵢ,
//   x ~ N(0, Λ), w ~ N(0, I), y = wᵀx, Λ = Q diag(l) Qᵀ with l geometric from 1 to 1/κ:
//   - population: L(Γ) = ½ tr((ΓΛ − I)ᵀ Λ (ΓΛ − I)), ∇L = Λ(ΓΛ − I)Λ, Γ* = Λ⁻¹;
//     error L(Γ)/L(0);
//   - finite prompts: B prompts of length N sampled once; the loss (1/2B) Σ_b (ŷ_b − y_b)²
//     is differentiated by autograd; error (L(Γ) − L̂*)/(L(0) − L̂*) with L̂* the exact
//     least-squares minimum over Γ. Γ₀ = 0 for both.
#include <ATen/ATen.h>

#include <cstdint>

#include "lab/experiments/race.h"

namespace specopt {
namespace lab {

struct FactorizationSpec {
  int64_t n = 50;
  int64_t r = 5;
  double kappa = 10;
  bool symmetric = true;
  double init_scale = 1e-3;
  uint64_t seed = 0;
};
RaceProblem factorization_problem(const FactorizationSpec& spec);

struct IclSpec {
  int64_t d = 8;
  double kappa = 10;
  bool rotate = true;     // Λ in a random basis (false: diagonal)
  int64_t prompts = 0;    // B; 0 = the population loss
  int64_t length = 200;   // N, tokens per prompt (finite form)
  uint64_t seed = 0;
};
RaceProblem icl_problem(const IclSpec& spec);

// The ICL covariance Λ = Q diag(l) Qᵀ of a spec (float64, d × d).
at::Tensor icl_covariance(const IclSpec& spec);
// The population loss and its gradient, in closed form.
at::Tensor icl_population_loss(const at::Tensor& Gamma, const at::Tensor& Lambda);
at::Tensor icl_population_grad(const at::Tensor& Gamma, const at::Tensor& Lambda);

// A random n × k matrix with orthonormal columns (float64).
at::Tensor random_orthonormal(int64_t n, int64_t k, at::Generator& gen);

}  // namespace lab
}  // namespace specopt
