/* proxyseg export --nnunet: the study's best configuration for nnU-Net v2: a
 * trainer subclass (nnUNetTrainer_proxyseg.py: learning rate, epochs,
 * optimiser, weight decay, schedule, foreground oversampling, augmentation in
 * nnU-Net's transform terms), a plans patch (a 3d_fullres_proxyseg
 * configuration: patch, batch, the U-Net's stages, features, kernels, strides)
 * with the script that adds it to nnUNetPlans.json, and the command lines. */
#include "proxyseg/augment.h"
#include "proxyseg/export.h"
#include "proxyseg/nn.h"
#include "proxyseg/train.h"
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

typedef struct { char *s; size_t n, cap; bool oom; } sbuf;

static void put(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(sbuf *b, const char *fmt, ...) {
  if (b->oom) return;
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (k < 0) { b->oom = true; return; }
  if (b->n + (size_t)k + 1 > b->cap) {
    size_t cap = (b->n + (size_t)k + 1) * 2;
    char *ns = realloc(b->s, cap);
    if (!ns) { b->oom = true; return; }
    b->s = ns;
    b->cap = cap;
  }
  va_start(ap, fmt);
  vsnprintf(b->s + b->n, (size_t)k + 1, fmt, ap);
  va_end(ap);
  b->n += (size_t)k;
}

/* The values the trainer uses, one JSON object: the Python file embeds it
 * verbatim (json.loads), so a test compares it with best/config.json. */
static ps_status trainer_values(const cJSON *cfg, const cJSON *best, cJSON **out) {
  ps_aug_policy pol;
  ps_status st = ps_train_policy_from_config(cfg, &pol);
  if (st) return st;
  cJSON *v = cJSON_CreateObject();
  cJSON *src = cJSON_AddObjectToObject(v, "source");
  cJSON_AddNumberToObject(src, "proxy_trial", ps_json_int(best, "ref", -1));
  cJSON_AddNumberToObject(src, "full_trial", ps_json_int(best, "trial", -1));
  cJSON_AddNumberToObject(src, "full_mean_dice", ps_json_num(best, "full_mean", NAN));
  cJSON_AddNumberToObject(v, "initial_lr", ps_json_num(cfg, "lr", NAN));
  cJSON_AddNumberToObject(v, "num_epochs", ps_json_int(cfg, "epochs", 0));
  cJSON_AddNumberToObject(v, "num_iterations_per_epoch", ps_json_int(cfg, "iters_per_epoch", 0));
  cJSON_AddNumberToObject(v, "oversample_foreground_percent", ps_json_num(cfg, "fg_fraction", NAN));
  cJSON_AddBoolToObject(v, "enable_deep_supervision", cJSON_IsTrue(ps_json_path(cfg, "net.deep_supervision")));
  cJSON_AddStringToObject(v, "optimizer", ps_json_str(cfg, "optimizer", "sgd"));
  cJSON_AddNumberToObject(v, "weight_decay", ps_json_num(cfg, "optim.weight_decay", 0));
  cJSON_AddNumberToObject(v, "momentum", ps_json_num(cfg, "optim.momentum", 0.99));
  cJSON_AddBoolToObject(v, "nesterov", cJSON_IsTrue(ps_json_path(cfg, "optim.nesterov")));
  cJSON *betas = cJSON_AddArrayToObject(v, "betas");
  cJSON_AddItemToArray(betas, cJSON_CreateNumber(ps_json_num(cfg, "optim.beta1", 0.9)));
  cJSON_AddItemToArray(betas, cJSON_CreateNumber(ps_json_num(cfg, "optim.beta2", 0.999)));
  cJSON_AddNumberToObject(v, "eps", ps_json_num(cfg, "optim.eps", 1e-8));
  cJSON_AddStringToObject(v, "schedule", ps_json_str(cfg, "schedule", "poly"));
  cJSON_AddItemToObject(v, "schedule_opts", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(cfg, "schedule_opts"), 1));
  cJSON_AddNumberToObject(v, "grad_clip", ps_json_num(cfg, "grad_clip", 12));
  cJSON_AddNumberToObject(v, "weight_ce", ps_json_num(cfg, "loss.ce", 1));
  cJSON_AddNumberToObject(v, "weight_dice", ps_json_num(cfg, "loss.dice", 1));
  cJSON_AddItemToObject(v, "aug", ps_aug_policy_to_json(&pol));
  *out = v;
  return PS_OK;
}

