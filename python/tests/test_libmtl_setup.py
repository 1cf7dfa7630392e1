"""LibMTL's own Trainer.train on CPU with the on_losses hook (libmtl_setup.py).

Run: /work/venv-torch/bin/python -m pytest python/tests/test_libmtl_setup.py
"""

import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("scipy")  # LibMTL imports it
sys.path.insert(0, str(Path(__file__).resolve().parent))
try:
    import libmtl_setup as ls
except ImportError as e:  # LibMTL (or torchvision) missing
    pytest.skip(f"LibMTL not importable: {e}", allow_module_level=True)


def test_callback_fires_before_backward_with_t_losses():
    tasks, epochs, train_size, batch = 3, 2, 192, 32
    seen = []
    expected = {}

    def on_losses(losses, step):
        assert list(losses) == ls.task_names(tasks)
        assert all(l.dim() == 0 and l.requires_grad for l in losses.values())
        shared = list(ls.shared_parameters(trainer).values())
        # Backward has not run yet: a recorder can take per-task gradients.
        per_task = [torch.autograd.grad(l, shared, retain_graph=True) for l in losses.values()]
        expected[step] = [sum(g[s] for g in per_task) for s in range(len(shared))]
        seen.append(step)

    trainer = ls.build_trainer(tasks=tasks, on_losses=on_losses)
    original_backward = trainer.model.backward
    checked = []

    def backward(losses, **kwargs):
        # EW: the shared gradient is the sum of the per-task ones (weight 1 each).
        w = original_backward(losses, **kwargs)
        grads = [p.grad for p in ls.shared_parameters(trainer).values()]
        for g, want in zip(grads, expected[seen[-1]]):
            torch.testing.assert_close(g, want)
        checked.append(seen[-1])
        return w

    trainer.model.backward = backward
    train, test = ls.make_loaders(tasks=tasks, train_size=train_size, batch_size=batch)
    trainer.train(train, test, epochs=epochs)
    steps = epochs * (train_size // batch)
    assert seen == list(range(steps)) and checked == seen
    assert trainer.batch_weight.shape == (tasks, epochs, train_size // batch)
    assert (trainer.batch_weight == 1).all()  # EW's weights


def test_shared_parameters_are_the_encoder():
    trainer = ls.build_trainer()
    names = list(ls.shared_parameters(trainer))
    assert names == [f"net.{i}.{k}" for i in (0, 1, 3, 4) for k in ("weight", "bias")]
    assert [id(p) for p in trainer.model.get_share_params()] == [
        id(p) for p in ls.shared_parameters(trainer).values()]
    assert trainer.device.type == "cpu"
