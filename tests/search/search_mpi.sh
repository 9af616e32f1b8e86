#!/usr/bin/env bash
# mpirun -n K proxyseg search: rank 0 drives, K-1 ranks run trials. With 2 and
# 3 worker ranks the journal holds the same (params, state, score) as the serial
# run with the same seed. kill -9 of the worker rank running a trial: under
# retry_failed the trial runs again on the other rank and nothing is lost or
# duplicated; without it that trial alone is FAIL naming the lost rank. kill -9
# of rank 0: a re-run resumes. Skipped (77) without mpirun or an MPI build.
set -euo pipefail
exe=$1; py=${2:-/usr/bin/python3}
here=$(cd "$(dirname "$0")" && pwd)
command -v mpirun > /dev/null || { echo "SKIP: mpirun not found (apt-get install openmpi-bin libopenmpi-dev)"; exit 77; }
rm -rf tmp_mpi; mkdir -p tmp_mpi; cd tmp_mpi
# --enable-recovery: a dead worker rank must not take the job down with it
mpirun=(mpirun --oversubscribe --allow-run-as-root --enable-recovery)
mpi=(timeout 300 "${mpirun[@]}")
# the probe without --enable-recovery, which would hide a rank's exit code
if ! probe=$(timeout 120 mpirun --oversubscribe --allow-run-as-root -n 2 "$exe" search --help 2>&1) ||
   echo "$probe" | grep -q "built without MPI"; then
  echo "SKIP: this proxyseg cannot run under mpirun: $(echo "$probe" | grep proxyseg | head -1)"; exit 77
fi
. "$here/common_search.sh"
fail() { echo "FAIL: $*"; exit 1; }
"$exe" search "${args[@]}" --trials 6 --study serial > /dev/null 2> serial.log || { tail -20 serial.log; fail "serial run"; }
digest serial > serial.digest

for k in 3 4; do
  "${mpi[@]}" -n $k "$exe" search "${args[@]}" --trials 6 --study mpi$k > /dev/null 2> mpi$k.log || { tail -20 mpi$k.log; fail "mpirun -n $k"; }
  digest mpi$k > mpi$k.digest
  diff serial.digest mpi$k.digest || fail "mpirun -n $k journaled other trials than the serial run"
  # every worker rank ran trials, rank 0 none
  ranks=$(grep -o '"rank":[0-9]*' mpi$k/journal.jsonl | sort -u | tr '\n' ' ')
  [ "$(echo $ranks | wc -w)" -eq $((k - 1)) ] || fail "mpirun -n $k: trials ran on ranks {$ranks}"
  echo $ranks | grep -q '"rank":0' && fail "rank 0 ran a trial"
done

# kill_worker DIR: the worker rank whose trial 2 is held (the parent of its trial process)
kill_worker() {
  wait_held $1 2 || return 1
  child=$(pgrep -f "trial-run --dir $1/trials/0002" | head -1)
  [ -n "$child" ] || { echo "FAIL: no trial process for trial 2"; return 1; }
  worker=$(awk '{print $4}' /proc/$child/stat)
  kill -9 $worker
}
# worker killed mid-trial, retry_failed: trial 2 runs again on the other rank
PS_TEST_HOLD_TRIAL=2 "${mpi[@]}" -n 3 "$exe" search "${args[@]}" --trials 6 --study retry --retry-failed \
  --heartbeat-timeout 10 > /dev/null 2> retry.log &
pid=$!
kill_worker retry || { kill $pid; exit 1; }
wait $pid || { tail -20 retry.log; fail "the study did not complete after a worker rank was killed"; }
digest retry > retry.digest
diff serial.digest retry.digest || fail "after a lost worker and a retry the journal differs from the serial run"
grep -q '"trial":2,.*"attempts":2' retry/journal.jsonl || fail "trial 2 was not retried"
# worker killed mid-trial, no retry: trial 2 alone is FAIL
PS_TEST_HOLD_TRIAL=2 "${mpi[@]}" -n 3 "$exe" search "${args[@]}" --trials 6 --study lost --heartbeat-timeout 10 \
  > /dev/null 2> lost.log &
pid=$!
kill_worker lost || { kill $pid; exit 1; }
wait $pid || { tail -20 lost.log; fail "the study did not complete after a worker rank was killed"; }
"$py" - <<'PY'
import json
ev = [json.loads(l) for l in open("lost/journal.jsonl")]
end = {e["trial"]: e for e in ev if e["event"] == "end"}
assert sorted(end) == list(range(6)), sorted(end)
assert end[2]["state"] == "FAIL" and "lost" in end[2]["reason"], end[2]
ok = [t for t in end if t != 2 and end[t]["state"] == "COMPLETE"]
assert len(ok) == 5, end
PY
digest lost | grep -v FAIL > lost.digest
[ "$(wc -l < lost.digest)" -eq 5 ] || fail "lost: $(cat lost.digest)"

# rank 0 killed mid-trial: every worker rank ends (the one holding trial 2, and
# the one whose trial 1 finishes only after rank 0 died and so has nobody to
# send its result to: MPI_Send to a dead rank spins forever), and a plain
# re-run (MPI again) resumes. mpirun's own timeout here only catches a hang.
PS_TEST_HOLD_TRIAL=2 PS_TEST_STOP_TRIAL=1 timeout 120 "${mpirun[@]}" -n 3 "$exe" search "${args[@]}" --trials 6 \
  --study r0 > /dev/null 2> r0.log &
pid=$!
wait_held r0 2 && wait_held r0 1 stopped || { kill $pid; exit 1; }
driver=$("$py" -c "import json; print(json.load(open('r0/driver.lock'))['pid'])")
kill -9 $driver
# trial 1 ends 2 s after rank 0 died: the old blocking send then hung about
# every other run (a send right away got through to the dead rank's socket)
sleep 2
pkill -CONT -f "trial-run --dir r0/trials/0001"
rc=0; wait $pid 2>/dev/null || rc=$?
[ $rc -eq 124 ] && { tail -5 r0.log; fail "worker ranks outlived rank 0 until mpirun's timeout"; }
grep -q '"event":"end","trial":2' r0/journal.jsonl && fail "trial 2 ended although it was held"
"${mpi[@]}" -n 3 "$exe" search "${args[@]}" --trials 6 --study r0 > /dev/null 2> r0b.log || { tail -20 r0b.log; fail "re-run after rank 0 died"; }
digest r0 > r0.digest
diff serial.digest r0.digest || fail "the resumed study differs from the serial run"
echo "search_mpi: 6 passed, 0 failed"
