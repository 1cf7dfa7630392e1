#!/usr/bin/env bash
# Builds `mtl-train --features cuda` on a machine without a GPU or a CUDA
# toolkit: nvcc, the CUDA headers and the libraries the binary links come
# from NVIDIA's PyPI wheels, installed in a venv outside the repository.
#
#   training/scripts/build-cuda.sh             # release build + stripped copy for gpu.sh
#   training/scripts/build-cuda.sh --debug     # `cargo build -p mtl-train --features cuda`
#   training/scripts/build-cuda.sh --setup-only   # wheels + CUDA root, then print the env
#   training/scripts/build-cuda.sh --clippy    # clippy -D warnings with --features cuda
#
# Environment:
#   CUDA_VENV         venv holding the wheels (default /work/venv-cuda)
#   CUDA_COMPUTE_CAP  GPU architecture the kernels are compiled for (default
#                     90: H100 and H200). There is no GPU to ask here.
#   JOBS              cargo -j and parallel nvcc runs (default 1)
#   CARGO_TARGET_DIR  as usual (default: the workspace's target/)
#
# Why CUDA 13.0 and not the cu12 wheels: the GPU machine runs driver 580
# (CUDA 13.0) with PyTorch cu130, so its libraries are libcublas.so.13,
# libcudart.so.13, … . candle links cudarc with `dynamic-linking` and
# candle-kernels links cudart, so the binary needs those exact sonames at
# start-up; a cu12 build would look for libcublas.so.12, which is not there
# (and at ~0.5 GB cannot be carried along). nvcc is pinned to 13.0 because
# driver 580 cannot JIT the PTX of a newer nvcc.
#
# The driver library (libcuda.so.1) is not in any wheel: a stub exporting
# every function that cuda.h declares is compiled here for the linker. At run
# time the real driver's libcuda.so.1 is loaded instead.
#
# candle's `cudnn` feature is not offered: cudarc 0.19 binds cuDNN 9.21's
# API, the GPU machine's PyTorch brings cuDNN 9.19, and the binary resolves
# every symbol at start-up (BIND_NOW), so it might not start there.
#
# Idempotent: installed wheels, the CUDA root and the stub are reused when
# they are already right.
set -euo pipefail

say() { printf '== %s\n' "$*" >&2; }
die() { printf 'build-cuda.sh: error: %s\n' "$*" >&2; exit 1; }

mode=release
for arg in "$@"; do
  case "$arg" in
    --debug) mode=debug ;;
    --setup-only) mode=setup ;;
    --clippy) mode=clippy ;;
    -h|--help) sed -n '2,36p' "$0"; exit 0 ;;
    *) die "unknown argument '$arg' (see --help)" ;;
  esac
done

repo="$(cd "$(dirname "$0")/../.." && pwd)"
venv="${CUDA_VENV:-/work/venv-cuda}"
cap="${CUDA_COMPUTE_CAP:-90}"
jobs="${JOBS:-1}"
[[ "$cap" =~ ^[0-9]+$ ]] || die "CUDA_COMPUTE_CAP='$cap' is not a number like 90 (H100/H200) or 80 (A100)"
[[ "$jobs" =~ ^[1-9][0-9]*$ ]] || die "JOBS='$jobs' is not a positive number"

# The wheels of CUDA 13.0.2, the versions the `cuda-toolkit==13.0.2`
# meta-package pins, which is what PyTorch 2.11 (cu130) installs on the GPU
# machine. nvidia-cuda-crt and nvidia-nvvm are nvcc's own dependencies;
# unpinned, pip would take the newest.
wheels=(
  nvidia-cuda-nvcc==13.0.88
  nvidia-cuda-crt==13.0.88
  nvidia-nvvm==13.0.88
  nvidia-cuda-runtime==13.0.96
  nvidia-cuda-cccl==13.0.85
  nvidia-cuda-nvrtc==13.0.88
  nvidia-cublas==13.1.0.3
  nvidia-curand==10.4.0.35
)

command -v python3 >/dev/null || die "python3 not found (needed for the venv with the CUDA wheels)"
command -v gcc >/dev/null || die "gcc not found (nvcc needs a host compiler; Debian: apt-get install build-essential)"
command -v cargo >/dev/null || [[ $mode == setup ]] || die "cargo not found"

# 1. The wheels.
if [[ ! -x "$venv/bin/python" ]]; then
  say "creating venv $venv"
  python3 -m venv "$venv" || die "could not create the venv $venv (Debian: apt-get install python3-venv)"
fi
installed="$("$venv/bin/python" -m pip freeze 2>/dev/null || true)"
missing=()
for w in "${wheels[@]}"; do
  grep -qxF "$w" <<<"$installed" || missing+=("$w")
