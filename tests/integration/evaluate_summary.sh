#!/usr/bin/env bash
# proxyseg evaluate writes nnU-Net v2's summary.json beside its JSON and CSV:
# every key (metric_per_case with reference/prediction files, mean,
# foreground_mean; Dice, IoU, FP, TP, FN, TN, n_pred, n_ref) recomputed with
# numpy the way nnunetv2/evaluation/evaluate_predictions.py does it, including
# a label absent from both files of a case (Dice NaN, skipped by the mean).
set -euo pipefail
exe=$1; py=${2:-/usr/bin/python3}
"$py" -c 'import nibabel, numpy' 2>/dev/null || { echo "SKIPPED: evaluate_summary needs nibabel and numpy for $py"; exit 77; }
rm -rf tmp_evaluate_summary; mkdir -p tmp_evaluate_summary/pred tmp_evaluate_summary/ref tmp_evaluate_summary/out
cd tmp_evaluate_summary
"$py" - <<'PY'
import nibabel as nib, numpy as np
rng = np.random.default_rng(5)
for i, shape in enumerate([(20, 18, 16), (12, 14, 10), (16, 16, 16)]):
    ref = np.zeros(shape, np.uint8)
    ref[3:10, 4:12, 2:9] = 1
    if i != 1: ref[5:8, 6:9, 4:6] = 2          # case 1: label 2 absent from both files
    pred = ref.copy()
    flip = rng.random(shape) < 0.08
    pred[flip] = rng.integers(0, 2 if i == 1 else 3, flip.sum())
    aff = np.diag([1.5, 1.0, 2.0, 1.0])
    nib.save(nib.Nifti1Image(ref, aff), f"ref/case_{i}.nii.gz")
    nib.save(nib.Nifti1Image(pred, aff), f"pred/case_{i}.nii.gz")
PY
"$exe" evaluate --pred pred --truth ref --out out/ev.json 2> ev.log || { cat ev.log; exit 1; }
[ -s out/ev.json ] && [ -s out/ev.csv ] && [ -s out/summary.json ] || { echo "FAIL: ev.json, ev.csv or summary.json missing"; ls out; exit 1; }
set +e
"$exe" evaluate --pred pred --truth ref --out out/summary.json 2> err.txt; rc=$?
set -e
[ "$rc" = 2 ] && grep -q "nnU-Net's file" err.txt || { echo "FAIL: --out summary.json -> $rc: $(cat err.txt)"; exit 1; }
"$py" - <<'PY'
import json, math, sys
import nibabel as nib, numpy as np
s = json.load(open("out/summary.json"))
fails = 0
def same(a, b, what):
    global fails
    ok = (a is None and math.isnan(b)) or (a is not None and not math.isnan(b) and abs(a - b) <= 1e-12 * max(1, abs(b)))
    if not ok: print("MISMATCH", what, a, b); fails += 1
keys = ["Dice", "IoU", "FP", "TP", "FN", "TN", "n_pred", "n_ref"]
assert set(s) == {"metric_per_case", "mean", "foreground_mean"}, list(s)
per = {}
for e in s["metric_per_case"]:
    ref = np.asarray(nib.load(e["reference_file"]).dataobj); pred = np.asarray(nib.load(e["prediction_file"]).dataobj)
    assert sorted(e["metrics"]) == ["1", "2"], e["metrics"].keys()
    for lab in (1, 2):
        r, p = ref == lab, pred == lab
        tp, fp, fn, tn = [int(x) for x in ((r & p).sum(), (~r & p).sum(), (r & ~p).sum(), (~r & ~p).sum())]
        d = float("nan") if tp + fp + fn == 0 else 2 * tp / (2 * tp + fp + fn)
        iou = float("nan") if tp + fp + fn == 0 else tp / (tp + fp + fn)
        want = dict(Dice=d, IoU=iou, FP=fp, TP=tp, FN=fn, TN=tn, n_pred=tp + fp, n_ref=tp + fn)
        assert sorted(e["metrics"][str(lab)]) == sorted(keys)
        for k in keys:
            same(e["metrics"][str(lab)][k], want[k], f"{e['reference_file']} label {lab} {k}")
            per.setdefault((lab, k), []).append(want[k])
assert len(s["metric_per_case"]) == 3
nan_cases = sum(1 for v in per[(2, "Dice")] if math.isnan(v))
assert nan_cases == 1, "the test needs one case without label 2"
for k in keys:
    means = [float(np.nanmean(per[(lab, k)])) for lab in (1, 2)]
    for lab, m in zip((1, 2), means): same(s["mean"][str(lab)][k], m, f"mean {lab} {k}")
    same(s["foreground_mean"][k], float(np.mean(means)), f"foreground_mean {k}")
print("evaluate_summary:", "passed" if not fails else f"{fails} mismatches")
sys.exit(1 if fails else 0)
PY
