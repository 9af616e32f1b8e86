/* The preprocessing plan (ps_plan ⇄ JSON) and the per-case pipeline with its
 * inverse: reorient → crop → normalise → resample, recording in case
 * properties what is needed to put a prediction back on the original grid. */
#include "proxyseg/preprocess.h"
#include "proxyseg/json.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *scheme_name(ps_norm_scheme s) { return s == PS_NORM_CT ? "CT" : s == PS_NORM_NONE ? "none" : "zscore"; }

static cJSON *num_array(const double *x, int n) {
  cJSON *a = cJSON_CreateArray();
  for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(x[i]));
  return a;
}
static cJSON *int_array(const int64_t *x, int n) {
  cJSON *a = cJSON_CreateArray();
  for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber((double)x[i]));
  return a;
}
/* Read exactly n numbers from obj[key]; PS_ERR_DATA naming the key otherwise. */
static ps_status arr_nums(const cJSON *a, const char *key, double *x, int n) {
  if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != n) return ps_error(PS_ERR_DATA, "plan: \"%s\" must be an array of %d numbers", key, n);
  for (int i = 0; i < n; i++) {
    const cJSON *e = cJSON_GetArrayItem(a, i);
    if (!cJSON_IsNumber(e) || !isfinite(e->valuedouble)) return ps_error(PS_ERR_DATA, "plan: \"%s\"[%d] is not a finite number", key, i);
    x[i] = e->valuedouble;
  }
  return PS_OK;
}
static ps_status get_nums(const cJSON *obj, const char *key, double *x, int n) {
  return arr_nums(cJSON_GetObjectItemCaseSensitive(obj, key), key, x, n);
}
static ps_status get_ints(const cJSON *obj, const char *key, int64_t *x, int n) {
  double t[16];
  ps_status st = get_nums(obj, key, t, n);
  for (int i = 0; i < n && !st; i++) x[i] = (int64_t)llround(t[i]);
  return st;
}

cJSON *ps_plan_to_json(const ps_plan *p) {
  cJSON *j = cJSON_CreateObject();
  cJSON_AddItemToObject(j, "target_spacing", num_array(p->target_spacing, 3));
  cJSON_AddNumberToObject(j, "n_channels", p->n_channels);
  cJSON_AddNumberToObject(j, "n_classes", p->n_classes);
  cJSON_AddNumberToObject(j, "interp_image", p->interp_image);
  cJSON_AddNumberToObject(j, "interp_label", p->interp_label);
  cJSON_AddBoolToObject(j, "crop_nonzero", p->crop_nonzero);
  cJSON *a = cJSON_AddArrayToObject(j, "normalization");
  for (int c = 0; c < p->n_channels; c++) {
    const ps_norm_params *n = &p->norm[c];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "scheme", scheme_name(n->scheme));
    cJSON_AddBoolToObject(o, "nonzero_mask", n->nonzero_mask);
    if (n->scheme == PS_NORM_CT) {
      cJSON_AddNumberToObject(o, "clip_lo", n->clip_lo);
      cJSON_AddNumberToObject(o, "clip_hi", n->clip_hi);
      cJSON_AddNumberToObject(o, "mean", n->mean);
      cJSON_AddNumberToObject(o, "std", n->std);
    }
    cJSON_AddItemToArray(a, o);
  }
  return j;
}

