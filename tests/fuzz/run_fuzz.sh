#!/bin/sh
# Build the libFuzzer targets with clang (-fsanitize=fuzzer,address) and run them
# from the corpus kept in tests/fuzz/corpus/<target> (exit 0: no finding).
#   run_fuzz.sh [RUNS] [BUILD_DIR]       CI's short pass: every target RUNS executions (default
#                                        10^5, about 20 s) from a fixed seed, so that CI's verdict
#                                        depends on the change, not on luck; finding new bugs is
#                                        the long runs' job (a random 20 s in CI once found one
#                                        and blocked an unrelated change)
#   run_fuzz.sh --long [RUNS] [TARGET..] each target (default: all but checkpoint_hdf5) to RUNS
#                                        executions (default 10^7), one at a time, niced (or
#                                        for at most $FUZZ_MAX_SECONDS); new inputs kept in
#                                        BUILD/fuzz-long/TARGET (a rerun resumes), log TARGET.log (appended)
#   (env FUZZ_TIMEOUT: seconds before an input counts as a hang, default 30; raise it
#   to pause a long run with SIGSTOP, e.g. while timing something else)
#   run_fuzz.sh --merge [TARGET..]       minimise (-merge=1) the kept corpus, fresh seeds
#                                        (make_seeds.sh) and the long runs' finds into
#                                        tests/fuzz/corpus/TARGET
#   run_fuzz.sh --hdf5 SECONDS           fuzz_checkpoint_hdf5: mutations re-stamped with a valid
#                                        checksum reach libhdf5 itself (it crashes: not a gate)
# BUILD_DIR defaults to build-fuzz (PS_FUZZ_BUILD). Scratch files go to /dev/shm
# when it exists: with the per-input file on disk, fuzz_nifti ran 6x slower.
set -eu
SRC=$(cd "$(dirname "$0")/../.." && pwd)
MODE=short
case "${1:-}" in --long | --merge | --hdf5) MODE=${1#--}; shift ;; esac
if [ "$MODE" = short ]; then SHORT_RUNS=${1:-100000}; [ $# -gt 0 ] && shift; BUILD=${1:-${PS_FUZZ_BUILD:-$SRC/build-fuzz}}
else BUILD=${PS_FUZZ_BUILD:-$SRC/build-fuzz}; fi
BUILD=$(mkdir -p "$BUILD" && cd "$BUILD" && pwd) # absolute: the runs below cd elsewhere
CORPUS=$SRC/tests/fuzz/corpus
ALL="nifti dataset_json journal config train_inputs export cache checkpoint"
CC=${CC:-clang}
command -v "$CC" >/dev/null || { echo "run_fuzz.sh: $CC not found" >&2; exit 2; }
cmake -S "$SRC" -B "$BUILD" -DCMAKE_C_COMPILER="$CC" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPS_FUZZ=ON \
  -DPS_NATIVE=OFF -DCMAKE_C_FLAGS="-fsanitize=fuzzer-no-link,address -fno-omit-frame-pointer" >/dev/null
bins=$(for t in $ALL checkpoint_hdf5; do printf 'fuzz_%s ' "$t"; done)
nice -n 19 make -C "$BUILD" -j2 $bins test_nifti >/dev/null

# scratch in a folder of this run's own, so that two runs (two --long streams)
# can go side by side and each removes only its own files
TMPBASE=/tmp
[ -d /dev/shm ] && [ -w /dev/shm ] && TMPBASE=/dev/shm
export TMPDIR=$(mktemp -d "$TMPBASE/ps_fuzz_run.XXXXXX")
trap 'rm -rf "$TMPDIR"' EXIT
# libhdf5 leaks its metadata cache when it refuses a corrupt file (a library finding)
export LSAN_OPTIONS=suppressions=$SRC/tests/fuzz/lsan.supp
WORK=$BUILD/fuzz-work
# A malloc over 1 GiB is a finding (a reader sizing a buffer from a header),
# except in the targets that reach libhdf5: it sizes buffers from file metadata
# (360 GB from a corrupt cache file) and fails cleanly when malloc returns NULL,
# so there such mallocs return NULL, as on a machine without that memory.
asan() {
  case $1 in cache | checkpoint*) echo "detect_leaks=1:allocator_may_return_null=1:max_allocation_size_mb=1024" ;;
  *) echo "detect_leaks=1" ;; esac
}
flags() { echo "-rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=${FUZZ_TIMEOUT:-30} -close_fd_mask=3 -print_final_stats=1"; }
summary() { grep -E "^(stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb)|^#[0-9]+ +DONE|ERROR|SUMMARY|^Done" "$1" || true; }

