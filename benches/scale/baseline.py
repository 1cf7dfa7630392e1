"""The fastest numpy/scipy way I know to do what `mtl-inspect capacity`,
`stability` and `cluster` do, for the side-by-side scale benchmark
(benches/scale/run.sh). Each command streams the runs (one importance
matrix in memory at a time) and uses Gram-matrix algebra through BLAS:

    python3 benches/scale/baseline.py capacity  RUN
    python3 benches/scale/baseline.py stability RUN...
    python3 benches/scale/baseline.py cluster   RUN... [--k 10]

Loading: safetensors' numpy reader per tensor into one preallocated f64
matrix, the sigmoid in place with scipy.special.expit. Capacity: unit rows
N, G = N Nᵀ (numpy calls syrk for a product with its own transpose),
independent² = 1 / (G⁺)_tt. Similarity: the cosine Gram. Stability: each
run's upper triangle ranked once (scipy.stats.rankdata), then all Pearson
correlations of the rank vectors at once (np.corrcoef). Cluster: scipy's
average linkage per run and on 1 − co-occurrence. No intervals, no Mantel
test: the Rust side is timed with `--bootstrap 0 --permutations 0` for the
same work, and once more with its defaults.
"""
import re
import sys

import numpy as np
from safetensors import safe_open
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform
from scipy.special import expit
from scipy.stats import rankdata

NAME = re.compile(r"^(.*)\.(\d+)\.weight$")


def load(path):
    """T × F importances of a ModuleList-of-σBN file (`<layer>.<task>.weight`)."""
    with safe_open(path, "np") as f:
        keys = [k for k in f.keys() if k.endswith(".weight")]
        layers, tasks = {}, set()
        for k in keys:
            m = NAME.match(k)
            layers.setdefault(m.group(1), f.get_slice(k).get_shape()[0])
            tasks.add(int(m.group(2)))
        order = sorted(layers, key=lambda s: [int(x) if x.isdigit() else x for x in re.split(r"(\d+)", s)])
        T, F = len(tasks), sum(layers.values())
        out = np.empty((T, F))
        start = 0
        for l in order:
            w = layers[l]
            for t in range(T):
                out[t, start:start + w] = f.get_tensor(f"{l}.{t}.weight")
            start += w
    expit(out, out=out)
    return out


def unit_rows(I):
    I /= np.linalg.norm(I, axis=1, keepdims=True)
    return I


def capacity(I):
    c = I.mean(axis=1)
    N = unit_rows(I)
    G = N @ N.T
    indep_sq = np.clip(1.0 / np.diag(np.linalg.pinv(G, hermitian=True)), 0.0, 1.0)
    return c, np.sqrt(1 - indep_sq) * c, np.sqrt(indep_sq) * c


def similarity(I):
    N = unit_rows(I)
    return N @ N.T


def main():
    cmd, paths = sys.argv[1], [p for p in sys.argv[2:] if not p.startswith("--")]
    if cmd == "capacity":
        c, s, i = capacity(load(paths[0]))
        print(c[:2], s[:2], i[:2])
    elif cmd == "stability":
        iu = None
        ranks = []
        for p in paths:
            S = similarity(load(p))
            iu = iu or np.triu_indices(S.shape[0], 1)
            ranks.append(rankdata(S[iu]))
        R = np.corrcoef(np.array(ranks))
        print(R[np.triu_indices(len(paths), 1)].mean())
    elif cmd == "cluster":
        k = 10
        co = None
        for p in paths:
            d = np.clip(1 - similarity(load(p)), 0, None)
            np.fill_diagonal(d, 0)
            lab = fcluster(linkage(squareform(d, checks=False), "average"), k, "maxclust")
            m = (lab[:, None] == lab[None, :]).astype(float)
            co = m if co is None else co + m
        co /= len(paths)
        d = 1 - co
        np.fill_diagonal(d, 0)
        print(fcluster(linkage(squareform(d, checks=False), "average"), k, "maxclust"))


if __name__ == "__main__":
    main()
