#!/usr/bin/env bash
# kill -9 in the middle of a trial, re-run: the journal is consistent, no trial
# is COMPLETE twice, and the final trials (params, states, scores) are those of
# an uninterrupted run with the same seed.
set -euo pipefail
exe=$1; py=${2:-/usr/bin/python3}
here=$(cd "$(dirname "$0")" && pwd)
rm -rf tmp_resume; mkdir -p tmp_resume; cd tmp_resume
"$exe" generate --out ds --cases 8 --size 24 --seed 5 2>/dev/null
args=(--dataset ds --space "$here/../../search/spaces/lr_only.json" --algo random --trials 4 --seed 9
      --set patch=[16,16,16] --set epochs=2 --set iters_per_epoch=25 --set net.stages=2 --set net.base_features=4
      --set val.folds=4 --set threads=1)
"$exe" search "${args[@]}" --study full 2> full.log || { tail -20 full.log; exit 1; }
# interrupted run: kill -9 while trial 2 is RUNNING, held before training by the
# test hook so the kill always lands mid-trial
PS_TEST_HOLD_TRIAL=2 "$exe" search "${args[@]}" --study killed 2> killed.log &
pid=$!
for i in $(seq 1 1200); do
  [ -e killed/trials/0002/held ] && break
  sleep 0.1
done
[ -e killed/trials/0002/held ] || { echo "FAIL: trial 2 never reached the hold point"; tail -20 killed.log; kill -9 $pid; exit 1; }
kill -9 $pid; wait $pid 2>/dev/null || true
sleep 0.5
grep -q '"event":"end","trial":2' killed/journal.jsonl && { echo "FAIL: trial 2 ended although it was held"; exit 1; }
"$exe" search "${args[@]}" --study killed 2> resumed.log || { tail -20 resumed.log; exit 1; }
"$py" - <<'PY'
import json, sys
def load(d):
    ev = [json.loads(l) for l in open(f"{d}/journal.jsonl") if l.strip()]
    ends = {}
    for e in ev:
        if e["event"] == "end":
            assert e["trial"] not in ends, f"{d}: trial {e['trial']} ended twice"
            ends[e["trial"]] = e
    starts = {}
    for e in ev:
        if e["event"] == "start": starts[e["trial"]] = e
    return {t: (json.dumps(starts[t]["params"], sort_keys=True), ends[t]["state"], ends[t]["value"]) for t in ends}, starts
a, sa = load("full"); b, sb = load("killed")
print("uninterrupted:", a); print("resumed:      ", b)
assert set(sa) == set(sb) == set(a) == set(b), "trial sets differ"
assert a == b, "resumed study differs from the uninterrupted one"
restarts = sum(1 for l in open("killed/journal.jsonl") if '"event":"start","trial":2' in l)
assert restarts == 2, f"trial 2 should have been started twice (killed, re-run), got {restarts}"
print("study_resume: 1 passed, 0 failed")
PY