ps_status ps_plan_from_json(const cJSON *j, ps_plan *p) {
  memset(p, 0, sizeof *p);
  if (!cJSON_IsObject(j)) return ps_error(PS_ERR_DATA, "plan: not a JSON object");
  ps_status st = get_nums(j, "target_spacing", p->target_spacing, 3);
  if (st) return st;
  for (int s = 0; s < 3; s++)
    if (!(p->target_spacing[s] > 0)) return ps_error(PS_ERR_DATA, "plan: target_spacing must be positive");
  p->n_channels = ps_json_int(j, "n_channels", 1);
  p->n_classes = ps_json_int(j, "n_classes", 2);
  p->interp_image = ps_json_int(j, "interp_image", 3);
  p->interp_label = ps_json_int(j, "interp_label", 0);
  p->crop_nonzero = ps_json_bool(j, "crop_nonzero", true);
  if (p->n_channels < 1 || p->n_channels > PS_PLAN_MAX_CHANNELS) return ps_error(PS_ERR_DATA, "plan: n_channels %d outside 1..%d", p->n_channels, PS_PLAN_MAX_CHANNELS);
  if (p->n_classes < 2 || p->n_classes > 255) return ps_error(PS_ERR_DATA, "plan: n_classes %d outside 2..255", p->n_classes);
  if (p->interp_image != 0 && p->interp_image != 1 && p->interp_image != 3) return ps_error(PS_ERR_DATA, "plan: interp_image %d (use 0, 1 or 3)", p->interp_image);
  if (p->interp_label != 0) return ps_error(PS_ERR_DATA, "plan: interp_label %d (only 0, nearest, is implemented)", p->interp_label);
  const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "normalization");
  for (int c = 0; c < p->n_channels; c++) {
    ps_norm_params *n = &p->norm[c];
    n->scheme = PS_NORM_ZSCORE; n->nonzero_mask = true; n->std = 1;
    const cJSON *o = cJSON_IsArray(a) ? cJSON_GetArrayItem(a, c) : NULL;
    if (!o) continue;
    const char *s = ps_json_str(o, "scheme", "zscore");
    if (!strcmp(s, "CT")) n->scheme = PS_NORM_CT;
    else if (!strcmp(s, "none")) n->scheme = PS_NORM_NONE;
    else if (strcmp(s, "zscore")) return ps_error(PS_ERR_DATA, "plan: normalization[%d].scheme \"%s\" (use zscore, CT or none)", c, s);
    n->nonzero_mask = ps_json_bool(o, "nonzero_mask", true);
    n->clip_lo = ps_json_num(o, "clip_lo", -1e30);
    n->clip_hi = ps_json_num(o, "clip_hi", 1e30);
    n->mean = ps_json_num(o, "mean", 0);
    n->std = ps_json_num(o, "std", 1);
    if (n->scheme == PS_NORM_CT && !(n->clip_lo <= n->clip_hi && n->std > 0))
      return ps_error(PS_ERR_DATA, "plan: normalization[%d] CT needs clip_lo <= clip_hi and std > 0", c);
  }
  return PS_OK;
}

static cJSON *affine_json(const double A[4][4]) {
  cJSON *a = cJSON_CreateArray();
  for (int r = 0; r < 4; r++) cJSON_AddItemToArray(a, num_array(A[r], 4));
  return a;
}
static ps_status affine_from(const cJSON *props, const char *key, double A[4][4]) {
  const cJSON *a = cJSON_GetObjectItemCaseSensitive(props, key);
  if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != 4) return ps_error(PS_ERR_DATA, "case properties: \"%s\" must be a 4x4 array", key);
  for (int r = 0; r < 4; r++) {
    ps_status st = arr_nums(cJSON_GetArrayItem(a, r), key, A[r], 4);
    if (st) return st;
  }
  return PS_OK;
}

