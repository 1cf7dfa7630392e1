"""Reference values for tests/analysis_reference.rs::filter_groups_*.

Well-separated synthetic filters (4 tasks, 40 filters in two layers):
task-0-specific, task-2-specific, generic and (task 1 + task 3)-mixed
profiles with small noise, plus dead filters (every importance < 0.1).
sklearn KMeans(n_clusters=4, n_init=10, random_state=0) on the normalized
profiles of the live filters gives the partition and inertia.
Run: python3 tests/reference/filter_groups.py
"""
import numpy as np
from sklearn.cluster import KMeans


def arr(v):
    return "[" + ", ".join(repr(float(x)) for x in np.ravel(v)) + "]"


rng = np.random.default_rng(5)
kinds = {
    "t0": [0.9, 0.05, 0.05, 0.05],
    "t2": [0.05, 0.05, 0.9, 0.05],
    "generic": [0.8, 0.8, 0.8, 0.8],
    "mixed": [0.05, 0.8, 0.05, 0.8],
    "dead": [0.02, 0.03, 0.01, 0.05],
}
order = rng.choice(list(kinds), size=40, p=[0.25, 0.15, 0.25, 0.2, 0.15])
cols = []
for k in order:
    base = np.array(kinds[k])
    noise = rng.uniform(-0.03, 0.03, 4) if k != "dead" else rng.uniform(0, 0.02, 4)
    cols.append(np.round(np.clip(base + noise, 0.001, 1), 4))
I = np.array(cols).T  # 4 x 40
print("// kinds:", order.tolist())
print("let data =", arr(I) + ";  // 4x40 row-major; layers l0 = 0..15, l1 = 15..40")
live = I.max(axis=0) >= 0.1
P = (I / I.sum(axis=0, keepdims=True))[:, live].T
km = KMeans(n_clusters=4, n_init=10, random_state=0).fit(P)
print("// live filters", int(live.sum()), "dead", int((~live).sum()),
      "dead l0", int((~live[:15]).sum()), "dead l1", int((~live[15:]).sum()))
print("let sk_labels =", km.labels_.tolist(), ";")
print("// inertia", repr(float(km.inertia_)))
sizes = np.bincount(km.labels_)
for c in np.argsort(-sizes, kind="stable"):
    print("// group size", int(sizes[c]), "centroid", arr(km.cluster_centers_[c]))
