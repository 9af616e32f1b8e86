#!/usr/bin/env bash
# A tiny study with seed replicates (full and proxy), an external set, the
# factorial cells and random comparison subsets, end to end. Every statistic of
# report.json is recomputed here from journal.jsonl and external.json with
# SciPy; the phases hold the expected trials; best/ holds a model that predict
# can use; trials.csv has one row per trial. Then kill -9 during a full-scale
# replicate and re-run: nothing lost, nothing duplicated, same results.
set -euo pipefail
exe=$1; py=${2:-/usr/bin/python3}
here=$(cd "$(dirname "$0")" && pwd)
"$py" -c 'import scipy' 2>/dev/null || { echo "SKIPPED: $py cannot import scipy (apt-get install python3-scipy)"; exit 77; }
rm -rf tmp_noise; mkdir -p tmp_noise; cd tmp_noise
"$exe" study --config "$here/noise_study.json" --out S 2> S.log || { tail -30 S.log; exit 1; }
grep -q "^verdict:" S.log || { echo "headline has no verdict line"; tail -20 S.log; exit 1; }
grep -q "proxyseg predict --model S/best/checkpoint.h5" S.log || { echo "headline has no predict command"; exit 1; }
"$exe" predict --model S/best/checkpoint.h5 --input S/dataset_site_b/imagesTr --out pred 2> pred.log \
  || { tail -5 pred.log; exit 1; }