ps_status ps_preprocess_case(const cJSON *plan_json, ps_volume *img, ps_labelmap *lab, cJSON **case_props) {
  *case_props = NULL;
  ps_plan p;
  ps_status st = ps_plan_from_json(plan_json, &p);
  if (st) return st;
  if (img->c != p.n_channels) return ps_error(PS_ERR_DATA, "image has %lld channels, the plan %d", (long long)img->c, p.n_channels);
  if (lab && (lab->d != img->d || lab->h != img->h || lab->w != img->w))
    return ps_error(PS_ERR_DATA, "label shape %lldx%lldx%lld differs from image %lldx%lldx%lld", (long long)lab->d, (long long)lab->h,
                    (long long)lab->w, (long long)img->d, (long long)img->h, (long long)img->w);
  cJSON *pr = cJSON_CreateObject();
  int64_t shape0[3] = {img->d, img->h, img->w};
  cJSON_AddItemToObject(pr, "original_shape", int_array(shape0, 3));
  cJSON_AddItemToObject(pr, "original_spacing", num_array(img->spacing, 3));
  cJSON_AddItemToObject(pr, "original_affine", affine_json(img->affine));

  ps_orientation o;
  if ((st = ps_orientation_of_affine(img->affine, &o))) goto fail;
  cJSON *oj = cJSON_AddObjectToObject(pr, "orientation");
  cJSON_AddStringToObject(oj, "axes", o.axes_code);
  double sa[3] = {o.src_axis[0], o.src_axis[1], o.src_axis[2]}, fl[3] = {o.flip[0], o.flip[1], o.flip[2]};
  cJSON_AddItemToObject(oj, "src_axis", num_array(sa, 3));
  cJSON_AddItemToObject(oj, "flip", num_array(fl, 3));
  if ((st = ps_reorient_volume(img, &o, false))) goto fail;
  if (lab && (st = ps_reorient_labels(lab, &o, false))) goto fail;
  int64_t shape1[3] = {img->d, img->h, img->w};
  cJSON_AddItemToObject(pr, "shape_after_reorient", int_array(shape1, 3));
  cJSON_AddItemToObject(pr, "spacing_after_reorient", num_array(img->spacing, 3));

  int64_t lo[3] = {0, 0, 0}, hi[3] = {img->d, img->h, img->w};
  if (p.crop_nonzero) ps_nonzero_bbox(img, lo, hi);
  if ((st = ps_crop_volume(img, lo, hi))) goto fail;
  if (lab && (st = ps_crop_labels(lab, lo, hi))) goto fail;
  cJSON_AddItemToObject(pr, "crop_lo", int_array(lo, 3));
  cJSON_AddItemToObject(pr, "crop_hi", int_array(hi, 3));

  size_t n = (size_t)(img->d * img->h * img->w);
  uint8_t *mask = calloc(n, 1);
  if (!mask) { st = ps_error(PS_ERR_NOMEM, "preprocess: out of memory"); goto fail; }
  for (int64_t c = 0; c < img->c; c++)
    for (size_t i = 0; i < n; i++) mask[i] |= img->data[(size_t)c * n + i] != 0;
  for (int64_t c = 0; c < img->c && !st; c++) st = ps_normalize_channel(img, c, &p.norm[c], mask);
  free(mask);
  if (st) goto fail;

  int64_t cropped[3] = {img->d, img->h, img->w}, ns[3];
  double step[3];
  ps_resample_geometry(cropped, img->spacing, p.target_spacing, ns, step);
  if ((double)ns[0] * (double)ns[1] * (double)ns[2] * (double)img->c > (double)PS_VOLUME_MAX_VOXELS) {
    st = ps_error(PS_ERR_DATA,
                  "resampling %lldx%lldx%lld voxels of spacing %g,%g,%g mm to the target spacing %g,%g,%g mm would "
                  "give %.3g voxels, more than the %lld allowed: check the target spacing and the file's pixdim",
                  (long long)cropped[0], (long long)cropped[1], (long long)cropped[2], img->spacing[0],
                  img->spacing[1], img->spacing[2], p.target_spacing[0], p.target_spacing[1], p.target_spacing[2],
                  (double)ns[0] * (double)ns[1] * (double)ns[2] * (double)img->c, (long long)PS_VOLUME_MAX_VOXELS);
    goto fail;
  }
  ps_volume rv;
  if ((st = ps_resample_volume(img, ns, step, p.interp_image, &rv))) goto fail;
  ps_volume_free(img);
  *img = rv;
  if (lab) {
    ps_labelmap rl;
    if ((st = ps_resample_labels(lab, ns, step, &rl))) goto fail;
    ps_labelmap_free(lab);
    *lab = rl;
  }
  cJSON_AddItemToObject(pr, "shape_after_crop", int_array(cropped, 3));
  cJSON_AddItemToObject(pr, "resample_step", num_array(step, 3));
  cJSON_AddItemToObject(pr, "shape_after_resample", int_array(ns, 3));
  cJSON_AddItemToObject(pr, "spacing_after_resample", num_array(img->spacing, 3));
  *case_props = pr;
  return PS_OK;
fail:
  cJSON_Delete(pr);
  return st;
}

