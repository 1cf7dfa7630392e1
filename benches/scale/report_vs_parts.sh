#!/usr/bin/env bash
# Issue 21's yardstick: `report` with its defaults against the sum of the
# analyses it is made of (`capacity` of every run + `stability` with its
# defaults + `cluster`), the same runs, one sitting, each a whole process
# under GNU time (median wall of REPEATS, peak RSS). Run by hand from the
# repository root on a quiet machine:
#
#     bash benches/scale/report_vs_parts.sh DATA_DIR [REPEATS] [K] [BIN]
#
# DATA_DIR holds run*.safetensors (benches/scale/make_runs.py writes them:
# `--runs 10 --tasks 300 --filters 57600`, or its defaults for 20 × 500 ×
# 100 800). REPEATS defaults to 3, K (report and cluster) to 20, BIN to
# target/release/mtl-inspect (built here when it is the default); pass
# another build as BIN to time the one before a change.
set -euo pipefail
cd "$(dirname "$0")/../.."
data=$1
repeats=${2:-3}
k=${3:-20}
bin=${4:-target/release/mtl-inspect}
if [[ $# -lt 4 ]]; then cargo build --release -q; fi
runs=("$data"/run*.safetensors)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# shellcheck source=benches/scale/measure.sh
source benches/scale/measure.sh

printf '%s runs, %s, %s repeat(s), k = %s, %s\n\n' "${#runs[@]}" "$data" "$repeats" "$k" "$bin"
printf '| command | wall (median) | peak RSS |\n|---|---:|---:|\n'
sum=0
row() {
  local name=$1; shift
  read -r t p < <(measure "$@")
  printf '| %s | %.2f s | %d MB |\n' "$name" "$t" $((p / 1024))
  echo "$t"  >"$out/last"
}
row "capacity (${#runs[@]} runs)" "$bin" capacity "${runs[@]}" --format json; sum=$(echo "$sum + $(cat "$out/last")" | bc -l)
row "stability (defaults)" "$bin" stability "${runs[@]}" --format json; sum=$(echo "$sum + $(cat "$out/last")" | bc -l)
row "cluster --k $k" "$bin" cluster "${runs[@]}" --k "$k" --format json; sum=$(echo "$sum + $(cat "$out/last")" | bc -l)
printf '| **the three** | **%.2f s** | |\n' "$sum"
row "**report --k $k** (defaults)" "$bin" report "${runs[@]}" --k "$k" --out "$out/report"
printf '\nreport ÷ the three: %.2f\n' "$(echo "$(cat "$out/last") / $sum" | bc -l)"
