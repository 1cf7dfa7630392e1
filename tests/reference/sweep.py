"""Reference values for tests/sweep_reference.rs: the sweep analysis
(analysis::sweep) and the gradient-cosine distributions
(analysis::gradient_conflict) on the committed fixtures, with numpy.

- noise sweep (fixtures/sweeps/noise): per ξ, the capacity split of the
  noisy task (mtl.regression_tasks) by eq. 4–5 with a numpy lstsq projection
  onto the other tasks' importance vectors, and its highest cosine
  similarity to another task;
- α sweep (fixtures/sweeps/alpha): quantiles (numpy linear) and the shares
  below 0.1 / above 0.9 of all gates σ(γ), and mtl.test_mean_f1;
- training/diagnostics/shapes_*_seed0.conflict.csv: quantiles and share < 0
  of the `overall` column.

Run: python3 tests/reference/sweep.py (numpy, safetensors)."""
import csv
import glob
import json

import numpy as np
from safetensors import safe_open


def load(path):
    with safe_open(path, "np") as f:
        md = f.metadata()
        layers = json.loads(md["mtl.layers"])
        gamma = np.concatenate([f.get_tensor(f"{l}.gamma").astype(np.float64) for l in layers], axis=1)
    return md, json.loads(md["mtl.tasks"]), 1 / (1 + np.exp(-gamma))


def split(I, t):
    C = I[t].mean()
    others = np.delete(I, t, axis=0)
    coef, *_ = np.linalg.lstsq(others.T, I[t], rcond=None)
    p = others.T @ coef
    n = np.linalg.norm(I[t])
    return C, np.linalg.norm(p) / n * C, np.linalg.norm(I[t] - p) / n * C


print("noise: (xi, capacity, shared, independent, nearest task, cosine, test_mean_f1)")
for path in sorted(glob.glob("fixtures/sweeps/noise/*.safetensors"),
                   key=lambda p: json.loads(load(p)[0]["mtl.sweep"])["noise"]):
    md, tasks, I = load(path)
    noisy = json.loads(md["mtl.regression_tasks"])[0]
    t = tasks.index(noisy)
    C, sh, ind = split(I, t)
    u = I / np.linalg.norm(I, axis=1, keepdims=True)
    cos = u @ u[t]
    cos[t] = -np.inf
    j = int(np.argmax(cos))
    xi = json.loads(md["mtl.sweep"])["noise"]
    print(f"({xi}, {C:.12f}, {sh:.12f}, {ind:.12f}, \"{tasks[j]}\", {cos[j]:.12f}, {md['mtl.test_mean_f1']}),")

print("alpha: (alpha, q05, q25, median, q75, q95, below_0_1, above_0_9, mean, std, test_mean_f1)")
for path in sorted(glob.glob("fixtures/sweeps/alpha/*.safetensors"),
                   key=lambda p: json.loads(load(p)[0]["mtl.sweep"])["alpha"]):
    md, tasks, I = load(path)
    g = I.ravel()
    q = np.quantile(g, [0.05, 0.25, 0.5, 0.75, 0.95])
    a = json.loads(md["mtl.sweep"])["alpha"]
    print(f"({a}, {', '.join(f'{v:.12f}' for v in q)}, {np.mean(g < 0.1):.12f}, "
          f"{np.mean(g > 0.9):.12f}, {g.mean():.12f}, {g.std():.12f}, {md['mtl.test_mean_f1']}),")

print("conflict overall: (file, n, q05, q25, median, q75, q95, share_negative, std)")
for path in sorted(glob.glob("training/diagnostics/*.conflict.csv")):
    with open(path) as f:
        v = np.array([float(r["overall"]) for r in csv.DictReader(f) if r["overall"] != ""])
    q = np.quantile(v, [0.05, 0.25, 0.5, 0.75, 0.95])
    print(f"(\"{path}\", {len(v)}, {', '.join(f'{x:.12f}' for x in q)}, {np.mean(v < 0):.12f}, {v.std():.12f}),")
