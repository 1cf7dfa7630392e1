#!/usr/bin/env python3
"""HPS trained by LibMTL's own Trainer against `mtl-train shapes --norm bn`,
on the same data (issue 22; training/README.md, "HPS against LibMTL").
Run by hand, never in CI. Needs torch, torchvision, LibMTL 1.1.5, scipy and
numpy (three shims below make LibMTL 1.1.5 run with today's torch and torchvision).

    mtl-train shapes --export /tmp/shapes-export            # data seed 0, the defaults
    mtl-train shapes --norm bn --seeds 0..3 --no-optimizer-state --out /tmp/hps-mtl
    for s in 0 1 2; do mtl-train diagnose /tmp/hps-mtl/shapes_bn_seed$s.safetensors \\
        --batches 16 --out /tmp/hps-mtl/diag_seed$s.json; done
    python training/scripts/libmtl_compare.py --data /tmp/shapes-export --seeds 0,1,2 \\
        --out /tmp/hps-libmtl --mtl-train /tmp/hps-mtl

Each LibMTL seed writes `<out>/libmtl_seed<s>.json` and is skipped when that
file exists (resumable); the table is printed from the files at the end.

The LibMTL side mirrors mtl-train's shapes defaults:
  network   LibMTL `HPS` with the shapes-cnn encoder: 3×3 convs without bias,
            padding 1: 3→24 stride 2, 24→16 (then 2×2 max pool), 16→16 (then
            pool), each conv followed by BatchNorm2d (eps 1e-5, momentum 0.1,
            affine) and ReLU; global average pooling; one Linear(16, 1) head
            per task. Convs keep PyTorch's default init, U(±1/√fan_in), the
            same distribution as mtl-train's. Heads `tied` (mtl-train's
            shapes default): every head starts from the same random row,
            bias 0; `--heads independent` keeps PyTorch's default per head.
  training  Adam lr 1e-3, weight decay 0, batch 32, 3 epochs, shuffled each
            epoch with the last short batch dropped, every parameter (BN
            included) in one group at the base lr: what mtl-train does for
            `--norm bn` since issue 22.
  loss      BCE with logits per task. LibMTL's `EW` sums the task losses with
            weight 1 each; each task's loss here is BCE / T, so EW's sum is
            mtl-train's mean over tasks and the gradients are the same.
  selection the epoch with the best mean validation F1 (strictly better; ties
            keep the earlier), its test F1 reported: mtl-train's
            `best_val_mean_f1`. F1 of the positive class at logit 0 (0 when
            a task has no positives and none predicted).
  conflict  mtl-train diagnose's definition: on the first K training batches
            of an order shuffled with its own seed (a different order from
            diagnose's, same distribution), in training mode (batch
            statistics; running statistics restored afterwards), the
            per-task gradients g_t = ∇(L_t / T) of the shared weights — the
            three conv weights, not BN's affine parameters, as diagnose's
            shared ops — concatenated; cos(g_i, g_j) for every pair i < j
            and batch, pooled: population std and share < 0.

LibMTL is used as released: `Trainer` is subclassed (`CpuTrainer`) to run
on the CPU and to fetch batches with next(iterator), the two shims
LIBMTL.md describes, plus a `test` override that records the per-task F1
the F1 metric computed; `torchvision.models.utils` is registered in
sys.modules before LibMTL is imported. Nothing of LibMTL's code is changed.
"""
import argparse
import json
import os
import struct
import sys
import time
import types

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# LIBMTL.md fix 1: LibMTL imports a module torchvision removed.
_shim = types.ModuleType("torchvision.models.utils")
_shim.load_state_dict_from_url = torch.hub.load_state_dict_from_url
sys.modules["torchvision.models.utils"] = _shim

from LibMTL import Trainer  # noqa: E402
from LibMTL.architecture import HPS  # noqa: E402
from LibMTL.loss import AbsLoss  # noqa: E402
from LibMTL.metrics import AbsMetric  # noqa: E402
from LibMTL.weighting import EW  # noqa: E402

CONVS = [(24, 2, False), (16, 1, True), (16, 1, True)]  # models/mod.rs ShapesCnn


class ShapesEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        layers, c_in = [], 3
        for out, stride, pool in CONVS:
            layers += [nn.Conv2d(c_in, out, 3, stride=stride, padding=1, bias=False),
                       nn.BatchNorm2d(out), nn.ReLU()]
            if pool:
                layers.append(nn.MaxPool2d(2))
            c_in = out
        self.features = nn.Sequential(*layers)

    def forward(self, x):
        return self.features(x).mean(dim=(2, 3))

    def shared_weights(self):
        """The conv weights: diagnose's shared ops."""
        return [m.weight for m in self.features if isinstance(m, nn.Conv2d)]


class ScaledBce(AbsLoss):
    """BCE with logits over the batch, divided by T (see the docstring)."""

    def __init__(self, tasks):
        super().__init__()
        self.tasks = tasks

    def compute_loss(self, pred, gt):
        return F.binary_cross_entropy_with_logits(pred.squeeze(-1), gt) / self.tasks


