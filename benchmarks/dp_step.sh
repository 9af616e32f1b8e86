#!/usr/bin/env bash
# Data-parallel training step (issue 12): one process vs `mpirun -n 2`, one
# thread per rank, the same global batch, peers in the same run (alternating,
# REPS times each). Reads metrics.json: step time = train_seconds / steps
# (rank 0's, which includes waiting for the slower rank), and the time rank 0
# spent in the gradient MPI_Allreduce (the transfer plus waiting for the other
# rank to arrive). Prints JSON lines and the machine. Run under the timing lock:
#   flock /tmp/proxyseg-timing.lock benchmarks/dp_step.sh [BUILD=build] [REPS=2] [PATCH=32] [BATCH=2]
set -euo pipefail
build=$(cd "${1:-build}" && pwd); reps=${2:-2}; patch=${3:-32}; batch=${4:-2}
exe=$build/proxyseg
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT; cd "$work"
echo "{\"machine\": \"$(lscpu | sed -n 's/^Model name: *//p')\", \"cores\": $(nproc), \"patch\": $patch, \"batch\": $batch}"
"$exe" generate --out ds --cases 6 --size 48 --seed 3 2> /dev/null
epochs=2; iters=10
args=(--dataset ds --cache cache --set patch=[$patch,$patch,$patch] --set batch=$batch --set epochs=$epochs
      --set iters_per_epoch=$iters --set val.every=100 --set val.folds=3 --set threads=1)
"$exe" train "${args[@]}" --set epochs=1 --set iters_per_epoch=1 --out warm > /dev/null 2>&1 # builds the cache
report() {
  /usr/bin/python3 - "$1" "$2" $((epochs * iters)) <<'PY'
import json, sys
m = json.load(open(sys.argv[2] + "/metrics.json"))
steps = int(sys.argv[3])
dp = m.get("data_parallel", {})
ar = dp.get("allreduce_seconds", 0.0)
print(json.dumps({"ranks": int(sys.argv[1]), "ms_per_step": round(1000 * m["train_seconds"] / steps, 1),
                  "allreduce_ms_per_step": round(1000 * ar / steps, 2),
                  "allreduce_share": round(ar / m["train_seconds"], 4)}))
PY
}
for r in $(seq 1 "$reps"); do
  OMP_NUM_THREADS=1 "$exe" train "${args[@]}" --out one$r > /dev/null 2>&1
  report 1 one$r
  OMP_NUM_THREADS=1 mpirun --oversubscribe --allow-run-as-root -n 2 "$exe" train "${args[@]}" --out two$r > /dev/null 2>&1
  report 2 two$r
done
