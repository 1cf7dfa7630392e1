"""The five analyses on the seven CelebA-shaped runs (fixtures/celeba40,
40 tasks x 2 880 F16 gates), as whole processes, mtl-inspect against the
numpy/scipy code of benches/analyses.py, side by side in one run (issue 21).
Run by hand from the repository root after `cargo build --release`, with a
python that has numpy, scipy and safetensors:

    python benches/celeba_five.py [REPEATS] [BIN]

Each repeat runs the five mtl-inspect commands, then the five numpy ones,
one process after the other; the table gives each command's median wall
time over REPEATS (default 15) and the sum of the medians.
"""
import statistics
import subprocess
import sys
import time
from pathlib import Path

repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 15
binary = sys.argv[2] if len(sys.argv) > 2 else "target/release/mtl-inspect"
runs = sorted(str(p) for p in Path("fixtures/celeba40").glob("run*.safetensors"))
py = sys.executable
ours = {
    "inspect": [binary, "inspect", runs[0]],
    "capacity": [binary, "capacity", runs[0], "--format", "json"],
    "similarity": [binary, "similarity", runs[0], "--format", "json"],
    "stability --permutations 0": [binary, "stability", *runs, "--permutations", "0", "--format", "json"],
    "cluster --k 10": [binary, "cluster", *runs, "--k", "10", "--format", "json"],
}
theirs = {
    "inspect": [py, "benches/analyses.py", "inspect", runs[0]],
    "capacity": [py, "benches/analyses.py", "capacity", runs[0]],
    "similarity": [py, "benches/analyses.py", "similarity", runs[0]],
    "stability --permutations 0": [py, "benches/analyses.py", "stability", *runs],
    "cluster --k 10": [py, "benches/analyses.py", "cluster", *runs],
}
times = {(side, name): [] for side in ("ours", "theirs") for name in ours}
for _ in range(repeats + 1):  # the first repeat warms the caches and is dropped
    for side, cmds in (("ours", ours), ("theirs", theirs)):
        for name, cmd in cmds.items():
            t = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            times[(side, name)].append(time.perf_counter() - t)
med = {key: statistics.median(v[1:]) for key, v in times.items()}
print(f"| command ({repeats} repeats, median) | mtl-inspect | numpy/scipy | ratio |")
print("|---|---:|---:|---:|")
for name in ours:
    a, b = med[("ours", name)], med[("theirs", name)]
    print(f"| {name} | {a * 1e3:.1f} ms | {b * 1e3:.0f} ms | {b / a:.1f}x |")
a = sum(med[("ours", n)] for n in ours)
b = sum(med[("theirs", n)] for n in ours)
print(f"| **the five** | **{a * 1e3:.1f} ms** | **{b * 1e3:.0f} ms** | **{b / a:.1f}x** |")
