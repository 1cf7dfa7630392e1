"""The numpy/scipy way to do what `mtl-inspect` does, for the side-by-side
benchmark in benches/compare.sh (run by hand, not in CI):

    python3 benches/analyses.py inspect    fixtures/celeba40/run0.safetensors
    python3 benches/analyses.py capacity   fixtures/celeba40/run0.safetensors
    python3 benches/analyses.py similarity fixtures/celeba40/run0.safetensors
    python3 benches/analyses.py stability  fixtures/celeba40/run*.safetensors
    python3 benches/analyses.py cluster    fixtures/celeba40/run*.safetensors

This is the notebook code the tool replaces: load gates with safetensors,
sigmoid, then numpy / scipy.stats / scipy.cluster.hierarchy.
"""
import json
import sys

import numpy as np
from safetensors import safe_open
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform
from scipy.stats import spearmanr


def load(path):
    with safe_open(path, "np") as f:
        meta = f.metadata()
        layers = json.loads(meta["mtl.layers"])
        tasks = json.loads(meta["mtl.tasks"])
        g = np.concatenate([f.get_tensor(l + ".gamma").astype(np.float64) for l in layers], axis=1)
    return tasks, 1.0 / (1.0 + np.exp(-g))


def capacity(I):
    out = []
    for t in range(I.shape[0]):
        A = np.delete(I, t, axis=0).T
        coef, *_ = np.linalg.lstsq(A, I[t], rcond=None)
        s = A @ coef
        c, n = I[t].mean(), np.linalg.norm(I[t])
        out.append((c, np.linalg.norm(s) / n * c, np.linalg.norm(I[t] - s) / n * c))
    return out


def similarity(I):
    n = I / np.linalg.norm(I, axis=1, keepdims=True)
    return n @ n.T


def main():
    cmd, paths = sys.argv[1], sys.argv[2:]
    runs = [load(p) for p in paths]
    if cmd == "inspect":
        tasks, I = runs[0]
        print(len(tasks), I.shape, I.min(), I.max())
    elif cmd == "capacity":
        print(capacity(runs[0][1])[:2])
    elif cmd == "similarity":
        print(similarity(runs[0][1])[0, :3])
    elif cmd == "stability":
        sims = [similarity(I) for _, I in runs]
        iu = np.triu_indices(sims[0].shape[0], 1)
        rs = [spearmanr(sims[a][iu], sims[b][iu])[0] for a in range(len(sims)) for b in range(a + 1, len(sims))]
        print(np.mean(rs))
    elif cmd == "cluster":
        k = 10
        T = runs[0][1].shape[0]
        co = np.zeros((T, T))
        for _, I in runs:
            d = np.clip(1 - similarity(I), 0, None)
            np.fill_diagonal(d, 0)
            lab = fcluster(linkage(squareform(d, checks=False), "average"), k, "maxclust")
            co += lab[:, None] == lab[None, :]
        co /= len(runs)
        d = 1 - co
        np.fill_diagonal(d, 0)
        print(fcluster(linkage(squareform(d, checks=False), "average"), k, "maxclust"))


if __name__ == "__main__":
    main()
