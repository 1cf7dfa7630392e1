"""mtl_inspect._autogram (torchjd's autogram as a fast path for per-tensor
task-gradient Grams) against the plain per-task autograd.grad reference.

Run: /work/venv-torch/bin/python -m pytest python/tests/test_autogram.py
"""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchjd")
from torch import nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
AUTOGRAM = HERE.parent / "mtl_inspect" / "_autogram.py"


def load_autogram():
    # By path: the package's __init__ needs the compiled extension, this file does not.
    spec = importlib.util.spec_from_file_location("mtl_inspect_autogram", AUTOGRAM)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


ag = load_autogram()


def hooks(model):
    return sum(len(m._forward_hooks) for m in model.modules())


@pytest.mark.parametrize("name", ["shapes_tssbn_seed0", "shapes_bn_seed0"])
@pytest.mark.parametrize("folded", [True, False])
def test_twin_matches_reference(name, folded):
    pytest.importorskip("safetensors")
    from shapes_twin import load_mtl_train, task_losses

    model, tasks = load_mtl_train(HERE.parents[1] / "fixtures" / "shapes" / f"{name}.safetensors")
    model.train()
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(8, 3, 32, 32, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 2, (8, len(tasks)), generator=gen)
    shared = list(model.shared_parameters().values())
    before = [torch.full_like(p, 7.0) for p in model.parameters()]
    for p, b in zip(model.parameters(), before):
        p.grad = b.clone()

    def losses():
        if folded:
            logits = model(x)
        else:  # T trunk calls: every conv module runs T times
            logits = torch.stack([model.forward_task(x, t) for t in range(len(tasks))], dim=1)
        return [l / len(tasks) for l in task_losses(logits, y, tasks).values()]

    got = ag.shared_grams_autogram(model, shared, losses)
    want = ag.shared_grams_reference(shared, losses())
    assert got.shape == (len(shared), len(tasks), len(tasks)) and got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-14 * np.abs(want).max())
    assert hooks(model) == 0
    for p, b in zip(model.parameters(), before):
        assert torch.equal(p.grad, b)  # .grad untouched


class Mlp(nn.Module):
    """Shared: a Sequential, and a module owning a parameter AND a child
    (torchjd treats it as one block; the split must still be per tensor)."""

    class ScaledLinear(nn.Module):
        def __init__(self, n):
            super().__init__()
            self.scale = nn.Parameter(torch.linspace(0.5, 1.5, n))
            self.inner = nn.Linear(n, n)

        def forward(self, x):
            return self.inner(x * self.scale)

    def __init__(self, tasks, dtype):
        super().__init__()
        torch.manual_seed(0)
        self.trunk = nn.Sequential(nn.Linear(10, 32), nn.Tanh(), nn.Linear(32, 32), nn.ReLU())
        self.mix = self.ScaledLinear(32)
        self.heads = nn.ModuleList(nn.Linear(32, 4) for _ in range(tasks))
        self.to(dtype)

    def forward(self, x):
        h = torch.relu(self.mix(self.trunk(x)))
        return [head(h) for head in self.heads]


@pytest.mark.parametrize("dtype,rtol", [(torch.float64, 1e-10), (torch.float32, 1e-4)])
def test_mlp_matches_reference(dtype, rtol):
    tasks = 5
    model = Mlp(tasks, dtype)
    x = torch.randn(16, 10, dtype=dtype)
    y = torch.randint(0, 4, (16, tasks))
    # Weighted losses, and one shared tensor left out (mix.inner.bias).
    shared = [p for n, p in model.named_parameters()
              if not n.startswith("heads") and n != "mix.inner.bias"]
    w = [0.5, 1.0, 2.0, 0.1, 1.0]

    def losses():
        return [w[t] * F.cross_entropy(o, y[:, t]) for t, o in enumerate(model(x))]

    got = ag.shared_grams_autogram(model, shared, losses)
    want = ag.shared_grams_reference(shared, losses())
    assert got.shape == (len(shared), tasks, tasks)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * np.abs(want).max())
    assert all(p.grad is None for p in model.parameters())
    # The total Gram is the Gram of the concatenated gradients.
    flat = torch.stack([torch.cat([g.reshape(-1) for g in torch.autograd.grad(l, shared, retain_graph=True)])
                        for l in losses()]).double()
    np.testing.assert_allclose(got.sum(0), (flat @ flat.T).numpy(), rtol=rtol, atol=rtol * np.abs(want).max())


def test_losses_computed_before_are_refused():
    model = Mlp(2, torch.float64)
    x = torch.randn(4, 10, dtype=torch.float64)
    losses = [o.sum() for o in model(x)]
    with pytest.raises(TypeError, match="callable that runs the forward"):
        ag.shared_grams_autogram(model, list(model.trunk.parameters()), losses)


def test_missing_torchjd_is_a_clear_import_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchjd", None)
    model = Mlp(2, torch.float64)
    with pytest.raises(ImportError, match="pip install torchjd"):
        ag.AutogramGrams(model, list(model.trunk.parameters()))
