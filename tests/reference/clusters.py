"""Reference values for tests/analysis_reference.rs::{linkage_*, cut_*,
cluster_runs_*, ari_*}.

scipy.cluster.hierarchy.linkage(squareform(D), method) on D = 1 - cosine
similarity of random importance matrices (no tied distances), leaves_list,
fcluster(Z, k, 'maxclust') relabelled canonically (clusters numbered by their
first member), and sklearn.metrics.adjusted_rand_score.
Run: python3 tests/reference/clusters.py
"""
import numpy as np
from scipy.cluster.hierarchy import fcluster, leaves_list, linkage
from scipy.spatial.distance import squareform
from sklearn.metrics import adjusted_rand_score
from sklearn.metrics.pairwise import cosine_similarity


def arr(v):
    return "[" + ", ".join(repr(float(x)) for x in np.ravel(v)) + "]"


def canonical(labels):
    seen = {}
    return [seen.setdefault(l, len(seen)) for l in labels]


def dist(S):
    D = np.clip(1 - S, 0, None)
    np.fill_diagonal(D, 0)
    return (D + D.T) / 2


rng = np.random.default_rng(11)
T, K = 8, 3
runs = []
for r in range(3):
    # tasks with group structure plus noise, so clusters are meaningful
    base = rng.uniform(0, 1, (3, 30))
    I = np.clip(base[[0, 0, 1, 1, 1, 2, 2, 0]] + rng.normal(0, 0.6, (T, 30)), 0, 1)
    S = cosine_similarity(I)
    S = (S + S.T) / 2  # exactly symmetric, as the Rust side reads one triangle
    runs.append(S)
    print(f"let sim{r} =", arr(S) + ";")

D = dist(runs[0])
for method in ("average", "complete", "single", "ward", "weighted"):
    Z = linkage(squareform(D, checks=False), method)
    print(f"// {method}: Z =", arr(Z))
    print(f"//   leaves {leaves_list(Z).tolist()} cut3 {canonical(fcluster(Z, K, 'maxclust'))}"
          f" cut2 {canonical(fcluster(Z, 2, 'maxclust'))}")

# per-run labels and co-occurrence (average linkage)
labels = []
for S in runs:
    Z = linkage(squareform(dist(S), checks=False), "average")
    labels.append(np.array(canonical(fcluster(Z, K, "maxclust"))))
    print("// run labels", labels[-1].tolist())
co = np.mean([(l[:, None] == l[None, :]).astype(float) for l in labels], axis=0)
print("// cooccurrence", arr(co))
Zr = linkage(squareform(dist(co), checks=False), "average")
print("// representative", canonical(fcluster(Zr, K, "maxclust")))

for a, b in (([0, 0, 1, 1, 2, 2], [0, 0, 1, 2, 2, 2]),
             ([0, 1, 2, 0, 1, 2, 0, 1], [1, 1, 0, 0, 2, 2, 1, 0]),
             ([0, 0, 0, 1, 1, 1], [3, 3, 3, 3, 3, 3]),
             ([0, 1, 2, 3], [0, 0, 1, 1])):
    print(f"// ari {a} {b} = {adjusted_rand_score(a, b)!r}")
