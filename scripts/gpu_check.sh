#!/usr/bin/env bash
# One short, self-contained check of the CUDA backend on a machine with an NVIDIA GPU:
# build (PS_WITH_CUDA=ON) or use a prebuilt bundle, print nvidia-smi, run the CUDA op tests
# and the U-Net step tests, the benchmarks with PyTorch's cuDNN twin, and leave every output
# under $OUT (at most 8 files: gpu_check.log, summary.json, nvidia_smi.txt, build.log,
# tests.log, bench.jsonl, torch.jsonl). Every step has a timeout; a failed step never stops
# the next one. Whole run: well under 8 minutes.
#
#   OUT=/some/dir scripts/gpu_check.sh          on the GPU machine (default OUT: ./gpu-out)
#   scripts/gpu_check.sh --bundle              HERE (no GPU needed): build with PS_WITH_CUDA=ON
#       into build-cuda-bundle and pack the programs plus the non-system shared libraries
#       they need into build-gpu-bundle/bundle.tar.xz, for a GPU machine that lacks the
#       project's Debian build dependencies; carry build-gpu-bundle there.
# Environment: PS_GPU_JOBS (16), PS_GPU_QUICK=1 (smaller benchmarks), PS_PYTHON (python with torch),
# PS_GPU_BUILD (build folder, default build-gpu), PS_GPU_FORCE_BUNDLE=1 (skip the source build),
# PS_GPU_BUDGET (seconds for all steps together, default 450: the script ends within ~8 minutes).
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
JOBS=${PS_GPU_JOBS:-16}
BUNDLE=$ROOT/build-gpu-bundle
# Programs the check needs; those a tree does not (yet) define are skipped with a note.
TARGETS="test_backend_ops test_cuda_ops test_cuda_step bench_unet_step bench_cuda_ops"

