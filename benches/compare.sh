#!/usr/bin/env bash
# Side-by-side timing of mtl-inspect and the numpy/scipy equivalent
# (benches/analyses.py) on the committed 40-task, 7-run CelebA-shaped
# fixtures. Run by hand from the repo root; needs hyperfine (apt-get install
# hyperfine) and python3 with numpy, scipy, safetensors. Each comparison
# includes process start and reading the checkpoints, as a user sees it.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q
bin=target/release/mtl-inspect
runs=(fixtures/celeba40/run*.safetensors)
hyperfine -N --warmup 3 --export-markdown "${1:-/dev/stdout}" \
  -n "mtl-inspect capacity" "$bin capacity ${runs[0]} --format json" \
  -n "numpy capacity" "python3 benches/analyses.py capacity ${runs[0]}" \
  -n "mtl-inspect stability (7 runs)" "$bin stability ${runs[*]} --permutations 0 --format json" \
  -n "scipy stability (7 runs)" "python3 benches/analyses.py stability ${runs[*]}" \
  -n "mtl-inspect cluster (7 runs, k=10)" "$bin cluster ${runs[*]} --k 10 --format json" \
  -n "scipy cluster (7 runs, k=10)" "python3 benches/analyses.py cluster ${runs[*]}"
