#!/bin/sh
# Build the libFuzzer targets with clang (-fsanitize=fuzzer,address) and run
# each for N seconds (default 30) from a small seed corpus generated here.
# usage: tests/fuzz/run_fuzz.sh [SECONDS] [BUILD_DIR]     (exit 0: no crash)
set -eu
SECS=${1:-30}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${2:-$SRC/build-fuzz}
BUILD=$(mkdir -p "$BUILD" && cd "$BUILD" && pwd) # absolute: the runs below cd elsewhere
CC=${CC:-clang}
command -v "$CC" >/dev/null || { echo "run_fuzz.sh: $CC not found" >&2; exit 2; }
cmake -S "$SRC" -B "$BUILD" -DCMAKE_C_COMPILER="$CC" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPS_FUZZ=ON \
  -DPS_NATIVE=OFF -DCMAKE_C_FLAGS="-fsanitize=fuzzer-no-link,address -fno-omit-frame-pointer" >/dev/null
make -C "$BUILD" -j2 fuzz_nifti fuzz_dataset_json fuzz_journal fuzz_config test_nifti >/dev/null

WORK=$BUILD/fuzz-work
rm -rf "$WORK" && mkdir -p "$WORK/nifti" "$WORK/json" "$WORK/seeds" "$WORK/journal" "$WORK/config"
# NIfTI seeds: valid round-trip files and the hostile set from test_nifti
(cd "$WORK/seeds" && ASAN_OPTIONS=detect_leaks=0 "$BUILD/tests/test_nifti" >/dev/null 2>&1) || true
"$BUILD/tests/test_nifti" --write-hostile "$WORK/nifti"
find "$WORK/seeds" -name '*.nii*' -size -8k -exec cp {} "$WORK/nifti/" \;
# dataset.json seeds: MSD, nnU-Net v2 and broken variants
cat >"$WORK/json/msd.json" <<'J'
{"name": "T", "modality": {"0": "CT"}, "labels": {"0": "background", "1": "x"}, "numTraining": 1,
 "training": [{"image": "./imagesTr/a.nii.gz", "label": "./labelsTr/a.nii.gz"}], "test": ["./imagesTr/a.nii.gz"]}
J
cat >"$WORK/json/nnunet.json" <<'J'
{"channel_names": {"0": "T2", "1": "ADC"}, "labels": {"background": 0, "x": 1}, "numTraining": 1, "file_ending": ".nii.gz"}
J
printf '{"modality": {"0": "CT"}, "labels": {"0": "bg"}, "training": [{"image": "../x", "label": "/etc/passwd"}]}' \
  >"$WORK/json/escape.json"
printf '{"channel_names": {"0": "CT"}, "labels": {"background": 0, "r": [1, 2]}, "file_ending": ".nii"}' \
  >"$WORK/json/region.json"

# journal seeds: the events a search writes, a torn last line, a repaired one
cat >"$WORK/journal/search.jsonl" <<'J'
{"event":"start","trial":0,"phase":"proxy","params":{"lr":0.001},"x":[0.5],"seed":7,"time":1.5}
{"event":"end","trial":0,"state":"COMPLETE","value":0.71,"seconds":3.2,"intermediate":[0.5,0.7]}
{"event":"intermediate","trial":0,"step":1,"value":0.6}
{"event":"start","trial":1,"phase":"proxy","params":{"lr":0.01},"x":[0.9],"seed":8,"time":2.5}
{"event":"end","trial":1,"state":"FAIL","value":null,"reason":"diverged"}
{"event":"start","trial":2,"phase":"full","ref":0,"params":{"lr":0.001},"x":[0.5],"seed":9}
J
head -c 300 "$WORK/journal/search.jsonl" >"$WORK/journal/torn.jsonl"
# config seeds: the shipped search spaces and the tests' study configs
cp "$SRC"/search/spaces/*.json "$SRC"/tests/search/*.json "$WORK/config/" 2>/dev/null || true
printf '{"retrain": {"count": 1e12}, "proxy_net": {"widht": 2}, "train": {"optim": {"momentun": 1}}}' >"$WORK/config/bad.json"

status=0
for t in fuzz_nifti:nifti fuzz_dataset_json:json fuzz_journal:journal fuzz_config:config; do
  bin=${t%%:*} corpus=$WORK/${t##*:}
  echo "== $bin for ${SECS}s (corpus $(ls "$corpus" | wc -l) seeds)"
  (cd "$WORK" && ASAN_OPTIONS=detect_leaks=1 "$BUILD/tests/$bin" -max_total_time="$SECS" -rss_limit_mb=2048 \
    -malloc_limit_mb=1024 -print_final_stats=1 "$corpus" 2>"$WORK/$bin.log") || { status=1; echo "$bin FAILED:"; }
  grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb)|ERROR|SUMMARY|Done" "$WORK/$bin.log" || true
done
rm -rf /tmp/ps_fuzz_nifti_* /tmp/ps_fuzz_dataset_* /tmp/ps_fuzz_journal_*
exit $status
