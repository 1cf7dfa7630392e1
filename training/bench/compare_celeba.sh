#!/usr/bin/env bash
# Training-step time of the TSσBN CelebA CNN (batch 64 by default): candle
# (`mtl-train bench`) and its PyTorch twin, one after the other on the same
# CPU, with each side's peak memory. Run by hand (needs `pip install torch`).
#
#   training/bench/compare_celeba.sh            # T = 4 tasks, 2 timed steps
#   TASKS="4 8" STEPS=3 training/bench/compare_celeba.sh
#   BATCHES="32 64" STEPS=10 training/bench/compare_celeba.sh  # issue 11's comparison
#
# Needs /usr/bin/time (Debian package `time`) for the peak memory.
#
# With the tasks folded into the batch, memory grows with T × batch
# (PyTorch: 3.6 GB at T = 4, batch 64; candle: 3.7 GB), so the paper's T = 40
# at batch 64 does not fit in the dev machine's 24 GiB for either.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release -q -p mtl-train
threads=${THREADS:-2}
steps=${STEPS:-2}
py=${PYTHON:-python3}
for tasks in ${TASKS:-4}; do
  for batch in ${BATCHES:-64}; do
    echo "== T = $tasks, batch $batch, $steps timed steps each"
    /usr/bin/time -f "  peak memory %M KiB" ./target/release/mtl-train bench --model celeba-cnn \
      --tasks "$tasks" --batch-size "$batch" --warmup 1 --steps "$steps"
    /usr/bin/time -f "  peak memory %M KiB" "$py" training/bench/celeba_cnn_torch.py \
      --tasks "$tasks" --batch-size "$batch" --warmup 1 --steps "$steps" --threads "$threads"
  done
done
