"""The behaviours torch's own optimizer tests check (OptimizerInfo in
torch/testing/_internal/common_optimizers.py), for each specopt optimizer."""
import copy
import io
import math

import pytest
import torch

import specopt
from specopt.optim import (AdaMuon, AdamW, Dion2, Lion, LionK, Muon, NorMuon, PolarGrad,
                           SpectralAdam, SpectralSGD)

# (class, constructor kwargs, learning rate that makes progress on the 10×5 problem)
OPTIMIZERS = [
    (Muon, {}, 0.1),
    (Muon, {"nesterov": False, "adjust_lr_fn": "match_rms_adamw"}, 0.1),
    (AdamW, {}, 5e-2),
    (Lion, {}, 1e-2),
    (NorMuon, {}, 0.1),
    (AdaMuon, {}, 0.05),
    (PolarGrad, {}, 0.05),
    (Dion2, {"fraction": 0.5}, 0.1),
    (LionK, {}, 0.1),
    (LionK, {"map": "schatten:q=3"}, 0.1),
    (SpectralAdam, {"preset": "adamq"}, 5e-2),
    (SpectralSGD, {"preset": "msgdz"}, 0.1),
]
IDS = [f"{c.__name__}-{i}" for i, (c, _, _) in enumerate(OPTIMIZERS)]


def _weights_only_loads_optimizer_state():
    """Whether this torch's torch.load(weights_only=True) reads a torch optimizer's own
    state_dict (torch 1.13's weights-only unpickler refuses Python floats)."""
    w = torch.zeros(2, requires_grad=True)
    buf = io.BytesIO()
    torch.save(torch.optim.SGD([w], lr=0.1).state_dict(), buf)
    buf.seek(0)
    try:
        torch.load(buf, weights_only=True)
        return True
    except Exception:
        return False


WEIGHTS_ONLY = _weights_only_loads_optimizer_state()


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def make(cls, kwargs, params, lr):
    return cls(params, lr=lr, **kwargs)


def quadratic_problem(contiguous=True, dtype=torch.float32):
    if contiguous:
        weight = torch.randn(10, 5, dtype=dtype).requires_grad_()
    else:
        weight = torch.randn(10, 10, dtype=dtype)[:, ::2].detach().requires_grad_()
        assert not weight.is_contiguous()
    target = torch.randn(10, 5, dtype=dtype)
    x = torch.randn(5, 3, dtype=dtype)

    def loss_fn():
        return ((weight @ x - target @ x) ** 2).mean()

    return weight, loss_fn


def run(opt, weight, loss_fn, steps, scheduler=None):
    losses = []
    for _ in range(steps):
        def closure():
            opt.zero_grad()
            loss = loss_fn()
            loss.backward()
            return loss
        losses.append(opt.step(closure).item())
        if scheduler is not None:
            if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                scheduler.step(losses[-1])
            else:
                scheduler.step()
    return losses


@pytest.mark.parametrize("contiguous", [True, False], ids=["contiguous", "slice"])
@pytest.mark.parametrize("scheduler", [None, "step", "plateau"])
@pytest.mark.parametrize("cls,kwargs,lr", OPTIMIZERS, ids=IDS)
def test_loss_decreases(cls, kwargs, lr, contiguous, scheduler):
    weight, loss_fn = quadratic_problem(contiguous)
    opt = make(cls, kwargs, [weight], lr)
    sched = None
    if scheduler == "step":
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=10, gamma=0.5)
    elif scheduler == "plateau":
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=2)
    losses = run(opt, weight, loss_fn, 30, sched)
    assert losses[-1] < 0.9 * losses[0], losses
    if scheduler == "step":
        assert opt.param_groups[0]["lr"] == pytest.approx(lr * 0.125)


@pytest.mark.parametrize("cls,kwargs,lr", OPTIMIZERS, ids=IDS)
def test_tensor_lr_equals_float_lr(cls, kwargs, lr):
    w1, loss1 = quadratic_problem()
    w2 = w1.detach().clone().requires_grad_()
    o1 = make(cls, kwargs, [w1], lr)
    o2 = make(cls, kwargs, [w2], torch.tensor(lr, dtype=torch.float64))
    for _ in range(5):
        for w, o in ((w1, o1), (w2, o2)):
            o.zero_grad()
            with torch.enable_grad():
                _swap(loss1, w1, w).backward()
            o.step()
    torch.testing.assert_close(w1, w2, rtol=0, atol=0)


