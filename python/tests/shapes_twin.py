"""PyTorch twin of mtl-train's convolutional multi-task network (``shapes-cnn``,
also ``celeba-cnn``), loadable from an mtl-train checkpoint.

    model, tasks = load_mtl_train("fixtures/shapes/shapes_tssbn_seed0.safetensors")
    model.eval()
    logits = model(images)                    # [N, T]
    losses = task_losses(logits, labels, tasks)  # {task: mean BCE over N}
    loss = sum(losses.values()) / len(losses)    # mtl-train's training loss

The network (``training/src/models/convnet.rs``): 3×3 convolutions without
bias and padding 1, each followed by a norm layer and ReLU (and a 2×2 max
pool where the spec says so), global average pooling, optional linear layers
without bias + norm + ReLU (``classifier.<j>``), and one linear head per task
(``heads.weight`` [T, F], ``heads.bias`` [T]). Norms (``mtl.norm``):

  tssbn  TSσBN: σ(γ_t)·x̂, γ [T, C], no shift (paper eq. 3)
  tsbn   TSBN:  γ_t·x̂ + β_t, γ, β [T, C]
  bn     shared BN (HPS): PyTorch's BatchNorm, weight·x̂ + bias

x̂ uses batch statistics with the biased variance in training mode and the
running estimates (per task for tssbn/tsbn) in eval mode; eps 1e-5, momentum
0.1, the running variance updated with the unbiased batch variance (PyTorch's
convention, as mtl-train).

With a task-specific norm the activations fork into T task paths at the first
norm layer: from there on the tensor is task-major, [T·N, …] (block t holds
task t's path), and every later shared convolution runs once over all paths,
as mtl-train does. This equals running the trunk T times with task t's norm
parameters (``grad_twin.py``'s plain way; ``forward_task`` here does that for
one task, and ``test_shapes_twin.py`` checks the two agree). With shared BN
there is one path and every head reads the same features.

Shared parameters (the ones a per-task gradient geometry is measured on):
``model.shared_parameters()`` — the convolution (and classifier linear)
weights, plus the BN weight/bias for ``bn``. Task-specific: the per-task
norm parameters and the heads. Loss weights: the training loss is the mean
over tasks, so w_t = 1/T for L_t = ``task_losses(...)[t]``.
"""

from __future__ import annotations

import json
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import Tensor, nn

EPS = 1e-5
MOMENTUM = 0.1

# (stride, pool) of each convolution, as ModelKind::spec in
# training/src/models/mod.rs; widths come from the checkpoint's tensors.
SPECS = {
    "shapes-cnn": [(2, False), (1, True), (1, True)],
    "celeba-cnn": [(1, True), (1, False), (1, True), (1, False), (1, True), (1, False), (1, False)],
}
NORMS = ("tssbn", "tsbn", "bn")


