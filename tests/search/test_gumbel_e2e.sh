#!/usr/bin/env bash
# Gumbel NAS end to end: `search --algo gumbel-nas` on a tiny generated task
# runs one journaled trial whose folder gets genotype.json, genotype.svg and
# alpha_history.json; `train --arch genotype.json` re-trains the derived cells
# wider from scratch; `predict` runs the derived network. A search killed with
# -9 (its whole process group) after the trial's first checkpoint resumes the
# trial and ends with the genotype and alphas of an uninterrupted run.
set -euo pipefail
exe=$1; py=${2:-/usr/bin/python3}
"$py" -c 'import h5py, numpy' 2>/dev/null || { echo "SKIPPED: h5py/numpy missing for $py (needed to compare alphas)"; exit 77; }
rm -rf tmp_gumbel; mkdir -p tmp_gumbel; cd tmp_gumbel
"$exe" generate --out ds --cases 6 --size 24 --seed 3 2>/dev/null
args=(--dataset ds --algo gumbel-nas --seed 4 --algo-opt warmup_epochs=1 --set net.stem_features=4
      --set net.levels=2 --set net.nodes=2 --set patch=[16,16,16] --set epochs=6 --set iters_per_epoch=3
      --set batch=1 --set val.folds=3 --set val.every=6 --set threads=1)
"$exe" search "${args[@]}" --study full > full.json 2> full.log || { tail -20 full.log; exit 1; }
t=full/trials/0000
for f in genotype.json genotype.svg alpha_history.json checkpoint.h5 metrics.json; do
  [ -s "$t/$f" ] || { echo "FAIL: search left no $t/$f"; exit 1; }
done
grep -q '"state":"COMPLETE"' full/journal.jsonl || { echo "FAIL: the search trial did not complete"; cat full/journal.jsonl; exit 1; }
"$py" - <<'PY'
import json, sys
import xml.etree.ElementTree as ET
svg = ET.parse("full/trials/0000/genotype.svg").getroot()  # well-formed, one panel per cell type
titles = [e.text for e in svg.iter("{http://www.w3.org/2000/svg}title")]
if sum(t.endswith(" cell") for t in titles) != 4:
    print("FAIL: genotype.svg panels", titles); sys.exit(1)
g = json.load(open("full/trials/0000/genotype.json"))
h = json.load(open("full/trials/0000/alpha_history.json"))
ok = g["family"] == "cells" and g["stem_features"] == 4 and g["levels"] == 2 and "sampling" not in g
for t in ("reduction", "encoder_normal", "expansion", "decoder_normal"):
    nodes = g["genotype"][t]
    ok &= len(nodes) == 2 and all(len(n) == 2 and all(e["op"] != "zero" for e in n) for n in nodes)
taus = [e["tau"] for e in h["epochs"]]
ok &= len(taus) == 6 and abs(taus[0] - 10) < 1e-9 and abs(taus[-1] - 0.1) < 1e-9 and taus == sorted(taus, reverse=True)
ok &= h["epochs"][0]["arch_steps"] == 0 and all(e["arch_steps"] == 3 for e in h["epochs"][1:])  # warm-up epoch
p0 = h["epochs"][0]["probs"]["reduction"]; p3 = h["epochs"][-1]["probs"]["reduction"]
ok &= p0 != p3  # alpha moved after the warm-up
if not ok:
    print("FAIL: genotype/history content", json.dumps(g)[:400], taus); sys.exit(1)
PY
# re-train the derived cells wider from scratch, then predict with them
"$exe" train --dataset ds --out retrain --arch $t/genotype.json --set net.stem_features=6 --set patch=[16,16,16] \
  --set epochs=1 --set iters_per_epoch=3 --set val.folds=3 --set threads=1 2> retrain.log || { tail retrain.log; exit 1; }
grep -q '"stem_features": 6' retrain/config.json || grep -q '"stem_features":	6' retrain/config.json || { echo "FAIL: re-train width"; exit 1; }
"$exe" predict --model retrain/checkpoint.h5 --input ds/imagesTr --out pred 2> pred.log || { tail pred.log; exit 1; }
[ "$(ls pred | wc -l)" = 6 ] || { echo "FAIL: predict wrote $(ls pred | wc -l) files"; exit 1; }
# a bad genotype is refused with the key named (exit 2), leaving no model behind
echo '{"family":"cells","genotype":{"reduction":[]}}' > bad.json
set +e
"$exe" train --dataset ds --out badrun --arch bad.json 2> bad.log; rc=$?
set -e
[ $rc = 2 ] && grep -q "genotype.reduction" bad.log && [ ! -e badrun/checkpoint.h5 ] || { echo "FAIL: bad genotype rc=$rc"; cat bad.log; exit 1; }
# kill -9 the search and its trial after the first checkpoint, re-run the same command: it resumes
setsid "$exe" search "${args[@]}" --study killed > /dev/null 2> killed.log &
pid=$!
for i in $(seq 1 3000); do [ -e killed/trials/0000/checkpoint.h5 ] && break; sleep 0.05; done
kill -9 -- -$pid 2>/dev/null || true
wait $pid 2>/dev/null || true
sleep 0.5
[ -e killed/trials/0000/metrics.json ] && { echo "FAIL: the run finished before the kill (nothing to resume)"; exit 1; }
"$exe" search "${args[@]}" --study killed > killed.json 2> resumed.log || { tail -20 resumed.log; exit 1; }
grep -q "resuming from" killed/trials/0000/log.txt || { echo "FAIL: the re-run did not resume the trial"; exit 1; }
[ "$(grep -c '"event":"end"' killed/journal.jsonl)" = 1 ] && grep -q '"state":"COMPLETE"' killed/journal.jsonl \
  || { echo "FAIL: the resumed journal"; cat killed/journal.jsonl; exit 1; }
cmp <("$py" -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["genotype"], sort_keys=True))' full/trials/0000/genotype.json) \
    <("$py" -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["genotype"], sort_keys=True))' killed/trials/0000/genotype.json) \
  || { echo "FAIL: resumed genotype differs from the uninterrupted run's"; exit 1; }
"$py" - <<'PY'
import h5py, numpy as np, sys
a = h5py.File("full/trials/0000/checkpoint.h5", "r"); b = h5py.File("killed/trials/0000/checkpoint.h5", "r")
for k in a["arch_params"]:
    if not np.array_equal(a["arch_params"][k][()], b["arch_params"][k][()]):
        print("FAIL: resumed alpha differs:", k); sys.exit(1)
print("resumed alphas identical to the uninterrupted run")
PY
echo "gumbel e2e: OK"
