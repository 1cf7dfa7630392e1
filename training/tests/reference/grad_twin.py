#!/usr/bin/env python3
"""PyTorch twin of a small mtl-train network, for the network-level gradient
test `training/tests/gradients.rs`: writes initial weights, one batch,
PyTorch's loss and the gradient of every parameter to
training/tests/data/grad_twin.safetensors.

Run (from the repository root; needs torch and safetensors):
    /work/venv/bin/python training/tests/reference/grad_twin.py

The network is `MultiTaskNet` with the spec `gradients.rs` builds
(`twin_spec()`): 16×16 RGB input, 3×3 convs without bias and padding 1,
3→6 (stride 1, ReLU, 2×2 max pool) → 6→8 (stride 1, pool) → 8→8 (stride 2),
global average pooling, Linear 8→8 without bias + norm + ReLU, one linear
head per task; every conv and linear is followed by the `--norm` layer and
ReLU. T = 3 tasks, N = 4 images, in training mode (batch statistics,
biased variance, eps = 1e-5).

The twin is written the plain way on purpose: task t's logits come from
running the whole trunk on the N images with task t's norm parameters, one
task at a time, with PyTorch's own `F.batch_norm` and `F.max_pool2d`.
mtl-train instead folds the tasks into the batch after the first norm layer;
the test checks that the two agree.

  tssbn  TSσBN: σ(γ_t)·x̂, γ [T, C], no shift (paper eq. 3)
  tsbn   TSBN:  γ_t·x̂ + β_t, γ, β [T, C]
  bn     shared BN: weight·x̂ + bias, weight, bias [C] (one path for all tasks)

Loss: binary cross-entropy with logits, mean over the N×T entries (= mean
over tasks of each task's mean), as mtl-train's `models::loss`.

Tensor names in the file, for each family F:
  input [N, 3, 16, 16] f32, labels [N, T] f32 (shared by the families)
  F.param.<name> f32: the parameter the Rust model is loaded with, under
    the model's own variable name (features.0.conv.weight, …)
  F.grad.<name> f64, F.loss [] f64: PyTorch's gradient and loss, computed in
    float64 from the f32 values above (so the reference carries no f32
    rounding of its own)
  F.task_grad.<t>.<name> f64: the gradient of L_t / T alone (L_t: task t's
    mean BCE over the N images), for the per-task gradients of
    `mtl-train diagnose`; they sum over t to F.grad.<name>
"""
import os

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

T, N, IMG = 3, 4, 16
EPS = 1e-5
# (out channels, stride, pool) as ConvStage in models/convnet.rs.
CONVS = [(6, 1, True), (8, 1, True), (8, 2, False)]
FC = [8]
FAMILIES = ["tssbn", "tsbn", "bn"]
OUT = os.path.join(os.path.dirname(__file__), "..", "data", "grad_twin.safetensors")


def norm_shapes(family, c):
    if family == "tssbn":
        return {"gamma": (T, c)}
    if family == "tsbn":
        return {"gamma": (T, c), "beta": (T, c)}
    return {"weight": (c,), "bias": (c,)}


def init_centre(family, name):
    """mtl-train's initial value of a norm parameter (γ = 0 for TSσBN,
    scale 1, shift 0 otherwise); the twin draws around it."""
    if family == "tssbn" or name in ("beta", "bias"):
        return 0.0
    return 1.0


def make_params(family, gen):
    """Random f32 parameters under mtl-train's names. Gates and heads are
    drawn away from their defaults (γ = 0, tied head rows) so that a
    mix-up of tasks or channels shows in the gradients."""
    p = {}

    def uniform(shape, bound):
        return (torch.rand(shape, generator=gen, dtype=torch.float64) * 2 - 1) * bound

    def normal(shape, mean, std):
        return mean + std * torch.randn(shape, generator=gen, dtype=torch.float64)

    c_in = 3
    for i, (out, _, _) in enumerate(CONVS):
        p[f"features.{i}.conv.weight"] = uniform((out, c_in, 3, 3), (c_in * 9) ** -0.5)
        for k, shape in norm_shapes(family, out).items():
            p[f"features.{i}.norm.{k}"] = normal(shape, init_centre(family, k), 0.5)
        c_in = out
    for j, out in enumerate(FC):
        p[f"classifier.{j}.linear.weight"] = uniform((out, c_in), c_in ** -0.5)
        for k, shape in norm_shapes(family, out).items():
            p[f"classifier.{j}.norm.{k}"] = normal(shape, init_centre(family, k), 0.5)
        c_in = out
    p["heads.weight"] = uniform((T, c_in), c_in ** -0.5)
    p["heads.bias"] = uniform((T,), 0.5)
    # The Rust model is loaded with f32 values: compute from exactly those.
    return {k: v.float().double().requires_grad_(True) for k, v in p.items()}


