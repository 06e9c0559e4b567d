"""specopt.optim.Muon against a plain Python transcription of torch.optim.Muon's algorithm
(PyTorch >= 2.9, torch/optim/_muon.py), and specopt.optim.AdamW against torch.optim.AdamW."""
import copy
import math

import pytest
import torch

from specopt import _C
from specopt.optim import (AdaMuon, AdamW, Dion2, Lion, LionK, Muon, NorMuon, PolarGrad,
                           SpectralAdam, SpectralSGD)

A, B, C = 3.4445, -4.775, 2.0315


def newton_schulz_bf16(G, coefficients, steps, eps, dtype=torch.bfloat16):
    """torch.optim.Muon's orthogonalisation: quintic Newton–Schulz in bfloat16 on the wide
    orientation, after dividing by max(‖G‖_F, eps)."""
    a, b, c = coefficients
    X = G.to(dtype)
    tall = G.size(0) > G.size(1)
    if tall:
        X = X.T
    X = X / X.norm().clamp(min=eps)
    for _ in range(steps):
        gram = X @ X.T
        X = a * X + (b * gram + c * gram @ gram) @ X
    return X.T if tall else X


def newton_schulz_fp32(G, coefficients, steps, eps):
    """The same iteration in float32 arithmetic."""
    return newton_schulz_bf16(G, coefficients, steps, eps, dtype=torch.float32)


def exact_polar(G, *unused):
    U, _, Vh = torch.linalg.svd(G, full_matrices=False)
    return U @ Vh


def reference_muon_step(params, grads, bufs, *, lr, weight_decay, momentum, nesterov,
                        coefficients, eps, steps, adjust_lr_fn, polar):
    """One step of torch.optim.Muon's algorithm, written out."""
    for p, g, buf in zip(params, grads, bufs):
        buf.lerp_(g, 1 - momentum)                       # B ← μB + (1−μ)g
        update = g.lerp(buf, momentum) if nesterov else buf
        O = polar(update, coefficients, steps, eps)
        rows, cols = p.shape[:2]
        if adjust_lr_fn in (None, "original"):
            scale = math.sqrt(max(1, rows / cols))
        elif adjust_lr_fn == "match_rms_adamw":
            scale = 0.2 * math.sqrt(max(rows, cols))
        else:
            scale = 1.0
        p.mul_(1 - lr * weight_decay)
        p.add_(O.to(p.dtype), alpha=-lr * scale)


def run_both(dtype, steps, polar, muon_kwargs, ref_kwargs, shapes=((10, 5), (4, 7), (6, 6))):
    torch.manual_seed(0)
    params = [torch.randn(*s, dtype=dtype) for s in shapes]
    ours = [p.clone().requires_grad_() for p in params]
    theirs = [p.clone() for p in params]
    bufs = [torch.zeros_like(p) for p in params]
    opt = Muon(ours, **muon_kwargs)
    group = opt.param_groups[0]
    updates = []
    for _ in range(steps):
        grads = [torch.randn_like(p) for p in params]
        before = [p.detach().clone() for p in ours]
        for p, g in zip(ours, grads):
            p.grad = g.clone()
        opt.step()
        reference_muon_step(theirs, grads, bufs, lr=group["lr"], weight_decay=group["weight_decay"],
                            momentum=group["momentum"], nesterov=group["nesterov"],
                            coefficients=group["ns_coefficients"], eps=group["eps"],
                            steps=group["ns_steps"], adjust_lr_fn=group["adjust_lr_fn"],
                            polar=polar, **ref_kwargs)
        updates.append([(p.detach() - b) for p, b in zip(ours, before)])
    return opt, ours, theirs, bufs


