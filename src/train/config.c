/* The training configuration: defaults for every key, resolution from file and
 * --set overrides, validation. Defaults follow nnU-Net where it has one, scaled
 * down so that a trial fits in seconds to minutes on a 2-core machine. One
 * exception: nnU-Net's SGD (momentum 0.99, lr 0.01) needs its 250k-step
 * schedule and learns nothing in a few hundred steps, so Adam (lr 1e-3) is the
 * default; `--set optimizer=sgd --set lr=0.01` restores nnU-Net's choice. */
#include "proxyseg/train.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *defaults_json =
    "{"
    "\"epochs\": 8,"
    "\"iters_per_epoch\": 20,"
    "\"batch\": 2,"
    "\"patch\": [32, 32, 32],"
    "\"lr\": 0.001,"
    "\"optimizer\": \"adam\","
    "\"optim\": {\"momentum\": 0.99, \"nesterov\": true, \"weight_decay\": 3e-5,"
    "            \"beta1\": 0.9, \"beta2\": 0.999, \"eps\": 1e-8},"
    "\"schedule\": \"poly\","
    "\"schedule_opts\": {\"exponent\": 0.9, \"step_size\": 10, \"gamma\": 0.1,"
    "                    \"patience\": 3, \"factor\": 0.5, \"min_lr\": 1e-6, \"warmup_epochs\": 0},"
    "\"grad_clip\": 12.0,"
    "\"loss\": {\"ce\": 1.0, \"dice\": 1.0, \"batch_dice\": false, \"smooth\": 1e-5,"
    "           \"include_background\": false, \"ignore_label\": -1},"
    "\"fg_fraction\": 0.33,"
    "\"net\": {\"stages\": 3, \"base_features\": 16, \"feature_multiplier\": 2, \"max_features\": 320,"
    "          \"convs_per_stage_encoder\": 2, \"convs_per_stage_decoder\": 2, \"kernel_sizes\": 3,"
    "          \"norm\": \"instance\", \"activation\": \"leaky_relu\", \"leaky_slope\": 0.01,"
    "          \"downsample\": \"maxpool\", \"upsample\": \"transposed_conv\", \"residual\": false,"
    "          \"deep_supervision\": false},"
    "\"aug\": {\"preset\": \"default\"},"
    "\"val\": {\"folds\": 5, \"fold\": 0, \"cases\": null, \"overlap\": 0.5, \"gaussian\": true,"
    "          \"mirror\": false, \"every\": 2, \"batch\": 2},"
    "\"seed\": 0,"
    "\"threads\": 0,"
    "\"checkpoint_every\": 1"
    "}";

static const char *doc =
    "| key | default | meaning |\n"
    "|---|---|---|\n"
    "| epochs | 8 | training epochs |\n"
    "| iters_per_epoch | 20 | batches per epoch |\n"
    "| batch | 2 | patches per batch |\n"
    "| patch | [32,32,32] | patch size D,H,W (divisible by the network's total stride) |\n"
    "| lr | 0.001 | initial learning rate |\n"
    "| optimizer | adam | adam, adamw or sgd (nnU-Net: sgd, lr 0.01, for long schedules) |\n"
    "| optim.momentum / nesterov / weight_decay | 0.99 / true / 3e-5 | SGD (nnU-Net's) |\n"
    "| optim.beta1 / beta2 / eps | 0.9 / 0.999 / 1e-8 | Adam, AdamW |\n"
    "| schedule | poly | constant, poly, cosine, step, plateau |\n"
    "| schedule_opts.* | exponent 0.9, step_size 10, gamma 0.1, patience 3, factor 0.5, min_lr 1e-6, warmup_epochs 0 | schedule parameters |\n"
    "| grad_clip | 12 | gradient-norm clipping (0: off) |\n"
    "| loss.ce / loss.dice | 1 / 1 | weights of cross-entropy and soft Dice |\n"
    "| loss.batch_dice / smooth / include_background / ignore_label | false / 1e-5 / false / -1 | Dice options |\n"
    "| fg_fraction | 0.33 | share of patches forced onto foreground |\n"
    "| net.* | 3 stages, 16 base features, x2, cap 320, 2+2 convs, k3, instance norm, leaky_relu 0.01, maxpool, transposed_conv | U-Net architecture |\n"
    "| net.family | unet | unet, or cells: a NAS cell network (keys in include/proxyseg/nn.h; the U-Net defaults then do not apply) |\n"
    "| aug.preset | default | none or default (nnU-Net-like); aug.<op>.p/lo/hi override single ops |\n"
    "| val.folds / fold / cases | 5 / 0 / null | validation split (k-fold index, or a list of case ids) |\n"
    "| val.overlap / gaussian / mirror / every / batch | 0.5 / true / false / 2 / 2 | sliding-window validation |\n"
    "| seed | 0 | seeds weights, sampling and augmentation |\n"
    "| threads | 0 | threads (0: all cores) |\n"
    "| checkpoint_every | 1 | epochs between checkpoints |\n";