def norm(family, p, prefix, x, t):
    if family == "tssbn":
        return F.batch_norm(x, None, None, torch.sigmoid(p[f"{prefix}.gamma"][t]), None,
                            training=True, eps=EPS)
    if family == "tsbn":
        return F.batch_norm(x, None, None, p[f"{prefix}.gamma"][t], p[f"{prefix}.beta"][t],
                            training=True, eps=EPS)
    return F.batch_norm(x, None, None, p[f"{prefix}.weight"], p[f"{prefix}.bias"],
                        training=True, eps=EPS)


def task_logits(family, p, images, t, probe):
    """Logits [N] of task t; `probe` collects pool inputs and pre-ReLU
    values to check that the reference has no near-ties."""
    x = images
    for i, (_, stride, pool) in enumerate(CONVS):
        x = F.conv2d(x, p[f"features.{i}.conv.weight"], stride=stride, padding=1)
        x = norm(family, p, f"features.{i}.norm", x, t)
        probe["pre_relu"].append(x.detach())
        x = F.relu(x)
        if pool:
            probe["pool_in"].append(x.detach())
            x = F.max_pool2d(x, 2)
    x = x.mean(dim=(2, 3))
    for j, _ in enumerate(FC):
        x = x @ p[f"classifier.{j}.linear.weight"].T
        x = norm(family, p, f"classifier.{j}.norm", x, t)
        probe["pre_relu"].append(x.detach())
        x = F.relu(x)
    return x @ p["heads.weight"][t] + p["heads.bias"][t]


def margins(probe):
    """Smallest |pre-ReLU value| and smallest gap between the two largest
    elements of a 2×2 pool window whose maximum is positive: if either were
    at f32 rounding level, f32 mtl-train could legitimately take another
    branch than this f64 reference."""
    relu_margin = min(v.abs().min().item() for v in probe["pre_relu"])
    gap = float("inf")
    for x in probe["pool_in"]:
        n, c, h, w = x.shape
        win = x.reshape(n, c, h // 2, 2, w // 2, 2).permute(0, 1, 2, 4, 3, 5).reshape(-1, 4)
        top2 = win.topk(2, dim=1).values
        live = top2[:, 0] > 0
        gap = min(gap, (top2[live, 0] - top2[live, 1]).min().item())
    return relu_margin, gap


# Smallest margins accepted (see `margins`): ~10× the f32 error of
# mtl-train's activations at this size.
MIN_MARGIN = 1e-5


def main():
    gen = torch.Generator().manual_seed(20261127)
    images = torch.rand((N, 3, IMG, IMG), generator=gen, dtype=torch.float64).float()
    labels = torch.randint(0, 2, (N, T), generator=gen).float()
    out = {"input": images.contiguous(), "labels": labels.contiguous()}
    for f, family in enumerate(FAMILIES):
        # Deterministic rejection: the first seed whose reference is not
        # within MIN_MARGIN of a ReLU kink or a pool-window tie.
        for attempt in range(1000):
            seed = 1000 * (f + 1) + attempt
            p = make_params(family, torch.Generator().manual_seed(seed))
            probe = {"pre_relu": [], "pool_in": []}
            logits = torch.stack(
                [task_logits(family, p, images.double(), t, probe) for t in range(T)], dim=1)
            relu_margin, gap = margins(probe)
            if relu_margin > MIN_MARGIN and gap > MIN_MARGIN:
                break
        else:
            raise SystemExit(f"{family}: no seed with margins above {MIN_MARGIN}")
        loss = F.binary_cross_entropy_with_logits(logits, labels.double())
        # Per-task gradients g_t = ∇(L_t / T), L_t task t's mean BCE: the
        # reference of the diagnostics' per-task gradients (tests/task_grads.rs).
        names = list(p)
        for t in range(T):
            lt = F.binary_cross_entropy_with_logits(logits[:, t], labels[:, t].double()) / T
            gs = torch.autograd.grad(lt, [p[n] for n in names], retain_graph=True,
                                     allow_unused=True)
            for name, g in zip(names, gs):
                g = torch.zeros_like(p[name]) if g is None else g
                out[f"{family}.task_grad.{t}.{name}"] = g.detach().contiguous()
        loss.backward()
        print(f"{family}: parameter seed {seed}, loss {loss.item():.6f}, "
              f"min |pre-ReLU| {relu_margin:.2e}, min top-2 gap in a live pool window {gap:.2e}")
        out[f"{family}.loss"] = loss.detach().reshape(())
        for name, v in p.items():
            out[f"{family}.param.{name}"] = v.detach().float().contiguous()
            out[f"{family}.grad.{name}"] = v.grad.detach().contiguous()
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    save_file(out, OUT)
    print(f"wrote {os.path.normpath(OUT)} ({os.path.getsize(OUT)} bytes, {len(out)} tensors)")


if __name__ == "__main__":
    main()