ls pred/*.nii.gz >/dev/null
"$py" - <<'PY'
import json, csv, itertools, math
import numpy as np
from scipy import stats
ev = [json.loads(l) for l in open("S/journal.jsonl") if l.strip()]
start = {e["trial"]: e for e in ev if e["event"] == "start"}
end = {}
for e in ev:
    if e["event"] == "end":
        assert e["trial"] not in end, f"trial {e['trial']} ended twice"
        end[e["trial"]] = e
def phase(p): return sorted(t for t in start if start[t]["phase"] == p)
k, R, P = 4, 2, 2
assert len(phase("proxy")) == 5
assert len(phase("full")) == k * R, phase("full")
assert len(phase("proxy_rep")) == k * (P - 1)
assert len(phase("factorial_data")) == k * P and len(phase("factorial_net")) == k * P
for d in (1, 2, 3): assert len(phase(f"compare_{d}")) == k, d
rep = json.load(open("S/report.json"))
assert list(rep)[0] == "verdict", "the verdict is not the first key"
configs = []
for t in phase("full"):
    if start[t]["ref"] not in configs: configs.append(start[t]["ref"])
def val(t): return end[t]["value"] if end[t]["state"] == "COMPLETE" else float("nan")
def grid(ph, extra=None):
    g = {c: [] for c in configs}
    if extra: 
        for c in configs: g[c].append(val(c))
    for t in phase(ph):
        g[start[t]["ref"]].append(val(t))
    return g
full, prox = grid("full"), grid("proxy_rep", extra=True)
fm = np.array([np.nanmean(full[c]) for c in configs]); pm = np.array([np.nanmean(prox[c]) for c in configs])
corr = rep["correlation"]
assert corr["R"] == R and corr["P"] == P, (corr["R"], corr["P"])
rho = stats.spearmanr(pm, fm).correlation
assert abs(corr["spearman"]["value"] - rho) < 1e-9, (corr["spearman"]["value"], rho)
tau = stats.kendalltau(pm, fm).correlation
assert abs(corr["kendall"]["value"] - tau) < 1e-9
r0 = [full[c][0] for c in configs]; r1 = [full[c][1] for c in configs]
sh = stats.spearmanr(r0, r1).correlation
if math.isfinite(sh):
    assert abs(corr["noise_ceiling"]["split_half"] - sh) < 1e-9, (corr["noise_ceiling"], sh)
    assert abs(corr["noise_ceiling"]["value"] - 2 * sh / (1 + sh)) < 1e-9
# exact one-sided permutation p over the 4! pairings
perm = [stats.spearmanr(pm, fm[list(p)]).correlation for p in itertools.permutations(range(k))]
p_exact = sum(1 for s in perm if s >= rho - 1e-12) / len(perm)
assert abs(corr["spearman"]["p_value"] - p_exact) < 1e-9, (corr["spearman"]["p_value"], p_exact)
assert rep["verdict"]["code"] in ("informative", "not_informative", "inconclusive")
# external: proxy models (search trial + replicate) and full models scored there
ext = json.load(open("S/external.json"))
phases = sorted({o["phase"] for o in ext["trials"]})
assert phases == ["full", "proxy", "proxy_rep"], phases
assert "correlation_external" in rep
eg = {c: [] for c in configs}; ep = {c: [] for c in configs}
for o in ext["trials"]:
    (eg if o["phase"] == "full" else ep)[o["ref"]].append(o["external_dice"])
erho = stats.spearmanr([np.mean(ep[c]) for c in configs], [np.mean(eg[c]) for c in configs]).correlation
if math.isfinite(erho): assert abs(rep["correlation_external"]["spearman"]["value"] - erho) < 1e-9
# factorial and subsets
names = [r["name"] for r in rep["factorial"]["rows"]]
assert names == ["data only", "network only", "both"], names
rs = rep["random_subsets"]; assert len(rs["random_rhos"]) == 3 and rs["of"] >= 1
# speed-up: two figures, each saying how
for key in ("search", "end_to_end"):
    assert rep["speedup"][key]["how"] and rep["speedup"][key]["proxy_seconds"] > 0, key
# best: the full-scale winner by replicate mean, its model kept
best = rep["best"]
means = {c: np.nanmean(full[c]) for c in configs}
assert best["trial"] == max(configs, key=lambda c: (means[c], -c)), (best["trial"], means)
assert abs(best["full_mean"] - means[best["trial"]]) < 1e-9
assert json.load(open("S/best/best.json"))["ref"] == best["trial"]
assert "proxy_winner" in rep and rep["proxy_winner"]["trial"] == max(phase("proxy"), key=lambda t: val(t) if end[t]["state"] == "COMPLETE" else -1)
rows = list(csv.DictReader(open("S/trials.csv")))
assert len(rows) == len(start), (len(rows), len(start))
print("study_noise: report recomputed with SciPy: rho %.3f ceiling %s verdict %s" % (rho, corr["noise_ceiling"]["value"], rep["verdict"]["code"]))
PY
# kill -9 during a full-scale replicate (the 2nd replicate of the first config), re-run, compare
cat > small.json <<'EOF2'
{"generate": {"cases": 8, "size": 24, "seed": 5},
 "space": {"params": [{"key": "lr", "type": "float", "low": 0.001, "high": 0.05, "log": true}]},
 "trials": 3, "seed": 2, "proxy_net": {"width": 0.5, "depth": 1},
 "train": {"patch": [16, 16, 16], "batch": 2, "threads": 1, "net": {"stages": 2, "base_features": 4},
           "val": {"folds": 4, "every": 100}},
 "proxy_train": {"epochs": 1, "iters_per_epoch": 3}, "full_train": {"epochs": 2, "iters_per_epoch": 25},
 "retrain": {"count": 2, "replicates": 2}}
EOF2
"$exe" study --config small.json --out A 2> A.log || { tail -20 A.log; exit 1; }
# the first config's second replicate is the 3rd full trial (replicate-major
# numbering: 3 proxy trials 0-2, then full 3, 4 = replicate 0, 5 = replicate 1
# of the first config); the test hook holds it before training
target=5
PS_TEST_HOLD_TRIAL=$target "$exe" study --config small.json --out B 2> B.log &
pid=$!
for i in $(seq 1 1200); do
  [ -e B/trials/000$target/held ] && break
  sleep 0.1
done
[ -e B/trials/000$target/held ] || { echo "FAIL: replicate $target never reached the hold point"; tail -20 B.log; kill -9 $pid; exit 1; }
"$py" -c 'import json,sys; ev=[json.loads(l) for l in open("B/journal.jsonl") if l.strip()]; s=[e for e in ev if e["event"]=="start" and e["trial"]==int(sys.argv[1])]; assert s and s[0]["phase"]=="full", s' $target \
  || { echo "FAIL: trial $target is not a full-scale replicate"; kill -9 $pid; exit 1; }
kill -9 $pid; wait $pid 2>/dev/null || true
grep -q "\"event\":\"end\",\"trial\":$target," B/journal.jsonl && { echo "FAIL: replicate $target ended although held"; exit 1; }
"$exe" study --config small.json --out B 2> B2.log || { tail -20 B2.log; exit 1; }
"$py" - "$target" <<'PY'
import json, sys
target = int(sys.argv[1])
def load(d):
    ev = [json.loads(l) for l in open(f"{d}/journal.jsonl") if l.strip()]
    ends = {}
    for e in ev:
        if e["event"] == "end":
            assert e["trial"] not in ends, f"{d}: trial {e['trial']} ended twice"
            ends[e["trial"]] = (e["state"], e["value"])
    starts = {e["trial"]: (e["phase"], e.get("ref"), json.dumps(e["params"], sort_keys=True)) for e in ev if e["event"] == "start"}
    return starts, ends
sa, ea = load("A"); sb, eb = load("B")
assert sa == sb, "trials differ after the resume"
assert ea == eb, f"results differ after the resume:\n{ea}\n{eb}"
ra = json.load(open("A/report.json")); rb = json.load(open("B/report.json"))
assert ra["correlation"]["pairs"] == rb["correlation"]["pairs"]
print(f"study_noise: kill -9 during replicate trial {target}, resumed: identical to the uninterrupted study")
PY
echo "study_noise: passed"
