#!/usr/bin/env bash
# One driver per study folder: a second `search` on a folder whose driver is
# alive is refused with a message naming it; after kill -9 of the driver its
# lock is taken over and the study resumes. trial_timeout: a hung trial (held by
# the test hook) becomes FAIL with the reason, and the search goes on.
set -euo pipefail
exe=$1; py=${2:-/usr/bin/python3}
here=$(cd "$(dirname "$0")" && pwd)
rm -rf tmp_lock; mkdir -p tmp_lock; cd tmp_lock
. "$here/common_search.sh"
fail() { echo "FAIL: $*"; exit 1; }

# 1. a live driver: the second one is refused, the first is untouched
PS_TEST_HOLD_TRIAL=1 "$exe" search "${args[@]}" --trials 3 --study s 2> first.log &
pid=$!
wait_held s 1 || { kill -9 $pid; exit 1; }
rc=0; "$exe" search "${args[@]}" --trials 3 --study s > second.out 2> second.log || rc=$?
[ $rc -eq 1 ] || fail "second driver: exit $rc, expected 1"
grep -q "another driver is running this study" second.log || fail "second driver's message: $(cat second.log)"
grep -q "pid $pid" second.log || fail "the message does not name the live driver (pid $pid): $(cat second.log)"
[ ! -s second.out ] || fail "the refused driver printed a result"
n_start=$(grep -c '"event":"start"' s/journal.jsonl)
[ "$n_start" -eq 2 ] || fail "the refused driver touched the journal ($n_start starts)"
# 2. the driver dies: its lock is stale and the next run takes it over and resumes
kill -9 $pid; wait $pid 2>/dev/null || true
[ -e s/driver.lock ] || fail "kill -9 removed the lock file (the test would prove nothing)"
"$exe" search "${args[@]}" --trials 3 --study s > /dev/null 2> resumed.log || { tail -20 resumed.log; fail "resume after kill -9"; }
grep -q "taking over the lock" resumed.log || fail "no take-over message: $(tail -5 resumed.log)"
[ ! -e s/driver.lock ] || fail "the finished driver left its lock"
digest s > s.digest
[ "$(wc -l < s.digest)" -eq 3 ] || fail "resumed study: $(cat s.digest)"
grep -q RUNNING s.digest && fail "a trial is still RUNNING"

# 3. trial_timeout: trial 1 hangs; it is killed after 20 s (generous: a normal trial must not hit it on a loaded machine), FAIL with the reason
PS_TEST_HOLD_TRIAL=1 "$exe" search "${args[@]}" --trials 3 --study t --trial-timeout 20 > /dev/null 2> t.log \
  || { tail -20 t.log; fail "search with a hung trial"; }
"$py" - <<'PY'
import json
ev = [json.loads(l) for l in open("t/journal.jsonl")]
end = {e["trial"]: e for e in ev if e["event"] == "end"}
assert set(end) == {0, 1, 2}, end.keys()
assert end[1]["state"] == "FAIL" and end[1]["reason"].startswith("trial_timeout"), end[1]
assert end[0]["state"] == end[2]["state"] == "COMPLETE", (end[0], end[2])
PY
pgrep -f "trial-run --dir t/trials/0001" > /dev/null && fail "the timed-out trial process is still alive"
# bad values are usage errors
rc=0; "$exe" search "${args[@]}" --study bad --trial-timeout -1 2> bad.log || rc=$?
[ $rc -eq 2 ] || fail "--trial-timeout -1: exit $rc, expected 2"
echo "study_lock: 3 passed, 0 failed"
