#!/usr/bin/env bash
# Makes reports/shapes/: the full report of the committed shapes fixtures
# (five TSσBN seeds), with the sections drawn from mtl-train's diagnose files
# and from the noise and α sweeps. Works from any directory; the page records
# the same command line as typing the cargo command below at the repo root.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo run -- report fixtures/shapes/shapes_tssbn_seed*.safetensors --k 4 --title 'Shapes fixtures: 5 seeds, heads tied at the start (see README)' --out reports/shapes --diagnostics training/diagnostics/shapes_tssbn_seed0.json training/diagnostics/shapes_bn_seed0.json --sweep fixtures/sweeps/noise fixtures/sweeps/alpha
