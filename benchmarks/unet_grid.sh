#!/bin/sh
# The issue-9 grid of U-Net training steps, proxyseg and PyTorch side by side
# (benchmarks/compare_unet.sh per size, same threads, same run), printed as one
# JSON table with the machine (lscpu model and ISA flags that matter).
# Each size runs REPEAT times (default 3) alternating the two sides; the table
# holds medians. usage: benchmarks/unet_grid.sh [threads] ; env REPEAT, STEPS,
# WARMUP, SIZES ("stages/base/patch ..."), BENCH, PS_PYTHON as compare_unet.sh.
set -e
here=$(cd "$(dirname "$0")" && pwd)
threads=${1:-2}
repeat=${REPEAT:-3}
steps=${STEPS:-3}
warmup=${WARMUP:-1}
sizes=${SIZES:-"2/8/32 3/16/32 3/16/48 4/16/64 4/32/64 4/16/96"}
py=${PS_PYTHON:-/usr/bin/python3}
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
for s in $sizes; do
  st=${s%%/*}; rest=${s#*/}; base=${rest%%/*}; patch=${rest#*/}
  r=0
  while [ "$r" -lt "$repeat" ]; do
    "$here/compare_unet.sh" --stages "$st" --base "$base" --patch "$patch" --batch 2 --threads "$threads" \
      --steps "$steps" --warmup "$warmup" | tail -n 1 >> "$tmp"
    r=$((r + 1))
  done
done
model=$(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -n 1)
isa=$(grep -o -w -E 'avx512f|avx512_bf16|avx512_vnni|avx2|fma|amx_tile' /proc/cpuinfo | sort -u | tr '\n' ' ')
"$py" - "$tmp" "$model" "$isa" "$threads" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
table = {}
for r in rows:
    a = r["proxyseg"]
    key = "%d/%d/%d^3" % (a["stages"], a["base"], a["patch"])
    table.setdefault(key, []).append(r)
out = []
for key, rs in table.items():
    med = lambda f: statistics.median([f(r) for r in rs])
    has_t = all(r.get("torch") for r in rs)
    ent = {"size": key, "runs": len(rs),
           "proxyseg_ms": round(med(lambda r: r["proxyseg"]["ms_per_step"]), 2),
           "torch_ms": round(med(lambda r: r["torch"]["ms_per_step"]), 2) if has_t else None,
           "speedup_torch_over_proxyseg": round(med(lambda r: r["torch"]["ms_per_step"] / r["proxyseg"]["ms_per_step"]), 3) if has_t else None,
           # the spread over the repeats, not only their median: one size's
           # runs on a shared VM differ by 20 % and more
           "speedup_range": [round(f([r["torch"]["ms_per_step"] / r["proxyseg"]["ms_per_step"] for r in rs]), 3)
                             for f in (min, max)] if has_t else None,
           "speedup_cpu_time": round(med(lambda r: r.get("speedup_cpu_time") or float("nan")), 3) if has_t else None,
           "speedup_min_step": round(med(lambda r: r.get("speedup_min_step") or float("nan")), 3) if has_t else None,
           "non_conv_share": round(med(lambda r: r["proxyseg"].get("non_conv_share", float("nan"))), 3),
           "proxyseg_rss_mb": round(med(lambda r: r["proxyseg"]["peak_rss_mb"]), 1),
           "torch_rss_mb": round(med(lambda r: r["torch"]["peak_rss_mb"]), 1) if has_t else None,
           "op_ms": {k: round(statistics.median([r["proxyseg"]["op_ms"][k] for r in rs]), 2)
                     for k in rs[0]["proxyseg"].get("op_ms", {})}}
    out.append(ent)
print(json.dumps({"bench": "unet_grid", "machine": {"model": sys.argv[2], "isa": sys.argv[3].split()},
                  "threads": int(sys.argv[4]), "batch": 2, "median_of": len(rows) // max(1, len(table)),
                  "grid": out}, indent=1))
PY
