"""Where one optimizer step's time goes: torch's profiler around one C++ step on the GPT-small set.

    PYTHONPATH=python:build/python /usr/bin/python3 python/benchmarks/profile_step.py \
        [--spec muon:lr=0.02,split_qkv=true] [--threads 2] [--rows 20]

The step is the C++ HybridOptimizer's (the spectral spec on the hidden matrices, AdamW on the
rest; `specopt bench step`'s "muon" row), after one untimed step. The ATen operators it calls
are recorded by torch.autograd.profiler (LibTorch's RecordFunction, which sees the C++ library's
calls too) and printed by self time, grouped by input shapes. docs/performance.md has a run.
"""
import argparse
import importlib.util
import os
import time

import torch

from specopt import _C


def gpt_small_named():
    here = os.path.dirname(os.path.abspath(__file__))
    spec = importlib.util.spec_from_file_location("bench_step", os.path.join(here, "bench_step.py"))
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench.gpt_small_named()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--spec", default="muon:lr=0.02,weight_decay=0.0,split_qkv=true")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rows", type=int, default=20)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    opt = _C.CxxHybridOptimizer(gpt_small_named(), args.spec, "adamw:lr=3e-4")
    opt.step()  # state allocation, untimed
    with torch.autograd.profiler.profile(record_shapes=True) as prof:
        t0 = time.perf_counter()
        opt.step()
        seconds = time.perf_counter() - t0
    print(f"torch {torch.__version__}, {args.threads} threads, {args.spec} + AdamW: "
          f"one step {seconds:.3f} s under the profiler")
    print(prof.key_averages(group_by_input_shape=True).table(sort_by="self_cpu_time_total",
                                                              row_limit=args.rows))


if __name__ == "__main__":
    main()
