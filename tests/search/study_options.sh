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
ext = r.get("external", {}).get("trials", [])
full_done = [t for t in json.load(open("tmp_study_options/report.json"))["correlation"]["pairs"] if t["full_score"] is not None]
if len(ext) != len(full_done) or not all(0 <= t["external_dice"] <= 1 for t in ext): fails.append(f"external validation: {ext}")
if r["timing"].get("full_search", 0) <= 0: fails.append("no full_search time")
for f in fails: print("FAIL:", f)
print(f"study_options: {4 - len(fails)} passed, {len(fails)} failed")
sys.exit(1 if fails else 0)
PY