const char *ps_train_config_doc(void) { return doc; }

cJSON *ps_train_config_defaults(void) { return cJSON_Parse(defaults_json); }

/* The network family the file and the sets ask for (last one wins; NULL: the default U-Net). */
static const char *net_family(const cJSON *user, const char *const *sets, int n_sets, char *buf, size_t cap) {
  const char *fam = ps_json_str(user, "net.family", NULL);
  if (fam) snprintf(buf, cap, "%s", fam);
  for (int i = 0; i < n_sets; i++) {
    if (!strncmp(sets[i], "net.family=", 11)) snprintf(buf, cap, "%s", sets[i] + 11), fam = buf;
    else if (!strncmp(sets[i], "net=", 4)) {
      cJSON *j = cJSON_Parse(sets[i] + 4);
      const char *f = ps_json_str(j, "family", "unet");
      snprintf(buf, cap, "%s", f);
      fam = buf;
      cJSON_Delete(j);
    }
  }
  return fam ? buf : NULL;
}

ps_status ps_train_config_resolve(const char *file, const char *const *sets, int n_sets, cJSON **out) {
  *out = NULL;
  cJSON *cfg = ps_train_config_defaults();
  if (!cfg) return ps_error(PS_ERR_NOMEM, "out of memory");
  cJSON *user = NULL;
  if (file) {
    ps_status st = ps_json_read(file, &user);
    if (st) { cJSON_Delete(cfg); return st; }
  }
  char fam[64];
  /* another family's arch starts empty: the U-Net defaults are not its keys */
  if (net_family(user, sets, n_sets, fam, sizeof fam) && strcmp(fam, "unet"))
    cJSON_ReplaceItemInObjectCaseSensitive(cfg, "net", cJSON_CreateObject());
  if (file) {
    if (!cJSON_IsObject(user)) {
      cJSON_Delete(user);
      cJSON_Delete(cfg);
      return ps_error(PS_ERR_INVALID, "%s: the config must be a JSON object", file);
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, user) {
      if (!cJSON_GetObjectItemCaseSensitive(cfg, it->string)) {
        ps_status st2 = ps_error(PS_ERR_INVALID, "%s: unknown config key '%s'", file, it->string);
        cJSON_Delete(user);
        cJSON_Delete(cfg);
        return st2;
      }
    }
    ps_json_merge(cfg, user);
    cJSON_Delete(user);
  }
  for (int i = 0; i < n_sets; i++) {
    const char *eq = strchr(sets[i], '=');
    if (!eq || eq == sets[i]) {
      cJSON_Delete(cfg);
      return ps_error(PS_ERR_INVALID, "--set '%s': expected key=value", sets[i]);
    }
    char key[256];
    size_t len = (size_t)(eq - sets[i]);
    if (len >= sizeof key) { cJSON_Delete(cfg); return ps_error(PS_ERR_INVALID, "--set: key too long"); }
    memcpy(key, sets[i], len);
    key[len] = 0;
    char top[256];
    snprintf(top, sizeof top, "%s", key);
    char *dot = strchr(top, '.');
    if (dot) *dot = 0;
    if (!cJSON_GetObjectItemCaseSensitive(cfg, top)) {
      cJSON_Delete(cfg);
      return ps_error(PS_ERR_INVALID, "--set %s: unknown config key '%s'", sets[i], top);
    }
    ps_status st = ps_json_set_from_string(cfg, key, eq + 1);
    if (st) { cJSON_Delete(cfg); return st; }
  }
  ps_status st = ps_train_config_validate(cfg);
  if (st) { cJSON_Delete(cfg); return st; }
  *out = cfg;
  return PS_OK;
}

