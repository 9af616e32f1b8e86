#!/bin/sh
# Runs the proxyseg U-Net training-step benchmark and its PyTorch twin with the
# same flags, one after the other, and prints one JSON line with both results,
# the speed ratio torch_ms / proxyseg_ms (> 1: proxyseg faster) and the peak
# memory ratio proxyseg_rss / torch_rss (< 1: proxyseg smaller), and the ratio
# of process CPU time per step (speedup_cpu_time; robust on a busy machine with --threads 1)
# and of the fastest step of each side (speedup_min_step: robust to bursts of other load).
# usage: benchmarks/compare_unet.sh [--stages 4 --base 16 --patch 64 --batch 2 --threads 2 --steps 3 --warmup 1]
# env: BENCH (default build/benchmarks/bench_unet_step), PS_PYTHON (default /usr/bin/python3)
set -e
here=$(cd "$(dirname "$0")" && pwd)
bench=${BENCH:-$here/../build/benchmarks/bench_unet_step}
py=${PS_PYTHON:-/usr/bin/python3}
[ -x "$bench" ] || { echo "compare_unet.sh: $bench not built (make bench_unet_step)" >&2; exit 2; }
ours=$("$bench" "$@" | tail -n 1)
if ! "$py" -c 'import torch' 2>/dev/null; then
  echo "compare_unet.sh: $py cannot import torch; PyTorch side skipped" >&2
  printf '{"proxyseg":%s,"torch":null}\n' "$ours"
  exit 0
fi
theirs=$(env -u OMP_NUM_THREADS "$py" "$here/reference/unet_torch.py" "$@" | tail -n 1)
"$py" - "$ours" "$theirs" <<'PY'
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(json.dumps({"bench": "compare_unet", "proxyseg": a, "torch": b,
                  "speedup_torch_ms_over_proxyseg_ms": round(b["ms_per_step"] / a["ms_per_step"], 3),
                  "speedup_min_step": round(b["min_ms_per_step"] / a["min_ms_per_step"], 3),
                  "speedup_cpu_time": round(b["cpu_ms_per_step"] / a["cpu_ms_per_step"], 3)
                  if a.get("cpu_ms_per_step") and b.get("cpu_ms_per_step") else None,
                  "memory_ratio_proxyseg_over_torch": round(a["peak_rss_mb"] / b["peak_rss_mb"], 3)}))
PY
