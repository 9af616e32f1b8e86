#!/usr/bin/env bash
# proxyseg export --optuna: Optuna 3.1's own JournalStorage reads the log back;
# every trial's state, value, params, intermediate values and user attributes
# equal the journal's, one Optuna study per phase, and the best values and
# state counts agree with report.json. Two studies: one with PRUNED trials and
# a full-scale phase (proxyseg study), one with FAIL trials (a diverging search).
# --csv: one row per trial. Skips (exit 77) without optuna for the Python given.
set -euo pipefail
exe=$1; py=${2:-/usr/bin/python3}
here=$(cd "$(dirname "$0")" && pwd)
rm -rf tmp_export_optuna; mkdir -p tmp_export_optuna; cd tmp_export_optuna
"$exe" study -q --config "$here/export_study.json" --out st 2> st.log || { tail -20 st.log; exit 1; }
"$exe" generate -q --out ds --cases 6 --size 24 --seed 2
echo '{"params": [{"key": "lr", "type": "categorical", "choices": [60, 90]}]}' > div_space.json
"$exe" search -q --dataset ds --space div_space.json --trials 2 --study div \
  --set patch=[16,16,16] --set epochs=1 --set iters_per_epoch=3 --set net.stages=2 --set net.base_features=4 \
  --set val.folds=3 --set threads=1 --set grad_clip=0 --set optimizer=sgd --set net.norm=none > /dev/null 2> div.log || { tail -20 div.log; exit 1; }
grep -q '"state":"PRUNED"' st/journal.jsonl || { echo "FAIL: the study has no PRUNED trial to export"; exit 1; }
grep -q '"state":"FAIL"' div/journal.jsonl || { echo "FAIL: the diverging search has no FAIL trial to export"; exit 1; }
"$exe" export --study=st --optuna st.optuna.log --csv st.csv 2> export.log || { cat export.log; exit 1; }
"$exe" export --study div --optuna=div.optuna.log 2>> export.log || { cat export.log; exit 1; }
[ -s st.optuna.log ] && [ -s div.optuna.log ] || { echo "FAIL: no Optuna log written"; exit 1; }
rows=$(($(wc -l < st.csv) - 1)); n=$(grep -c '"event":"start"' st/journal.jsonl)
[ "$rows" = "$n" ] || { echo "FAIL: st.csv has $rows rows for $n trials"; exit 1; }
head -1 st.csv | grep -q "number,phase,state,value,seconds,ref" || { echo "FAIL: st.csv header: $(head -1 st.csv)"; exit 1; }
# refusals: not a study folder; a file that cannot be written
set +e
"$exe" export --study ds --optuna x.log 2> err.txt; rc=$?
set -e
[ "$rc" = 3 ] && grep -q "not a study folder" err.txt && [ ! -e x.log ] || { echo "FAIL: export of a non-study -> $rc: $(cat err.txt)"; exit 1; }
if ! "$py" -c 'import optuna' 2>/dev/null; then echo "SKIPPED: the Optuna read-back (no optuna for $py; Debian: python3-optuna)"; exit 77; fi
"$py" - st st.optuna.log div div.optuna.log <<'PY'
import json, math, sys, warnings
warnings.simplefilter("ignore")
import optuna
from optuna.trial import TrialState
optuna.logging.set_verbosity(optuna.logging.WARNING)
fails = 0
def check(cond, what):
    global fails
    if not cond:
        print("MISMATCH:", what); fails += 1

def journal(d):
    trials, order = {}, []
    for line in open(f"{d}/journal.jsonl"):
        e = json.loads(line)
        t = trials.setdefault(e["trial"], {"inter": {}})
        if e["event"] == "start":
            order.append(e["trial"]); t.update(phase=e["phase"], params=e["params"], seed=e["seed"], ref=e.get("ref"))
        elif e["event"] == "intermediate": t["inter"][e["step"]] = e["value"]
        elif e["event"] == "end": t.update(state=e["state"], value=e.get("value"), reason=e.get("reason"))
    return trials, order

