#!/usr/bin/env python3
"""PyTorch twin of mtl-train's TSσBN CelebA CNN, for the step-time
comparison (run by hand, never in CI; needs `pip install torch`).

Same network as `mtl-train bench --model celeba-cnn`: 3×3 convs without bias
3→64 (pool), 64→128, 128→128 (pool), 128→256, 256→256 (pool), 256→512,
512→512, GAP, 2 × (Linear 512→512 no bias + TSσBN + ReLU), 40 heads; every
norm is TSσBN (paper eq. 3) with tasks folded into the batch dimension,
Adam lr 3e-4 with α = 100 on the gates, BCE on random 0/1 labels.

Usage: python3 training/bench/celeba_cnn_torch.py --batch-size 64 --steps 10 --threads 2 [--tasks 40] [--warmup 1]
Prints the median training-step time in ms.
"""
import argparse
import statistics
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

    def forward(self, x, n):
        blocks = x.shape[0] // n
        c = x.shape[1]
        xb = x.reshape(blocks, n, c, -1)
        if self.training:
            mean = xb.mean(dim=(1, 3), keepdim=True)
            var = xb.var(dim=(1, 3), unbiased=False, keepdim=True)
            with torch.no_grad():
                m = xb.shape[1] * xb.shape[3]
                self.running_mean.mul_(1 - self.momentum).add_(self.momentum * mean.reshape(blocks, c))
                self.running_var.mul_(1 - self.momentum).add_(
                    self.momentum * var.reshape(blocks, c) * m / (m - 1))
        else:
            mean = self.running_mean.reshape(self.tasks, 1, c, 1)
            var = self.running_var.reshape(self.tasks, 1, c, 1)
        y = (xb - mean) / torch.sqrt(var + self.eps) * torch.sigmoid(self.gamma).reshape(self.tasks, 1, c, 1)
        return y.reshape((self.tasks * n,) + x.shape[1:])


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

    def forward(self, x):
        n = x.shape[0]
        for (conv, norm, (_, pool)) in zip(self.convs, self.norms, self.STAGES):
            x = F.relu(norm(conv(x), n))
            if pool:
                x = F.max_pool2d(x, 2)
        x = x.mean(dim=(2, 3))
        for fc, norm in zip(self.fcs, self.fc_norms):
            x = F.relu(norm(fc(x), n))
        x = x.reshape(self.tasks, n, -1)
        return (torch.einsum("tnf,tf->nt", x, self.head_w) + self.head_b)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--tasks", type=int, default=40)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=1, help="untimed steps first (as mtl-train bench)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--alpha", type=float, default=100.0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = CelebaCnn(args.tasks)
    gates = [p for name, p in model.named_parameters() if name.endswith("gamma")]
    rest = [p for name, p in model.named_parameters() if not name.endswith("gamma")]
    opt = torch.optim.Adam([{"params": rest}, {"params": gates, "lr": 3e-4 * args.alpha}], lr=3e-4)
    x = torch.rand(args.batch_size, 3, 64, 64)
    y = torch.randint(0, 2, (args.batch_size, args.tasks)).float()
    times = []
    for step in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(model(x), y)
        loss.backward()
        opt.step()
        if step >= args.warmup:
            times.append(time.perf_counter() - t0)
    print(f"pytorch {torch.__version__} celeba-cnn tssbn T={args.tasks} batch {args.batch_size} "
          f"threads {args.threads}: median step {1000 * statistics.median(times):.1f} ms")


if __name__ == "__main__":
    main()
