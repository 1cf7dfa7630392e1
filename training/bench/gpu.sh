#!/usr/bin/env bash
# The GPU check and benchmark of mtl-train, one script, under 8 minutes on
# an H100/H200. The GPU machine has no cargo: build the binary where cargo
# is and bring it along.
#
#   # where cargo is (writes the stripped binary training/bench/bin/mtl-train-cuda):
#   training/scripts/build-cuda.sh
#   # on the GPU machine, from the repository root:
#   training/bench/gpu.sh                      # MTL_TRAIN=training/bench/bin/mtl-train-cuda
#   MTL_TRAIN=/path/to/mtl-train training/bench/gpu.sh
#   # anywhere, to try the script itself on the CPU with tiny sizes:
#   DEVICE=cpu MTL_TRAIN=target/release/mtl-train training/bench/gpu.sh
#
# (a) `mtl-train gpucheck`: one training step (forward, backward, one Adam
#     step) of shapes-cnn (TSσBN, TSBN, shared BN) and of celeba-cnn (TSσBN)
#     on the CPU's fused kernels and on CUDA, same weights and batch, every
#     tensor compared in f64 (tolerances: forward 1e-9, gradients 1e-7 of
#     the tensor's largest magnitude, Adam update 1e-7·lr;
#     training/src/gpucheck.rs says why f64 and why these). Then the same in
#     f32, for information only: there ReLU kinks make correct backends
#     differ by up to ~4e-2 in a gradient. On DEVICE=cpu the other side is
#     candle's ops on the CPU.
# (b) CelebA CNN, TSσBN, T = 40, batch 256: images/s and peak GPU memory of
#     `mtl-train bench` (full f32, then TF32) and of the PyTorch twin
#     training/bench/celeba_cnn_torch.py (PyTorch's defaults: TF32
#     convolutions), one after the other, as a markdown table. Both in
#     chunks of TASK_CHUNK tasks when mtl-train has --task-chunk; without
#     it, PyTorch at T = 40 in chunks and both at T = SMALL_TASKS all at
#     once (candle needs about 200 GB for T = 40 all at once).
#
# Time: the checks take seconds, each benchmark run well under a minute on
# an H100; the timeouts (60 s a check, RUN_TIMEOUT a run) bound the whole
# at 3 × 60 + 4 × 75 s = 8 min.
#
# Environment: MTL_TRAIN, PYTHON (python3), DEVICE (cuda | cpu), TASKS (40),
# BATCH (256), TASK_CHUNK (4; used on both sides when mtl-train has
# --task-chunk), IMAGE_SIZE (64), STEPS (3, timed, after 1 warm-up step),
# RUN_TIMEOUT (75 s per benchmark run), CANDLE_TF32 ("0 1"), SMALL_TASKS
# (4: the size compared all at once when mtl-train has no --task-chunk),
# LOG_DIR ($OUT/gpu-bench when $OUT is set, else /tmp/gpu-bench).
#
# Exit status: 0 when the check passed (a benchmark run that times out or
# runs out of memory is reported in the table, not fatal), 1 on a check
# mismatch or a failed check, 2 when the setup is wrong.
set -uo pipefail
cd "$(dirname "$0")/../.."

die() { printf 'gpu.sh: error: %s\n' "$*" >&2; exit 2; }
say() { printf '== %s\n' "$*" >&2; }

bin="${MTL_TRAIN:-training/bench/bin/mtl-train-cuda}"
python="${PYTHON:-python3}"
device="${DEVICE:-cuda}"
tasks="${TASKS:-40}"
batch="${BATCH:-256}"
chunk="${TASK_CHUNK:-4}"
image="${IMAGE_SIZE:-64}"
steps="${STEPS:-3}"
run_timeout="${RUN_TIMEOUT:-75}"
candle_tf32="${CANDLE_TF32:-0 1}"
log_dir="${LOG_DIR:-${OUT:+$OUT/gpu-bench}}"
log_dir="${log_dir:-/tmp/gpu-bench}"
twin=training/bench/celeba_cnn_torch.py