def _swap(loss_fn, old, new):
    """loss_fn() evaluated at `new` instead of `old` (same data)."""
    cells = loss_fn.__code__.co_freevars
    env = dict(zip(cells, (c.cell_contents for c in loss_fn.__closure__)))
    return ((new @ env["x"] - env["target"] @ env["x"]) ** 2).mean()


@pytest.mark.parametrize("cls,kwargs,lr", OPTIMIZERS, ids=IDS)
def test_tiny_lr_group_is_isolated(cls, kwargs, lr):
    w1, _ = quadratic_problem()
    w2 = torch.randn(10, 5).requires_grad_()
    opt = cls([{"params": [w1]}, {"params": [w2], "lr": 1e-28, "weight_decay": 0.0}], lr=lr,
              **kwargs)
    before1, before2 = w1.detach().clone(), w2.detach().clone()
    for _ in range(3):
        opt.zero_grad()
        ((w1 ** 2).sum() + (w2 ** 2).sum()).backward()
        opt.step()
    assert not torch.equal(w1, before1)
    torch.testing.assert_close(w2, before2, rtol=0, atol=1e-20)


@pytest.mark.parametrize("cls,kwargs,lr", OPTIMIZERS, ids=IDS)
def test_no_grad_is_a_no_op(cls, kwargs, lr):
    w1, _ = quadratic_problem()
    w2 = torch.randn(10, 5).requires_grad_()
    opt = make(cls, kwargs, [w1, w2], lr)
    before = w2.detach().clone()
    (w1 ** 2).sum().backward()
    opt.step()
    assert w2.grad is None
    assert torch.equal(w2, before)
    assert len(opt.state[w2]) == 0
    assert len(opt.state[w1]) > 0


@pytest.mark.parametrize("cls,kwargs,lr", OPTIMIZERS, ids=IDS)
def test_zero_grad_is_an_exact_no_op(cls, kwargs, lr):
    w = torch.randn(10, 5).requires_grad_()
    opt = cls([w], lr=lr, weight_decay=0.0, **kwargs)
    before = w.detach().clone()
    for _ in range(3):
        w.grad = torch.zeros_like(w)
        opt.step()
    assert torch.equal(w, before)


@pytest.mark.parametrize("cls,kwargs,lr", OPTIMIZERS, ids=IDS)
def test_grad_not_modified_in_place(cls, kwargs, lr):
    w, loss_fn = quadratic_problem()
    opt = make(cls, kwargs, [w], lr)
    for _ in range(3):
        opt.zero_grad()
        loss_fn().backward()
        version, snapshot = w.grad._version, w.grad.clone()
        opt.step()
        assert w.grad._version == version
        assert torch.equal(w.grad, snapshot)


def _state_dict_roundtrip(cls, kwargs, lr, through_bytes):
    torch.manual_seed(1)
    w, loss_fn = quadratic_problem()
    opt = make(cls, kwargs, [w], lr)
    run(opt, w, loss_fn, 10)
    w2 = w.detach().clone().requires_grad_()
    opt2 = make(cls, kwargs, [w2], lr)
    # A deep copy, as PyTorch's own test does: from torch 2.0 load_state_dict keeps the tensors it
    # is given (1.13 copied them), so two live optimizers would otherwise share their state.
    state = copy.deepcopy(opt.state_dict())
    if through_bytes:
        buf = io.BytesIO()
        torch.save(state, buf)
        buf.seek(0)
        state = torch.load(buf, weights_only=WEIGHTS_ONLY)
    opt2.load_state_dict(state)
    run(opt, w, loss_fn, 10)
    run(opt2, w2, lambda: _swap(loss_fn, w, w2), 10)
    torch.testing.assert_close(w2, w, rtol=0, atol=0)
    for k, v in opt.state[w].items():
        v2 = opt2.state[w2][k]
        if isinstance(v, torch.Tensor):
            torch.testing.assert_close(v2, v, rtol=0, atol=0)
        else:
            assert v2 == v


@pytest.mark.parametrize("cls,kwargs,lr", OPTIMIZERS, ids=IDS)
def test_state_dict_determinism(cls, kwargs, lr):
    _state_dict_roundtrip(cls, kwargs, lr, through_bytes=False)


@pytest.mark.parametrize("cls,kwargs,lr", OPTIMIZERS, ids=IDS)
def test_torch_save_load(cls, kwargs, lr):
    # With weights_only=True where this torch reads torch.optim.SGD's state_dict that way;
    # test_torch_save_load_weights_only says when it cannot.
    _state_dict_roundtrip(cls, kwargs, lr, through_bytes=True)


