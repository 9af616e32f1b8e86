#!/usr/bin/env bash
# Issue 3's check that the synthetic task makes a search meaningful: a default
# U-Net trained well reaches a high Dice, while poor choices (learning rate far
# off, no augmentation with few cases) are measurably worse. One JSON line.
#   benchmarks/synth_task_check.sh [BUILD=build] [EPOCHS=16]
set -euo pipefail
build=${1:-build}; epochs=${2:-16}
exe=$(cd "$build" && pwd)/proxyseg
work=${WORK:-/tmp/ps_synth_check}
mkdir -p "$work"; cd "$work"
[ -f ds/dataset.json ] || "$exe" generate --out ds --cases 24 --size 48 --seed 1 2>/dev/null
# a fixed validation set, and a 4-case training subset for the few-cases runs
val='["synth_018","synth_019","synth_020","synth_021","synth_022","synth_023"]'
echo '{"kept": ["synth_000", "synth_001", "synth_002", "synth_003"]}' > few.json
base=(--dataset ds --cache cache --set patch=[32,32,32] --set net.stages=3 --set net.base_features=16
      --set epochs="$epochs" --set iters_per_epoch=25 --set val.cases="$val" --set val.every=100
      --set threads=${THREADS:-1})
run() { local name=$1; shift; [ -f "$name/metrics.json" ] || "$exe" train "${base[@]}" --out "$name" "$@" >/dev/null 2>"$name.log" || true; }
run good
run lr_far_low --set lr=1e-5
run lr_far_high --set lr=5
run few_cases_aug --subset few.json
run few_cases_no_aug --subset few.json --set aug.preset=none
/usr/bin/python3 - <<'PY'
import json, os
out = {"benchmark": "synth_task_check"}
for n in ("good", "lr_far_low", "lr_far_high", "few_cases_aug", "few_cases_no_aug"):
    p = f"{n}/metrics.json"
    out[n] = json.load(open(p))["mean_dice"] if os.path.exists(p) else None
print(json.dumps(out))
PY
