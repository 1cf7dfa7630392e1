#!/usr/bin/env python3
"""Tables of the sweep fixtures (fixtures/sweeps/), measured with mtl-inspect.

Noise sweep (paper App. E): for each ξ, the noisy regression task's capacity
split (`mtl-inspect capacity`, eq. 4–5), its cosine similarity to its binary
twin `<group 0>_large` (`mtl-inspect similarity`), its test MSE and R² (clean
test targets) and the mean test F1 of the binary tasks (checkpoint metadata).

α sweep (paper §7.1, App. D): for each α, the share of gates below 0.1 and
above 0.9 over all tasks and filters (`mtl-inspect gates`, Fig. 5/9) and the
mean test F1.

Usage (from the repository root):
    python3 training/scripts/sweep_table.py fixtures/sweeps [MTL_INSPECT...]
MTL_INSPECT defaults to `cargo run --release -q --` (the root crate's CLI).
Needs safetensors (numpy backend).
"""
import glob
import json
import os
import subprocess
import sys

from safetensors import safe_open


def inspect(cmd, *args):
    out = subprocess.run([*cmd, *args, "--format", "json"], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def meta(path):
    with safe_open(path, "np") as f:
        return f.metadata()


def swept(path, key):
    return json.loads(meta(path).get("mtl.sweep", "{}")).get(key)


def noise_table(cmd, files):
    print("| ξ | capacity | shared | independent | cos(size, large) | test MSE | test R² | mean test F1 (binary) | best epoch |")
    print("|---|---|---|---|---|---|---|---|---|")
    for p in sorted(files, key=lambda p: swept(p, "noise")):
        m = meta(p)
        size = json.loads(m["mtl.regression_tasks"])[0]
        twin = size.rsplit("_", 1)[0] + "_large"
        cap = {r["task"]: r for r in inspect(cmd, "capacity", p)["tasks"]}[size]
        sim = inspect(cmd, "similarity", p)
        tasks = sim["tasks"]
        cos = sim["matrix"][tasks.index(size)][tasks.index(twin)]
        test = json.loads(m["mtl.test_metrics"])[size]
        print(f"| {m['mtl.dataset_noise']} | {cap['capacity']:.4f} | {cap['shared']:.4f} "
              f"| {cap['independent']:.4f} | {cos:.4f} | {test['mse']:.4f} | {test['r2']:.4f} "
              f"| {float(m['mtl.test_mean_f1']):.4f} | {m['mtl.best_epoch']} |")


def alpha_table(cmd, files):
    print("| α | gates < 0.1 | gates > 0.9 | median gate | mean test F1 | best epoch |")
    print("|---|---|---|---|---|---|")
    for p in sorted(files, key=lambda p: swept(p, "alpha")):
        m = meta(p)
        g = inspect(cmd, "gates", p)["overall"]
        print(f"| {m['mtl.alpha']} | {g['below_0_1']:.3f} | {g['above_0_9']:.3f} "
              f"| {g['median']:.3f} | {float(m['mtl.test_mean_f1']):.4f} | {m['mtl.best_epoch']} |")


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "fixtures/sweeps"
    cmd = sys.argv[2:] or ["cargo", "run", "--release", "-q", "--"]
    noise = glob.glob(os.path.join(root, "noise", "*.safetensors"))
    alpha = glob.glob(os.path.join(root, "alpha", "*.safetensors"))
    if noise:
        print(f"Noise sweep ({len(noise)} runs, {root}/noise)\n")
        noise_table(cmd, noise)
        print()
    if alpha:
        print(f"α sweep ({len(alpha)} runs, {root}/alpha)\n")
        alpha_table(cmd, alpha)
    if not noise and not alpha:
        sys.exit(f"no checkpoints in {root}/noise or {root}/alpha")


if __name__ == "__main__":
    main()
