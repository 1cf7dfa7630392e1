"""Independent Python implementation of mtl-inspect's order-invariant
agglomerative clustering (src/analysis/clusters/linkage.rs; docs/METHODS.md,
"Choices the paper leaves open"), for tests/analysis_reference.rs::tiebreak_*.

The rule, per merge step, over all pairs of active clusters:
  1. smallest primary distance d1 (Lance-Williams update of the linkage;
     values within 1e-12 * max(1, |min|) of the minimum are tied);
  2. among those, smallest secondary distance d2 (the same linkage on a
     second matrix, e.g. 1 - mean cosine similarity across runs), same
     tolerance;
  3. among those, the smallest "profile": the sorted list of (d1, d2) from
     the merged cluster to every other active cluster, compared
     lexicographically with the same tolerance;
  4. still tied: pairwise disjoint pairs are merged together in one batch
     (their order does not matter); overlapping pairs are decided by input
     order (first pair by cluster id) and reported.
The cut into K applies the first n - K merges, then every following merge
whose (d1, d2) equals the last applied one (within the tolerance).

Run: python3 tests/reference/tiebreak.py   (numpy, scipy)
It prints the cases' inputs and partitions, checks that the rule equals
scipy's linkage on untied data, and measures how often scipy's own
representative partition changes when tasks are relabelled.
"""
import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform

METHODS = ["average", "complete", "single", "ward", "weighted"]


def tol(m):
    return 1e-12 * max(1.0, abs(m))


def lw(method, dik, djk, dij, ni, nj, nk):
    if method == "single":
        return min(dik, djk)
    if method == "complete":
        return max(dik, djk)
    if method == "average":
        return (ni * dik + nj * djk) / (ni + nj)
    if method == "weighted":
        return 0.5 * (dik + djk)
    t = ni + nj + nk
    return np.sqrt(max(((ni + nk) * (dik * dik) + (nj + nk) * (djk * djk) - nk * (dij * dij)) / t, 0.0))


def cmp_profiles(p, q):
    for (a1, a2), (b1, b2) in zip(p, q):
        if abs(a1 - b1) > tol(min(a1, b1)):
            return -1 if a1 < b1 else 1
        if abs(a2 - b2) > tol(min(a2, b2)):
            return -1 if a2 < b2 else 1
    return 0


def agglomerate(d1, d2, method):
    """Returns steps (a_id, b_id, height, size, rule) and input-order ties."""
    n = len(d1)
    d1 = [list(map(float, r)) for r in d1]
    d2 = [list(map(float, r)) for r in (d2 if d2 is not None else np.zeros((n, n)))]
    active = list(range(n))
    ids = list(range(n))
    size = [1] * n
    steps, ties = [], []
    while len(active) > 1:
        pairs = [(i, j) for x, i in enumerate(active) for j in active[x + 1:]]
        m1 = min(d1[i][j] for i, j in pairs)
        s = [p for p in pairs if d1[p[0]][p[1]] <= m1 + tol(m1)]
        rule = "distance"
        if len(s) > 1:
            m2 = min(d2[i][j] for i, j in s)
            s2 = [p for p in s if d2[p[0]][p[1]] <= m2 + tol(m2)]
            rule = "secondary" if len(s2) == 1 else rule
            s = s2
        if len(s) > 1:
            profs = {}
            for (i, j) in s:
                prof = []
                for k in active:
                    if k in (i, j):
                        continue
                    prof.append((lw(method, d1[i][k], d1[j][k], d1[i][j], size[i], size[j], size[k]),
                                 lw(method, d2[i][k], d2[j][k], d2[i][j], size[i], size[j], size[k])))
                prof.sort()
                profs[(i, j)] = prof
            # the exact minimum (a total order), then all tied with it
            best = min(s, key=lambda p: profs[p])
            s = [p for p in s if cmp_profiles(profs[p], profs[best]) == 0]
            rule = "profile" if len(s) == 1 else rule
        # order candidates by cluster ids (input order, the last resort)
        s.sort(key=lambda p: tuple(sorted((ids[p[0]], ids[p[1]]))))
        batch = [s[0]]
        if len(s) > 1:
            members = [set(p) for p in s]
            disjoint = all(not (members[x] & members[y]) for x in range(len(s)) for y in range(x + 1, len(s)))
            if disjoint:
                batch = s
                rule = "simultaneous"
            else:
                rule = "input_order"
                ties.append((len(steps), [tuple(sorted((ids[i], ids[j]))) for i, j in s]))
        for (i, j) in batch:
            h1, h2 = d1[i][j], d2[i][j]
            for k in active:
                if k in (i, j):
                    continue
                a = lw(method, d1[i][k], d1[j][k], d1[i][j], size[i], size[j], size[k])
                b = lw(method, d2[i][k], d2[j][k], d2[i][j], size[i], size[j], size[k])
                d1[i][k] = d1[k][i] = a
                d2[i][k] = d2[k][i] = b
            a_id, b_id = sorted((ids[i], ids[j]))
            steps.append((a_id, b_id, h1, h2, size[i] + size[j], rule))
            ids[i] = n + len(steps) - 1
            size[i] += size[j]
            active.remove(j)
    return steps, ties


def cut(steps, n, k):
    m = max(n - k, 0)
    while 0 < m < len(steps) and abs(steps[m][2] - steps[m - 1][2]) <= tol(steps[m - 1][2]) \
            and abs(steps[m][3] - steps[m - 1][3]) <= tol(steps[m - 1][3]):
        m += 1
    parent = list(range(2 * n))
    def find(x):
        while parent[x] != x:
            x = parent[x]
        return x
    for s, (a, b, *_rest) in enumerate(steps[:m]):
        parent[find(a)] = n + s
        parent[find(b)] = n + s
    roots = [find(i) for i in range(n)]
    seen = {}
    return [seen.setdefault(r, len(seen)) for r in roots]


