#!/usr/bin/env bash
# proxyseg train → predict → evaluate. Predictions must come back in each
# input's own geometry (shape, affine) so that any viewer overlays them: checked
# with nibabel, also for an input stored in another orientation (LPS, axes
# swapped), whose prediction must be the same segmentation as the original's.
set -euo pipefail
exe=$1; py=${2:-/usr/bin/python3}
"$py" -c 'import nibabel, numpy' 2>/dev/null || { echo "SKIPPED: nibabel/numpy missing for $py"; exit 77; }
rm -rf tmp_predict; mkdir -p tmp_predict; cd tmp_predict
"$exe" generate --out ds --cases 6 --size 24 --seed 7 2>/dev/null
"$exe" train --dataset ds --out model --set patch=[16,16,16] --set epochs=2 --set iters_per_epoch=6 \
  --set net.stages=2 --set net.base_features=4 --set val.folds=3 --set threads=1 2> train.log || { tail -20 train.log; exit 1; }
[ -s model/checkpoint.h5 ] || { echo "FAIL: no checkpoint"; exit 1; }
# an extra input: synth_000 re-stored as LPS with the voxel axes permuted
mkdir -p extra
"$py" - <<'PY'
import nibabel as nib, numpy as np
img = nib.load("ds/imagesTr/synth_000.nii.gz")
data = np.asarray(img.dataobj)
# flip i and j (RAS -> LPS) and swap i <-> k
flip = nib.orientations.inv_ornt_aff(np.array([[0, -1], [1, -1], [2, 1]]), data.shape)
d2 = data[::-1, ::-1, :]
a2 = img.affine @ flip
perm = np.array([[0, 0, 1, 0], [0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]], float)
d3 = np.transpose(d2, (2, 1, 0))
a3 = a2 @ perm
out = nib.Nifti1Image(d3.astype(np.int16), a3)
out.header.set_qform(a3, 1); out.header.set_sform(a3, 2)
nib.save(out, "extra/odd_orientation.nii.gz")
print("extra input orientation:", "".join(nib.aff2axcodes(a3)))
PY
"$exe" predict --model model/checkpoint.h5 --input ds/imagesTr --out pred 2> pred.log || { tail pred.log; exit 1; }
"$exe" predict --model model/checkpoint.h5 --input extra/odd_orientation.nii.gz --out pred_extra 2>> pred.log || { tail pred.log; exit 1; }
"$exe" evaluate --pred pred --truth ds/labelsTr --out ev.json 2>/dev/null
[ -s ev.json ] && [ -s ev.csv ] || { echo "FAIL: evaluate wrote no JSON/CSV"; exit 1; }
"$py" - <<'PY'
import glob, os, sys
import nibabel as nib, numpy as np
fails = checks = 0
def check(ok, msg):
    global fails, checks
    checks += 1
    if not ok: fails += 1; print("FAIL:", msg)
for f in sorted(glob.glob("ds/imagesTr/*.nii.gz")):
    p = os.path.join("pred", os.path.basename(f))
    check(os.path.exists(p), f"no prediction for {f}")
    if not os.path.exists(p): continue
    a, b = nib.load(f), nib.load(p)
    check(a.shape == b.shape, f"{p}: shape {b.shape} != input {a.shape}")
    check(np.allclose(a.affine, b.affine, atol=1e-4), f"{p}: affine differs from the input's")
    check(set(np.unique(np.asarray(b.dataobj))) <= {0, 1}, f"{p}: labels outside {{0,1}}")
src = nib.load("extra/odd_orientation.nii.gz"); pe = nib.load("pred_extra/odd_orientation.nii.gz")
check(src.shape == pe.shape and np.allclose(src.affine, pe.affine, atol=1e-4), "odd-orientation prediction not in the input's geometry")
# the same anatomy gives the same segmentation whatever the storage order
ref = nib.as_closest_canonical(nib.load("pred/synth_000.nii.gz"))
odd = nib.as_closest_canonical(pe)
same = np.asarray(ref.dataobj) == np.asarray(odd.dataobj)
check(same.mean() > 0.999, f"odd-orientation prediction differs from the original's in {100*(1-same.mean()):.2f}% of voxels")
ev = __import__("json").load(open("ev.json"))
check("cases" in ev or "per_case" in ev or len(ev) > 0, "ev.json is empty")
print(f"predict_cli: {checks - fails} passed, {fails} failed")
sys.exit(1 if fails else 0)
PY