static ps_status need_num(const cJSON *cfg, const char *key, double lo, double hi) {
  const cJSON *v = ps_json_path(cfg, key);
  if (!cJSON_IsNumber(v)) return ps_error(PS_ERR_INVALID, "config key '%s' must be a number", key);
  if (!(v->valuedouble >= lo && v->valuedouble <= hi))
    return ps_error(PS_ERR_INVALID, "config key '%s' = %g is outside [%g, %g]", key, v->valuedouble, lo, hi);
  return PS_OK;
}

static ps_status need_choice(const cJSON *cfg, const char *key, const char *const *choices) {
  const char *v = ps_json_str(cfg, key, NULL);
  if (v)
    for (int i = 0; choices[i]; i++)
      if (!strcmp(v, choices[i])) return PS_OK;
  char list[256] = "";
  for (int i = 0; choices[i]; i++) {
    strncat(list, i ? ", " : "", sizeof list - strlen(list) - 1);
    strncat(list, choices[i], sizeof list - strlen(list) - 1);
  }
  return ps_error(PS_ERR_INVALID, "config key '%s' must be one of: %s", key, list);
}

ps_status ps_train_config_validate(const cJSON *cfg) {
  static const char *optims[] = {"sgd", "adam", "adamw", NULL};
  static const char *scheds[] = {"constant", "poly", "cosine", "step", "plateau", NULL};
  ps_status st;
  if ((st = need_num(cfg, "epochs", 1, 1e6)) || (st = need_num(cfg, "iters_per_epoch", 1, 1e7)) ||
      (st = need_num(cfg, "batch", 1, 1024)) || (st = need_num(cfg, "lr", 0, 100)) ||
      (st = need_num(cfg, "grad_clip", 0, 1e9)) || (st = need_num(cfg, "fg_fraction", 0, 1)) ||
      (st = need_num(cfg, "seed", 0, 9007199254740991.0)) || (st = need_num(cfg, "threads", 0, 4096)) ||
      (st = need_num(cfg, "val.overlap", 0, 0.95)) || (st = need_num(cfg, "val.every", 1, 1e6)) ||
      (st = need_num(cfg, "loss.ce", 0, 1e3)) || (st = need_num(cfg, "loss.dice", 0, 1e3)) ||
      (st = need_choice(cfg, "optimizer", optims)) || (st = need_choice(cfg, "schedule", scheds)))
    return st;
  const cJSON *patch = cJSON_GetObjectItemCaseSensitive(cfg, "patch");
  if (!cJSON_IsArray(patch) || cJSON_GetArraySize(patch) != 3)
    return ps_error(PS_ERR_INVALID, "config key 'patch' must be a list of 3 sizes");
  const cJSON *p;
  cJSON_ArrayForEach(p, patch) if (!cJSON_IsNumber(p) || p->valuedouble < 4 || p->valuedouble > 512)
    return ps_error(PS_ERR_INVALID, "config key 'patch': sizes must be numbers in [4, 512]");
  if (ps_json_num(cfg, "loss.ce", 0) + ps_json_num(cfg, "loss.dice", 0) <= 0)
    return ps_error(PS_ERR_INVALID, "config keys 'loss.ce' and 'loss.dice' are both 0");
  /* 0 used to disable checkpoints silently */
  if ((st = need_num(cfg, "checkpoint_every", 1, 1e6))) return st;
  /* val.fold < folds is the split's check: a splits_final.json has its own count */
  if ((st = need_num(cfg, "val.folds", 2, 1000)) || (st = need_num(cfg, "val.fold", 0, 999)) ||
      (st = need_num(cfg, "val.batch", 1, 1024)))
    return st;
  return ps_train_config_check_keys(cfg); /* config_keys.c */
}
