#!/usr/bin/env bash
# `proxyseg search --algo asng` end to end: one trial trains with the ASNG
# plugin; its folder holds policy.json (accepted by `train --config`),
# asng.json, theta.jsonl (a line per update) and the trained network; a space
# other than the paper's is refused with exit 2.
set -euo pipefail
exe=$1
rm -rf tmp_asng_search; mkdir -p tmp_asng_search; cd tmp_asng_search
"$exe" generate --out ds --cases 8 --size 24 --seed 4 2>/dev/null
common=(--set patch=[16,16,16] --set epochs=2 --set iters_per_epoch=3 --set net.stages=2 --set net.base_features=4
        --set val.folds=4 --set val.every=1 --set threads=1)
"$exe" search --dataset ds --algo asng --study s --seed 3 --algo-opt lambda=2 "${common[@]}" 2> log || { tail -20 log; exit 1; }
t=s/trials/0000
for f in policy.json asng.json theta.jsonl checkpoint.h5 metrics.json; do
  [ -s "$t/$f" ] || { echo "FAIL: $t/$f missing"; ls "$t"; exit 1; }
done
n=$(wc -l < "$t/theta.jsonl")
[ "$n" -eq 6 ] || { echo "FAIL: theta.jsonl has $n lines, expected 6 (2 epochs x 3 steps)"; exit 1; }
grep -q '"state":"COMPLETE"' s/journal.jsonl || { echo "FAIL: the ASNG trial did not complete"; cat s/journal.jsonl; exit 1; }
# the found policy trains as a config
"$exe" train --dataset ds --out tr --config "$t/policy.json" "${common[@]}" --set epochs=1 2> log2 || { tail -20 log2; exit 1; }
[ -s tr/metrics.json ] || { echo "FAIL: training with policy.json wrote no metrics"; exit 1; }
# another space is refused (usage error)
set +e
"$exe" search --dataset ds --algo asng --space lr_only --study s2 "${common[@]}" 2> log3
rc=$?
set -e
[ "$rc" -eq 2 ] || { echo "FAIL: --algo asng with --space lr_only exited $rc (expected 2)"; tail -3 log3; exit 1; }
grep -q "paper's augmentation space" log3 || { echo "FAIL: no clear message"; tail -3 log3; exit 1; }
echo "asng_search: 1 passed, 0 failed"
