"""specopt's optimizers as ``torch.optim.Optimizer`` subclasses (docs/python.md).

Each optimizer keeps its per-parameter state in ``self.state`` and its options in
``self.param_groups``, as every torch optimizer, so ``state_dict()``, ``load_state_dict()``,
``torch.save``, learning-rate schedulers, hooks and ``add_param_group`` work as usual.
``step()`` hands each param group to the C++ functional core (``RuleOptions::update``) in one
call: the group's options become a cached C++ options object (rebuilt only when the group's
options other than ``lr`` change), the state dicts are read as the rule's state (tensors
shared, not copied) and the fields the update created are written back.

A param group may carry its own rule, ``"rule": "adamw"`` or ``"lion"`` (the AdamW side of
``hybrid_param_groups``, as the C++ HybridOptimizer's AdamW groups): that group takes that
optimizer's options and defaults and is stepped by its rule.
"""
import math

import torch
from torch.optim import Optimizer

from . import _C

__all__ = [
    "Muon",
    "AdamW",
    "Lion",
    "NorMuon",
    "AdaMuon",
    "PolarGrad",
    "Dion2",
    "LionK",
    "SpectralAdam",
    "SpectralSGD",
    "hybrid_param_groups",
    "partition_parameters",
    "default_is_spectral",
]

_NONFINITE = ("error", "skip", "ignore")


def _plain(x):
    """A group value as the C++ side takes it: 1-element tensors as floats."""
    if isinstance(x, torch.Tensor):
        if x.numel() != 1:
            raise ValueError(f"Tensor option must be 1-element, got shape {tuple(x.shape)}")
        return x.item()
    return x


