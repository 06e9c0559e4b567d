"""specopt's tensor functions (polar, spectral_power, spectral_map, top_singular, norms, convex
maps and their diagnostics) against float64 torch.linalg.svd references, and their errors.

Tolerances: exact methods (svd) in float64 within 1e-12 relative; gram_eigh within 1e-8 on
matrices with condition number < 100 (it loses singular values below √eps·σ₁ only); float32
within 1e-5; "auto" within its target tol (relative Frobenius error); iterative methods within
the accuracy their iteration count and recipe reach (stated at each test)."""
import math

import pytest
import torch

import specopt


def matrix(*shape, dtype=torch.float64, seed=0, cond=None):
    """A random (..., m, n) matrix; with `cond`, singular values spread from 1 to 1/cond."""
    g = torch.Generator().manual_seed(seed)
    G = torch.randn(*shape, generator=g, dtype=torch.float64)
    if cond is not None:
        U, _, Vh = torch.linalg.svd(G, full_matrices=False)
        k = U.size(-1)
        S = torch.logspace(0, -math.log10(cond), k, dtype=torch.float64)
        G = U @ torch.diag_embed(S.expand(*shape[:-2], k)) @ Vh
    return G.to(dtype)


def svd_map(G, f):
    """U f(Σ) Vᵀ in float64."""
    U, S, Vh = torch.linalg.svd(G.double(), full_matrices=False)
    return U @ torch.diag_embed(f(S)) @ Vh


def rel(a, b):
    return ((a.double() - b.double()).norm() / b.double().norm()).item()


