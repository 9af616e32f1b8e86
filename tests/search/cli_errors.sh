#!/usr/bin/env bash
# Bad input to the pipeline commands: a clear message naming the problem, the
# documented exit code (2 usage, 3 bad data), and no partial output left behind.
set -uo pipefail
exe=$1
corpus=$(cd "$(dirname "$0")/../fuzz/corpus" && pwd)
rm -rf tmp_cli_errors; mkdir -p tmp_cli_errors; cd tmp_cli_errors
pass=0; fail=0
expect() { # expect CODE PATTERN -- command...
  local code=$1 pat=$2; shift 3
  "$@" > out.txt 2> err.txt; local rc=$?
  if [ "$rc" = "$code" ] && grep -qE "$pat" err.txt; then pass=$((pass+1));
  else fail=$((fail+1)); echo "FAIL: '$*' -> exit $rc (want $code), stderr: $(head -c 300 err.txt)"; fi
}
expect 2 "unknown command" -- "$exe" frobnicate
expect 2 "usage" -- "$exe" train --out x
expect 2 "unknown config key 'epoch'" -- "$exe" train --print-config --set epoch=3
expect 2 "'lr' = -1 is outside" -- "$exe" train --print-config --set lr=-1
expect 2 "optimizer' must be one of" -- "$exe" train --print-config --set optimizer=lbfgs
echo '{"epochs": 2, "typo_key": 1}' > cfg.json
expect 2 "cfg.json: unknown config key 'typo_key'" -- "$exe" train --print-config --config cfg.json
echo '{"epochs": 2,' > broken.json
expect 3 "broken.json: invalid JSON" -- "$exe" train --print-config --config broken.json
mkdir -p empty
expect 3 "no dataset.json" -- "$exe" train --dataset empty --out o1
"$exe" generate --out ds --cases 6 --size 16 --seed 1 2>/dev/null
expect 2 "not a multiple of the network's total stride" -- "$exe" train --dataset ds --out o2 --set patch=[10,10,10] --set net.stages=3
expect 2 "search space .* not found" -- "$exe" search --dataset ds --space nosuch.json --study s1 --trials 1
echo '{"params": [{"key": "lr", "type": "float", "low": 1, "high": 0.1}]}' > bad_space.json
expect 3 "bad_space.json: param .lr.: low 1 > high" -- "$exe" search --dataset ds --space bad_space.json --study s2 --trials 1
expect 2 "unknown search algorithm 'bayes'" -- "$exe" search --dataset ds --space lr_only --algo bayes --study s3 --trials 1 --set patch=[16,16,16] --set net.stages=2
expect 2 "algo-opt net.*set with --set net" -- "$exe" search --dataset ds --algo gumbel-nas --algo-opt net.cells=2 --study s4
expect 2 "algo-opt 'a.b=1'" -- "$exe" search --dataset ds --space lr_only --algo-opt a=1 --algo-opt a.b=1 --study s5 --trials 1
echo '{"trials": 1, "typo": 2}' > study_bad.json
expect 2 "unknown key 'typo'" -- "$exe" study --config study_bad.json --out st
# every study key's type and range is checked before anything runs (a crash or silent default before)
for bad in '{"retrain": {"count": 0}}|retrain.count. is 0' '{"retrain": {"count": 1e12}}|retrain.count' \
           '{"retrain": {"replicates": 0}}|retrain.replicates' '{"trials": "10"}|.trials. must be an integer' \
           '{"proxy_net": {"width": 5}}|proxy_net.width' '{"seed": 1e300}|.seed.' '{"factorial": 1}|.factorial. must be true or false' \
           '{"compare_proxy_data": {"draws": 0}}|compare_proxy_data.draws'; do
  echo "${bad%%|*}" > study_range.json
  expect 2 "${bad#*|}" -- "$exe" study --config study_range.json --out st_range
done
# keys at every depth (a typo used to train or search the default silently)
for bad in '{"pruner": "xyz"}|.pruner. is "xyz", must be one of none.median' \
           '{"proxy_net": {"widht": 0.5}}|unknown key .proxy_net.widht.' \
           '{"generate_external": {"casez": 3}}|unknown key .generate_external.casez.' \
           '{"train": {"optim": {"momentun": 0.9}}}|unknown config key .optim.momentun.'; do
  echo "${bad%%|*}" > study_range.json
  expect 2 "${bad#*|}" -- "$exe" study --config study_range.json --out st_range
