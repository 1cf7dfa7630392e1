"""Reference values for tests/analysis_reference.rs::stability_*.

scipy.stats.spearmanr on upper triangles (diagonal excluded), and the exact
one-sided Mantel p-value by enumerating every task permutation with
itertools.permutations (identity included): p = #{r_perm >= r_obs} / T!.
Run: python3 tests/reference/stability.py
"""
import itertools

import numpy as np
from scipy.stats import spearmanr

TIE_TOL = 1e-12  # same tolerance as stability.rs


def sym(rng, t, decimals):
    a = np.round(rng.uniform(0, 1, (t, t)), decimals)
    s = np.triu(a, 1)
    s = s + s.T
    np.fill_diagonal(s, 1.0)
    return s


def upper(m):
    return m[np.triu_indices(m.shape[0], 1)]


def mantel_exact(a, b):
    obs = spearmanr(upper(a), upper(b)).statistic
    t = a.shape[0]
    count = total = 0
    for p in itertools.permutations(range(t)):
        p = list(p)
        r = spearmanr(upper(a), upper(b[np.ix_(p, p)])).statistic
        count += r >= obs - TIE_TOL
        total += 1
    return obs, count / total


def arr(v):
    return "[" + ", ".join(repr(float(x)) for x in np.ravel(v)) + "]"


rng = np.random.default_rng(3)
# 5 tasks, one decimal -> ties inside each triangle
A = sym(rng, 5, 1)
B = np.clip(A + np.round(rng.normal(0, 0.15, (5, 5)), 1), -1, 1)
B = np.triu(B, 1); B = B + B.T; np.fill_diagonal(B, 1.0)
C = sym(rng, 5, 1)
for name, m in (("A", A), ("B", B), ("C", C)):
    print(f"let {name.lower()} =", arr(m) + ";")
for x, y, nx, ny in ((A, B, "A", "B"), (A, C, "A", "C"), (B, C, "B", "C")):
    obs, p = mantel_exact(x, y)
    print(f"// {nx}-{ny}: spearman {obs!r} exact p {p!r}")

# plain spearmanr with ties
x = np.array([1.0, 2.0, 2.0, 3.0, 5.0, 5.0, 5.0, 0.5])
y = np.array([2.0, 1.0, 4.0, 4.0, 3.0, 9.0, 9.0, 0.0])
print("// spearmanr(x, y) =", repr(float(spearmanr(x, y).statistic)))
