#pragma once
// Every convex map of docs/algorithms.md's table. docs/maps.md has the formulas for each (K, ∇K, K*,
// the implied problem with weight decay λ, the gap's dual norm). σ are the singular values of
// X (all min(m, n) of them, zeros included), s those of Y.
//
// Unitarily invariant maps compute singular values with specopt::singular_values and ∇K with
// specopt::spectral_map (exact float64 SVD), specopt::polar or specopt::spectral_power.
// Singular values at or below the numerical-rank cutoff of those functions contribute nothing
// to ∇K, which makes ∇K(0) = 0 for every map.
#include <cstdint>
#include <string>

#include <specopt/maps/convex_map.h>
#include <specopt/matfun/polar.h>
#include <specopt/matfun/spectral_power.h>

namespace specopt {

// K = ‖X‖_* (Muon). ∇K = U Vᵀ = polar(X) over the numerical rank (the subgradient U_r V_rᵀ for
// rank r < min(m, n); 0 at 0). K* = indicator of ‖Y‖_op ≤ 1. Gap norm: nuclear.
// `polar` picks the method; the default is the exact SVD ("nuclear:method=newton_schulz" etc.
// trade accuracy for speed).
class NuclearMap : public ConvexMap {
 public:
  explicit NuclearMap(PolarOptions polar = PolarOptions().method(PolarMethod::svd));
  std::string name() const override;
  std::string describe() const override;
  at::Tensor value(const at::Tensor& X) const override;
  at::Tensor grad(const at::Tensor& X) const override;
  at::Tensor conjugate(const at::Tensor& Y) const override;
  c10::optional<ConstraintSet> constraint() const override;
  at::Tensor dual_norm(const at::Tensor& G) const override;
  bool smooth() const override { return false; }
  const PolarOptions& polar_options() const { return polar_; }

 private:
  PolarOptions polar_;
};

// K = ‖X‖_op = σ₁. ∇K = u₁v₁ᵀ; when t leading singular values tie (within the rank cutoff's
// relative tolerance) it returns their average (1/t) Σ_{i≤t} uᵢvᵢᵀ, a subgradient that does not
// depend on the (arbitrary) basis of the tied subspace. 0 at 0. K* = indicator of ‖Y‖_* ≤ 1.
// Gap norm: op.
class SpectralNormMap : public ConvexMap {
 public:
  std::string name() const override { return "spectral"; }
  std::string describe() const override;
  at::Tensor value(const at::Tensor& X) const override;
  at::Tensor grad(const at::Tensor& X) const override;
  at::Tensor conjugate(const at::Tensor& Y) const override;
  c10::optional<ConstraintSet> constraint() const override;
  at::Tensor dual_norm(const at::Tensor& G) const override;
  bool smooth() const override { return false; }
};

// K = ‖X‖_F. ∇K = X/‖X‖_F, 0 at 0. K* = indicator of ‖Y‖_F ≤ 1. Gap norm: Frobenius.
// Entrywise (no SVD).
class FrobeniusMap : public ConvexMap {
 public:
  std::string name() const override { return "frobenius"; }
  std::string describe() const override;
  at::Tensor value(const at::Tensor& X) const override;
  at::Tensor grad(const at::Tensor& X) const override;
  at::Tensor conjugate(const at::Tensor& Y) const override;
  c10::optional<ConstraintSet> constraint() const override;
  at::Tensor dual_norm(const at::Tensor& G) const override;
  bool smooth() const override { return false; }
};

// K = ½‖X‖²_F (momentum SGD). ∇K = X. K* = ½‖Y‖²_F: the penalty (λ/2)‖X‖²_F, no constraint.
// Gap: the composite one (dual_norm returns the Frobenius norm, the penalty's self-dual norm).
class HalfSqFrobeniusMap : public ConvexMap {
 public:
  std::string name() const override { return "half_sq_frobenius"; }
  std::string describe() const override;
  at::Tensor value(const at::Tensor& X) const override;
  at::Tensor grad(const at::Tensor& X) const override;
  at::Tensor conjugate(const at::Tensor& Y) const override;
  at::Tensor dual_norm(const at::Tensor& G) const override;
  bool smooth() const override { return true; }
};

// K = Σ|X_ij| (Lion). ∇K = sign(X) with sign(0) = 0. K* = indicator of max|Y_ij| ≤ 1.
// Gap norm: entrywise ℓ1.
class L1Map : public ConvexMap {
 public:
  std::string name() const override { return "l1"; }
  std::string describe() const override;
  at::Tensor value(const at::Tensor& X) const override;
  at::Tensor grad(const at::Tensor& X) const override;
  at::Tensor conjugate(const at::Tensor& Y) const override;
  c10::optional<ConstraintSet> constraint() const override;
  at::Tensor dual_norm(const at::Tensor& G) const override;
  bool smooth() const override { return false; }
};

// K = ‖σ‖_q, 1 ≤ q ≤ ∞ (q = 1 behaves exactly as nuclear, q = ∞ as spectral).
// ∇K = U diag((σ/‖σ‖_q)^{q−1}) Vᵀ, 0 at 0. K* = indicator of ‖Y‖_{q*} ≤ 1, 1/q + 1/q* = 1.
// Gap norm: Schatten-q.
class SchattenMap : public ConvexMap {
 public:
  explicit SchattenMap(double q);
  std::string name() const override;
  std::string describe() const override;
  at::Tensor value(const at::Tensor& X) const override;
  at::Tensor grad(const at::Tensor& X) const override;
  at::Tensor conjugate(const at::Tensor& Y) const override;
  c10::optional<ConstraintSet> constraint() const override;
  at::Tensor dual_norm(const at::Tensor& G) const override;
  bool smooth() const override { return false; }
  double q() const { return q_; }
  double q_dual() const;

