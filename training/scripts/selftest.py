#!/usr/bin/env python3
"""Scientific self-test of the shapes fixtures (paper §5.2, App. C).

For each TSσBN checkpoint: importance I = σ(γ) rows of all task-specific
layers concatenated (T × F); cosine similarity between tasks; average-linkage
clustering of 1 − cos cut into K = G clusters. Across seeds: the
co-occurrence matrix (fraction of seeds in which two tasks share a cluster),
clustered the same way into K representative clusters, compared with the
true groups (the `<group>_` prefix of each task name) by the adjusted Rand
index. Stability: mean pairwise Spearman correlation of the similarity
matrices' upper triangles. Performance: mean test F1 of TSσBN vs HPS.

Usage: python3 training/scripts/selftest.py fixtures/shapes [--check]
With --check, exits 1 unless ARI ≥ 0.9, Spearman ≥ 0.8 and F1(TSσBN) ≥ F1(HPS);
a folder without an HPS run (`*_bn_seed*.safetensors`) fails the check, since
the third target cannot be tested. Needs numpy, scipy and safetensors.
"""
import glob
import json
import os
import sys

import numpy as np
from safetensors import safe_open
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform
from scipy.special import comb
from scipy.stats import spearmanr


def adjusted_rand_score(a, b):
    """Hubert & Arabie's adjusted Rand index (scikit-learn's definition,
    without depending on it): 1 for identical partitions, ≈ 0 by chance."""
    _, ia = np.unique(a, return_inverse=True)
    _, ib = np.unique(b, return_inverse=True)
    table = np.zeros((ia.max() + 1, ib.max() + 1))
    np.add.at(table, (ia, ib), 1)
    index = comb(table, 2).sum()
    rows, cols = comb(table.sum(1), 2).sum(), comb(table.sum(0), 2).sum()
    expected = rows * cols / comb(len(ia), 2)
    top = (rows + cols) / 2
    if top == expected:  # both partitions trivial: scikit-learn returns 1
        return 1.0
    return float((index - expected) / (top - expected))


def load(path):
    with safe_open(path, "np") as f:
        meta = f.metadata()
        tasks = json.loads(meta["mtl.tasks"])
        layers = json.loads(meta["mtl.layers"])
        gammas = [f.get_tensor(f"{layer}.gamma") for layer in layers]
    return meta, tasks, layers, gammas


def importance(gammas):
    return np.concatenate([1 / (1 + np.exp(-g.astype(np.float64))) for g in gammas], axis=1)


def cosine(imp):
    norm = np.linalg.norm(imp, axis=1, keepdims=True)
    u = imp / np.where(norm == 0, 1, norm)
    return u @ u.T


def cluster(distance, k):
    d = (distance + distance.T) / 2
    np.fill_diagonal(d, 0)
    z = linkage(squareform(np.clip(d, 0, None), checks=False), method="average")
    return fcluster(z, t=k, criterion="maxclust")


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "fixtures/shapes"
    check = "--check" in sys.argv
    seeds = sorted(glob.glob(os.path.join(root, "*tssbn_seed*.safetensors")))
    if len(seeds) < 2:
        sys.exit(f"need at least 2 TSσBN checkpoints in {root}, found {len(seeds)}")
    sims, labels, f1s = [], [], []
    tasks0 = None
    for p in seeds:
        meta, tasks, layers, gammas = load(p)
        tasks0 = tasks0 or tasks
        assert tasks == tasks0, f"{p}: task order differs"
        groups = sorted({t.split("_")[0] for t in tasks}, key=[t.split("_")[0] for t in tasks].index)
        k = len(groups)
        s = cosine(importance(gammas))
        sims.append(s)
        labels.append(cluster(1 - s, k))
        f1s.append(float(meta["mtl.test_mean_f1"]))
    truth = [groups.index(t.split("_")[0]) for t in tasks0]
    per_seed_ari = [adjusted_rand_score(truth, lab) for lab in labels]
    co = np.mean([np.equal.outer(lab, lab).astype(float) for lab in labels], axis=0)
    rep = cluster(1 - co, k)
    ari = adjusted_rand_score(truth, rep)
    iu = np.triu_indices(len(tasks0), 1)
    rhos = [spearmanr(sims[a][iu], sims[b][iu])[0]
            for a in range(len(sims)) for b in range(a + 1, len(sims))]
    hps = [float(load_meta(p)["mtl.test_mean_f1"]) for p in glob.glob(os.path.join(root, "*_bn_seed*.safetensors"))]
    tsbn = [float(load_meta(p)["mtl.test_mean_f1"]) for p in glob.glob(os.path.join(root, "*_tsbn_seed*.safetensors"))]
    within = np.mean([s[np.equal.outer(truth, truth) & ~np.eye(len(truth), dtype=bool)].mean() for s in sims])
    between = np.mean([s[~np.equal.outer(truth, truth)].mean() for s in sims])
    report = {
        "checkpoints": len(seeds),
        "tasks": len(tasks0),
        "groups": k,
        "ari_representative": round(ari, 4),
        "ari_per_seed": [round(a, 4) for a in per_seed_ari],
        "spearman_mean": round(float(np.mean(rhos)), 4),
        "spearman_min": round(float(np.min(rhos)), 4),
        "cos_within_group": round(float(within), 4),
        "cos_between_groups": round(float(between), 4),
        "f1_tssbn_mean": round(float(np.mean(f1s)), 4),
        "f1_tssbn_per_seed": [round(f, 4) for f in f1s],
        "f1_tsbn_mean": round(float(np.mean(tsbn)), 4) if tsbn else None,
        "f1_hps_mean": round(float(np.mean(hps)), 4) if hps else None,
    }
    print(json.dumps(report, indent=2))
    if check:
        failed = []
        if ari < 0.9:
            failed.append(f"adjusted Rand {ari:.4f} < 0.9")
        if np.mean(rhos) < 0.8:
            failed.append(f"mean Spearman {np.mean(rhos):.4f} < 0.8")
        if not hps:
            failed.append(f"no HPS run (*_bn_seed*.safetensors) in {root} to compare F1 with")
        elif np.mean(f1s) < np.mean(hps):
            failed.append(f"F1 TSσBN {np.mean(f1s):.4f} < HPS {np.mean(hps):.4f}")
        for f in failed:
            print(f"check failed: {f}", file=sys.stderr)
        sys.exit(1 if failed else 0)


def load_meta(path):
    with safe_open(path, "np") as f:
        return f.metadata()


if __name__ == "__main__":
    main()
