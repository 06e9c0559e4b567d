#!/usr/bin/env python3
"""Times PyTorch's own optimizers on the parameter set of `specopt bench step`.

The peers a specopt user would otherwise pick, stepped on the same GPT-small-shaped parameters
(wte, wpe, per block ln/attn/mlp; the same names and shapes as lab/step_bench.cpp) with fixed
random gradients, timed the same way (median wall time of one step, the device synchronised
after each step):

  torch_adamw_fused    torch.optim.AdamW(fused=True) on every parameter (where torch has it)
  torch_adamw_foreach  torch.optim.AdamW(foreach=True) on every parameter
  torch_muon           torch.optim.Muon on the hidden matrices (torch >= 2.9) + fused AdamW on
                       the rest (embeddings, norms, biases), as `bench step`'s "muon" row splits
  reference_muon       the plain Muon of arXiv 2502.16982 / KellerJordan's Muon: momentum 0.95
                       with Nesterov, 5 quintic Newton-Schulz steps in bf16, scale
                       max(1, rows/cols)^0.5 + fused AdamW on the rest

Rows a torch lacks are written with "skipped" and the reason, never left out silently.

  python3 scripts/peer_step.py --device cuda --json OUT.json [--blocks 12 --width 768 ...]
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch


def shapes(blocks, width, vocab, positions):
    d = width
    out = [("wte.weight", (vocab, d)), ("wpe.weight", (positions, d))]
    for i in range(blocks):
        b = f"blocks.{i}."
        out += [(b + "ln_1.weight", (d,)), (b + "ln_1.bias", (d,)),
                (b + "attn.c_attn.weight", (3 * d, d)), (b + "attn.c_proj.weight", (d, d)),
                (b + "ln_2.weight", (d,)), (b + "ln_2.bias", (d,)),
                (b + "mlp.c_fc.weight", (4 * d, d)), (b + "mlp.c_proj.weight", (d, 4 * d))]
    out += [("ln_f.weight", (d,)), ("ln_f.bias", (d,))]
    return out


def is_hidden_matrix(name, p):
    # specopt's default partition (specopt/optim/partition.cpp): 2-D, not an embedding, head,
    # norm or bias.
    return p.dim() == 2 and not name.startswith(("wte", "wpe")) and ".ln" not in name


def make_params(args, device):
    torch.manual_seed(args.seed)
    named = []
    for name, shape in shapes(args.blocks, args.width, args.vocab, args.positions):
        p = (torch.randn(shape) * 0.02).to(device).requires_grad_(True)
        p.grad = (torch.randn(shape) * 1e-3).to(device)
        named.append((name, p))
    return named


def newton_schulz5_bf16(G, steps=5, eps=1e-7):
    # Quintic iteration with the coefficients (3.4445, -4.7750, 2.0315), on the wide side.
    a, b, c = 3.4445, -4.7750, 2.0315
    X = G.bfloat16()
    tall = X.size(0) > X.size(1)
    if tall:
        X = X.T
    X = X / (X.norm() + eps)
    for _ in range(steps):
        A = X @ X.T
        B = b * A + c * A @ A
        X = a * X + B @ X
    return X.T if tall else X


class ReferenceMuon(torch.optim.Optimizer):
    def __init__(self, params, lr=0.02, momentum=0.95):
        super().__init__(params, dict(lr=lr, momentum=momentum))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state[p]
                if "buf" not in state:
                    state["buf"] = torch.zeros_like(p)
                buf = state["buf"]
                buf.lerp_(p.grad, 1 - group["momentum"])
                g = p.grad.lerp(buf, group["momentum"])
                u = newton_schulz5_bf16(g)
                scale = max(1.0, p.size(0) / p.size(1)) ** 0.5
                p.add_(u.to(p.dtype), alpha=-group["lr"] * scale)


def adamw(params, **kw):
    return torch.optim.AdamW(params, lr=3e-4, weight_decay=0.01, **kw)


def fused_adamw_or_none(params):
    try:
        opt = adamw(params, fused=True)
        return opt, None
    except (TypeError, RuntimeError, ValueError) as e:
        return None, f"torch.optim.AdamW(fused=True) unavailable here: {e}"


def time_step(step, device, warmup, repeats):
    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    for _ in range(warmup):
        step()
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--blocks", type=int, default=12)
    ap.add_argument("--width", type=int, default=768)
    ap.add_argument("--vocab", type=int, default=50257)
    ap.add_argument("--positions", type=int, default=1024)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--json", required=True)
    args = ap.parse_args()
    if args.repeats < 1 or args.warmup < 0:
        ap.error("--repeats must be >= 1 and --warmup >= 0")
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: this torch sees no GPU")

    records = []

    def run(name, description, build):
        named = make_params(args, device)
        try:
            made = build(named)
        except Exception as e:  # a peer this torch lacks: say so, keep going
            records.append(dict(optimizer=name, skipped=f"{type(e).__name__}: {e}",
                                description=description))
            return
        if isinstance(made, str):
            records.append(dict(optimizer=name, skipped=made, description=description))
            return
        opts = made if isinstance(made, list) else [made]

        def step():
            for o in opts:
                o.step()
        seconds = time_step(step, device, args.warmup, args.repeats)
        if notes:
            description += " [AdamW side foreach: " + notes.pop() + "]"
        records.append(dict(optimizer=name, seconds=seconds, description=description))
        print(f"{name:<22} {seconds:10.4f} s  {description}", flush=True)

    def fused_all(named):
        opt, why = fused_adamw_or_none([p for _, p in named])
        return opt if opt is not None else why

    def split(named):
        hidden = [p for n, p in named if is_hidden_matrix(n, p)]
        rest = [p for n, p in named if not is_hidden_matrix(n, p)]
        return hidden, rest

    notes = []

    def rest_adamw(rest):
        # The hybrids' AdamW side: fused where torch has it, else foreach (and the row says so).
        other, why = fused_adamw_or_none(rest)
        if other is None:
            notes.append(why)
            other = adamw(rest, foreach=True)
        return other

    def torch_muon(named):
        if not hasattr(torch.optim, "Muon"):
            return f"torch {torch.__version__} has no torch.optim.Muon (added in 2.9)"
        hidden, rest = split(named)
        return [torch.optim.Muon(hidden, lr=0.02, momentum=0.95, nesterov=True),
                rest_adamw(rest)]

    def reference_muon(named):
        hidden, rest = split(named)
        return [ReferenceMuon(hidden), rest_adamw(rest)]

    run("torch_adamw_fused", "torch.optim.AdamW(fused=True), every parameter", fused_all)
    run("torch_adamw_foreach", "torch.optim.AdamW(foreach=True), every parameter",
        lambda named: adamw([p for _, p in named], foreach=True))
    run("torch_muon", "torch.optim.Muon (ns_steps=5) on hidden matrices + fused AdamW",
        torch_muon)
    run("reference_muon", "reference Muon (bf16 quintic x5, Nesterov) + fused AdamW",
        reference_muon)

    meta = dict(torch=torch.__version__, device=str(device),
                gpu=torch.cuda.get_device_name(device) if device.type == "cuda" else None,
                blocks=args.blocks, width=args.width, vocab=args.vocab,
                repeats=args.repeats, warmup=args.warmup)
    with open(args.json + ".tmp", "w") as f:
        json.dump(dict(meta=meta, records=records), f, indent=2)
    os.replace(args.json + ".tmp", args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
