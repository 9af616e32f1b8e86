/* Plan creation from a dataset (nnU-Net's fingerprint + plan, in one step):
 * median spacing (after reorientation to RAS) as the target spacing, and for CT
 * channels the foreground intensity statistics over all training cases. */
#include "proxyseg/preprocess.h"
#include "proxyseg/dataset.h"
#include "proxyseg/json.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Foreground voxels sampled per case and CT channel (nnU-Net uses 10000 random ones). */
#define PS_FG_SAMPLES 20000

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}
static int cmp_float(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return (x > y) - (x < y);
}
static double median(double *x, int n) {
  qsort(x, (size_t)n, sizeof *x, cmp_double);
  return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}
static int is_ct_name(const char *s) { return s && (!strcmp(s, "CT") || !strcmp(s, "ct")); }

typedef struct {
  int64_t shape[3];
  double spacing[3];
  float *fg[PS_PLAN_MAX_CHANNELS]; /* sampled foreground intensities per CT channel */
  size_t nfg[PS_PLAN_MAX_CHANNELS];
} case_stats;

static ps_status scan_case(const ps_dataset *d, int i, const int *ct, case_stats *cs) {
  ps_volume img;
  ps_labelmap lab;
  ps_status st = ps_dataset_load_case(d, i, &img, &lab, NULL);
  if (st) return st;
  ps_orientation o;
  /* the file named: the message alone did not say which case (issue #14) */
  if ((st = ps_orientation_of_affine(img.affine, &o))) ps_error_prefix(st, "%s: ", ps_dataset_image_path(d, i, 0));
  else {
    int64_t dims[3] = {img.w, img.h, img.d}; /* per voxel axis i, j, k */
    double sp[3] = {img.spacing[2], img.spacing[1], img.spacing[0]};
    for (int r = 0; r < 3; r++) { /* RAS axis r is stored at D,H,W index 2 - r */
      cs->shape[2 - r] = dims[o.src_axis[r]];
      cs->spacing[2 - r] = sp[o.src_axis[r]];
    }
  }
  size_t n = (size_t)(img.d * img.h * img.w), nfg = 0;
  for (size_t v = 0; v < n; v++) nfg += lab.data[v] > 0;
  size_t stride = nfg > PS_FG_SAMPLES ? (nfg + PS_FG_SAMPLES - 1) / PS_FG_SAMPLES : 1;
  for (int64_t c = 0; c < img.c && !st; c++) {
    if (!ct[c] || nfg == 0) continue;
    cs->fg[c] = malloc((nfg / stride + 1) * sizeof(float));
    if (!cs->fg[c]) { st = ps_error(PS_ERR_NOMEM, "plan: out of memory"); break; }
    size_t seen = 0;
    for (size_t v = 0; v < n; v++)
      if (lab.data[v] > 0 && seen++ % stride == 0) cs->fg[c][cs->nfg[c]++] = img.data[(size_t)c * n + v];
  }
  ps_volume_free(&img);
  ps_labelmap_free(&lab);
  return st;
}