done
echo '{"external": "no_such_dataset"}' > study_range.json
expect 3 "study config 'external': no_such_dataset" -- "$exe" study --config study_range.json --out st_ext
if [ -e st_ext/study.json ]; then fail=$((fail+1)); echo "FAIL: a wrong external path left study.json"; else pass=$((pass+1)); fi
for kv in 'optim.momentun=0.9|unknown config key .optim.momentun.' 'aug.gama.p=0.5|aug.gama: unknown augmentation op' \
          'net.stage=3|arch: unknown key .stage.' 'checkpoint_every=0|checkpoint_every. = 0 is outside' \
          'val.foldz=3|unknown config key .val.foldz.' 'val.folds=1e300|val.folds. = 1e\+300 is outside' \
          'val.fold=1e300|val.fold. = 1e\+300 is outside'; do
  expect 2 "${kv#*|}" -- "$exe" train --print-config --set "${kv%%|*}"
done
# a configuration that cannot fit: refused with its estimate before training (it used to grow to GBs)
expect 2 "this configuration needs about [0-9.]+ GiB" -- "$exe" train --dataset ds --out o_big --set 'patch=[512,512,512]' --set batch=64 --set net.stages=2
for key in no_such_key lr.sub aug.gama.p; do
  echo "{\"params\": [{\"key\": \"$key\", \"type\": \"float\", \"low\": 0.1, \"high\": 0.5}]}" > typo_space.json
  expect 2 "search space: param '$key'" -- "$exe" search --dataset ds --space typo_space.json --study s_typo --trials 1
  if [ -e s_typo ]; then fail=$((fail+1)); echo "FAIL: a refused space ($key) left a study folder"; rm -rf s_typo; else pass=$((pass+1)); fi
done
echo '{"params": [{"key": "optimizer", "type": "categorical", "choices": ["adam", "lbfgs"]}]}' > typo_space.json
expect 2 "param 'optimizer' = \"lbfgs\"" -- "$exe" search --dataset ds --space typo_space.json --study s_typo2 --trials 1
if [ -e s_typo/journal.jsonl ] || [ -e s_typo2/journal.jsonl ]; then fail=$((fail+1)); echo "FAIL: a refused space left a journal"; else pass=$((pass+1)); fi
if [ -e st_range/journal.jsonl ]; then fail=$((fail+1)); echo "FAIL: a refused study config left a journal"; else pass=$((pass+1)); fi
head -c 377 /dev/urandom > fake.h5
expect 3 "fake.h5" -- "$exe" predict --model fake.h5 --input ds/imagesTr --out pred
if [ -d pred ] && [ -n "$(ls -A pred)" ]; then fail=$((fail+1)); echo "FAIL: predict left output behind"; else pass=$((pass+1)); fi
# a plain HDF5 file (no proxyseg checksum) never reaches HDF5: this one, found by
# fuzz_checkpoint, overflows a heap buffer in HDF5 1.10's H5Dread
expect 3 "regress-unstamped-hdf5-overflow.h5: an HDF5 file without proxyseg's checksum" -- \
  "$exe" predict --model "$corpus/checkpoint/regress-unstamped-hdf5-overflow.h5" --input ds/imagesTr --out pred2
# a journal "start" whose params are not an object (export crashed, SIGSEGV; found by fuzz_export)
mkdir -p st_params && echo '{"space": "lr_only"}' > st_params/study.json
printf '{"event":"start","trial":0,"phase":"proxy","params":[0.9],"seed":8}\n{"event":"end","trial":0,"state":"COMPLETE","value":0.5}\n' \
  > st_params/journal.jsonl
expect 3 "journal.jsonl:1: corrupt or inconsistent journal line" -- "$exe" export --study st_params --optuna st_params.optuna.jsonl
echo "cli_errors: $pass passed, $fail failed"
[ "$fail" = 0 ]
