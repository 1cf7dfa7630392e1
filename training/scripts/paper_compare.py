#!/usr/bin/env python3
"""Paper 000's claims on shapes, over seeds, at epoch 1 and at the end.

Trains TSσBN (α = 100), TSBN and shared-BN HPS (α = 1) on the shapes data
over the same seeds, keeping the model after epoch 1 (paper 000 App. D
measures gradient conflict "after one epoch of training") and the last,
runs `mtl-train diagnose` on both, and sweeps the size task's noise ξ
(App. E) and the gates' learning-rate multiplier α (§7.1, App. D). Every
row gives the mean over seeds with a 95 % Student-t interval and says
whether it agrees with the paper.

Needs only Python's standard library and release builds of both binaries:

    cargo build --release -p mtl-train -p mtl-inspect --bins
    python3 training/scripts/paper_compare.py --out /tmp/paper --seeds 200..203 [--heads independent]

Resumable: finished runs and diagnose files are not redone. Writes
<out>/paper.md and <out>/paper.json.
"""
import argparse
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from study_groups import mean_ci, read_safetensors, run  # noqa: E402

NOISES = [0, 0.5, 1, 2, 3]
ALPHAS = [1, 10, 100, 1000]


def below(a, b):
    """Verdict on "a is below b": agrees when the 95 % intervals are apart,
    inconclusive when only the means are in that order, else disagrees."""
    (ma, ha), (mb, hb) = mean_ci(a), mean_ci(b)
    if ma + ha < mb - hb:
        return "agrees"
    return "inconclusive (intervals overlap)" if ma < mb else "disagrees"


def fmt(xs, digits=3):
    m, h = mean_ci(xs)
    if math.isnan(m):
        return "–"
    return f"{m:.{digits}f}" + ("" if math.isnan(h) else f" ± {h:.{digits}f}")


def train(bins, out, seeds, heads, log, *extra):
    cmd = [bins["train"], "shapes", "--heads", heads, "--seeds", ",".join(map(str, seeds)),
           "--no-optimizer-state", "--quiet", "--out", out, *extra]
    run(cmd, log)


def stem(norm, seed, label=""):
    return f"shapes_{norm}_{label + '_' if label else ''}seed{seed}.safetensors"