def test_torch_save_load_weights_only():
    if not WEIGHTS_ONLY:
        pytest.skip(f"torch {torch.__version__}: torch.load(weights_only=True) cannot read even "
                    "torch.optim.SGD's state_dict (no floats); test_torch_save_load uses "
                    "weights_only=False here")
    _state_dict_roundtrip(Muon, {}, 0.1, through_bytes=True)


@pytest.mark.parametrize("cls,kwargs,lr", OPTIMIZERS, ids=IDS)
def test_deepcopy(cls, kwargs, lr):
    w, loss_fn = quadratic_problem()
    opt = make(cls, kwargs, [w], lr)
    run(opt, w, loss_fn, 3)
    copied = copy.deepcopy(opt)
    wc = copied.param_groups[0]["params"][0]
    assert wc is not w and torch.equal(wc, w)
    assert type(copied) is cls
    run(opt, w, loss_fn, 3)
    run(copied, wc, lambda: _swap(loss_fn, w, wc), 3)
    torch.testing.assert_close(wc, w, rtol=0, atol=0)


@pytest.mark.parametrize("cls,kwargs,lr", OPTIMIZERS, ids=IDS)
def test_printing(cls, kwargs, lr):
    w = torch.randn(10, 5).requires_grad_()
    text = repr(make(cls, kwargs, [w], lr))
    assert text.startswith(cls.__name__ + " (")
    assert f"lr: {lr}" in text


@pytest.mark.parametrize("cls,kwargs,lr", OPTIMIZERS, ids=IDS)
def test_step_hooks(cls, kwargs, lr):
    if not hasattr(torch.optim.Optimizer, "register_step_pre_hook"):
        pytest.skip(f"torch {torch.__version__} has no optimizer step hooks")
    w, loss_fn = quadratic_problem()
    opt = make(cls, kwargs, [w], lr)
    calls = []
    opt.register_step_pre_hook(lambda o, a, k: calls.append("pre"))
    opt.register_step_post_hook(lambda o, a, k: calls.append("post"))
    run(opt, w, loss_fn, 2)
    assert calls == ["pre", "post", "pre", "post"]


@pytest.mark.parametrize("cls,kwargs,lr", OPTIMIZERS, ids=IDS)
def test_add_param_group(cls, kwargs, lr):
    w1 = torch.randn(10, 5).requires_grad_()
    w2 = torch.randn(6, 4).requires_grad_()
    opt = make(cls, kwargs, [w1], lr)
    opt.add_param_group({"params": [w2], "lr": 0.0, "weight_decay": 0.0})
    before = w2.detach().clone()
    ((w1 ** 2).sum() + (w2 ** 2).sum()).backward()
    opt.step()
    assert torch.equal(w2, before)  # lr 0 in its own group
    assert len(opt.state[w2]) > 0
    with pytest.raises(ValueError, match="some parameters appear in more than one parameter group"):
        opt.add_param_group({"params": [w1]})
    assert len(opt.param_groups) == 2


@pytest.mark.parametrize("cls,kwargs,lr", OPTIMIZERS, ids=IDS)
def test_bad_params(cls, kwargs, lr):
    w = torch.randn(10, 5).requires_grad_()
    with pytest.raises(TypeError, match="params argument given to the optimizer should be an iterable"):
        make(cls, kwargs, w, lr)
    with pytest.raises(TypeError, match="optimizer can only optimize Tensors"):
        make(cls, kwargs, [w, "not a tensor"], lr)
    with pytest.raises(ValueError, match="empty parameter list"):
        make(cls, kwargs, [], lr)


@pytest.mark.parametrize("cls,kwargs,lr", OPTIMIZERS, ids=IDS)
def test_duplicate_params(cls, kwargs, lr):
    w = torch.randn(10, 5).requires_grad_()
    with pytest.warns(UserWarning, match="duplicate parameters"):
        # torch warns about duplicates inside one group (and keeps them)
        try:
            make(cls, kwargs, [w, w], lr)
        except ValueError:
            pass
    with pytest.raises(ValueError, match="more than one parameter group"):
        cls([{"params": [w]}, {"params": [w]}], lr=lr, **kwargs)


@pytest.mark.parametrize("cls,kwargs,lr", OPTIMIZERS, ids=IDS)
def test_complex_params_refused(cls, kwargs, lr):
    w = torch.randn(10, 5, dtype=torch.complex64).requires_grad_()
    with pytest.raises(ValueError, match="complex"):
        make(cls, kwargs, [w], lr)


