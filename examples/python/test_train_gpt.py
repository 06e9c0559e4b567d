"""train_gpt.py, tiny: a run stopped after step 3 and resumed from its checkpoint logs the same
losses, bit for bit, and ends with the same weights as an uninterrupted run (ctest
python_train_gpt)."""
import csv
import os
import subprocess
import sys

import pytest
import torch

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "train_gpt.py")
TINY = ["--steps", "6", "--batch-size", "4", "--context", "16", "--n-layer", "1", "--n-head", "2",
        "--d-model", "16", "--warmup", "2", "--checkpoint-every", "2", "--eval-every", "3",
        "--eval-batches", "2", "--max-documents", "20", "--threads", "1"]


def train(out_dir, *extra, check=True):
    r = subprocess.run([sys.executable, SCRIPT, *TINY, "--out-dir", str(out_dir), *extra],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if check and r.returncode != 0:
        pytest.fail(f"train_gpt.py {' '.join(extra)} failed:\n{r.stderr}")
    return r


def log(out_dir):
    with open(os.path.join(out_dir, "loss.csv"), newline="") as f:
        return list(csv.DictReader(f))


def weights(out_dir):
    return torch.load(os.path.join(out_dir, "checkpoint.pt"))["model"]


def test_resumed_run_continues_bit_exactly(tmp_path):
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    train(whole)
    train(parts, "--stop-at", "3")
    first = log(parts)
    assert [r["step"] for r in first] == ["1", "2", "3"]
    assert torch.load(os.path.join(parts, "checkpoint.pt"))["step"] == 3
    r = train(parts, "--resume")
    assert "resumed from" in r.stderr and "at step 3" in r.stderr
    # Every logged value (repr of the float) is the uninterrupted run's.
    assert log(parts) == log(whole)
    assert [r["step"] for r in log(whole)] == [str(s) for s in range(1, 7)]
    assert log(whole)[2]["val_loss"] and log(whole)[5]["val_loss"]
    a, b = weights(whole), weights(parts)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # The optimizer state went through the checkpoint: Muon's momentum and AdamW's moments.
    opt = torch.load(os.path.join(parts, "checkpoint.pt"))["optimizer"]
    keys = set().union(*(s.keys() for s in opt["state"].values()))
    assert {"momentum_buffer", "exp_avg", "exp_avg_sq"} <= keys
    assert [g.get("rule") for g in opt["param_groups"]] == [None, "adamw"]
    # Atomic writes leave no temporary file behind.
    assert sorted(os.listdir(parts)) == sorted(os.listdir(whole))
    assert not [n for n in os.listdir(parts) if ".tmp" in n]
    # Losses moved: the model trains (and the comparison above is not of constants).
    losses = [float(r["loss"]) for r in log(whole)]
    assert len(set(losses)) == len(losses)


def test_resume_with_another_model_is_refused(tmp_path):
    train(tmp_path, "--stop-at", "2")
    r = train(tmp_path, "--resume", "--d-model", "32", check=False)
    assert r.returncode != 0
    assert "--d-model 16, this run has 32" in r.stderr
