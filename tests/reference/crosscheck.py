"""Randomized cross-check cases for tests/analysis_crosscheck.rs (ignored by
default; it is a fuzz check, not a reference test).

Writes JSON cases to the path given (default /tmp/mtl_xcheck.json):
- 3000 capacity cases: random T x F (T < 8, F < 10), half rounded to one
  decimal, with duplicated, rescaled, zeroed and combined rows; expected
  values from the per-task np.linalg.lstsq of capacity.py.
- 400 nearly-identical-task capacity cases (0.5 + 1e-1..1e-6 noise, F up
  to 2000, half with an exact combination row).
- 2000 linkage/cut cases for every method, half with tied distances (one
  decimal): scipy linkage heights and fcluster(Z, k, 'maxclust') labels.

Run:
  python3 tests/reference/crosscheck.py /tmp/mtl_xcheck.json
  MTL_XCHECK_CASES=/tmp/mtl_xcheck.json cargo test --test analysis_crosscheck -- --ignored
"""
import json
import os
import sys

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from capacity import capacity  # noqa: E402

out = sys.argv[1] if len(sys.argv) > 1 else "/tmp/mtl_xcheck.json"
rng = np.random.default_rng(0)
cases = []
for n in range(3000):
    T = int(rng.integers(1, 8))
    F = int(rng.integers(1, 10))
    I = rng.uniform(0, 1, (T, F))
    if rng.random() < 0.5:
        I = np.round(I, 1)
    for _ in range(int(rng.integers(0, 3))):
        if T >= 2:
            a, b = rng.choice(T, 2, replace=False)
            kind = rng.integers(0, 4)
            if kind == 0:
                I[a] = I[b]
            elif kind == 1:
                I[a] = I[b] * rng.uniform(0.001, 10)
            elif kind == 2:
                I[a] = 0
            else:
                c = rng.integers(0, T)
                I[a] = 0.3 * I[b] + 0.7 * I[c]
    cases.append({"kind": "capacity", "t": T, "f": F, "data": I.ravel().tolist(),
                  "expected": [list(map(float, r)) for r in capacity(I)]})
# nearly identical tasks (sigmoid gates barely moved from 0.5), F up to 2000
for n in range(400):
    T = int(rng.integers(2, 8))
    F = int(rng.choice([5, 50, 500, 2000]))
    scale = 10.0 ** -rng.integers(1, 7)
    I = 0.5 + scale * rng.normal(0, 1, (T, F))
    if rng.random() < 0.5 and T >= 3:
        I[0] = 0.5 * I[1] + 0.5 * I[2]
    cases.append({"kind": "capacity", "t": T, "f": F, "data": I.ravel().tolist(),
                  "expected": [list(map(float, r)) for r in capacity(I)]})
for n in range(2000):
    T = int(rng.integers(2, 10))
    tied = n % 2 == 0
    D = rng.uniform(0, 1, (T, T))
    if tied:
        D = np.round(D, 1)  # ties on purpose
    D = np.triu(D, 1)
    D = D + D.T
    method = ["average", "complete", "single", "ward", "weighted"][(n // 2) % 5]
    Z = linkage(squareform(D), method)
    k = int(rng.integers(1, T + 1))
    cases.append({"kind": "cut", "t": T, "tied": tied, "data": D.ravel().tolist(), "method": method,
                  "k": k, "labels": fcluster(Z, k, "maxclust").tolist(), "z": Z.ravel().tolist()})
with open(out, "w") as f:
    json.dump(cases, f)
print(f"wrote {len(cases)} cases to {out}")
