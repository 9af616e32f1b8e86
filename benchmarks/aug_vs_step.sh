#!/usr/bin/env bash
# Issue 3's budget: patch sampling + augmentation per batch (default policy)
# against one unet-ref training step at the same batch and patch, measured in
# the same run with the same threads. Prints one JSON line with the share.
#   benchmarks/aug_vs_step.sh [BUILD=build] [THREADS=2]
set -euo pipefail
build=${1:-build}; threads=${2:-2}
aug=$(OMP_NUM_THREADS=$threads "$build/benchmarks/bench_augment" 30)
step=$("$build/benchmarks/bench_unet_step" --stages 4 --base 16 --patch 64 --batch 2 --threads "$threads" --steps 3 --warmup 1 2>/dev/null)
/usr/bin/python3 - "$aug" "$step" <<'PY'
import json, sys
a, s = json.loads(sys.argv[1]), json.loads(sys.argv[2])
share = a["sample_aug_default_ms"] / s["ms_per_step"]
print(json.dumps({"benchmark": "aug_vs_step", "sample_aug_ms": a["sample_aug_default_ms"],
                  "step_ms": s["ms_per_step"], "share_of_step": round(share, 4), "limit": 0.20, "ok": share < 0.20}))
PY