[[ $device == cuda || $device == cpu ]] || die "DEVICE='$device': choose cuda or cpu"
for v in tasks batch chunk image steps run_timeout; do
  [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || die "$v='${!v}' is not a positive integer"
done
if [[ ! -x "$bin" ]]; then
  die "no mtl-train binary at '$bin'. Build it where cargo is with
  training/scripts/build-cuda.sh   (writes training/bench/bin/mtl-train-cuda, about 20 MB stripped)
and bring that file along in the working tree (it is git-ignored), or set MTL_TRAIN=path."
fi
command -v "$python" >/dev/null || die "$python not found (PYTHON=...)"
"$python" -c 'import torch' 2>/dev/null || die "$python cannot import torch (the PyTorch twin needs it)"
mkdir -p "$log_dir" || die "cannot create LOG_DIR $log_dir"
say "logs in $log_dir"

if [[ $device == cuda ]]; then
  command -v nvidia-smi >/dev/null || die "nvidia-smi not found: no NVIDIA driver on this machine (DEVICE=cpu runs the CPU path)"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | sed 's/^/GPU: /' >&2
  # The binary links the CUDA 13 libraries (libcublas.so.13, …); on a
  # machine with PyTorch cu130 they are in its wheels, elsewhere in a
  # toolkit. Add whichever directories hold the ones the loader misses.
  missing() { ldd "$bin" 2>/dev/null | awk '/not found/ {print $1}'; }
  if [[ -n "$(missing)" ]]; then
    dirs=()
    while IFS= read -r d; do dirs+=("$d"); done < <(
      "$python" - <<'EOF'
import glob, os, site, sys
roots = [p for p in site.getsitepackages() + [site.getusersitepackages()] if os.path.isdir(p)]
for r in roots:
    for d in sorted(glob.glob(os.path.join(r, "nvidia", "cu13", "lib")) + glob.glob(os.path.join(r, "nvidia", "*", "lib"))):
        print(d)
    print(os.path.join(r, "torch", "lib"))
EOF
      ls -d /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/local/cuda-13*/lib64 2>/dev/null
    )
    for d in "${dirs[@]}"; do
      [[ -d "$d" ]] && export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$d"
    done
  fi
  if [[ -n "$(missing)" ]]; then
    die "the loader cannot find $(missing | tr '\n' ' ')for $bin; install the CUDA 13 libraries or set LD_LIBRARY_PATH"
  fi
  ldd "$bin" | grep -E 'libcu|libnvrtc' | sed 's/^\s*/  /' >&2
fi

status=0

# (a) the check.
against=cuda
[[ $device == cpu ]] && against=cpu-unfused
check() { # <fatal 0|1> <gpucheck args…>
  local fatal="$1"
  shift
  say "mtl-train gpucheck --against $against $*"
  if ! timeout 60 "$bin" gpucheck --against "$against" "$@" | tee -a "$log_dir/gpucheck.md"; then
    if [[ $fatal == 1 ]]; then
      echo "CHECK FAILED: gpucheck $*" | tee -a "$log_dir/gpucheck.md"
      status=1
    else
      echo "(f32, information only: differences beyond the f32 tolerances are expected at ReLU kinks)" |
        tee -a "$log_dir/gpucheck.md"
    fi
  fi
}
: >"$log_dir/gpucheck.md"
check 1 --model shapes-cnn --norm all --tasks 4 --batch-size 8
check 1 --model celeba-cnn --norm tssbn --tasks 2 --batch-size 4
check 0 --model shapes-cnn --norm all --tasks 4 --batch-size 8 --dtype f32

# (b) the benchmark. Peak GPU memory: the highest memory.used nvidia-smi
# sees while the run lasts, less what was in use before it started (so it
# includes the CUDA context, ~0.5 GB, on both sides).
rows=()
peak_mib() { # <sample file> <baseline>
  awk -v b="$2" 'BEGIN {m = -1} /^[0-9]+$/ {if ($1 > m) m = $1} END {if (m < 0) print "n/a"; else print m - b}' "$1"
}
measure() { # <label> <log> <command…>: runs it with a memory sampler; sets $peak and $rc
  local label="$1" log="$2"
  shift 2
  local sampler="" samples="$log_dir/$label.mem" base=0
  if [[ $device == cuda ]]; then
    base="$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i 0 | head -1)"
    nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i 0 -lms 100 >"$samples" &
    sampler=$!
  fi
  if [[ $device == cpu && -x /usr/bin/time ]]; then
    timeout "$run_timeout" /usr/bin/time -f 'maxrss_kib=%M' "$@" >"$log" 2>&1
    rc=$?
    peak="$(sed -n 's/.*maxrss_kib=\([0-9]*\).*/\1/p' "$log" | tail -1)"
    peak="${peak:+$((peak / 1024)) (RSS)}"
  else
    timeout "$run_timeout" "$@" >"$log" 2>&1
    rc=$?
    peak="n/a"
  fi
  if [[ -n "$sampler" ]]; then
    kill "$sampler" 2>/dev/null
    wait "$sampler" 2>/dev/null
    peak="$(peak_mib "$samples" "$base")"
  fi
  tail -3 "$log" | sed 's/^/  /' >&2
}
outcome() { # <rc> <log>
  if [[ $1 == 124 ]]; then echo "timed out after ${run_timeout} s"
  elif grep -qiE 'out of memory|OUT_OF_MEMORY' "$2"; then echo "out of memory"
  else echo "failed (exit $1, see $2)"; fi
}

run_candle() { # <tasks> <chunk, 0 = all at once> <tf32 0|1>
  local t="$1" k="$2" tf32="$3" label="candle-T$1-chunk$2-tf32-$3" args=() tf line ms ips
  ((k > 0)) && args=(--task-chunk "$k")
  say "mtl-train bench T=$t chunk $k MTL_TRAIN_TF32=$tf32"
  measure "$label" "$log_dir/$label.log" env MTL_TRAIN_TF32="$tf32" "$bin" bench --model celeba-cnn \
    --norm tssbn --tasks "$t" --batch-size "$batch" --image-size "$image" --warmup 1 --steps "$steps" "${args[@]}"
  line="$(grep -E 'median step' "$log_dir/$label.log" | tail -1)"
  tf="off"
  [[ $tf32 == 1 ]] && tf="all f32 matmuls and convs"
  [[ $device == cpu ]] && tf="n/a"
  ((k > 0)) || k="$t"
  if [[ $rc == 0 && -n "$line" ]]; then
    ms="$(sed -n 's/.*median step \([0-9.]*\) ms.*/\1/p' <<<"$line")"
    ips="$(sed -n 's/.*(\([0-9.]*\) img\/s).*/\1/p' <<<"$line")"
    rows+=("| mtl-train (candle) | $device | $t | $k | $tf | $ms | $ips | $peak |")
  else
    rows+=("| mtl-train (candle) | $device | $t | $k | $tf | $(outcome "$rc" "$log_dir/$label.log") | | $peak |")
  fi
}

run_twin() { # <tasks> <chunk, 0 = all at once>
  local t="$1" k="$2" label="pytorch-T$1-chunk$2" tf line ms ips alloc
  say "PyTorch twin T=$t chunk $k"
  measure "$label" "$log_dir/$label.log" "$python" "$twin" --device "$device" --tasks "$t" \
    --batch-size "$batch" --image-size "$image" --warmup 2 --steps "$steps" --task-chunk "$k" \
    --threads "$(nproc)"
  line="$(grep '^RESULT' "$log_dir/$label.log" | tail -1)"
  tf="convs (PyTorch default)"
  [[ $device == cpu ]] && tf="n/a"
  ((k > 0)) || k="$t"
  if [[ $rc == 0 && -n "$line" ]]; then
    ms="$(sed -n 's/.*median_step_ms=\([0-9.]*\).*/\1/p' <<<"$line")"
    ips="$(sed -n 's/.*images_per_s=\([0-9.]*\).*/\1/p' <<<"$line")"
    alloc="$(sed -n 's/.*peak_allocated_mib=\([0-9]*\).*/\1/p' <<<"$line")"
    rows+=("| PyTorch twin | $device | $t | $k | $tf | $ms | $ips | $peak${alloc:+ (allocator peak $alloc)} |")
  else
    rows+=("| PyTorch twin | $device | $t | $k | $tf | $(outcome "$rc" "$log_dir/$label.log") | | $peak |")
  fi
}

say "PyTorch $("$python" -c 'import torch; print(torch.__version__)')"
if "$bin" bench --help 2>/dev/null | grep -q -- '--task-chunk'; then
  note="T = $tasks with $chunk tasks per forward/backward on both sides"
  for tf32 in $candle_tf32; do run_candle "$tasks" "$chunk" "$tf32"; done
  run_twin "$tasks" "$chunk"
else
  # All 40 tasks at once need about 200 GB of activations in candle (not
  # run); PyTorch runs T = 40 in chunks, and both run T = SMALL_TASKS all
  # at once, a size that fits.
  small="${SMALL_TASKS:-4}"
  note="this mtl-train has no --task-chunk, so no candle row at T = $tasks (all tasks at once; at T = 40 about 200 GB); PyTorch at T = $tasks in chunks of $chunk, both at T = $small all at once"
  run_twin "$tasks" "$chunk"
  for tf32 in $candle_tf32; do run_candle "$small" 0 "$tf32"; done
  run_twin "$small" 0
fi

{
  echo
  echo "CelebA CNN, TSσBN, batch $batch, ${image}×${image}, median of $steps steps after warm-up ($(date -u +%F)); $note"
  echo
  echo "| implementation | device | T | tasks per chunk | TF32 | median step (ms) | images/s | peak GPU memory (MiB) |"
  echo "|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
} | tee "$log_dir/results.md"
[[ $device == cpu ]] && echo "(DEVICE=cpu: memory is peak RSS in MiB; a dry run of the script, not a GPU number)"

if [[ $status != 0 ]]; then
  echo "gpucheck found a mismatch or failed: see $log_dir/gpucheck.md" >&2
fi
exit "$status"
