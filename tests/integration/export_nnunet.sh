#!/usr/bin/env bash
# proxyseg export --nnunet: the generated trainer compiles (py_compile) and,
# imported with stand-ins for nnunetv2/batchgeneratorsv2 (not in Debian), sets
# the best configuration's lr, epochs, iterations, oversampling, optimiser and
# weight decay and builds nnU-Net's transforms with its augmentation
# probabilities and ranges; the plans patch holds its patch, batch, stages,
# features, kernels and strides; the command script parses (bash -n).
set -euo pipefail
exe=$1; py=${2:-/usr/bin/python3}
here=$(cd "$(dirname "$0")" && pwd)
rm -rf tmp_export_nnunet; mkdir -p tmp_export_nnunet; cd tmp_export_nnunet
"$exe" study -q --config "$here/export_study.json" --out st 2> st.log || { tail -20 st.log; exit 1; }
"$exe" export --study st --nnunet=nn 2> export.log || { cat export.log; exit 1; }
for f in nnUNetTrainer_proxyseg.py plans_patch.json apply_plans_patch.py train_nnunet.sh; do
  [ -s "nn/$f" ] || { echo "FAIL: nn/$f missing"; exit 1; }
done
bash -n nn/train_nnunet.sh || { echo "FAIL: train_nnunet.sh does not parse"; exit 1; }
grep -q "nnUNetv2_train \"\$DATASET\" 3d_fullres_proxyseg \"\$fold\" -tr nnUNetTrainer_proxyseg -p nnUNetPlans_proxyseg" nn/train_nnunet.sh \
  || { echo "FAIL: no nnUNetv2_train command line"; exit 1; }
set +e
"$exe" export --study st/proxy --nnunet nn2 2> err.txt; rc=$?
set -e
[ "$rc" = 3 ] && grep -q "no best/config.json" err.txt || { echo "FAIL: export of a folder without best/ -> $rc: $(cat err.txt)"; exit 1; }
"$py" -m py_compile nn/nnUNetTrainer_proxyseg.py nn/apply_plans_patch.py || { echo "FAIL: generated Python does not compile"; exit 1; }
"$py" -c 'import torch' 2>/dev/null || { echo "SKIPPED: the trainer's behaviour (no torch for $py; it compiled)"; exit 77; }
"$py" - <<'PY'
import json, sys, types
cfg = json.load(open("st/best/config.json"))
fails = 0
def check(c, what):
    global fails
    if not c: print("MISMATCH:", what); fails += 1
# stand-ins that record what the trainer builds
made = []
class Rec:
    def __init__(self, *a, **k): self.a, self.k = a, k; made.append(self)
def stub(name, **attrs):
    m = types.ModuleType(name); m.__dict__.update(attrs); sys.modules[name] = m
for mod, names in {
    "batchgeneratorsv2.transforms.intensity.brightness": ["MultiplicativeBrightnessTransform"],
    "batchgeneratorsv2.transforms.intensity.contrast": ["BGContrast", "ContrastTransform"],
    "batchgeneratorsv2.transforms.intensity.gamma": ["GammaTransform"],
    "batchgeneratorsv2.transforms.intensity.gaussian_noise": ["GaussianNoiseTransform"],
    "batchgeneratorsv2.transforms.noise.gaussian_blur": ["GaussianBlurTransform"],
    "batchgeneratorsv2.transforms.spatial.mirroring": ["MirrorTransform"],
    "batchgeneratorsv2.transforms.spatial.spatial": ["SpatialTransform"],
    "batchgeneratorsv2.transforms.utils.compose": ["ComposeTransforms"],
    "batchgeneratorsv2.transforms.utils.deep_supervision_downsampling": ["DownsampleSegForDSTransform"],
    "batchgeneratorsv2.transforms.utils.nnunet_masking": ["MaskImageTransform"],
    "batchgeneratorsv2.transforms.utils.pseudo2d": ["Convert2DTo3DTransform", "Convert3DTo2DTransform"],
    "batchgeneratorsv2.transforms.utils.random": ["RandomTransform"],
    "batchgeneratorsv2.transforms.utils.remove_label": ["RemoveLabelTansform"],
    "batchgeneratorsv2.transforms.utils.seg_to_regions": ["ConvertSegmentationToRegionsTransform"],
    "nnunetv2.training.lr_scheduler.polylr": ["PolyLRScheduler"]}.items():
    stub(mod, **{n: type(n, (Rec,), {}) for n in names})
