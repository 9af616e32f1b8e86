/* Dice, volumes, TP/FP/FN and HD95 per class. The EDT is the separable
 * lower-envelope-of-parabolas algorithm (Felzenszwalb & Huttenlocher 2012),
 * exact for anisotropic spacing because each pass works in mm. */
#include "proxyseg/metrics.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* 1D squared-distance transform of f (n samples at spacing s) into d.
 * v, z: scratch of n ints and n+1 doubles. INFINITY entries are not sources. */
static void edt_1d(const double *f, double *d, int64_t n, double s, int64_t *v, double *z) {
  int64_t k = -1;
  for (int64_t q = 0; q < n; q++) {
    if (isinf(f[q])) continue;
    double xq = q * s;
    while (k >= 0) {
      double xv = v[k] * s;
      double sx = ((f[q] + xq * xq) - (f[v[k]] + xv * xv)) / (2 * (xq - xv));
      if (sx <= z[k]) k--;
      else { k++; v[k] = q; z[k] = sx; z[k + 1] = INFINITY; break; }
    }
    if (k < 0) { k = 0; v[0] = q; z[0] = -INFINITY; z[1] = INFINITY; }
  }
  if (k < 0) { for (int64_t q = 0; q < n; q++) d[q] = INFINITY; return; }
  int64_t j = 0;
  for (int64_t q = 0; q < n; q++) {
    double xq = q * s;
    while (z[j + 1] < xq) j++;
    double dx = xq - v[j] * s;
    d[q] = dx * dx + f[v[j]];
  }
}

ps_status ps_edt(const uint8_t *feature, const int64_t shape[3], const double spacing[3], double *dist) {
  const int64_t D = shape[0], H = shape[1], W = shape[2];
  const size_t n = (size_t)(D * H * W);
  for (size_t i = 0; i < n; i++) dist[i] = feature[i] ? 0.0 : INFINITY;
  int64_t mx = D > H ? D : H;
  if (W > mx) mx = W;
  ps_status st = PS_OK;
  /* passes along W, H, D; each line independent */
  for (int axis = 2; axis >= 0; axis--) {
    const int64_t len = shape[axis];
    const int64_t stride = axis == 2 ? 1 : axis == 1 ? W : H * W;
    const int64_t nlines = (int64_t)n / len;
#pragma omp parallel if (n > 32768)
    {
      double *f = malloc((size_t)mx * sizeof(double)), *d = malloc((size_t)mx * sizeof(double));
      int64_t *v = malloc((size_t)mx * sizeof(int64_t));
      double *z = malloc((size_t)(mx + 1) * sizeof(double));
      bool ok = f && d && v && z;
      if (!ok) {
#pragma omp critical
        st = PS_ERR_NOMEM;
      }
#pragma omp for schedule(static)
      for (int64_t l = 0; l < nlines; l++) {
        if (!ok) continue;
        int64_t base;
        if (axis == 2) base = l * W;
        else if (axis == 1) base = (l / W) * H * W + (l % W);
        else base = l;
        for (int64_t q = 0; q < len; q++) f[q] = dist[base + q * stride];
        edt_1d(f, d, len, spacing[axis], v, z);
        for (int64_t q = 0; q < len; q++) dist[base + q * stride] = d[q];
      }
      free(f); free(d); free(v); free(z);
    }
    if (st != PS_OK) return ps_error(st, "edt: out of memory");
  }
  for (size_t i = 0; i < n; i++) dist[i] = sqrt(dist[i]);
  return PS_OK;
}

