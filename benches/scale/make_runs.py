"""Synthetic runs at the size multi-task users have, for benches/scale/run.sh.

    python3 benches/scale/make_runs.py OUT_DIR [--runs 20] [--tasks 500] [--filters 100800]

Writes OUT_DIR/run{r}.safetensors: an nn.ModuleList of σBN layers per task
(`encoder.{l}.bns.{t}.weight`, F16, no bias, 9 layers), about 100 MB each
at the default size. Tasks come in 25 groups whose members share a gate
pattern; each run perturbs the pattern, so runs agree only partly (the
co-occurrence matrix is not 0/1) and the rank of each run is full.
"""
import argparse
import os

import numpy as np
from safetensors.numpy import save_file

# CelebA-CNN-like widths scaled to 100 800 filters.
WIDTHS = np.array([3200, 3200, 6400, 6400, 12800, 12800, 17600, 19200, 19200])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--tasks", type=int, default=500)
    ap.add_argument("--filters", type=int, default=int(WIDTHS.sum()))
    ap.add_argument("--groups", type=int, default=25)
    a = ap.parse_args()
    widths = np.maximum(1, np.round(WIDTHS * a.filters / WIDTHS.sum()).astype(int))
    widths[-1] += a.filters - widths.sum()
    os.makedirs(a.out, exist_ok=True)
    rng = np.random.default_rng(0)
    group = rng.integers(0, a.groups, a.tasks)
    pattern = rng.normal(0.0, 2.0, (a.groups, a.filters)).astype(np.float32)
    for r in range(a.runs):
        rr = np.random.default_rng(1000 + r)
        logits = pattern[group] + rr.normal(0.0, 1.5, (a.tasks, a.filters)).astype(np.float32)
        logits = logits.astype(np.float16)
        tensors, start = {}, 0
        for l, w in enumerate(widths):
            for t in range(a.tasks):
                tensors[f"encoder.{l}.bns.{t}.weight"] = np.ascontiguousarray(logits[t, start:start + w])
            start += w
        save_file(tensors, os.path.join(a.out, f"run{r:02d}.safetensors"))
        print(f"run {r}: {a.tasks} tasks x {a.filters} filters", flush=True)


if __name__ == "__main__":
    main()