class nnUNetTrainer:
    def initialize(self): pass
    def on_train_start(self): pass
stub("nnunetv2.training.nnUNetTrainer.nnUNetTrainer", nnUNetTrainer=nnUNetTrainer)
sys.path.insert(0, "nn")
import torch
import nnUNetTrainer_proxyseg as T
P = T.PROXYSEG
tr = T.nnUNetTrainer_proxyseg()
tr.initialize()
check(tr.initial_lr == cfg["lr"], f"initial_lr {tr.initial_lr} vs lr {cfg['lr']}")
check(tr.num_epochs == cfg["epochs"] and tr.num_iterations_per_epoch == cfg["iters_per_epoch"], "epochs / iterations")
check(tr.weight_decay == cfg["optim"]["weight_decay"], "weight decay")
check(tr.oversample_foreground_percent == cfg["fg_fraction"], "foreground oversampling")
tr.network = torch.nn.Linear(2, 2)
opt, sched = tr.configure_optimizers()
want = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[cfg["optimizer"]]
check(type(opt) is want and opt.param_groups[0]["lr"] == cfg["lr"], f"optimizer {type(opt).__name__} lr {opt.param_groups[0]['lr']}")
check(type(sched).__name__ == "PolyLRScheduler" and sched.k.get("exponent") == cfg["schedule_opts"]["exponent"], "poly schedule")
# augmentation: every searched aug key of the best config reaches nnU-Net's transforms
made.clear()
T.nnUNetTrainer_proxyseg.get_training_transforms([16, 16, 16], None, None, (0, 1, 2), False)
by = {type(m).__name__: m for m in made}
rand = {type(m.a[0]).__name__: m.k["apply_probability"] for m in made if type(m).__name__ == "RandomTransform"}
a = P["aug"]
check(rand["GammaTransform"] == a["gamma"]["p"] and by["GammaTransform"].k["gamma"].a[0] == (a["gamma"]["lo"], a["gamma"]["hi"]), "gamma")
check(rand["GaussianNoiseTransform"] == a["noise"]["p"] and by["GaussianNoiseTransform"].k["noise_variance"] == (a["noise"]["lo"], a["noise"]["hi"]), "noise")
check(rand["GaussianBlurTransform"] == a["smooth"]["p"], "blur")
check(rand["ContrastTransform"] == a["contrast"]["p"] and rand["MultiplicativeBrightnessTransform"] == a["brightness_mul"]["p"], "contrast/brightness")
sp = by["SpatialTransform"].k
check(sp["p_scaling"] == a["scale"]["p"] and sp["scaling"] == (a["scale"]["lo"], a["scale"]["hi"]), "scaling")
check(sp["p_rotation"] == max(a[k]["p"] for k in ("rot_x", "rot_y", "rot_z")), "rotation probability")
for key, v in cfg["aug"].items():  # the study's own aug keys, e.g. gamma.p
    if key == "preset": continue
    for field, val in v.items():
        check(a[key][field] == val, f"aug.{key}.{field}: trainer {a[key][field]} vs best config {val}")
# plans patch: the best network
plans = json.load(open("nn/plans_patch.json"))["configurations"]["3d_fullres_proxyseg"]
k = plans["architecture"]["arch_kwargs"]
net = cfg["net"]
check(plans["patch_size"] == cfg["patch"] and plans["batch_size"] == cfg["batch"], "patch / batch")
check(k["n_stages"] == net["stages"] and k["features_per_stage"] == [min(net["base_features"] * net["feature_multiplier"] ** s, net["max_features"]) for s in range(net["stages"])], "stages / features")
check(k["kernel_sizes"] == [[net["kernel_sizes"]] * 3] * net["stages"] and k["strides"] == [[1, 1, 1]] + [[2, 2, 2]] * (net["stages"] - 1), "kernels / strides")
print("export_nnunet:", "passed" if not fails else f"{fails} mismatches")
sys.exit(1 if fails else 0)
PY