ps_status ps_preprocess_invert_labels(const cJSON *pr, const ps_labelmap *pred, ps_labelmap *out) {
  memset(out, 0, sizeof *out);
  int64_t shape0[3], shape1[3], lo[3], hi[3], cropped[3], ns[3];
  double step[3], sp0[3], sa[3], fl[3], A[4][4];
  ps_status st;
  if ((st = get_ints(pr, "original_shape", shape0, 3)) || (st = get_ints(pr, "shape_after_reorient", shape1, 3)) ||
      (st = get_ints(pr, "crop_lo", lo, 3)) || (st = get_ints(pr, "crop_hi", hi, 3)) ||
      (st = get_ints(pr, "shape_after_crop", cropped, 3)) || (st = get_ints(pr, "shape_after_resample", ns, 3)) ||
      (st = get_nums(pr, "resample_step", step, 3)) || (st = get_nums(pr, "original_spacing", sp0, 3)) ||
      (st = affine_from(pr, "original_affine", A)))
    return ps_error_prefix(st, "invert: ");
  const cJSON *oj = cJSON_GetObjectItemCaseSensitive(pr, "orientation");
  if ((st = get_nums(oj, "src_axis", sa, 3)) || (st = get_nums(oj, "flip", fl, 3))) return ps_error_prefix(st, "invert: orientation: ");
  if (pred->d != ns[0] || pred->h != ns[1] || pred->w != ns[2])
    return ps_error(PS_ERR_DATA, "invert: prediction %lldx%lldx%lld, preprocessed grid %lldx%lldx%lld", (long long)pred->d,
                    (long long)pred->h, (long long)pred->w, (long long)ns[0], (long long)ns[1], (long long)ns[2]);
  for (int s = 0; s < 3; s++)
    if (hi[s] - lo[s] != cropped[s] || lo[s] < 0 || hi[s] > shape1[s] || !(step[s] > 0))
      return ps_error(PS_ERR_DATA, "invert: inconsistent crop box or resample step on axis %d", s);
  double back[3] = {1 / step[0], 1 / step[1], 1 / step[2]};
  ps_labelmap rc;
  if ((st = ps_resample_labels(pred, cropped, back, &rc))) return st;
  if ((st = ps_labelmap_alloc(out, shape1[0], shape1[1], shape1[2]))) { ps_labelmap_free(&rc); return st; }
  for (int64_t k = 0; k < cropped[0]; k++)
    for (int64_t j = 0; j < cropped[1]; j++)
      memcpy(out->data + ((k + lo[0]) * shape1[1] + j + lo[1]) * shape1[2] + lo[2], rc.data + (k * cropped[1] + j) * cropped[2],
             (size_t)cropped[2]);
  ps_labelmap_free(&rc);
  ps_orientation o;
  for (int r = 0; r < 3; r++) { o.src_axis[r] = (int)sa[r]; o.flip[r] = fl[r] != 0; }
  o.axes_code[0] = 0;
  if ((st = ps_reorient_labels(out, &o, true))) { ps_labelmap_free(out); return st; }
  if (out->d != shape0[0] || out->h != shape0[1] || out->w != shape0[2]) {
    ps_labelmap_free(out);
    return ps_error(PS_ERR_DATA, "invert: reoriented shape does not match the original shape");
  }
  memcpy(out->affine, A, sizeof A);
  memcpy(out->spacing, sp0, sizeof sp0);
  return PS_OK;
}
