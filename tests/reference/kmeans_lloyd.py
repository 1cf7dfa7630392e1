"""Reference values for tests/kmeans_reference.rs: scikit-learn's Lloyd
iterations from given initial centres, on the filter profiles of
fixtures/celeba40/run0.safetensors (40 tasks x 2 880 filters, F16 gates).

The profiles are mtl-inspect's filter-groups input: importance
sigmoid(gamma) per filter, live filters only (largest importance >= 0.1),
each filter's column divided by its sum. For each case the initial centres
are the profiles at `init` (drawn by numpy, recorded), and
KMeans(n_clusters=k, init=centres, n_init=1, algorithm="lloyd",
max_iter=300, tol=tol) gives the labels, inertia and iteration count.

Run (numpy, scikit-learn, safetensors):
    python tests/reference/kmeans_lloyd.py > tests/reference/kmeans_lloyd.json
"""
import json
import sys
from pathlib import Path

import numpy as np
import sklearn
from safetensors import safe_open
from sklearn.cluster import KMeans

root = Path(__file__).resolve().parents[2]
path = root / "fixtures" / "celeba40" / "run0.safetensors"
with safe_open(str(path), "np") as f:
    layers = json.loads(f.metadata()["mtl.layers"])
    gamma = np.concatenate(
        [f.get_tensor(f"{l}.gamma").astype(np.float64) for l in layers], axis=1
    )
importance = 1.0 / (1.0 + np.exp(-gamma))  # 40 x F
live = importance.max(axis=0) >= 0.1
profiles = (importance / importance.sum(axis=0, keepdims=True))[:, live].T
cases = []
for k, tol in [(4, 0.0), (8, 0.0), (10, 0.0), (8, 1e-2), (10, 1e-3)]:
    init = np.random.default_rng(1000 + k).choice(len(profiles), k, replace=False)
    km = KMeans(
        n_clusters=k, init=profiles[init], n_init=1, algorithm="lloyd",
        max_iter=300, tol=tol,
    ).fit(profiles)
    cases.append({
        "k": k,
        "tol": tol,
        "init": init.tolist(),
        "labels": km.labels_.tolist(),
        "inertia": float(km.inertia_),
        "n_iter": int(km.n_iter_),
    })
json.dump({
    "source": "tests/reference/kmeans_lloyd.py",
    "sklearn": sklearn.__version__,
    "numpy": np.__version__,
    "checkpoint": "fixtures/celeba40/run0.safetensors",
    "live_filters": int(live.sum()),
    "cases": cases,
}, sys.stdout)
sys.stdout.write("\n")
