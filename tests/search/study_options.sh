#!/usr/bin/env bash
# The study's optional parts: external validation on a site-b task, the
# comparison of two proxy subsets (ncc against random) on the same configs, and
# a measured speed-up from a full-scale search (validate_full).
set -euo pipefail
exe=$1; py=${2:-/usr/bin/python3}
here=$(cd "$(dirname "$0")" && pwd)
rm -rf tmp_study_options
"$exe" study --config "$here/study_options.json" --out tmp_study_options 2> tmp_study_options.log || { tail -20 tmp_study_options.log; exit 1; }
"$py" - <<'PY'
import json, sys
r = json.load(open("tmp_study_options/report.json"))
fails = []
if r["speedup"]["how"] != "measured": fails.append(f"speed-up should be measured, got {r['speedup']['how']}")
c = r.get("comparison")
if not c or not {"rho_a", "rho_b", "better"} <= set(c) or c.get("b") != "random": fails.append(f"comparison missing or incomplete: {c}")
# external validation: every full-scale replicate and the proxy model of every re-trained config
ext = r.get("external", {}).get("trials", [])
pairs = r["correlation"]["pairs"]
n_full = sum(sum(v is not None for v in p["full_scores"]) for p in pairs)
n_proxy = sum(p["proxy_scores"][0] is not None for p in pairs)
by_phase = {ph: [t for t in ext if t["phase"] == ph] for ph in ("full", "proxy")}
if len(by_phase["full"]) != n_full or len(by_phase["proxy"]) != n_proxy or not all(0 <= t["external_dice"] <= 1 for t in ext):
    fails.append(f"external validation: {ext}")
if "correlation_external" not in r: fails.append("no correlation on the external set")
if r["timing"].get("full_search", 0) <= 0: fails.append("no full_search time")
for f in fails: print("FAIL:", f)
print(f"study_options: {5 - len(fails)} passed, {len(fails)} failed")
sys.exit(1 if fails else 0)
PY
