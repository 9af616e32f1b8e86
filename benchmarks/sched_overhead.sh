#!/usr/bin/env bash
# Scheduler overhead per trial: milliseconds from a trial's end reaching the
# driver to the next trial's dispatch (journal end with fsync, tell, ask, the
# trial folder's two JSON files, journal start with fsync, the MPI send), with
# tiny trials, for mpirun -n K (K-1 worker ranks, oversubscribed) against the
# local executor (--jobs K-1) as the peer measured in the same run. Prints one
# JSON object. Run under the timing lock:
#   flock /tmp/proxyseg-timing.lock benchmarks/sched_overhead.sh build/proxyseg "2 4 8 16 32"
set -euo pipefail
exe=$(realpath "${1:?proxyseg binary}"); ranks=${2:-"2 4 8 16 32"}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d); cd "$work"
trap 'rm -rf "$work"' EXIT
trap 'echo "sched_overhead: failed; logs kept in $work" >&2; trap - EXIT' ERR
"$exe" generate --out ds --cases 8 --size 24 --seed 5 2>/dev/null
args=(--dataset ds --space "$here/../search/spaces/lr_only.json" --algo random --seed 1
      --set patch=[16,16,16] --set epochs=1 --set iters_per_epoch=1 --set net.stages=2 --set net.base_features=4
      --set val.folds=4 --set threads=1)
# the scheduler's own line: "scheduler: N dispatches after a result, X ms mean, Y ms max ..."
stat() { grep -o 'scheduler: [0-9]* dispatches after a result, [0-9.]* ms mean, [0-9.]* ms max' "$1" | tail -1 |
         awk '{printf "{\"dispatches\": %s, \"mean_ms\": %s, \"max_ms\": %s}", $2, $7, $10}'; }
rows=""
for k in $ranks; do
  n=$(( 4 * (k - 1) > 16 ? 4 * (k - 1) : 16 ))
  t0=$(date +%s.%N)
  mpirun --oversubscribe --allow-run-as-root -n $k "$exe" search "${args[@]}" --trials $n --study mpi$k > /dev/null 2> mpi$k.log
  t1=$(date +%s.%N)
  "$exe" search "${args[@]}" --trials $n --study local$k --jobs $((k - 1)) > /dev/null 2> local$k.log
  t2=$(date +%s.%N)
  m=$(stat mpi$k.log); l=$(stat local$k.log)
  ratio=$("${PYTHON:-python3}" -c "import json,sys; a=json.loads(sys.argv[1]); b=json.loads(sys.argv[2]); print(round(a['mean_ms']/b['mean_ms'], 2) if b['mean_ms'] > 0 else None)" "$m" "$l")
  rows="$rows${rows:+, }{\"ranks\": $k, \"worker_ranks\": $((k - 1)), \"trials\": $n, \"mpi\": $m, \"local_jobs\": $l, \"mpi_over_local\": $ratio, \"mpi_wall_s\": $(echo "$t1 - $t0" | bc), \"local_wall_s\": $(echo "$t2 - $t1" | bc)}"
done
cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
echo "{\"benchmark\": \"sched_overhead\", \"machine\": {\"cpu\": \"$cpu\", \"cores\": $(nproc)}, \"rows\": [$rows]}"
