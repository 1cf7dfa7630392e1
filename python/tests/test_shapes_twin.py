"""The PyTorch twin of shapes-cnn (``shapes_twin.py``) against mtl-train.

* Eval mode: the twin, loaded from the shapes fixtures, reproduces each
  checkpoint's ``mtl.test_metrics`` accuracies on the test split that
  ``mtl-train shapes --export`` regenerates from the checkpoint's dataset
  metadata (needs ``$MTL_TRAIN_BIN``, the mtl-train binary).
* Training mode: loss, gradients and per-task gradients equal
  ``training/tests/data/grad_twin.safetensors`` (written by
  ``training/tests/reference/grad_twin.py``, which mtl-train's own
  gradient tests compare with).
* The folded forward (tasks in the batch) equals the plain one-task-at-a-time
  forward.

Run: MTL_TRAIN_BIN=target/debug/mtl-train /work/venv-torch/bin/python -m pytest python/tests/test_shapes_twin.py
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")
from safetensors import safe_open  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from shapes_twin import MultiTaskNet, load_mtl_train, task_losses  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SHAPES = ROOT / "fixtures" / "shapes"
CHECKPOINTS = ["shapes_tssbn_seed0", "shapes_tsbn_seed0", "shapes_bn_seed0"]
GRAD_TWIN = ROOT / "training" / "tests" / "data" / "grad_twin.safetensors"


def metadata(path):
    with safe_open(str(path), "pt") as f:
        return f.metadata()


def export_args(meta):
    return ["--tasks", meta["mtl.dataset_tasks"], "--groups", meta["mtl.dataset_groups"],
            "--image-size", meta["mtl.dataset_image_size"],
            "--train-size", meta["mtl.dataset_train"], "--val-size", meta["mtl.dataset_val"],
            "--test-size", meta["mtl.dataset_test"], "--data-seed", meta["mtl.dataset_seed"]]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """shapes.npz per distinct dataset setting, keyed by the export args."""
    binary = os.environ.get("MTL_TRAIN_BIN")
    if not binary:
        pytest.skip("set MTL_TRAIN_BIN to the mtl-train binary to regenerate the shapes data")
    cache = {}

    def get(meta):
        args = tuple(export_args(meta))
        if args not in cache:
            out = tmp_path_factory.mktemp("shapes_export")
            subprocess.run([binary, "shapes", *args, "--export", str(out / "data")],
                           check=True, capture_output=True)
            cache[args] = np.load(out / "data" / "shapes.npz")
        return cache[args]

    return get


# float32 for one checkpoint only: the folded T-task forward of 1024 images
# in float64 takes ~10-30 s on a busy 2-core CPU.
@pytest.mark.parametrize("name,dtype", [(c, "float64") for c in CHECKPOINTS]
                         + [("shapes_tssbn_seed0", "float32")])
def test_eval_reproduces_test_accuracy(exported, name, dtype):
    path = SHAPES / f"{name}.safetensors"
    meta = metadata(path)
    data = exported(meta)
    model, tasks = load_mtl_train(path, dtype=getattr(torch, dtype))
    assert [str(t) for t in data["tasks"]] == tasks
    x = torch.from_numpy(data["test_images"]).to(model.heads.weight.dtype)
    y = torch.from_numpy(data["test_labels"])
    with torch.no_grad():
        logits = model(x)
    acc = ((logits > 0) == (y > 0.5)).double().mean(0)
    want = json.loads(meta["mtl.test_metrics"])
    n = len(y)
    # Exact: counts of correct test images per task (1024 images; the
    # smallest |logit| is ~1e-4 on these fixtures, far above f32 rounding).
    got_counts = [round(acc[t].item() * n) for t in range(len(tasks))]
    want_counts = [round(want[t]["accuracy"] * n) for t in tasks]
    assert got_counts == want_counts


def grad_twin_model(family, tensors):
    """The grad_twin network (T = 3, 16×16 input, convs 3→6 pool, 6→8 pool,
    8→8 stride 2, fc 8) with that file's parameters, float64."""
    convs = [(3, 6, 1, True), (6, 8, 1, True), (8, 8, 2, False)]
    model = MultiTaskNet(family, 3, convs, [8], dtype=torch.float64)
    prefix = f"{family}.param."
    state = {k[len(prefix):]: v.double() for k, v in tensors.items() if k.startswith(prefix)}
    _, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected
    return model


@pytest.mark.skipif(not GRAD_TWIN.exists(), reason="no training/tests/data/grad_twin.safetensors")
@pytest.mark.parametrize("family", ["tssbn", "tsbn", "bn"])
def test_training_mode_gradients_match_grad_twin(family):
    with safe_open(str(GRAD_TWIN), "pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    model = grad_twin_model(family, tensors).train()
    images, labels = tensors["input"].double(), tensors["labels"].double()
    tasks = ["a", "b", "c"]
    logits = model(images)
    losses = task_losses(logits, labels, tasks)
    loss = sum(losses.values()) / len(tasks)
    torch.testing.assert_close(loss, tensors[f"{family}.loss"], rtol=1e-12, atol=0)
    params = dict(model.named_parameters())
    for t, name in enumerate(tasks):
        grads = torch.autograd.grad(losses[name] / len(tasks), list(params.values()),
                                    retain_graph=True, allow_unused=True)
        for (pname, p), g in zip(params.items(), grads):
            g = torch.zeros_like(p) if g is None else g
            torch.testing.assert_close(g, tensors[f"{family}.task_grad.{t}.{pname}"],
                                       rtol=1e-9, atol=1e-12)
    loss.backward()
    for pname, p in params.items():
        torch.testing.assert_close(p.grad, tensors[f"{family}.grad.{pname}"], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("train", [True, False])
def test_folded_forward_equals_one_task_at_a_time(train):
    model, tasks = load_mtl_train(SHAPES / "shapes_tssbn_seed0.safetensors")
    model.train(train)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(8, 3, 32, 32, generator=gen, dtype=torch.float64)
    running = model.features[1].norm.running_var.clone()
    folded = model(x)
    plain = torch.stack([model.forward_task(x, t) for t in range(len(tasks))], dim=1)
    torch.testing.assert_close(folded, plain, rtol=1e-10, atol=1e-12)
    # Training-mode forwards update every task's running statistics.
    assert torch.equal(model.features[1].norm.running_var, running) != train


def test_shared_parameters():
    model, _ = load_mtl_train(SHAPES / "shapes_tssbn_seed0.safetensors")
    assert list(model.shared_parameters()) == [f"features.{i}.conv.weight" for i in range(3)]
    model, _ = load_mtl_train(SHAPES / "shapes_bn_seed0.safetensors")
    assert list(model.shared_parameters()) == [
        f"features.{i}.{k}" for i in range(3) for k in ("conv.weight", "norm.weight", "norm.bias")]