class TaskNorm(nn.Module):
    """Task-specific norm over task-major input [T·N, C, …] (or [T·N, C]).

    ``tssbn``: parameter ``gamma`` [T, C], output σ(γ_t)·x̂.
    ``tsbn``: parameters ``gamma``, ``beta`` [T, C], output γ_t·x̂ + β_t.
    Buffers ``running_mean``, ``running_var`` [T, C].
    """

    def __init__(self, kind: str, tasks: int, channels: int, dtype=torch.float32):
        super().__init__()
        if kind not in ("tssbn", "tsbn"):
            raise ValueError(f"TaskNorm is tssbn or tsbn, not {kind!r}")
        self.kind, self.tasks = kind, tasks
        self.gamma = nn.Parameter(torch.zeros(tasks, channels, dtype=dtype))
        if kind == "tsbn":
            self.gamma.data.fill_(1.0)
            self.beta = nn.Parameter(torch.zeros(tasks, channels, dtype=dtype))
        self.register_buffer("running_mean", torch.zeros(tasks, channels, dtype=dtype))
        self.register_buffer("running_var", torch.ones(tasks, channels, dtype=dtype))

    def forward(self, x: Tensor) -> Tensor:
        t = self.tasks
        if x.shape[0] % t:
            raise ValueError(f"TaskNorm: {x.shape[0]} rows are not {t} task blocks")
        xb = x.reshape(t, x.shape[0] // t, *x.shape[1:])  # [T, N, C, …]
        c = xb.shape[2]
        # Broadcast [T, C] to [T, 1, C, 1, …].
        def rows(v: Tensor) -> Tensor:
            return v.reshape(t, 1, c, *([1] * (xb.dim() - 3)))

        if self.training:
            dims = [1] + list(range(3, xb.dim()))
            mean = xb.mean(dim=dims, keepdim=True)
            var = xb.var(dim=dims, keepdim=True, unbiased=False)
            with torch.no_grad():
                count = xb[:, :, 0].numel() // t
                unbiased = var * (count / max(count - 1, 1))
                self.running_mean.mul_(1 - MOMENTUM).add_(MOMENTUM * mean.reshape(t, c))
                self.running_var.mul_(1 - MOMENTUM).add_(MOMENTUM * unbiased.reshape(t, c))
        else:
            mean, var = rows(self.running_mean), rows(self.running_var)
        x_hat = (xb - mean) / torch.sqrt(var + EPS)
        if self.kind == "tssbn":
            y = x_hat * rows(torch.sigmoid(self.gamma))
        else:
            y = x_hat * rows(self.gamma) + rows(self.beta)
        return y.reshape(x.shape)

    def forward_task(self, x: Tensor, task: int) -> Tensor:
        """Task ``task``'s norm on its own path [N, C, …], with PyTorch's
        ``F.batch_norm`` (the reference the folded forward is checked with)."""
        if self.kind == "tssbn":
            w, b = torch.sigmoid(self.gamma[task]), None
        else:
            w, b = self.gamma[task], self.beta[task]
        if self.training:
            return F.batch_norm(x, None, None, w, b, training=True, eps=EPS)
        return F.batch_norm(x, self.running_mean[task], self.running_var[task], w, b,
                            training=False, eps=EPS)


class ConvBlock(nn.Module):
    def __init__(self, c_in, c_out, stride, pool, norm, tasks, dtype):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False, dtype=dtype)
        self.norm = (nn.BatchNorm2d(c_out, eps=EPS, momentum=MOMENTUM, dtype=dtype)
                     if norm == "bn" else TaskNorm(norm, tasks, c_out, dtype))
        self.pool = pool


class FcBlock(nn.Module):
    def __init__(self, f_in, f_out, norm, tasks, dtype):
        super().__init__()
        self.linear = nn.Linear(f_in, f_out, bias=False, dtype=dtype)
        self.norm = (nn.BatchNorm1d(f_out, eps=EPS, momentum=MOMENTUM, dtype=dtype)
                     if norm == "bn" else TaskNorm(norm, tasks, f_out, dtype))


class TaskHeads(nn.Module):
    """One linear head per task: ``weight`` [T, F], ``bias`` [T]. Reads
    shared features [N, F] or task-major features [T·N, F] (row block t for
    head t); returns logits [N, T]."""

    def __init__(self, features: int, tasks: int, dtype=torch.float32):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(tasks, features, dtype=dtype))
        self.bias = nn.Parameter(torch.zeros(tasks, dtype=dtype))

    def forward(self, x: Tensor, task_major: bool) -> Tensor:
        if not task_major:
            return x @ self.weight.T + self.bias
        t = self.weight.shape[0]
        xt = x.reshape(t, x.shape[0] // t, x.shape[1])
        return torch.einsum("tnf,tf->nt", xt, self.weight) + self.bias


class MultiTaskNet(nn.Module):
    """mtl-train's ``MultiTaskNet``; ``forward(images)`` → logits [N, T]."""

    def __init__(self, norm: str, tasks: int, convs: list[tuple[int, int, int, bool]],
                 fc: list[int], in_channels: int = 3, dtype=torch.float32):
        """``convs``: (in, out, stride, pool) per convolution; ``fc``: widths."""
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"norm {norm!r} is not one of {NORMS}")
        self.norm, self.tasks = norm, tasks
        self.features = nn.ModuleList(
            ConvBlock(ci, co, s, p, norm, tasks, dtype) for ci, co, s, p in convs)
        widths = [convs[-1][1]] + list(fc)
        self.classifier = nn.ModuleList(
            FcBlock(a, b, norm, tasks, dtype) for a, b in zip(widths, widths[1:]))
        self.heads = TaskHeads(widths[-1], tasks, dtype)

    @property
    def task_specific(self) -> bool:
        return self.norm != "bn"

    def forward(self, images: Tensor) -> Tensor:
        x = images
        forked = False
        for block in self.features:
            x = block.conv(x)
            if self.task_specific and not forked:
                # Fork into T task paths at the first norm: task-major rows.
                x = x.repeat(self.tasks, *([1] * (x.dim() - 1)))
                forked = True
            x = F.relu(block.norm(x))
            if block.pool:
                x = F.max_pool2d(x, 2)
        x = x.mean(dim=(2, 3))
        for block in self.classifier:
            x = F.relu(block.norm(block.linear(x)))
        return self.heads(x, task_major=self.task_specific)

    def forward_task(self, images: Tensor, task: int) -> Tensor:
        """Logits [N] of one task, running the trunk on its own path (the
        plain way; task-specific norms only). Training-mode calls do not
        update running statistics."""
        if not self.task_specific:
            return self.forward(images)[:, task]
        x = images
        for block in self.features:
            x = F.relu(block.norm.forward_task(block.conv(x), task))
            if block.pool:
                x = F.max_pool2d(x, 2)
        x = x.mean(dim=(2, 3))
        for block in self.classifier:
            x = F.relu(block.norm.forward_task(block.linear(x), task))
        return x @ self.heads.weight[task] + self.heads.bias[task]

    def shared_parameters(self) -> "OrderedDict[str, nn.Parameter]":
        """The parameters every task's loss depends on, by name: convolution
        and classifier weights, and shared BN's weight and bias (``bn``)."""
        out = OrderedDict()
        for name, p in self.named_parameters():
            if name.startswith("heads."):
                continue
            if ".norm." in name and self.task_specific:
                continue
            out[name] = p
        return out