 private:
  double q_;
};

// K = Σ_{i≤k} σᵢ (Ky Fan k-norm; k ≥ 1, and k > min(m, n) acts as k = min(m, n), i.e. nuclear).
// ∇K = U_k V_kᵀ; when σ_k ties with neighbours, the remaining weight is shared equally over
// the tied group (a basis-independent subgradient). 0 at 0.
// K* = indicator of ‖Y‖_op ≤ 1 and ‖Y‖_* ≤ k, i.e. of max(‖Y‖_op, ‖Y‖_*/k) ≤ 1.
// Gap norm: Ky Fan k.
class KyFanMap : public ConvexMap {
 public:
  explicit KyFanMap(int64_t k);
  std::string name() const override;
  std::string describe() const override;
  at::Tensor value(const at::Tensor& X) const override;
  at::Tensor grad(const at::Tensor& X) const override;
  at::Tensor conjugate(const at::Tensor& Y) const override;
  c10::optional<ConstraintSet> constraint() const override;
  at::Tensor dual_norm(const at::Tensor& G) const override;
  bool smooth() const override { return false; }
  int64_t k() const { return k_; }

 private:
  int64_t k_;
};

// K = Σ σᵢ^{1+p}/(1+p), 0 < p ≤ 1. ∇K = U Σ^p Vᵀ = specopt::spectral_power(X, p, options)
// (paper 3's Ψ_p; default method svd, "power:p=0.5,method=gram_eigh" to change it).
// K* = Σ s^{1+1/p}/(1+1/p): a Schatten-(1+1/p) penalty λ^{1/p}‖X‖^{1+1/p}/(1+1/p), no
// constraint. Differentiable everywhere. Gap: composite (dual_norm = Schatten-(1+p)).
class PowerMap : public ConvexMap {
 public:
  explicit PowerMap(double p, PowerOptions options = PowerOptions().method(PowerMethod::svd));
  std::string name() const override;
  std::string describe() const override;
  at::Tensor value(const at::Tensor& X) const override;
  at::Tensor grad(const at::Tensor& X) const override;
  at::Tensor conjugate(const at::Tensor& Y) const override;
  at::Tensor dual_norm(const at::Tensor& G) const override;
  bool smooth() const override { return true; }
  double p() const { return p_; }
  const PowerOptions& power_options() const { return options_; }

 private:
  double p_;
  PowerOptions options_;
};

// K = Σ h_δ(σᵢ), h_δ(σ) = σ²/(2δ) for σ ≤ δ, σ − δ/2 beyond (δ > 0).
// ∇K = U diag(min(σ/δ, 1)) Vᵀ (spectral clipping). K* = Σ δ sᵢ²/2 on ‖Y‖_op ≤ 1, +inf
// beyond: ‖X‖_op ≤ 1/λ plus the penalty (δλ/2)‖X‖²_F. Gap norm: nuclear.
class HuberMap : public ConvexMap {
 public:
  explicit HuberMap(double delta);
  std::string name() const override;
  std::string describe() const override;
  at::Tensor value(const at::Tensor& X) const override;
  at::Tensor grad(const at::Tensor& X) const override;
  at::Tensor conjugate(const at::Tensor& Y) const override;
  c10::optional<ConstraintSet> constraint() const override;
  at::Tensor dual_norm(const at::Tensor& G) const override;
  bool smooth() const override { return true; }
  double delta() const { return delta_; }

 private:
  double delta_;
};

// K = Σ (sqrt(σᵢ² + δ²) − δ), δ > 0 (the usual Σ sqrt(σᵢ² + δ²) less the constant
// min(m,n)·δ, so that K(0) = K*(0) = 0; ∇K is the same). ∇K = U diag(σ/sqrt(σ² + δ²)) Vᵀ =
// X (XᵀX + δ²I)^{−1/2}. K* = Σ δ (1 − sqrt(1 − sᵢ²)) on ‖Y‖_op ≤ 1, +inf beyond: a smooth
// barrier-like penalty inside ‖X‖_op ≤ 1/λ. Gap norm: nuclear.
class RelativisticMap : public ConvexMap {
 public:
  explicit RelativisticMap(double delta);
  std::string name() const override;
  std::string describe() const override;
  at::Tensor value(const at::Tensor& X) const override;
  at::Tensor grad(const at::Tensor& X) const override;
  at::Tensor conjugate(const at::Tensor& Y) const override;
  c10::optional<ConstraintSet> constraint() const override;
  at::Tensor dual_norm(const at::Tensor& G) const override;
  bool smooth() const override { return true; }
  double delta() const { return delta_; }

 private:
  double delta_;
};

// K = Σ log cosh σᵢ. ∇K = U tanh(Σ) Vᵀ. K* = Σ ½[(1+sᵢ)log(1+sᵢ) + (1−sᵢ)log(1−sᵢ)] on
// ‖Y‖_op ≤ 1 (log 2 per singular value at sᵢ = 1), +inf beyond: an entropic penalty inside
// ‖X‖_op ≤ 1/λ. Gap norm: nuclear.
class LogCoshMap : public ConvexMap {
 public:
  std::string name() const override { return "logcosh"; }
  std::string describe() const override;
  at::Tensor value(const at::Tensor& X) const override;
  at::Tensor grad(const at::Tensor& X) const override;
  at::Tensor conjugate(const at::Tensor& Y) const override;
  c10::optional<ConstraintSet> constraint() const override;
  at::Tensor dual_norm(const at::Tensor& G) const override;
  bool smooth() const override { return true; }
};

namespace detail {
// Shortest decimal that parses back to v ("0.5", "3", "inf"): how map names print parameters.
std::string format_param(double v);
}  // namespace detail

}  // namespace specopt