# ----------------------------------------------------------------------------------------
# --bundle: prebuild here and collect the runtime libraries (not the CUDA ones: the GPU
# machine's own libcudnn/libcublas/driver are used, found at run time).
if [ "${1:-}" = "--bundle" ]; then
  B=$ROOT/build-cuda-bundle
  NVCC=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
  # no -march=native: the GPU machine's CPU may lack this one's ISA extensions
  cmake -S "$ROOT" -B "$B" -DCMAKE_BUILD_TYPE=Release -DPS_WITH_CUDA=ON -DPS_NATIVE=OFF \
    -DCMAKE_CUDA_COMPILER="$NVCC" >/dev/null || { echo "bundle: configure failed" >&2; exit 1; }
  avail=$(cmake --build "$B" --target help 2>/dev/null | sed -n 's/^\.\.\. \([A-Za-z0-9_]*\).*/\1/p')
  want=""
  for t in $TARGETS; do echo "$avail" | grep -qx "$t" && want="$want $t"; done
  [ -n "$want" ] || { echo "bundle: none of the targets exist: $TARGETS" >&2; exit 1; }
  cmake --build "$B" -j"$(nproc)" --target $want || { echo "bundle: build failed" >&2; exit 1; }
  # staged in a temporary folder, carried as one xz tarball: the libraries alone (OpenBLAS,
  # HDF5 and its curl chain) would exceed what a device call may carry (64 MiB)
  S=$(mktemp -d)
  mkdir -p "$S/bin" "$S/lib"
  for t in $want; do
    f=$(find "$B" -type f -name "$t" -perm -u+x | head -1)
    [ -n "$f" ] && cp "$f" "$S/bin/"
  done
  # every library the programs load, except glibc's, the compiler runtime's (the GPU
  # machine's own are newer) and CUDA's (the GPU machine's match its driver)
  ldd "$S"/bin/* 2>/dev/null | awk '/=> \//{print $3}' | sort -u | while read -r lib; do
    case $(basename "$lib") in
      libc.so*|libm.so*|libpthread.so*|libdl.so*|librt.so*|libresolv.so*|ld-linux*|libstdc++.so*|libgcc_s.so*) ;;
      libcuda.so*|libcudart*|libcublas*|libcudnn*|libnvrtc*|libnvJitLink*) ;;
      *) cp -L "$lib" "$S/lib/" ;;
    esac
  done
  cp -r "$ROOT/benchmarks/reference" "$S/reference" 2>/dev/null
  git -C "$ROOT" rev-parse HEAD >"$S/commit.txt" 2>/dev/null
  git -C "$ROOT" status --short >"$S/status.txt" 2>/dev/null
  rm -rf "$BUNDLE"
  mkdir -p "$BUNDLE"
  tar -C "$S" -cJf "$BUNDLE/bundle.tar.xz" . && rm -rf "$S"
  du -sh "$BUNDLE/bundle.tar.xz"
  echo "bundle ready: carry build-gpu-bundle (programs: $want)"
  exit 0
fi

# ----------------------------------------------------------------------------------------
OUT=${OUT:-$ROOT/gpu-out}
mkdir -p "$OUT"
LOG=$OUT/gpu_check.log
SUMMARY=$OUT/summary.json
: >"$LOG"
STEPS=()
T_START=$(date +%s)
BUDGET=${PS_GPU_BUDGET:-450}
log() { echo "[$(date +%H:%M:%S)] $*" | tee -a "$LOG" >&2; }

write_summary() {
  {
    echo "{"
    echo "  \"started\": \"$(date -u -d @"$T_START" +%FT%TZ)\", \"elapsed_s\": $(($(date +%s) - T_START)),"
    echo "  \"commit\": \"$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || cat "${UB:-/nonexistent}/commit.txt" 2>/dev/null)\","
    echo "  \"gpu\": \"${GPU_NAME:-unknown}\", \"build\": \"${BUILD_MODE:-none}\", \"python_torch\": \"${PYT:-none}\","
    echo "  \"steps\": ["
    local i n=${#STEPS[@]}
    for ((i = 0; i < n; i++)); do
      echo -n "    ${STEPS[$i]}"
      [ $i -lt $((n - 1)) ] && echo "," || echo
    done
    echo "  ]"
    echo "}"
  } >"$SUMMARY"
}

# step NAME TIMEOUT_S LOGFILE CMD... : runs CMD with a hard timeout, output appended to
# LOGFILE and the main log, status recorded (ok / fail rc / timeout / skip 77).
step() {
  local name=$1 tmo=$2 out=$3
  shift 3
  # one overall budget: a step gets at most what is left of it, none when under 10 s
  local left=$((BUDGET - ($(date +%s) - T_START)))
  if [ "$left" -lt 10 ]; then
    note "$name" no_time "the ${BUDGET}s budget is spent"
    return 124
  fi
  [ "$tmo" -gt "$left" ] && tmo=$left
  log "=== $name (timeout ${tmo}s): $*"
  local t0 rc st
  t0=$(date +%s)
  { echo "=== $name: $*"; } >>"$out"
  timeout -k 10 "$tmo" "$@" >>"$out" 2>&1 </dev/null
  rc=$?
  case $rc in
    0) st=ok ;; 77) st=skip ;; 124|137) st=timeout ;; *) st=fail ;;
  esac
  [ "$out" != "$LOG" ] && tail -n 40 "$out" >>"$LOG"
  log "=== $name: $st (rc $rc, $(($(date +%s) - t0)) s)"
  STEPS+=("{\"step\": \"$name\", \"status\": \"$st\", \"rc\": $rc, \"seconds\": $(($(date +%s) - t0))}")
  write_summary
  return $rc
}
note() { STEPS+=("{\"step\": \"$1\", \"status\": \"$2\", \"note\": \"$3\"}"); log "--- $1: $2: $3"; write_summary; }

write_summary
log "gpu_check in $ROOT, output in $OUT"

# ---- 1. the machine -------------------------------------------------------------------
step nvidia_smi 30 "$OUT/nvidia_smi.txt" nvidia-smi
timeout 20 nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv >>"$OUT/nvidia_smi.txt" 2>&1
GPU_NAME=$(timeout 20 nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
{ echo "--- host"; uname -a; lscpu 2>/dev/null | grep -E 'Model name|^CPU\(s\)|Flags' | cut -c1-200; } >>"$OUT/nvidia_smi.txt"

# CUDA toolkit and the libraries the backend loads (cuDNN 9, cuBLAS)
NVCC=$(command -v nvcc || ls /usr/local/cuda/bin/nvcc 2>/dev/null || echo "")
CUDA_HOME=${CUDA_HOME:-$( [ -n "$NVCC" ] && dirname "$(dirname "$(readlink -f "$NVCC")")" )}
find_lib() { # the first folder holding $1 among the usual places and python's nvidia wheels
  local d
  for d in "$CUDA_HOME/lib64" "$CUDA_HOME/lib" /usr/local/cuda/lib64 /usr/local/cuda/lib /usr/lib/x86_64-linux-gnu \
    $(ls -d /opt/*/.venv/lib/python3*/site-packages/nvidia/*/lib /usr/local/lib/python3*/dist-packages/nvidia/*/lib \
      /usr/lib/python3/dist-packages/nvidia/*/lib 2>/dev/null); do
    [ -e "$d/$1" ] && { echo "$d"; return 0; }
  done
  return 1
}
CUDNN_LIB=$(find_lib libcudnn.so.9) || CUDNN_LIB=""
CUBLAS_LIB=$(find_lib libcublas.so.13) || CUBLAS_LIB=""
CUDNN_INC=$(ls -d "$CUDA_HOME/include" /usr/include /usr/include/x86_64-linux-gnu 2>/dev/null |
  while read -r d; do [ -e "$d/cudnn.h" ] && echo "$d" && break; done)