case $MODE in
short | hdf5)
  rm -rf "$WORK" && mkdir -p "$WORK"
  if [ "$MODE" = hdf5 ]; then # seeds made here: the mode is not run often enough to keep a corpus
    ALL=checkpoint_hdf5 CORPUS=$WORK/seeds
    bound="-max_total_time=${1:-60}"
    "$SRC/tests/fuzz/make_seeds.sh" "$BUILD" "$CORPUS"
  else # fixed seed and run count; the time cap only guards a very slow machine
    bound="-seed=1 -runs=$SHORT_RUNS -max_total_time=300"
  fi
  status=0
  for t in $ALL; do
    mkdir -p "$WORK/$t"
    echo "== fuzz_$t $bound (corpus $(ls "$CORPUS/$t" | wc -l) files)"
    (cd "$WORK" && ASAN_OPTIONS=$(asan "$t") "$BUILD/tests/fuzz_$t" $bound $(flags "$t") -artifact_prefix="$WORK/$t-" \
      "$WORK/$t" "$CORPUS/$t" 2>"$WORK/$t.log") || { status=1; echo "fuzz_$t FAILED (reproducer: $WORK/$t-*):"; }
    summary "$WORK/$t.log"
  done
  ;;
long)
  RUNS=10000000
  case "${1:-}" in [0-9]*) RUNS=$1; shift ;; esac
  [ $# -gt 0 ] && ALL=$*
  L=$BUILD/fuzz-long && mkdir -p "$L"
  status=0
  for t in $ALL; do
    mkdir -p "$L/$t"
    echo "== fuzz_$t to $RUNS runs, started $(date -u +%FT%TZ) on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'))"
    start=$(date +%s)
    echo "== segment started $(date -u +%FT%TZ), $RUNS runs" >>"$L/$t.log" # a resumed target appends
    (cd "$L" && ASAN_OPTIONS=$(asan "$t") nice -n 19 "$BUILD/tests/fuzz_$t" -runs="$RUNS" $(flags "$t") \
      -max_total_time="${FUZZ_MAX_SECONDS:-0}" -artifact_prefix="$L/$t-" \
      "$L/$t" "$CORPUS/$t" 2>>"$L/$t.log") || { status=1; echo "fuzz_$t FAILED (reproducer: $L/$t-*):"; }
    echo "wall $(($(date +%s) - start)) s"
    summary "$L/$t.log"
  done
  ;;
merge)
  [ $# -gt 0 ] && ALL=$*
  SEEDS=$BUILD/fuzz-seeds
  "$SRC/tests/fuzz/make_seeds.sh" "$BUILD" "$SEEDS"
  status=0
  for t in $ALL; do
    new=$BUILD/fuzz-merged/$t && rm -rf "$new" && mkdir -p "$new" "$CORPUS/$t" "$BUILD/fuzz-long/$t"
    ASAN_OPTIONS=$(asan "$t") "$BUILD/tests/fuzz_$t" -merge=1 $(flags "$t") "$new" "$CORPUS/$t" "$SEEDS/$t" "$BUILD/fuzz-long/$t" \
      2>"$BUILD/fuzz-merged/$t.log" || { status=1; echo "fuzz_$t: merge failed, see $BUILD/fuzz-merged/$t.log"; continue; }
    # keep the named seeds and regression inputs (readable), add the fuzzer's finds by hash
    find "$CORPUS/$t" -type f -regextype posix-extended -regex '.*/[0-9a-f]{40}' -delete
    cp "$SEEDS/$t"/* "$CORPUS/$t/"
    for f in "$new"/*; do
      [ -e "$f" ] || continue
      cmp -s "$f" /dev/null && continue
      dup=0
      for g in "$CORPUS/$t"/*; do cmp -s "$f" "$g" && { dup=1; break; }; done
      [ $dup = 1 ] || cp "$f" "$CORPUS/$t/"
    done
    echo "fuzz_$t: $(ls "$CORPUS/$t" | wc -l) files, $(du -sk "$CORPUS/$t" | cut -f1) KiB"
  done
  ;;
esac
exit $status
