"""The PyTorch recorder (`mtl_inspect.torch`): its file equals `mtl-train
diagnose`'s on the same checkpoints and batches (float64, through the
PyTorch twin `shapes_twin.py`), it leaves the user's `.grad` alone, the norm
identity holds, bad gradients are named, and a LibMTL model's file is drawn
by `mtl-inspect report` (opened in Chromium).

Needs torch (skipped without it); the comparison with mtl-train needs
`$MTL_TRAIN_BIN` (CI sets it to the binary `cargo test` built; skipped
without it), the report test the `mtl-inspect` binary (conftest) and
Chromium (skipped without it, failed without it under `CI`).
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from mtl_inspect.torch import GradientRecorder, diagnose, find_shared  # noqa: E402

from conftest import ROOT, cli_binary  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
import shapes_twin  # noqa: E402

REL = 1e-6


def mtl_train_bin() -> Path:
    b = os.environ.get("MTL_TRAIN_BIN")
    if not b:
        pytest.skip("MTL_TRAIN_BIN is not set (the mtl-train binary, e.g. target/debug/mtl-train)")
    return Path(b)


def close(a, b, where: str) -> None:
    """Every number of `a` and `b` equal to REL relative (absolute below
    1e-9: exact zeros and values rounded to zero)."""
    if isinstance(a, dict):
        assert set(a) == set(b), f"{where}: keys {sorted(set(a) ^ set(b))}"
        for k in a:
            close(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), f"{where}: lengths {len(a)} vs {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            close(x, y, f"{where}[{i}]")
    elif isinstance(a, float) or isinstance(b, float):
        assert a is not None and b is not None, f"{where}: {a} vs {b}"
        assert abs(a - b) <= REL * max(abs(a), abs(b)) + 1e-9, f"{where}: {a} vs {b}"
    else:
        assert a == b, f"{where}: {a!r} vs {b!r}"


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("norm", ["tssbn", "bn"])
def test_recorder_equals_mtl_train_diagnose_in_float64(tmp_path, norm):
    ckpt = ROOT / "fixtures" / "shapes" / f"shapes_{norm}_seed0.safetensors"
    ref = tmp_path / "ref.json"
    batches = tmp_path / "batches.safetensors"
    subprocess.run(
        [str(mtl_train_bin()), "diagnose", str(ckpt), "--batches", "3", "--dtype", "f64",
         "--no-pruning", "--save-batches", str(batches), "--out", str(ref)],
        check=True, capture_output=True, text=True,
    )
    want = json.loads(ref.read_text())

    from safetensors.torch import load_file

    data = load_file(str(batches))
    model, tasks = shapes_twin.load_mtl_train(ckpt, dtype=torch.float64)
    assert tasks == want["tasks"]
    model.train()  # batch statistics, as mtl-train diagnose
    shared = [layer["name"] for layer in want["shared_layers"]]

    def loss_fn(m, b):
        x = data[f"batch.{b}.images"].to(torch.float64)
        y = data[f"batch.{b}.labels"].to(torch.float64)
        return shapes_twin.task_losses(m(x), y, tasks)

    out = tmp_path / "rec.json"
    diagnose(model, range(3), loss_fn, shared=shared, out=out)  # weights: 1/T, mtl-train's
    got = json.loads(out.read_text())

    assert got["schema"] == want["schema"] and got["schema_version"] == want["schema_version"]
    assert [s["name"] for s in got["shared_layers"]] == shared
    g, w = got["gradients"], want["gradients"]
    assert g["batches"] == w["batches"] == 3
    assert "steps" not in g  # batches of one checkpoint, not a training run
    close(g["task_loss_mean"], w["task_loss_mean"], "task_loss_mean")
    for s_got, s_want in zip(g["scopes"], w["scopes"], strict=True):
        # The identity residual is rounding noise (1e-16 vs 1e-15): compared below.
        s_got.pop("norm_identity_max_rel_error")
        s_want.pop("norm_identity_max_rel_error")
        close(s_got, s_want, f"scope {s_want['scope']}")
    assert g["checks"]["norm_identity_max_rel_error"] < 1e-12
    # The per-batch CSVs (8 significant digits) too.
    for kind in ("conflict", "tasks"):
        rows_got = read_csv(tmp_path / f"rec.{kind}.csv")
        rows_want = read_csv(tmp_path / f"ref.{kind}.csv")
        assert len(rows_got) == len(rows_want) > 0
        for i, (a, b) in enumerate(zip(rows_got, rows_want)):
            assert a.keys() == b.keys()
            for k in a:
                if k in ("batch", "task", "task_a", "task_b", "scope"):
                    assert a[k] == b[k], f"{kind}.csv row {i} {k}"
                elif a[k] == "" or b[k] == "":
                    assert a[k] == b[k], f"{kind}.csv row {i} {k}: {a[k]!r} vs {b[k]!r}"
                else:
                    x, y = float(a[k]), float(b[k])
                    assert abs(x - y) <= REL * max(abs(x), abs(y)) + 1e-12, f"{kind}.csv row {i} {k}: {x} vs {y}"


class ThreeHeads(nn.Module):
    """A shared MLP trunk and one linear head per task."""

    def __init__(self, tasks: int = 3, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.trunk = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU())
        self.heads = nn.ModuleList([nn.Linear(16, 1) for _ in range(tasks)])

    def forward(self, x):
        h = self.trunk(x)
        return [head(h).squeeze(-1) for head in self.heads]


def losses_of(model, x, ys):
    return {f"t{i}": ((o - y) ** 2).mean() for i, (o, y) in enumerate(zip(model(x), ys))}


def batch(seed: int, tasks: int = 3):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(32, 8, generator=g), [torch.randn(32, generator=g) for _ in range(tasks)]


def train(record: bool, steps: int = 4):
    model = ThreeHeads()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    rec = GradientRecorder(model, every=2) if record else None
    grads = []
    for step in range(steps):
        x, ys = batch(step)
        losses = losses_of(model, x, ys)
        if rec is not None:
            rec.record(losses, step)
        (sum(losses.values()) / 3).backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})
        opt.step()
        opt.zero_grad()
    return model, grads, rec


def test_grad_and_training_are_unchanged_by_the_recorder(tmp_path):
    m0, g0, _ = train(record=False)
    m1, g1, rec = train(record=True)
    for a, b in zip(g0, g1):
        for n in a:
            assert torch.equal(a[n], b[n]), n
    for (n, p), (_, q) in zip(m0.state_dict().items(), m1.state_dict().items()):
        assert torch.equal(p, q), n  # weights and BatchNorm statistics
    # Found shared: the trunk's parameters, not the heads.
    assert [n for n, _ in rec.shared] == [n for n, _ in m1.trunk.named_parameters(prefix="trunk")]
    assert rec.batches == 2
    path = rec.save(tmp_path / "rec.json")
    d = json.loads(Path(path).read_text())
    assert d["gradients"]["steps"] == [0, 2]
    assert d["gradients"]["over_steps"]["step"] == [0, 2]
    assert d["checkpoint"]["model"] == "ThreeHeads"


def test_norm_identity_on_every_batch_and_scope(tmp_path):
    _, _, rec = train(record=True, steps=6)
    rec.save(tmp_path / "r.json")
    rows = read_csv(tmp_path / "r.tasks.csv")
    groups = {}
    for r in rows:
        groups.setdefault((r["batch"], r["scope"]), []).append(r)
    assert len(groups) == 3 * (1 + len(rec.shared))
    for key, rs in groups.items():
        agg = float(rs[0]["aggregate_norm"])
        lhs = sum(float(r["norm"]) * float(r["cos_with_aggregate"]) for r in rs)
        assert abs(lhs - agg) <= 1e-6 * agg, key


def test_weights_scale_the_task_gradients():
    model = ThreeHeads()
    x, ys = batch(0)
    rec1 = GradientRecorder(model)
    rec1.record(losses_of(model, x, ys), 0)
    rec2 = GradientRecorder(model, weights={"t0": 2.0, "t1": 1.0, "t2": 1.0})
    rec2.record(losses_of(model, x, ys), 0)
    g1, g2 = rec1._grams[0].sum(0), rec2._grams[0].sum(0)
    # Default 1/3 per task: task 0's weight 2 is 6× the default (float32 model:
    # the scaled backward rounds differently, hence 1e-5).
    assert math.isclose(g2[0, 0], 36 * g1[0, 0], rel_tol=1e-5)
    assert math.isclose(g2[1, 1], 9 * g1[1, 1], rel_tol=1e-5)


def test_zero_gradient_is_null_with_a_warning_naming_task_and_tensor(tmp_path):
    model = ThreeHeads()
    x, ys = batch(1)
    losses = losses_of(model, x, ys)
    losses["t2"] = losses["t2"] * 0.0  # reaches the trunk, but with a zero gradient
    rec = GradientRecorder(model, shared=["trunk.0.weight", "trunk.3.weight"])
    with pytest.warns(RuntimeWarning, match=r"\['t2'\].*trunk\.0\.weight"):
        rec.record(losses, 0)
    rec.save(tmp_path / "z.json")
    text = (tmp_path / "z.json").read_text()
    assert "NaN" not in text and "nan" not in text
    d = json.loads(text)
    overall = d["gradients"]["scopes"][0]
    assert overall["conflict"]["pairs"]["mean"][0][2] is None
    assert overall["avgnorm_weight"]["mean"][2] is None
    assert overall["conflict"]["pooled"]["undefined"] == 2


def test_nonfinite_gradient_is_refused_naming_task_and_tensor():
    model = ThreeHeads()
    x, ys = batch(2)
    losses = losses_of(model, x, ys)
    # A finite loss whose gradient is not: sqrt at 0 has an infinite slope.
    losses["t1"] = losses["t1"] + torch.sqrt(model.trunk[0].weight[0, 0] * 0.0)
    rec = GradientRecorder(model, shared=["trunk.0.weight", "trunk.3.weight"])
    with pytest.raises(FloatingPointError, match=r"task 't1' on shared parameter 'trunk\.0\.weight'"):
        rec.record(losses, 0)
    assert rec.batches == 0
    skip = GradientRecorder(model, shared=["trunk.0.weight"], on_nonfinite="skip")
    assert skip.record(losses, 0) is False
    assert skip.skipped and "t1" in skip.skipped[0][1]


def test_nonfinite_loss_is_refused_or_skipped():
    model = ThreeHeads()
    x, ys = batch(4)
    losses = losses_of(model, x, ys)
    losses["t0"] = losses["t0"] * float("nan")
    with pytest.raises(FloatingPointError, match=r"loss of task\(s\) \['t0'\] is not finite"):
        GradientRecorder(model).record(losses, 7)
    rec = GradientRecorder(model, on_nonfinite="skip")
    assert rec.record(losses, 7) is False
    assert rec.skipped == [(7, "the loss of task(s) ['t0'] is not finite")]
    rec.record(losses_of(model, x, ys), 8)
    assert rec.batches == 1


def test_bad_calls_say_what_to_do():
    model = ThreeHeads()
    x, ys = batch(3)
    losses = losses_of(model, x, ys)
    sum(losses.values()).backward()
    rec = GradientRecorder(model)
    with pytest.raises(RuntimeError, match="before loss.backward"):
        rec.record(losses, 0)
    with pytest.raises(ValueError, match="no parameter 'nope'"):
        GradientRecorder(model, shared=["nope"]).record(losses_of(model, x, ys), 0)
    with pytest.raises(ValueError, match="every must be a positive integer"):
        GradientRecorder(model, every=0)
    with pytest.raises(ValueError, match="nothing recorded"):
        GradientRecorder(model).save("x.json")
    rec = GradientRecorder(model)
    rec.record(losses_of(model, x, ys), 0)
    with pytest.raises(ValueError, match=r"missing \['t2'\]"):
        rec.record({k: v for k, v in losses_of(model, x, ys).items() if k != "t2"}, 1)


def test_find_shared_skips_stacked_per_task_tensors():
    """A [T, F] head tensor is reached by every task's loss but each task's
    gradient lies in its own row: not shared."""

    class Stacked(nn.Module):
        def __init__(self):
            super().__init__()
            self.trunk = nn.Linear(4, 6)
            self.heads = nn.Parameter(torch.randn(3, 6))

        def forward(self, x):
            return torch.relu(self.trunk(x)) @ self.heads.T

    m = Stacked()
    out = m(torch.randn(10, 4))
    losses = {f"t{t}": out[:, t].pow(2).mean() for t in range(3)}
    assert [n for n, _ in find_shared(m, losses)] == ["trunk.weight", "trunk.bias"]


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return name
    return None


def test_libmtl_model_file_is_drawn_by_the_report(tmp_path):
    pytest.importorskip("scipy")
    import libmtl_setup

    rec_box = {}

    def on_losses(losses, step):
        if "rec" not in rec_box:
            # LibMTL's EW backpropagates sum_t L_t: weight 1 per task.
            rec_box["rec"] = GradientRecorder(
                trainer.model, every=4, weights={t: 1.0 for t in losses}, architecture="HPS (LibMTL)"
            )
        rec_box["rec"].record(losses, step)

    trainer = libmtl_setup.build_trainer(on_losses=on_losses)
    train_loader, test_loader = libmtl_setup.make_loaders()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.train(train_loader, test_loader, epochs=2)
    rec = rec_box["rec"]
    shared = [n for n, _ in rec.shared]
    assert shared == ["encoder." + n for n in libmtl_setup.shared_parameters(trainer)]
    assert rec.batches == 6  # 24 steps, every 4th
    diag = tmp_path / "libmtl_hps.json"
    rec.save(diag)

    report = tmp_path / "report"
    run = subprocess.run(
        [str(cli_binary()), "report", "fixtures/shapes/shapes_tssbn_seed0.safetensors",
         "--diagnostics", str(diag), "--out", str(report)],
        capture_output=True, text=True, cwd=ROOT,
    )
    assert run.returncode == 0, run.stderr
    index = (report / "index.html").read_text()
    assert "HPS (LibMTL)" in index
    assert "conflict-steps-libmtl-hps.svg" in index or "conflict-steps-libmtl_hps.svg" in index
    steps_csv = read_csv(report / "conflict-steps.csv")
    assert [int(r["step"]) for r in steps_csv] == [0, 4, 8, 12, 16, 20]

    browser = chromium()
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing under CI")
        pytest.skip("Chromium is not installed")
    shot = tmp_path / "page.png"
    page = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000",
         "--window-size=1280,1600", f"--screenshot={shot}", "--dump-dom",
         (report / "index.html").as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    assert page.returncode == 0, page.stderr[-2000:]
    assert "Task-gradient conflict over training" in page.stdout or "conflict-steps" in page.stdout


def test_fast_path_records_the_same_grams():
    pytest.importorskip("torchjd")
    model = ThreeHeads()
    plain = GradientRecorder(model, every=1)
    fast = GradientRecorder(model, every=1, fast=True)
    for step in range(3):
        x, ys = batch(10 + step)
        plain.record(losses_of(model, x, ys), step)
        with fast.tracking(step):
            fast.record(losses_of(model, x, ys), step)
    assert [n for n, _ in fast.shared] == [n for n, _ in plain.shared]
    import numpy as np

    for a, b in zip(plain._grams, fast._grams):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-12)
    # record outside the block: the engine is gone, and the message says so.
    with fast.tracking(3):
        x, ys = batch(20)
        losses = losses_of(model, x, ys)
    with pytest.raises(RuntimeError, match="inside `with rec.tracking"):
        fast.record(losses, 3)


def test_groups_bound_memory_without_a_group_per_bias():
    from mtl_inspect.torch import _groups

    # Two 4 MiB weights with biases, T = 1: a bound below one weight puts
    # each weight in its own group, its bias with it.
    ps = [torch.empty(1 << 20), torch.empty(16), torch.empty(1 << 20), torch.empty(16)]
    assert _groups(ps, 1, 1 << 20) == [[0, 1], [2, 3]]
    assert _groups(ps, 1, 1 << 30) == [[0, 1, 2, 3]]
