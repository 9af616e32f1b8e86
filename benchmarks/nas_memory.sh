#!/usr/bin/env bash
# SCNAS's claim, measured: the cell super-network's training step with two
# sampled ops per edge (Algorithm 1) against all eight (DARTS-style), same
# cells, patch and threads, each mode in its own process. Prints both JSON
# lines and one with the ratios (pair / all). Run under the timing lock:
#   flock /tmp/proxyseg-timing.lock benchmarks/nas_memory.sh build [--patch 32 --stem 8 ...]
set -euo pipefail
build=${1:-build}; shift || true
b="$build/benchmarks/bench_nas_step"
pair=$("$b" --sampling pair "$@")
all=$("$b" --sampling all "$@")
echo "$pair"; echo "$all"
python3 - "$pair" "$all" <<'PY'
import json, sys
p, a = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(json.dumps({"ratio_pair_over_all": {k: round(p[k] / a[k], 3) for k in ("activation_mb", "peak_rss_mb", "ms_per_step")},
                  "cpu": p["cpu"], "threads": p["threads"], "patch": p["patch"], "stem": p["stem"]}))
PY
