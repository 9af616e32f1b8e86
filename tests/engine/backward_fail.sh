#!/usr/bin/env bash
# A kernel allocation that fails inside backward (injected through the test hook
# PS_TEST_FAIL_BACKWARD_ALLOC) must end the trial FAIL with the error named,
# never as a trial that trained on silently lost gradients.
set -euo pipefail
exe=$1
rm -rf tmp_backward_fail; mkdir -p tmp_backward_fail; cd tmp_backward_fail
"$exe" generate --out ds --cases 6 --size 24 --seed 2 2>/dev/null
cat > space.json <<'J'
{"params": [{"key": "lr", "type": "categorical", "choices": [0.01, 0.001]}]}
J
PS_TEST_FAIL_BACKWARD_ALLOC=2 "$exe" search --dataset ds --space space.json --algo random --trials 2 --study s \
  --set patch=[16,16,16] --set epochs=1 --set iters_per_epoch=2 --set net.stages=2 --set net.base_features=4 \
  --set val.folds=3 --set threads=1 2> log || { tail -20 log; exit 1; }
n_fail=$(grep -c '"state":"FAIL"' s/journal.jsonl || true)
n_inj=$(grep -c 'injected allocation failure' s/journal.jsonl || true)
n_ok=$(grep -c '"state":"COMPLETE"' s/journal.jsonl || true)
if [ "$n_fail" != 2 ] || [ "$n_inj" -lt 2 ] || [ "$n_ok" != 0 ]; then
  echo "FAIL: expected 2 FAIL trials naming the injected failure, got $n_fail FAIL ($n_inj naming it), $n_ok COMPLETE"
  cat s/journal.jsonl; tail -20 log; exit 1
fi
# without the hook the same search completes both trials (the failure came from the hook alone)
rm -rf s
"$exe" search --dataset ds --space space.json --algo random --trials 2 --study s \
  --set patch=[16,16,16] --set epochs=1 --set iters_per_epoch=2 --set net.stages=2 --set net.base_features=4 \
  --set val.folds=3 --set threads=1 2> log || { tail -20 log; exit 1; }
n_ok=$(grep -c '"state":"COMPLETE"' s/journal.jsonl || true)
[ "$n_ok" = 2 ] || { echo "FAIL: without the hook expected 2 COMPLETE trials, got $n_ok"; cat s/journal.jsonl; exit 1; }
echo "backward_fail: 2 passed, 0 failed"
