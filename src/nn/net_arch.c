/* U-Net architecture JSON: defaults, validation, and the resolved form (every
 * default written out, per-stage lists expanded) that checkpoints store and
 * the proxy shrink function rewrites. */
#include "net_internal.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *known_keys[] = {"stages", "base_features", "feature_multiplier", "max_features", "features",
                                   "convs_per_stage_encoder", "convs_per_stage_decoder", "kernel_sizes", "strides",
                                   "norm", "activation", "leaky_slope", "conv_bias", "norm_eps", "bn_momentum",
                                   "downsample", "upsample", "residual", "deep_supervision", "name", "family", NULL};

/* An int-or-list key: a single int fills all n entries, a list must have n. */
static ps_status int_list(const cJSON *arch, const char *key, int n, int *out, int dflt_first, int dflt_rest) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(arch, key);
  if (!v) {
    for (int i = 0; i < n; i++) out[i] = i == 0 ? dflt_first : dflt_rest;
    return PS_OK;
  }
  if (cJSON_IsNumber(v)) {
    for (int i = 0; i < n; i++) out[i] = (int)v->valuedouble;
    return PS_OK;
  }
  if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != n)
    return ps_error(PS_ERR_INVALID, "arch: '%s' must be an int or a list of %d ints", key, n);
  for (int i = 0; i < n; i++) {
    const cJSON *e = cJSON_GetArrayItem(v, i);
    if (!cJSON_IsNumber(e)) return ps_error(PS_ERR_INVALID, "arch: '%s'[%d] is not a number", key, i);
    out[i] = (int)e->valuedouble;
  }
  return PS_OK;
}

/* Per-stage triples: int, list of ints, or list of [d,h,w]. */
static ps_status triple_list(const cJSON *arch, const char *key, int n, int out[][3], int dflt_first, int dflt_rest) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(arch, key);
  if (!v || cJSON_IsNumber(v)) {
    for (int i = 0; i < n; i++)
      for (int a = 0; a < 3; a++) out[i][a] = v ? (int)v->valuedouble : (i == 0 ? dflt_first : dflt_rest);
    return PS_OK;
  }
  if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != n)
    return ps_error(PS_ERR_INVALID, "arch: '%s' must be an int or a list of %d entries (one per stage)", key, n);
  for (int i = 0; i < n; i++) {
    const cJSON *e = cJSON_GetArrayItem(v, i);
    if (cJSON_IsNumber(e)) {
      for (int a = 0; a < 3; a++) out[i][a] = (int)e->valuedouble;
    } else if (cJSON_IsArray(e) && cJSON_GetArraySize(e) == 3) {
      for (int a = 0; a < 3; a++) {
        const cJSON *x = cJSON_GetArrayItem(e, a);
        if (!cJSON_IsNumber(x)) return ps_error(PS_ERR_INVALID, "arch: '%s'[%d][%d] is not a number", key, i, a);
        out[i][a] = (int)x->valuedouble;
      }
    } else {
      return ps_error(PS_ERR_INVALID, "arch: '%s'[%d] must be an int or [d,h,w]", key, i);
    }
  }
  return PS_OK;
}

static int pick(const char *v, const char *key, const char *const *names, int n, ps_status *st) {
  for (int i = 0; i < n; i++)
    if (!strcmp(v, names[i])) return i;
  *st = ps_error(PS_ERR_INVALID, "arch: '%s' = '%s' is not one of the known values", key, v);
  return 0;
}

