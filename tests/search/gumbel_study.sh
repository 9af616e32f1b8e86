#!/usr/bin/env bash
# `proxyseg study` with "algo": "gumbel-nas" end to end on a tiny synthetic task
# (with a site-b external set): the proxy trial searches the cell super-network
# (levels = the U-Net's stages - 1, algo_opts.net on top, narrowed by the proxy
# shrink); the derived genotype, widened to the U-Net's conv MACs, and the
# U-Net itself are re-trained at full scale, 2 seeds each, replicate r of both
# with one seed; the report has both rows and draws the derived cells.
set -euo pipefail
exe=$1; py=${2:-/usr/bin/python3}
here=$(cd "$(dirname "$0")" && pwd)
rm -rf tmp_gumbel_study; mkdir -p tmp_gumbel_study; cd tmp_gumbel_study
"$exe" study --config "$here/gumbel_study.json" --out s > /dev/null 2> study.log || { tail -20 study.log; exit 1; }
grep -q "gumbel-nas: the derived cells re-train at stem" study.log || { echo "FAIL: no width-matching line"; exit 1; }
"$py" - <<'PY'
import json, html.parser, sys
ev = [json.loads(l) for l in open("s/journal.jsonl") if l.strip()]
starts = {e["trial"]: e for e in ev if e["event"] == "start"}
ends = sorted(e["trial"] for e in ev if e["event"] == "end")
assert ends == list(range(5)), f"ended trials {ends}"
assert starts[0]["phase"] == "proxy" and all(starts[t]["phase"] == "full" for t in range(1, 5))
assert [starts[t]["params"]["config"] for t in range(1, 5)] == ["gumbel-nas", "unet"] * 2
seeds = [starts[t]["seed"] for t in range(1, 5)]
assert seeds[0] == seeds[1] and seeds[2] == seeds[3] and seeds[0] != seeds[2], seeds
st = json.load(open("s/study.json"))
pn = st["resolved"]["proxy_train"]["net"]
assert pn["family"] == "cells" and pn["levels"] == 1 and pn["nodes"] == 2 and pn["stem_features"] == 4, pn
assert st["space"] is None, "gumbel-nas takes no space"
g = json.load(open("s/trials/0000/genotype.json"))
c1 = json.load(open("s/trials/0001/config.json"))["net"]
c2 = json.load(open("s/trials/0002/config.json"))["net"]
assert c1["family"] == "cells" and c1["genotype"] == g["genotype"] and c1["stem_features"] >= 2, c1
assert c2.get("family", "unet") == "unet" and c2["stages"] == 2 and c2["base_features"] == 4, c2
r = json.load(open("s/report.json"))
assert r["kind"] == "oneshot" and "correlation" not in r
rows = r["configurations"]
assert [x["id"] for x in rows] == ["gumbel-nas", "unet"], rows
assert all(x["internal"]["n"] == 2 and x["external"]["n"] == 2 for x in rows), rows
assert r["search"]["genotype"] == g, "report.json search.genotype"
assert set(r["search"]["alpha_final"]) == {"reduction", "encoder_normal", "expansion", "decoder_normal"}
h = open("s/report.html").read()
html.parser.HTMLParser().feed(h)
assert "<title>Derived cells (genotype)</title>" in h and h.count(" cell</title>") == 4, "genotype SVG in the report"
assert "derived cells (Gumbel NAS)" in open("s/report.md").read()
print("gumbel_study: 1 passed, 0 failed")
PY