class _SpecoptOptimizer(Optimizer):
    """Common part: a C++ rule per group, one ``Rule.step`` call per group and step."""

    # Group keys that are not options of the C++ rule (besides "params" and "lr").
    _python_only = ()

    def _spec(self, group):
        """The registry spec of the group's rule ("muon", "adamq", ...)."""
        raise NotImplementedError

    def _cxx_options(self, group):
        """The group's options as C++ option keys (registry.h: option_keys) → values."""
        raise NotImplementedError

    def _validate_group(self, group):
        """Python-level checks with torch's messages (before the C++ rule checks the rest)."""

    def _check_param(self, rule, p, where):
        if not isinstance(p, torch.Tensor):
            raise TypeError(f"{type(self).__name__}: {where} is a {type(p).__name__}, not a tensor")
        if torch.is_complex(p):
            raise ValueError(
                f"{type(self).__name__} does not support complex parameters ({where}, dtype {p.dtype})")
        try:
            rule.check_param(p, where)
        except RuntimeError as e:
            raise ValueError(str(e).split("\nException raised from")[0]) from None

    # --- the optimizer class whose rule steps a group --------------------------------------
    def _impl(self, group):
        """type(self), or the class a group's "rule" key names (_GROUP_RULES, or this
        optimizer's own name). Its methods are called with this optimizer as self."""
        name = group.get("rule")
        if name is None or name == type(self).__name__.lower():
            return type(self)
        cls = _GROUP_RULES.get(name)
        if cls is None:
            raise ValueError(f"{type(self).__name__}: param group rule {name!r} is not one of "
                             f"{sorted(_GROUP_RULES) + [type(self).__name__.lower()]}")
        return cls

    def _defaults_of(self, cls):
        return self.defaults if cls is type(self) else _rule_defaults(cls)

    # --- the rule of a group, cached ---------------------------------------------------------
    def _snapshot(self, group):
        return tuple((k, _plain(v) if isinstance(v, torch.Tensor) else v)
                     for k, v in group.items() if k not in ("params", "lr", "param_names"))

    def _build_rule(self, group):
        cls = self._impl(group)
        options = {k: _plain(v) for k, v in cls._cxx_options(self, group).items()}
        options["lr"] = float(_plain(group["lr"]))
        try:
            return _C.Rule(cls._spec(self, group), options)
        except RuntimeError as e:
            raise ValueError(str(e).split("\nException raised from")[0]) from None

    def _rule(self, index, group):
        cache = self.__dict__.setdefault("_rules", [])
        if len(cache) <= index:
            cache.extend([None] * (index + 1 - len(cache)))
        snap = self._snapshot(group)
        entry = cache[index]
        if entry is None or entry[0] is not group or entry[1] != snap:
            # A group loaded from another optimizer's state_dict (torch.optim.AdamW's) may lack
            # some of our options: they take the defaults.
            cls = self._impl(group)
            defaults = self._defaults_of(cls)
            missing = [k for k in defaults if k not in group]
            for k in missing:
                group[k] = defaults[k]
            if missing:
                snap = self._snapshot(group)
            cls._validate_group(self, group)
            entry = (group, snap, self._build_rule(group))
            cache[index] = entry
        return entry[2]

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_rules", None)  # C++ objects: rebuilt on the next step
        return state

    def add_param_group(self, param_group):
        cls = self._impl(param_group) if isinstance(param_group, dict) else type(self)
        foreign = ()
        if cls is not type(self):
            # The group's own rule's defaults, not this optimizer's (which torch's
            # add_param_group would add; removed again below).
            own = _rule_defaults(cls)
            foreign = [k for k in self.defaults if k not in own and k not in param_group]
            for k, v in own.items():
                param_group.setdefault(k, v)
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        for k in foreign:
            group.pop(k, None)
        try:
            cls._validate_group(self, group)
            rule = self._build_rule(group)
            index = len(self.param_groups) - 1
            for i, p in enumerate(group["params"]):
                cls._check_param(self, rule, p,
                                 f"param group {index}, parameter {i} (size {tuple(p.shape)})")
        except Exception:
            self.param_groups.pop()
            raise

    # --- the step --------------------------------------------------------------------------
    @property
    def skipped_steps(self):
        """Steps skipped because of a NaN/Inf gradient (nonfinite="skip")."""
        return self.__dict__.get("_skipped_steps", 0)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        work = []
        checked, where = [], []
        state = self.state
        for gi, group in enumerate(self.param_groups):
            rule = self._rule(gi, group)
            check = rule.nonfinite
            check = None if check == "ignore" else check
            params, grads, states = [], [], []
            for pi, p in enumerate(group["params"]):
                g = p.grad
                if g is None:
                    continue
                if g.is_sparse:
                    raise RuntimeError(f"{type(self).__name__} does not support sparse gradients")
                params.append(p)
                grads.append(g)
                states.append(state[p])
                if check is not None:
                    checked.append(g)
                    where.append((gi, pi, check))
            if params:
                work.append((group, rule, params, grads, states))
        if checked:
            bad = _C.first_nonfinite(checked)
            if bad >= 0:
                gi, pi, mode = where[bad]
                if mode == "skip":
                    self.__dict__["_skipped_steps"] = self.skipped_steps + 1
                    return loss
                raise RuntimeError(
                    f"{type(self).__name__}: non-finite (NaN or Inf) gradient in param group {gi}, "
                    f"parameter {pi} (size {tuple(checked[bad].shape)}); no parameter or state was "
                    "modified. Pass nonfinite='skip' to skip such steps, or 'ignore' to step anyway.")
        for group, rule, params, grads, states in work:
            rule.step(float(_plain(group["lr"])), params, grads, states)
        return loss


def _check_nonfinite(name, nonfinite):
    if nonfinite not in _NONFINITE:
        raise ValueError(f"{name}: nonfinite must be one of {_NONFINITE}, got {nonfinite!r}")


