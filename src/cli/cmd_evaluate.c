/* proxyseg evaluate: Dice / HD95 / volumes per case and class between a
 * folder of predicted and a folder of reference NIfTI label maps (matched by
 * file name); writes FILE.json and FILE.csv atomically. NaN (absent from both,
 * or HD95 with an empty mask) is null in JSON, empty in CSV, and excluded from means. */
#include "cli.h"
#include "proxyseg/json.h"
#include "proxyseg/metrics.h"
#include "proxyseg/nifti.h"
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
  fprintf(f, "usage: proxyseg evaluate --pred DIR --truth DIR --out FILE.json [--hd95] [--labels 1,2]\n"
             "  Matches .nii/.nii.gz files by name; every reference file needs a prediction.\n"
             "  --labels: classes to score (default: every non-zero label found).\n"
             "  Dice of a class absent from both is NaN (null) and excluded from means (nnU-Net);\n"
             "  HD95 (mm, 95th percentile of symmetric surface distances) is null when a mask is empty.\n"
             "  Also writes FILE.csv (one row per case and class) and, in FILE's folder, nnU-Net v2's summary.json\n"
             "  (metric_per_case, mean, foreground_mean; Dice, IoU, TP/FP/FN/TN, n_pred, n_ref; NaN as null).\n");
}

static bool is_nifti(const char *n) {
  size_t l = strlen(n);
  return (l > 4 && !strcmp(n + l - 4, ".nii")) || (l > 7 && !strcmp(n + l - 7, ".nii.gz"));
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static ps_status list_nifti(const char *dir, char ***out, int *n) {
  DIR *d = opendir(dir);
  if (!d) return ps_error(PS_ERR_IO, "%s: cannot open folder", dir);
  char **v = NULL;
  int cnt = 0, cap = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.' || !is_nifti(e->d_name)) continue;
    if (cnt == cap) {
      cap = cap ? 2 * cap : 64;
      char **nv = realloc(v, (size_t)cap * sizeof *v);
      if (!nv) { closedir(d); for (int i = 0; i < cnt; i++) free(v[i]); free(v); return ps_error(PS_ERR_NOMEM, "out of memory"); }
      v = nv;
    }
    v[cnt++] = ps_strdup(e->d_name);
  }
  closedir(d);
  if (cnt) qsort(v, (size_t)cnt, sizeof *v, cmp_str);
  *out = v; *n = cnt;
  return PS_OK;
}

static cJSON *num_or_null(double x) { return isfinite(x) ? cJSON_CreateNumber(x) : cJSON_CreateNull(); }

typedef struct { char name[256]; ps_class_metrics m[256]; bool present[256]; int64_t voxels; } case_res;

static ps_status parse_labels(const char *s, bool *sel) {
  const char *p = s;
  while (*p) {
    char *end;
    long v = strtol(p, &end, 10);
    if (end == p || v < 1 || v > 255) return ps_error(PS_ERR_INVALID, "--labels '%s': expected comma-separated class ids 1..255", s);
    sel[v] = true;
    p = *end == ',' ? end + 1 : end;
    if (*end && *end != ',') return ps_error(PS_ERR_INVALID, "--labels '%s': expected comma-separated class ids 1..255", s);
  }
  return PS_OK;
}

static void csv_num(FILE *f, double x) { if (isfinite(x)) fprintf(f, ",%.17g", x); else fputc(',', f); }

/* nnU-Net v2's summary.json (nnunetv2/evaluation/evaluate_predictions.py):
 * metric_per_case [{reference_file, prediction_file, metrics: {"1": {Dice, IoU,
 * FP, TP, FN, TN, n_pred, n_ref}}}], mean (NaN-skipping mean over cases per
 * label) and foreground_mean (mean of the labels' means). NaN is null. */
static const char *nn_keys[] = {"Dice", "IoU", "FP", "TP", "FN", "TN", "n_pred", "n_ref"};
enum { N_NN_KEYS = 8 };

static double nn_metric(const ps_class_metrics *m, int k) {
  switch (k) {
  case 0: return m->dice;
  case 1: return m->iou;
  case 2: return (double)m->fp;
  case 3: return (double)m->tp;
  case 4: return (double)m->fn;
  case 5: return (double)m->tn;
  case 6: return (double)m->n_pred;
  default: return (double)m->n_ref;
  }
}

