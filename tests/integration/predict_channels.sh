#!/usr/bin/env bash
# predict on an nnU-Net input folder of a two-channel model: CASE_0000 and
# CASE_0001 are one case written as CASE.nii.gz (no CASE_0001.nii.gz), cases
# go in sorted order with k/N progress, a case with a missing channel file
# fails without stopping the others, and the exit code and the last message
# name every failed case. The model is trained on an nnU-Net v2 raw dataset
# built from the synthetic task (channel 1 = a copy of channel 0).
set -euo pipefail
exe=$1
rm -rf tmp_predict_channels; mkdir -p tmp_predict_channels; cd tmp_predict_channels
"$exe" generate -q --out msd --cases 5 --size 24 --seed 9
mkdir -p nn/imagesTr nn/labelsTr in
for f in msd/imagesTr/*.nii.gz; do
  id=$(basename "$f" .nii.gz)
  cp "$f" "nn/imagesTr/${id}_0000.nii.gz"; cp "$f" "nn/imagesTr/${id}_0001.nii.gz"
  cp "msd/labelsTr/$id.nii.gz" nn/labelsTr/
done
cat > nn/dataset.json <<'J'
{"name": "TwoChannel", "channel_names": {"0": "CT", "1": "CT copy"}, "labels": {"background": 0, "organ": 1},
 "numTraining": 5, "file_ending": ".nii.gz"}
J
"$exe" train -q --dataset nn --out model --set patch=[16,16,16] --set epochs=1 --set iters_per_epoch=2 \
  --set net.stages=2 --set net.base_features=4 --set val.folds=5 --set threads=1 > /dev/null 2> train.log || { tail train.log; exit 1; }
# input folder: two complete cases (listed out of order on purpose), one without channel 1, junk
cp nn/imagesTr/synth_003_0000.nii.gz in/zeta_0000.nii.gz; cp nn/imagesTr/synth_003_0001.nii.gz in/zeta_0001.nii.gz
cp nn/imagesTr/synth_001_0000.nii.gz in/alpha_0000.nii.gz; cp nn/imagesTr/synth_001_0001.nii.gz in/alpha_0001.nii.gz
cp nn/imagesTr/synth_002_0000.nii.gz in/mid_0000.nii.gz
printf 'junk' > in/._alpha_0000.nii.gz; printf 'x' > in/.DS_Store
set +e
"$exe" predict --model model/checkpoint.h5 --input in --out pred 2> pred.log; rc=$?
set -e
fail=0
bad() { echo "FAIL: $*"; fail=1; }
[ "$rc" = 3 ] || bad "exit $rc with a case missing a channel (want 3)"
[ -s pred/alpha.nii.gz ] && [ -s pred/zeta.nii.gz ] || bad "alpha/zeta predictions missing: $(ls pred)"
[ "$(ls pred | sort | tr '\n' ' ')" = "alpha.nii.gz zeta.nii.gz " ] || bad "pred/ holds: $(ls pred | tr '\n' ' ')"
grep -q "predict 1/3 alpha" pred.log && grep -q "predict 2/3 mid failed" pred.log && grep -q "predict 3/3 zeta" pred.log \
  || bad "progress lines not k/N in sorted order: $(grep predict pred.log)"
grep -q "mid_0001.nii.gz" pred.log || bad "the missing channel file is not named"
tail -1 pred.log | grep -q "1 of 3 cases failed (mid)" || bad "last line does not name the failure: $(tail -1 pred.log)"
# a folder of complete cases: exit 0, one output per case
rm in/mid_0000.nii.gz
"$exe" predict --model model/checkpoint.h5 --input=in --out=pred2 -q 2> pred2.log || bad "complete folder -> exit $?: $(cat pred2.log)"
[ "$(ls pred2 | wc -l)" = 2 ] || bad "pred2 holds $(ls pred2 | wc -l) files"
cmp -s pred/alpha.nii.gz pred2/alpha.nii.gz || bad "the same case predicted twice differs"
[ "$fail" = 0 ] && echo "predict_channels: passed"
exit $fail
