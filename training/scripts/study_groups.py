#!/usr/bin/env python3
"""Do the shapes benchmark's known task groups survive a standard start?

Trains a grid of `mtl-train shapes` settings (heads tied/independent, alpha,
convolution widths, a fully connected layer before the heads, epochs), each
over the same fresh seeds, keeps the model after chosen epochs
(`--save-epochs`), and measures at each of them, with `mtl-inspect`:

- ARI of each run's clusters (`cluster --k G`, average linkage on 1 - cosine)
  against the known groups (the `<group>_` prefix of the task names): mean
  over seeds with a 95 % Student-t interval;
- ARI of the representative clusters of all seeds (co-occurrence) against
  the known groups, the number the paper-style consensus gives;
- mean Spearman between the seeds' similarity matrices (`stability`), with
  its bootstrap 95 % interval over resampled runs;
- mean test F1 at the end (from the checkpoints' metadata), and the
  within-group minus between-group cosine (the "signal" the clusters need).

Resumable: a cell whose checkpoints exist is not trained again (delete its
folder to redo it). Needs only Python's standard library and release builds
of both binaries:

    cargo build --release -p mtl-train -p mtl-inspect --bins
    python3 training/scripts/study_groups.py --out /tmp/study            # full grid
    python3 training/scripts/study_groups.py --out /tmp/study --only independent-a100

Writes <out>/study.json, <out>/study.csv and <out>/study.md (the table in
training/README.md, "Do the groups survive a standard start?").
"""
import argparse
import csv
import json
import math
import os
import struct
import subprocess
import sys
import time

# The grid: name, --heads, --alpha, --filters, --fc, --epochs, epochs to
# measure at. Widths: shapes-cnn is 24,16,16 with no fully connected layer.
GRID = [
    ("tied-a100", "tied", 100, None, None, 3, [1, 3]),
    ("independent-a100", "independent", 100, None, None, 3, [1, 3]),
    ("independent-a10", "independent", 10, None, None, 3, [1, 3]),
    ("independent-a1000", "independent", 1000, None, None, 3, [1, 3]),
    ("independent-a100-wide", "independent", 100, "48,32,32", None, 3, [1, 3]),
    ("independent-a100-fc64", "independent", 100, None, "64", 3, [1, 3]),
    ("independent-a100-e8", "independent", 100, None, None, 8, [1, 3, 8]),
    # The first convolution's gates carry the groups, the two next to the
    # heads follow the heads' random start: widen the first layer only, or
    # all of them four-fold.
    ("independent-a100-first96", "independent", 100, "96,16,16", None, 3, [1, 3]),
    ("independent-a100-w4", "independent", 100, "96,64,64", None, 3, [1, 3]),
]

# Two-sided 95 % Student-t quantiles t_{0.975, df}, df = 1…30
# (scipy.stats.t.ppf(0.975, df)).
T975 = [12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060,
        2.2622, 2.2281, 2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199,
        2.1098, 2.1009, 2.0930, 2.0860, 2.0796, 2.0739, 2.0687, 2.0639,
        2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423]


def mean_ci(xs):
    """Mean and half-width of the 95 % t-interval (NaN half-width for n < 2)."""
    n = len(xs)
    if n == 0:
        return float("nan"), float("nan")
    m = sum(xs) / n
    if n < 2:
        return m, float("nan")
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (n - 1))
    t = T975[min(n - 1, len(T975)) - 1]
    return m, t * sd / math.sqrt(n)


def comb2(n):
    return n * (n - 1) / 2


def adjusted_rand(a, b):
    """Hubert & Arabie's ARI, as sklearn.metrics.adjusted_rand_score."""
    pairs = {}
    for x, y in zip(a, b):
        pairs[(x, y)] = pairs.get((x, y), 0) + 1
    rows, cols = {}, {}
    for (x, y), c in pairs.items():
        rows[x] = rows.get(x, 0) + c
        cols[y] = cols.get(y, 0) + c
    index = sum(comb2(c) for c in pairs.values())
    sr = sum(comb2(c) for c in rows.values())
    sc = sum(comb2(c) for c in cols.values())
    expected = sr * sc / comb2(len(a)) if len(a) > 1 else 0.0
    top = (sr + sc) / 2
    if top == expected:
        return 1.0
    return (index - expected) / (top - expected)


