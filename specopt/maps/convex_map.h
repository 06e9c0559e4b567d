#pragma once
// Convex maps K for Lion-K (paper 1, arXiv 2506.15054; docs/algorithms.md, "What Lion-K solves"
// and "The convex maps K"). Lion-K with decoupled weight decay λ steps along ∇K(momentum) and converges to a
// stationary point of
//
//     min_X  F(X) + (1/λ) K*(λX),                      K* the convex conjugate of K.
//
// A ConvexMap gives K, ∇K, K*, the set K* lives on (its constraint, when K* is an indicator or
// has a bounded domain) and the norm the stationarity gap uses. Every function takes a matrix
// (m, n) or a batch (..., m, n), float32/float64, and returns per-matrix results of shape (...)
// (value, conjugate, norms) or (..., m, n) (grad) in the input's dtype.
#include <ATen/ATen.h>
#include <c10/util/Optional.h>

#include <functional>
#include <string>

namespace specopt {

// The set {X : norm(X) ≤ radius} on which K* is finite. With weight decay λ, Lion-K's iterates
// satisfy (eventually) norm(X) ≤ radius / λ.
struct ConstraintSet {
  // "op", "nuclear", "frobenius", "linf", "schatten:q=<q*>", "ky_fan_dual:k=<k>"
  // (ky_fan_dual: max(‖Y‖_op, ‖Y‖_*/k), the dual of the Ky Fan k-norm).
  std::string norm_name;
  std::function<at::Tensor(const at::Tensor&)> norm;  // (..., m, n) -> (...)
  double radius = 1.0;
  // True when K* is exactly the indicator of the set (K is a norm: Lion-K solves the
  // constrained problem). False when K* is finite but non-zero on the set (huber,
  // relativistic, logcosh: a penalty plus the constraint).
  bool indicator = true;
};

// Relative tolerance on norm(Y) ≤ radius when K* is evaluated (0 inside / +inf outside).
constexpr double kConstraintRelTol = 1e-6;

class ConvexMap {
 public:
  virtual ~ConvexMap() = default;

  // The canonical registry spelling, e.g. "nuclear", "schatten:q=3", "power:p=0.5":
  // make_convex_map(name()) builds an equal map.
  virtual std::string name() const = 0;
  // One line: K, ∇K and the implied problem.
  virtual std::string describe() const = 0;

  // K(X), shape (...).
  virtual at::Tensor value(const at::Tensor& X) const = 0;
  // ∇K(X), shape (..., m, n). Where K is not differentiable each map documents the
  // subgradient it returns. Every map here returns exactly 0 (no NaN) at X = 0.
  virtual at::Tensor grad(const at::Tensor& X) const = 0;
  // K*(Y), shape (...). +inf outside the domain of K* (norm(Y) > radius·(1 + 1e-6)); for an
  // indicator, 0 inside.
  virtual at::Tensor conjugate(const at::Tensor& Y) const = 0;
  // The domain of K*, when it is bounded (see ConstraintSet); nullopt when K* is finite
  // everywhere (half_sq_frobenius, power).
  virtual c10::optional<ConstraintSet> constraint() const { return c10::nullopt; }
  // The norm of ∇F in the stationarity gap ⟨∇F, X⟩ + ‖∇F‖_dual/λ: the dual of the constraint
  // norm, which for a norm K is K itself (nuclear → nuclear, spectral → op, l1 → ℓ1, ...).
  // For the penalty-plus-ball maps (huber, relativistic, logcosh) it is the dual of the ball's
  // norm, the nuclear norm (= the recession function of K). For the pure penalties it is the
  // dual of the penalty's norm: Frobenius for half_sq_frobenius, Schatten-(1+p) for power(p);
  // the gap of those maps does not use it (see stationarity_gap).
  virtual at::Tensor dual_norm(const at::Tensor& G) const = 0;
  // Differentiable everywhere (so ∇K is the gradient, not a chosen subgradient).
  virtual bool smooth() const = 0;
};

// ⟨A, B⟩ = tr(AᵀB) per matrix, shape (...).
at::Tensor frobenius_inner(const at::Tensor& A, const at::Tensor& B);

// Stationarity gap of min F(X) + (1/λ)K*(λX) at X, shape (...):
//
//     gap = ⟨∇F, X⟩ + ( P(λX) + K(−∇F) ) / λ
//
// * K* an indicator (nuclear, spectral, frobenius, l1, schatten, ky_fan): P = 0 and
//   K(−∇F) = dual_norm(∇F): the Frank–Wolfe gap of docs/algorithms.md. ≥ 0 for X inside the set
//   norm(X) ≤ 1/λ, 0 exactly at KKT points; finite (and possibly negative) outside, so check
//   constraint_violation() alongside it.
// * otherwise P = K*: the composite gap, ≥ 0 everywhere by Fenchel–Young, 0 exactly when
//   λX = ∇K(−∇F) (Lion-K's fixed point); +inf outside the domain of K* (huber,
//   relativistic, logcosh with ‖X‖_op > 1/λ).
// lambda must be > 0.
at::Tensor stationarity_gap(const ConvexMap& map, const at::Tensor& grad_F, const at::Tensor& X,
                            double lambda);

// max(0, norm(X) − radius/λ), shape (...): how far X is outside the implied constraint set;
// zeros when the map has no constraint.
at::Tensor constraint_violation(const ConvexMap& map, const at::Tensor& X, double lambda);

// F + K*(λX)/λ, the objective Lion-K minimises (F_value broadcasts against shape (...)).
at::Tensor lion_k_objective(const ConvexMap& map, const at::Tensor& F_value, const at::Tensor& X,
                            double lambda);

}  // namespace specopt