done
if ((${#missing[@]})); then
  say "installing ${missing[*]} into $venv"
  "$venv/bin/python" -m pip install --no-cache-dir -q "${missing[@]}" ||
    die "pip could not install ${missing[*]}; is PyPI reachable?"
else
  say "CUDA wheels already in $venv"
fi
site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
cu="$site/nvidia/cu13"
[[ -x "$cu/bin/nvcc" && -f "$cu/include/cuda.h" ]] || die "no nvcc or cuda.h under $cu: the wheels' layout is not the expected nvidia/cu13/{bin,include,lib}"

# 2. A CUDA root as cudarc and bindgen_cuda look for it: bin/nvcc,
# include/cuda.h, lib64/lib*.so, lib64/stubs/libcuda.so.
root="$venv/cuda-root"
say "CUDA root $root (links into $cu)"
mkdir -p "$root/lib64/stubs"
for d in bin include nvvm; do
  ln -sfn "$cu/$d" "$root/$d"
done
libs=(cudart:13 nvrtc:13 cublas:13 cublasLt:13 curand:10)
for l in "${libs[@]}"; do
  name="${l%%:*}" major="${l##*:}"
  target="$cu/lib/lib$name.so.$major"
  [[ -f "$target" ]] || die "$target is missing; reinstall the wheels (rm -rf $venv)"
  ln -sfn "$target" "$root/lib64/lib$name.so"
done

# 3. The libcuda.so.1 stub: one empty function per name that cuda.h
# declares, both the macro names (cuCtxCreate) and what they expand to
# (cuCtxCreate_v4), as NVIDIA's own stub does.
stub="$root/lib64/stubs/libcuda.so"
if [[ ! -f "$stub" || "$cu/include/cuda.h" -nt "$stub" || "$0" -nt "$stub" ]]; then
  say "compiling the driver stub $stub from cuda.h"
  src="$(mktemp --suffix .c)"
  {
    gcc -E -P -I"$cu/include" "$cu/include/cuda.h" |
      grep -oE '\bCUresult[[:space:]]+(CUDAAPI[[:space:]]+)?cu[A-Za-z0-9_]+[[:space:]]*\(' |
      grep -oE 'cu[A-Za-z0-9_]+'
    grep -oE '^#define[[:space:]]+cu[A-Za-z0-9_]+[[:space:]]+cu[A-Za-z0-9_]+' "$cu/include/cuda.h" |
      awk '{print $2}'
  } | sort -u | awk '{print "int " $1 "(void) { return 999; }"}' >"$src"
  n="$(wc -l <"$src")"
  ((n > 300)) || die "only $n functions found in cuda.h; the stub would not link"
  gcc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$stub" "$src" || die "could not compile the libcuda stub"
  rm -f "$src"
  say "stub exports $n functions"
fi

export CUDA_ROOT="$root" CUDA_PATH="$root" CUDA_HOME="$root"
export PATH="$root/bin:$PATH"
export CUDA_COMPUTE_CAP="$cap"
# bindgen_cuda runs one nvcc per rayon thread.
export RAYON_NUM_THREADS="$jobs"
# Build scripts that run CUDA tools find the wheels' shared libraries.
export LD_LIBRARY_PATH="$root/lib64:$cu/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

version="$(nvcc --version | sed -n 's/.*release \([0-9.]*\),.*/\1/p')"
[[ "$version" == 13.0 ]] || die "nvcc in $root/bin reports release '$version', expected 13.0"
nvcc --list-gpu-code | grep -qx "sm_$cap" || die "nvcc $version cannot compile for sm_$cap; it knows: $(nvcc --list-gpu-code | tr '\n' ' ')"
say "nvcc $version, CUDA_COMPUTE_CAP=$cap, JOBS=$jobs"

features=cuda

case $mode in
  setup)
    cat <<EOF
export CUDA_ROOT=$root CUDA_PATH=$root CUDA_HOME=$root
export PATH=$root/bin:\$PATH CUDA_COMPUTE_CAP=$cap RAYON_NUM_THREADS=$jobs
export LD_LIBRARY_PATH=$root/lib64:$cu/lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}
EOF
    exit 0
    ;;
  clippy)
    say "cargo clippy -p mtl-train --all-targets --features $features -j $jobs -- -D warnings"
    cd "$repo"
    exec cargo clippy -p mtl-train --all-targets --features "$features" -j "$jobs" -- -D warnings
    ;;
esac

cd "$repo"
profile_flag=()
[[ $mode == release ]] && profile_flag=(--release)
say "cargo build${profile_flag[*]:+ ${profile_flag[*]}} -p mtl-train --features $features -j $jobs"
start=$SECONDS
cargo build "${profile_flag[@]}" -p mtl-train --features "$features" -j "$jobs" ||
  die "cargo build failed (see above); the CUDA setup is in $root"
target_dir="${CARGO_TARGET_DIR:-$repo/target}"
bin="$target_dir/$mode/mtl-train"
[[ -x "$bin" ]] || die "the build finished but $bin is not there"
say "built $bin in $((SECONDS - start)) s ($(du -h "$bin" | cut -f1))"
say "shared libraries it needs: $(readelf -d "$bin" | sed -n 's/.*NEEDED.*\[\(.*\)\]/\1/p' | tr '\n' ' ')"

if [[ $mode == release ]]; then
  # gpu.sh runs on a machine without cargo: it takes this stripped copy,
  # which lies in the working tree (ignored by git) so that it travels with it.
  staged="$repo/training/bench/bin/mtl-train-cuda"
  mkdir -p "$(dirname "$staged")"
  strip -o "$staged" "$bin" 2>/dev/null || cp "$bin" "$staged"
  say "stripped copy for training/bench/gpu.sh: $staged ($(du -h "$staged" | cut -f1))"
fi