SHAPES = [(7, 4), (4, 7), (5, 5), (3, 6, 4)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("method,tol", [("svd", 1e-12), ("gram_eigh", 1e-8), ("auto", 1e-3)])
def test_polar_against_svd(shape, method, tol):
    G = matrix(*shape, cond=50)
    O = specopt.polar(G, method)
    assert O.shape == G.shape and O.dtype == G.dtype
    assert rel(O, svd_map(G, torch.ones_like)) < tol


def test_polar_newton_schulz_schedules():
    G = matrix(8, 5, cond=10)
    exact = svd_map(G, torch.ones_like)
    # The convergent cubic reaches U Vᵀ to rounding in 40 steps at condition number 10.
    assert rel(specopt.polar(G, "newton_schulz", schedule="cubic", steps=40), exact) < 1e-10
    # A table of one triple equals the named schedule with the same triple.
    table = specopt.polar(G, "newton_schulz", schedule=[(1.5, -0.5, 0.0)], steps=40)
    assert torch.equal(table, specopt.polar(G, "newton_schulz", schedule="cubic", steps=40))
    # Jordan's quintic does not converge to 1: singular values end in roughly [0.7, 1.2].
    s = torch.linalg.svdvals(specopt.polar(G, "newton_schulz"))
    assert 0.6 < s.min() and s.max() < 1.25 and rel(specopt.polar(G, "newton_schulz"), exact) > 1e-3


def test_polar_float32_and_rank_deficient():
    G = matrix(6, 4, dtype=torch.float32, cond=20)
    O = specopt.polar(G, "svd")
    assert O.dtype == torch.float32 and rel(O, svd_map(G, torch.ones_like)) < 1e-5
    # Rank 2: U_r V_rᵀ; the zero matrix maps to zeros.
    A = matrix(6, 2) @ matrix(2, 4, seed=1)
    U, S, Vh = torch.linalg.svd(A, full_matrices=False)
    assert rel(specopt.polar(A, "svd"), U[:, :2] @ Vh[:2]) < 1e-12
    assert torch.equal(specopt.polar(torch.zeros(3, 5, dtype=torch.float64)),
                       torch.zeros(3, 5, dtype=torch.float64))


@pytest.mark.parametrize("p", [0.0, 0.25, 0.5, 0.8, 1.0])
@pytest.mark.parametrize("method,tol", [("svd", 1e-12), ("gram_eigh", 1e-8)])
def test_spectral_power_against_svd(p, method, tol):
    G = matrix(3, 7, 5, cond=30)
    assert rel(specopt.spectral_power(G, p, method), svd_map(G, lambda s: s ** p)) < tol


@pytest.mark.parametrize("p", [0.5, 0.25])
def test_spectral_power_coupled_newton(p):
    # Paper 3's iteration as released (15 iterations per square root) adds the ridge
    # 1e-4·tr(A)/n to the Gram matrix (specopt/matfun/coupled_newton.h): ≈2e-4 relative here,
    # so 1e-3 — and not exact, which would mean the method name was ignored.
    G = matrix(9, 6, cond=10)
    err = rel(specopt.spectral_power(G, p, "coupled_newton"), svd_map(G, lambda s: s ** p))
    assert 1e-6 < err < 1e-3


def test_spectral_map_against_svd():
    G = matrix(2, 5, 8, cond=40)
    for f in (torch.tanh, lambda s: s ** 2, lambda s: torch.clamp(s, max=0.5)):
        assert rel(specopt.spectral_map(G, f), svd_map(G, f)) < 1e-12
        assert rel(specopt.spectral_map(G, f, "gram_eigh"), svd_map(G, f)) < 1e-8


def test_top_singular_against_svd():
    G = matrix(2, 30, 20, seed=3)
    t = specopt.top_singular(G, 3, tol=1e-10, max_iters=2000)
    S = torch.linalg.svdvals(G)
    assert t.converged and t.residual <= 1e-10
    assert torch.allclose(t.S, S[..., :3], rtol=1e-9, atol=0)
    U, S3, V = t  # unpacks as (U, S, V)
    assert U.shape == (2, 30, 3) and V.shape == (2, 20, 3)
    # Triplets: G vᵢ = σᵢ uᵢ, orthonormal columns.
    assert torch.allclose(G @ V, U * S3.unsqueeze(-2), atol=1e-8)
    assert torch.allclose(U.transpose(-2, -1) @ U, torch.eye(3, dtype=G.dtype).expand(2, 3, 3),
                          atol=1e-9)


def test_norms_against_svd():
    G = matrix(3, 6, 4, seed=5)
    S = torch.linalg.svdvals(G)
    cases = [
        (specopt.op_norm(G), S[..., 0]),
        (specopt.nuclear_norm(G), S.sum(-1)),
        (specopt.frobenius_norm(G), S.square().sum(-1).sqrt()),
        (specopt.schatten_norm(G, 3.0), S.pow(3).sum(-1).pow(1 / 3)),
        (specopt.schatten_norm(G, math.inf), S[..., 0]),
        (specopt.ky_fan_norm(G, 2), S[..., :2].sum(-1)),
        (specopt.singular_values(G), S),
    ]
    for ours, ref in cases:
        assert ours.shape == ref.shape
        assert torch.allclose(ours, ref, rtol=1e-12, atol=0)
    # Scaled before the SVD: float32 entries near 1e-30 neither underflow nor overflow.
    tiny = (G * 1e-30).float()
    assert torch.allclose(specopt.nuclear_norm(tiny).double() * 1e30, S.sum(-1), rtol=1e-5)


@pytest.mark.parametrize("spec,dual", [
    ("nuclear", lambda S: S.sum(-1)),
    ("spectral", lambda S: S[..., 0]),
    ("frobenius", lambda S: S.square().sum(-1).sqrt()),
    ("schatten:q=3", lambda S: S.pow(3).sum(-1).pow(1 / 3)),
    ("ky_fan:k=2", lambda S: S[..., :2].sum(-1)),
    ("huber:delta=0.5", lambda S: S.sum(-1)),
])
def test_dual_norm_by_name(spec, dual):
    G = matrix(2, 5, 4, seed=7)
    ref = dual(torch.linalg.svdvals(G))
    assert torch.allclose(specopt.dual_norm(spec, G), ref, rtol=1e-12, atol=0)
    assert torch.allclose(specopt.convex_map(spec).dual_norm(G), ref, rtol=1e-12, atol=0)


def test_convex_map_value_grad_conjugate():
    X = matrix(5, 4, seed=2, cond=10)
    S = torch.linalg.svdvals(X)
    K = specopt.ConvexMap("power:p=0.5")
    assert K.name == "power:p=0.5" and K.smooth and K.constraint() is None
    assert torch.allclose(K.value(X), (S ** 1.5 / 1.5).sum(), rtol=1e-12)
    assert rel(K.grad(X), svd_map(X, torch.sqrt)) < 1e-12
    L = specopt.convex_map("logcosh")
    assert torch.allclose(L.value(X), torch.log(torch.cosh(S)).sum(), rtol=1e-12)
    assert rel(L.grad(X), svd_map(X, torch.tanh)) < 1e-12
    N = specopt.convex_map("nuclear")
    assert N.constraint() == {"norm": "op", "radius": 1.0, "indicator": True}
    assert torch.allclose(N.constraint_norm(X), S[0], rtol=1e-12)
    inside, outside = X / (2 * S[0]), X / (0.5 * S[0])
    assert N.conjugate(inside).item() == 0.0 and N.conjugate(outside).item() == math.inf
    assert "nuclear" in specopt.convex_map_names() and repr(N) == "ConvexMap('nuclear')"


def test_stationarity_gap_and_violation():
    grad_F = matrix(6, 4, seed=11, cond=20)
    lambd = 0.1
    nuclear = torch.linalg.svdvals(grad_F).sum()
    # Nuclear K: gap = ⟨∇F, X⟩ + ‖∇F‖_*/λ, zero at the KKT point X = −U Vᵀ/λ.
    kkt = -svd_map(grad_F, torch.ones_like) / lambd
    assert abs(specopt.stationarity_gap("nuclear", grad_F, kkt, lambd).item()) < 1e-10 * nuclear
    X = matrix(6, 4, seed=12) * 0.5
    gap = specopt.stationarity_gap("nuclear", grad_F, X, lambd)
    assert torch.allclose(gap, (grad_F * X).sum() + nuclear / lambd, rtol=1e-12)
    assert gap.item() > 0
    assert torch.allclose(specopt.frobenius_inner(grad_F, X), (grad_F * X).sum(), rtol=1e-12)
    # Violation: ‖X‖_op = 2/λ is 1/λ outside ‖X‖_op ≤ 1/λ; inside it is 0.
    Y = svd_map(X, lambda s: s / s[0]) * (2 / lambd)
    assert torch.allclose(specopt.constraint_violation("nuclear", Y, lambd),
                          torch.tensor(1 / lambd, dtype=torch.float64), rtol=1e-12)
    assert specopt.constraint_violation("nuclear", Y / 4, lambd).item() == 0.0
    # The objective: F + K*(λX)/λ (0 inside the set for an indicator, +inf outside).
    F = torch.tensor(3.0, dtype=torch.float64)
    assert specopt.lion_k_objective("nuclear", F, Y / 4, lambd).item() == 3.0
    assert specopt.lion_k_objective("nuclear", F, Y, lambd).item() == math.inf


@pytest.mark.parametrize("call,match", [
    (lambda G: specopt.polar(G, "qr"), r"Unknown polar method 'qr'"),
    (lambda G: specopt.polar(G, steps=0), r"steps: 0"),
    (lambda G: specopt.polar(G, tol=-1.0), r"tol"),
    (lambda G: specopt.polar(G, schedule="quintic"), r"'quintic'"),
    (lambda G: specopt.polar(G, schedule=[(1.0, 2.0)]), r"\(a, b, c\) triples"),
    (lambda G: specopt.polar(G, compute_dtype="bf16"), r"torch.dtype or None, got 'bf16'"),
    (lambda G: specopt.polar(G.new_tensor([[1.0, math.nan]])), r"non-finite"),
    (lambda G: specopt.polar(G[0]), r"polar"),
    (lambda G: specopt.spectral_power(G, 1.5), r"1.5"),
    (lambda G: specopt.spectral_power(G, 0.3, "coupled_newton"), r"0.3"),
    (lambda G: specopt.spectral_power(G, 0.5, "lanczos"), r"'lanczos'"),
    (lambda G: specopt.spectral_map(G, lambda s: s[:1]), r"shaped like"),
    (lambda G: specopt.spectral_map(G, torch.sqrt, "eig"), r"'eig'"),
    (lambda G: specopt.top_singular(G, 0), r"k must be"),
    (lambda G: specopt.top_singular(G, 1, tol=0.0), r"tol"),
    (lambda G: specopt.schatten_norm(G, 0.5), r"0.5"),
    (lambda G: specopt.ky_fan_norm(G, 0), r"k"),
    (lambda G: specopt.convex_map("schatten:q=0.5"), r"q must be >= 1"),
    (lambda G: specopt.convex_map("nucleer"), r"nucleer"),
    (lambda G: specopt.dual_norm(3, G), r"got 3"),
    (lambda G: specopt.stationarity_gap("l1", G, G, 0.0), r"lambda must be > 0, got 0"),
    (lambda G: specopt.convex_map("power:p=0.5").constraint_norm(G), r"no constraint"),
])
def test_bad_input_raises_value_error_naming_it(call, match):
    G = matrix(4, 3)
    with pytest.raises(ValueError, match=match):
        call(G)


def test_integer_input_is_refused():
    with pytest.raises(ValueError, match="polar"):
        specopt.polar(torch.ones(3, 3, dtype=torch.int64))
