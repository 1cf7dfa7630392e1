"""Cost of the Python layer: capacity of the 7 CelebA-shaped runs
(fixtures/celeba40) from Python (mtl_inspect), from the CLI, and with the
numpy code it replaces (benches/analyses.py's load + lstsq projection).

    python python/benches/capacity.py [path/to/mtl-inspect]

Run from the repository root with the wheel installed (a release build:
`maturin build --release`) and the CLI built in release; needs numpy,
safetensors. Prints median wall times over repeats: in-process (after
import) and as a fresh process (interpreter start and imports included, as
the CLI's numbers are).
"""

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benches"))

RUNS = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "fixtures/celeba40").glob("run*.safetensors"))


def median_time(f, repeats):
    f()  # warm-up: page cache, lazy imports
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    import analyses  # benches/analyses.py: the numpy/scipy baseline
    import mtl_inspect as mi

    cli = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "target/release/mtl-inspect")

    def numpy_capacity():
        return [analyses.capacity(analyses.load(p)[1]) for p in RUNS]

    def py_capacity():
        return mi.capacity(RUNS).table

    def py_capacity_numpy_frames():
        return mi.capacity(RUNS, frame="numpy").table

    from mtl_inspect import _native

    opened = [mi.open(p) for p in RUNS]
    natives = [c._native for c in opened]
    rows = [
        ("in process: mtl_inspect.capacity(7 paths) → DataFrame (reads the files)", median_time(py_capacity, 20)),
        ("in process: open the 7 checkpoints", median_time(lambda: [mi.open(p) for p in RUNS], 20)),
        ("in process: capacity(7 opened) → DataFrame", median_time(lambda: mi.capacity(opened).table, 20)),
        ("in process: _native.capacity_json(7 opened) (Rust + JSON string)",
         median_time(lambda: _native.capacity_json(natives), 20)),
        ("in process: mtl_inspect.capacity(7 runs, frame='numpy')", median_time(py_capacity_numpy_frames, 20)),
        ("in process: numpy load + lstsq (7 runs)", median_time(numpy_capacity, 3)),
    ]
    py = sys.executable
    procs = [
        ("process: mtl-inspect capacity run*.safetensors --format json", [cli, "capacity", *RUNS, "--format", "json"]),
        ("process: python -c 'import mtl_inspect; capacity(...)'",
         [py, "-c", f"import mtl_inspect as mi; mi.capacity({RUNS!r}).table"]),
        ("process: python -c 'import mtl_inspect' (import only)", [py, "-c", "import mtl_inspect, pandas"]),
        ("process: numpy baseline (7 runs)",
         [py, "-c", f"import sys; sys.path.insert(0, 'benches'); import analyses as a; "
                    f"[a.capacity(a.load(p)[1]) for p in {RUNS!r}]"]),
    ]
    for name, cmd in procs:
        rows.append((name, median_time(lambda: subprocess.run(cmd, cwd=ROOT, check=True,
                                                              capture_output=True), 5 if "numpy" in name else 10)))
    for name, t in rows:
        print(f"| {name} | {t * 1000:.1f} ms |")


if __name__ == "__main__":
    main()
