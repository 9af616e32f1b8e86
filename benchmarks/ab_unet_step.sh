#!/bin/sh
# Same-run A/B of two proxyseg builds (or two settings) on one U-Net training
# step: runs bench_unet_step from build A and from build B in alternation,
# N pairs, and prints one JSON line with each side's median and fastest
# min_ms_per_step and the median [min, max] of the per-pair ratio B / A
# (< 1: B faster). Alternating pairs, not two blocks of runs, because this
# project's machines are shared VMs whose speed drifts over minutes.
# usage: benchmarks/ab_unet_step.sh BENCH_A BENCH_B N [bench_unet_step flags...]
#   e.g. benchmarks/ab_unet_step.sh /tmp/base/bench_unet_step build/benchmarks/bench_unet_step 6 \
#          --stages 3 --base 16 --patch 32 --batch 2 --threads 2 --steps 8 --warmup 2
# env: PS_PYTHON (default /usr/bin/python3)
set -e
[ $# -ge 3 ] || { echo "usage: $0 BENCH_A BENCH_B N [bench_unet_step flags...]" >&2; exit 2; }
a=$1; b=$2; n=$3; shift 3
for f in "$a" "$b"; do [ -x "$f" ] || { echo "ab_unet_step.sh: $f is not an executable" >&2; exit 2; }; done
py=${PS_PYTHON:-/usr/bin/python3}
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
i=0
while [ "$i" -lt "$n" ]; do
  "$a" "$@" | tail -n 1 >> "$tmp"
  "$b" "$@" | tail -n 1 >> "$tmp"
  i=$((i + 1))
done
"$py" - "$tmp" "$a" "$b" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
a, b = rows[0::2], rows[1::2]
ta, tb = [r["min_ms_per_step"] for r in a], [r["min_ms_per_step"] for r in b]
ratio = [y / x for x, y in zip(ta, tb)]
r0 = a[0]
print(json.dumps({"bench": "ab_unet_step", "a": sys.argv[2], "b": sys.argv[3],
                  "size": "%d/%d/%d^3" % (r0["stages"], r0["base"], r0["patch"]), "threads": r0["threads"],
                  "pairs": len(ratio), "a_median_ms": statistics.median(ta), "a_min_ms": min(ta),
                  "b_median_ms": statistics.median(tb), "b_min_ms": min(tb),
                  "b_over_a_median": round(statistics.median(ratio), 3),
                  "b_over_a_min": round(min(ratio), 3), "b_over_a_max": round(max(ratio), 3)}))
PY
