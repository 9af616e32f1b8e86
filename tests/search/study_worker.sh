#!/usr/bin/env bash
# `proxyseg worker --study DIR`: a driver with --file-workers queues its trials
# in the study folder; worker processes claim them through a lock with
# heartbeats. Two workers: every trial runs exactly once and the journal equals
# the serial run's. kill -9 of a worker mid-trial: its claim goes stale, the
# trial is queued again (--retry-failed) and the other worker completes it.
set -euo pipefail
exe=$1; py=${2:-/usr/bin/python3}
here=$(cd "$(dirname "$0")" && pwd)
rm -rf tmp_worker; mkdir -p tmp_worker; cd tmp_worker
. "$here/common_search.sh"
fail() { echo "FAIL: $*"; exit 1; }
"$exe" search "${args[@]}" --trials 6 --study serial > /dev/null 2> serial.log || { tail -20 serial.log; fail "serial run"; }
digest serial > serial.digest

# run_shared NAME: two workers on NAME, started before the driver as in a Slurm array
run_shared() {
  mkdir -p $1
  "$exe" worker --study $1 --idle-exit 3 2> $1.w1.log & w1=$!
  "$exe" worker --study $1 --idle-exit 3 2> $1.w2.log & w2=$!
}

run_shared shared
"$exe" search "${args[@]}" --trials 6 --study shared --file-workers --jobs 4 > /dev/null 2> shared.log \
  || { tail -20 shared.log; fail "driver with file workers"; }
wait $w1 || fail "worker 1 exited with an error: $(tail -3 shared.w1.log)"
wait $w2 || fail "worker 2 exited with an error: $(tail -3 shared.w2.log)"
digest shared > shared.digest
diff serial.digest shared.digest || fail "the shared study journaled other trials than the serial run"
# every trial ran exactly once, and both workers took part
cat shared.w1.log shared.w2.log | grep -o 'trial [0-9]* done' | sort > ran.txt
[ "$(sort -u ran.txt | wc -l)" -eq 6 ] && [ "$(wc -l < ran.txt)" -eq 6 ] || fail "trials run by the workers: $(tr '\n' ' ' < ran.txt)"
grep -q 'done' shared.w1.log && grep -q 'done' shared.w2.log || fail "one worker ran every trial (no sharing shown)"
ls shared/queue/*.json 2>/dev/null && fail "trials left in the queue"

# a worker killed mid-trial: trial 2 is queued again and the other worker runs it
# (the workers start the trial processes, so they carry the test hold)
export PS_TEST_HOLD_TRIAL=2
run_shared killed
"$exe" search "${args[@]}" --trials 6 --study killed --file-workers --jobs 2 --retry-failed \
  --heartbeat-timeout 10 > /dev/null 2> killed.log & driver=$!
wait_held killed 2 || { kill $driver $w1 $w2; exit 1; }
child=$(pgrep -f "trial-run --dir killed/trials/0002" | head -1)
holder=$(awk '{print $4}' /proc/$child/stat)
kill -9 $holder
wait $driver || { tail -20 killed.log; fail "the driver did not finish after a worker was killed"; }
wait $w1 $w2 2>/dev/null || true
unset PS_TEST_HOLD_TRIAL
digest killed > killed.digest
diff serial.digest killed.digest || fail "after a lost worker the journal differs from the serial run"
grep -q '"trial":2,.*"attempts":2' killed/journal.jsonl || fail "trial 2 was not run a second time"
echo "study_worker: 2 passed, 0 failed"