class Muon(_SpecoptOptimizer):
    r"""torch.optim.Muon (PyTorch >= 2.9) on specopt's C++ core: same signature, defaults,
    validation, state (``momentum_buffer``, torch's EMA) and update.

    For each matrix parameter X with gradient g: B ← μB + (1−μ)g; U = lerp(g, B, μ) with
    Nesterov, else B; O ≈ msign(U) (5 quintic Newton–Schulz steps with ns_coefficients);
    X ← X(1 − ηλ); X ← X − η·s·O with s = sqrt(max(1, rows/cols)) (adjust_lr_fn None or
    "original"), 0.2·sqrt(max(rows, cols)) ("match_rms_adamw").

    specopt's extras (keyword-only): ``method`` ("newton_schulz" (default), "svd", "gram_eigh",
    "auto"); ``schedule`` (Newton–Schulz coefficients by name, "jordan" | "polar_express" |
    "cubic", or a list of (a, b, c) triples, one per step; replaces ns_coefficients); ``bf16`` (None: Newton–Schulz in bf16 where bf16 matmul is native, float32 elsewhere;
    True: always bf16, as torch; False: never); ``adjust_lr_fn="none"`` (no shape factor);
    ``split_qkv``; ``nonfinite`` ("error" (default), "skip", "ignore" = torch's behaviour).
    N-D parameters: conv weights are flattened to (out, in·kh·kw), 3-D ones are batches of
    matrices. ``use_addmm`` is accepted for signature compatibility (no effect).
    """

    def __init__(self, params, lr=1e-3, weight_decay=0.1, momentum=0.95, nesterov=True,
                 ns_coefficients=(3.4445, -4.775, 2.0315), eps=1e-7, ns_steps=5,
                 adjust_lr_fn=None, use_addmm=False, *, method="newton_schulz", schedule=None,
                 bf16=None, split_qkv=False, nonfinite="error"):
        if isinstance(lr, torch.Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        defaults = dict(lr=lr, weight_decay=weight_decay, momentum=momentum, nesterov=nesterov,
                        ns_coefficients=tuple(ns_coefficients), eps=eps, ns_steps=ns_steps,
                        adjust_lr_fn=adjust_lr_fn, use_addmm=use_addmm, method=method,
                        schedule=schedule, bf16=bf16, split_qkv=split_qkv, nonfinite=nonfinite)
        self._validate_group(defaults)
        super().__init__(params, defaults)

    def _spec(self, group):
        return "muon"

    def _validate_group(self, group):
        lr, momentum, wd = group["lr"], group["momentum"], group["weight_decay"]
        if isinstance(lr, torch.Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= _plain(lr):
            raise ValueError(f"Learning rate should be >= 0 but is: {lr}")
        if not 0.0 <= momentum:
            raise ValueError(f"momentum should be >= 0 but is: {momentum}")
        if momentum > 1.0:
            raise ValueError(f"momentum should be <= 1 in specopt's Muon but is: {momentum}")
        if not 0.0 <= wd:
            raise ValueError(f"weight decay should be >= 0 but is: {wd}")
        fn = group["adjust_lr_fn"]
        if fn is not None and fn not in ("original", "match_rms_adamw", "none"):
            raise ValueError(f"Adjust learning rate function {fn} is not supported")
        if len(tuple(group["ns_coefficients"])) != 3:
            raise ValueError("Coefficients must be a tuple of exactly 3 values")
        schedule = group.get("schedule")
        if schedule is not None and tuple(group["ns_coefficients"]) != _JORDAN:
            raise ValueError(f"Muon: schedule={schedule!r} replaces ns_coefficients; give one of "
                             f"them, not both (ns_coefficients={tuple(group['ns_coefficients'])})")
        steps = group["ns_steps"]
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"ns_steps must be an integer >= 1 but is: {steps!r}")
        if steps >= 100:
            raise ValueError("Number of steps must be less than 100 for computational efficiency")
        if group["bf16"] not in (None, True, False):
            raise ValueError(f"Muon: bf16 must be None, True or False, got {group['bf16']!r}")
        _check_nonfinite("Muon", group["nonfinite"])

    def _cxx_options(self, group):
        o = {
            "momentum": float(group["momentum"]),
            "nesterov": bool(group["nesterov"]),
            "ema_momentum": True,  # torch's B ← lerp(B, g, 1−μ), U = lerp(g, B, μ)
            "weight_decay": float(group["weight_decay"]),
            "polar.method": group["method"],
            "polar.steps": int(group["ns_steps"]),
            "polar.eps": float(group["eps"]),
            "ns_coefficients": tuple(float(c) for c in group["ns_coefficients"]),
            "shape_rule": group["adjust_lr_fn"] or "original",
            "split_qkv": bool(group["split_qkv"]),
            "nonfinite": group["nonfinite"],
        }
        if group.get("schedule") is not None:
            del o["ns_coefficients"]
            o["schedule"] = group["schedule"]
        bf16 = group["bf16"]
        o["polar.bf16_where_fast"] = bf16 is None
        o["polar.compute_dtype"] = _BF16_CODE if bf16 else -1
        return o

    def _check_param(self, rule, p, where):
        if isinstance(p, torch.Tensor) and p.ndim < 2:
            raise ValueError(
                f"Muon only supports 2D parameters whereas we found a parameter with size: {p.size()}"
                " (specopt also takes conv weights and 3-D batches; give vectors to AdamW)")
        super()._check_param(rule, p, where)


# torch.optim.Muon's default ns_coefficients (Jordan's quintic).
_JORDAN = (3.4445, -4.775, 2.0315)

# ScalarType code of bfloat16 (c10/core/ScalarType.h), for polar.compute_dtype.
_BF16_CODE = 15


class AdamW(_SpecoptOptimizer):
    """torch.optim.AdamW's signature and update on specopt's C++ core (no amsgrad/maximize).

    State per parameter: ``step`` (an int), ``exp_avg``, ``exp_avg_sq``. ``foreach``,
    ``capturable``, ``differentiable`` and ``fused`` are accepted as False/None only.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False, foreach=None, capturable=False,
                 differentiable=False, fused=None, nonfinite="error"):
        for name, value in (("amsgrad", amsgrad), ("maximize", maximize), ("capturable", capturable),
                            ("differentiable", differentiable), ("fused", fused)):
            if value:
                raise ValueError(f"specopt AdamW: {name}={value!r} is not supported")
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        nonfinite=nonfinite)
        self._validate_group(defaults)
        super().__init__(params, defaults)

    def _spec(self, group):
        return "adamw"

    def _validate_group(self, group):
        lr, eps, betas, wd = group["lr"], group["eps"], group["betas"], group["weight_decay"]
        if isinstance(lr, torch.Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= _plain(lr):
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        if not 0.0 <= wd:
            raise ValueError(f"Invalid weight_decay value: {wd}")
        for name in ("amsgrad", "maximize"):  # groups loaded from torch.optim.AdamW
            if group.get(name):
                raise ValueError(f"specopt AdamW: {name}=True is not supported")
        _check_nonfinite("AdamW", group["nonfinite"])

    def _cxx_options(self, group):
        b1, b2 = group["betas"]
        return {"beta1": float(b1), "beta2": float(b2), "eps": float(group["eps"]),
                "weight_decay": float(group["weight_decay"]), "nonfinite": group["nonfinite"]}


class Lion(_SpecoptOptimizer):
    """Lion (Chen et al., arXiv 2302.06675): c = β₁m + (1−β₁)g; W ← W − η(sign(c) + λW);
    m ← β₂m + (1−β₂)g. State: ``exp_avg`` (m)."""

    def __init__(self, params, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0, *, nonfinite="error"):
        defaults = dict(lr=lr, betas=tuple(betas), weight_decay=weight_decay, nonfinite=nonfinite)
        self._validate_group(defaults)
        super().__init__(params, defaults)

    def _spec(self, group):
        return "lion"

    def _validate_group(self, group):
        lr, betas, wd = group["lr"], group["betas"], group["weight_decay"]
        if not 0.0 <= _plain(lr):
            raise ValueError(f"Invalid learning rate: {lr}")
        for i, b in enumerate(betas):
            if not 0.0 <= b <= 1.0:
                raise ValueError(f"Invalid beta parameter at index {i}: {b}")
        if not 0.0 <= wd:
            raise ValueError(f"Invalid weight_decay value: {wd}")
        _check_nonfinite("Lion", group["nonfinite"])

    def _cxx_options(self, group):
        b1, b2 = group["betas"]
        return {"beta1": float(b1), "beta2": float(b2),
                "weight_decay": float(group["weight_decay"]), "nonfinite": group["nonfinite"]}


class _ByKeys(_SpecoptOptimizer):
    """A rule whose Python options are its C++ option keys, '.' spelled '_' (``polar_method``
    for ``polar.method``); the defaults are the C++ rule's."""

    _registry = None  # spec of the defaults

    def __init__(self, params, spec, options):
        self._keys = self._key_map(spec)
        defaults = {"spec": spec}
        defaults.update(self._defaults(spec))
        unknown = sorted(k for k in options if k not in defaults or k == "spec")
        if unknown:
            raise TypeError(f"{type(self).__name__}: unknown option(s) {unknown} "
                            f"(known: {sorted(k for k in defaults if k != 'spec')})")
        defaults.update(options)
        _check_nonfinite(type(self).__name__, defaults["nonfinite"])
        super().__init__(params, defaults)

    @staticmethod
    def _key_map(spec):
        return {k.replace(".", "_"): k for k in _C.Rule(spec).keys()}

    def _defaults(self, spec):
        values = _C.Rule(spec).values()
        out = {py: values[k] for py, k in self._keys.items() if k in values}
        return out

    def __setstate__(self, state):
        super().__setstate__(state)
        if "_keys" not in self.__dict__:
            self._keys = self._key_map(self.defaults["spec"])

    def _spec(self, group):
        return group["spec"]

    def _validate_group(self, group):
        _check_nonfinite(type(self).__name__, group.get("nonfinite", "error"))

    def _cxx_options(self, group):
        keys = self.__dict__.get("_keys") or self._key_map(group["spec"])
        return {keys[k]: v for k, v in group.items()
                if k not in ("params", "lr", "spec") and k in keys}


class NorMuon(_ByKeys):
    """NorMuon (arXiv 2510.05491): Muon with a per-row second moment. Options are the C++
    NorMuonOptions' keys, '.' spelled '_' (``polar_method``, ``polar_steps``, ...)."""

    def __init__(self, params, lr=0.02, **options):
        super().__init__(params, "normuon", dict(options, lr=lr))


class AdaMuon(_ByKeys):
    """AdaMuon (arXiv 2507.11005): Muon on sign(momentum), then an element-wise second moment
    of the orthogonalised update, rescaled to Adam's RMS. Options are the C++ AdaMuonOptions'
    keys, '.' spelled '_' (``sign_momentum``, ``beta2``, ``rms``, ``polar_steps``, ...)."""

    def __init__(self, params, lr=0.02, **options):
        super().__init__(params, "adamuon", dict(options, lr=lr))


class PolarGrad(_ByKeys):
    """PolarGrad (arXiv 2505.21799): the polar factor of the momentum times its nuclear norm
    (Lion-K with K = ½‖X‖²_*). Options are the C++ PolarGradOptions' keys."""

    def __init__(self, params, lr=3e-4, **options):
        super().__init__(params, "polargrad", dict(options, lr=lr))


class Dion2(_ByKeys):
    """Dion2 (arXiv 2512.16928): Muon on the α-fraction (``fraction``, default 0.25) of rows or
    columns of largest norm, error feedback for the rest. Options are the C++ Dion2Options'
    keys."""

    def __init__(self, params, lr=0.01, **options):
        super().__init__(params, "dion2", dict(options, lr=lr))


class LionK(_ByKeys):
    """Lion-K with a convex map K by its registry spec (``map="nuclear"`` (default),
    ``"schatten:q=3"``, ...). Other options: beta_pol, beta_nes, weight_decay,
    implicit_weight_decay, split_qkv, nonfinite."""

    def __init__(self, params, lr=1e-3, map="nuclear", **options):
        super().__init__(params, "lionk", dict(options, lr=lr, map=map))


class SpectralAdam(_ByKeys):
    """SpectralAdam (arXiv 2602.04669): an RMS-normalised update followed by U Σ^p Vᵀ.
    ``preset`` = "adam" (p = 1), "adams" (p = 1/2), "adamq" (p = 1/4), "adamz" (p = 0) takes
    that preset's options; other options (p, beta1, beta2, eps, weight_decay, shape_rule,
    power_method, ...) override them."""

    _PRESETS = ("adam", "adams", "adamq", "adamz")

    def __init__(self, params, lr=1e-3, preset=None, **options):
        spec = self._preset_spec(preset, self._PRESETS, "spectraladam")
        super().__init__(params, spec, dict(options, lr=lr))

    @staticmethod
    def _preset_spec(preset, presets, default):
        if preset is None:
            return default
        if str(preset).lower() not in presets:
            raise ValueError(f"Unknown preset {preset!r} (known: {', '.join(presets)})")
        return str(preset).lower()


class SpectralSGD(_ByKeys):
    """SpectralSGD (arXiv 2602.04669): momentum followed by U Σ^p Vᵀ. ``preset`` = "msgd"
    (p = 1), "msgds" (1/2), "msgdq" (1/4), "msgdz" (0)."""

    _PRESETS = ("msgd", "msgds", "msgdq", "msgdz")

    def __init__(self, params, lr=1e-2, preset=None, **options):
        spec = SpectralAdam._preset_spec(preset, self._PRESETS, "spectralsgd")
        super().__init__(params, spec, dict(options, lr=lr))


# The rules a param group of any specopt optimizer may name with "rule" (element-wise ones:
# their options are the group's, whatever the optimizer's shape rules).
_GROUP_RULES = {"adamw": AdamW, "lion": Lion}
_RULE_DEFAULTS = {}


def _rule_defaults(cls):
    """The group defaults of optimizer class `cls` (its constructor's, as a fresh instance
    records them)."""
    if cls not in _RULE_DEFAULTS:
        _RULE_DEFAULTS[cls] = dict(cls([torch.zeros(1, requires_grad=True)]).defaults)
    return _RULE_DEFAULTS[cls]


from .partition import default_is_spectral, hybrid_param_groups, partition_parameters  # noqa: E402,F401
