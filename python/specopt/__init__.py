"""specopt: spectral optimizers from the specopt C++ library, as torch.optim optimizers, and
its matrix functions and convex maps as functions on tensors.

See docs/python.md. The compiled part, ``specopt._C``, may live in another directory of
``sys.path`` than these sources (a CMake build tree: ``PYTHONPATH=python:build/python``), so
the package's path is extended over every ``specopt`` directory on ``sys.path``.
"""
from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)

import torch  # noqa: E402  (loads libtorch before the extension)

from . import _C  # noqa: E402
from . import optim  # noqa: E402

# Matrix functions (specopt/matfun) and convex maps (specopt/maps), on tensors of shape
# (..., m, n). Bad option values and non-finite input raise ValueError naming the value.
from ._C import (  # noqa: E402
    ConvexMap,
    TopSingular,
    constraint_violation,
    convex_map,
    convex_map_names,
    dual_norm,
    frobenius_inner,
    frobenius_norm,
    ky_fan_norm,
    lion_k_objective,
    ns_schedules,
    nuclear_norm,
    op_norm,
    polar,
    polar_methods,
    power_methods,
    schatten_norm,
    singular_values,
    spectral_map,
    spectral_power,
    stationarity_gap,
    top_singular,
)

__all__ = [
    "optim", "registered_optimizers",
    "polar", "spectral_power", "spectral_map", "top_singular", "TopSingular",
    "op_norm", "nuclear_norm", "frobenius_norm", "schatten_norm", "ky_fan_norm",
    "singular_values", "ConvexMap", "convex_map", "convex_map_names", "dual_norm",
    "stationarity_gap", "constraint_violation", "lion_k_objective", "frobenius_inner",
    "polar_methods", "power_methods", "ns_schedules",
]


def registered_optimizers():
    """[(name, summary)] of every optimizer the C++ registry knows (as `specopt list`)."""
    return list(_C.registered_optimizers())