void ps_mask_surface(const uint8_t *mask, const int64_t shape[3], uint8_t *surf) {
  const int64_t D = shape[0], H = shape[1], W = shape[2];
#pragma omp parallel for schedule(static) if (D * H * W > 32768)
  for (int64_t z = 0; z < D; z++)
    for (int64_t y = 0; y < H; y++)
      for (int64_t x = 0; x < W; x++) {
        size_t i = (size_t)((z * H + y) * W + x);
        if (!mask[i]) { surf[i] = 0; continue; }
        bool interior = z > 0 && z < D - 1 && y > 0 && y < H - 1 && x > 0 && x < W - 1 &&
                        mask[i - 1] && mask[i + 1] && mask[i - W] && mask[i + W] &&
                        mask[i - H * W] && mask[i + H * W];
        surf[i] = !interior;
      }
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

double ps_percentile(double *x, size_t n, double q) {
  if (n == 0) return NAN;
  qsort(x, n, sizeof *x, cmp_double);
  double pos = q / 100.0 * (double)(n - 1);
  size_t lo = (size_t)floor(pos);
  if (lo >= n - 1) return x[n - 1];
  double f = pos - (double)lo;
  return x[lo] + f * (x[lo + 1] - x[lo]);
}

ps_status ps_hd95(const uint8_t *a, const uint8_t *b, const int64_t shape[3], const double spacing[3], double *out) {
  const size_t n = (size_t)(shape[0] * shape[1] * shape[2]);
  *out = NAN;
  size_t na = 0, nb = 0;
  for (size_t i = 0; i < n; i++) { na += a[i] != 0; nb += b[i] != 0; }
  if (!na || !nb) return PS_OK;
  uint8_t *sa = malloc(n), *sb = malloc(n);
  uint8_t *ca = NULL, *cb = NULL;
  double *da = NULL, *db = NULL, *vals = NULL;
  ps_status st = PS_OK;
  if (!sa || !sb) { st = ps_error(PS_ERR_NOMEM, "hd95: out of memory"); goto done; }
  /* surfaces on the full grid (the volume border counts), then the EDTs on
   * the bounding box of both surfaces only: every nearest surface voxel lies
   * inside it, so the distances are unchanged */
  ps_mask_surface(a, shape, sa);
  ps_mask_surface(b, shape, sb);
  int64_t lo[3] = {shape[0], shape[1], shape[2]}, hi[3] = {-1, -1, -1};
  for (int64_t z = 0; z < shape[0]; z++)
    for (int64_t y = 0; y < shape[1]; y++)
      for (int64_t x = 0; x < shape[2]; x++) {
        size_t i = (size_t)((z * shape[1] + y) * shape[2] + x);
        if (!sa[i] && !sb[i]) continue;
        int64_t p[3] = {z, y, x};
        for (int k = 0; k < 3; k++) { if (p[k] < lo[k]) lo[k] = p[k]; if (p[k] > hi[k]) hi[k] = p[k]; }
      }
  const int64_t cs[3] = {hi[0] - lo[0] + 1, hi[1] - lo[1] + 1, hi[2] - lo[2] + 1};
  const size_t cn = (size_t)(cs[0] * cs[1] * cs[2]);
  ca = malloc(cn); cb = malloc(cn);
  da = malloc(cn * sizeof(double)); db = malloc(cn * sizeof(double));
  if (!ca || !cb || !da || !db) { st = ps_error(PS_ERR_NOMEM, "hd95: out of memory"); goto done; }
  for (int64_t z = 0; z < cs[0]; z++)
    for (int64_t y = 0; y < cs[1]; y++) {
      size_t src = (size_t)(((z + lo[0]) * shape[1] + y + lo[1]) * shape[2] + lo[2]), dst = (size_t)((z * cs[1] + y) * cs[2]);
      memcpy(ca + dst, sa + src, (size_t)cs[2]);
      memcpy(cb + dst, sb + src, (size_t)cs[2]);
    }
  if ((st = ps_edt(ca, cs, spacing, da)) != PS_OK) goto done;
  if ((st = ps_edt(cb, cs, spacing, db)) != PS_OK) goto done;
  size_t ns = 0;
  for (size_t i = 0; i < cn; i++) ns += (ca[i] != 0) + (cb[i] != 0);
  vals = malloc(ns * sizeof(double));
  if (!vals) { st = ps_error(PS_ERR_NOMEM, "hd95: out of memory"); goto done; }
  size_t m = 0;
  for (size_t i = 0; i < cn; i++) {
    if (ca[i]) vals[m++] = db[i];
    if (cb[i]) vals[m++] = da[i];
  }
  *out = ps_percentile(vals, m, 95.0);
done:
  free(sa); free(sb); free(ca); free(cb); free(da); free(db); free(vals);
  return st;
}

ps_status ps_metrics_compute(const ps_labelmap *pred, const ps_labelmap *ref, const int *classes, int n,
                             bool hd95, ps_class_metrics *out) {
  if (pred->d != ref->d || pred->h != ref->h || pred->w != ref->w)
    return ps_error(PS_ERR_DATA, "metrics: prediction %lldx%lldx%lld and reference %lldx%lldx%lld differ in shape",
                    (long long)pred->d, (long long)pred->h, (long long)pred->w, (long long)ref->d, (long long)ref->h, (long long)ref->w);
  const size_t nv = (size_t)(ref->d * ref->h * ref->w);
  const double vox = ref->spacing[0] * ref->spacing[1] * ref->spacing[2];
  const int64_t shape[3] = {ref->d, ref->h, ref->w};
  uint8_t *ma = NULL, *mb = NULL;
  if (hd95) {
    ma = malloc(nv); mb = malloc(nv);
    if (!ma || !mb) { free(ma); free(mb); return ps_error(PS_ERR_NOMEM, "metrics: out of memory"); }
  }
  ps_status st = PS_OK;
  for (int c = 0; c < n && st == PS_OK; c++) {
    const int k = classes[c];
    int64_t tp = 0, fp = 0, fn = 0;
    for (size_t i = 0; i < nv; i++) {
      bool p = pred->data[i] == k, r = ref->data[i] == k;
      tp += p && r; fp += p && !r; fn += !p && r;
    }
    ps_class_metrics *m = &out[c];
    m->tp = tp; m->fp = fp; m->fn = fn;
    m->tn = (int64_t)nv - tp - fp - fn;
    m->n_pred = tp + fp; m->n_ref = tp + fn;
    m->dice = (tp + fp + fn) ? 2.0 * tp / (2.0 * tp + fp + fn) : NAN;
    m->iou = (tp + fp + fn) ? (double)tp / (double)(tp + fp + fn) : NAN;
    m->vol_pred_mm3 = m->n_pred * vox;
    m->vol_ref_mm3 = m->n_ref * vox;
    m->hd95 = NAN;
    if (hd95) {
      for (size_t i = 0; i < nv; i++) { ma[i] = pred->data[i] == k; mb[i] = ref->data[i] == k; }
      st = ps_hd95(ma, mb, shape, ref->spacing, &m->hd95);
    }
  }
  free(ma); free(mb);
  return st;
}