@pytest.mark.parametrize("cls,kwargs,lr", OPTIMIZERS, ids=IDS)
def test_nonfinite_gradient(cls, kwargs, lr):
    w = torch.randn(10, 5).requires_grad_()
    opt = make(cls, kwargs, [w], lr)
    before = w.detach().clone()
    w.grad = torch.ones_like(w)
    w.grad[3, 2] = float("nan")
    with pytest.raises(RuntimeError, match=r"non-finite .* param group 0, parameter 0"):
        opt.step()
    assert torch.equal(w, before) and len(opt.state[w]) == 0
    skipping = cls([w], lr=lr, nonfinite="skip", **kwargs)
    skipping.step()
    assert torch.equal(w, before) and skipping.skipped_steps == 1


def test_all_registered_optimizers_are_listed():
    names = [n for n, _ in specopt.registered_optimizers()]
    for name in ("Muon", "NorMuon", "AdaMuon", "PolarGrad", "Dion2", "LionK", "SpectralAdam",
                 "SpectralSGD", "AdamW", "Lion", "AdamQ"):
        assert name in names


# ---- Muon's own errors (torch.optim.Muon's messages) ---------------------------------------

def test_muon_rejects_vectors():
    with pytest.raises(ValueError, match=r"Muon only supports 2D parameters whereas we found a "
                                         r"parameter with size: torch.Size\(\[5\]\)"):
        Muon([torch.randn(5, requires_grad=True)])


def test_muon_accepts_conv_weights():
    w = torch.randn(8, 3, 3, 3, requires_grad=True)
    opt = Muon([w], lr=0.02)
    w.sum().backward()
    before = w.detach().clone()
    opt.step()
    assert not torch.equal(w, before)


@pytest.mark.parametrize("kwargs,message", [
    ({"lr": -1.0}, "Learning rate should be >= 0 but is: -1.0"),
    ({"momentum": -0.5}, "momentum should be >= 0 but is: -0.5"),
    ({"weight_decay": -0.1}, "weight decay should be >= 0 but is: -0.1"),
    ({"adjust_lr_fn": "bogus"}, "Adjust learning rate function bogus is not supported"),
    ({"ns_steps": 100}, "Number of steps must be less than 100 for computational efficiency"),
    ({"ns_steps": 0}, "ns_steps must be an integer >= 1 but is: 0"),
    ({"ns_coefficients": (1.0, 2.0)}, "Coefficients must be a tuple of exactly 3 values"),
    ({"lr": torch.tensor([1e-3, 1e-3])}, "Tensor lr must be 1-element"),
    ({"nonfinite": "sometimes"}, "nonfinite must be one of"),
    ({"method": "qr"}, "qr"),
])
def test_muon_option_errors(kwargs, message):
    w = torch.randn(10, 5, requires_grad=True)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")
                       .replace(".", r"\.").replace("[", r"\[")):
        Muon([w], **kwargs)


def test_muon_group_option_error_names_the_value():
    w1, w2 = torch.randn(10, 5, requires_grad=True), torch.randn(10, 5, requires_grad=True)
    opt = Muon([w1])
    with pytest.raises(ValueError, match="ns_steps must be an integer >= 1 but is: 2.5"):
        opt.add_param_group({"params": [w2], "ns_steps": 2.5})
    assert len(opt.param_groups) == 1


def test_muon_defaults_are_torchs():
    w = torch.randn(10, 5, requires_grad=True)
    d = Muon([w]).defaults
    assert d["lr"] == 1e-3 and d["weight_decay"] == 0.1 and d["momentum"] == 0.95
    assert d["nesterov"] is True and d["ns_coefficients"] == (3.4445, -4.775, 2.0315)
    assert d["eps"] == 1e-7 and d["ns_steps"] == 5 and d["adjust_lr_fn"] is None


def test_adamw_option_errors():
    w = torch.randn(10, 5, requires_grad=True)
    with pytest.raises(ValueError, match="Invalid learning rate: -1"):
        AdamW([w], lr=-1)
    with pytest.raises(ValueError, match="Invalid beta parameter at index 1: 1.5"):
        AdamW([w], betas=(0.9, 1.5))
    with pytest.raises(ValueError, match="amsgrad=True is not supported"):
        AdamW([w], amsgrad=True)


def test_by_key_options_errors():
    w = torch.randn(10, 5, requires_grad=True)
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['bogus'\]"):
        LionK([w], bogus=1)
    with pytest.raises(ValueError, match="Unknown preset 'adamx'"):
        SpectralAdam([w], preset="adamx")
    with pytest.raises(ValueError, match="nope"):
        LionK([w], map="nope")
