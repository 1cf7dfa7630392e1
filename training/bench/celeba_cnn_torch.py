#!/usr/bin/env python3
"""PyTorch twin of mtl-train's TSσBN CelebA CNN, for the step-time
comparison (run by hand, never in CI; needs `pip install torch`).

Same network as `mtl-train bench --model celeba-cnn`: 3×3 convs without bias
3→64 (pool), 64→128, 128→128 (pool), 128→256, 256→256 (pool), 256→512,
512→512, GAP, 2 × (Linear 512→512 no bias + TSσBN + ReLU), 40 heads; every
norm is TSσBN (paper eq. 3) with tasks folded into the batch dimension,
Adam lr 3e-4 with α = 100 on the gates, BCE on random 0/1 labels.

Usage: python3 training/bench/celeba_cnn_torch.py --batch-size 64 --steps 10 --threads 2 [--tasks 40] [--warmup 1]
       python3 training/bench/celeba_cnn_torch.py --device cuda --tasks 40 --batch-size 256 --task-chunk 4
Prints the median training-step time in ms, then one `RESULT key=value …`
line (images/s, peak memory) for scripts.

--task-chunk K runs forward and backward K tasks at a time (the shared
convolution before the first norm is recomputed per chunk), accumulates the
gradients with each chunk's loss weighted K/T, and takes one Adam step: the
same update as all tasks at once, as `mtl-train --task-chunk`.

On CUDA, PyTorch's defaults stand: TF32 for cuDNN convolutions, full f32
for matmuls (printed); cudnn.benchmark is on, so warm up ≥ 1 step.
"""
import argparse
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class TsSigmaBn(nn.Module):
    def __init__(self, tasks, channels, eps=1e-5, momentum=0.1):
        super().__init__()
        self.tasks, self.eps, self.momentum = tasks, eps, momentum
        self.gamma = nn.Parameter(torch.zeros(tasks, channels))
        self.register_buffer("running_mean", torch.zeros(tasks, channels))
        self.register_buffer("running_var", torch.ones(tasks, channels))

    def forward(self, x, n, tasks=None):
        """`x` holds `len(tasks)` task blocks of `n` rows (tasks = a slice
        of this layer's tasks, all of them by default)."""
        tasks = tasks or slice(0, self.tasks)
        k = len(range(self.tasks)[tasks])
        # One block before the tasks fork (the first norm), k after.
        blocks = x.shape[0] // n
        c = x.shape[1]
        xb = x.reshape(blocks, n, c, -1)
        if self.training:
            mean = xb.mean(dim=(1, 3), keepdim=True)
            var = xb.var(dim=(1, 3), unbiased=False, keepdim=True)
            with torch.no_grad():
                m = xb.shape[1] * xb.shape[3]
                self.running_mean[tasks].mul_(1 - self.momentum).add_(self.momentum * mean.reshape(blocks, c))
                self.running_var[tasks].mul_(1 - self.momentum).add_(
                    self.momentum * var.reshape(blocks, c) * m / (m - 1))
        else:
            mean = self.running_mean[tasks].reshape(k, 1, c, 1)
            var = self.running_var[tasks].reshape(k, 1, c, 1)
        y = (xb - mean) / torch.sqrt(var + self.eps) * torch.sigmoid(self.gamma[tasks]).reshape(k, 1, c, 1)
        return y.reshape((k * n,) + x.shape[1:])


