#pragma once
// K = ½‖X‖²_* (PolarGrad's map, arXiv 2505.21799, in Lion-K terms, arXiv 2506.15054).
//
//   ∇K(X) = ‖X‖_* · U Vᵀ          (the nuclear map's polar factor times the nuclear norm; over
//                                  the numerical rank, a subgradient for rank-deficient X; 0 at 0)
//   K*(Y) = ½‖Y‖²_op               (the conjugate of ½‖·‖² is ½‖·‖²_dual; op is nuclear's dual)
//
// With decoupled weight decay λ, Lion-K with this map solves min F(X) + (λ/2)‖X‖²_op: a
// spectral-norm penalty, no hard constraint (constraint() is nullopt, as for
// half_sq_frobenius), so the stationarity gap is the composite one
// ⟨∇F, X⟩ + (λ/2)‖X‖²_op + ‖∇F‖²_*/(2λ) ≥ 0 (Fenchel–Young), 0 exactly at the minimiser.
// On F = ½‖X − A‖²_F that minimiser keeps A's singular vectors and caps its singular values at
// the level t with λt = Σᵢ (aᵢ − t)₊ (half_sq_nuclear_minimiser below).
// dual_norm is the nuclear norm (the dual of the penalty's op norm).
#include <specopt/maps/convex_map.h>

namespace specopt {

class HalfSqNuclearMap : public ConvexMap {
 public:
  std::string name() const override { return "half_sq_nuclear"; }
  std::string describe() const override;
  at::Tensor value(const at::Tensor& X) const override;
  at::Tensor grad(const at::Tensor& X) const override;
  at::Tensor conjugate(const at::Tensor& Y) const override;
  at::Tensor dual_norm(const at::Tensor& G) const override;
  bool smooth() const override { return false; }
};

// argmin_X ½‖X − A‖²_F + (λ/2)‖X‖²_op for one matrix A (m, n), float64 SVD: A's singular values
// capped at t, λt = Σᵢ (aᵢ − t)₊. lambda > 0.
at::Tensor half_sq_nuclear_minimiser(const at::Tensor& A, double lambda);

}  // namespace specopt
