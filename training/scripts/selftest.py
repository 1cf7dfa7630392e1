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
With --check, exits 1 unless ARI ≥ 0.9, Spearman ≥ 0.8 and F1(TSσBN) ≥ F1(HPS).
"""
import glob
import json
import os
import sys

import numpy as np
from safetensors import safe_open
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform
from scipy.stats import spearmanr
from sklearn.metrics import adjusted_rand_score


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
        ok = ari >= 0.9 and np.mean(rhos) >= 0.8 and (not hps or np.mean(f1s) >= np.mean(hps))
        sys.exit(0 if ok else 1)


def load_meta(path):
    with safe_open(path, "np") as f:
        return f.metadata()


if __name__ == "__main__":
    main()
