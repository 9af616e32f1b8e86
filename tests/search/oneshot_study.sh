#!/usr/bin/env bash
# `proxyseg study --algo asng` end to end on a tiny synthetic task (with a
# site-b external set): the one-shot search is one proxy trial, then the found
# policy, the default augmentation and no augmentation are re-trained at full
# scale, 2 seeds each, replicate r of each with the same seed. The study is
# killed (-9, whole process group) while a re-training trial is held; the
# re-run repeats no completed training. The report has the three rows (mean,
# SD, n, internal and external), the winner, the theta heat map (18 x 11) and
# the convergence series, as valid JSON, HTML and Markdown.
set -euo pipefail
exe=$1; py=${2:-/usr/bin/python3}
here=$(cd "$(dirname "$0")" && pwd)
rm -rf tmp_oneshot; mkdir -p tmp_oneshot; cd tmp_oneshot
cfg=$here/oneshot_study.json
# trial 0 is the search; 1..6 the re-training (replicate-major: 1-3 seed 0, 4-6 seed 1); hold trial 5
PS_TEST_HOLD_TRIAL=5 setsid "$exe" study --config "$cfg" --algo asng --out s > /dev/null 2> killed.log &
pid=$!
for i in $(seq 1 3000); do [ -e s/trials/0005/held ] && break; sleep 0.1; done
[ -e s/trials/0005/held ] || { echo "FAIL: trial 5 never reached the hold point"; tail -20 killed.log; kill -9 -- -$pid; exit 1; }
kill -9 -- -$pid 2>/dev/null || true
wait $pid 2>/dev/null || true
n_end=$(grep -c '"event":"end"' s/journal.jsonl)
[ "$n_end" -eq 5 ] || { echo "FAIL: $n_end trials ended before the kill, expected 5 (search + 4 re-trainings)"; cat s/journal.jsonl; exit 1; }
[ -e s/report.json ] && { echo "FAIL: a report exists although the study was killed"; exit 1; }
"$exe" study --config "$cfg" --algo asng --out s > /dev/null 2> resumed.log || { tail -20 resumed.log; exit 1; }
"$py" - <<'PY'
import json, re, html.parser
ev = [json.loads(l) for l in open("s/journal.jsonl") if l.strip()]
starts = {}
for e in ev:
    if e["event"] == "start": starts.setdefault(e["trial"], []).append(e)
ends = [e["trial"] for e in ev if e["event"] == "end"]
assert sorted(ends) == list(range(7)), f"ended trials {sorted(ends)}"
for t in (0, 1, 2, 3, 4, 6):
    assert len(starts[t]) == 1, f"trial {t} started {len(starts[t])} times (a completed training was repeated)"
assert len(starts[5]) == 2, f"the killed trial 5 should have been started twice, got {len(starts[5])}"
assert starts[0][0]["phase"] == "proxy" and all(starts[t][0]["phase"] == "full" for t in range(1, 7))
cfgs = [starts[t][0]["params"]["config"] for t in range(1, 7)]
assert cfgs == ["asng", "default", "none"] * 2, cfgs
seeds = [starts[t][0]["seed"] for t in range(1, 7)]
assert seeds[0] == seeds[1] == seeds[2] and seeds[3] == seeds[4] == seeds[5] and seeds[0] != seeds[3], seeds
assert starts[1][0]["ref"] == 0, "the result's re-training should name the search trial"
pol = json.load(open("s/trials/0000/policy.json"))
c1 = json.load(open("s/trials/0001/config.json"))
assert c1["aug"] == pol["aug"], "the re-trained ASNG configuration is not policy.json's"
assert json.load(open("s/trials/0002/config.json"))["aug"] == {"preset": "default"}
assert json.load(open("s/trials/0003/config.json"))["aug"] == {"preset": "none"}
study = json.load(open("s/study.json"))
assert study["algo"] == "asng" and len(study["space"]["params"]) == 18, "study.json: algo or space"
r = json.load(open("s/report.json"))
assert r["kind"] == "oneshot" and "correlation" not in r, "a one-shot report must not carry a rank correlation"
rows = r["configurations"]
assert [x["id"] for x in rows] == ["asng", "default", "none"]
val = {e["trial"]: e for e in ev if e["event"] == "end"}
for k, x in enumerate(rows):
    sc = [val[t]["value"] for t in (1 + k, 4 + k)]
    assert x["internal"]["n"] == 2 and abs(x["internal"]["mean"] - sum(sc) / 2) < 1e-9, (x, sc)
    sd = abs(sc[0] - sc[1]) / 2 ** 0.5
    assert abs(x["internal"]["sd"] - sd) < 1e-9, (x["internal"]["sd"], sd)
    assert x["external"]["n"] == 2, x
means = [x["internal"]["mean"] for x in rows]
assert r["internal"]["winner"] == rows[means.index(max(means))]["id"]
assert r["internal"]["seed_sd"] > 0 and isinstance(r["internal"]["exceeds_seed_sd"], bool)
assert r["verdict"]["label"] == ("result_wins" if r["internal"]["winner"] == "asng" else "baseline_wins")
th = r["search"]["theta_final"]
assert len(th) == 18 and all(len(row) == 11 and abs(sum(row) - 1) < 1e-6 for row in th), "theta heat map data"
assert r["search"]["updates"] == 6 and len(r["search"]["convergence"]) == 6
h = open("s/report.html").read()
html.parser.HTMLParser().feed(h)
m = re.search(r'<table class="heat">(.*?)</table>', h, re.S)
assert m and m.group(1).count("<tr>") == 19, "the heat map should have a header and 18 rows"
assert m.group(1).count("background:rgb(") == 18 * 11
assert "convergence over updates" in h and h.count("<svg") >= 3, "the convergence plot"
md = open("s/report.md").read()
assert md.count("\n| ") >= 4 and "ASNG policy" in md and "no augmentation" in md
assert json.load(open("s/best/best.json"))["config"] in ("asng", "default", "none")
print("oneshot_study: 1 passed, 0 failed")
PY