ps_status ps_plan_create(const ps_dataset *d, const cJSON *overrides, cJSON **plan) {
  *plan = NULL;
  int nc = ps_dataset_n_channels(d), ncase = ps_dataset_n_cases(d);
  if (nc < 1 || nc > PS_PLAN_MAX_CHANNELS) return ps_error(PS_ERR_DATA, "%s: %d channels (supported 1..%d)", ps_dataset_name(d), nc, PS_PLAN_MAX_CHANNELS);
  if (ncase < 1) return ps_error(PS_ERR_DATA, "%s: no training cases", ps_dataset_name(d));
  int ct[PS_PLAN_MAX_CHANNELS] = {0};
  for (int c = 0; c < nc; c++) ct[c] = is_ct_name(ps_dataset_channel_name(d, c));
  case_stats *cs = calloc((size_t)ncase, sizeof *cs);
  if (!cs) return ps_error(PS_ERR_NOMEM, "plan: out of memory");
  ps_status first = PS_OK;
  int first_i = ncase;
  char msg[512] = "";
#pragma omp parallel for schedule(dynamic, 1)
  for (int i = 0; i < ncase; i++) {
    ps_status s = scan_case(d, i, ct, &cs[i]);
    if (s) {
#pragma omp critical(ps_plan_err)
      if (i < first_i) { first = s; first_i = i; snprintf(msg, sizeof msg, "%s", ps_last_error()); }
    }
  }
  ps_status st = first ? ps_error(first, "%s", msg) : PS_OK;
  ps_plan p;
  memset(&p, 0, sizeof p);
  cJSON *j = NULL;
  if (!st) {
    p.n_channels = nc;
    p.n_classes = ps_dataset_n_classes(d);
    p.interp_image = 3;
    p.interp_label = 0;
    p.crop_nonzero = true;
    double *tmp = malloc((size_t)ncase * sizeof *tmp);
    if (!tmp) st = ps_error(PS_ERR_NOMEM, "plan: out of memory");
    for (int a = 0; a < 3 && !st; a++) {
      for (int i = 0; i < ncase; i++) tmp[i] = cs[i].spacing[a];
      p.target_spacing[a] = median(tmp, ncase);
    }
    free(tmp);
    for (int c = 0; c < nc && !st; c++) {
      ps_norm_params *n = &p.norm[c];
      n->scheme = ct[c] ? PS_NORM_CT : PS_NORM_ZSCORE;
      n->nonzero_mask = !ct[c];
      n->std = 1;
      if (!ct[c]) continue;
      size_t tot = 0, at = 0;
      for (int i = 0; i < ncase; i++) tot += cs[i].nfg[c];
      if (tot == 0) { st = ps_error(PS_ERR_DATA, "%s: CT channel %d has no foreground voxels in any case", ps_dataset_name(d), c); break; }
      float *all = malloc(tot * sizeof(float));
      if (!all) { st = ps_error(PS_ERR_NOMEM, "plan: out of memory"); break; }
      for (int i = 0; i < ncase; i++) { memcpy(all + at, cs[i].fg[c], cs[i].nfg[c] * sizeof(float)); at += cs[i].nfg[c]; }
      double s = 0, s2 = 0;
      for (size_t v = 0; v < tot; v++) s += all[v];
      n->mean = s / (double)tot;
      for (size_t v = 0; v < tot; v++) s2 += (all[v] - n->mean) * (all[v] - n->mean);
      n->std = sqrt(s2 / (double)tot);
      if (n->std < 1e-8) n->std = 1e-8;
      qsort(all, tot, sizeof(float), cmp_float);
      n->clip_lo = ps_percentile_sorted(all, tot, 0.5);
      n->clip_hi = ps_percentile_sorted(all, tot, 99.5);
      free(all);
    }
  }
  if (!st) {
    j = ps_plan_to_json(&p);
    cJSON_AddItemToObject(j, "median_spacing", cJSON_Duplicate(cJSON_GetObjectItem(j, "target_spacing"), 1));
    cJSON_AddStringToObject(j, "dataset", ps_dataset_name(d));
    cJSON *mods = cJSON_AddArrayToObject(j, "modalities");
    for (int c = 0; c < nc; c++) cJSON_AddItemToArray(mods, cJSON_CreateString(ps_dataset_channel_name(d, c)));
    cJSON *ca = cJSON_AddArrayToObject(j, "cases");
    for (int i = 0; i < ncase; i++) {
      cJSON *e = cJSON_CreateObject();
      cJSON_AddStringToObject(e, "id", ps_dataset_case_id(d, i));
      cJSON *sh = cJSON_AddArrayToObject(e, "shape"), *sp = cJSON_AddArrayToObject(e, "spacing");
      for (int a = 0; a < 3; a++) {
        cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)cs[i].shape[a]));
        cJSON_AddItemToArray(sp, cJSON_CreateNumber(cs[i].spacing[a]));
      }
      cJSON_AddItemToArray(ca, e);
    }
    if (overrides) ps_json_merge(j, overrides);
    ps_plan check;
    st = ps_plan_from_json(j, &check);
    if (st) { st = ps_error_prefix(st, "plan overrides: "); cJSON_Delete(j); j = NULL; }
  }
  for (int i = 0; i < ncase; i++)
    for (int c = 0; c < PS_PLAN_MAX_CHANNELS; c++) free(cs[i].fg[c]);
  free(cs);
  *plan = j;
  return st;
}
