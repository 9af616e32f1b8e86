#!/usr/bin/env bash
# Median pruning: once 3 trials have finished, a trial whose validation Dice
# falls below their median at the same epoch stops and is journaled PRUNED.
set -euo pipefail
exe=$1
here=$(cd "$(dirname "$0")" && pwd)
rm -rf tmp_prune; mkdir -p tmp_prune; cd tmp_prune
"$exe" generate --out ds --cases 8 --size 24 --seed 4 2>/dev/null
cat > space.json <<'J'
{"params": [{"key": "lr", "type": "categorical", "choices": [0.02, 1e-9]}]}
J
"$exe" search --dataset ds --space space.json --algo random --trials 8 --seed 3 --study s --pruner median \
  --set patch=[16,16,16] --set epochs=3 --set iters_per_epoch=4 --set net.stages=2 --set net.base_features=4 \
  --set val.folds=4 --set val.every=1 --set threads=1 2> log || { tail -20 log; exit 1; }
n_pruned=$(grep -c '"state":"PRUNED"' s/journal.jsonl || true)
n_inter=$(grep -c '"event":"intermediate"' s/journal.jsonl || true)
[ "$n_pruned" -ge 1 ] || { echo "FAIL: no trial was pruned"; grep '"event":"end"' s/journal.jsonl | cut -c1-160; exit 1; }
[ "$n_inter" -ge 8 ] || { echo "FAIL: intermediate values were not journaled ($n_inter)"; exit 1; }
# a pruned trial stopped early: fewer epochs than configured
grep '"state":"PRUNED"' s/journal.jsonl | grep -q '"epochs_done":[12],' || { echo "FAIL: pruned trial ran all epochs"; exit 1; }
echo "study_prune: 1 passed, 0 failed"