static cJSON *nnunet_summary(const case_res *res, int n, const bool *seen, const char *pred, const char *truth) {
  cJSON *root = cJSON_CreateObject(), *per = cJSON_AddArrayToObject(root, "metric_per_case");
  for (int c = 0; c < n; c++) {
    cJSON *e = cJSON_CreateObject();
    char *rp = ps_path_join(truth, res[c].name), *pp = ps_path_join(pred, res[c].name);
    cJSON_AddStringToObject(e, "reference_file", rp ? rp : "");
    cJSON_AddStringToObject(e, "prediction_file", pp ? pp : "");
    free(rp); free(pp);
    cJSON *ms = cJSON_AddObjectToObject(e, "metrics");
    for (int l = 1; l < 256; l++) {
      if (!seen[l]) continue;
      char key[8];
      snprintf(key, sizeof key, "%d", l);
      cJSON *o = cJSON_AddObjectToObject(ms, key);
      for (int k = 0; k < N_NN_KEYS; k++) cJSON_AddItemToObject(o, nn_keys[k], num_or_null(nn_metric(&res[c].m[l], k)));
    }
    cJSON_AddItemToArray(per, e);
  }
  cJSON *mean = cJSON_AddObjectToObject(root, "mean");
  double fsum[N_NN_KEYS] = {0};
  int n_lab = 0;
  for (int l = 1; l < 256; l++) {
    if (!seen[l]) continue;
    char key[8];
    snprintf(key, sizeof key, "%d", l);
    cJSON *o = cJSON_AddObjectToObject(mean, key);
    for (int k = 0; k < N_NN_KEYS; k++) {
      double s = 0;
      int cnt = 0;
      for (int c = 0; c < n; c++) {
        double v = nn_metric(&res[c].m[l], k);
        if (isfinite(v)) { s += v; cnt++; }
      }
      double mv = cnt ? s / cnt : NAN; /* numpy's nanmean of all-NaN is NaN */
      cJSON_AddItemToObject(o, nn_keys[k], num_or_null(mv));
      fsum[k] += mv; /* np.mean over labels: one NaN label mean makes it NaN */
    }
    n_lab++;
  }
  cJSON *fm = cJSON_AddObjectToObject(root, "foreground_mean");
  for (int k = 0; k < N_NN_KEYS; k++) cJSON_AddItemToObject(fm, nn_keys[k], num_or_null(n_lab ? fsum[k] / n_lab : NAN));
  return root;
}

/* summary.json in the folder of `out` */
static char *summary_path(const char *out) {
  const char *slash = strrchr(out, '/');
  return slash ? ps_strfmt("%.*s/summary.json", (int)(slash - out), out) : ps_strdup("summary.json");
}