static cJSON *int_lists(const cJSON *a) { return cJSON_Duplicate(a, 1); }

/* nnU-Net v2 plans configuration for the best U-Net (dynamic_network_architectures). */
static ps_status plans_config(const cJSON *cfg, cJSON **out) {
  cJSON *arch = NULL;
  const cJSON *net = cJSON_GetObjectItemCaseSensitive(cfg, "net");
  const char *family = ps_json_str(net, "family", "unet");
  if (strcmp(family, "unet"))
    return ps_error(PS_ERR_UNSUPPORTED, "the best network's family is '%s'; only U-Nets have an nnU-Net counterpart", family);
  ps_status st = ps_arch_resolve(net, &arch);
  if (st) return st;
  int S = ps_json_int(arch, "stages", 0);
  bool residual = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(arch, "residual"));
  const char *norm = ps_json_str(arch, "norm", "instance");
  cJSON *c = cJSON_CreateObject();
  cJSON_AddStringToObject(c, "inherits_from", "3d_fullres");
  cJSON_AddItemToObject(c, "patch_size", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(cfg, "patch"), 1));
  cJSON_AddNumberToObject(c, "batch_size", ps_json_int(cfg, "batch", 2));
  cJSON *a = cJSON_AddObjectToObject(c, "architecture");
  cJSON_AddStringToObject(a, "network_class_name", residual ? "dynamic_network_architectures.architectures.unet.ResidualEncoderUNet"
                                                            : "dynamic_network_architectures.architectures.unet.PlainConvUNet");
  cJSON *k = cJSON_AddObjectToObject(a, "arch_kwargs");
  cJSON_AddNumberToObject(k, "n_stages", S);
  cJSON_AddItemToObject(k, "features_per_stage", int_lists(cJSON_GetObjectItemCaseSensitive(arch, "features")));
  cJSON_AddStringToObject(k, "conv_op", "torch.nn.modules.conv.Conv3d");
  cJSON_AddItemToObject(k, "kernel_sizes", int_lists(cJSON_GetObjectItemCaseSensitive(arch, "kernel_sizes")));
  cJSON_AddItemToObject(k, "strides", int_lists(cJSON_GetObjectItemCaseSensitive(arch, "strides")));
  cJSON_AddItemToObject(k, residual ? "n_blocks_per_stage" : "n_conv_per_stage",
                        int_lists(cJSON_GetObjectItemCaseSensitive(arch, "convs_per_stage_encoder")));
  cJSON_AddItemToObject(k, "n_conv_per_stage_decoder", int_lists(cJSON_GetObjectItemCaseSensitive(arch, "convs_per_stage_decoder")));
  cJSON_AddBoolToObject(k, "conv_bias", !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(arch, "conv_bias")));
  if (!strcmp(norm, "none")) cJSON_AddNullToObject(k, "norm_op");
  else cJSON_AddStringToObject(k, "norm_op", !strcmp(norm, "batch") ? "torch.nn.modules.batchnorm.BatchNorm3d"
                                                                    : "torch.nn.modules.instancenorm.InstanceNorm3d");
  cJSON *nk = cJSON_AddObjectToObject(k, "norm_op_kwargs");
  cJSON_AddNumberToObject(nk, "eps", ps_json_num(arch, "norm_eps", 1e-5));
  cJSON_AddBoolToObject(nk, "affine", true);
  cJSON_AddNullToObject(k, "dropout_op");
  cJSON_AddNullToObject(k, "dropout_op_kwargs");
  bool leaky = !strcmp(ps_json_str(arch, "activation", "leaky_relu"), "leaky_relu");
  cJSON_AddStringToObject(k, "nonlin", leaky ? "torch.nn.LeakyReLU" : "torch.nn.ReLU");
  cJSON *lk = cJSON_AddObjectToObject(k, "nonlin_kwargs");
  cJSON_AddBoolToObject(lk, "inplace", true);
  if (leaky) cJSON_AddNumberToObject(lk, "negative_slope", ps_json_num(arch, "leaky_slope", 0.01));
  cJSON *imp = cJSON_AddArrayToObject(a, "_kw_requires_import");
  const char *names[] = {"conv_op", "norm_op", "dropout_op", "nonlin"};
  for (int i = 0; i < 4; i++) cJSON_AddItemToArray(imp, cJSON_CreateString(names[i]));
  /* what nnU-Net's U-Net does differently: recorded, not hidden */
  cJSON *diff = cJSON_AddArrayToObject(c, "proxyseg_notes");
  if (!strcmp(ps_json_str(arch, "downsample", "maxpool"), "maxpool"))
    cJSON_AddItemToArray(diff, cJSON_CreateString("proxyseg downsampled by max-pooling; nnU-Net's U-Net uses strided convolutions"));
  if (strcmp(ps_json_str(arch, "upsample", "transposed_conv"), "transposed_conv"))
    cJSON_AddItemToArray(diff, cJSON_CreateString("proxyseg upsampled by trilinear resize + 1x1x1 conv; nnU-Net uses transposed convolutions"));
  cJSON_AddItemToArray(diff, cJSON_CreateString("patch_size is proxyseg's (D, H, W): nnU-Net's axis order after its transpose_forward"));
  cJSON_Delete(arch);
  *out = c;
  return PS_OK;
}