def read_safetensors(path, want=None):
    """Header metadata and the F32 tensors named in `want` (all if None)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        base = 8 + n
        meta = header.pop("__metadata__", {})
        tensors = {}
        for name, info in header.items():
            if want is not None and name not in want:
                continue
            if info["dtype"] != "F32":
                continue
            a, b = info["data_offsets"]
            f.seek(base + a)
            raw = f.read(b - a)
            tensors[name] = (info["shape"], struct.unpack(f"<{(b - a) // 4}f", raw))
    return meta, tensors


def run(cmd, log):
    log.write("$ " + " ".join(cmd) + "\n")
    log.flush()
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=log, text=True)
    if r.returncode != 0:
        sys.exit(f"failed ({r.returncode}): {' '.join(cmd)}; see {log.name}")
    return r.stdout


def train(cell, seeds, out, bins, log):
    name, heads, alpha, filters, fc, epochs, at = cell
    folder = os.path.join(out, name)
    stem = lambda s: f"shapes_tssbn_seed{s}.safetensors"
    if all(os.path.exists(os.path.join(folder, f"epoch{e}", stem(s))) for s in seeds for e in at + [0]):
        return None
    cmd = [bins["train"], "shapes", "--norm", "tssbn", "--heads", heads,
           "--alpha", str(alpha), "--epochs", str(epochs),
           "--save-epochs", ",".join(str(e) for e in sorted(set([0] + at))),
           "--seeds", ",".join(str(s) for s in seeds),
           "--no-optimizer-state", "--quiet", "--out", folder]
    if filters:
        cmd += ["--filters", filters]
    if fc is not None:
        cmd += ["--fc", fc]
    t0 = time.time()
    run(cmd, log)
    return (time.time() - t0) / len(seeds)


def measure(folder, seeds, bins, log, layers=None):
    paths = [os.path.join(folder, f"shapes_tssbn_seed{s}.safetensors") for s in seeds]
    groups_of = lambda tasks: [t.split("_")[0] for t in tasks]
    sel = ["--layers", layers] if layers else []
    meta, _ = read_safetensors(paths[0], want=set())
    tasks = json.loads(meta["mtl.tasks"])
    g = groups_of(tasks)
    names = sorted(set(g), key=g.index)
    truth = [names.index(x) for x in g]
    cl = json.loads(run([bins["inspect"], "cluster", *paths, "--k", str(len(names)),
                         "--format", "json", *sel], log))
    cl = cl.get("result", cl)
    per_seed = [adjusted_rand(truth, r["labels"]) for r in cl["runs"]]
    rep = [0] * len(tasks)
    for c, members in enumerate(cl["clusters"]):
        for m in members:
            rep[tasks.index(m)] = c
    st = json.loads(run([bins["inspect"], "stability", *paths, "--permutations", "0",
                         "--bootstrap", "1000", "--format", "json", *sel], log))
    st = st.get("result", st)
    ci = st.get("mean_ci") or {}
    conf = [c["confidence"] for c in cl["confidence"]]
    return {
        "mean_confidence": sum(conf) / len(conf),
        "ari_per_seed": per_seed,
        "ari_representative": adjusted_rand(truth, rep),
        "spearman_mean": st["mean"],
        "spearman_ci": [ci.get("low"), ci.get("high")],
    }


def contrast(folder, seeds):
    """Mean over seeds of (mean cosine within groups - between groups)."""
    out = []
    for s in seeds:
        meta, t = read_safetensors(os.path.join(folder, f"shapes_tssbn_seed{s}.safetensors"))
        tasks = json.loads(meta["mtl.tasks"])
        layers = json.loads(meta["mtl.layers"])
        rows = [[] for _ in tasks]
        for layer in layers:
            shape, v = t[f"{layer}.gamma"]
            f = shape[1]
            for i in range(len(tasks)):
                rows[i] += [1 / (1 + math.exp(-x)) for x in v[i * f:(i + 1) * f]]
        norm = [math.sqrt(sum(x * x for x in r)) or 1.0 for r in rows]
        g = [x.split("_")[0] for x in tasks]
        within, between = [], []
        for i in range(len(tasks)):
            for j in range(i + 1, len(tasks)):
                c = sum(a * b for a, b in zip(rows[i], rows[j])) / (norm[i] * norm[j])
                (within if g[i] == g[j] else between).append(c)
        out.append(sum(within) / len(within) - sum(between) / len(between))
    return mean_ci(out)


def f1(folder, seeds):
    xs = []
    for s in seeds:
        meta, _ = read_safetensors(os.path.join(folder, f"shapes_tssbn_seed{s}.safetensors"), want=set())
        if "mtl.test_mean_f1" in meta:
            xs.append(float(meta["mtl.test_mean_f1"]))
    return mean_ci(xs)


def fmt(m, h, digits=3):
    if m is None or (isinstance(m, float) and math.isnan(m)):
        return "–"
    if h is None or math.isnan(h):
        return f"{m:.{digits}f}"
    return f"{m:.{digits}f} ± {h:.{digits}f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="folder for the runs and the tables")
    ap.add_argument("--seeds", default="100..105", help="a..b (half-open) or a,b,c; default 100..105")
    ap.add_argument("--only", action="append", help="cell name(s) to run (default: all)")
    ap.add_argument("--per-layer", action="store_true",
                    help="also ARI and Spearman of each norm layer alone, at the last epoch")
    ap.add_argument("--bin-dir", default=os.environ.get("MTL_BIN_DIR", "target/release"))
    a = ap.parse_args()
    if ".." in a.seeds:
        lo, hi = (int(x) for x in a.seeds.split(".."))
        seeds = list(range(lo, hi))
    else:
        seeds = [int(x) for x in a.seeds.split(",")]
    bins = {"train": os.path.join(a.bin_dir, "mtl-train"),
            "inspect": os.path.join(a.bin_dir, "mtl-inspect")}
    for b in bins.values():
        if not os.access(b, os.X_OK):
            sys.exit(f"{b} not found; build it: cargo build --release -p mtl-train -p mtl-inspect --bins")
    os.makedirs(a.out, exist_ok=True)
    log = open(os.path.join(a.out, "study.log"), "a")
    results_path = os.path.join(a.out, "study.json")
    results = json.load(open(results_path)) if os.path.exists(results_path) else {}
    cells = [c for c in GRID if not a.only or c[0] in a.only]
    if a.only and len(cells) != len(a.only):
        sys.exit(f"unknown --only; cells: {', '.join(c[0] for c in GRID)}")
    for cell in cells:
        name, heads, alpha, filters, fc, epochs, at = cell
        print(f"{name}: training {len(seeds)} seeds…", file=sys.stderr, flush=True)
        secs = train(cell, seeds, a.out, bins, log)
        entry = results.get(name, {})
        if secs is not None:
            entry["seconds_per_seed"] = secs
        entry.update({"heads": heads, "alpha": alpha, "filters": filters or "24,16,16",
                      "fc": fc if fc is not None else "", "epochs": epochs, "seeds": seeds})
        entry["at"] = {}
        for e in [0] + at:
            folder = os.path.join(a.out, name, f"epoch{e}")
            m = measure(folder, seeds, bins, log)
            m["contrast"] = contrast(folder, seeds)
            if e == epochs:
                m["test_f1"] = f1(a.out + "/" + name, seeds)
            entry["at"][str(e)] = m
        if a.per_layer:
            folder = os.path.join(a.out, name, f"epoch{epochs}")
            meta, _ = read_safetensors(os.path.join(folder, f"shapes_tssbn_seed{seeds[0]}.safetensors"), want=set())
            entry["per_layer"] = {
                layer: measure(folder, seeds, bins, log, layers="^" + layer.replace(".", r"\.") + "$")
                for layer in json.loads(meta["mtl.layers"])
            }
        results[name] = entry
        json.dump(results, open(results_path, "w"), indent=1)
        print(f"{name}: done", file=sys.stderr, flush=True)
    write_tables(results, a.out)


def write_tables(results, out):
    header = ["cell", "heads", "α", "filters", "fc", "epoch", "seeds", "ARI per seed",
              "ARI representative", "mean Spearman [95 % CI]", "mean confidence",
              "cos within − between", "test F1", "s/seed"]
    rows = []
    for name, e in results.items():
        for ep, m in sorted(e["at"].items(), key=lambda kv: int(kv[0])):
            if ep == "0":
                continue
            am, ah = mean_ci(m["ari_per_seed"])
            lo, hi = m["spearman_ci"]
            sp = f"{m['spearman_mean']:.3f}" + (f" [{lo:.3f}, {hi:.3f}]" if lo is not None else "")
            cm, ch = m["contrast"]
            fm, fh = m.get("test_f1", (None, None))
            rows.append([name, e["heads"], str(e["alpha"]), e["filters"], e["fc"] or "–", ep,
                         str(len(e["seeds"])), fmt(am, ah), f"{m['ari_representative']:.3f}", sp,
                         f"{m.get('mean_confidence', float('nan')):.3f}", fmt(cm, ch), fmt(fm, fh), f"{e.get('seconds_per_seed', float('nan')):.0f}"])
    with open(os.path.join(out, "study.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    md = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    md += ["| " + " | ".join(r) + " |" for r in rows]
    per_layer = [(n, e["per_layer"]) for n, e in results.items() if "per_layer" in e]
    if per_layer:
        md += ["", "| cell | layer (alone), last epoch | ARI per seed | ARI representative | mean Spearman | mean confidence |",
               "|---|---|---|---|---|---|"]
        for n, pl in per_layer:
            for layer, m in pl.items():
                am, ah = mean_ci(m["ari_per_seed"])
                md.append(f"| {n} | {layer} | {fmt(am, ah)} | {m['ari_representative']:.3f} | "
                          f"{m['spearman_mean']:.3f} | {m.get('mean_confidence', float('nan')):.3f} |")
    open(os.path.join(out, "study.md"), "w").write("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
