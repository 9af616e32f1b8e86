#!/usr/bin/env bash
# A config that diverges ends FAIL with reason "diverged", the search completes
# (exit 0), and the report keeps FAIL trials out of correlations.
set -euo pipefail
exe=$1
here=$(cd "$(dirname "$0")" && pwd)
rm -rf tmp_diverge; mkdir -p tmp_diverge; cd tmp_diverge
"$exe" generate --out ds --cases 6 --size 24 --seed 2 2>/dev/null
cat > space.json <<'J'
{"params": [{"key": "lr", "type": "categorical", "choices": [60, 90]}]}
J
"$exe" search --dataset ds --space space.json --algo random --trials 2 --study s \
  --set patch=[16,16,16] --set epochs=1 --set iters_per_epoch=3 --set net.stages=2 --set net.base_features=4 \
  --set val.folds=3 --set threads=1 --set grad_clip=0 --set optimizer=sgd --set net.norm=none 2> log || { tail -20 log; exit 1; }
n_fail=$(grep -c '"state":"FAIL"' s/journal.jsonl || true)
n_div=$(grep -c '"reason":"diverged' s/journal.jsonl || true)
[ "$n_fail" = 2 ] && [ "$n_div" = 2 ] || { echo "FAIL: expected 2 diverged FAIL trials, got $n_fail FAIL / $n_div diverged"; cat s/journal.jsonl; exit 1; }
grep -qE '"FAIL":\s*2' s/report.json || { echo "FAIL: report does not count the failed trials"; exit 1; }
echo "study_diverge: 1 passed, 0 failed"
