"""specopt.optim.hybrid_param_groups / partition_parameters: the C++ partition rule
(specopt/optim/partition.h) on a torch.nn.Module, and param groups that carry their own rule."""
import copy
import io
import warnings

import pytest
import torch
from torch import nn

from specopt import _C
from specopt.optim import (AdamW, Lion, LionK, Muon, default_is_spectral, hybrid_param_groups,
                           partition_parameters)
from specopt.partition import PARTITION_DEFAULTS
from test_numerics import step_twins


class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.ln_1 = nn.LayerNorm(d)
        self.attn = nn.ModuleDict({"c_attn": nn.Linear(d, 3 * d), "out": nn.Linear(d, d)})
        self.ln_2 = nn.LayerNorm(d)
        self.mlp = nn.ModuleDict({"c_fc": nn.Linear(d, 4 * d), "c_proj": nn.Linear(4 * d, d)})


class TinyGPT(nn.Module):
    """minGPT's names, plus a hidden matrix whose name contains "tok" and "out" but is not an
    embedding or the head, and a top-level `output` head (Llama's)."""

    def __init__(self, vocab=11, d=8, layers=2):
        super().__init__()
        self.wte = nn.Embedding(vocab, d)
        self.wpe = nn.Embedding(16, d)
        self.blocks = nn.ModuleList([Block(d) for _ in range(layers)])
        self.token_mixer = nn.Linear(d, d, bias=False)
        self.ln_f = nn.LayerNorm(d)
        self.output = nn.Linear(d, vocab, bias=False)
        self.scale = nn.Parameter(torch.ones(()))


# partition.h's default rule, decision by decision, for TinyGPT's names.
EXPECTED = {
    "wte.weight": ("adamw", "embedding", "wte"),
    "wpe.weight": ("adamw", "embedding", "wpe"),
    "token_mixer.weight": ("spectral", "hidden matrix", ""),
    "ln_f.weight": ("adamw", "< 2-D", ""),
    "ln_f.bias": ("adamw", "< 2-D", ""),
    "output.weight": ("adamw", "output head", r"^out(put)?\."),
    "scale": ("adamw", "< 2-D", ""),
}
for i in range(2):
    for name in ("attn.c_attn", "attn.out", "mlp.c_fc", "mlp.c_proj"):
        EXPECTED[f"blocks.{i}.{name}.weight"] = ("spectral", "hidden matrix", "")
        EXPECTED[f"blocks.{i}.{name}.bias"] = ("adamw", "< 2-D", "")
    for ln in ("ln_1", "ln_2"):
        EXPECTED[f"blocks.{i}.{ln}.weight"] = ("adamw", "< 2-D", "")
        EXPECTED[f"blocks.{i}.{ln}.bias"] = ("adamw", "< 2-D", "")


def decisions(p):
    out = {np.name: ("spectral", np.reason, np.pattern) for np in p.spectral}
    out.update({np.name: ("adamw", np.reason, np.pattern) for np in p.adamw})
    return out


def test_partition_is_the_cpp_rule_on_a_gpt_like_module():
    model = TinyGPT()
    p = partition_parameters(model)
    assert decisions(p) == EXPECTED
    names = [n for n, _ in model.named_parameters()]
    # Order of appearance kept on each side; every parameter exactly once.
    assert p.spectral_names() == [n for n in names if EXPECTED[n][0] == "spectral"]
    assert p.adamw_names() == [n for n in names if EXPECTED[n][0] == "adamw"]
    assert "spectral  blocks.0.attn.c_attn.weight [24, 8]  (hidden matrix)" in p.summary
    assert "adamw     wte.weight [11, 8]  (embedding 'wte')" in p.summary
    assert PARTITION_DEFAULTS == {
        "embedding_patterns": ["embed", "wte", "wpe", "tok_emb"],
        "head_patterns": ["lm_head", "head", "classifier", "fc_out", r"^out(put)?\."],
        "norm_patterns": ["norm", "ln"]}
    # The rule for one parameter agrees with the partition.
    for name, param in model.named_parameters():
        assert default_is_spectral(name, param) == (EXPECTED[name][0] == "spectral")


