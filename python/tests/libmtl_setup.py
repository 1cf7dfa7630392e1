"""LibMTL 1.1.5 on this machine (CPU, torch 2.15, torchvision 0.29), with a
hook for per-task gradient recorders.

    from libmtl_setup import build_trainer, make_loaders
    trainer = build_trainer(on_losses=lambda losses, step: ...)
    train, test = make_loaders()
    trainer.train(train, test, epochs=2)

The three fixes of /work/shared/LIBMTL.md, leaving LibMTL's code untouched:
1. ``import_libmtl`` registers ``torchvision.models.utils`` (removed from
   torchvision) in ``sys.modules`` with ``torch.hub.load_state_dict_from_url``
   before ``import LibMTL``.
2. scipy must be installed (LibMTL's CAGrad imports it).
3. ``CpuTrainer`` (a ``LibMTL.Trainer`` subclass) sets ``self.device`` to the
   CPU at the start of ``_prepare_model`` and fetches batches with
   ``next(iterator)`` in ``_process_data``.

The hook: ``CpuTrainer(on_losses=f)`` calls ``f(losses, step)`` once per
training batch, ``losses`` a dict task → scalar loss tensor (still in the
graph), from ``_compute_loss``: ``Trainer.train`` calls it after the forward
and before ``self.model.backward`` (the weighting's backward), so a recorder
may take ``torch.autograd.grad(..., retain_graph=True)`` of each loss there.
Not called in ``test`` (no grad) or with ``multi_input`` until all tasks'
losses of the batch are in.

Model: LibMTL's ``HPS`` architecture with ``EW`` weighting; encoder an MLP
with BatchNorm1d (``Encoder``), one ``nn.Linear`` decoder per task, LibMTL's
``CELoss`` and ``AccMetric``. Shared parameters: the encoder's
(``trainer.model.get_share_params()`` / ``trainer.model.encoder``), here the
two Linear layers' weight and bias and the two BatchNorm1d weight and bias.
Loss weights: LibMTL's EW backpropagates ``sum_t 1 * L_t`` (weight 1 per task,
not 1/T as its docstring says).
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

IN_FEATURES = 16
HIDDEN = 64
CLASSES = 3


def import_libmtl():
    """``import LibMTL`` with the torchvision shim (fix 1); returns the module."""
    name = "torchvision.models.utils"
    if name not in sys.modules:
        shim = types.ModuleType(name)
        shim.load_state_dict_from_url = torch.hub.load_state_dict_from_url
        sys.modules[name] = shim
    import LibMTL

    return LibMTL


LibMTL = import_libmtl()
from LibMTL.architecture import HPS  # noqa: E402
from LibMTL.loss import CELoss  # noqa: E402
from LibMTL.metrics import AccMetric  # noqa: E402
from LibMTL.weighting import EW  # noqa: E402

LossHook = Callable[[dict, int], None]


class CpuTrainer(LibMTL.Trainer):
    """``LibMTL.Trainer`` on the CPU (fix 3), with an ``on_losses`` hook.

    Overrides ``_prepare_model`` (device), ``_process_data`` (``next``) and
    ``_compute_loss`` (the hook); everything else is LibMTL's."""

    def __init__(self, *args, on_losses: LossHook | None = None, **kwargs):
        # Set before super().__init__: it calls _prepare_model.
        self.on_losses = on_losses
        self.step = 0
        self._pending: dict[str, Tensor] = {}
        super().__init__(*args, **kwargs)

    def _prepare_model(self, weighting, architecture, encoder_class, decoders):
        self.device = torch.device("cpu")
        super()._prepare_model(weighting, architecture, encoder_class, decoders)

    def _process_data(self, loader):
        try:
            data, label = next(loader[1])
        except StopIteration:
            loader[1] = iter(loader[0])
            data, label = next(loader[1])
        data = data.to(self.device, non_blocking=True)
        if not self.multi_input:
            for task in self.task_name:
                label[task] = label[task].to(self.device, non_blocking=True)
        else:
            label = label.to(self.device, non_blocking=True)
        return data, label

    def _compute_loss(self, preds, gts, task_name=None):
        losses = super()._compute_loss(preds, gts, task_name)
        if self.on_losses is None or not (self.model.training and torch.is_grad_enabled()):
            return losses
        if not self.multi_input:
            # losses[t] is task t's loss, copied into LibMTL's [T] vector
            # (its gradient is that task's).
            self._fire({task: losses[t] for t, task in enumerate(self.task_name)})
        else:
            self._pending[task_name] = losses
            if len(self._pending) == self.task_num:
                self._fire({task: self._pending[task] for task in self.task_name})
                self._pending = {}
        return losses

    def _fire(self, losses: dict[str, Tensor]) -> None:
        self.on_losses(losses, self.step)
        self.step += 1