class F1Metric(AbsMetric):
    """F1 of the positive class at logit 0, over the whole split."""

    def __init__(self):
        super().__init__()
        self.last = None

    def update_fun(self, pred, gt):
        p = pred.squeeze(-1) > 0
        y = gt > 0.5
        self.record.append([int((p & y).sum()), int((p & ~y).sum()), int((~p & y).sum())])
        self.bs.append(pred.size(0))

    def score_fun(self):
        tp, fp, fn = np.sum(self.record, axis=0) if self.record else (0, 0, 0)
        d = 2 * tp + fp + fn
        # numpy float: LibMTL's improvement count divides by the epoch-0
        # score, which may be 0 (inf, not an exception).
        self.last = np.float64(0.0 if d == 0 else 2 * tp / d)
        return [self.last]


class CpuTrainer(Trainer):
    """LIBMTL.md fix 3: the CPU instead of cuda:0, next(iterator); and the
    per-epoch F1 of every task, recorded after LibMTL's own test pass."""

    def _prepare_model(self, *args, **kwargs):
        self.device = torch.device("cpu")
        self.history = {"val": [], "test": []}
        super()._prepare_model(*args, **kwargs)

    def _process_data(self, loader):
        try:
            data, label = next(loader[1])
        except StopIteration:
            loader[1] = iter(loader[0])
            data, label = next(loader[1])
        return data, label

    def test(self, test_dataloaders, epoch=None, mode="test"):
        super().test(test_dataloaders, epoch, mode)
        self.history[mode].append([float(self.meter.metrics[t].last) for t in self.task_name])


class Split(torch.utils.data.Dataset):
    def __init__(self, x, y, tasks):
        self.x = torch.from_numpy(x)
        self.y = torch.from_numpy(y)
        self.tasks = tasks

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], {t: self.y[i, k] for k, t in enumerate(self.tasks)}


def conflict(model, encoder, loader_x, loader_y, batches, tasks, seed):
    """Pooled cos(g_i, g_j) over pairs and batches (diagnose's overall scope)."""
    saved = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(loader_x), generator=g)
    bs = a.batch_size
    cos = []
    params = encoder.shared_weights()
    for b in range(batches):
        idx = order[b * bs:(b + 1) * bs]
        x, y = loader_x[idx], loader_y[idx]
        out = model(x)
        per = [F.binary_cross_entropy_with_logits(out[t].squeeze(-1), y[:, k]) / len(tasks)
               for k, t in enumerate(tasks)]
        gs = []
        for lt in per:
            gr = torch.autograd.grad(lt, params, retain_graph=True)
            gs.append(torch.cat([v.reshape(-1) for v in gr]).double())
        G = torch.stack(gs)
        n = G.norm(dim=1)
        for i in range(len(tasks)):
            for j in range(i + 1, len(tasks)):
                if n[i] > 0 and n[j] > 0:
                    cos.append(float(G[i] @ G[j] / (n[i] * n[j])))
    model.load_state_dict(saved)
    c = np.array(cos)
    return {"std": float(c.std()), "share_negative": float((c < 0).mean()), "mean": float(c.mean()),
            "n": int(len(c))}


def run_seed(seed, data, tasks):
    torch.manual_seed(seed)
    np.random.seed(seed)
    T = len(tasks)
    task_dict = {t: {"metrics": ["F1"], "metrics_fn": F1Metric(), "loss_fn": ScaledBce(T), "weight": [1]}
                 for t in tasks}
    decoders = nn.ModuleDict({t: nn.Linear(CONVS[-1][0], 1) for t in tasks})
    if a.heads == "tied":
        with torch.no_grad():
            row = decoders[tasks[0]].weight.clone()
            for t in tasks:
                decoders[t].weight.copy_(row)
                decoders[t].bias.zero_()
    trainer = CpuTrainer(task_dict=task_dict, weighting=EW, architecture=HPS,
                         encoder_class=ShapesEncoder, decoders=decoders, rep_grad=False,
                         multi_input=False,
                         optim_param={"optim": "adam", "lr": a.lr, "weight_decay": a.weight_decay},
                         scheduler_param=None, weight_args={}, arch_args={})
    gen = torch.Generator().manual_seed(seed)
    loaders = {s: torch.utils.data.DataLoader(Split(data[f"{s}_images"], data[f"{s}_labels"], tasks),
                                              batch_size=a.batch_size if s == "train" else 256,
                                              shuffle=(s == "train"), drop_last=(s == "train"),
                                              generator=gen if s == "train" else None)
               for s in ("train", "val", "test")}
    t0 = time.time()
    trainer.train(loaders["train"], loaders["test"], a.epochs, val_dataloaders=loaders["val"])
    train_s = time.time() - t0
    val = [float(np.mean(v)) for v in trainer.history["val"]]
    best = 0
    for e, v in enumerate(val):
        if v > val[best]:
            best = e
    # The model of the last epoch is at hand; the conflict is measured
    # there, and on the best epoch only when that is the last (as in every
    # run here, reported).
    conf = conflict(trainer.model, trainer.model.encoder, torch.from_numpy(data["train_images"]),
                    torch.from_numpy(data["train_labels"]), a.conflict_batches, tasks, seed)
    return {"seed": seed, "best_epoch": best + 1, "epochs": a.epochs, "val_mean_f1": val,
            "test_f1": dict(zip(tasks, trainer.history["test"][best])),
            "test_mean_f1": float(np.mean(trainer.history["test"][best])),
            "last_epoch_test_mean_f1": float(np.mean(trainer.history["test"][-1])),
            "conflict_at_last_epoch": conf, "train_seconds": train_s,
            "torch": torch.__version__, "threads": torch.get_num_threads()}


