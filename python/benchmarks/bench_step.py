"""Python step() overhead over the C++ optimizer's step, same parameters and gradients.

    PYTHONPATH=python:build/python /usr/bin/python3 python/benchmarks/bench_step.py [--threads N]

Sets: "block" = one GPT-small transformer block's matrices (768-wide; QKV as three 768×768,
the output projection, the MLP 3072×768 and 768×3072) and "many-small" = 64 matrices 64×64
(where per-parameter overhead shows). For each optimizer the C++ SpecoptOptimizer
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


def shapes(name):
    if name == "block":
        return [(768, 768)] * 4 + [(3072, 768), (768, 3072)]
    return [(64, 64)] * 64


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
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, fastest of {args.repeats} steps")
    print(f"{'set':<11} {'optimizer':<8} {'C++ step':>10} {'Python step':>12} {'overhead':>9}")
    for set_name in ("block", "many-small"):
        for name, spec, make in CASES:
            torch.manual_seed(0)
            params = [torch.randn(*s).requires_grad_() for s in shapes(set_name)]
            for p in params:
                p.grad = torch.randn_like(p)
            cxx, py = fastest_steps(_C.CxxOptimizer(spec, params), make(params), args.repeats)
            print(f"{set_name:<11} {name:<8} {cxx * 1e3:>8.2f}ms {py * 1e3:>10.2f}ms "
                  f"{(py / cxx - 1) * 100:>+8.1f}%")


if __name__ == "__main__":
    main()
