#!/usr/bin/env bash
# A shared workstation: the 3/16/32^3 training step (2 threads) alone and beside
# one busy process, per OMP_WAIT_POLICY (libgomp's default, active, passive),
# then 1 against 2 threads beside the busy process. Prints JSON lines.
# usage: benchmarks/wait_policy.sh [BUILD_DIR]
B=${1:-build}/benchmarks/bench_unet_step
echo "{\"machine\":\"$(lscpu | sed -n 's/^Model name: *//p')\",\"cores\":$(nproc)}"
run() { env $1 $B --stages 3 --base 16 --patch 32 --batch 2 --threads 2 --steps 12 --warmup 3 2>/dev/null | python3 -c "import json,sys; print(json.load(sys.stdin)['ms_per_step'])"; }
for rep in 1 2; do
for pol in "OMP_WAIT_POLICY=" "OMP_WAIT_POLICY=active" "OMP_WAIT_POLICY=passive"; do
  alone=$(run "$pol")
  ( while :; do :; done ) & busy=$!
  loaded=$(run "$pol")
  kill $busy; wait $busy 2>/dev/null
  echo "{\"policy\":\"${pol#OMP_WAIT_POLICY=}\",\"rep\":$rep,\"alone_ms\":$alone,\"with_busy_ms\":$loaded,\"slowdown\":$(python3 -c "print(round($loaded/$alone,2))")}"
done; done
for rep in 1 2; do for t in 1 2; do
  a=$($B --stages 3 --base 16 --patch 32 --batch 2 --threads $t --steps 12 --warmup 3 2>/dev/null | python3 -c "import json,sys; print(json.load(sys.stdin)['ms_per_step'])")
  ( while :; do :; done ) & busy=$!
  l=$($B --stages 3 --base 16 --patch 32 --batch 2 --threads $t --steps 12 --warmup 3 2>/dev/null | python3 -c "import json,sys; print(json.load(sys.stdin)['ms_per_step'])")
  kill $busy; wait $busy 2>/dev/null
  echo "{\"threads\":$t,\"rep\":$rep,\"alone_ms\":$a,\"with_busy_ms\":$l}"
done; done
