"""Python step() overhead over the C++ optimizer's step, same parameters and gradients.

    PYTHONPATH=python:build/python /usr/bin/python3 python/benchmarks/bench_step.py [--threads N]

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
import time

import torch

import specopt
from specopt import _C
from specopt.optim import AdamW, Lion, Muon


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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--sets", default=",".join(SETS), help="comma-separated: " + ", ".join(SETS))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, fastest step of each")
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
