"""Reference values for tests/depth_diff_reference.rs: capacity and similarity
per layer (depth curves) and the diff of two runs, from numpy/scipy.

Run: python3 tests/reference/depth_diff.py (numpy, scipy, safetensors)."""
import json
import re

import numpy as np
from safetensors.numpy import load_file
from scipy.stats import spearmanr


def natural(s):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)]


def module_list(path):
    """ModuleList σBN file -> (layers in natural order, T x F importance)."""
    t = load_file(path)
    layers = {}
    for k, v in t.items():
        m = re.match(r"(.*)\.(\d+)\.weight$", k)
        if m and v.ndim == 1 and m.group(1).endswith(".bns"):
            layers.setdefault(m.group(1), {})[int(m.group(2))] = v.astype(np.float64)
    names = sorted(layers, key=natural)
    blocks = [np.stack([layers[n][i] for i in sorted(layers[n])]) for n in names]
    return names, [1 / (1 + np.exp(-b)) for b in blocks]


def stacked(path):
    t = load_file(path)
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        meta = json.loads(f.read(n))["__metadata__"]
    names = json.loads(meta["mtl.layers"])
    tasks = json.loads(meta["mtl.tasks"])
    return tasks, names, [1 / (1 + np.exp(-t[n + ".gamma"].astype(np.float64))) for n in names]


def capacity(I):
    out = []
    for t in range(I.shape[0]):
        others = np.delete(I, t, axis=0)
        x, *_ = np.linalg.lstsq(others.T, I[t], rcond=None)
        proj = others.T @ x
        c = I[t].mean()
        n = np.linalg.norm(I[t])
        out.append((c, np.linalg.norm(proj) / n * c, np.linalg.norm(I[t] - proj) / n * c))
    return np.array(out)


def cosine(I):
    n = I / np.linalg.norm(I, axis=1, keepdims=True)
    return n @ n.T


names, blocks = module_list("fixtures/layouts/module_list_f32.safetensors")
print("module_list_f32 per-layer capacity")
for n, b in zip(names, blocks):
    c = capacity(b)
    print(n, "task0", c[0].tolist(), "means", c.mean(axis=0).tolist())

tasks, names, b0 = stacked("fixtures/celeba40/run0.safetensors")
_, _, b1 = stacked("fixtures/celeba40/run1.safetensors")
iu = np.triu_indices(len(tasks), 1)
for li in (0, 8):
    s = cosine(b0[li])[iu]
    print("celeba40 run0", names[li], "mean/min/max off-diagonal", s.mean(), s.min(), s.max())
I0, I1 = np.hstack(b0), np.hstack(b1)
c0, c1 = capacity(I0), capacity(I1)
for t in (0, 17, 39):
    print("diff", tasks[t], (c1[t] - c0[t]).tolist())
s0, s1 = cosine(I0)[iu], cosine(I1)[iu]
print("spearman", spearmanr(s0, s1).statistic)
d = s1 - s0
k = np.argmax(np.abs(d))
print("top pair", tasks[iu[0][k]], tasks[iu[1][k]], d[k])
