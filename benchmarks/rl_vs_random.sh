#!/usr/bin/env bash
# Issue 5's measurement: RL against random search with the same number of
# trials, on the demo task's proxy (kcenter subset, half-width shallower net),
# over several seeds. Prints one JSON line: best proxy Dice per seed and algo,
# mean and spread, paired wins.
#   benchmarks/rl_vs_random.sh [BUILD=build] [SEEDS=3] [TRIALS=12]
set -euo pipefail
build=${1:-build}; seeds=${2:-3}; trials=${3:-12}
exe=$(cd "$build" && pwd)/proxyseg
work=${WORK:-/tmp/ps_rl_vs_random}
mkdir -p "$work"; cd "$work"
[ -f ds/dataset.json ] || "$exe" generate --out ds --cases 24 --size 48 --seed 1 2>/dev/null
[ -f subset.json ] || "$exe" proxy-data --dataset ds --method kcenter --fraction 0.4 --out subset.json --cache cache >/dev/null 2>&1
common=(--dataset ds --space lr_aug --trials "$trials" --proxy-data subset.json --proxy-net width=0.5,depth=1
        --set patch=[32,32,32] --set net.stages=3 --set net.base_features=16 --set epochs=5 --set iters_per_epoch=12
        --set val.folds=4 --set val.every=100 --set threads=${THREADS:-1})
for s in $(seq 1 "$seeds"); do
  for a in random rl; do
    [ -f "$a-$s/report.json" ] || "$exe" search "${common[@]}" --algo "$a" --seed "$s" --study "$a-$s" >/dev/null 2>"$a-$s.log"
  done
done
/usr/bin/python3 - "$seeds" <<'PY'
import json, statistics, sys
seeds = int(sys.argv[1])
res = {}
for a in ("random", "rl"):
    best = []
    for s in range(1, seeds + 1):
        ev = [json.loads(l) for l in open(f"{a}-{s}/journal.jsonl")]
        vals = [e["value"] for e in ev if e["event"] == "end" and e["state"] == "COMPLETE"]
        best.append(max(vals) if vals else 0.0)
    res[a] = {"best_per_seed": best, "mean": statistics.mean(best), "stdev": statistics.pstdev(best)}
wins = sum(r > q for r, q in zip(res["rl"]["best_per_seed"], res["random"]["best_per_seed"]))
print(json.dumps({"benchmark": "rl_vs_random", "seeds": seeds, "rl": res["rl"], "random": res["random"],
                  "rl_wins": wins, "ratio_rl_over_random": res["rl"]["mean"] / max(res["random"]["mean"], 1e-12)}))
PY
