"""Python step() overhead over the C++ optimizer's step, same parameters and gradients.

    PYTHONPATH=python:build/python /usr/bin/python3 python/benchmarks/bench_step.py [--threads N]
    PYTHONPATH=python:build/python /usr/bin/python3 python/benchmarks/bench_step.py \
        --sets gpt-small --cli build/apps/specopt/specopt

"gpt-small" is `specopt bench step`'s parameter set (lab/step_bench.cpp: 12 blocks, width
768, vocabulary 50257, 1024 positions; ≈124 M parameters) with its optimizers: "muon" =
Muon(lr 0.02, split_qkv) on the hidden matrices + AdamW(lr 3e-4) on the rest, C++
HybridOptimizer (specopt._C.CxxHybridOptimizer) against specopt.optim.Muon over
hybrid_param_groups; "adamw" = AdamW(lr 3e-4) on everything, C++ against specopt.optim.AdamW
and torch.optim.AdamW with foreach=False and foreach=True. Median and fastest of --repeats
steps each, after one untimed step, the C++ and the Python step alternating (torch's AdamWs
alternate with specopt.optim.AdamW in a loop of their own); with --cli, `specopt bench step`
runs on the same set before and after, and the mean of its two medians is printed beside.

Sets: "block" = one GPT-small transformer block's matrices (768-wide; QKV as three 768×768,
the output projection, the MLP 3072×768 and 768×3072) and "many-small" = 64 matrices 64×64
(where per-parameter overhead shows) and "tiny" = 256 matrices 4×4 (the update itself costs
almost nothing: the difference is the Python step's fixed and per-parameter cost). For each optimizer the C++ SpecoptOptimizer
(specopt._C.CxxOptimizer, i.e. make_optimizer(spec)) and specopt.optim's optimizer step the
same parameters, alternately, `repeats` times after one untimed step each; the fastest step of
each is reported (the minimum is the figure least disturbed by other load on the machine), with
the ratio. docs/python.md has a run's figures.
"""
import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time

import torch

import specopt
from specopt import _C
from specopt.optim import AdamW, Lion, Muon, hybrid_param_groups


SETS = {  # name: (shapes, timed steps)
    "block": ([(768, 768)] * 4 + [(3072, 768), (768, 3072)], None),  # None: --repeats
    "many-small": ([(64, 64)] * 64, 50),
    "tiny": ([(4, 4)] * 256, 200),  # the update costs ~nothing: the per-parameter overhead
}


# (name, C++ spec, Python optimizer factory): the same rule and options on both sides.
CASES = [
    ("Muon", "muon:lr=0.02,weight_decay=0.0",
     lambda ps: Muon(ps, lr=0.02, weight_decay=0.0)),
    ("AdamW", "adamw", lambda ps: AdamW(ps)),
    ("Lion", "lion", lambda ps: Lion(ps)),
]


def timed(step):
    t0 = time.perf_counter()
    step()
    return time.perf_counter() - t0


def fastest_steps(cxx_opt, py_opt, repeats):
    cxx_opt.step()
    py_opt.step()
    cxx, py = [], []
    for _ in range(repeats):
        cxx.append(timed(cxx_opt.step))
        py.append(timed(py_opt.step))
    return min(cxx), min(py)


def gpt_small_named(seed=1234):
    """lab/step_bench.cpp's step_bench_shapes with the default config, with fixed gradients."""
    d, shapes = 768, [("wte.weight", (50257, 768)), ("wpe.weight", (1024, 768))]
    for i in range(12):
        b = f"blocks.{i}."
        shapes += [(b + "ln_1.weight", (d,)), (b + "ln_1.bias", (d,)),
                   (b + "attn.c_attn.weight", (3 * d, d)), (b + "attn.c_proj.weight", (d, d)),
                   (b + "ln_2.weight", (d,)), (b + "ln_2.bias", (d,)),
                   (b + "mlp.c_fc.weight", (4 * d, d)), (b + "mlp.c_proj.weight", (d, 4 * d))]
    shapes += [("ln_f.weight", (d,)), ("ln_f.bias", (d,))]
    torch.manual_seed(seed)
    named = []
    for name, shape in shapes:
        p = (torch.randn(*shape) * 0.02).requires_grad_()
        p.grad = torch.randn(*shape) * 1e-3
        named.append((name, p))
    return named


