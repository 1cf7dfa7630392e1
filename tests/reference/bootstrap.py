"""Reference values for tests/analysis_reference.rs::{bootstrap_*,
grouped_jackknife_*, mantel_random_*}.

- numpy.percentile (default linear interpolation) of a few values;
- one bootstrap replicate of the mean Spearman over runs for given draws
  (pairs of positions that drew the same run left out);
- the grouped jackknife interval of a pair for a given partition of the
  filters (last section);
- the exact one-sided Mantel p-value of SIM0 vs SIM1 (8 tasks, from
  tests/reference/clusters.py) over all 8! relabellings, to check the random
  Mantel test (T! > N) against.
Run: python3 tests/reference/bootstrap.py
"""
import itertools

import numpy as np
from scipy.stats import rankdata, spearmanr
from sklearn.metrics.pairwise import cosine_similarity

TIE_TOL = 1e-12


def upper(m):
    return m[np.triu_indices(m.shape[0], 1)]


v = np.array([0.31, 0.7, 0.12, 0.55, 0.9, 0.44, 0.61])
print("percentile 2.5, 97.5, 50, 0, 100:", [repr(float(np.percentile(v, q))) for q in (2.5, 97.5, 50, 0, 100)])

# Spearman matrix of 4 runs (None = undefined) and two draws
M = np.array([[1.0, 0.6, 0.5, 0.7], [0.6, 1.0, 0.4, np.nan], [0.5, 0.4, 1.0, 0.8], [0.7, np.nan, 0.8, 1.0]])
for draw in ([0, 0, 2, 3], [1, 1, 3, 3], [2, 2, 2, 2]):
    vals = [M[i, j] for x, i in enumerate(draw) for j in draw[x + 1:] if i != j and not np.isnan(M[i, j])]
    print("resampled mean", draw, repr(float(np.mean(vals))) if vals else None)

# SIM0, SIM1 exactly as tests/reference/clusters.py makes them
rng = np.random.default_rng(11)
T = 8
sims = []
for r in range(2):
    base = rng.uniform(0, 1, (3, 30))
    I = np.clip(base[[0, 0, 1, 1, 1, 2, 2, 0]] + rng.normal(0, 0.6, (T, 30)), 0, 1)
    S = cosine_similarity(I)
    sims.append((S + S.T) / 2)
a, b = sims
ra = rankdata(upper(a))
rb_full = np.zeros((T, T))
rb_full[np.triu_indices(T, 1)] = rankdata(upper(b))
rb_full = rb_full + rb_full.T
iu = np.triu_indices(T, 1)
obs = np.corrcoef(ra, rb_full[iu])[0, 1]
perms = np.array(list(itertools.permutations(range(T))))
count = 0
for chunk in np.array_split(perms, 40):
    pb = rb_full[chunk[:, :, None], chunk[:, None, :]][:, iu[0], iu[1]]
    pbc = pb - pb.mean(axis=1, keepdims=True)
    rac = ra - ra.mean()
    r = (pbc @ rac) / np.sqrt((pbc ** 2).sum(axis=1) * (rac ** 2).sum())
    count += int((r >= obs - TIE_TOL).sum())
print("SIM0-SIM1 spearman", repr(float(obs)), "exact Mantel p", repr(count / len(perms)), f"({count}/{len(perms)})")

# Grouped jackknife of a pair (src/analysis/stability/jackknife.rs) for a
# given partition: group b of a run is order[b::10]; replicate b drops it.
# A pair's replicates are all 10 x 10 combinations; the interval is
# rho +- z * sqrt((g - 1) * var(replicates)), population variance, clipped
# to [-1, 1]. Data from formulas the Rust test repeats (8 tasks, 40 filters).
T, F = 8, 40
t_, f_ = np.meshgrid(np.arange(T), np.arange(F), indexing="ij")
JA = 0.5 + 0.3 * np.sin(0.37 * (t_ + 1) * (f_ + 1)) + 0.15 * np.cos(1.1 * f_ + t_ % 3)
JB = 0.5 + 0.3 * np.sin(0.37 * (t_ + 1) * (f_ + 1) + 0.2) + 0.15 * np.cos(1.1 * f_ + t_ % 3)
order_a = [(7 * k + 3) % F for k in range(F)]
order_b = [(11 * k + 5) % F for k in range(F)]


def replicates(X, order):
    out = []
    for g in range(10):
        drop = set(order[g::10])
        keep = [f for f in range(F) if f not in drop]
        out.append(upper(cosine_similarity(X[:, keep])))
    return out


rep = [spearmanr(x, y).statistic for x in replicates(JA, order_a) for y in replicates(JB, order_b)]
rho = spearmanr(upper(cosine_similarity(JA)), upper(cosine_similarity(JB))).statistic
se = np.sqrt(9 * np.var(rep))
z = 1.959963984540054
print("jackknife rho", repr(float(rho)))
print("jackknife interval", repr(float(max(-1, rho - z * se))), repr(float(min(1, rho + z * se))), "mean", repr(float(np.mean(rep))), "n", len(rep))