class Encoder(nn.Module):
    """The shared MLP: Linear → BatchNorm1d → ReLU, twice."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(IN_FEATURES, HIDDEN), nn.BatchNorm1d(HIDDEN), nn.ReLU(),
            nn.Linear(HIDDEN, HIDDEN), nn.BatchNorm1d(HIDDEN), nn.ReLU())

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class SyntheticTasks(Dataset):
    """``n`` inputs x ~ N(0, I_16) and, per task t, a label in {0, 1, 2}:
    argmax of a fixed random linear map of x (task t's map shares a common
    part with the others, so the tasks are related). Items are
    ``(x, {task: label})``, LibMTL's single-input layout."""

    def __init__(self, n: int, tasks: list[str], seed: int = 0, map_seed: int = 1234):
        maps = torch.Generator().manual_seed(map_seed)
        common = torch.randn(IN_FEATURES, CLASSES, generator=maps)
        gen = torch.Generator().manual_seed(seed)
        self.x = torch.randn(n, IN_FEATURES, generator=gen)
        self.tasks = tasks
        self.labels = {}
        for task in tasks:
            w = common + torch.randn(IN_FEATURES, CLASSES, generator=maps)
            self.labels[task] = (self.x @ w).argmax(dim=1)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], {t: self.labels[t][i] for t in self.tasks}


def task_names(tasks: int = 3) -> list[str]:
    return [f"task{t}" for t in range(tasks)]


def make_loaders(tasks: int = 3, train_size: int = 384, test_size: int = 128,
                 batch_size: int = 32, seed: int = 0) -> tuple[DataLoader, DataLoader]:
    names = task_names(tasks)
    train = SyntheticTasks(train_size, names, seed=seed)
    test = SyntheticTasks(test_size, names, seed=seed + 1)
    gen = torch.Generator().manual_seed(seed)
    # drop_last: BatchNorm1d needs more than one sample per batch.
    return (DataLoader(train, batch_size=batch_size, shuffle=True, drop_last=True, generator=gen),
            DataLoader(test, batch_size=batch_size, shuffle=False))


def build_trainer(tasks: int = 3, on_losses: LossHook | None = None, lr: float = 1e-3,
                  seed: int = 0) -> CpuTrainer:
    """HPS + EW, ``Encoder`` shared, one Linear(64, 3) decoder per task."""
    torch.manual_seed(seed)
    names = task_names(tasks)
    task_dict = {t: {"metrics": ["Acc"], "metrics_fn": AccMetric(), "loss_fn": CELoss(),
                     "weight": [1]} for t in names}
    decoders = nn.ModuleDict({t: nn.Linear(HIDDEN, CLASSES) for t in names})
    return CpuTrainer(task_dict=task_dict, weighting=EW, architecture=HPS,
                      encoder_class=Encoder, decoders=decoders, rep_grad=False,
                      multi_input=False, optim_param={"optim": "adam", "lr": lr},
                      scheduler_param=None, weight_args={}, arch_args={},
                      on_losses=on_losses)


def shared_parameters(trainer: CpuTrainer) -> dict[str, nn.Parameter]:
    """The HPS model's shared parameters (its encoder's), by name."""
    return dict(trainer.model.encoder.named_parameters())


if __name__ == "__main__":
    import time

    t0 = time.perf_counter()
    seen = []
    trainer = build_trainer(on_losses=lambda losses, step: seen.append(len(losses)))
    train, test = make_loaders()
    trainer.train(train, test, epochs=2)
    print(f"{len(seen)} callbacks, {time.perf_counter() - t0:.2f} s, "
          f"shared: {list(shared_parameters(trainer))}")
