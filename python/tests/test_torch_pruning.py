"""`mtl_inspect.torch.pruning_impact` on the PyTorch twin equals `mtl-train
diagnose`'s pruning matrices (paper 000 Fig. 4 right) on the same TSσBN
checkpoint and test split, in float64: the same filters removed per task
and ranking, the same F1 drops, diagonal shares and permutation p-values.
A tiny checkpoint is trained for the test (4 tasks, seconds).

Needs torch, safetensors and `$MTL_TRAIN_BIN` (skipped without them).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from mtl_inspect.torch import GradientRecorder, pruning_impact  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
import shapes_twin  # noqa: E402
from test_shapes_twin import export_args, metadata  # noqa: E402

TINY = ["shapes", "--tasks", "4", "--groups", "2", "--train-size", "64", "--val-size", "32",
        "--test-size", "64", "--batch-size", "16", "--epochs", "1", "--quiet"]


def f1_scores(model, images, labels, tasks):
    with torch.no_grad():
        z = model(images)
    pred, y = z > 0, labels > 0.5
    out = {}
    for t, name in enumerate(tasks):
        tp = int((pred[:, t] & y[:, t]).sum())
        fp = int((pred[:, t] & ~y[:, t]).sum())
        fn = int((~pred[:, t] & y[:, t]).sum())
        d = 2 * tp + fp + fn
        out[name] = 2 * tp / d if d else 0.0
    return out


def test_pruning_impact_equals_mtl_train_diagnose(tmp_path):
    binary = os.environ.get("MTL_TRAIN_BIN")
    if not binary:
        pytest.skip("MTL_TRAIN_BIN is not set")
    subprocess.run([binary, *TINY, "--norm", "tssbn", "--no-optimizer-state", "--out", str(tmp_path)],
                   check=True, capture_output=True)
    ckpt = tmp_path / "shapes_tssbn_seed0.safetensors"
    ref = tmp_path / "ref.json"
    subprocess.run([binary, "diagnose", str(ckpt), "--batches", "1", "--dtype", "f64", "--out", str(ref)],
                   check=True, capture_output=True)
    want = json.loads(ref.read_text())["pruning"]
    assert want["status"] == "done"

    meta = metadata(ckpt)
    subprocess.run([binary, "shapes", *export_args(meta), "--export", str(tmp_path / "data")],
                   check=True, capture_output=True)
    data = np.load(tmp_path / "data" / "shapes.npz")
    model, tasks = shapes_twin.load_mtl_train(ckpt, dtype=torch.float64)
    x = torch.from_numpy(data["test_images"]).to(torch.float64)
    y = torch.from_numpy(data["test_labels"])

    got = pruning_impact(model, lambda m: f1_scores(m, x, y, tasks), tasks, k=want["k"], metric="F1")
    raw = got.raw
    assert raw["k"] == want["k"] and raw["filters_per_task"] == want["filters_per_task"]
    assert raw["permutations"] == want["permutations"] == 9999
    for g, w in zip(raw["rankings"], want["rankings"], strict=True):
        assert g["ranking"] == w["ranking"]
        assert g["pruned_filters"] == w["pruned_filters"], g["ranking"]
        a, b = g["score_drop"], w["f1_drop"]
        np.testing.assert_allclose(np.array(a["matrix"], float), np.array(b["matrix"], float), rtol=0, atol=1e-5)
        for key in ("diagonal_share_by_evaluated", "p_value_by_evaluated",
                    "diagonal_share_by_pruned", "p_value_by_pruned", "null_share"):
            assert a[key] == pytest.approx(b[key], abs=1e-5), (g["ranking"], key)
    # The model is left as it was: gates restored, eval/train mode kept.
    fresh, _ = shapes_twin.load_mtl_train(ckpt, dtype=torch.float64)
    for (n, p), (_, q) in zip(model.state_dict().items(), fresh.state_dict().items()):
        assert torch.equal(p, q), n

    # The result goes into a recorder's file, which the reader accepts.
    model.train()
    rec = GradientRecorder(model, shared=list(model.shared_parameters()), architecture="TSσBN (twin)")
    xb = torch.from_numpy(data["train_images"][:16]).to(torch.float64)
    yb = torch.from_numpy(data["train_labels"][:16])
    rec.record(shapes_twin.task_losses(model(xb), yb, tasks), 0)
    out = rec.save(tmp_path / "rec.json", pruning=got)
    d = json.loads(Path(out).read_text())
    assert d["pruning"]["metric"] == "F1" and len(d["pruning"]["rankings"]) == 2


def test_pruning_impact_refuses_a_model_without_stacked_gates():
    from torch import nn

    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    with pytest.raises(Exception, match="gate|layer|task"):
        pruning_impact(model, lambda m: {"a": 1.0, "b": 1.0}, ["a", "b"])
