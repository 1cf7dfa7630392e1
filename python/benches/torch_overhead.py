"""Overhead of ``mtl_inspect.torch.GradientRecorder`` in a training loop:
wall time of a recorded training step relative to a plain one, and the peak
memory the recorder adds.

    # full run (about 15-20 min on 2 shared CPU cores)
    nice -n 10 /work/venv-torch/bin/python python/benches/torch_overhead.py
    # smoke run (T=4, small MLP, 1 repeat; < 30 s)
    nice -n 10 /work/venv-torch/bin/python python/benches/torch_overhead.py --quick
    # a subset, raw numbers kept
    nice -n 10 /work/venv-torch/bin/python python/benches/torch_overhead.py --only mlp25M --json /tmp/overhead.json

Run from the repository root with ``mtl_inspect`` installed (its compiled
extension), torch and, for ``fast=True``, ``torchjd==0.18.0``. If the repo's
``python/mtl_inspect/torch.py`` / ``_autogram.py`` are newer than the
installed copy, copy them into the installed package first.

Model: an MLP backbone (shared) and T per-task heads ``Linear(width, 10)``
with cross-entropy, batch 64, float32, CPU, ``torch.set_num_threads(2)``,
SGD with momentum. The training loss is the mean of the task losses (the
recorder's default weights 1/T). One fixed random batch is reused (no data
loading in the timings).

* ``mlp2.6M``: backbone 512→1024→1024→1024 (ReLU), 2,624,512 shared params.
* ``mlp25M``: backbone 2048→2048 ×6 (ReLU), 25,178,112 shared params.

Plain step: forward + backward + ``opt.step()`` + ``zero_grad``.
Recorded step: the same with ``rec.record(losses, step)`` before
``backward()`` (``every=1``: every step is recorded); with ``fast=True`` the
forward and ``rec.record`` run inside ``with rec.tracking(step):``
(``record`` after the block raises: the engine is dropped when it ends).

Every configuration runs in its own subprocess, so that its peak RSS
(``getrusage(RUSAGE_SELF).ru_maxrss`` at the end) is its own; "added MiB"
is a recorder configuration's peak RSS minus that of the ``plain`` process
of the same model and T. Inside a recorder process plain and recorded
blocks of steps are timed alternately (so both see the same machine load);
the ratio is of the two medians from that process. Warm-up: one plain step
and one recorded step (two for ``fast``: the first recorded step finds the
shared parameters the plain way and runs without torchjd); the first
recorded step's time (setup included) is reported separately.

The machine these numbers come from may be shared and noisy: each cell
gives median and min–max over the repeats.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

MODELS = {
    # name: (input width, hidden widths)
    "mlp2.6M": (512, [1024, 1024, 1024]),
    "mlp25M": (2048, [2048] * 6),
    "mlp-tiny": (64, [128, 128]),
}

BATCH = 64
CLASSES = 10


def full_configs():
    c = []
    for t in (4, 40):
        c.append(dict(model="mlp2.6M", tasks=t, mode="plain", repeats=7, plain_n=10, rec_n=4 if t == 4 else 1))
        c.append(dict(model="mlp2.6M", tasks=t, mode="default", repeats=7, plain_n=10, rec_n=4 if t == 4 else 1))
        c.append(dict(model="mlp2.6M", tasks=t, mode="fast", repeats=7, plain_n=10, rec_n=4 if t == 4 else 1))
    big = dict(model="mlp25M", tasks=40, repeats=3, plain_n=2, rec_n=1)
    c.append(dict(big, mode="plain"))
    c.append(dict(big, mode="default"))
    c.append(dict(big, mode="default", max_bytes=256 << 20))
    c.append(dict(big, mode="fast"))
    return c


def quick_configs():
    base = dict(model="mlp-tiny", tasks=4, repeats=1, plain_n=5, rec_n=2)
    return [dict(base, mode="plain"), dict(base, mode="default"), dict(base, mode="fast")]


# --------------------------------------------------------------------------- worker
def worker(cfg: dict) -> dict:
    import resource

    import torch
    from torch import nn

    from mtl_inspect.torch import DEFAULT_MAX_BYTES, GradientRecorder, _groups

    torch.set_num_threads(2)
    torch.manual_seed(0)
    d_in, widths = MODELS[cfg["model"]]
    T = cfg["tasks"]

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            layers, prev = [], d_in
            for w in widths:
                layers += [nn.Linear(prev, w), nn.ReLU()]
                prev = w
            self.backbone = nn.Sequential(*layers)
            self.heads = nn.ModuleList(nn.Linear(prev, CLASSES) for _ in range(T))

        def forward(self, x):
            h = self.backbone(x)
            return [head(h) for head in self.heads]

    model = Net()
    shared_params = sum(p.numel() for p in model.backbone.parameters())
    total_params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    x = torch.randn(BATCH, d_in)
    ys = torch.randint(0, CLASSES, (T, BATCH))
    names = [f"t{i:02d}" for i in range(T)]
    ce = nn.functional.cross_entropy

    def losses_of():
        outs = model(x)
        return {n: ce(o, ys[i]) for i, (n, o) in enumerate(zip(names, outs))}

    def finish(losses):
        loss = sum(losses.values()) / T
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    def plain_step():
        finish(losses_of())

    mode = cfg["mode"]
    max_bytes = cfg.get("max_bytes", DEFAULT_MAX_BYTES)
    rec = None
    step_no = [0]
    if mode != "plain":
        rec = GradientRecorder(model, every=1, max_bytes=max_bytes, fast=(mode == "fast"))

    def rec_step():
        s = step_no[0]
        step_no[0] += 1
        if rec.fast:
            # record() must run inside the block too: tracking() drops the
            # engine when the block ends (torch.py, tracking()'s finally).
            with rec.tracking(s):
                losses = losses_of()
                assert rec.record(losses, s)
        else:
            losses = losses_of()
            assert rec.record(losses, s)
        finish(losses)

    def block(f, n):
        t0 = time.perf_counter()
        for _ in range(n):
            f()
        return (time.perf_counter() - t0) / n * 1e3

    res = dict(cfg, shared_params=shared_params, total_params=total_params, torch=torch.__version__)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    plain_step()  # warm-up
    if rec is not None:
        t0 = time.perf_counter()
        rec_step()  # first recorded step: finds the shared parameters
        res["first_rec_ms"] = (time.perf_counter() - t0) * 1e3
        if rec.fast:
            rec_step()  # first step that runs torchjd's engine
        sp = [p for _, p in rec.shared]
        res["shared_found"] = sum(p.numel() for p in sp)
        res["groups"] = len(_groups(sp, T, max_bytes)) if not rec.fast else None
    plain, recd = [], []
    for _ in range(cfg["repeats"]):
        plain.append(block(plain_step, cfg["plain_n"]))
        if rec is not None:
            recd.append(block(rec_step, cfg["rec_n"]))
    res["plain_ms"] = plain
    res["rec_ms"] = recd
    if rec is not None:
        with tempfile.TemporaryDirectory() as d:
            t0 = time.perf_counter()
            rec.save(os.path.join(d, "run.json"))
            res["save_ms"] = (time.perf_counter() - t0) * 1e3
        res["batches"] = rec.batches
    res["rss_start_mib"] = rss0
    res["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return res


# --------------------------------------------------------------------------- driver
def label(c: dict) -> str:
    s = f"{c['model']} {c['mode']}"
    if c["mode"] == "default":
        mb = c.get("max_bytes")
        s += " (max_bytes=1GiB)" if mb is None else f" (max_bytes={mb >> 20}MiB)"
    return s


def fmt(xs):
    if not xs:
        return "—"
    m = statistics.median(xs)
    if len(xs) == 1:
        return f"{m:.1f}"
    return f"{m:.1f} ({min(xs):.1f}–{max(xs):.1f})"


def fmt_params(n):
    return f"{n / 1e6:.2f} M"


def run_one(cfg: dict) -> dict:
    t0 = time.perf_counter()
    p = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--worker", json.dumps(cfg)],
        capture_output=True,
        text=True,
    )
    if p.returncode != 0:
        sys.stderr.write(p.stderr)
        raise SystemExit(f"configuration {cfg} failed (exit {p.returncode})")
    if p.stderr.strip():
        sys.stderr.write(f"[{label(cfg)} T={cfg['tasks']}] stderr:\n{p.stderr}")
    res = json.loads(p.stdout.strip().splitlines()[-1])
    res["wall_s"] = time.perf_counter() - t0
    return res


def table(results):
    base = {(r["model"], r["tasks"]): r for r in results if r["mode"] == "plain"}
    lines = [
        "| config | T | shared params | plain step ms | recorded step ms | ratio (median; min–max) | ratio of mins | peak RSS MiB | added MiB | backward passes / rec. step | first rec. step ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        b = base.get((r["model"], r["tasks"]))
        added = "—"
        if r["mode"] != "plain" and b is not None:
            added = f"{r['peak_rss_mib'] - b['peak_rss_mib']:.0f}"
        ratio = rmin = "—"
        if r["rec_ms"]:
            rmin = f"{min(r['rec_ms']) / min(r['plain_ms']):.1f}×"
            pm = statistics.median(r["plain_ms"])
            rs = [x / pm for x in r["rec_ms"]]
            ratio = f"{statistics.median(r['rec_ms']) / pm:.1f}× ({min(rs):.1f}–{max(rs):.1f})"
        if r["mode"] == "plain":
            passes = "1"
        elif r["mode"] == "fast":
            passes = "1 + 1 vmapped over T"
        else:
            passes = f"1 + {r['groups']}×{r['tasks']} = {1 + r['groups'] * r['tasks']}"
        lines.append(
            f"| {label(r)} | {r['tasks']} | {fmt_params(r['shared_params'])} | {fmt(r['plain_ms'])} | {fmt(r['rec_ms'])} | "
            f"{ratio} | {rmin} | {r['peak_rss_mib']:.0f} | {added} | {passes} | "
            f"{r.get('first_rec_ms', 0):.0f} |".replace("| 0 |", "| — |")
        )
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: T=4, small MLP, 1 repeat")
    ap.add_argument("--only", help="run only configurations whose model name contains this")
    ap.add_argument("--json", help="also write the raw results here")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        print(json.dumps(worker(json.loads(a.worker))))
        return
    configs = quick_configs() if a.quick else full_configs()
    if a.only:
        configs = [c for c in configs if a.only in c["model"]]
    t0 = time.perf_counter()
    results = []
    for c in configs:
        r = run_one(c)
        print(f"  done: {label(r)} T={r['tasks']} in {r['wall_s']:.1f} s", file=sys.stderr, flush=True)
        if a.json:
            with open(a.json, "w") as f:
                json.dump(results + [r], f, indent=1)
        results.append(r)
    print(
        f"torch {results[0]['torch']}, {os.cpu_count()} CPUs (torch.set_num_threads(2)), batch {BATCH}, float32; "
        f"times in ms per step, median (min–max) over repeats; the machine may be shared and noisy\n"
    )
    print(table(results))
    print(f"\ntotal wall time: {time.perf_counter() - t0:.0f} s")
    saves = [f"{label(r)} T={r['tasks']}: {r['save_ms']:.0f} ms" for r in results if "save_ms" in r]
    if saves:
        print("rec.save(): " + "; ".join(saves))
    print(
        "ratio: median recorded / median plain step of the same process (the min–max divides each repeat by that "
        "median plain step); ratio of mins: fastest recorded / fastest plain block, the least load-sensitive estimate"
    )
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