static const char *trainer_py =
    "import json\n"
    "\n"
    "import torch\n"
    "from batchgeneratorsv2.transforms.intensity.brightness import MultiplicativeBrightnessTransform\n"
    "from batchgeneratorsv2.transforms.intensity.contrast import BGContrast, ContrastTransform\n"
    "from batchgeneratorsv2.transforms.intensity.gamma import GammaTransform\n"
    "from batchgeneratorsv2.transforms.intensity.gaussian_noise import GaussianNoiseTransform\n"
    "from batchgeneratorsv2.transforms.noise.gaussian_blur import GaussianBlurTransform\n"
    "from batchgeneratorsv2.transforms.spatial.mirroring import MirrorTransform\n"
    "from batchgeneratorsv2.transforms.spatial.spatial import SpatialTransform\n"
    "from batchgeneratorsv2.transforms.utils.compose import ComposeTransforms\n"
    "from batchgeneratorsv2.transforms.utils.deep_supervision_downsampling import DownsampleSegForDSTransform\n"
    "from batchgeneratorsv2.transforms.utils.nnunet_masking import MaskImageTransform\n"
    "from batchgeneratorsv2.transforms.utils.pseudo2d import Convert2DTo3DTransform, Convert3DTo2DTransform\n"
    "from batchgeneratorsv2.transforms.utils.random import RandomTransform\n"
    "from batchgeneratorsv2.transforms.utils.remove_label import RemoveLabelTansform\n"
    "from batchgeneratorsv2.transforms.utils.seg_to_regions import ConvertSegmentationToRegionsTransform\n"
    "from nnunetv2.training.lr_scheduler.polylr import PolyLRScheduler\n"
    "from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer\n"
    "\n"
    "\n"
    "def _range(op):\n"
    "    return (PROXYSEG[\"aug\"][op][\"lo\"], PROXYSEG[\"aug\"][op][\"hi\"])\n"
    "\n"
    "\n"
    "def _p(op):\n"
    "    return PROXYSEG[\"aug\"][op][\"p\"]\n"
    "\n"
    "\n"
    "class nnUNetTrainer_proxyseg(nnUNetTrainer):\n"
    "    \"\"\"proxyseg's best configuration. nnUNetTrainer's __init__ signature differs between\n"
    "    nnU-Net versions, so the values are set before initialisation and training instead.\"\"\"\n"
    "\n"
    "    def _apply_proxyseg(self):\n"
    "        self.initial_lr = PROXYSEG[\"initial_lr\"]\n"
    "        self.weight_decay = PROXYSEG[\"weight_decay\"]\n"
    "        self.num_epochs = PROXYSEG[\"num_epochs\"]\n"
    "        self.num_iterations_per_epoch = PROXYSEG[\"num_iterations_per_epoch\"]\n"
    "        self.oversample_foreground_percent = PROXYSEG[\"oversample_foreground_percent\"]\n"
    "        self.enable_deep_supervision = PROXYSEG[\"enable_deep_supervision\"]\n"
    "\n"
    "    def initialize(self):\n"
    "        self._apply_proxyseg()\n"
    "        super().initialize()\n"
    "\n"
    "    def on_train_start(self):\n"
    "        self._apply_proxyseg()\n"
    "        super().on_train_start()\n"
    "\n"
    "    def configure_optimizers(self):\n"
    "        params, opt = self.network.parameters(), PROXYSEG[\"optimizer\"]\n"
    "        if opt == \"sgd\":\n"
    "            optimizer = torch.optim.SGD(params, self.initial_lr, weight_decay=self.weight_decay,\n"
    "                                        momentum=PROXYSEG[\"momentum\"], nesterov=PROXYSEG[\"nesterov\"])\n"
    "        else:\n"
    "            cls = torch.optim.AdamW if opt == \"adamw\" else torch.optim.Adam\n"
    "            optimizer = cls(params, self.initial_lr, betas=tuple(PROXYSEG[\"betas\"]), eps=PROXYSEG[\"eps\"],\n"
    "                            weight_decay=self.weight_decay)\n"
    "        sched, o = PROXYSEG[\"schedule\"], PROXYSEG[\"schedule_opts\"]\n"
    "        if sched == \"cosine\":\n"
    "            scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, self.num_epochs, eta_min=o[\"min_lr\"])\n"
    "        elif sched == \"step\":\n"
    "            scheduler = torch.optim.lr_scheduler.StepLR(optimizer, o[\"step_size\"], gamma=o[\"gamma\"])\n"
    "        else:  # poly; constant = poly with exponent 0; plateau has no epoch-indexed counterpart: poly\n"
    "            exponent = 0.0 if sched == \"constant\" else o[\"exponent\"]\n"
    "            scheduler = PolyLRScheduler(optimizer, self.initial_lr, self.num_epochs, exponent=exponent)\n"
    "        return optimizer, scheduler\n"
    "\n"
    "    @staticmethod\n"
    "    def get_training_transforms(patch_size, rotation_for_DA, deep_supervision_scales, mirror_axes,\n"
    "                                do_dummy_2d_data_aug, use_mask_for_norm=None, is_cascaded=False,\n"
    "                                foreground_labels=None, regions=None, ignore_label=None):\n"
    "        # proxyseg's ops in nnU-Net's transforms. Rotation: both draw one rotation decision per sample;\n"
    "        # p_rotation is the largest of proxyseg's three p's (exact when they are equal; with unequal\n"
    "        # p's proxyseg rotates only the axes whose p exceeds the draw, nnU-Net all). Not exact where\n"
    "        # batchgeneratorsv2 has no counterpart: one angle range for all axes (the union of proxyseg's);\n"
    "        # mirroring at p 0.5 along the axes proxyseg mirrored; proxyseg's\n"
    "        # sharpen and additive shift are not applied. The cascade transforms are not supported.\n"
    "        if is_cascaded:\n"
    "            raise NotImplementedError(\"nnUNetTrainer_proxyseg: cascaded configurations are not supported\")\n"
    "        a = PROXYSEG[\"aug\"]\n"
    "        rots = [a[k] for k in (\"rot_x\", \"rot_y\", \"rot_z\") if a[k][\"p\"] > 0]\n"
    "        transforms = []\n"
    "        if do_dummy_2d_data_aug:\n"
    "            ignore_axes = (0,)\n"
    "            transforms.append(Convert3DTo2DTransform())\n"
    "            patch_size_spatial = patch_size[1:]\n"
    "        else:\n"
    "            patch_size_spatial = patch_size\n"
    "            ignore_axes = None\n"
    "        transforms.append(SpatialTransform(\n"
    "            patch_size_spatial, patch_center_dist_from_border=0, random_crop=False,\n"
    "            p_elastic_deform=_p(\"elastic_alpha\"),\n"
    "            p_rotation=max([r[\"p\"] for r in rots], default=0.0),\n"
    "            rotation=(min([r[\"lo\"] for r in rots], default=0.0), max([r[\"hi\"] for r in rots], default=0.0)),\n"
    "            p_scaling=_p(\"scale\"), scaling=_range(\"scale\"), p_synchronize_scaling_across_axes=1,\n"
    "            bg_style_seg_sampling=False))\n"
    "        if do_dummy_2d_data_aug:\n"
    "            transforms.append(Convert2DTo3DTransform())\n"
    "        transforms.append(RandomTransform(GaussianNoiseTransform(\n"
    "            noise_variance=_range(\"noise\"), p_per_channel=1, synchronize_channels=True), apply_probability=_p(\"noise\")))\n"
    "        transforms.append(RandomTransform(GaussianBlurTransform(\n"
    "            blur_sigma=_range(\"smooth\"), synchronize_channels=False, synchronize_axes=False, p_per_channel=0.5,\n"
    "            benchmark=True), apply_probability=_p(\"smooth\")))\n"
    "        transforms.append(RandomTransform(MultiplicativeBrightnessTransform(\n"
    "            multiplier_range=BGContrast(_range(\"brightness_mul\")), synchronize_channels=False, p_per_channel=1),\n"
    "            apply_probability=_p(\"brightness_mul\")))\n"
    "        transforms.append(RandomTransform(ContrastTransform(\n"
    "            contrast_range=BGContrast(_range(\"contrast\")), preserve_range=True, synchronize_channels=False,\n"
    "            p_per_channel=1), apply_probability=_p(\"contrast\")))\n"
    "        transforms.append(RandomTransform(GammaTransform(\n"
    "            gamma=BGContrast(_range(\"gamma\")), p_invert_image=0, synchronize_channels=False, p_per_channel=1,\n"
    "            p_retain_stats=1), apply_probability=_p(\"gamma\")))\n"
    "        axes = tuple(ax for ax, p in enumerate(a[\"mirror_p\"]) if p > 0 and mirror_axes is not None and ax in mirror_axes)\n"
    "        if axes:\n"
    "            transforms.append(MirrorTransform(allowed_axes=axes))\n"
    "        if use_mask_for_norm is not None and any(use_mask_for_norm):\n"
    "            transforms.append(MaskImageTransform(\n"
    "                apply_to_channels=[i for i in range(len(use_mask_for_norm)) if use_mask_for_norm[i]],\n"
    "                channel_idx_in_seg=0, set_outside_to=0))\n"
    "        transforms.append(RemoveLabelTansform(-1, 0))\n"
    "        if regions is not None:\n"
    "            transforms.append(ConvertSegmentationToRegionsTransform(\n"
    "                regions=list(regions) + [ignore_label] if ignore_label is not None else regions, channel_in_seg=0))\n"
    "        if deep_supervision_scales is not None:\n"
    "            transforms.append(DownsampleSegForDSTransform(ds_scales=deep_supervision_scales))\n"
    "        return ComposeTransforms(transforms)\n";

