#!/usr/bin/env bash
# nnU-Net datasets by id: a fake $nnUNet_raw tree with two datasets; `4`,
# `Dataset004`, `Dataset004_Hippocampus` and the path name the same dataset;
# unknown ids and an unset $nnUNet_raw are refused naming what is missing.
# splits_final.json (in $nnUNet_preprocessed/DatasetXXX_Name/ or beside
# dataset.json) with --fold N is the validation split of train and search.
set -uo pipefail
exe=$1
rm -rf tmp_nnunet_raw; mkdir -p tmp_nnunet_raw; cd tmp_nnunet_raw
pass=0; fail=0
ok() { pass=$((pass+1)); }
bad() { fail=$((fail+1)); echo "FAIL: $*"; }
mk_nnunet() { # mk_nnunet DIR NAME CASES SEED: an nnU-Net v2 raw dataset from the synthetic task
  "$exe" generate -q --out "msd_$4" --cases "$3" --size 16 --seed "$4" || exit 1
  mkdir -p "$1/imagesTr" "$1/labelsTr"
  for f in "msd_$4"/imagesTr/*.nii.gz; do
    id=$(basename "$f" .nii.gz); cp "$f" "$1/imagesTr/${id}_0000.nii.gz"; cp "msd_$4/labelsTr/$id.nii.gz" "$1/labelsTr/"
  done
  printf '{"name": "%s", "channel_names": {"0": "CT"}, "labels": {"background": 0, "organ": 1}, "numTraining": %d, "file_ending": ".nii.gz"}\n' \
    "$2" "$3" > "$1/dataset.json"
}
export nnUNet_raw=$PWD/raw nnUNet_preprocessed=$PWD/preprocessed
mk_nnunet raw/Dataset004_Hippocampus Hippocampus 6 1
mk_nnunet raw/Dataset012_Other Other 3 2
names() { "$exe" inspect "$1" 2> err.txt | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["name"], r["n_cases"])'; }
want="Hippocampus 6"
for spec in 4 004 Dataset004 Dataset004_Hippocampus "$nnUNet_raw/Dataset004_Hippocampus"; do
  got=$(names "$spec"); [ "$got" = "$want" ] && ok || bad "inspect $spec -> '$got' (want '$want'): $(cat err.txt)"
done
[ "$(names 12)" = "Other 3" ] && ok || bad "inspect 12 -> $(names 12)"
expect() { # expect CODE PATTERN -- command...
  local code=$1 pat=$2; shift 3
  "$@" > out.txt 2> err.txt; local rc=$?
  if [ "$rc" = "$code" ] && grep -qE -- "$pat" err.txt; then ok; else bad "'$*' -> exit $rc (want $code): $(head -c 300 err.txt)"; fi
}
expect 3 "no Dataset005_\* folder in .nnUNet_raw" -- "$exe" inspect 5
expect 3 "no Dataset004_Liver folder" -- "$exe" inspect Dataset004_Liver
expect 3 "nnUNet_raw is not set" -- env -u nnUNet_raw "$exe" inspect Dataset004_Hippocampus
expect 3 "no Dataset007_\* folder" -- "$exe" train --dataset 7 --out t7
# splits_final.json in $nnUNet_preprocessed: fold 1's val list is the split
mkdir -p preprocessed/Dataset004_Hippocampus
cat > preprocessed/Dataset004_Hippocampus/splits_final.json <<'J'
[{"train": ["synth_002", "synth_003", "synth_004", "synth_005"], "val": ["synth_000", "synth_001"]},
 {"train": ["synth_000", "synth_001", "synth_002", "synth_005"], "val": ["synth_003", "synth_004"]}]
J
common=(--set patch=[16,16,16] --set epochs=1 --set iters_per_epoch=1 --set net.stages=2 --set net.base_features=4 --set threads=1)
"$exe" train -q --dataset 4 --fold 1 --out t1 "${common[@]}" > /dev/null 2> t1.log || bad "train --dataset 4 --fold 1: $(tail -3 t1.log)"
val=$(python3 -c 'import json; print(" ".join(json.load(open("t1/config.json"))["val"]["cases"]))' 2>/dev/null)
[ "$val" = "synth_003 synth_004" ] && ok || bad "train --fold 1: val.cases '$val' (want fold 1's val list)"
python3 -c 'import json,sys; m=json.load(open("t1/metrics.json")); sys.exit([c["id"] for c in m["per_case"]] != ["synth_003", "synth_004"])' \
  && ok || bad "t1/metrics.json: validation cases are not fold 1's"
expect 3 "splits_final.json: fold 7 asked, the file has folds 0..1" -- "$exe" train --dataset=4 --fold=7 --out t7 "${common[@]}"
# beside dataset.json it wins; search uses it too
cat > raw/Dataset004_Hippocampus/splits_final.json <<'J'
[{"train": ["synth_000", "synth_001", "synth_002", "synth_003"], "val": ["synth_004", "synth_005"]}]
J
"$exe" search --dataset Dataset004_Hippocampus --fold 0 --space lr_only --trials 1 --study s "${common[@]}" > /dev/null 2> s.log \
  || bad "search --dataset Dataset004_Hippocampus: $(tail -3 s.log)"
grep -q "validation split: fold 0 of $nnUNet_raw/Dataset004_Hippocampus/splits_final.json (2 cases)" s.log \
  && ok || bad "search did not log the splits_final.json it used: $(grep -h split s.log | head -3)"
python3 - <<'PY' && ok || bad "search's trial did not validate on splits_final.json's fold 0"
import glob, json, sys
job = json.load(open(sorted(glob.glob("s/trials/*/job.json"))[0]))
sys.exit(0 if sorted(job["val_cases"]) == ["synth_004", "synth_005"] else 1)
PY
echo "nnunet_raw: $pass passed, $fail failed"
[ "$fail" = 0 ]