def mean_ci(v):
    """Mean and 95 % t half-width."""
    from scipy import stats
    v = np.asarray(v, dtype=float)
    if len(v) < 2:
        return float(v.mean()), float("nan")
    h = stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))
    return float(v.mean()), float(h)


def fmt(v, d=3):
    m, h = mean_ci(v)
    return f"{m:.{d}f} ± {h:.{d}f}"


def read_meta(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n))["__metadata__"]


def mtl_side(d, seeds, tasks):
    rows = []
    for s in seeds:
        m = read_meta(os.path.join(d, f"shapes_bn_seed{s}.safetensors"))
        tm = json.loads(m["mtl.test_metrics"])
        r = {"seed": s, "test_f1": {t: tm[t]["f1"] for t in tasks}, "test_mean_f1": float(m["mtl.test_mean_f1"]),
             "best_epoch": int(m["mtl.best_epoch"])}
        dj = os.path.join(d, f"diag_seed{s}.json")
        if os.path.exists(dj):
            g = json.load(open(dj))["gradients"]["scopes"][0]
            assert g["scope"] == "overall"
            p = g["conflict"]["pooled"]
            r["conflict"] = {"std": p["std"], "share_negative": p["share_negative"]}
        rows.append(r)
    return rows


def table(lib, mtl, tasks):
    sides = [("LibMTL HPS + EW", lib)] + ([("mtl-train bn", mtl)] if mtl else [])
    out = ["| task | " + " | ".join(n for n, _ in sides) + " |", "|---|" + "---|" * len(sides)]
    for t in tasks:
        out.append(f"| {t} | " + " | ".join(fmt([r["test_f1"][t] for r in rs]) for _, rs in sides) + " |")
    out.append("| **mean test F1** | " + " | ".join(f"**{fmt([r['test_mean_f1'] for r in rs])}**"
                                              for _, rs in sides) + " |")
    out.append("| best epoch (per seed) | " + " | ".join(",".join(str(r["best_epoch"]) for r in rs)
                                                       for _, rs in sides) + " |")

    def conf(rs, key, side):
        c = [r["conflict_at_last_epoch" if side == 0 else "conflict"][key] for r in rs
             if ("conflict_at_last_epoch" if side == 0 else "conflict") in r]
        return fmt(c) if c else "—"
    out.append("| std of cos(g_i, g_j), all shared conv weights | " + " | ".join(
        conf(rs, "std", i) for i, (_, rs) in enumerate(sides)) + " |")
    out.append("| share of pairs × batches with cos < 0 | " + " | ".join(
        conf(rs, "share_negative", i) for i, (_, rs) in enumerate(sides)) + " |")
    return "\n".join(out)


def main():
    global a
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="folder written by `mtl-train shapes --export`")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--out", required=True, help="folder for libmtl_seed<s>.json")
    ap.add_argument("--mtl-train", help="folder of `mtl-train shapes --norm bn` runs (+ diag_seed<s>.json)")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--weight-decay", type=float, default=0.0)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--heads", choices=["tied", "independent"], default="tied")
    ap.add_argument("--conflict-batches", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    seeds = [int(s) for s in a.seeds.split(",")]
    data = np.load(os.path.join(a.data, "shapes.npz"))
    tasks = [str(t) for t in data["tasks"]]
    os.makedirs(a.out, exist_ok=True)
    lib = []
    for s in seeds:
        path = os.path.join(a.out, f"libmtl_seed{s}.json")
        if not os.path.exists(path):
            print(f"LibMTL seed {s} …", file=sys.stderr, flush=True)
            r = run_seed(s, data, tasks)
            with open(path + ".tmp", "w") as f:
                json.dump(r, f, indent=1)
            os.replace(path + ".tmp", path)
        lib.append(json.load(open(path)))
    mtl = mtl_side(a.mtl_train, seeds, tasks) if a.mtl_train else None
    print(f"\nseeds {seeds}; mean ± 95 % t-interval over seeds; LibMTL train time per seed "
          f"{np.mean([r['train_seconds'] for r in lib]):.0f} s ({lib[0]['threads']} threads, torch {lib[0]['torch']})\n")
    print(table(lib, mtl, tasks))


if __name__ == "__main__":
    main()