static const char *apply_py =
    "#!/usr/bin/env python3\n"
    "# Adds proxyseg's 3d_fullres_proxyseg configuration to a dataset's nnUNetPlans.json, written as\n"
    "# nnUNetPlans_proxyseg.json beside it (nnUNetPlans.json itself is left alone).\n"
    "# usage: apply_plans_patch.py DATASET_NAME_OR_ID   (needs $nnUNet_preprocessed and nnunetv2)\n"
    "import json, os, sys\n"
    "from nnunetv2.utilities.dataset_name_id_conversion import maybe_convert_to_dataset_name\n"
    "\n"
    "here = os.path.dirname(os.path.abspath(__file__))\n"
    "folder = os.path.join(os.environ[\"nnUNet_preprocessed\"], maybe_convert_to_dataset_name(sys.argv[1]))\n"
    "plans = json.load(open(os.path.join(folder, \"nnUNetPlans.json\")))\n"
    "patch = json.load(open(os.path.join(here, \"plans_patch.json\")))\n"
    "plans[\"plans_name\"] = \"nnUNetPlans_proxyseg\"\n"
    "plans[\"configurations\"].update(patch[\"configurations\"])\n"
    "json.dump(plans, open(os.path.join(folder, \"nnUNetPlans_proxyseg.json\"), \"w\"), indent=4)\n"
    "print(\"wrote\", os.path.join(folder, \"nnUNetPlans_proxyseg.json\"))\n";

