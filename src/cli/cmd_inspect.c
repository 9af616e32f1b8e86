/* proxyseg inspect PATH: a NIfTI file's header, geometry and intensity
 * statistics, or a dataset folder's check report, as JSON on stdout. */
#include "cli.h"
#include "proxyseg/json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxyseg/dataset.h"
#include "proxyseg/nifti.h"

static void swapf(float *a, float *b) { float t = *a; *a = *b; *b = t; }

/* k-th smallest of v[0..n) (v is reordered): quickselect with median-of-three. */
static float select_kth(float *v, int64_t n, int64_t k) {
  int64_t lo = 0, hi = n - 1;
  while (hi > lo) {
    int64_t mid = lo + (hi - lo) / 2;
    if (v[mid] < v[lo]) swapf(&v[mid], &v[lo]);
    if (v[hi] < v[lo]) swapf(&v[hi], &v[lo]);
    if (v[hi] < v[mid]) swapf(&v[hi], &v[mid]);
    float pivot = v[mid];
    int64_t i = lo, j = hi;
    while (i <= j) {
      while (v[i] < pivot) i++;
      while (v[j] > pivot) j--;
      if (i <= j) { swapf(&v[i], &v[j]); i++; j--; }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return v[k];
  }
  return v[k];
}

/* numpy-style linear-interpolated percentile */
static double percentile(float *v, int64_t n, double p) {
  double pos = p / 100.0 * (double)(n - 1);
  int64_t lo = (int64_t)floor(pos);
  double a = select_kth(v, n, lo);
  if (lo + 1 >= n) return a;
  float b = v[lo + 1];
  for (int64_t i = lo + 2; i < n; i++) if (v[i] < b) b = v[i];
  return a + ((double)b - a) * (pos - (double)lo);
}

static cJSON *stats_json(const ps_volume *v) {
  int64_t n = v->c * v->d * v->h * v->w, m = 0;
  float *f = malloc(sizeof(float) * (size_t)(n ? n : 1));
  if (!f) return NULL;
  double sum = 0, mn = INFINITY, mx = -INFINITY;
  for (int64_t i = 0; i < n; i++) {
    float x = v->data[i];
    if (!isfinite(x)) continue;
    f[m++] = x;
    sum += x;
    if (x < mn) mn = x;
    if (x > mx) mx = x;
  }
  cJSON *s = cJSON_CreateObject();
  cJSON_AddNumberToObject(s, "voxels", (double)n);
  cJSON_AddNumberToObject(s, "nonfinite", (double)(n - m));
  if (m > 0) {
    double mean = sum / (double)m, ss = 0;
    for (int64_t i = 0; i < m; i++) ss += ((double)f[i] - mean) * ((double)f[i] - mean);
    cJSON_AddNumberToObject(s, "min", mn);
    cJSON_AddNumberToObject(s, "max", mx);
    cJSON_AddNumberToObject(s, "mean", mean);
    cJSON_AddNumberToObject(s, "std", sqrt(ss / (double)m));
    cJSON_AddNumberToObject(s, "p0_5", percentile(f, m, 0.5));
    cJSON_AddNumberToObject(s, "p50", percentile(f, m, 50));
    cJSON_AddNumberToObject(s, "p99_5", percentile(f, m, 99.5));
  }
  free(f);
  return s;
}

static int inspect_nifti(const char *path) {
  ps_volume v;
  ps_nifti_info info;
  ps_status st = ps_nifti_read(path, &v, &info);
  if (st != PS_OK) return ps_cli_fail("inspect", st);
  cJSON *j = cJSON_CreateObject();
  cJSON_AddStringToObject(j, "path", path);
  cJSON_AddNumberToObject(j, "nifti_version", info.nifti_version);
  int nd = (int)info.dim[0];
  double shape[7], zooms[7];
  for (int i = 0; i < nd; i++) { shape[i] = (double)info.dim[i + 1]; zooms[i] = info.pixdim[i + 1]; }
  /* the file's own voxel order, labelled: proxyseg's arrays and plan.json are D,H,W = k,j,i */
  cJSON_AddStringToObject(j, "axes", nd > 3 ? "i,j,k,t (NIfTI voxel order, x,y,z fastest first)" : "i,j,k (NIfTI voxel order, x,y,z fastest first)");
  cJSON_AddItemToObject(j, "shape", cJSON_CreateDoubleArray(shape, nd));          /* i, j, k[, t] */
  cJSON_AddItemToObject(j, "spacing", cJSON_CreateDoubleArray(zooms, nd));        /* pixdim[1..] */
  cJSON_AddNumberToObject(j, "channels", (double)v.c);
  cJSON_AddStringToObject(j, "datatype", ps_nifti_datatype_name(info.datatype));
  cJSON_AddNumberToObject(j, "datatype_code", info.datatype);
  cJSON_AddNumberToObject(j, "scl_slope", info.scl_slope);
  cJSON_AddNumberToObject(j, "scl_inter", info.scl_inter);
  cJSON *aff = cJSON_AddArrayToObject(j, "affine");
  for (int r = 0; r < 4; r++) cJSON_AddItemToArray(aff, cJSON_CreateDoubleArray(v.affine[r], 4));
  cJSON_AddNumberToObject(j, "qform_code", info.qform_code);
  cJSON_AddNumberToObject(j, "sform_code", info.sform_code);
  cJSON_AddStringToObject(j, "orientation", info.orientation);
  cJSON_AddNumberToObject(j, "file_bytes", (double)info.file_bytes);
  cJSON *s = stats_json(&v);
  ps_volume_free(&v);
  if (!s) { cJSON_Delete(j); return ps_cli_fail("inspect", ps_error(PS_ERR_NOMEM, "out of memory")); }
  cJSON_AddItemToObject(j, "stats", s);
  char *txt = ps_json_print(j, true);
  cJSON_Delete(j);
  if (!txt) return ps_cli_fail("inspect", ps_error(PS_ERR_NOMEM, "out of memory"));
  puts(txt);
  free(txt);
  return 0;
}

static int inspect_dataset(const char *dir) {
  ps_dataset *d;
  ps_status st = ps_dataset_open(dir, &d);
  if (st != PS_OK) return ps_cli_fail("inspect", st);
  cJSON *r;
  st = ps_dataset_check(d, &r);
  ps_dataset_free(d);
  if (st != PS_OK) return ps_cli_fail("inspect", st);
  /* shapes and spacings of the check are proxyseg's array order, as in plan.json (inspect FILE: i,j,k) */
  cJSON_AddStringToObject(r, "axes", "D,H,W = z,y,x (proxyseg's array order, as plan.json; inspect FILE prints i,j,k)");
  char *txt = ps_json_print(r, true);
  int ok = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "ok"));
  cJSON_Delete(r);
  if (!txt) return ps_cli_fail("inspect", ps_error(PS_ERR_NOMEM, "out of memory"));
  puts(txt);
  free(txt);
  if (!ok) fprintf(stderr, "proxyseg inspect: %s: problems found (see \"problems\")\n", dir);
  return ok ? 0 : 3;
}

