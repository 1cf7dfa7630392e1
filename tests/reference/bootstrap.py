"""Reference values for tests/analysis_reference.rs::{bootstrap_*,
mantel_random_*}.

- numpy.percentile (default linear interpolation) of a few values;
- one bootstrap replicate of the mean Spearman over runs for given draws
  (pairs of positions that drew the same run left out);
- one filter-bootstrap replicate of a pair: both runs' cosine similarity
  matrices recomputed on the given filter draws, scipy.stats.spearmanr of
  their upper triangles;
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

rng = np.random.default_rng(8)
A = rng.uniform(0, 1, (5, 12))
B = rng.uniform(0, 1, (5, 12))
fa = rng.integers(0, 12, 12)
fb = rng.integers(0, 12, 12)
print("A =", [float(x) for x in A.ravel()])
print("B =", [float(x) for x in B.ravel()])
print("fa =", fa.tolist(), "fb =", fb.tolist())
ra = upper(cosine_similarity(A[:, fa]))
rb = upper(cosine_similarity(B[:, fb]))
print("resampled spearman", repr(float(spearmanr(ra, rb).statistic)))
print("observed spearman", repr(float(spearmanr(upper(cosine_similarity(A)), upper(cosine_similarity(B))).statistic)))

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