int cmd_evaluate(int argc, char **argv) {
  const char *pred = NULL, *truth = NULL, *out = NULL, *labels = NULL;
  bool hd95 = false;
  static const struct option opts[] = {{"pred", required_argument, 0, 'p'}, {"truth", required_argument, 0, 't'},
                                       {"out", required_argument, 0, 'o'},  {"labels", required_argument, 0, 'l'},
                                       {"hd95", no_argument, 0, 'H'},       {0, 0, 0, 0}};
  int c, rc = 0;
  optind = 1;
  while ((c = ps_cli_getopt("evaluate", argc, argv, opts, usage, &rc)) != -1) {
    if (c == PS_CLI_RETURN) return rc;
    if (c == 'p') pred = optarg;
    else if (c == 't') truth = optarg;
    else if (c == 'o') out = optarg;
    else if (c == 'l') labels = optarg;
    else if (c == 'H') hd95 = true;
  }
  if ((rc = ps_cli_no_positional("evaluate", argc, argv))) return rc;
  if (!pred || !truth || !out) {
    fprintf(stderr, "proxyseg evaluate: --pred, --truth and --out are required\n");
    usage(stderr);
    return 2;
  }
  {
    const char *b = strrchr(out, '/');
    if (!strcmp(b ? b + 1 : out, "summary.json")) {
      fprintf(stderr, "proxyseg evaluate: --out %s: summary.json is nnU-Net's file, written beside --out; choose another name\n", out);
      return 2;
    }
  }
  bool sel[256] = {false}, fixed = labels != NULL;
  ps_status st = PS_OK;
  if (labels && (st = parse_labels(labels, sel)) != PS_OK) return ps_cli_fail("evaluate", st);

  char **names = NULL;
  int n = 0;
  if ((st = list_nifti(truth, &names, &n)) != PS_OK) return ps_cli_fail("evaluate", st);
  if (n == 0) { free(names); return ps_cli_fail("evaluate", ps_error(PS_ERR_DATA, "%s: no .nii/.nii.gz files", truth)); }
  case_res *res = calloc((size_t)n, sizeof *res);
  if (!res) st = ps_error(PS_ERR_NOMEM, "out of memory");
  bool seen[256] = {false};
  for (int c = 0; c < n && st == PS_OK; c++) {
    char *tp = ps_path_join(truth, names[c]), *pp = ps_path_join(pred, names[c]);
    ps_labelmap lt = {0}, lp = {0};
    if (!ps_path_exists(pp)) st = ps_error(PS_ERR_DATA, "%s: missing prediction for reference %s", pp, tp);
    if (st == PS_OK) st = ps_nifti_read_labels(tp, &lt, NULL);
    if (st == PS_OK) st = ps_nifti_read_labels(pp, &lp, NULL);
    if (st == PS_OK && (lt.d != lp.d || lt.h != lp.h || lt.w != lp.w))
      st = ps_error(PS_ERR_DATA, "%s: shape %lldx%lldx%lld differs from the reference's %lldx%lldx%lld", pp,
                    (long long)lp.w, (long long)lp.h, (long long)lp.d, (long long)lt.w, (long long)lt.h, (long long)lt.d);
    if (st == PS_OK) {
      for (int a = 0; a < 3; a++)
        if (fabs(lt.spacing[a] - lp.spacing[a]) > 1e-3 * fabs(lt.spacing[a]))
          ps_warn("%s: spacing differs from the reference's; using the reference's", pp);
      bool here[256] = {false};
      size_t nv = (size_t)(lt.d * lt.h * lt.w);
      res[c].voxels = (int64_t)nv;
      for (size_t i = 0; i < nv; i++) { here[lt.data[i]] = true; here[lp.data[i]] = true; }
      int cls[255], k = 0;
      for (int l = 1; l < 256; l++)
        if (fixed ? sel[l] : here[l]) { cls[k++] = l; seen[l] = true; }
      ps_class_metrics m[255];
      st = ps_metrics_compute(&lp, &lt, cls, k, hd95, m);
      snprintf(res[c].name, sizeof res[c].name, "%s", names[c]);
      for (int j = 0; j < k && st == PS_OK; j++) { res[c].m[cls[j]] = m[j]; res[c].present[cls[j]] = true; }
      ps_info("evaluate %s (%d/%d)", names[c], c + 1, n);
    }
    if (st != PS_OK) ps_error_prefix(st, "case %s: ", names[c]);
    ps_labelmap_free(&lt); ps_labelmap_free(&lp);
    free(tp); free(pp);
  }
  cJSON *root = NULL;
  if (st == PS_OK) {
    if (fixed) memcpy(seen, sel, sizeof seen);
    root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "pred", pred);
    cJSON_AddStringToObject(root, "truth", truth);
    cJSON_AddBoolToObject(root, "hd95", hd95);
    cJSON *jl = cJSON_AddArrayToObject(root, "labels");
    for (int l = 1; l < 256; l++) if (seen[l]) cJSON_AddItemToArray(jl, cJSON_CreateNumber(l));
    cJSON *jc = cJSON_AddArrayToObject(root, "cases");
    double fsum_d = 0, fsum_h = 0; int fn_d = 0, fn_h = 0;
    cJSON *jm = cJSON_AddObjectToObject(root, "mean");
    for (int c = 0; c < n; c++) {
      cJSON *e = cJSON_CreateObject();
      cJSON_AddStringToObject(e, "case", res[c].name);
      cJSON *cls = cJSON_AddObjectToObject(e, "classes");
      for (int l = 1; l < 256; l++) {
        if (!seen[l]) continue;
        if (!res[c].present[l]) { /* absent from both files: empty-empty */
          memset(&res[c].m[l], 0, sizeof res[c].m[l]);
          res[c].m[l].dice = NAN; res[c].m[l].hd95 = NAN; res[c].m[l].iou = NAN;
          res[c].m[l].tn = res[c].voxels;
        }
        const ps_class_metrics *m = &res[c].m[l];
        char key[8];
        snprintf(key, sizeof key, "%d", l);
        cJSON *o = cJSON_AddObjectToObject(cls, key);
        cJSON_AddItemToObject(o, "dice", num_or_null(m->dice));
        if (hd95) cJSON_AddItemToObject(o, "hd95", num_or_null(m->hd95));
        cJSON_AddNumberToObject(o, "tp", (double)m->tp);
        cJSON_AddNumberToObject(o, "fp", (double)m->fp);
        cJSON_AddNumberToObject(o, "fn", (double)m->fn);
        cJSON_AddNumberToObject(o, "n_pred", (double)m->n_pred);
        cJSON_AddNumberToObject(o, "n_ref", (double)m->n_ref);
        cJSON_AddNumberToObject(o, "vol_pred_mm3", m->vol_pred_mm3);
        cJSON_AddNumberToObject(o, "vol_ref_mm3", m->vol_ref_mm3);
      }
      cJSON_AddItemToArray(jc, e);
    }
    for (int l = 1; l < 256; l++) {
      if (!seen[l]) continue;
      double sd = 0, sh = 0; int nd = 0, nh = 0;
      for (int c = 0; c < n; c++) {
        if (isfinite(res[c].m[l].dice)) { sd += res[c].m[l].dice; nd++; }
        if (isfinite(res[c].m[l].hd95)) { sh += res[c].m[l].hd95; nh++; }
      }
      char key[8];
      snprintf(key, sizeof key, "%d", l);
      cJSON *o = cJSON_AddObjectToObject(jm, key);
      cJSON_AddItemToObject(o, "dice", num_or_null(nd ? sd / nd : NAN));
      cJSON_AddNumberToObject(o, "n_dice", nd);
      if (hd95) { cJSON_AddItemToObject(o, "hd95", num_or_null(nh ? sh / nh : NAN)); cJSON_AddNumberToObject(o, "n_hd95", nh); }
      if (nd) { fsum_d += sd / nd; fn_d++; }
      if (nh) { fsum_h += sh / nh; fn_h++; }
    }
    cJSON *fm = cJSON_AddObjectToObject(root, "foreground_mean"); /* mean of the per-class means */
    cJSON_AddItemToObject(fm, "dice", num_or_null(fn_d ? fsum_d / fn_d : NAN));
    if (hd95) cJSON_AddItemToObject(fm, "hd95", num_or_null(fn_h ? fsum_h / fn_h : NAN));
    st = ps_json_write(out, root);
  }
  if (st == PS_OK) { /* CSV next to the JSON */
    size_t l = strlen(out);
    char *csv = (l > 5 && !strcmp(out + l - 5, ".json")) ? ps_strfmt("%.*s.csv", (int)(l - 5), out) : ps_strfmt("%s.csv", out);
    ps_atomic_file *af = NULL;
    FILE *f = NULL;
    st = ps_atomic_open(csv, &af, &f);
    if (st == PS_OK) {
      fprintf(f, "case,label,dice,hd95,tp,fp,fn,n_pred,n_ref,vol_pred_mm3,vol_ref_mm3\n");
      for (int c = 0; c < n; c++)
        for (int lb = 1; lb < 256; lb++) {
          if (!seen[lb]) continue;
          const ps_class_metrics *m = &res[c].m[lb];
          fprintf(f, "%s,%d", res[c].name, lb);
          csv_num(f, m->dice); csv_num(f, m->hd95);
          fprintf(f, ",%lld,%lld,%lld,%lld,%lld", (long long)m->tp, (long long)m->fp, (long long)m->fn, (long long)m->n_pred, (long long)m->n_ref);
          csv_num(f, m->vol_pred_mm3); csv_num(f, m->vol_ref_mm3);
          fputc('\n', f);
        }
      st = ps_atomic_commit(af);
    }
    free(csv);
  }
  char *sum_path = summary_path(out);
  if (st == PS_OK) { /* nnU-Net's summary.json beside them */
    cJSON *sum = nnunet_summary(res, n, seen, pred, truth);
    st = ps_json_write(sum_path, sum);
    cJSON_Delete(sum);
  }
  if (st == PS_OK && root) {
    const cJSON *fd = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "foreground_mean"), "dice");
    ps_info("evaluate: %d cases, foreground mean Dice %s%.4f -> %s (and .csv, nnU-Net's %s)", n, cJSON_IsNumber(fd) ? "" : "(none) ",
            cJSON_IsNumber(fd) ? fd->valuedouble : 0.0, out, sum_path);
  }
  cJSON_Delete(root);
  free(sum_path);
  for (int i = 0; i < n; i++) free(names[i]);
  free(names);
  free(res);
  return st == PS_OK ? 0 : ps_cli_fail("evaluate", st);
}