def diagnose(bins, ckpt, out, log):
    if not os.path.exists(out):
        run([bins["train"], "diagnose", ckpt, "--batches", "16", "--out", out], log)
    return json.load(open(out))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--seeds", default="200..203")
    ap.add_argument("--heads", default="independent", choices=["independent", "tied"])
    ap.add_argument("--bin-dir", default=os.environ.get("MTL_BIN_DIR", "target/release"))
    a = ap.parse_args()
    lo, hi = (int(x) for x in a.seeds.split(".."))
    seeds = list(range(lo, hi))
    bins = {"train": os.path.join(a.bin_dir, "mtl-train"),
            "inspect": os.path.join(a.bin_dir, "mtl-inspect")}
    os.makedirs(a.out, exist_ok=True)
    log = open(os.path.join(a.out, "paper.log"), "a")
    norms = {"tssbn": "100", "tsbn": "1", "bn": "1"}
    runs = os.path.join(a.out, "norms")
    for norm, alpha in norms.items():
        if not all(os.path.exists(os.path.join(runs, "epoch1", stem(norm, s))) for s in seeds):
            print(f"training {norm}…", file=sys.stderr, flush=True)
            train(bins, runs, seeds, a.heads, log, "--norm", norm, "--alpha", alpha,
                  "--save-epochs", "1,3")
    diag = {}
    for norm in norms:
        for ep in ("1", "3"):
            for s in seeds:
                ckpt = os.path.join(runs, f"epoch{ep}", stem(norm, s))
                out = os.path.join(a.out, "diagnose", f"epoch{ep}", stem(norm, s).replace(".safetensors", ".json"))
                os.makedirs(os.path.dirname(out), exist_ok=True)
                print(f"diagnose {norm} epoch {ep} seed {s}", file=sys.stderr, flush=True)
                diag[(norm, ep, s)] = diagnose(bins, ckpt, out, log)
    rows = []
    gaps = {}
    for ep in ("1", "3"):
        std = {n: [diag[(n, ep, s)]["gradients"]["scopes"][0]["conflict"]["pooled"]["std"] for s in seeds] for n in norms}
        neg = {n: [diag[(n, ep, s)]["gradients"]["scopes"][0]["conflict"]["pooled"]["share_negative"] for s in seeds] for n in norms}
        rows.append((f"std of cos(g_i, g_j), all shared weights, epoch {ep}",
                     f"TSσBN {fmt(std['tssbn'])}; TSBN {fmt(std['tsbn'])}; HPS {fmt(std['bn'])}",
                     "TSσBN below HPS (Fig. 2 left, App. D)",
                     f"TSσBN: {below(std['tssbn'], std['bn'])}; TSBN: {below(std['tsbn'], std['bn'])}"))
        rows.append((f"share of task pairs in conflict (cos < 0), epoch {ep}",
                     f"TSσBN {fmt(neg['tssbn'])}; TSBN {fmt(neg['tsbn'])}; HPS {fmt(neg['bn'])}",
                     "fewer with task-specific norms",
                     f"TSσBN: {below(neg['tssbn'], neg['bn'])}; TSBN: {below(neg['tsbn'], neg['bn'])}"))
        gaps[ep] = [h - t for h, t in zip(std["bn"], std["tssbn"])]
        for rank in ("specialization", "importance"):
            share, p = [], []
            for s in seeds:
                r = [x for x in diag[("tssbn", ep, s)]["pruning"]["rankings"] if x["ranking"] == rank][0]["f1_drop"]
                share.append(r["diagonal_share_by_evaluated"])
                p.append(r["p_value_by_evaluated"])
            chance = 1 / len(diag[("tssbn", ep, seeds[0])]["tasks"])
            sig = sum(1 for x in p if x < 0.05)
            rows.append((f"pruning (TSσBN, `{rank}` ranking): diagonal share by evaluated task, epoch {ep}",
                         f"{fmt(share)} (chance {chance:.4f}; p < 0.05 in {sig}/{len(seeds)} seeds)",
                         "diagonal-dominant (Fig. 4 right)",
                         "agrees" if mean_ci(share)[0] > 0.5 else ("partly: above chance" if sig == len(seeds) else "disagrees")))
    rows.append(("HPS − TSσBN std of cos(g_i, g_j) (same seed), epoch 1 → 3",
                 f"{fmt(gaps['1'])} → {fmt(gaps['3'])}",
                 "the difference shrinks after the first epoch (App. D)",
                 {"agrees": "disagrees: it grows", "disagrees": "agrees"}.get(below(gaps["1"], gaps["3"]), below(gaps["1"], gaps["3"]))))
    # ξ sweep: capacity of the noisy size task.
    noise_dir = os.path.join(a.out, "noise")
    if not all(os.path.exists(os.path.join(noise_dir, stem("tssbn", s, f"noise{n}"))) for n in NOISES for s in seeds):
        print("training the noise sweep…", file=sys.stderr, flush=True)
        train(bins, noise_dir, seeds, a.heads, log, "--norm", "tssbn", "--alpha", "100",
              "--noise", ",".join(map(str, NOISES)))
    shared, indep = {}, {}
    for n in NOISES:
        for s in seeds:
            cap = json.loads(run([bins["inspect"], "capacity", os.path.join(noise_dir, stem("tssbn", s, f"noise{n}")),
                                  "--format", "json"], log))
            size = [t for t in cap["tasks"] if t["task"].endswith("_size")][0]
            shared.setdefault(n, []).append(size["shared"])
            indep.setdefault(n, []).append(size["independent"])
    rises = all(mean_ci(indep[NOISES[i]])[0] < mean_ci(indep[NOISES[i + 1]])[0] for i in range(len(NOISES) - 1))
    falls = mean_ci(shared[NOISES[-1]])[0] < mean_ci(shared[NOISES[0]])[0] - max(mean_ci(shared[NOISES[-1]])[1], mean_ci(shared[NOISES[0]])[1])
    rows.append(("independent capacity of the size task, ξ = " + ", ".join(map(str, NOISES)),
                 "; ".join(fmt(indep[n]) for n in NOISES), "rises with ξ (App. E, Fig. 10)",
                 "agrees" if rises else "disagrees (not monotone in the means)"))
    rows.append(("shared capacity of the size task, ξ = " + ", ".join(map(str, NOISES)),
                 "; ".join(fmt(shared[n]) for n in NOISES), "falls with ξ (Fig. 10)",
                 "agrees" if falls else "disagrees (no fall beyond the intervals)"))
    # α sweep: polarisation and test F1.
    alpha_dir = os.path.join(a.out, "alpha")
    if not all(os.path.exists(os.path.join(alpha_dir, stem("tssbn", s, f"a{al}"))) for al in ALPHAS for s in seeds):
        print("training the alpha sweep…", file=sys.stderr, flush=True)
        train(bins, alpha_dir, seeds, a.heads, log, "--norm", "tssbn", "--alpha", ",".join(map(str, ALPHAS)))
    low, high, f1 = {}, {}, {}
    for al in ALPHAS:
        for s in seeds:
            meta, t = read_safetensors(os.path.join(alpha_dir, stem("tssbn", s, f"a{al}")))
            gates = [1 / (1 + math.exp(-x)) for L in json.loads(meta["mtl.layers"]) for x in t[f"{L}.gamma"][1]]
            low.setdefault(al, []).append(sum(g < 0.1 for g in gates) / len(gates))
            high.setdefault(al, []).append(sum(g > 0.9 for g in gates) / len(gates))
            f1.setdefault(al, []).append(float(meta["mtl.test_mean_f1"]))
    polar = all(mean_ci(low[ALPHAS[i]])[0] + mean_ci(high[ALPHAS[i]])[0] <= mean_ci(low[ALPHAS[i + 1]])[0] + mean_ci(high[ALPHAS[i + 1]])[0]
                for i in range(len(ALPHAS) - 1))
    rows.append(("gates < 0.1 / > 0.9, α = " + ", ".join(map(str, ALPHAS)),
                 "; ".join(f"{fmt(low[al], 2)} / {fmt(high[al], 2)}" for al in ALPHAS),
                 "gates polarise as α grows (Fig. 5/9)", "agrees" if polar else "disagrees"))
    best = max(ALPHAS, key=lambda al: mean_ci(f1[al])[0])
    rows.append(("test mean F1, α = " + ", ".join(map(str, ALPHAS)),
                 "; ".join(fmt(f1[al]) for al in ALPHAS), "best at α = 100 (Table 6)",
                 "agrees" if best == 100 else f"disagrees (best mean at α = {best})"))
    f1n = {n: [float(read_safetensors(os.path.join(runs, stem(n, s)), want=set())[0]["mtl.test_mean_f1"]) for s in seeds] for n in norms}
    rows.append(("test mean F1 (best epoch of 3)", f"TSσBN {fmt(f1n['tssbn'])}; TSBN {fmt(f1n['tsbn'])}; HPS {fmt(f1n['bn'])}",
                 "TSσBN ≥ TSBN > HPS (Table 2)",
                 "agrees" if mean_ci(f1n["tssbn"])[0] >= mean_ci(f1n["tsbn"])[0] > mean_ci(f1n["bn"])[0] else "disagrees"))
    md = [f"Seeds {seeds[0]}–{seeds[-1]} ({len(seeds)}), heads {a.heads}, 3 epochs; mean ± 95 % t-interval over seeds.", "",
          "| quantity | measured | paper 000 | verdict |", "|---|---|---|---|"]
    md += [f"| {q} | {m} | {p} | {v} |" for q, m, p, v in rows]
    open(os.path.join(a.out, "paper.md"), "w").write("\n".join(md) + "\n")
    json.dump({"seeds": seeds, "heads": a.heads, "rows": rows}, open(os.path.join(a.out, "paper.json"), "w"), indent=1)
    print("\n".join(md))


if __name__ == "__main__":
    main()
