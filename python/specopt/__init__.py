"""specopt: spectral optimizers from the specopt C++ library, as torch.optim optimizers.

See docs/python.md. The compiled part, ``specopt._C``, may live in another directory of
``sys.path`` than these sources (a CMake build tree: ``PYTHONPATH=python:build/python``), so
the package's path is extended over every ``specopt`` directory on ``sys.path``.
"""
from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)

import torch  # noqa: E402  (loads libtorch before the extension)

from . import _C  # noqa: E402
from . import optim  # noqa: E402

__all__ = ["optim", "registered_optimizers"]


def registered_optimizers():
    """[(name, summary)] of every optimizer the C++ registry knows (as `specopt list`)."""
    return list(_C.registered_optimizers())