def test_patterns_and_predicate_override_the_rule():
    model = TinyGPT()
    p = partition_parameters(model, adamw_patterns=[r"mlp\.c_proj"], spectral_patterns=["^output"])
    d = decisions(p)
    assert d["blocks.1.mlp.c_proj.weight"] == ("adamw", "adamw_patterns", r"mlp\.c_proj")
    assert d["output.weight"] == ("spectral", "spectral_patterns", "^output")
    assert d["blocks.1.mlp.c_fc.weight"] == EXPECTED["blocks.1.mlp.c_fc.weight"]
    # A predicate replaces the rule; default_is_spectral inside it changes one decision only.
    p = partition_parameters(
        model, predicate=lambda n, t: n == "wte.weight" or default_is_spectral(n, t))
    d = decisions(p)
    assert d["wte.weight"] == ("spectral", "predicate", "")
    assert {n: s for n, (s, _, _) in d.items() if n != "wte.weight"} == \
        {n: s for n, (s, _, _) in EXPECTED.items() if n != "wte.weight"}
    # Replaced built-in lists: no norm or head patterns (vectors still go to AdamW by shape).
    d = decisions(partition_parameters(model, head_patterns=[]))
    assert d["output.weight"] == ("spectral", "hidden matrix", "")


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(adamw_patterns=["c_fc"], spectral_patterns=["mlp"]), ValueError,
     r"'blocks.0.mlp.c_fc.weight' matches adamw_patterns 'c_fc' and spectral_patterns 'mlp'"),
    (dict(adamw_patterns=["(unclosed"]), ValueError, r"adamw_patterns: '\(unclosed'"),
    (dict(predicate=lambda n, t: True, adamw_patterns=["wte"]), ValueError, r"predicate"),
    (dict(predicate=lambda n, t: True), ValueError, r"'scale' \(shape \[\], 0-D\)"),
    (dict(predicate=lambda n, t: "yes"), TypeError, r"returned 'yes'"),
    (dict(predicate=lambda n, t: False, require_spectral=True), ValueError, r"require_spectral"),
])
def test_partition_errors_name_the_parameter_or_pattern(kwargs, error, match):
    with pytest.raises(error, match=match):
        partition_parameters(TinyGPT(), **kwargs)


def test_tied_and_repeated_parameters_are_refused():
    w = torch.zeros(3, 4)
    with pytest.raises(ValueError, match=r"'lm_head.weight' is the same tensor as 'wte.weight'"):
        partition_parameters([("wte.weight", w), ("lm_head.weight", w)])
    with pytest.raises(ValueError, match=r"the name 'a' appears twice"):
        partition_parameters([("a", torch.zeros(2, 2)), ("a", torch.zeros(2, 2))])
    with pytest.raises(TypeError, match=r"torch.nn.Module or \(name, tensor\) pairs"):
        partition_parameters([torch.zeros(2, 2)])