for d, log in ((sys.argv[1], sys.argv[2]), (sys.argv[3], sys.argv[4])):
    trials, order = journal(d)
    rep = json.load(open(f"{d}/report.json"))
    storage = optuna.storages.JournalStorage(optuna.storages.JournalFileStorage(log))
    phases = list(dict.fromkeys(trials[n]["phase"] for n in order))
    names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
    check(names == phases, f"{d}: Optuna studies {names}, journal phases {phases}")
    states = {"RUNNING": 0, "COMPLETE": 0, "PRUNED": 0, "FAIL": 0}
    for ph in phases:
        study = optuna.load_study(study_name=ph, storage=storage)
        check(study.direction == optuna.study.StudyDirection.MAXIMIZE, f"{d}/{ph}: direction")
        ours = [n for n in order if trials[n]["phase"] == ph]
        check(len(study.trials) == len(ours), f"{d}/{ph}: {len(study.trials)} Optuna trials, {len(ours)} in the journal")
        for ft, n in zip(study.trials, ours):
            t = trials[n]
            states[ft.state.name] += 1
            check(ft.state.name == t["state"], f"{d} trial {n}: state {ft.state.name} vs {t['state']}")
            if t["state"] == "COMPLETE": check(ft.value == t["value"], f"{d} trial {n}: value {ft.value} vs {t['value']}")
            if t["state"] == "FAIL": check(ft.value is None and ft.user_attrs.get("reason") == t["reason"], f"{d} trial {n}: FAIL value/reason")
            check(ft.params == t["params"], f"{d} trial {n}: params {ft.params} vs {t['params']}")
            check(ft.intermediate_values == t["inter"], f"{d} trial {n}: intermediate values")
            ua = ft.user_attrs
            check(ua["phase"] == ph and ua["proxyseg_trial"] == n and ua["seed"] == t["seed"] and ua.get("ref") == t["ref"],
                  f"{d} trial {n}: user attrs {ua}")
            check(ft.datetime_start is not None and ft.datetime_complete is not None and ft.duration.total_seconds() >= 0,
                  f"{d} trial {n}: datetimes")
        done = [trials[n]["value"] for n in ours if trials[n]["state"] == "COMPLETE"]
        if done: check(study.best_value == max(done), f"{d}/{ph}: best {study.best_value} vs {max(done)}")
        if ph == "proxy" and "proxy_winner" in rep:
            check(study.best_value == rep["proxy_winner"]["proxy_score"] and study.best_trial.user_attrs["proxyseg_trial"] == rep["proxy_winner"]["trial"],
                  f"{d}: Optuna's best proxy trial vs report.json proxy_winner")
        if ph == "full" and "best" in rep:
            reps = [ft.value for ft in study.trials if ft.user_attrs.get("ref") == rep["best"]["trial"]]
            check(abs(sum(reps) / len(reps) - rep["best"]["full_mean"]) < 1e-12, f"{d}: full-scale replicates of the best vs report.json best.full_mean")
    check(states == rep["trial_states"], f"{d}: Optuna state counts {states} vs report.json {rep['trial_states']}")
    # distributions come from the search space: a categorical lr, an int batch, a float in [0, 0.5]
    ft = optuna.load_study(study_name=phases[0], storage=storage).trials[0]
    for k, dist in ft.distributions.items():
        if k == "lr": check(isinstance(dist, optuna.distributions.CategoricalDistribution), f"{d}: lr distribution {dist}")
        if k == "batch": check(isinstance(dist, optuna.distributions.IntDistribution) and (dist.low, dist.high) == (1, 2), f"{d}: batch {dist}")
        if k == "aug.gamma.p": check(isinstance(dist, optuna.distributions.FloatDistribution) and dist.high == 0.5, f"{d}: gamma {dist}")
    print(f"{d}: {len(order)} trials in {len(phases)} Optuna studies, states {states}")
print("export_optuna:", "passed" if not fails else f"{fails} mismatches")
sys.exit(1 if fails else 0)
PY
