#!/usr/bin/env bash
# CLI round trip (helper "prep"): generate a small task, preprocess it into the
# cache, check --spacing x,y,z lands as [z,y,x], a second run is a no-op, and
# usage errors exit 2. Usage: prep_cli.sh PROXYSEG_BINARY
set -u
bin="$1"
d="$(mktemp -d)"
trap 'rm -rf "$d"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
"$bin" generate --out "$d/task" --cases 3 --size 24 --seed 4 --classes 3 --modality MR || fail "generate"
[ -f "$d/task/dataset.json" ] && [ -f "$d/task/imagesTr/synth_002.nii.gz" ] && [ -f "$d/task/labelsTr/synth_000.nii.gz" ] || fail "MSD files missing"
grep -q '"MRI"' "$d/task/dataset.json" || fail "modality MRI not in dataset.json"
"$bin" preprocess --dataset "$d/task" --out "$d/cache" --spacing 1.5,1.25,2 --threads 2 || fail "preprocess"
[ -f "$d/cache/plan.json" ] && [ -f "$d/cache/synth_001.h5" ] || fail "cache files missing"
tr -d ' \t\n' < "$d/cache/plan.json" | grep -q '"target_spacing":\[2,1.25,1.5\]' || fail "target_spacing is not [z,y,x] = [2,1.25,1.5]"
"$bin" preprocess --dataset "$d/task" --out "$d/cache" --spacing 1.5,1.25,2 2> "$d/log" || fail "second preprocess"
grep -q "up to date" "$d/log" || fail "second run rebuilt an unchanged cache"
"$bin" preprocess --dataset "$d/task" --out "$d/cache" --spacing 1,2 2>/dev/null; [ $? -eq 2 ] || fail "bad --spacing must exit 2"
"$bin" generate --out "$d/x" --cases 0 2>/dev/null; [ $? -eq 2 ] || fail "--cases 0 must exit 2"
"$bin" generate --cases 2 2>/dev/null; [ $? -eq 2 ] || fail "missing --out must exit 2"
echo "prep_cli: ok"
