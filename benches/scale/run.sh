#!/usr/bin/env bash
# Scale benchmark: mtl-inspect vs the fastest numpy/scipy equivalent
# (benches/scale/baseline.py), both as whole processes, side by side, on
# 20 runs × 500 tasks × 100 800 filters (F16, ~100 MB per run). Run by hand
# from the repo root on a quiet machine (not in CI):
#
#     bash benches/scale/run.sh [DATA_DIR] [REPEATS]
#
# DATA_DIR (default /tmp/mtl-scale) is filled by make_runs.py when empty
# (2 GB). Needs python3 with numpy, scipy, safetensors (a venv: set PYTHON),
# GNU time at /usr/bin/time and bc (Debian packages time, bc).
# Prints a markdown table: median wall time of REPEATS (default 3) runs,
# peak RSS (GNU time's maximum resident set size), and numpy/mtl-inspect.
set -euo pipefail
cd "$(dirname "$0")/../.."
data=${1:-/tmp/mtl-scale}
repeats=${2:-3}
py=${PYTHON:-python3}
if ! ls "$data"/run*.safetensors >/dev/null 2>&1; then
  "$py" benches/scale/make_runs.py "$data"
fi
cargo build --release -q
bin=target/release/mtl-inspect
runs=("$data"/run*.safetensors)

# shellcheck source=benches/scale/measure.sh
source benches/scale/measure.sh

printf '| command | mtl-inspect (s) | peak RSS | numpy/scipy (s) | peak RSS | numpy ÷ mtl-inspect |\n'
printf '|---|---:|---:|---:|---:|---:|\n'
total_ours=0
total_theirs=0
bench() {
  local name=$1 ours_cmd=$2 theirs_cmd=$3
  read -r to po < <(measure $ours_cmd)
  read -r tt pt < <(measure $theirs_cmd)
  total_ours=$(echo "$total_ours + $to" | bc -l)
  total_theirs=$(echo "$total_theirs + $tt" | bc -l)
  printf '| %s | %.2f | %d MB | %.2f | %d MB | %.1f× |\n' "$name" "$to" $((po / 1024)) "$tt" $((pt / 1024)) "$(echo "$tt / $to" | bc -l)"
}
bench "capacity (1 run)" "$bin capacity ${runs[0]} --format json" "$py benches/scale/baseline.py capacity ${runs[0]}"
bench "stability (${#runs[@]} runs, no intervals/Mantel)" "$bin stability ${runs[*]} --permutations 0 --bootstrap 0 --format json" "$py benches/scale/baseline.py stability ${runs[*]}"
bench "cluster (${#runs[@]} runs, k=10)" "$bin cluster ${runs[*]} --k 10 --format json" "$py benches/scale/baseline.py cluster ${runs[*]}"
printf '| **capacity + stability + cluster** | **%.2f** | | **%.2f** | | **%.1f×** |\n' "$total_ours" "$total_theirs" "$(echo "$total_theirs / $total_ours" | bc -l)"
read -r td pd < <(measure $bin stability "${runs[@]}" --format json)
printf '\nmtl-inspect stability with its defaults (999 Mantel permutations, jackknife intervals): %.2f s, %d MB\n' "$td" $((pd / 1024))
