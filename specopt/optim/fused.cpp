#include <specopt/optim/fused.h>

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/cpu/vec/functional.h>
#include <ATen/cpu/vec/vec.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <functional>
#include <type_traits>
#include <cmath>
#include <initializer_list>

#include <specopt/optim/transforms.h>
#include <specopt/util/torch_compat.h>

namespace specopt {
namespace fused {

namespace {

namespace T = transforms;
// One element of a kernel. The kernels are written over `Vec` (`Lane<scalar_t>`) with the
// element loop around them; GCC vectorises that loop itself (-O3, -fno-math-errno for
// the square root). This build cannot use at::vec's per-CPU vectors (they need SLEEF and a
// build per instruction set), and its portable fallback measured 3.6x slower than the loop
// GCC vectorises (AdamW, 46 M float32 elements, 2 threads: 0.107 s against 0.030 s).
template <class T>
struct Lane {
  T x;
  Lane(double v = 0) : x(static_cast<T>(v)) {}  // NOLINT: constants are written as doubles
  static Lane of(T v) {
    Lane l;
    l.x = v;
    return l;
  }
  friend Lane operator+(Lane a, Lane b) { return of(a.x + b.x); }
  friend Lane operator-(Lane a, Lane b) { return of(a.x - b.x); }
  friend Lane operator*(Lane a, Lane b) { return of(a.x * b.x); }
  friend Lane operator/(Lane a, Lane b) { return of(a.x / b.x); }
  Lane sqrt() const { return of(std::sqrt(x)); }
  // 1 where the comparison holds, else 0 (also for NaN), as at::vec's gt/lt/ge.
  Lane gt(Lane o) const { return of(static_cast<T>(x > o.x)); }
  Lane lt(Lane o) const { return of(static_cast<T>(x < o.x)); }
  Lane ge(Lane o) const { return of(static_cast<T>(x >= o.x)); }
};

// ---- which tensors the fused kernels take -------------------------------------------------

// One item (position i of the lists) goes to the fused kernel when all its tensors are CPU,
// float32 or float64 alike, contiguous and of one size; the rest runs the reference.
bool fusable(std::initializer_list<const at::Tensor*> ts) {
  const at::Tensor& first = **ts.begin();
  if (!first.defined() || !first.device().is_cpu()) return false;
  const auto dtype = first.scalar_type();
  if (dtype != at::kFloat && dtype != at::kDouble) return false;
  for (const at::Tensor* t : ts) {
    if (!t->defined() || !t->device().is_cpu() || t->scalar_type() != dtype ||
        !t->is_contiguous() || t->numel() != first.numel()) {
      return false;
    }
  }
  return true;
}

struct Plan {
  std::vector<size_t> f32, f64, rest;  // item indices by path
};

template <class Takes>
Plan plan(size_t n, Takes&& takes) {
  Plan p;
  for (size_t i = 0; i < n; ++i) {
    const at::Tensor* first = takes(i);
    if (first == nullptr) {
      p.rest.push_back(i);
    } else {
      (first->scalar_type() == at::kFloat ? p.f32 : p.f64).push_back(i);
    }
  }
  return p;
}

void check_sizes(const char* who, size_t n, std::initializer_list<size_t> others) {
  for (size_t k : others) {
    TORCH_CHECK(k == n, "fused::", who, ": tensor lists of different lengths (", n, " and ", k,
                ")");
  }
}

// The list's elements cut into chunks the threads share: one parallel region per call, and
// small tensors go together instead of each paying for its own region.
constexpr int64_t kChunk = 16384;
constexpr int64_t kMinChunksPerTask = 4;  // below ~64K elements, one thread is faster

struct Chunk {
  size_t item;
  int64_t begin, end;
};

template <class Body>
void for_chunks(const std::vector<size_t>& items, const std::function<int64_t(size_t)>& numel,
                Body&& body) {
  std::vector<Chunk> chunks;
  for (size_t i : items) {
    const int64_t n = numel(i);
    for (int64_t b = 0; b < n; b += kChunk) chunks.push_back({i, b, std::min(n, b + kChunk)});
  }
  at::parallel_for(0, static_cast<int64_t>(chunks.size()), kMinChunksPerTask,
                   [&](int64_t lo, int64_t hi) {
                     for (int64_t c = lo; c < hi; ++c) {
                       body(chunks[c].item, chunks[c].begin, chunks[c].end);
                     }
                   });
}

// Runs `span<scalar_t>(item, begin, end)` over the plan's fused items, float32 then float64.
template <class Span>
void run_fused(const Plan& p, const std::function<int64_t(size_t)>& numel, Span&& span) {
  if (!p.f32.empty()) {
    for_chunks(p.f32, numel, [&](size_t i, int64_t b, int64_t e) { span(float{}, i, b, e); });
  }
  if (!p.f64.empty()) {
    for_chunks(p.f64, numel, [&](size_t i, int64_t b, int64_t e) { span(double{}, i, b, e); });
  }
}

// f(d) for every element d of [0, n): the loop GCC vectorises.
template <class scalar_t, class F>
inline void vector_loop(int64_t n, F&& f) {
  for (int64_t d = 0; d < n; ++d) f(d);
}

template <class scalar_t>
inline Lane<scalar_t> load(const scalar_t* p, int64_t d) {
  return Lane<scalar_t>::of(p[d]);
}

template <class scalar_t>
inline void store(const Lane<scalar_t>& x, scalar_t* p, int64_t d) {
  p[d] = x.x;
}

// Decoupled (or, with `cautious`, cautious) weight decay of W given the update u it will take,
// W ← W − ηu: the reference of every kernel's decay. u is read only when `cautious`.
void decay_reference_(at::Tensor& W, const at::Tensor& u, double lr, double weight_decay,
                      bool cautious) {
  if (cautious) {
    T::cautious_weight_decay_(W, u, lr, weight_decay);  // W ← W − ηλ·1[u ⊙ W ≥ 0]⊙W
  } else {
    T::decoupled_weight_decay_(W, lr, weight_decay);    // W ← W(1 − ηλ)
  }
}

// The decay factor per lane: 1 − ηλ, or with `cautious` 1 − ηλ·1[u ⊙ W ≥ 0] (u ⊙ W given).
template <class scalar_t>
inline Lane<scalar_t> decay_lanes(bool cautious, const Lane<scalar_t>& plain,
                                  const Lane<scalar_t>& lr_wd, const Lane<scalar_t>& uW) {
  if (!cautious) return plain;
  const Lane<scalar_t> zero(0), one(1);
  return one - lr_wd * uW.ge(zero);
}

// The factor 1 − ηλ of decoupled weight decay (exactly 1 when there is no decay).
double decay_factor(double lr, double weight_decay) {
  return lr * weight_decay != 0.0 ? 1.0 - lr * weight_decay : 1.0;
}

template <class scalar_t>
scalar_t* ptr(const at::Tensor& t) {
  return t.data_ptr<scalar_t>();
}

// Checked before anything is written: a refused call leaves every tensor as it was.
void check_steps(const char* who, at::IntArrayRef steps) {
  for (const int64_t step : steps) {
    TORCH_CHECK(step >= 1, "fused::", who, ": step must be >= 1, got ", step);
  }
}

}  // namespace

// ---- AdamW ------------------------------------------------------------------------------

void adamw_reference_(at::TensorList W, at::TensorList g, at::TensorList m, at::TensorList v,
                      at::IntArrayRef steps, const AdamArgs& a) {
  check_sizes("adamw_reference_", W.size(), {g.size(), m.size(), v.size(), steps.size()});
  for (size_t i = 0; i < W.size(); ++i) {
    at::Tensor Wi = W[i], mi = m[i], vi = v[i];
    T::ema_(mi, g[i], a.beta1);     // m ← β₁m + (1−β₁)g
    T::ema_sq_(vi, g[i], a.beta2);  // v ← β₂v + (1−β₂)g²
    const auto R = T::rms_normalize(mi, vi, steps[i], a.beta1, a.beta2, a.eps);  // m̂/(√v̂ + ε)
    decay_reference_(Wi, R, a.lr, a.weight_decay, a.cautious);  // W ← W(1 − ηλ)
    T::apply_update_(Wi, R, -a.lr);                             // W ← W − η R
  }
}

void adamw_(at::TensorList W, at::TensorList g, at::TensorList m, at::TensorList v,
            at::IntArrayRef steps, const AdamArgs& a) {
  check_sizes("adamw_", W.size(), {g.size(), m.size(), v.size(), steps.size()});
  check_steps("adamw_", steps);
  const Plan p = plan(W.size(), [&](size_t i) {
    return fusable({&W[i], &g[i], &m[i], &v[i]}) ? &W[i] : nullptr;
  });
  run_fused(p, [&](size_t i) { return W[i].numel(); }, [&](auto tag, size_t i, int64_t b,
                                                           int64_t e) {
    using scalar_t = decltype(tag);
    using Vec = Lane<scalar_t>;
    const double t = static_cast<double>(steps[i]);
    const Vec decay(decay_factor(a.lr, a.weight_decay)), lr_wd(a.lr * a.weight_decay),
        b1(a.beta1), c1(1.0 - a.beta1), b2(a.beta2), c2(1.0 - a.beta2), eps(a.eps),
        neg_lr(-a.lr), bc1(1.0 - std::pow(a.beta1, t)), bc2(1.0 - std::pow(a.beta2, t));
    scalar_t *Wp = ptr<scalar_t>(W[i]) + b, *mp = ptr<scalar_t>(m[i]) + b,
             *vp = ptr<scalar_t>(v[i]) + b;
    const scalar_t* gp = ptr<scalar_t>(g[i]) + b;
    vector_loop<scalar_t>(e - b, [&](int64_t d) {
      const Vec gv = load(gp, d);
      const Vec mv = load(mp, d) * b1 + c1 * gv;               // m ← β₁m + (1−β₁)g
      const Vec vv = load(vp, d) * b2 + c2 * gv * gv;          // v ← β₂v + (1−β₂)g²
      const Vec R = (mv / bc1) / ((vv / bc2).sqrt() + eps);       // m̂ / (√v̂ + ε)
      const Vec w = load(Wp, d);
      const Vec Wv = w * decay_lanes(a.cautious, decay, lr_wd, R * w) + neg_lr * R;  // W(1 − ηλ) − ηR
      store(mv, mp, d);
      store(vv, vp, d);
      store(Wv, Wp, d);
    });
  });
  std::vector<size_t> accelerated;
  for (size_t i : p.rest) {
    if (!W[i].device().is_cpu() && compat::has_fused_adamw(W[i].device()) && !a.cautious) {
      accelerated.push_back(i);
    } else {
      adamw_reference_({W[i]}, {g[i]}, {m[i]}, {v[i]}, {steps[i]}, a);
    }
  }
  if (!accelerated.empty()) {
    auto pick = [&](at::TensorList xs) {
      std::vector<at::Tensor> out;
      for (size_t i : accelerated) out.push_back(xs[i]);
      return out;
    };
    std::vector<int64_t> t;
    for (size_t i : accelerated) t.push_back(steps[i]);
    libtorch_adamw_(pick(W), pick(g), pick(m), pick(v), t, a);
  }
}

bool libtorch_adamw_available(const at::Device& device) { return compat::has_fused_adamw(device); }

void libtorch_adamw_(at::TensorList W, at::TensorList g, at::TensorList m, at::TensorList v,
                     at::IntArrayRef steps, const AdamArgs& a) {
  check_sizes("libtorch_adamw_", W.size(), {g.size(), m.size(), v.size(), steps.size()});
  check_steps("libtorch_adamw_", steps);
  // LibTorch's kernel takes one device and dtype per call, contiguous tensors.
  std::vector<std::vector<size_t>> groups;
  for (size_t i = 0; i < W.size(); ++i) {
    const bool takes = compat::has_fused_adamw(W[i].device()) && !a.cautious && W[i].is_contiguous() &&
                       g[i].is_contiguous() && m[i].is_contiguous() && v[i].is_contiguous() &&
                       g[i].scalar_type() == W[i].scalar_type() && W[i].numel() > 0;
    if (!takes) {
      adamw_reference_({W[i]}, {g[i]}, {m[i]}, {v[i]}, {steps[i]}, a);
      continue;
    }
    auto same = std::find_if(groups.begin(), groups.end(), [&](const std::vector<size_t>& gr) {
      return W[gr[0]].device() == W[i].device() && W[gr[0]].scalar_type() == W[i].scalar_type();
    });
    if (same == groups.end()) {
      groups.push_back({i});
    } else {
      same->push_back(i);
    }
  }
  for (const auto& gr : groups) {
    std::vector<at::Tensor> Ws, gs, ms, vs;
    std::vector<int64_t> ts;
    for (size_t i : gr) {
      Ws.push_back(W[i]);
      gs.push_back(g[i]);
      ms.push_back(m[i]);
      vs.push_back(v[i]);
      ts.push_back(steps[i]);
    }
    compat::fused_adamw_(Ws, gs, ms, vs, ts, a.lr, a.beta1, a.beta2, a.weight_decay, a.eps);
  }
}

std::vector<at::Tensor> adam_ratio_reference_(at::TensorList g, at::TensorList m,
                                              at::TensorList v, at::IntArrayRef steps,
                                              const AdamArgs& a) {
  check_sizes("adam_ratio_reference_", g.size(), {m.size(), v.size(), steps.size()});
  std::vector<at::Tensor> R;
  for (size_t i = 0; i < g.size(); ++i) {
    at::Tensor mi = m[i], vi = v[i];
    T::ema_(mi, g[i], a.beta1);     // m ← β₁m + (1−β₁)g
    T::ema_sq_(vi, g[i], a.beta2);  // v ← β₂v + (1−β₂)g²
    R.push_back(T::rms_normalize(mi, vi, steps[i], a.beta1, a.beta2, a.eps));  // m̂/(√v̂ + ε)
  }
  return R;
}

std::vector<at::Tensor> adam_ratio_(at::TensorList g, at::TensorList m, at::TensorList v,
                                    at::IntArrayRef steps, const AdamArgs& a) {
  check_sizes("adam_ratio_", g.size(), {m.size(), v.size(), steps.size()});
  check_steps("adam_ratio_", steps);
  std::vector<at::Tensor> R(g.size());
  const Plan p = plan(g.size(), [&](size_t i) {
    if (!fusable({&g[i], &m[i], &v[i]})) return static_cast<const at::Tensor*>(nullptr);
    R[i] = at::empty_like(m[i], at::MemoryFormat::Contiguous);
    return &g[i];
  });
  run_fused(p, [&](size_t i) { return g[i].numel(); }, [&](auto tag, size_t i, int64_t b,
                                                           int64_t e) {
    using scalar_t = decltype(tag);
    using Vec = Lane<scalar_t>;
    const double t = static_cast<double>(steps[i]);
    const Vec b1(a.beta1), c1(1.0 - a.beta1), b2(a.beta2), c2(1.0 - a.beta2), eps(a.eps),
        bc1(1.0 - std::pow(a.beta1, t)), bc2(1.0 - std::pow(a.beta2, t));
    scalar_t *mp = ptr<scalar_t>(m[i]) + b, *vp = ptr<scalar_t>(v[i]) + b,
             *Rp = ptr<scalar_t>(R[i]) + b;
    const scalar_t* gp = ptr<scalar_t>(g[i]) + b;
    vector_loop<scalar_t>(e - b, [&](int64_t d) {
      const Vec gv = load(gp, d);
      const Vec mv = load(mp, d) * b1 + c1 * gv;       // m ← β₁m + (1−β₁)g
      const Vec vv = load(vp, d) * b2 + c2 * gv * gv;  // v ← β₂v + (1−β₂)g²
      store(mv, mp, d);
      store(vv, vp, d);
      store((mv / bc1) / ((vv / bc2).sqrt() + eps), Rp, d);  // m̂ / (√v̂ + ε)
    });
  });
  for (size_t i : p.rest) {
    R[i] = adam_ratio_reference_({g[i]}, {m[i]}, {v[i]}, {steps[i]}, a)[0];
  }
  return R;
}

// ---- Lion -------------------------------------------------------------------------------

void lion_reference_(at::TensorList W, at::TensorList g, at::TensorList m, const LionArgs& a) {
  check_sizes("lion_reference_", W.size(), {g.size(), m.size()});
  for (size_t i = 0; i < W.size(); ++i) {
    at::Tensor Wi = W[i], mi = m[i];
    const auto u = T::interpolate(mi, g[i], a.beta1).sign();  // u = sign(β₁m + (1−β₁)g)
    decay_reference_(Wi, u, a.lr, a.weight_decay, a.cautious);  // W ← W − ηλW
    T::apply_update_(Wi, u, -a.lr);                             // W ← W − η u
    T::ema_(mi, g[i], a.beta2);                             // m ← β₂m + (1−β₂)g
  }
}

void lion_(at::TensorList W, at::TensorList g, at::TensorList m, const LionArgs& a) {
  check_sizes("lion_", W.size(), {g.size(), m.size()});
  const Plan p = plan(W.size(), [&](size_t i) {
    return fusable({&W[i], &g[i], &m[i]}) ? &W[i] : nullptr;
  });
  run_fused(p, [&](size_t i) { return W[i].numel(); }, [&](auto tag, size_t i, int64_t b,
                                                           int64_t e) {
    using scalar_t = decltype(tag);
    using Vec = Lane<scalar_t>;
    const Vec decay(decay_factor(a.lr, a.weight_decay)), lr_wd(a.lr * a.weight_decay),
        b1(a.beta1), c1(1.0 - a.beta1), b2(a.beta2), c2(1.0 - a.beta2), neg_lr(-a.lr), zero(0);
    scalar_t *Wp = ptr<scalar_t>(W[i]) + b, *mp = ptr<scalar_t>(m[i]) + b;
    const scalar_t* gp = ptr<scalar_t>(g[i]) + b;
    vector_loop<scalar_t>(e - b, [&](int64_t d) {
      const Vec gv = load(gp, d), mv = load(mp, d);
      const Vec c = mv * b1 + c1 * gv;                   // c = β₁m + (1−β₁)g
      const Vec sign = c.gt(zero) - c.lt(zero);          // sign(c), 0 at 0 (and NaN, as ATen)
      const Vec w = load(Wp, d);
      // W(1 − ηλ) − η sign(c)
      store(w * decay_lanes(a.cautious, decay, lr_wd, sign * w) + neg_lr * sign, Wp, d);
      store(mv * b2 + c2 * gv, mp, d);                // m ← β₂m + (1−β₂)g
    });
  });
  for (size_t i : p.rest) lion_reference_({W[i]}, {g[i]}, {m[i]}, a);
}

// ---- momentum ---------------------------------------------------------------------------

std::vector<at::Tensor> heavy_ball_direction_reference_(at::TensorList B, at::TensorList g,
                                                        double mu, bool nesterov) {
  check_sizes("heavy_ball_direction_reference_", B.size(), {g.size()});
  std::vector<at::Tensor> U;
  for (size_t i = 0; i < B.size(); ++i) {
    at::Tensor Bi = B[i];
    T::heavy_ball_(Bi, g[i], mu);                            // B ← μB + g
    U.push_back(nesterov ? T::nesterov(g[i], Bi, mu) : Bi);  // U = g + μB
  }
  return U;
}

std::vector<at::Tensor> heavy_ball_direction_(at::TensorList B, at::TensorList g, double mu,
                                              bool nesterov) {
  check_sizes("heavy_ball_direction_", B.size(), {g.size()});
  std::vector<at::Tensor> U(B.begin(), B.end());
  const Plan p = plan(B.size(), [&](size_t i) {
    if (!fusable({&B[i], &g[i]})) return static_cast<const at::Tensor*>(nullptr);
    if (nesterov) U[i] = at::empty_like(B[i], at::MemoryFormat::Contiguous);
    return &B[i];
  });
  run_fused(p, [&](size_t i) { return B[i].numel(); }, [&](auto tag, size_t i, int64_t b,
                                                           int64_t e) {
    using scalar_t = decltype(tag);
    using Vec = Lane<scalar_t>;
    const Vec muv(mu);
    scalar_t *Bp = ptr<scalar_t>(B[i]) + b, *Up = ptr<scalar_t>(U[i]) + b;
    const scalar_t* gp = ptr<scalar_t>(g[i]) + b;
    vector_loop<scalar_t>(e - b, [&](int64_t d) {
      const Vec gv = load(gp, d);
      const Vec Bv = load(Bp, d) * muv + gv;  // B ← μB + g
      store(Bv, Bp, d);
      if (nesterov) store(gv + muv * Bv, Up, d);  // U = g + μB
    });
  });
  for (size_t i : p.rest) U[i] = heavy_ball_direction_reference_({B[i]}, {g[i]}, mu, nesterov)[0];
  return U;
}

std::vector<at::Tensor> ema_direction_reference_(at::TensorList M, at::TensorList g, double beta,
                                                 bool lookahead, double beta_u, double scale) {
  check_sizes("ema_direction_reference_", M.size(), {g.size()});
  std::vector<at::Tensor> U;
  for (size_t i = 0; i < M.size(); ++i) {
    at::Tensor Mi = M[i];
    T::ema_(Mi, g[i], beta, scale);  // M ← βM + (1−β)·s·g
    U.push_back(lookahead ? T::interpolate(Mi, g[i], beta_u, scale) : Mi);  // β_u M + (1−β_u) s g
  }
  return U;
}

std::vector<at::Tensor> ema_direction_(at::TensorList M, at::TensorList g, double beta,
                                       bool lookahead, double beta_u, double scale) {
  check_sizes("ema_direction_", M.size(), {g.size()});
  std::vector<at::Tensor> U(M.begin(), M.end());
  const Plan p = plan(M.size(), [&](size_t i) {
    if (!fusable({&M[i], &g[i]})) return static_cast<const at::Tensor*>(nullptr);
    if (lookahead) U[i] = at::empty_like(M[i], at::MemoryFormat::Contiguous);
    return &M[i];
  });
  run_fused(p, [&](size_t i) { return M[i].numel(); }, [&](auto tag, size_t i, int64_t b,
                                                           int64_t e) {
    using scalar_t = decltype(tag);
    using Vec = Lane<scalar_t>;
    const Vec bm(beta), cm((1.0 - beta) * scale), bu(beta_u), cu((1.0 - beta_u) * scale);
    scalar_t *Mp = ptr<scalar_t>(M[i]) + b, *Up = ptr<scalar_t>(U[i]) + b;
    const scalar_t* gp = ptr<scalar_t>(g[i]) + b;
    vector_loop<scalar_t>(e - b, [&](int64_t d) {
      const Vec gv = load(gp, d);
      const Vec Mv = load(Mp, d) * bm + cm * gv;  // M ← βM + (1−β)·s·g
      store(Mv, Mp, d);
      if (lookahead) store(Mv * bu + cu * gv, Up, d);  // U = β_u M + (1−β_u)·s·g
    });
  });
  for (size_t i : p.rest) {
    U[i] = ema_direction_reference_({M[i]}, {g[i]}, beta, lookahead, beta_u, scale)[0];
  }
  return U;
}

// ---- the update -------------------------------------------------------------------------

void decay_and_apply_reference_(at::TensorList W, at::TensorList U, double lr,
                                double weight_decay, at::ArrayRef<double> alphas, bool cautious) {
  check_sizes("decay_and_apply_reference_", W.size(), {U.size(), alphas.size()});
  for (size_t i = 0; i < W.size(); ++i) {
    at::Tensor Wi = W[i];
    decay_reference_(Wi, cautious ? U[i] * -alphas[i] : at::Tensor(), lr, weight_decay,
                     cautious);  // u = −αU/η
    T::apply_update_(Wi, U[i], alphas[i]);                                 // W ← W + αU
  }
}

void decay_and_apply_(at::TensorList W, at::TensorList U, double lr, double weight_decay,
                      at::ArrayRef<double> alphas, bool cautious) {
  check_sizes("decay_and_apply_", W.size(), {U.size(), alphas.size()});
  const Plan p = plan(W.size(), [&](size_t i) { return fusable({&W[i], &U[i]}) ? &W[i] : nullptr; });
  const double decay_d = decay_factor(lr, weight_decay);
  run_fused(p, [&](size_t i) { return W[i].numel(); }, [&](auto tag, size_t i, int64_t b,
                                                           int64_t e) {
    using scalar_t = decltype(tag);
    using Vec = Lane<scalar_t>;
    const Vec decay(decay_d), lr_wd(lr * weight_decay), alpha(alphas[i]), neg_alpha(-alphas[i]);
    scalar_t* Wp = ptr<scalar_t>(W[i]) + b;
    const scalar_t* Up = ptr<scalar_t>(U[i]) + b;
    vector_loop<scalar_t>(e - b, [&](int64_t d) {
      const Vec w = load(Wp, d), u = load(Up, d);
      // W(1 − ηλ) + αU
      store(w * decay_lanes(cautious, decay, lr_wd, neg_alpha * u * w) + alpha * u, Wp, d);
    });
  });
  for (size_t i : p.rest) {
    decay_and_apply_reference_({W[i]}, {U[i]}, lr, weight_decay, {alphas[i]}, cautious);
  }
}

namespace {

// f(row, begin, end) over the rows of a (..., r, c) tensor, rows shared by the threads.
template <class F>
void for_rows(int64_t rows, int64_t cols, F&& f) {
  const int64_t grain = std::max<int64_t>(1, kChunk * kMinChunksPerTask / std::max<int64_t>(cols, 1));
  at::parallel_for(0, rows, grain, [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) f(r);
  });
}

// Columns per row when d has one factor per row of U (checked).
int64_t row_length(const char* who, const at::Tensor& U, const at::Tensor& d) {
  TORCH_CHECK(d.numel() > 0 ? U.numel() % d.numel() == 0 : U.numel() == 0, "fused::", who,
              ": ", d.numel(), " row factors do not divide a tensor of ", U.numel(),
              " elements into rows");
  return d.numel() > 0 ? U.numel() / d.numel() : 0;
}

}  // namespace

void decay_and_apply_rows_reference_(const at::Tensor& W, const at::Tensor& U,
                                     const at::Tensor& d, double lr, double weight_decay,
                                     double alpha, bool cautious) {
  const int64_t cols = row_length("decay_and_apply_rows_reference_", U, d);
  at::Tensor Wm = W;
  if (U.numel() == 0) return;
  const auto dU = (U.reshape({-1, cols}) * d.reshape({-1, 1}).to(U.scalar_type())).reshape(W.sizes());
  decay_reference_(Wm, cautious ? dU * -alpha : at::Tensor(), lr, weight_decay,
                   cautious);  // u = −α d U / η
  T::apply_update_(Wm, dU, alpha);                                 // W ← W + α d U
}

void decay_and_apply_rows_(const at::Tensor& W, const at::Tensor& U, const at::Tensor& d,
                           double lr, double weight_decay, double alpha, bool cautious) {
  TORCH_CHECK(W.sizes() == U.sizes(), "fused::decay_and_apply_rows_: W ", W.sizes(), " and U ",
              U.sizes(), " differ in shape");
  const int64_t cols = row_length("decay_and_apply_rows_", U, d);
  if (!fusable({&W, &U}) || !fusable({&d}) || d.scalar_type() != U.scalar_type()) {
    decay_and_apply_rows_reference_(W, U, d, lr, weight_decay, alpha, cautious);
    return;
  }
  const int64_t rows = d.numel();
  AT_DISPATCH_FLOATING_TYPES(U.scalar_type(), "decay_and_apply_rows_", [&] {
    using Vec = Lane<scalar_t>;
    const Vec decay(decay_factor(lr, weight_decay)), lr_wd(lr * weight_decay);
    scalar_t* Wp = W.data_ptr<scalar_t>();
    const scalar_t *Up = U.data_ptr<scalar_t>(), *dp = d.data_ptr<scalar_t>();
    for_rows(rows, cols, [&](int64_t r) {
      const Vec a(static_cast<scalar_t>(alpha) * dp[r]), neg_a(-(static_cast<scalar_t>(alpha) * dp[r]));
      scalar_t* Wr = Wp + r * cols;
      const scalar_t* Ur = Up + r * cols;
      vector_loop<scalar_t>(cols, [&](int64_t j) {
        const Vec w = load(Wr, j), u = load(Ur, j);
        // W(1 − ηλ) + α d U
        store(w * decay_lanes(cautious, decay, lr_wd, neg_a * u * w) + a * u, Wr, j);
      });
    });
  });
}

at::Tensor row_sum_squares_reference(const at::Tensor& U) {
  return U.square().sum(-1, /*keepdim=*/true);
}

at::Tensor row_sum_squares(const at::Tensor& U) {
  if (U.dim() < 2 || !fusable({&U})) return row_sum_squares_reference(U);
  auto shape = U.sizes().vec();
  shape.back() = 1;
  auto out = at::empty(shape, U.options());
  const int64_t cols = U.size(-1), rows = out.numel();
  AT_DISPATCH_FLOATING_TYPES(U.scalar_type(), "row_sum_squares", [&] {
    // A sum: at::vec's lanes keep several partial sums (the compiler may not reorder one).
    using Vec = at::vec::Vectorized<scalar_t>;
    constexpr int64_t V = Vec::size();
    const scalar_t* Up = U.data_ptr<scalar_t>();
    scalar_t* op = out.data_ptr<scalar_t>();
    for_rows(rows, cols, [&](int64_t r) {
      const scalar_t* row = Up + r * cols;
      Vec acc(0);
      int64_t j = 0;
      for (; j + V <= cols; j += V) {
        const Vec x = Vec::loadu(row + j);
        acc = acc + x * x;
      }
      scalar_t sum = at::vec::vec_reduce_all<scalar_t>([](Vec& a, Vec& b) { return a + b; }, acc);
      for (; j < cols; ++j) sum += row[j] * row[j];
      op[r] = sum;
    });
  });
  return out;
}

// ---- checks -----------------------------------------------------------------------------

int64_t first_nonfinite_reference(at::TensorList xs) {
  if (xs.empty()) return -1;
  const auto device = xs.front().device();
  std::vector<at::Tensor> flags;
  flags.reserve(xs.size());
  for (const auto& x : xs) flags.push_back(at::isfinite(x).all().to(device));
  // The one device → host transfer; then the flags are plain host memory.
  const auto ok = at::stack(flags).to(at::kCPU);
  const auto* data = ok.data_ptr<bool>();
  for (size_t i = 0; i < xs.size(); ++i) {
    if (!data[i]) return static_cast<int64_t>(i);
  }
  return -1;
}

int64_t first_nonfinite(at::TensorList xs) {
  const Plan p = plan(xs.size(), [&](size_t i) { return fusable({&xs[i]}) ? &xs[i] : nullptr; });
  if (p.f32.empty() && p.f64.empty()) return first_nonfinite_reference(xs);
  std::vector<std::atomic<bool>> bad(xs.size());  // set by whichever thread finds a bad chunk
  for (auto& b : bad) b.store(false);
  run_fused(p, [&](size_t i) { return xs[i].numel(); }, [&](auto tag, size_t i, int64_t b,
                                                            int64_t e) {
    using scalar_t = decltype(tag);
    // NaN and ±Inf are the values whose exponent bits are all ones: an integer test and an OR,
    // which the compiler vectorises (a floating-point sum it may not reorder).
    using Bits = std::conditional_t<sizeof(scalar_t) == 4, uint32_t, uint64_t>;
    constexpr Bits exponent = sizeof(scalar_t) == 4 ? Bits(0x7f800000u) : Bits(0x7ff0000000000000ull);
    const scalar_t* xp = ptr<scalar_t>(xs[i]) + b;
    Bits any = 0;
    for (int64_t d = 0; d < e - b; ++d) {
      Bits u;
      std::memcpy(&u, xp + d, sizeof u);
      any |= static_cast<Bits>((u & exponent) == exponent);
    }
    if (any) bad[i].store(true);
  });
  std::vector<at::Tensor> rest;
  for (size_t i : p.rest) rest.push_back(xs[i]);
  const int64_t bad_rest = rest.empty() ? -1 : first_nonfinite_reference(rest);
  for (size_t i = 0; i < xs.size(); ++i) {
    if (bad[i].load()) return static_cast<int64_t>(i);
    if (bad_rest >= 0 && i == p.rest[static_cast<size_t>(bad_rest)]) return static_cast<int64_t>(i);
  }
  return -1;
}

}  // namespace fused
}  // namespace specopt
