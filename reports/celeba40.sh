#!/usr/bin/env bash
# Makes reports/celeba40/: the report of the seven committed CelebA-shaped
# runs (40 tasks, the CelebA CNN's 2880 gates). Works from any directory.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo run -- report fixtures/celeba40/run{0..6}.safetensors --k 10 --title 'CelebA-shaped fixtures (7 runs)' --out reports/celeba40
