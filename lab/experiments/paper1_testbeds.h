#pragma once
// Paper 1's testbeds (arXiv 2506.15054; docs/algorithms.md, "What Lion-K solves"): the maps to run, closed-form constrained
// minimisers of F(X) = ½‖X − A‖²_F, and a small non-convex problem (a two-layer network).
#include <ATen/ATen.h>
#include <c10/util/Optional.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <specopt/maps/convex_map.h>

namespace specopt {
namespace lab {

// One registry spec per name of convex_map_names(), with a default parameter for the maps
// that need one (schatten:q=3, ky_fan:k=2, power:p=0.5, huber:delta=0.5, relativistic:delta=1).
std::vector<std::string> default_map_specs();
// "all" → default_map_specs(); otherwise each entry must build with make_convex_map (its
// error, naming the spec, propagates).
std::vector<std::string> resolve_map_specs(const std::vector<std::string>& specs);

// The minimiser of ½‖X − A‖²_F + (1/λ) K*(λX) where it has a closed form:
//   nuclear: U min(Σ, 1/λ) Vᵀ (singular-value clipping);  l1: clamp(A, ±1/λ);
//   frobenius: A · min(1, (1/λ)/‖A‖_F);  half_sq_frobenius: A / (1 + λ).
// nullopt for the other maps.
c10::optional<at::Tensor> closed_form_minimiser(const ConvexMap& map, const at::Tensor& A,
                                                double lambda);

// A matrix whose norm in `set`'s norm equals `target` (a random direction, scaled).
at::Tensor scaled_to_norm(const at::Tensor& X, const ConvexMap& map, double target);
// norm(X) in the map's constraint norm divided by its radius: λ times this is "λ‖X‖",
// ≤ 1 inside the implied ball. nullopt for maps without a constraint.
c10::optional<double> constraint_ratio(const ConvexMap& map, const at::Tensor& X);

// F(W) = (1/2S) Σ_s (vᵀ tanh(W x_s) − y_s)² with a fixed output layer v (±1/√h) and
// W ∈ R^{h×d} trained; targets from a teacher W_t with ‖W_t‖_op = teacher_norm.
// Non-convex in W.
struct TwoLayerNet {
  at::Tensor inputs;   // (S, d)
  at::Tensor targets;  // (S)
  at::Tensor v;        // (h)
  double loss(const at::Tensor& W) const;
  // F and ∇F by autograd.
  double loss_and_grad(const at::Tensor& W, at::Tensor& grad) const;
};
TwoLayerNet make_two_layer_net(int64_t hidden, int64_t inputs, int64_t samples,
                               double teacher_norm, uint64_t seed);

// Continuous-time Lion-K (docs/algorithms.md, "What Lion-K solves"), for a differentiable K:
//   m̃ = m − ε(α∇F(x) + γm),  ẋ = ∇K(m̃) − λx,  ṁ = −α∇F(x) − γm.
struct LionKFlow {
  double alpha = 1, gamma = 0.2, epsilon = 0.1, lambda = 0.5;
};
// One classical RK4 step of size dt, updating x and m.
void lion_k_flow_rk4_step(const ConvexMap& K, const LionKFlow& c,
                          const std::function<at::Tensor(const at::Tensor&)>& grad_F,
                          at::Tensor& x, at::Tensor& m, double dt);
// H(x, m) = αF(x) + (γ/λ)K*(λx) + ((1 − ελ)/(1 + εγ)) (K*(λx) + K(m) − λ⟨m, x⟩), the flow's
// Lyapunov function (non-increasing along it), given F(x).
double lion_k_lyapunov(const ConvexMap& K, const LionKFlow& c, double F_value,
                       const at::Tensor& x, const at::Tensor& m);

}  // namespace lab
}  // namespace specopt
