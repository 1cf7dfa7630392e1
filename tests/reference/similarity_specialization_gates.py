"""Reference values for tests/analysis_reference.rs::{similarity_*,
specialization_*, gate_distribution_*}.
Run: python3 tests/reference/similarity_specialization_gates.py
"""
import numpy as np
from sklearn.metrics.pairwise import cosine_similarity


def arr(v):
    return "[" + ", ".join(repr(float(x)) for x in np.ravel(v)) + "]"


rng = np.random.default_rng(7)
I = np.round(rng.uniform(0, 1, (4, 10)), 4)
print("// I (4x10), row-major; layers: l0 = cols 0..4, l1 = cols 4..10")
print("let data =", arr(I) + ";")

# --- similarity (sklearn) ---
print("// similarity, row-major")
print("let sim =", arr(cosine_similarity(I)) + ";")

# --- specialization, tau = 0.5 and 0.3 ---
share = I / I.sum(axis=0, keepdims=True)
for tau in (0.5, 0.3):
    hits = share > tau
    for name, cols in (("l0", slice(0, 4)), ("l1", slice(4, 10)), ("total", slice(0, 10))):
        h = hits[:, cols]
        print(f"// tau={tau} {name}: specialized={int(h.any(axis=0).sum())} per_task={h.sum(axis=1).tolist()}")

# --- gate distribution, 5 bins (values in [0,1] -> range [0,1]) ---
def describe(x, edges):
    q = np.quantile(x, [0.05, 0.25, 0.5, 0.75, 0.95])
    counts, _ = np.histogram(x, bins=edges)
    return [x.mean(), x.std(), x.min(), *q, x.max(), (x < 0.1).mean(), (x > 0.9).mean()], counts

edges = np.histogram_bin_edges(I, bins=5, range=(0.0, 1.0))
print("// gate edges", arr(edges))
for t in range(4):
    s, c = describe(I[t], edges)
    print(f"// task {t}: mean,std,min,q05,q25,median,q75,q95,max,below,above", arr(s), "counts", c.tolist())
s, c = describe(I.ravel(), edges)
print("// all:", arr(s), "counts", c.tolist())

# values outside [0,1] (identity gates): range is [min, max]
J = np.round(rng.normal(0, 2, (2, 9)), 3)
print("let data2 =", arr(J) + ";")
counts, edges = np.histogram(J, bins=4)
print("// all edges", arr(edges), "counts", counts.tolist())
for t in range(2):
    c, _ = np.histogram(J[t], bins=edges)
    print(f"// task {t} counts {c.tolist()} quantiles", arr(np.quantile(J[t], [0.05, 0.25, 0.5, 0.75, 0.95])),
          "std", repr(float(J[t].std())))