def partition(labels):
    d = {}
    for i, l in enumerate(labels):
        d.setdefault(l, []).append(i)
    return sorted(sorted(v) for v in d.values())


def canonical(labels):
    seen = {}
    return [seen.setdefault(l, len(seen)) for l in labels]


def tie_heavy_case(seed, n=40, runs=7, k=10):
    """Labels of `runs` runs that partly agree on k planted groups, their
    co-occurrence, and continuous similarity matrices (mean across runs
    as the secondary key)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, k, n)
    labels = []
    for _ in range(runs):
        l = base.copy()
        move = rng.random(n) < 0.25
        l[move] = rng.integers(0, k, move.sum())
        labels.append(l)
    co = np.mean([(l[:, None] == l[None, :]).astype(float) for l in labels], axis=0)
    sims = []
    for _ in range(runs):
        x = rng.uniform(0, 1, (n, 30)) + 0.5 * np.eye(k)[base] @ rng.uniform(0, 1, (k, 30))
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        sims.append(x @ x.T)
    return labels, co, sims


if __name__ == "__main__":
    # 1. Untied data: the rule is scipy's linkage.
    rng = np.random.default_rng(5)
    for trial in range(200):
        n = int(rng.integers(2, 12))
        D = rng.uniform(0, 1, (n, n)); D = np.triu(D, 1); D = D + D.T
        for method in METHODS:
            Z = linkage(squareform(D), method)
            steps, ties = agglomerate(D, None, method)
            assert not ties
            assert np.allclose([s[2] for s in steps], Z[:, 2], atol=1e-12), (method, trial)
            assert [(s[0], s[1]) for s in steps] == [(int(a), int(b)) for a, b in Z[:, :2]], (method, trial)
            for k in range(1, n + 1):
                assert partition(cut(steps, n, k)) == partition(fcluster(Z, k, "maxclust")), (method, k)
    print("untied: equal to scipy linkage and fcluster on 200 x 5 cases")

    # 2. How often scipy's representative partition depends on task order.
    for seed in range(3):
        _, co, _ = tie_heavy_case(seed)
        n = len(co)
        for method in METHODS:
            ref = None
            changed = 0
            for _ in range(100):
                p = rng.permutation(n)
                D = 1 - co[np.ix_(p, p)]; np.fill_diagonal(D, 0)
                lab = fcluster(linkage(squareform(D, checks=False), method), 10, "maxclust")
                orig = np.empty(n, int); orig[p] = lab
                part = partition(orig)
                ref = part if ref is None else ref
                changed += part != ref
            print(f"scipy, case {seed}, {method}: partition differs from the first ordering in {changed}/100 relabellings")

    # 3. The rule on the tie-heavy cases: one partition for every ordering.
    for seed in range(2):
        _, co, sims = tie_heavy_case(seed)
        n = len(co)
        ms = np.mean(sims, axis=0)
        for method in METHODS:
            parts = set()
            for trial in range(20):
                p = np.arange(n) if trial == 0 else rng.permutation(n)
                D1 = 1 - co[np.ix_(p, p)]; np.fill_diagonal(D1, 0)
                D2 = np.clip(1 - ms[np.ix_(p, p)], 0, None); np.fill_diagonal(D2, 0)
                steps, ties = agglomerate(D1, D2, method)
                lab = cut(steps, n, 10)
                orig = np.empty(n, int); orig[p] = lab
                parts.add(str(partition(orig)))
                if trial == 0:
                    print(f"rule, case {seed}, {method}: labels {canonical(orig)} ties {ties}")
            print(f"rule, case {seed}, {method}: {len(parts)} partition(s) over 20 orderings")


def reference_case():
    """tests/analysis_reference.rs::tiebreak_matches_python: 12 tasks, 5 runs
    of labels (co-occurrence in fifths) and a mean similarity rounded to 0.05,
    so that some pairs tie in both keys and the profile or input order must
    decide."""
    rng = np.random.default_rng(42)
    n, runs, k = 12, 5, 4
    base = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3])
    labels = []
    for _ in range(runs):
        l = base.copy()
        move = rng.random(n) < 0.3
        l[move] = rng.integers(0, k, move.sum())
        labels.append(l)
    co = np.mean([(l[:, None] == l[None, :]).astype(float) for l in labels], axis=0)
    ms = np.round(rng.uniform(0.2, 0.9, (n, n)) / 0.05) * 0.05
    ms = np.triu(ms, 1); ms = ms + ms.T; np.fill_diagonal(ms, 1.0)
    return labels, co, ms


if __name__ == "__main__":
    labels, co, ms = reference_case()
    n = len(co)
    print("// reference_case labels:", [l.tolist() for l in labels])
    print("// reference_case mean similarity:", [float(x) for x in ms.ravel()])
    D1 = 1 - co; np.fill_diagonal(D1, 0)
    D2 = 1 - ms; np.fill_diagonal(D2, 0)
    for method in METHODS:
        steps, ties = agglomerate(D1, D2, method)
        print(f"// {method} steps:", [(a, b, float(h1), rule) for a, b, h1, h2, size, rule in steps])
        print(f"// {method} ties:", ties)
        print(f"// {method} cuts k=2..6:", [canonical(cut(steps, n, k)) for k in range(2, 7)])