/* "4", "Dataset004_X" -> "4"; anything else: the placeholder */
static void dataset_id(const char *ds, char *out, size_t n) {
  snprintf(out, n, "DATASET_ID");
  if (!ds) return;
  const char *b = strrchr(ds, '/');
  b = b && b[1] ? b + 1 : ds;
  if (!strncmp(b, "Dataset", 7)) b += 7;
  int k = 0;
  while (isdigit((unsigned char)b[k])) k++;
  if (k > 0 && k <= 3 && (b[k] == 0 || b[k] == '_')) snprintf(out, n, "%d", atoi(b));
}

static ps_status write_text(const char *dir, const char *name, const sbuf *b) {
  if (b->oom) return ps_error(PS_ERR_NOMEM, "out of memory");
  char *p = ps_path_join(dir, name);
  ps_status st = ps_write_file_atomic(p, b->s ? b->s : "", b->n);
  free(p);
  return st;
}

ps_status ps_export_nnunet(const char *study_dir, const char *out_dir, cJSON **summary) {
  if (summary) *summary = NULL;
  cJSON *cfg = NULL, *best = NULL, *study = NULL, *vals = NULL, *conf = NULL;
  char *cp = ps_path_join(study_dir, "best/config.json"), *bp = ps_path_join(study_dir, "best/best.json"),
       *sp = ps_path_join(study_dir, "study.json");
  ps_status st = PS_OK;
  if (!ps_path_exists(cp))
    st = ps_error(PS_ERR_DATA, "%s: no best/config.json (a study that has finished its full-scale re-training has one)", study_dir);
  if (!st) st = ps_json_read(cp, &cfg);
  if (!st && ps_path_exists(bp)) st = ps_json_read(bp, &best);
  if (!st && ps_path_exists(sp)) st = ps_json_read(sp, &study);
  if (!st) st = trainer_values(cfg, best, &vals);
  if (!st) st = plans_config(cfg, &conf);
  if (!st) st = ps_mkdir_p(out_dir);
  char *vjson = st ? NULL : cJSON_Print(vals);
  if (!st && (!vjson || strstr(vjson, "'''") || strchr(vjson, '\\')))
    st = vjson ? ps_error(PS_ERR_DATA, "%s: the configuration holds characters the generated Python cannot quote", cp)
               : ps_error(PS_ERR_NOMEM, "out of memory");
  if (!st) { /* the trainer: header, imports, PROXYSEG, the class */
    const char *cls = strstr(trainer_py, "\n\ndef _range");
    sbuf b = {0};
    put(&b, "# nnU-Net v2 trainer generated by `proxyseg export --nnunet` from the study %s:\n"
            "# its best configuration (proxy trial %d, full-scale mean Dice %.4f). Values: PROXYSEG below\n"
            "# (proxyseg's names and units; augmentation in proxyseg's ps_aug_policy terms, angles in radians).\n"
            "# Copy this file into nnunetv2/training/nnUNetTrainer/ and train with -tr nnUNetTrainer_proxyseg.\n",
        study_dir, ps_json_int(best, "ref", -1), ps_json_num(best, "full_mean", NAN));
    put(&b, "%.*s", (int)(cls - trainer_py), trainer_py);
    put(&b, "\n\nPROXYSEG = json.loads(r\'\'\'%s\'\'\')\n%s", vjson, cls);
    st = write_text(out_dir, "nnUNetTrainer_proxyseg.py", &b);
    free(b.s);
  }
  free(vjson);
  if (!st) { /* the plans patch and the script that applies it */
    cJSON *patch = cJSON_CreateObject(), *confs = cJSON_AddObjectToObject(patch, "configurations");
    cJSON_AddItemToObject(confs, "3d_fullres_proxyseg", conf);
    conf = NULL;
    char *pp = ps_path_join(out_dir, "plans_patch.json");
    st = ps_json_write(pp, patch);
    free(pp);
    cJSON_Delete(patch);
    sbuf a = {0};
    put(&a, "%s", apply_py);
    if (!st) st = write_text(out_dir, "apply_plans_patch.py", &a);
    free(a.s);
  }
  if (!st) { /* the command lines */
    char id[32];
    dataset_id(ps_json_str(study, "dataset", NULL), id, sizeof id);
    sbuf c = {0};
    put(&c, "#!/usr/bin/env bash\n"
            "# Train proxyseg's best configuration of %s with nnU-Net v2 (nnunetv2 installed; $nnUNet_raw,\n"
            "# $nnUNet_preprocessed and $nnUNet_results set). The epochs are the study's (%d x %d iterations):\n"
            "# edit num_epochs / num_iterations_per_epoch in nnUNetTrainer_proxyseg.py for a final model.\n"
            "set -euo pipefail\n"
            "here=$(cd \"$(dirname \"$0\")\" && pwd)\n"
            "DATASET=${1:-%s}\n"
            "nnUNetv2_plan_and_preprocess -d \"$DATASET\" -c 3d_fullres --verify_dataset_integrity\n"
            "cp \"$here/nnUNetTrainer_proxyseg.py\" \"$(python3 -c 'import nnunetv2, os; print(os.path.dirname(nnunetv2.__file__))')/training/nnUNetTrainer/\"\n"
            "python3 \"$here/apply_plans_patch.py\" \"$DATASET\"\n"
            "for fold in 0 1 2 3 4; do\n"
            "  nnUNetv2_train \"$DATASET\" 3d_fullres_proxyseg \"$fold\" -tr nnUNetTrainer_proxyseg -p nnUNetPlans_proxyseg\n"
            "done\n",
        study_dir, ps_json_int(cfg, "epochs", 0), ps_json_int(cfg, "iters_per_epoch", 0), id);
    st = write_text(out_dir, "train_nnunet.sh", &c);
    free(c.s);
  }
  if (!st && summary) {
    *summary = cJSON_CreateObject();
    char id[32];
    dataset_id(ps_json_str(study, "dataset", NULL), id, sizeof id);
    cJSON_AddStringToObject(*summary, "dataset", id);
    cJSON_AddNumberToObject(*summary, "proxy_trial", ps_json_int(best, "ref", -1));
  }
  if (st) ps_error_prefix(st, "export --nnunet %s", out_dir);
  cJSON_Delete(cfg); cJSON_Delete(best); cJSON_Delete(study); cJSON_Delete(vals); cJSON_Delete(conf);
  free(cp); free(bp); free(sp);
  return st;
}
