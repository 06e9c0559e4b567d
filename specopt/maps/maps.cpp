#include "specopt/maps/maps.h"

#include <c10/util/Exception.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include "specopt/matfun/norms.h"
#include "specopt/matfun/spectral_map.h"
#include "specopt/matfun/validate.h"

namespace specopt {

namespace detail {
std::string format_param(double v) {
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  for (int prec = 1; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*g", prec, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}
}  // namespace detail

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// Singular values (..., min(m, n)) after the input checks, named after the caller.
at::Tensor svals(const at::Tensor& X, const char* fn) {
  detail::check_matrix(X, fn);
  return singular_values(X);
}

// 0 where norm ≤ radius (relative tolerance kConstraintRelTol), +inf elsewhere.
at::Tensor indicator(const at::Tensor& norm, double radius = 1.0) {
  return at::where(norm <= radius * (1 + kConstraintRelTol), at::zeros_like(norm),
                   at::full_like(norm, kInf));
}

// Σ g*(sᵢ) for a K* whose domain is ‖Y‖_op ≤ 1: g* sees s clamped to [0, 1] (the tolerance
// band maps to the boundary), and matrices outside the domain get +inf.
template <class G>
at::Tensor op_domain_conjugate(const at::Tensor& Y, const char* fn, G g_star) {
  auto s = svals(Y, fn);
  auto inside = s.amax(-1) <= 1 + kConstraintRelTol;
  auto v = g_star(s.clamp(0, 1)).sum(-1);
  return at::where(inside, v, at::full_like(v, kInf));
}

// ‖X‖_F entrywise, scaled by max|X| first so float32 squares neither overflow nor underflow.
at::Tensor fro(const at::Tensor& X, const char* fn) {
  detail::check_matrix(X, fn);
  auto scale = detail::safe_scale(X);
  return (X / scale).pow(2).sum({-2, -1}).sqrt() * scale.squeeze(-1).squeeze(-1);
}

at::Tensor entry_l1(const at::Tensor& X, const char* fn) {
  detail::check_matrix(X, fn);
  return X.abs().sum({-2, -1});
}

at::Tensor entry_linf(const at::Tensor& X) {
  detail::check_matrix(X, "linf_norm");
  return X.abs().amax({-2, -1});
}

// U f(Σ) Vᵀ by exact SVD.
at::Tensor svd_map(const at::Tensor& X, const SingularValueMap& f) {
  return spectral_map(X, f, SpectralMapMethod::svd);
}

ConstraintSet op_ball(bool indicator) {
  return {"op", [](const at::Tensor& Y) { return op_norm(Y); }, 1.0, indicator};
}
ConstraintSet nuclear_ball() {
  return {"nuclear", [](const at::Tensor& Y) { return specopt::nuclear_norm(Y); }, 1.0, true};
}

void check_param(double v, bool ok, const char* map, const char* key, const char* rule) {
  TORCH_CHECK(ok, map, ": ", key, " must be ", rule, ", got ", v);
}

}  // namespace

// --------------------------------------------------------------------------------------------
// nuclear

NuclearMap::NuclearMap(PolarOptions polar) : polar_(std::move(polar)) { polar_.validate(); }

std::string NuclearMap::name() const {
  // Every setting that differs from the registry's default, so make_convex_map(name())
  // rebuilds this exact map (checkpoints store the map this way).
  const PolarOptions d = PolarOptions().method(PolarMethod::svd);
  std::string params;
  auto add = [&](const std::string& kv) { params += (params.empty() ? ":" : ",") + kv; };
  if (polar_.method() != d.method()) add("method=" + to_string(polar_.method()));
  if (polar_.steps() != d.steps()) add("steps=" + std::to_string(polar_.steps()));
  if (polar_.schedule().name != d.schedule().name) add("schedule=" + polar_.schedule().name);
  if (polar_.eps() != d.eps()) add("eps=" + detail::format_param(polar_.eps()));
  if (polar_.tol() != d.tol()) add("tol=" + detail::format_param(polar_.tol()));
  return "nuclear" + params;
}
std::string NuclearMap::describe() const {
  return "nuclear: K = ||X||_*, grad K = U V^T (polar, method " + to_string(polar_.method()) +
         "), K* = indicator of ||Y||_op <= 1; Lion-K (Muon) solves min F s.t. ||X||_op <= 1/lambda";
}
at::Tensor NuclearMap::value(const at::Tensor& X) const { return specopt::nuclear_norm(X); }
at::Tensor NuclearMap::grad(const at::Tensor& X) const { return polar(X, polar_); }
at::Tensor NuclearMap::conjugate(const at::Tensor& Y) const { return indicator(op_norm(Y)); }
c10::optional<ConstraintSet> NuclearMap::constraint() const { return op_ball(true); }
at::Tensor NuclearMap::dual_norm(const at::Tensor& G) const { return specopt::nuclear_norm(G); }

// --------------------------------------------------------------------------------------------
// spectral

std::string SpectralNormMap::describe() const {
  return "spectral: K = ||X||_op, grad K = u1 v1^T, K* = indicator of ||Y||_* <= 1; "
         "min F s.t. ||X||_* <= 1/lambda";
}
at::Tensor SpectralNormMap::value(const at::Tensor& X) const { return op_norm(X); }
at::Tensor SpectralNormMap::grad(const at::Tensor& X) const {
  detail::check_matrix(X, "spectral.grad");
  const double tol = detail::rank_rcond(X, at::kDouble);
  return svd_map(X, [tol](const at::Tensor& s) {
    auto top = (s >= s.amax(-1, /*keepdim=*/true) * (1 - tol)).to(s.scalar_type());
    return top / top.sum(-1, /*keepdim=*/true);
  });
}
at::Tensor SpectralNormMap::conjugate(const at::Tensor& Y) const {
  return indicator(specopt::nuclear_norm(Y));
}
c10::optional<ConstraintSet> SpectralNormMap::constraint() const { return nuclear_ball(); }
at::Tensor SpectralNormMap::dual_norm(const at::Tensor& G) const { return op_norm(G); }

// --------------------------------------------------------------------------------------------
// frobenius

std::string FrobeniusMap::describe() const {
  return "frobenius: K = ||X||_F, grad K = X/||X||_F (0 at 0), K* = indicator of ||Y||_F <= 1; "
         "min F s.t. ||X||_F <= 1/lambda";
}
at::Tensor FrobeniusMap::value(const at::Tensor& X) const { return fro(X, "frobenius.value"); }
at::Tensor FrobeniusMap::grad(const at::Tensor& X) const {
  auto n = fro(X, "frobenius.grad").unsqueeze(-1).unsqueeze(-1);
  auto safe = at::where(n > 0, n, at::ones_like(n));
  return X / safe;  // X = 0 where n = 0
}
at::Tensor FrobeniusMap::conjugate(const at::Tensor& Y) const {
  return indicator(fro(Y, "frobenius.conjugate"));
}
c10::optional<ConstraintSet> FrobeniusMap::constraint() const {
  return ConstraintSet{"frobenius", [](const at::Tensor& Y) { return fro(Y, "frobenius_norm"); },
                       1.0, true};
}
at::Tensor FrobeniusMap::dual_norm(const at::Tensor& G) const {
  return fro(G, "frobenius.dual_norm");
}

// --------------------------------------------------------------------------------------------
// half_sq_frobenius

std::string HalfSqFrobeniusMap::describe() const {
  return "half_sq_frobenius: K = ||X||_F^2/2, grad K = X (momentum SGD), K* = ||Y||_F^2/2; "
         "min F + (lambda/2)||X||_F^2";
}
at::Tensor HalfSqFrobeniusMap::value(const at::Tensor& X) const {
  auto n = fro(X, "half_sq_frobenius.value");
  return 0.5 * n * n;
}
at::Tensor HalfSqFrobeniusMap::grad(const at::Tensor& X) const {
  detail::check_matrix(X, "half_sq_frobenius.grad");
  return X.clone();
}
at::Tensor HalfSqFrobeniusMap::conjugate(const at::Tensor& Y) const {
  auto n = fro(Y, "half_sq_frobenius.conjugate");
  return 0.5 * n * n;
}
at::Tensor HalfSqFrobeniusMap::dual_norm(const at::Tensor& G) const {
  return fro(G, "half_sq_frobenius.dual_norm");
}

// --------------------------------------------------------------------------------------------
// l1

std::string L1Map::describe() const {
  return "l1: K = sum |X_ij|, grad K = sign(X) (sign(0) = 0; Lion), K* = indicator of "
         "max |Y_ij| <= 1; min F s.t. max |X_ij| <= 1/lambda";
}
at::Tensor L1Map::value(const at::Tensor& X) const { return entry_l1(X, "l1.value"); }
at::Tensor L1Map::grad(const at::Tensor& X) const {
  detail::check_matrix(X, "l1.grad");
  return at::sign(X);
}
at::Tensor L1Map::conjugate(const at::Tensor& Y) const { return indicator(entry_linf(Y)); }
c10::optional<ConstraintSet> L1Map::constraint() const {
  return ConstraintSet{"linf", [](const at::Tensor& Y) { return entry_linf(Y); }, 1.0, true};
}
at::Tensor L1Map::dual_norm(const at::Tensor& G) const { return entry_l1(G, "l1.dual_norm"); }

// --------------------------------------------------------------------------------------------
// schatten

SchattenMap::SchattenMap(double q) : q_(q) {
  check_param(q, q >= 1 && !std::isnan(q), "schatten", "q", ">= 1 (or inf)");
}
double SchattenMap::q_dual() const {
  if (q_ == 1) return kInf;
  if (std::isinf(q_)) return 1;
  return q_ / (q_ - 1);
}
std::string SchattenMap::name() const { return "schatten:q=" + detail::format_param(q_); }
std::string SchattenMap::describe() const {
  return "schatten(q=" + detail::format_param(q_) +
         "): K = ||sigma||_q, grad K = U diag((sigma/||sigma||_q)^(q-1)) V^T, K* = indicator of "
         "the Schatten-" + detail::format_param(q_dual()) + " unit ball; min F s.t. ||X||_S" +
         detail::format_param(q_dual()) + " <= 1/lambda";
}
at::Tensor SchattenMap::value(const at::Tensor& X) const { return schatten_norm(X, q_); }
at::Tensor SchattenMap::grad(const at::Tensor& X) const {
  if (q_ == 1) return NuclearMap().grad(X);
  if (std::isinf(q_)) return SpectralNormMap().grad(X);
  detail::check_matrix(X, "schatten.grad");
  const double q = q_;
  return svd_map(X, [q](const at::Tensor& s) {
    // ‖σ‖_q = σ₁ (Σ (σ/σ₁)^q)^{1/q}; σ/‖σ‖_q ≤ 1, so the power cannot overflow.
    auto s1 = s.amax(-1, /*keepdim=*/true);
    auto safe = at::where(s1 > 0, s1, at::ones_like(s1));
    auto r = s / safe;
    auto nr = at::pow(at::pow(r, q).sum(-1, /*keepdim=*/true), 1.0 / q);
    nr = at::where(nr > 0, nr, at::ones_like(nr));
    return at::pow(r / nr, q - 1);
  });
}
at::Tensor SchattenMap::conjugate(const at::Tensor& Y) const {
  return indicator(schatten_norm(Y, q_dual()));
}
c10::optional<ConstraintSet> SchattenMap::constraint() const {
  const double qd = q_dual();
  if (std::isinf(qd)) return op_ball(true);
  if (qd == 1) return nuclear_ball();
  return ConstraintSet{"schatten:q=" + detail::format_param(qd),
                       [qd](const at::Tensor& Y) { return schatten_norm(Y, qd); }, 1.0, true};
}
at::Tensor SchattenMap::dual_norm(const at::Tensor& G) const { return schatten_norm(G, q_); }

// --------------------------------------------------------------------------------------------
// ky_fan

KyFanMap::KyFanMap(int64_t k) : k_(k) {
  TORCH_CHECK(k >= 1, "ky_fan: k must be >= 1, got ", k);
}
std::string KyFanMap::name() const { return "ky_fan:k=" + std::to_string(k_); }
std::string KyFanMap::describe() const {
  return "ky_fan(k=" + std::to_string(k_) +
         "): K = sum of the k largest sigma, grad K = U_k V_k^T, K* = indicator of "
         "||Y||_op <= 1 and ||Y||_* <= k; min F s.t. ||X||_op <= 1/lambda, ||X||_* <= k/lambda";
}
at::Tensor KyFanMap::value(const at::Tensor& X) const {
  auto s = svals(X, "ky_fan.value");
  return s.narrow(-1, 0, std::min<int64_t>(k_, s.size(-1))).sum(-1);
}
at::Tensor KyFanMap::grad(const at::Tensor& X) const {
  detail::check_matrix(X, "ky_fan.grad");
  const double tol = detail::rank_rcond(X, at::kDouble);
  const int64_t k = std::min<int64_t>(k_, std::min(X.size(-2), X.size(-1)));
  return svd_map(X, [tol, k](const at::Tensor& s) {
    // s is descending. Weight 1 above σ_k's tie group, the remaining k − #above shared by the
    // group of values within tol·σ₁ of σ_k, 0 below.
    auto band = s.amax(-1, /*keepdim=*/true) * tol;
    auto sk = s.narrow(-1, k - 1, 1);
    auto above = (s > sk + band).to(s.scalar_type());
    auto tied = ((s - sk).abs() <= band).to(s.scalar_type());
    auto share = (static_cast<double>(k) - above.sum(-1, /*keepdim=*/true)) /
                 tied.sum(-1, /*keepdim=*/true);
    return above + tied * share;
  });
}
at::Tensor KyFanMap::conjugate(const at::Tensor& Y) const {
  return indicator(constraint()->norm(Y));
}
c10::optional<ConstraintSet> KyFanMap::constraint() const {
  const double k = static_cast<double>(k_);
  return ConstraintSet{"ky_fan_dual:k=" + std::to_string(k_),
                       [k](const at::Tensor& Y) {
                         auto s = svals(Y, "ky_fan_dual_norm");
                         return at::maximum(s.select(-1, 0), s.sum(-1) / k);
                       },
                       1.0, true};
}
at::Tensor KyFanMap::dual_norm(const at::Tensor& G) const { return value(G); }

// --------------------------------------------------------------------------------------------
// power

PowerMap::PowerMap(double p, PowerOptions options) : p_(p), options_(std::move(options)) {
  check_param(p, p > 0 && p <= 1, "power", "p", "in (0, 1]");
  options_.validate();
  TORCH_CHECK(options_.method() != PowerMethod::coupled_newton || halvings_of(p) >= 0,
              "power: method coupled_newton needs p = 2^-k (1/2, 1/4, ...), got p = ", p);
}
std::string PowerMap::name() const {
  std::string n = "power:p=" + detail::format_param(p_);
  if (options_.method() != PowerMethod::svd) n += ",method=" + to_string(options_.method());
  return n;
}
std::string PowerMap::describe() const {
  return "power(p=" + detail::format_param(p_) +
         "): K = sum sigma^(1+p)/(1+p), grad K = U Sigma^p V^T (method " +
         to_string(options_.method()) + "), K* = sum s^(1+1/p)/(1+1/p); min F + lambda^(1/p) "
         "||X||_S(1+1/p)^(1+1/p)/(1+1/p)";
}
at::Tensor PowerMap::value(const at::Tensor& X) const {
  return (at::pow(svals(X, "power.value"), 1 + p_) / (1 + p_)).sum(-1);
}
at::Tensor PowerMap::grad(const at::Tensor& X) const {
  detail::check_matrix(X, "power.grad");
  return spectral_power(X, p_, options_);
}
at::Tensor PowerMap::conjugate(const at::Tensor& Y) const {
  const double e = 1 + 1 / p_;
  return (at::pow(svals(Y, "power.conjugate"), e) / e).sum(-1);
}
at::Tensor PowerMap::dual_norm(const at::Tensor& G) const { return schatten_norm(G, 1 + p_); }

// --------------------------------------------------------------------------------------------
// huber

HuberMap::HuberMap(double delta) : delta_(delta) {
  check_param(delta, delta > 0 && std::isfinite(delta), "huber", "delta", "> 0 and finite");
}
std::string HuberMap::name() const { return "huber:delta=" + detail::format_param(delta_); }
std::string HuberMap::describe() const {
  return "huber(delta=" + detail::format_param(delta_) +
         "): K = sum h_delta(sigma), grad K = U diag(min(sigma/delta, 1)) V^T, K* = sum "
         "delta s^2/2 on ||Y||_op <= 1; min F + (delta lambda/2)||X||_F^2 s.t. "
         "||X||_op <= 1/lambda";
}
at::Tensor HuberMap::value(const at::Tensor& X) const {
  const double d = delta_;
  auto s = svals(X, "huber.value");
  return at::where(s <= d, s * s / (2 * d), s - d / 2).sum(-1);
}
at::Tensor HuberMap::grad(const at::Tensor& X) const {
  detail::check_matrix(X, "huber.grad");
  const double d = delta_;
  return svd_map(X, [d](const at::Tensor& s) { return (s / d).clamp_max(1); });
}
at::Tensor HuberMap::conjugate(const at::Tensor& Y) const {
  const double d = delta_;
  return op_domain_conjugate(Y, "huber.conjugate",
                             [d](const at::Tensor& s) { return d * s * s / 2; });
}
c10::optional<ConstraintSet> HuberMap::constraint() const { return op_ball(false); }
at::Tensor HuberMap::dual_norm(const at::Tensor& G) const { return specopt::nuclear_norm(G); }

// --------------------------------------------------------------------------------------------
// relativistic

RelativisticMap::RelativisticMap(double delta) : delta_(delta) {
  check_param(delta, delta > 0 && std::isfinite(delta), "relativistic", "delta",
              "> 0 and finite");
}
std::string RelativisticMap::name() const {
  return "relativistic:delta=" + detail::format_param(delta_);
}
std::string RelativisticMap::describe() const {
  return "relativistic(delta=" + detail::format_param(delta_) +
         "): K = sum (sqrt(sigma^2 + delta^2) - delta), grad K = X (X^T X + delta^2 I)^(-1/2), "
         "K* = sum delta (1 - sqrt(1 - s^2)) on ||Y||_op <= 1; smooth barrier inside "
         "||X||_op <= 1/lambda";
}
at::Tensor RelativisticMap::value(const at::Tensor& X) const {
  const double d = delta_;
  auto s = svals(X, "relativistic.value");
  // sqrt(σ² + δ²) − δ = σ² / (hypot(σ, δ) + δ): no cancellation for small σ, no overflow.
  auto h = at::hypot(s, at::full_like(s, d));
  return (s * (s / (h + d))).sum(-1);
}
at::Tensor RelativisticMap::grad(const at::Tensor& X) const {
  detail::check_matrix(X, "relativistic.grad");
  const double d = delta_;
  return svd_map(X, [d](const at::Tensor& s) { return s / at::hypot(s, at::full_like(s, d)); });
}
at::Tensor RelativisticMap::conjugate(const at::Tensor& Y) const {
  const double d = delta_;
  // δ (1 − sqrt(1 − s²)) = δ s² / (1 + sqrt(1 − s²)).
  return op_domain_conjugate(Y, "relativistic.conjugate", [d](const at::Tensor& s) {
    return d * s * s / (1 + at::sqrt((1 - s * s).clamp_min(0)));
  });
}
c10::optional<ConstraintSet> RelativisticMap::constraint() const { return op_ball(false); }
at::Tensor RelativisticMap::dual_norm(const at::Tensor& G) const {
  return specopt::nuclear_norm(G);
}

// --------------------------------------------------------------------------------------------
// logcosh

std::string LogCoshMap::describe() const {
  return "logcosh: K = sum log cosh sigma, grad K = U tanh(Sigma) V^T, K* = sum "
         "((1+s)log(1+s) + (1-s)log(1-s))/2 on ||Y||_op <= 1; entropic penalty inside "
         "||X||_op <= 1/lambda";
}
at::Tensor LogCoshMap::value(const at::Tensor& X) const {
  auto s = svals(X, "logcosh.value");
  // log cosh σ = σ + log1p(e^{−2σ}) − log 2 (σ ≥ 0, no overflow); its Taylor series below
  // 1e-2, where the formula loses digits to cancellation.
  auto s2 = s * s;
  auto series = s2 * (0.5 - s2 * (1.0 / 12 - s2 / 45));
  auto big = s + at::log1p(at::exp(-2 * s)) - std::log(2.0);
  return at::where(s < 1e-2, series, big).sum(-1);
}
at::Tensor LogCoshMap::grad(const at::Tensor& X) const {
  detail::check_matrix(X, "logcosh.grad");
  return svd_map(X, [](const at::Tensor& s) { return at::tanh(s); });
}
at::Tensor LogCoshMap::conjugate(const at::Tensor& Y) const {
  return op_domain_conjugate(Y, "logcosh.conjugate", [](const at::Tensor& s) {
    // ½[(1+s)log(1+s) + (1−s)log(1−s)] = Σ_k s^{2k}/(2k(2k−1)); the series below 1e-2.
    auto s2 = s * s;
    auto series = s2 * (0.5 + s2 * (1.0 / 12 + s2 / 30));
    auto t = 1 - s;
    auto tlogt = at::where(t > 0, t * at::log(t.clamp_min(1e-300)), at::zeros_like(t));
    auto formula = 0.5 * ((1 + s) * at::log1p(s) + tlogt);
    return at::where(s < 1e-2, series, formula);
  });
}
c10::optional<ConstraintSet> LogCoshMap::constraint() const { return op_ball(false); }
at::Tensor LogCoshMap::dual_norm(const at::Tensor& G) const { return specopt::nuclear_norm(G); }

}  // namespace specopt