ps_status ps_arch_parse(const cJSON *arch, ps_arch_spec *s) {
  memset(s, 0, sizeof *s);
  if (arch && !cJSON_IsObject(arch)) return ps_error(PS_ERR_INVALID, "arch: must be a JSON object");
  for (const cJSON *c = arch ? arch->child : NULL; c; c = c->next) {
    bool ok = false;
    for (int i = 0; known_keys[i]; i++) ok |= !strcmp(c->string, known_keys[i]);
    if (!ok) return ps_error(PS_ERR_INVALID, "arch: unknown key '%s'", c->string);
  }
  s->stages = ps_json_int(arch, "stages", 4);
  if (s->stages < 1 || s->stages > PS_NET_MAX_STAGES)
    return ps_error(PS_ERR_INVALID, "arch: stages = %d must be in [1, %d]", s->stages, PS_NET_MAX_STAGES);
  int S = s->stages;
  s->base_features = ps_json_int(arch, "base_features", 16);
  s->feature_multiplier = ps_json_num(arch, "feature_multiplier", 2.0);
  s->max_features = ps_json_int(arch, "max_features", 320);
  if (s->base_features < 1 || s->max_features < 1 || !(s->feature_multiplier > 0))
    return ps_error(PS_ERR_INVALID, "arch: base_features, max_features and feature_multiplier must be positive");
  ps_status st;
  if (cJSON_GetObjectItemCaseSensitive(arch, "features")) {
    if ((st = int_list(arch, "features", S, s->features, 0, 0))) return st;
  } else {
    for (int i = 0; i < S; i++) {
      double f = round(s->base_features * pow(s->feature_multiplier, i));
      s->features[i] = f > s->max_features ? s->max_features : (int)f;
    }
  }
  if ((st = int_list(arch, "convs_per_stage_encoder", S, s->convs_enc, 2, 2))) return st;
  if (S > 1 && (st = int_list(arch, "convs_per_stage_decoder", S - 1, s->convs_dec, 2, 2))) return st;
  if ((st = triple_list(arch, "kernel_sizes", S, s->kernel, 3, 3))) return st;
  if ((st = triple_list(arch, "strides", S, s->stride, 1, 2))) return st;
  for (int i = 0; i < S; i++) {
    if (s->features[i] < 1) return ps_error(PS_ERR_INVALID, "arch: features[%d] = %d must be >= 1", i, s->features[i]);
    if (s->convs_enc[i] < 1 || s->convs_enc[i] > PS_NET_MAX_CONVS)
      return ps_error(PS_ERR_INVALID, "arch: convs_per_stage_encoder[%d] must be in [1, %d]", i, PS_NET_MAX_CONVS);
    if (i < S - 1 && (s->convs_dec[i] < 1 || s->convs_dec[i] > PS_NET_MAX_CONVS))
      return ps_error(PS_ERR_INVALID, "arch: convs_per_stage_decoder[%d] must be in [1, %d]", i, PS_NET_MAX_CONVS);
    for (int a = 0; a < 3; a++) {
      if (s->kernel[i][a] < 1 || s->kernel[i][a] % 2 == 0)
        return ps_error(PS_ERR_INVALID, "arch: kernel_sizes[%d] = %d must be odd and positive", i, s->kernel[i][a]);
      if (s->stride[i][a] < 1 || s->stride[i][a] > 4)
        return ps_error(PS_ERR_INVALID, "arch: strides[%d] = %d must be in [1, 4]", i, s->stride[i][a]);
      if (i == 0 && s->stride[0][a] != 1)
        return ps_error(PS_ERR_INVALID, "arch: strides[0] must be 1 (the first stage works at full resolution)");
    }
  }
  st = PS_OK;
  static const char *const norms[] = {"none", "instance", "batch"};
  static const char *const acts[] = {"relu", "leaky_relu"};
  static const char *const downs[] = {"maxpool", "strided_conv"};
  static const char *const ups[] = {"transposed_conv", "trilinear_conv"};
  s->norm = pick(ps_json_str(arch, "norm", "instance"), "norm", norms, 3, &st);
  s->act = pick(ps_json_str(arch, "activation", "leaky_relu"), "activation", acts, 2, &st);
  s->down = pick(ps_json_str(arch, "downsample", "maxpool"), "downsample", downs, 2, &st);
  s->up = pick(ps_json_str(arch, "upsample", "transposed_conv"), "upsample", ups, 2, &st);
  if (st) return st;
  s->leaky_slope = ps_json_num(arch, "leaky_slope", 0.01);
  s->norm_eps = ps_json_num(arch, "norm_eps", 1e-5);
  s->bn_momentum = ps_json_num(arch, "bn_momentum", 0.1);
  s->conv_bias = ps_json_bool(arch, "conv_bias", true);
  s->residual = ps_json_bool(arch, "residual", false);
  s->deep_supervision = ps_json_bool(arch, "deep_supervision", false);
  if (!(s->norm_eps > 0)) return ps_error(PS_ERR_INVALID, "arch: norm_eps must be > 0");
  return PS_OK;
}

static cJSON *int_array(const int *v, int n) { return cJSON_CreateIntArray(v, n); }

cJSON *ps_arch_to_json(const ps_arch_spec *s) {
  static const char *const norms[] = {"none", "instance", "batch"};
  static const char *const acts[] = {"relu", "leaky_relu"};
  static const char *const downs[] = {"maxpool", "strided_conv"};
  static const char *const ups[] = {"transposed_conv", "trilinear_conv"};
  int S = s->stages;
  cJSON *j = cJSON_CreateObject();
  cJSON_AddStringToObject(j, "family", "unet");
  cJSON_AddNumberToObject(j, "stages", S);
  cJSON_AddNumberToObject(j, "base_features", s->base_features);
  cJSON_AddNumberToObject(j, "feature_multiplier", s->feature_multiplier);
  cJSON_AddNumberToObject(j, "max_features", s->max_features);
  cJSON_AddItemToObject(j, "features", int_array(s->features, S));
  cJSON_AddItemToObject(j, "convs_per_stage_encoder", int_array(s->convs_enc, S));
  cJSON_AddItemToObject(j, "convs_per_stage_decoder", int_array(s->convs_dec, S - 1));
  cJSON *k = cJSON_AddArrayToObject(j, "kernel_sizes");
  cJSON *st = cJSON_AddArrayToObject(j, "strides");
  for (int i = 0; i < S; i++) {
    cJSON_AddItemToArray(k, int_array(s->kernel[i], 3));
    cJSON_AddItemToArray(st, int_array(s->stride[i], 3));
  }
  cJSON_AddStringToObject(j, "norm", norms[s->norm]);
  cJSON_AddStringToObject(j, "activation", acts[s->act]);
  cJSON_AddNumberToObject(j, "leaky_slope", s->leaky_slope);
  cJSON_AddBoolToObject(j, "conv_bias", s->conv_bias);
  cJSON_AddNumberToObject(j, "norm_eps", s->norm_eps);
  cJSON_AddNumberToObject(j, "bn_momentum", s->bn_momentum);
  cJSON_AddStringToObject(j, "downsample", downs[s->down]);
  cJSON_AddStringToObject(j, "upsample", ups[s->up]);
  cJSON_AddBoolToObject(j, "residual", s->residual);
  cJSON_AddBoolToObject(j, "deep_supervision", s->deep_supervision);
  return j;
}

ps_status ps_unet_arch_resolve(const cJSON *arch, cJSON **out) {
  *out = NULL;
  ps_arch_spec s;
  ps_status st = ps_arch_parse(arch, &s);
  if (st) return st;
  *out = ps_arch_to_json(&s);
  return *out ? PS_OK : ps_error(PS_ERR_NOMEM, "out of memory");
}