static void usage(FILE *f) {
  fprintf(f, "usage: proxyseg inspect PATH\n\n"
             "PATH a NIfTI file (.nii, .nii.gz): header, affine, orientation and intensity statistics.\n"
             "PATH a dataset folder (MSD or nnU-Net v2), or an nnU-Net id (4, Dataset004_Hippocampus) under\n"
             "     $nnUNet_raw: the dataset check report.\n"
             "Prints JSON on stdout; exit 3 on bad data.\n");
}

int cmd_inspect(int argc, char **argv) {
  int c, rc = 0;
  optind = 1;
  while ((c = ps_cli_getopt("inspect", argc, argv, NULL, usage, &rc)) != -1)
    if (c == PS_CLI_RETURN) return rc;
  if (argc - optind != 1) {
    fprintf(stderr, "proxyseg inspect: expected one PATH\n");
    usage(stderr);
    return 2;
  }
  const char *path = argv[optind];
  if (ps_path_exists(path)) return ps_is_dir(path) ? inspect_dataset(path) : inspect_nifti(path);
  char *dir = NULL; /* an nnU-Net dataset id under $nnUNet_raw? */
  ps_status st = ps_dataset_resolve(path, &dir);
  rc = st ? ps_cli_fail("inspect", st) : ps_is_dir(dir) ? inspect_dataset(dir) : inspect_nifti(path);
  free(dir);
  return rc;
}