log "nvcc: ${NVCC:-missing} ($([ -n "$NVCC" ] && "$NVCC" --version | tail -2 | head -1)); cuDNN lib: ${CUDNN_LIB:-missing}; cuDNN header: ${CUDNN_INC:-missing}; cuBLAS: ${CUBLAS_LIB:-missing}"
export LD_LIBRARY_PATH="${CUDNN_LIB:+$CUDNN_LIB:}${CUBLAS_LIB:+$CUBLAS_LIB:}${LD_LIBRARY_PATH:-}"

# ---- 2. build (or the carried bundle) ---------------------------------------------------
missing=""
command -v cmake >/dev/null || missing="$missing cmake"
command -v pkg-config >/dev/null || missing="$missing pkg-config"
command -v cc >/dev/null || command -v gcc >/dev/null || missing="$missing gcc"
[ -n "$NVCC" ] || missing="$missing nvcc"
[ -n "$CUDNN_INC" ] || missing="$missing cudnn.h"
if command -v pkg-config >/dev/null; then
  pkg-config --exists openblas || missing="$missing libopenblas-dev"
  pkg-config --exists libcjson || [ -e /usr/include/cjson/cJSON.h ] || missing="$missing libcjson-dev"
fi
[ -e /usr/include/gsl/gsl_rng.h ] || missing="$missing libgsl-dev"
[ -e /usr/include/nifti/nifti2_io.h ] || missing="$missing libnifti2-dev"
[ -e /usr/include/hdf5.h ] || [ -e /usr/include/hdf5/serial/hdf5.h ] || missing="$missing libhdf5-dev"
[ -e /usr/include/zlib.h ] || missing="$missing zlib1g-dev"

BIN=""
BUILD_MODE=none
if [ -n "${PS_GPU_FORCE_BUNDLE:-}" ]; then
  note build_source skip "PS_GPU_FORCE_BUNDLE set: the carried bundle is used"
elif [ -z "$missing" ]; then
  B=${PS_GPU_BUILD:-$ROOT/build-gpu}
  if step configure 120 "$OUT/build.log" cmake -S "$ROOT" -B "$B" -DCMAKE_BUILD_TYPE=Release -DPS_WITH_CUDA=ON \
    -DCMAKE_CUDA_COMPILER="$NVCC"; then
    avail=$(cmake --build "$B" --target help 2>/dev/null | sed -n 's/^\.\.\. \([A-Za-z0-9_]*\).*/\1/p')
    want=""
    for t in $TARGETS; do
      if echo "$avail" | grep -qx "$t"; then want="$want $t"; else note "target_$t" skip "not defined in this tree"; fi
    done
    # one target at a time after a failure, so one broken program does not cost the others
    if ! step build 300 "$OUT/build.log" cmake --build "$B" -j"$JOBS" --target $want; then
      for t in $want; do step "build_$t" 120 "$OUT/build.log" cmake --build "$B" -j"$JOBS" --target "$t"; done
    fi
    BIN=$B
    BUILD_MODE=source
  fi
else
  note build_deps missing "$missing"