def task_losses(logits: Tensor, labels: Tensor, tasks: list[str]) -> dict[str, Tensor]:
    """L_t: task t's BCE-with-logits, mean over the N samples. mtl-train's
    training loss is their mean, (1/T)·Σ_t L_t."""
    if logits.shape != labels.shape or logits.shape[1] != len(tasks):
        raise ValueError(f"logits {tuple(logits.shape)}, labels {tuple(labels.shape)}, "
                         f"{len(tasks)} tasks")
    return {name: F.binary_cross_entropy_with_logits(logits[:, t], labels[:, t].to(logits.dtype))
            for t, name in enumerate(tasks)}


def load_mtl_train(path, dtype=torch.float64) -> tuple[MultiTaskNet, list[str]]:
    """The network of an mtl-train checkpoint (``mtl.model`` shapes-cnn or
    celeba-cnn, ``mtl.norm`` tssbn/tsbn/bn, sigmoid gates), in ``dtype``,
    in eval mode, and its task names (``mtl.tasks``)."""
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        meta = f.metadata() or {}
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    model_kind = meta.get("mtl.model", "shapes-cnn")
    if model_kind not in SPECS:
        raise ValueError(f"{path}: mtl.model {model_kind!r} is not one of {sorted(SPECS)}")
    norm = meta.get("mtl.norm")
    if norm not in NORMS:
        raise ValueError(f"{path}: mtl.norm {norm!r} is not one of {NORMS}")
    if norm == "tssbn" and meta.get("mtl.gate", "sigmoid") != "sigmoid":
        raise ValueError(f"{path}: mtl.gate {meta['mtl.gate']!r}; the twin has sigmoid gates only")
    tasks = json.loads(meta["mtl.tasks"])
    if tensors["heads.weight"].shape[0] != len(tasks):
        raise ValueError(f"{path}: heads.weight {tuple(tensors['heads.weight'].shape)} "
                         f"for {len(tasks)} tasks (regression tasks are not supported)")
    spec = SPECS[model_kind]
    convs = []
    for i, (stride, pool) in enumerate(spec):
        w = tensors.get(f"features.{i}.conv.weight")
        if w is None:
            raise ValueError(f"{path}: no features.{i}.conv.weight ({model_kind} has {len(spec)})")
        convs.append((w.shape[1], w.shape[0], stride, pool))
    fc = []
    while f"classifier.{len(fc)}.linear.weight" in tensors:
        fc.append(tensors[f"classifier.{len(fc)}.linear.weight"].shape[0])
    model = MultiTaskNet(norm, len(tasks), convs, fc, in_channels=convs[0][0], dtype=dtype)
    state = {k: v.to(dtype) for k, v in tensors.items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise ValueError(f"{path}: missing {missing}, unexpected {unexpected}")
    model.eval()
    return model, tasks
