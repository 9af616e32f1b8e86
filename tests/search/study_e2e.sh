#!/usr/bin/env bash
# A tiny study end to end: every file of DESIGN.md's contract is there, the
# report is consistent with the journal, and its correlations agree with SciPy
# to 1e-9 (recomputed from report.json's pairs). `proxyseg report` rebuilds it.
set -euo pipefail
exe=$1; py=${2:-/usr/bin/python3}
here=$(cd "$(dirname "$0")" && pwd)
dir=tmp_study_e2e; rm -rf "$dir"
"$exe" study --config "$here/tiny_study.json" --out "$dir" 2> "$dir.log" || { tail -30 "$dir.log"; exit 1; }
for f in study.json journal.jsonl proxy/cases.json report.json report.html trials/0000/config.json \
         trials/0000/metrics.json trials/0000/log.txt; do
  [ -s "$dir/$f" ] || { echo "FAIL: $dir/$f missing"; exit 1; }
done
grep -q "Epoch 1" "$dir/trials/0000/log.txt" || { echo "FAIL: no nnU-Net-style epoch lines"; exit 1; }
if ! "$py" -c 'import scipy' 2>/dev/null; then echo "SKIPPED: SciPy check (no scipy for $py)"; exit 77; fi
"$py" - "$dir" <<'PY'
import json, math, sys
from scipy import stats
d = sys.argv[1]
rep = json.load(open(f"{d}/report.json"))
c = rep["correlation"]
pairs = [p for p in c["pairs"] if p["proxy_score"] is not None and p["full_score"] is not None]
x = [p["proxy_score"] for p in pairs]; y = [p["full_score"] for p in pairs]
fails = 0
def check(name, ours, ref):
    global fails
    ok = (ours is None and (ref is None or math.isnan(ref))) or (ours is not None and abs(ours - ref) <= 1e-9)
    print(f"{name}: proxyseg {ours} scipy {ref} {'ok' if ok else 'MISMATCH'}")
    fails += not ok
check("spearman", c["spearman"]["value"], stats.spearmanr(x, y).correlation)
check("kendall", c["kendall"]["value"], stats.kendalltau(x, y).correlation)
check("pearson", c["pearson"]["value"], stats.pearsonr(x, y)[0])
# the report's pairs are the journal's: each full trial re-ran the proxy trial it names
ev = [json.loads(l) for l in open(f"{d}/journal.jsonl")]
ends = {e["trial"]: e for e in ev if e["event"] == "end"}
starts = {e["trial"]: e for e in ev if e["event"] == "start"}
# (full_score: the mean of its seed replicates, R of them)
R = c["R"]
for p in c["pairs"]:
    full = [t for t, s in starts.items() if s["phase"] == "full" and s.get("ref") == p["trial"]]
    vals = [ends[t]["value"] for t in full]
    if len(full) != R or ends[p["trial"]]["value"] != p["proxy_score"] or abs(sum(vals) / R - p["full_score"]) > 1e-12:
        print("pair does not match the journal:", p); fails += 1
assert len(pairs) >= 3, "too few pairs"
assert rep["speedup"]["how"] in ("measured", "estimated from measured per-trial times")
# the speed-up is arithmetic on measured wall times, so only its arithmetic is
# checked (whether the proxy is faster depends on the machine's load: no timed assertion)
sp = rep["speedup"]
proxy_trials = sum(ends[t]["seconds"] for t, s in starts.items() if s["phase"] == "proxy" and t in ends)
assert 0 < proxy_trials <= sp["proxy_seconds"] and math.isfinite(sp["full_seconds"]) and sp["full_seconds"] > 0, sp
assert abs(sp["factor"] - sp["full_seconds"] / sp["proxy_seconds"]) <= 1e-9 * sp["factor"], sp
for k in ("best", "proxy", "versions", "seed"): assert k in rep, k
print("passed" if not fails else "failed")
sys.exit(1 if fails else 0)
PY
cp "$dir/report.json" "$dir.first.json"
"$exe" report --study "$dir" 2>/dev/null
cmp -s "$dir/report.json" "$dir.first.json" || { echo "FAIL: proxyseg report does not rebuild the same report.json"; exit 1; }
grep -c "<svg" "$dir/report.html" | awk '{ if ($1 < 3) { print "FAIL: report.html has", $1, "plots"; exit 1 } }'
echo "study_e2e: 1 passed, 0 failed"