def cli_bench_step(cli, threads, repeats):
    """{optimizer: median seconds} of `specopt bench step` on the same set and threads."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "step.json")
        subprocess.run([cli, "bench", "step", "--optimizers", "adamw,muon", "--threads",
                        str(threads), "--repeats", str(repeats), "--json", out, "--quiet"],
                       check=True, stdout=subprocess.DEVNULL)
        with open(out) as f:
            return {r["optimizer"]: r["seconds"] for r in json.load(f)}


def alternate(opts, repeats):
    """{label: [seconds]}: one untimed step each, then `repeats` rounds of one step each."""
    times = {label: [] for label, _ in opts}
    for _, o in opts:
        o.step()  # state allocation, untimed
    for _ in range(repeats):
        for label, o in opts:
            times[label].append(timed(o.step))
    return times


def gpt_small(args):
    named = gpt_small_named()
    params = [p for _, p in named]
    muon_spec = "muon:lr=0.02,weight_decay=0.0,split_qkv=true"
    # The Python step against the C++ step: only these two alternate. A third optimizer between
    # them (torch.optim.AdamW allocates and frees ~300 MB of temporaries a step) slowed the
    # next step by 10-50% in earlier runs, whichever implementation that was.
    cases = {
        "muon": [
            ("C++ HybridOptimizer", lambda: _C.CxxHybridOptimizer(named, muon_spec, "adamw:lr=3e-4")),
            ("specopt.optim.Muon", lambda: Muon(hybrid_param_groups(named, adamw=dict(lr=3e-4)),
                                                lr=0.02, weight_decay=0.0, split_qkv=True)),
        ],
        "adamw": [
            ("C++ AdamW", lambda: _C.CxxOptimizer("adamw:lr=3e-4", params)),
            ("specopt.optim.AdamW", lambda: AdamW(params, lr=3e-4)),
        ],
    }
    peers = [  # specopt.optim.AdamW against torch's, alternating among themselves
        ("specopt.optim.AdamW", lambda: AdamW(params, lr=3e-4)),
        ("torch AdamW foreach=False", lambda: torch.optim.AdamW(params, lr=3e-4, foreach=False)),
        ("torch AdamW foreach=True", lambda: torch.optim.AdamW(params, lr=3e-4, foreach=True)),
    ]
    # `specopt bench step` runs before and after the in-process steps; its figure is the mean of
    # the two medians, so a drift of the machine's speed during the run shows as their spread.
    cli = [cli_bench_step(args.cli, args.threads, args.repeats)] if args.cli else []
    print(f"gpt-small: {sum(p.numel() for p in params) / 1e6:.1f} M parameters in "
          f"{len(params)} tensors; median and fastest of {args.repeats} steps, alternating")
    results = {}
    for case, impls in cases.items():
        results[case] = alternate([(label, make()) for label, make in impls], args.repeats)
    peer_times = alternate([(label, make()) for label, make in peers], args.repeats)
    if args.cli:
        cli.append(cli_bench_step(args.cli, args.threads, args.repeats))
    print(f"{'optimizer':<6} {'implementation':<26} {'median':>9} {'fastest':>9} {'vs first':>9}"
          f" {'bench step':>11}")
    for case, times in list(results.items()) + [("adamw", peer_times)]:
        labels = list(times)
        first = statistics.median(times[labels[0]])
        for label in labels:
            med = statistics.median(times[label])
            ref = ""
            if cli and label.startswith("C++"):
                ref = f"{statistics.mean(c[case] for c in cli):>10.3f}s" + \
                    f" ({' / '.join(f'{c[case]:.3f}' for c in cli)})"
            print(f"{case:<6} {label:<26} {med:>8.3f}s {min(times[label]):>8.3f}s "
                  f"{(med / first - 1) * 100:>+8.1f}% {ref}")
            if cli and label.startswith("specopt") and times is not peer_times:
                ref = statistics.mean(c[case] for c in cli)
                print(f"{'':<6} {'  vs bench step':<26} {'':>9} {'':>9} "
                      f"{(med / ref - 1) * 100:>+8.1f}%")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--sets", default=",".join(SETS),
                    help="comma-separated: " + ", ".join(SETS) + ", gpt-small")
    ap.add_argument("--cli", help="the specopt CLI: also run `specopt bench step` (gpt-small)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads")
    if "gpt-small" in args.sets.split(","):
        gpt_small(args)
        args.sets = ",".join(s for s in args.sets.split(",") if s != "gpt-small")
        if not args.sets:
            return
    print("fastest step of each")
    print(f"{'set':<11} {'optimizer':<8} {'C++ step':>10} {'Python step':>12} {'overhead':>9}"
          f" {'per param':>10}")
    for set_name in args.sets.split(","):
        set_shapes, repeats = SETS[set_name]
        for name, spec, make in CASES:
            torch.manual_seed(0)
            params = [torch.randn(*s).requires_grad_() for s in set_shapes]
            for p in params:
                p.grad = torch.randn_like(p)
            cxx, py = fastest_steps(_C.CxxOptimizer(spec, params), make(params),
                                    repeats or args.repeats)
            print(f"{set_name:<11} {name:<8} {cxx * 1e3:>8.2f}ms {py * 1e3:>10.2f}ms "
                  f"{(py / cxx - 1) * 100:>+8.1f}% {(py - cxx) / len(params) * 1e6:>8.1f}us")


if __name__ == "__main__":
    main()
