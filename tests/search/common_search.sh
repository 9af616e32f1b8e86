# Shared by the lock/MPI/worker tests: a tiny dataset, a tiny random search, a
# journal digest to compare runs by, and a wait for the test hold hook.
"$exe" generate --out ds --cases 8 --size 24 --seed 5 2>/dev/null
args=(--dataset ds --space "$here/../../search/spaces/lr_only.json" --algo random --seed 9
      --set patch=[16,16,16] --set epochs=2 --set iters_per_epoch=25 --set net.stages=2 --set net.base_features=4
      --set val.folds=4 --set threads=1)

# digest DIR: one line per ended trial "params state value", sorted; fails when a
# trial ended twice or a started trial never ended
digest() {
  "$py" - "$1" <<'PY'
import json, sys
d = sys.argv[1]
ev = [json.loads(l) for l in open(f"{d}/journal.jsonl") if l.strip()]
starts, ends = {}, {}
for e in ev:
    if e["event"] == "start": starts[e["trial"]] = e
    if e["event"] == "end":
        assert e["trial"] not in ends, f"{d}: trial {e['trial']} ended twice"
        ends[e["trial"]] = e
assert set(starts) == set(ends), f"{d}: trials started but never ended: {set(starts) - set(ends)}"
for t in sorted(ends):
    print(json.dumps(starts[t]["params"], sort_keys=True), ends[t]["state"], ends[t]["value"])
PY
}

# wait_held DIR N [MARK]: until trial N of DIR sits in the test hold
# (PS_TEST_HOLD_TRIAL; MARK "stopped" for PS_TEST_STOP_TRIAL)
wait_held() {
  for i in $(seq 1 1200); do
    [ -e "$1/trials/$(printf %04d "$2")/${3:-held}" ] && return 0
    sleep 0.1
  done
  echo "FAIL: trial $2 of $1 never reached the ${3:-held} point"
  return 1
}