@pytest.mark.parametrize("kwargs", [
    {},
    {"nesterov": False},
    {"adjust_lr_fn": "match_rms_adamw", "weight_decay": 0.0},
    {"momentum": 0.9, "weight_decay": 0.3, "lr": 0.05},
], ids=["defaults", "no-nesterov", "match_rms_adamw", "other-hyper"])
def test_muon_equals_transcription_fp64_exact_polar(kwargs):
    opt, ours, theirs, bufs = run_both(torch.float64, 6, exact_polar, dict(kwargs, method="svd"), {})
    for p, q, buf in zip(ours, theirs, bufs):
        torch.testing.assert_close(p.detach(), q, rtol=1e-12, atol=1e-12)
        # the state is torch's EMA momentum buffer, not specopt's heavy-ball sum
        torch.testing.assert_close(opt.state[p]["momentum_buffer"], buf, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("schedule", ["polar_express", "cubic", [(3.0, -3.2, 1.2), (2.0, -1.5, 0.5)]],
                         ids=["polar_express", "cubic", "table"])
def test_muon_schedule_equals_transcription_with_that_schedule(schedule):
    """schedule= replaces Jordan's quintic: the transcription with specopt.polar's Newton–Schulz
    of the same schedule (float64 arithmetic on both sides) agrees to 1e-12."""
    import specopt

    def polar(U, coefficients, steps, eps):
        return specopt.polar(U, "newton_schulz", schedule=schedule, steps=steps, eps=eps)
    opt, ours, theirs, _ = run_both(torch.float64, 4, polar, dict(schedule=schedule), {})
    for p, q in zip(ours, theirs):
        torch.testing.assert_close(p.detach(), q, rtol=1e-12, atol=1e-12)
    # Not Jordan's: the default's steps differ.
    _, jordan, _, _ = run_both(torch.float64, 4, exact_polar, {}, {})
    assert not torch.allclose(ours[0].detach(), jordan[0].detach(), rtol=1e-6, atol=0)


def test_muon_schedule_errors():
    w = torch.zeros(4, 3, requires_grad=True)
    with pytest.raises(ValueError, match=r"'quintic'"):
        Muon([w], schedule="quintic")
    with pytest.raises(ValueError, match=r"schedule='cubic' replaces ns_coefficients"):
        Muon([w], schedule="cubic", ns_coefficients=(2.0, -1.5, 0.5))


# (specopt's bf16 option, the transcription's Newton–Schulz, tolerance). "bf16" tolerance:
# over the run, specopt's updates are on average (and at worst) at most twice as far from the
# transcription's float32-arithmetic updates as the transcription's own bf16 updates are
# (torch's bf16 rounding: 3–11% relative Frobenius per update on these shapes, ≈7% on
# average). Two bf16 computations in different operation orders differ from
# each other by about as much again, so they are not compared with each other directly. With
# float32 arithmetic on both sides the match is tight (1e-5).
NS_CASES = [
    (False, newton_schulz_fp32, 1e-5),
    (None, newton_schulz_bf16, "bf16"),
    (True, newton_schulz_bf16, "bf16"),
]


@pytest.mark.parametrize("bf16,polar,tol", NS_CASES, ids=["fp32-tight", "default-vs-bf16", "bf16"])
def test_muon_equals_transcription_newton_schulz(bf16, polar, tol):
    """Newton–Schulz as torch.optim.Muon runs it: step by step, each update equal to the
    transcription's to `tol` (each step starts both from specopt's parameters)."""
    torch.manual_seed(0)
    shapes = ((10, 5), (4, 7), (16, 16))
    params = [torch.randn(*s) for s in shapes]
    ours = [p.clone().requires_grad_() for p in params]
    opt = Muon(ours, lr=0.02, bf16=bf16)
    theirs = [p.clone() for p in params]
    bufs = [torch.zeros_like(p) for p in params]
    hyper = dict(lr=0.02, weight_decay=0.1, momentum=0.95, nesterov=True,
                 coefficients=(A, B, C), eps=1e-7, steps=5, adjust_lr_fn=None)
    rels, gaps = [], []
    for _ in range(5):
        grads = [torch.randn_like(p) for p in params]
        before = [p.detach().clone() for p in ours]
        ref_before = [q.clone() for q in theirs]
        fp32_params, fp32_bufs = [q.clone() for q in theirs], [b.clone() for b in bufs]
        for p, g in zip(ours, grads):
            p.grad = g.clone()
        opt.step()
        reference_muon_step(theirs, grads, bufs, polar=polar, **hyper)
        reference_muon_step(fp32_params, grads, fp32_bufs, polar=newton_schulz_fp32, **hyper)
        for p, b, q, qb, f in zip(ours, before, theirs, ref_before, fp32_params):
            ours_update, ref_update = p.detach() - b, q - qb
            rel = ((ours_update - ref_update).norm() / ref_update.norm()).item()
            limit = tol
            if tol == "bf16":
                fp32_update = f - qb
                gap = ((fp32_update - ref_update).norm() / fp32_update.norm()).item()
                assert gap > 1e-3  # the transcription did run in bf16
                rel = ((ours_update - fp32_update).norm() / fp32_update.norm()).item()
                gaps.append(gap)
            rels.append(rel)
            if tol != "bf16":
                assert rel < limit, f"update differs by {rel:.3g} > {limit:.3g} for {tuple(p.shape)}"
            # resynchronise so that each step is compared from the same point
            q.copy_(p.detach())
    if tol == "bf16":
        mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
        assert max(rels) < 2 * max(gaps), (rels, gaps)
        assert mean(rels) < 2 * mean(gaps), (rels, gaps)
    for p, buf in zip(ours, bufs):
        torch.testing.assert_close(opt.state[p]["momentum_buffer"], buf, rtol=1e-5, atol=1e-6)


def test_muon_group_option_change_takes_effect():
    """Changing a group's options between steps (as a scheduler would) rebuilds the rule."""
    torch.manual_seed(0)
    p = torch.randn(10, 5, dtype=torch.float64)
    ours = p.clone().requires_grad_()
    theirs = p.clone()
    buf = torch.zeros_like(p)
    opt = Muon([ours], lr=0.02, method="svd")
    for step in range(6):
        if step == 3:
            opt.param_groups[0]["weight_decay"] = 0.5
            opt.param_groups[0]["momentum"] = 0.5
            opt.param_groups[0]["adjust_lr_fn"] = "match_rms_adamw"
        g = opt.param_groups[0]
        grad = torch.randn_like(p)
        ours.grad = grad.clone()
        opt.step()
        reference_muon_step([theirs], [grad], [buf], lr=g["lr"], weight_decay=g["weight_decay"],
                            momentum=g["momentum"], nesterov=True, coefficients=(A, B, C),
                            eps=1e-7, steps=5, adjust_lr_fn=g["adjust_lr_fn"], polar=exact_polar)
    torch.testing.assert_close(ours.detach(), theirs, rtol=1e-12, atol=1e-12)


def test_muon_against_torch_optim_muon():
    if not hasattr(torch.optim, "Muon"):
        pytest.skip(f"torch {torch.__version__} has no torch.optim.Muon (PyTorch >= 2.9); "
                    "test_muon_equals_transcription_* compare with its algorithm instead")
    torch.manual_seed(0)
    params = [torch.randn(10, 5), torch.randn(4, 7)]
    ours = [p.clone().requires_grad_() for p in params]
    theirs = [p.clone().requires_grad_() for p in params]
    o1, o2 = Muon(ours, lr=0.02, bf16=True), torch.optim.Muon(theirs, lr=0.02)
    for _ in range(5):
        grads = [torch.randn_like(p) for p in params]
        for p, q, g in zip(ours, theirs, grads):
            p.grad, q.grad = g.clone(), g.clone()
        before = [q.detach().clone() for q in theirs]
        o1.step()
        o2.step()
        for p, q, b in zip(ours, theirs, before):
            rel = (p.detach() - q.detach()).norm() / (q.detach() - b).norm()
            assert rel < 0.15  # bf16 on both sides, different operation order
            with torch.no_grad():
                p.copy_(q)
    for p, q in zip(ours, theirs):
        torch.testing.assert_close(o1.state[p]["momentum_buffer"], o2.state[q]["momentum_buffer"],
                                   rtol=1e-5, atol=1e-6)


def test_muon_loads_torch_style_state():
    """A state_dict whose momentum_buffer is torch's EMA continues as torch's would."""
    torch.manual_seed(0)
    p = torch.randn(10, 5, dtype=torch.float64)
    ours, theirs = p.clone().requires_grad_(), p.clone()
    buf = torch.randn_like(p)  # some earlier EMA
    opt = Muon([ours], lr=0.02, method="svd")
    opt.state[ours]["momentum_buffer"] = buf.clone()
    for _ in range(3):
        grad = torch.randn_like(p)
        ours.grad = grad.clone()
        opt.step()
        reference_muon_step([theirs], [grad], [buf], lr=0.02, weight_decay=0.1, momentum=0.95,
                            nesterov=True, coefficients=(A, B, C), eps=1e-7, steps=5,
                            adjust_lr_fn=None, polar=exact_polar)
    torch.testing.assert_close(ours.detach(), theirs, rtol=1e-12, atol=1e-12)


def step_twins(ours, theirs, optimizers, steps):
    """`steps` times: the same random gradient into each pair (p, q), then every optimizer steps."""
    for _ in range(steps):
        for p, q in zip(ours, theirs):
            g = torch.randn_like(p)
            p.grad, q.grad = g.clone(), g.clone()
        for o in optimizers:
            o.step()


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_adamw_equals_torch_adamw(weight_decay):
    torch.manual_seed(0)
    params = [torch.randn(10, 5, dtype=torch.float64), torch.randn(7, dtype=torch.float64)]
    ours = [p.clone().requires_grad_() for p in params]
    theirs = [p.clone().requires_grad_() for p in params]
    o1 = AdamW(ours, lr=1e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=weight_decay)
    o2 = torch.optim.AdamW(theirs, lr=1e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=weight_decay)
    step_twins(ours, theirs, (o1, o2), 10)
    for p, q in zip(ours, theirs):
        torch.testing.assert_close(p.detach(), q.detach(), rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(o1.state[p]["exp_avg_sq"], o2.state[q]["exp_avg_sq"],
                                   rtol=1e-12, atol=1e-15)
        assert o1.state[p]["step"] == 10


def test_adamw_continues_from_torch_adamw_state():
    """torch.optim.AdamW's state_dict (step as a tensor) loads into specopt's AdamW."""
    torch.manual_seed(0)
    p = torch.randn(6, 3, dtype=torch.float64)
    ours, theirs = p.clone().requires_grad_(), p.clone().requires_grad_()
    o2 = torch.optim.AdamW([theirs], lr=1e-2)
    for _ in range(4):
        theirs.grad = torch.randn_like(p)
        o2.step()
    with torch.no_grad():
        ours.copy_(theirs)
    o1 = AdamW([ours], lr=1e-2)
    o1.load_state_dict(copy.deepcopy(o2.state_dict()))  # torch >= 2.0 shares tensors otherwise
    step_twins([ours], [theirs], (o1, o2), 3)
    torch.testing.assert_close(ours.detach(), theirs.detach(), rtol=1e-12, atol=1e-12)
    assert o1.state[ours]["step"] == 7


@pytest.mark.parametrize("spec,make", [
    ("adamw", lambda ps: AdamW(ps)),
    ("lion", lambda ps: Lion(ps)),
    ("lionk:map=schatten:q=3", lambda ps: LionK(ps, map="schatten:q=3")),
    ("normuon", lambda ps: NorMuon(ps)),
    ("adamuon", lambda ps: AdaMuon(ps)),
    ("polargrad", lambda ps: PolarGrad(ps)),
    ("dion2:fraction=0.5", lambda ps: Dion2(ps, fraction=0.5)),
    ("adamq", lambda ps: SpectralAdam(ps, preset="adamq")),
    ("msgdz", lambda ps: SpectralSGD(ps, preset="msgdz")),
    ("muon:momentum=0,weight_decay=0.1,lr=0.001", lambda ps: Muon(ps, momentum=0.0)),
], ids=["AdamW", "Lion", "LionK-schatten3", "NorMuon", "AdaMuon", "PolarGrad", "Dion2-half",
        "AdamQ", "mSGDZ", "Muon-no-momentum"])
def test_python_step_equals_cxx_optimizer(spec, make):
    """The Python optimizer takes exactly the C++ optimizer's steps (make_optimizer(spec))."""
    torch.manual_seed(0)
    shapes = [(10, 5), (4, 7)]
    if spec in ("adamw", "lion"):
        shapes.append((7,))
    params = [torch.randn(*s, dtype=torch.float64) for s in shapes]
    ours = [p.clone().requires_grad_() for p in params]
    theirs = [p.clone().requires_grad_() for p in params]
    py_opt, cxx_opt = make(ours), _C.CxxOptimizer(spec, theirs)
    step_twins(ours, theirs, (py_opt, cxx_opt), 4)
    for p, q in zip(ours, theirs):
        assert torch.equal(p.detach(), q.detach())