class CelebaCnn(nn.Module):
    STAGES = [(64, True), (128, False), (128, True), (256, False), (256, True), (512, False), (512, False)]

    def __init__(self, tasks):
        super().__init__()
        self.tasks = tasks
        convs, norms, c = [], [], 3
        for out, _ in self.STAGES:
            convs.append(nn.Conv2d(c, out, 3, padding=1, bias=False))
            norms.append(TsSigmaBn(tasks, out))
            c = out
        self.convs, self.norms = nn.ModuleList(convs), nn.ModuleList(norms)
        self.fcs = nn.ModuleList([nn.Linear(512, 512, bias=False) for _ in range(2)])
        self.fc_norms = nn.ModuleList([TsSigmaBn(tasks, 512) for _ in range(2)])
        self.head_w = nn.Parameter(torch.zeros(tasks, 512))  # zero-init heads, as mtl-train
        self.head_b = nn.Parameter(torch.zeros(tasks))

    def forward(self, x, tasks=None):
        """Logits [N, len(tasks)] of the tasks in the slice `tasks` (all by default)."""
        tasks = tasks or slice(0, self.tasks)
        n = x.shape[0]
        k = len(range(self.tasks)[tasks])
        # The first norm broadcasts its n rows to one block per task.
        for conv, norm, (_, pool) in zip(self.convs, self.norms, self.STAGES):
            x = F.relu(norm(conv(x), n, tasks))
            if pool:
                x = F.max_pool2d(x, 2)
        x = x.mean(dim=(2, 3))
        for fc, norm in zip(self.fcs, self.fc_norms):
            x = F.relu(norm(fc(x), n, tasks))
        x = x.reshape(k, n, -1)
        return torch.einsum("tnf,tf->nt", x, self.head_w[tasks]) + self.head_b[tasks]


def train_step(model, opt, x, y, chunk):
    """One Adam step on the mean BCE over all tasks, `chunk` tasks per
    forward/backward."""
    opt.zero_grad(set_to_none=True)
    tasks = model.tasks
    total = 0.0
    for t0 in range(0, tasks, chunk):
        t1 = min(t0 + chunk, tasks)
        loss = F.binary_cross_entropy_with_logits(model(x, slice(t0, t1)), y[:, t0:t1])
        (loss * ((t1 - t0) / tasks)).backward()
        total += loss.detach() * ((t1 - t0) / tasks)
    opt.step()
    return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--tasks", type=int, default=40)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=1, help="untimed steps first (as mtl-train bench)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--alpha", type=float, default=100.0)
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--task-chunk", type=int, default=0, help="tasks per forward/backward (0: all at once)")
    ap.add_argument("--image-size", type=int, default=64)
    args = ap.parse_args()
    if args.tasks < 1 or args.batch_size < 2 or args.steps < 1 or args.task_chunk < 0:
        ap.error("--tasks >= 1, --batch-size >= 2, --steps >= 1 and --task-chunk >= 0 are required")
    if args.device == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: this PyTorch sees no CUDA device")
    dev = torch.device(args.device)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
        print(f"TF32: cudnn convolutions {torch.backends.cudnn.allow_tf32}, "
              f"matmul {torch.backends.cuda.matmul.allow_tf32} (PyTorch's defaults)", file=sys.stderr)
    model = CelebaCnn(args.tasks).to(dev)
    gates = [p for name, p in model.named_parameters() if name.endswith("gamma")]
    rest = [p for name, p in model.named_parameters() if not name.endswith("gamma")]
    opt = torch.optim.Adam([{"params": rest}, {"params": gates, "lr": 3e-4 * args.alpha}], lr=3e-4)
    x = torch.rand(args.batch_size, 3, args.image_size, args.image_size).to(dev)
    y = torch.randint(0, 2, (args.batch_size, args.tasks)).float().to(dev)
    chunk = args.task_chunk or args.tasks

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    times = []
    for step in range(args.warmup + args.steps):
        sync()
        t0 = time.perf_counter()
        train_step(model, opt, x, y, chunk)
        sync()
        if step >= args.warmup:
            times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    print(f"pytorch {torch.__version__} celeba-cnn tssbn T={args.tasks} batch {args.batch_size} "
          f"{args.device} task chunk {chunk} threads {args.threads}: median step {1000 * med:.1f} ms")
    if dev.type == "cuda":
        mem = (f"peak_allocated_mib={torch.cuda.max_memory_allocated() / 2**20:.0f} "
               f"peak_reserved_mib={torch.cuda.max_memory_reserved() / 2**20:.0f}")
    else:
        mem = f"peak_rss_mib={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}"
    print(f"RESULT impl=pytorch device={args.device} tasks={args.tasks} batch={args.batch_size} "
          f"task_chunk={chunk} median_step_ms={1000 * med:.1f} images_per_s={args.batch_size / med:.1f} {mem}")


if __name__ == "__main__":
    main()
