#!/bin/sh
# Write the fuzz targets' seed inputs into OUT/<target>/ (the kept corpus in
# tests/fuzz/corpus is these, merged with what long runs found, minimised).
# usage: tests/fuzz/make_seeds.sh BUILD_DIR OUT   (BUILD_DIR: a run_fuzz.sh build)
set -eu
BUILD=$(cd "$1" && pwd) OUT=$2
SRC=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
for t in nifti dataset_json journal config train_inputs export cache checkpoint checkpoint_hdf5; do
  rm -rf "${OUT:?}/$t"; mkdir -p "$OUT/$t"
done
export ASAN_OPTIONS=detect_leaks=0

# NIfTI: round trips of every datatype, NIfTI-1 and -2, gzip and plain, both
# byte orders, orientations, scaling, labels; and test_nifti's hostile set
tmp=$(mktemp -d)
(cd "$tmp" && "$BUILD/tests/test_nifti" >/dev/null 2>&1) || true
"$BUILD/tests/test_nifti" --write-hostile "$OUT/nifti"
find "$tmp" -name '*.nii*' -size -8k -exec cp {} "$OUT/nifti/" \;
for f in "$OUT"/nifti/rt_*_v2.nii.gz; do gzip -dc "$f" >"${f%.gz}"; done # plain NIfTI-2 too
rm -rf "$tmp"

# dataset.json: MSD, nnU-Net v2 (channels, regions), escapes, duplicates
d=$OUT/dataset_json
cat >"$d/msd.json" <<'J'
{"name": "T", "modality": {"0": "CT"}, "labels": {"0": "background", "1": "x"}, "numTraining": 1,
 "training": [{"image": "./imagesTr/a.nii.gz", "label": "./labelsTr/a.nii.gz"}], "test": ["./imagesTr/a.nii.gz"]}
J
cat >"$d/nnunet.json" <<'J'
{"channel_names": {"0": "T2", "1": "ADC"}, "labels": {"background": 0, "x": 1}, "numTraining": 1, "file_ending": ".nii.gz"}
J
printf '{"modality": {"0": "CT"}, "labels": {"0": "bg"}, "training": [{"image": "../x", "label": "/etc/passwd"}]}' >"$d/escape.json"
printf '{"channel_names": {"0": "CT"}, "labels": {"background": 0, "r": [1, 2]}, "file_ending": ".nii"}' >"$d/region.json"
printf '{"modality": {"0": "CT"}, "labels": {"0": "bg", "1": "x"}, "training": [{"image": "./imagesTr/a.nii.gz", "label": "./labelsTr/a.nii.gz"}, {"image": "./imagesTr/a.nii.gz", "label": "./labelsTr/a.nii.gz"}]}' >"$d/duplicate.json"

# journals: the events a search writes, torn last lines, a repaired line
j=$OUT/journal
cat >"$j/search.jsonl" <<'J'
{"event":"start","trial":0,"phase":"proxy","params":{"lr":0.001,"optimizer":"adam","batch":2},"x":[0.5],"seed":7,"time":1.5}
{"event":"intermediate","trial":0,"step":1,"value":0.6}
{"event":"end","trial":0,"state":"COMPLETE","value":0.71,"seconds":3.2,"intermediate":[0.5,0.7]}
{"event":"start","trial":1,"phase":"proxy","params":{"lr":0.01},"x":[0.9],"seed":8,"time":2.5}
{"event":"end","trial":1,"state":"FAIL","value":null,"reason":"diverged"}
{"event":"start","trial":2,"phase":"full","ref":0,"params":{"lr":0.001},"x":[0.5],"seed":9}
{"event":"end","trial":2,"state":"PRUNED","value":0.2,"seconds":1}
J
head -c 300 "$j/search.jsonl" >"$j/torn.jsonl"
head -c 200 "$j/search.jsonl" >"$j/torn_early.jsonl"
{ head -c 300 "$j/search.jsonl"; printf '\n{"event":"start","trial":3,"phase":"proxy","params":{},"seed":1}\n'; } >"$j/repaired.jsonl"
cp "$j/search.jsonl" "$OUT/export/search.jsonl"
cp "$j/torn.jsonl" "$OUT/export/torn.jsonl"

# configs: the shipped search spaces, the tests' study configs, training configs
c=$OUT/config
cp "$SRC"/search/spaces/*.json "$SRC"/tests/search/*.json "$c/"
printf '{"retrain": {"count": 1e12}, "proxy_net": {"widht": 2}, "train": {"optim": {"momentun": 1}}}' >"$c/bad_study.json"
printf '{"epochs": 2, "lr": 0.01, "optimizer": "adam", "patch": [16, 16, 16], "net": {"stages": 2, "base_features": 4}, "val": {"folds": 5, "fold": 1}}' >"$c/train.json"
printf '{"aug": {"preset": "default", "gamma": {"p": 0.5}}, "net": {"family": "nas", "cells": 2}}' >"$c/train_aug_nas.json"

# training inputs: first byte picks the reader (fuzz_train_inputs.c)
t=$OUT/train_inputs
printf '0lr=0.01\nbatch=2\npatch=[16,16,16]\nnet.stages=2\noptim.momentum=0.9\naug.gamma.p=0.3' >"$t/sets.txt"
printf '0net={"family":"nas","cells":2}\nval.folds=1e300' >"$t/sets_bad.txt"
printf '1{"family": "unet", "stages": 3, "base_features": 8, "kernel_sizes": [3, 3, 3]}' >"$t/arch_unet.json"
printf '1{"family": "nas", "genotype": {"normal": [[0, "conv3"], [1, "skip"]], "reduce": [[0, "conv3"], [1, "pool"]]}}' >"$t/genotype.json"
printf '2{"preset": "default", "rotate": {"p": 0.2, "max_deg": 15}, "gamma": {"p": 0.3}, "mirror": {"p": 0.5}}' >"$t/policy.json"
printf '3{"target_spacing": [1, 1, 1], "n_channels": 1, "n_classes": 2, "interp_image": 3, "interp_label": 0, "crop_nonzero": true, "normalization": [{"scheme": "CT", "nonzero_mask": false, "clip_lo": -100, "clip_hi": 200, "mean": 10, "std": 3}]}' >"$t/plan.json"
printf '4[{"train": ["a", "b"], "val": ["c"]}, {"train": ["a", "c"], "val": ["b"]}]' >"$t/splits.json"

# cache (a real case file and plan.json) and checkpoints (weights only; resumable)
PS_FUZZ_WRITE_SEEDS="$OUT/cache" "$BUILD/tests/fuzz_cache" -runs=0 >/dev/null 2>&1
PS_FUZZ_WRITE_SEEDS="$OUT/checkpoint" "$BUILD/tests/fuzz_checkpoint" -runs=0 >/dev/null 2>&1
# fuzz_checkpoint_hdf5 takes the HDF5 image after the 512-byte user block
for f in "$OUT"/checkpoint/*.h5; do tail -c +513 "$f" >"$OUT/checkpoint_hdf5/${f##*/}"; done
rm -rf /tmp/ps_fuzz_* /dev/shm/ps_fuzz_* 2>/dev/null || true
