#!/usr/bin/env python3
"""Summarises a scripts/gpu_check.sh run: OUT/summary.json and OUT/summary.txt.

Reads what the stages left in OUT (stages.tsv, env.json, tests_*.json, matfun.json, step.json,
peers.json, train_summary.json) and states each figure the GPU check exists for, next to its
target where it has one, and each bench step row against the bandwidth and GEMM floors
measured in the same run. Figures are read, never invented: a missing input shows as missing.

  python3 scripts/gpu_summary.py OUT [--device cuda|cpu]
"""
import argparse
import json
import os
import sys


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def gtest_counts(doc):
    if doc is None:
        return None
    passed = failed = skipped = 0
    for suite in doc.get("testsuites", []):
        for t in suite.get("testsuite", []):
            if t.get("failures"):
                failed += 1
            elif t.get("result") == "SKIPPED" or t.get("status") == "NOTRUN":
                skipped += 1
            else:
                passed += 1
    return dict(passed=passed, failed=failed, skipped=skipped)


def matfun_figures(records):
    if not records:
        return None
    out = {}
    for r in records:
        if r["op"] != "polar" or not r.get("gflops") or not r.get("gemm_gflops"):
            continue
        key = f'{r["shape"]} {r["method"]}'
        out[key] = dict(ms=round(1e3 * r["seconds"], 4), gflops=round(r["gflops"], 1),
                        gemm_gflops=round(r["gemm_gflops"], 1),
                        fraction_of_gemm=round(r["gflops"] / r["gemm_gflops"], 3),
                        rel_err=r.get("rel_err"))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--device", default="cuda")
    a = ap.parse_args()
    o = a.out
    s = dict(device=a.device, env=load(os.path.join(o, "env.json")))

    stages = []
    try:
        for line in open(os.path.join(o, "stages.tsv")):
            name, rc, sec = line.rstrip("\n").split("\t")
            stages.append(dict(stage=name, exit=int(rc), seconds=int(sec)))
    except OSError:
        pass
    s["stages"] = stages
    try:
        s["nccl"] = open(os.path.join(o, "nccl_note.txt")).read().strip()
    except OSError:
        s["nccl"] = None

    s["tests"] = {name: gtest_counts(load(os.path.join(o, f"tests_{name}.json")))
                  for name in ("matfun", "optim", "dist")}

    matfun = (load(os.path.join(o, "matfun_big.json")) or []) + \
        (load(os.path.join(o, "matfun.json")) or [])
    s["matfun_polar"] = matfun_figures(matfun)
    if matfun:
        s["matfun_all"] = matfun

    # bench step's rows (specopt's optimizers and the C++ peers torch_adamw / reference_muon,
    # one run) and the Python peers of scripts/peer_step.py, kept apart: both have a
    # reference_muon.
    step = load(os.path.join(o, "step.json")) or []
    peers = (load(os.path.join(o, "peers.json")) or {}).get("records", [])
    rows = {r["optimizer"]: r.get("seconds") for r in step}
    py = {r["optimizer"]: r.get("seconds") for r in peers}
    s["step_seconds"] = rows
    s["peer_seconds"] = py
    s["peer_skips"] = {r["optimizer"]: r["skipped"] for r in peers if "skipped" in r}
    ratios = {}
    for mine, theirs, table, label in (
            ("muon", "torch_muon", py, "muon/torch_muon"),
            ("muon", "reference_muon", rows, "muon/reference_muon"),
            ("muon", "reference_muon", py, "muon/python_reference_muon"),
            ("adamw", "torch_adamw", rows, "adamw/torch_adamw"),
            ("adamw", "torch_adamw_fused", py, "adamw/torch_adamw_fused"),
            ("adamw", "torch_adamw_foreach", py, "adamw/torch_adamw_foreach")):
        if rows.get(mine) and table.get(theirs):
            ratios[label] = round(rows[mine] / table[theirs], 3)
    s["step_ratios"] = ratios
    # Each row against the floors bench step measured in the same run.
    floors = {}
    for r in step:
        f = {k: r.get(k) for k in ("bandwidth_bound_seconds", "gemm_bound_seconds",
                                   "peak_extra_bytes") if k in r}
        sec = r.get("seconds")
        if sec and r.get("bandwidth_bound_seconds"):
            f["x_bandwidth_bound"] = round(sec / r["bandwidth_bound_seconds"], 2)
        if sec and r.get("gemm_bound_seconds"):
            f["x_gemm_bound"] = round(sec / r["gemm_bound_seconds"], 2)
        if f:
            floors[r["optimizer"]] = f
    s["step_floors"] = floors
    s["train"] = load(os.path.join(o, "train_summary.json"))

    with open(os.path.join(o, "summary.json.tmp"), "w") as f:
        json.dump(s, f, indent=2)
    os.replace(os.path.join(o, "summary.json.tmp"), os.path.join(o, "summary.json"))

    lines = []
    env = s["env"] or {}
    lines.append(f'device {a.device}: {env.get("gpu") or "no GPU"}; torch {env.get("torch")}, '
                 f'CUDA {env.get("cuda")}, driver {env.get("driver")}, {env.get("cores")} cores')
    lines.append("stages: " + ", ".join(f'{x["stage"]}={"ok" if x["exit"] == 0 else "FAIL"}'
                                        f'({x["seconds"]}s)' for x in stages))
    lines.append(f'NCCL: {s["nccl"]}')
    for name, c in s["tests"].items():
        lines.append(f"tests {name}: " + (f'{c["passed"]} passed, {c["failed"]} failed, '
                                          f'{c["skipped"]} skipped' if c else "missing"))
    if s["matfun_polar"]:
        lines.append("polar (ms, % of the same run's GEMM in the row's arithmetic, rel. error):")
        for k, v in s["matfun_polar"].items():
            lines.append(f'  {k:<48} {v["ms"]:>10.3f} ms {100 * v["fraction_of_gemm"]:6.1f}%'
                         f'  err {v["rel_err"]:.2e}')
    lines.append("step seconds (bench step): " +
                 ", ".join(f"{k}={v:.4f}" for k, v in rows.items() if v))
    lines.append("step seconds (Python peers): " +
                 ", ".join(f"{k}={v:.4f}" for k, v in py.items() if v))
    for k, f in floors.items():
        parts = [f'{f["x_bandwidth_bound"]}x bandwidth bound'] if "x_bandwidth_bound" in f else []
        if "x_gemm_bound" in f:
            parts.append(f'{f["x_gemm_bound"]}x GEMM bound')
        if f.get("peak_extra_bytes") is not None:
            parts.append(f'peak extra {f["peak_extra_bytes"] / 1e6:.1f} MB')
        if parts:
            lines.append(f"  {k}: " + ", ".join(parts))
    for k, v in s["peer_skips"].items():
        lines.append(f"  peer {k} skipped: {v}")
    lines.append("step ratios (specopt / peer; < 1 is faster): " +
                 ", ".join(f"{k}={v}" for k, v in ratios.items()))
    t = s["train"]
    if t:
        tps = t.get("tokens_per_second")
        lines.append(f'train: {t.get("status")}, {t.get("steps")} steps, tokens/s {tps}, '
                     f'optimizer share {t.get("optimizer_time_fraction")}, '
                     f'val loss {t.get("initial_val_loss")} -> {t.get("final_val_loss")}')
    else:
        lines.append("train: missing")
    text = "\n".join(lines) + "\n"
    with open(os.path.join(o, "summary.txt"), "w") as f:
        f.write(text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
