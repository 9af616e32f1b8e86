#!/usr/bin/env bash
# Sampling + augmentation against a training step, peers in the same run:
#  1. issue 3's budget at 64^3 (default policy vs a 4-stage U-Net step, limit 20 %);
#  2. issue 10's at the demo's size (patch 24^3, batch 2, 3 stages x 16): the
#     default policy and the ASNG space at its widest (elastic alpha to 900,
#     sigma to 14, every op on) against a plain trainer step, limit 5 %.
# Prints JSON lines and the machine. Run it under the timing lock:
#   flock /tmp/proxyseg-timing.lock benchmarks/aug_vs_step.sh [BUILD=build] [THREADS=2]
set -euo pipefail
build=${1:-build}; threads=${2:-2}
echo "{\"machine\": \"$(lscpu | sed -n 's/^Model name: *//p')\", \"threads\": $threads}"
aug=$(OMP_NUM_THREADS=$threads "$build/benchmarks/bench_augment" 30)
step=$("$build/benchmarks/bench_unet_step" --stages 4 --base 16 --patch 64 --batch 2 --threads "$threads" --steps 3 --warmup 1 2>/dev/null)
/usr/bin/python3 - "$aug" "$step" <<'PY'
import json, sys
a, s = json.loads(sys.argv[1]), json.loads(sys.argv[2])
share = a["sample_aug_default_ms"] / s["ms_per_step"]
print(json.dumps({"benchmark": "aug_vs_step_64", "sample_aug_ms": a["sample_aug_default_ms"],
                  "step_ms": s["ms_per_step"], "share_of_step": round(share, 4), "limit": 0.20, "ok": share < 0.20}))
PY
OMP_NUM_THREADS=$threads "$build/benchmarks/bench_asng" aug "$threads" 30
