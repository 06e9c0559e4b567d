"""Splitting a model's parameters between a spectral optimizer and AdamW (docs/python.md).

The rule is the C++ one, specopt::partition_parameters (specopt/optim/partition.h), called
through specopt._C, so a Python model and a C++ model with the same parameter names split the
same way. Default rule, first match decides:

  1. fewer than 2 dims (biases, norm gains, scalars)   → AdamW    ("< 2-D")
  2. the name matches one of adamw_patterns            → AdamW    ("adamw_patterns")
  3. the name matches one of spectral_patterns         → spectral ("spectral_patterns")
  4. an embedding pattern: embed wte wpe tok_emb       → AdamW    ("embedding")
  5. a head pattern: lm_head head classifier fc_out ^out(put)?\\.
                                                       → AdamW    ("output head")
  6. a norm pattern: norm ln                           → AdamW    ("norm")
  7. the last dot-separated component is "bias"        → AdamW    ("bias")
  8. otherwise (a hidden weight with ≥ 2 dims)         → spectral ("hidden matrix")

Patterns are ECMAScript regular expressions searched anywhere in the name, ignoring case.
``predicate(name, param) -> bool`` (True: spectral) replaces the whole rule; call
``default_is_spectral`` inside it to change the decision for a few names only.
"""
import warnings
from typing import NamedTuple

import torch

from . import _C

__all__ = ["NamedParameter", "Partition", "partition_parameters", "default_is_spectral",
           "hybrid_param_groups", "PARTITION_DEFAULTS"]

# The built-in pattern lists (embedding_patterns, head_patterns, norm_patterns), as C++ has them.
PARTITION_DEFAULTS = dict(_C.partition_defaults())


class NamedParameter(NamedTuple):
    name: str
    param: torch.Tensor
    reason: str   # the rule that decided ("hidden matrix", "embedding", "predicate", ...)
    pattern: str  # the pattern that matched ("" for rules without one)


class Partition(NamedTuple):
    spectral: list
    adamw: list
    unmatched_patterns: list  # [(list name, pattern)] of the user's patterns matching no name
    summary: str              # one line per parameter, spectral side first

    def spectral_params(self):
        return [np.param for np in self.spectral]

    def adamw_params(self):
        return [np.param for np in self.adamw]

    def spectral_names(self):
        return [np.name for np in self.spectral]

    def adamw_names(self):
        return [np.name for np in self.adamw]


def _named(model):
    if isinstance(model, torch.nn.Module):
        return list(model.named_parameters())
    named = list(model)
    for item in named:
        if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)
                and isinstance(item[1], torch.Tensor)):
            raise TypeError("partition_parameters takes a torch.nn.Module or (name, tensor) "
                            f"pairs, got an item {item!r:.80}")
    return named


def _checked_predicate(predicate):
    if predicate is None:
        return None
    if not callable(predicate):
        raise TypeError(f"predicate must be callable (name, param) -> bool, got {predicate!r}")

    def call(name, param):
        decision = predicate(name, param)
        if not isinstance(decision, bool):
            raise TypeError(f"predicate({name!r}, ...) returned {decision!r}; it must return "
                            "True (spectral) or False (AdamW)")
        return decision
    return call


def partition_parameters(model, *, adamw_patterns=(), spectral_patterns=(),
                         embedding_patterns=None, head_patterns=None, norm_patterns=None,
                         predicate=None, require_spectral=False, allow_spectral_vectors=False):
    """Splits ``model.named_parameters()`` (or (name, tensor) pairs) into a Partition.

    ``*_patterns`` = None keeps the built-in list (PARTITION_DEFAULTS). Raises ValueError
    naming the parameter or pattern for: a tensor or name given twice (tied weights: pass the
    tensor once), an invalid pattern, a name matching both adamw_patterns and
    spectral_patterns, a predicate combined with patterns, a < 2-D parameter sent to the
    spectral side (unless allow_spectral_vectors), an empty spectral side with
    require_spectral."""
    named = _named(model)
    by_name = dict(named)
    out = _C.partition_parameters(
        named, adamw_patterns=list(adamw_patterns), spectral_patterns=list(spectral_patterns),
        embedding_patterns=None if embedding_patterns is None else list(embedding_patterns),
        head_patterns=None if head_patterns is None else list(head_patterns),
        norm_patterns=None if norm_patterns is None else list(norm_patterns),
        predicate=_checked_predicate(predicate), require_spectral=require_spectral,
        allow_spectral_vectors=allow_spectral_vectors)

    def side(rows):
        return [NamedParameter(name, by_name[name], reason, pattern)
                for name, reason, pattern in rows]
    return Partition(side(out["spectral"]), side(out["adamw"]),
                     [tuple(u) for u in out["unmatched_patterns"]], out["summary"])


def default_is_spectral(name, param, *, adamw_patterns=(), spectral_patterns=(),
                        embedding_patterns=None, head_patterns=None, norm_patterns=None):
    """The default rule's decision for one parameter (True: spectral), for use in predicates."""
    spectral, _, _ = _C.default_is_spectral(
        name, param, adamw_patterns=list(adamw_patterns),
        spectral_patterns=list(spectral_patterns),
        embedding_patterns=None if embedding_patterns is None else list(embedding_patterns),
        head_patterns=None if head_patterns is None else list(head_patterns),
        norm_patterns=None if norm_patterns is None else list(norm_patterns))
    return spectral


def hybrid_param_groups(model, *, spectral=None, adamw=None, adamw_rule="adamw",
                        warn_unmatched=True, **partition):
    """Param groups for a spectral optimizer that steps the rest of the model with AdamW.

    Returns ``[spectral_group, adamw_group]``, usable directly as the ``params`` of any
    specopt.optim optimizer::

        groups = hybrid_param_groups(model, adamw=dict(lr=3e-4, weight_decay=0.0))
        opt = specopt.optim.Muon(groups, lr=0.02)

    The spectral group (hidden ≥ 2-D matrices) takes the optimizer's own options, overridden
    by ``spectral`` (a dict). The AdamW group carries ``"rule": adamw_rule`` ("adamw" or
    "lion"): the optimizer steps it with that rule, with that rule's defaults
    (specopt.optim.AdamW's) overridden by ``adamw``. Both groups have ``param_names``
    (torch's key for named parameters) and both exist even when a side is empty, so group
    indices are stable. ``partition`` takes partition_parameters' keywords (adamw_patterns,
    spectral_patterns, predicate, ...). A user pattern that matches no parameter name (a typo,
    most likely) gives a warning unless warn_unmatched=False."""
    p = partition_parameters(model, **partition)
    if warn_unmatched and p.unmatched_patterns:
        warnings.warn("hybrid_param_groups: pattern(s) matching no parameter name: " +
                      ", ".join(f"{lst} {pat!r}" for lst, pat in p.unmatched_patterns),
                      stacklevel=2)
    spectral_group = dict(spectral or {}, params=p.spectral_params(),
                          param_names=p.spectral_names())
    adamw_group = dict(adamw or {}, params=p.adamw_params(), param_names=p.adamw_names(),
                       rule=adamw_rule)
    return [spectral_group, adamw_group]
