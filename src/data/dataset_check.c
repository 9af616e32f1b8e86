/* Dataset checker: scans every case (headers first, then voxel values) and
 * reports modalities, labels, median shape and spacing, and every problem
 * found as {case, file, problem}, so one run lists all that is wrong. */
#include "dataset_internal.h"
#include "nifti_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void add_problem(cJSON *problems, const char *case_id, const char *file, const char *msg) {
  cJSON *p = cJSON_CreateObject();
  cJSON_AddStringToObject(p, "case", case_id ? case_id : "");
  cJSON_AddStringToObject(p, "file", file ? file : "");
  cJSON_AddStringToObject(p, "problem", msg);
  cJSON_AddItemToArray(problems, p);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, int n) {
  if (n == 0) return 0;
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static double spacing_axis(const ps_nifti_hdr *h, int axis) {
  double p = fabs(h->info.pixdim[axis]);
  return isfinite(p) && p > 0 ? p : 1.0;
}

/* Header-level checks of one case; returns 1 when its files agree enough to read voxels. */
static int check_headers(const ps_dataset *d, const ps_dataset_case *c, cJSON *problems, ps_nifti_hdr *first) {
  int ok = 1;
  for (int f = 0; f < c->n_files; f++) {
    ps_nifti_hdr h;
    if (ps_nifti_parse(c->files[f], &h, 1) != PS_OK) {
      add_problem(problems, c->id, c->files[f], ps_path_exists(c->files[f]) ? ps_last_error() : "missing file");
      ok = 0;
      continue;
    }
    int64_t ch = h.info.dim[0] >= 4 ? h.info.dim[4] : 1;
    int64_t want = c->n_files == 1 ? d->n_channels : 1;
    if (ch != want) {
      char *m = ps_strfmt("%lld channels, expected %lld", (long long)ch, (long long)want);
      add_problem(problems, c->id, c->files[f], m ? m : "channel count");
      free(m);
      ok = 0;
    }
    if (f == 0) *first = h;
    else if (ok) {
      if (memcmp(h.info.dim + 1, first->info.dim + 1, 3 * sizeof(int64_t))) {
        add_problem(problems, c->id, c->files[f], "shape differs from channel 0");
        ok = 0;
      } else if (!ps_affine_close(h.affine, first->affine, 1e-3)) {
        add_problem(problems, c->id, c->files[f], "affine differs from channel 0");
        ok = 0;
      }
    }
  }
  if (!ok || !c->label) return ok;
  ps_nifti_hdr lh;
  if (ps_nifti_parse(c->label, &lh, 1) != PS_OK) {
    add_problem(problems, c->id, c->label, ps_path_exists(c->label) ? ps_last_error() : "missing file");
    return 0;
  }
  if (memcmp(lh.info.dim + 1, first->info.dim + 1, 3 * sizeof(int64_t)) || (lh.info.dim[0] >= 4 && lh.info.dim[4] > 1)) {
    char *m = ps_strfmt("label shape (i,j,k) %lldx%lldx%lld differs from image %lldx%lldx%lld", (long long)lh.info.dim[1],
                        (long long)lh.info.dim[2], (long long)lh.info.dim[3], (long long)first->info.dim[1],
                        (long long)first->info.dim[2], (long long)first->info.dim[3]);
    add_problem(problems, c->id, c->label, m ? m : "label shape differs from image");
    free(m);
    return 0;
  }
  if (!ps_affine_close(lh.affine, first->affine, 1e-3)) {
    add_problem(problems, c->id, c->label, "label affine differs from the image's");
    return 0;
  }
  return 1;
}

static cJSON *int_triplet(int64_t a, int64_t b, int64_t c) {
  double v[3] = {(double)a, (double)b, (double)c};
  return cJSON_CreateDoubleArray(v, 3);
}

ps_status ps_dataset_check(const ps_dataset *d, cJSON **report) {
  if (!d || !report) return ps_error(PS_ERR_INVALID, "ps_dataset_check: NULL argument");
  cJSON *r = cJSON_CreateObject();
  cJSON_AddStringToObject(r, "format", d->format);
  cJSON_AddStringToObject(r, "name", d->name);
  cJSON_AddStringToObject(r, "root", d->root);
  cJSON_AddNumberToObject(r, "n_cases", d->n_cases);
  cJSON_AddNumberToObject(r, "n_test", d->n_test);
  cJSON *mods = cJSON_AddArrayToObject(r, "modalities");
  for (int c = 0; c < d->n_channels; c++) cJSON_AddItemToArray(mods, cJSON_CreateString(d->channels[c]));
  cJSON *labs = cJSON_AddObjectToObject(r, "labels");
  for (int k = 0; k < d->n_labels; k++) {
    char key[16];
    snprintf(key, sizeof key, "%d", d->label_ids[k]);
    cJSON_AddStringToObject(labs, key, d->label_names[k]);
  }
  cJSON_AddNumberToObject(r, "n_classes", d->n_classes);
  cJSON *cases = cJSON_AddArrayToObject(r, "cases");
  cJSON *problems = cJSON_CreateArray();
  if (d->num_training_declared >= 0 && d->num_training_declared != d->n_cases) {
    char *m = ps_strfmt("numTraining is %d but %d training cases were found", d->num_training_declared, d->n_cases);
    add_problem(problems, "", "dataset.json", m ? m : "numTraining mismatch");
    free(m);
  }
  for (int k = 0; k < d->n_labels; k++)
    if (d->label_ids[k] != k) {
      add_problem(problems, "", "dataset.json", "label ids are not consecutive from 0");
      break;
    }
  int n = d->n_cases;
  double *sp = calloc((size_t)(3 * (n ? n : 1)), sizeof *sp), *sh = calloc((size_t)(3 * (n ? n : 1)), sizeof *sh);
  if (!sp || !sh || !r || !problems) {
    free(sp); free(sh); cJSON_Delete(r); cJSON_Delete(problems);
    return ps_error(PS_ERR_NOMEM, "out of memory");
  }
  /* pass 1: headers of every case (cheap, finds most problems) */
  unsigned char *hdr_ok = calloc((size_t)(n ? n : 1), 1);
  if (!hdr_ok) {
    free(sp); free(sh); cJSON_Delete(r); cJSON_Delete(problems);
    return ps_error(PS_ERR_NOMEM, "out of memory");
  }
  int m = 0;
  for (int i = 0; i < n; i++) {
    const ps_dataset_case *c = &d->cases[i];
    ps_nifti_hdr h;
    if (!check_headers(d, c, problems, &h)) continue;
    hdr_ok[i] = 1;
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "id", c->id);
    int64_t D = h.info.dim[0] >= 3 ? h.info.dim[3] : 1;
    int64_t H = h.info.dim[0] >= 2 ? h.info.dim[2] : 1, W = h.info.dim[1];
    cJSON_AddItemToObject(e, "shape", int_triplet(D, H, W));
    double s3[3] = {spacing_axis(&h, 3), spacing_axis(&h, 2), spacing_axis(&h, 1)};
    cJSON_AddItemToObject(e, "spacing", cJSON_CreateDoubleArray(s3, 3));
    cJSON_AddStringToObject(e, "datatype", ps_nifti_datatype_name(h.info.datatype));
    cJSON_AddStringToObject(e, "orientation", h.info.orientation);
    cJSON_AddItemToArray(cases, e);
    sh[3 * m] = (double)D; sh[3 * m + 1] = (double)H; sh[3 * m + 2] = (double)W;
    memcpy(sp + 3 * m, s3, sizeof s3);
    m++;
  }
  /* pass 2: voxel values (label range, declared ids) of the cases whose headers agree */
  for (int i = 0; i < n; i++) {
    if (!hdr_ok[i]) continue;
    const ps_dataset_case *c = &d->cases[i];
    ps_volume img;
    ps_labelmap lab;
    ps_status st = ps_dataset_load_case(d, i, &img, &lab, NULL);
    if (st != PS_OK) {
      add_problem(problems, c->id, c->label, ps_last_error());
      if (st == PS_ERR_NOMEM) break;
      continue;
    }
    ps_volume_free(&img);
    ps_labelmap_free(&lab);
  }
  free(hdr_ok);
  double med_sh[3], med_sp[3];
  for (int a = 0; a < 3; a++) {
    double *col = malloc(sizeof(double) * (size_t)(m ? m : 1));
    for (int i = 0; col && i < m; i++) col[i] = sh[3 * i + a];
    med_sh[a] = col ? median(col, m) : 0;
    for (int i = 0; col && i < m; i++) col[i] = sp[3 * i + a];
    med_sp[a] = col ? median(col, m) : 0;
    free(col);
  }
  free(sp);
  free(sh);
  cJSON_AddItemToObject(r, "median_shape", cJSON_CreateDoubleArray(med_sh, 3));
  cJSON_AddItemToObject(r, "median_spacing", cJSON_CreateDoubleArray(med_sp, 3));
  cJSON_AddBoolToObject(r, "ok", cJSON_GetArraySize(problems) == 0);
  cJSON_AddItemToObject(r, "problems", problems);
  *report = r;
  return PS_OK;
}