fi
if [ "$BUILD_MODE" = none ] || [ -z "$(find "$BIN" -type f -perm -u+x -name 'test_*' 2>/dev/null | head -1)" ]; then
  UB=${TMPDIR:-/tmp}/ps-gpu-bundle
  if [ -e "$BUNDLE/bundle.tar.xz" ] && rm -rf "$UB" && mkdir -p "$UB" && tar -C "$UB" -xJf "$BUNDLE/bundle.tar.xz"; then
    BIN=$UB/bin
    BUILD_MODE="bundle $(cat "$UB/commit.txt" 2>/dev/null)"
    export LD_LIBRARY_PATH="$UB/lib:$LD_LIBRARY_PATH"
    note build bundle "using the carried prebuilt programs of build-gpu-bundle (commit $(cat "$UB/commit.txt" 2>/dev/null), $(wc -l <"$UB/status.txt") uncommitted paths then)"
    [ "$(git -C "$ROOT" rev-parse HEAD 2>/dev/null)" = "$(cat "$UB/commit.txt" 2>/dev/null)" ] ||
      note bundle_commit warn "the bundle was built from another commit than this tree's HEAD"
  else
    note build none "no build and no build-gpu-bundle: run 'scripts/gpu_check.sh --bundle' on the dev machine and carry build-gpu-bundle"
  fi
fi
write_summary
prog() { [ -n "$BIN" ] && find "$BIN" -type f -perm -u+x -name "$1" 2>/dev/null | head -1; }
{ echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"; for t in $TARGETS; do p=$(prog "$t"); [ -n "$p" ] && ldd "$p" | grep -E 'not found|cudnn|cublas|cudart'; done; } >>"$LOG" 2>&1

# ---- 3. tests ---------------------------------------------------------------------------
TL=$OUT/tests.log
: >"$TL"
p=$(prog test_backend_ops); [ -n "$p" ] && step test_backend_ops_cuda 120 "$TL" env PS_BACKEND=cuda "$p" cuda
p=$(prog test_cuda_ops);    [ -n "$p" ] && step test_cuda_ops 120 "$TL" "$p"
p=$(prog test_cuda_step);   [ -n "$p" ] && step test_cuda_step 120 "$TL" "$p"

# ---- 4. benchmarks (JSON lines in bench.jsonl; torch's in torch.jsonl) -----------------
BJ=$OUT/bench.jsonl
: >"$BJ"
if [ "${PS_GPU_QUICK:-0}" = 1 ]; then SIZES="4:32:64:2"; else SIZES="4:32:64:2 4:32:128:2"; fi
p=$(prog bench_cuda_ops)
[ -n "$p" ] && step bench_cuda_ops 150 "$BJ" "$p" --stages 4 --base 32 --patch 128 --batch 2
p=$(prog bench_unet_step)
# read the usage text from the binary: running it without flags would start a CPU benchmark
if [ -n "$p" ] && grep -aq -- '--device' "$p"; then
  for s in $SIZES; do
    IFS=: read -r st ba pa bt <<<"$s"
    step "bench_unet_step_cuda_${st}_${ba}_${pa}" 150 "$BJ" "$p" --device cuda --stages "$st" --base "$ba" --patch "$pa" \
      --batch "$bt" --steps 5 --warmup 2
  done
else
  note bench_unet_step_cuda skip "bench_unet_step has no --device flag in this tree"
fi

# ---- 5. PyTorch's cuDNN twin ----------------------------------------------------------
PYT=""
for py in ${PS_PYTHON:-} python3 /usr/bin/python3 /opt/torch/.venv/bin/python3; do
  command -v "$py" >/dev/null 2>&1 || continue
  if timeout 60 "$py" -c 'import torch,sys; sys.exit(0 if torch.cuda.is_available() else 1)' >/dev/null 2>&1; then
    PYT=$(command -v "$py"); break
  fi
done
TJ=$OUT/torch.jsonl
: >"$TJ"
if [ -n "$PYT" ]; then
  TW=$ROOT/benchmarks/reference/unet_torch_cuda.py
  [ -e "$TW" ] || TW=${UB:-}/reference/unet_torch_cuda.py
  step torch_convs 150 "$TJ" "$PYT" "$TW" --mode convs --stages 4 --base 32 --patch 128 --batch 2
  for s in $SIZES; do
    IFS=: read -r st ba pa bt <<<"$s"
    step "torch_unet_step_${st}_${ba}_${pa}" 150 "$TJ" "$PYT" "$TW" --mode step --stages "$st" --base "$ba" --patch "$pa" \
      --batch "$bt" --steps 5 --warmup 2
  done
else
  note torch skip "no python with a CUDA-enabled torch (tried ${PS_PYTHON:-} python3 /usr/bin/python3)"
fi

log "done in $(($(date +%s) - T_START)) s; summary: $SUMMARY"
write_summary
grep -h '^{' "$BJ" "$TJ" 2>/dev/null | cut -c1-400 >>"$LOG"
exit 0