def test_unmatched_pattern_warns():
    with pytest.warns(UserWarning, match=r"adamw_patterns 'c_prj'"):
        hybrid_param_groups(TinyGPT(), adamw_patterns=["c_prj"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hybrid_param_groups(TinyGPT(), adamw_patterns=["c_prj"], warn_unmatched=False)


def test_adamw_group_has_adamw_options_and_defaults():
    model = TinyGPT()
    groups = hybrid_param_groups(model, spectral=dict(momentum=0.9), adamw=dict(lr=3e-4))
    opt = Muon(groups, lr=0.02)
    spectral, adamw = opt.param_groups
    assert spectral["momentum"] == 0.9 and spectral["lr"] == 0.02 and "rule" not in spectral
    assert spectral["param_names"] == partition_parameters(model).spectral_names()
    assert adamw["rule"] == "adamw" and adamw["lr"] == 3e-4
    # AdamW's defaults (weight_decay 1e-2), none of Muon's options.
    assert set(adamw) == {"params", "param_names", "rule", "lr", "betas", "eps", "weight_decay",
                          "nonfinite"}
    assert adamw["weight_decay"] == 1e-2 and adamw["betas"] == (0.9, 0.999)
    # Vectors are fine in the AdamW group of a Muon; not in its own groups.
    with pytest.raises(ValueError, match="Muon only supports 2D parameters"):
        opt.add_param_group({"params": [torch.zeros(3, requires_grad=True)], "param_names": ["v"]})
    with pytest.raises(ValueError, match=r"param group rule 'sgd' is not one of"):
        Muon([{"params": [torch.zeros(3, 3, requires_grad=True)], "rule": "sgd"}])
    with pytest.raises(ValueError, match=r"Invalid beta parameter at index 0: 1.5"):
        Muon(hybrid_param_groups(model, adamw=dict(betas=(1.5, 0.9))))


def twin_models():
    torch.manual_seed(0)
    a = TinyGPT().double()
    return a, copy.deepcopy(a)


def test_hybrid_groups_step_as_two_separate_optimizers():
    a, b = twin_models()
    hybrid = Muon(hybrid_param_groups(a, adamw=dict(lr=3e-3, weight_decay=0.0)), lr=0.02)
    pb = partition_parameters(b)
    muon = Muon(pb.spectral_params(), lr=0.02)
    adamw = AdamW(pb.adamw_params(), lr=3e-3, weight_decay=0.0)
    ours, theirs = list(a.parameters()), list(b.parameters())
    step_twins(ours, theirs, (hybrid, muon, adamw), 4)
    for (n, p), q in zip(a.named_parameters(), theirs):
        assert torch.equal(p, q), n
    assert hybrid.state[a.wte.weight]["step"] == 4
    assert "momentum_buffer" in hybrid.state[a.blocks[0].mlp["c_fc"].weight]


def test_hybrid_state_dict_round_trip_and_scheduler():
    a, b = twin_models()
    opt_a = Muon(hybrid_param_groups(a, adamw=dict(lr=1e-3)), lr=0.02)
    sched_a = torch.optim.lr_scheduler.StepLR(opt_a, step_size=2, gamma=0.5)
    ours, theirs = list(a.parameters()), list(b.parameters())
    for _ in range(3):
        step_twins(ours, theirs, (opt_a,), 1)
        sched_a.step()
    # Each group scheduled from its own lr.
    assert [g["lr"] for g in opt_a.param_groups] == [0.01, 0.0005]
    b.load_state_dict(a.state_dict())
    buf = io.BytesIO()
    torch.save(opt_a.state_dict(), buf)
    buf.seek(0)
    opt_b = Muon(hybrid_param_groups(b), lr=0.5)
    opt_b.load_state_dict(torch.load(buf))
    assert opt_b.param_groups[1]["rule"] == "adamw" and opt_b.param_groups[1]["lr"] == 0.0005
    step_twins(ours, theirs, (opt_a, opt_b), 3)
    for p, q in zip(ours, theirs):
        assert torch.equal(p, q)


def test_lion_rule_group_and_other_hosts():
    a, b = twin_models()
    host = LionK(hybrid_param_groups(a, adamw=dict(lr=1e-4), adamw_rule="lion"), lr=1e-3)
    pb = partition_parameters(b)
    lionk = LionK(pb.spectral_params(), lr=1e-3)
    lion = Lion(pb.adamw_params(), lr=1e-4)
    assert set(host.param_groups[1]) == {"params", "param_names", "rule", "lr", "betas",
                                         "weight_decay", "nonfinite"}
    step_twins(list(a.parameters()), list(b.parameters()), (host, lionk, lion), 3)
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)


@pytest.mark.parametrize("spectral_spec,make", [
    ("lionk", lambda groups: LionK(groups)),
    ("muon:momentum=0,weight_decay=0.1,lr=0.001", lambda groups: Muon(groups, momentum=0.0)),
], ids=["LionK", "Muon-no-momentum"])
def test_hybrid_groups_step_as_the_cxx_hybrid_optimizer(spectral_spec, make):
    """specopt.optim over hybrid_param_groups takes exactly the steps of the C++
    HybridOptimizer (its own partition of the same names, AdamW on the rest)."""
    a, b = twin_models()
    py_opt = make(hybrid_param_groups(a))
    cxx_opt = _C.CxxHybridOptimizer(list(b.named_parameters()), spectral_spec, "adamw")
    step_twins(list(a.parameters()), list(b.parameters()), (py_opt, cxx_opt), 4)
    for (n, p), q in zip(a.named_parameters(), b.parameters()):
        assert torch.equal(p, q), n
    assert not torch.equal(a.wte.weight, twin_models()[0].wte.weight)  # it did step
