/* Resampling to a new grid: separable linear / cubic (Catmull-Rom) for images,
 * nearest for labels, with the centred index mapping described in
 * preprocess.h; the affine and spacing are updated so world positions hold. */
#include "proxyseg/preprocess.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

void ps_resample_geometry(const int64_t shape[3], const double from[3], const double to[3],
                          int64_t new_shape[3], double step[3]) {
  for (int a = 0; a < 3; a++) {
    double n = round((double)shape[a] * from[a] / to[a]);
    /* capped before the cast (a float->int overflow is undefined); the
     * caller refuses a grid beyond PS_VOLUME_MAX_VOXELS */
    new_shape[a] = !(n >= 1) ? 1 : n > (double)PS_VOLUME_MAX_VOXELS ? PS_VOLUME_MAX_VOXELS + 1 : (int64_t)n;
    step[a] = to[a] / from[a];
  }
}

static double offset_of(int64_t n_old, int64_t n_new, double step) {
  return ((double)(n_old - 1) - (double)(n_new - 1) * step) / 2;
}

static int64_t clampi(int64_t i, int64_t n) { return i < 0 ? 0 : i >= n ? n - 1 : i; }

/* Taps for one output index: up to 4 source indices and weights. */
typedef struct { int64_t idx[4]; double w[4]; int n; } taps;

static void make_taps(double x, int64_t n_old, int order, taps *t) {
  double f0 = floor(x), f = x - f0;
  int64_t i0 = (int64_t)f0;
  if (order == 0) {
    t->n = 1; t->idx[0] = clampi((int64_t)floor(x + 0.5), n_old); t->w[0] = 1;
  } else if (order == 1) {
    t->n = 2;
    t->idx[0] = clampi(i0, n_old); t->w[0] = 1 - f;
    t->idx[1] = clampi(i0 + 1, n_old); t->w[1] = f;
  } else { /* Catmull-Rom (Keys a = -0.5) */
    double f2 = f * f, f3 = f2 * f;
    t->n = 4;
    t->w[0] = (-f3 + 2 * f2 - f) / 2;
    t->w[1] = (3 * f3 - 5 * f2 + 2) / 2;
    t->w[2] = (-3 * f3 + 4 * f2 + f) / 2;
    t->w[3] = (f3 - f2) / 2;
    for (int k = 0; k < 4; k++) t->idx[k] = clampi(i0 - 1 + k, n_old);
  }
}

/* Resample one axis of a [outer][n_old][inner] float array to [outer][n_new][inner]. */
static ps_status resample_axis(const float *in, float *out, int64_t outer, int64_t n_old, int64_t inner,
                               int64_t n_new, double step, int order) {
  taps *tp = malloc((size_t)n_new * sizeof *tp);
  if (!tp) return ps_error(PS_ERR_NOMEM, "resample: out of memory");
  double off = offset_of(n_old, n_new, step);
  for (int64_t m = 0; m < n_new; m++) make_taps((double)m * step + off, n_old, order, &tp[m]);
#pragma omp parallel for schedule(static)
  for (int64_t o = 0; o < outer; o++)
    for (int64_t m = 0; m < n_new; m++) {
      float *dst = out + (o * n_new + m) * inner;
      const taps *t = &tp[m];
      for (int64_t p = 0; p < inner; p++) {
        double s = 0;
        for (int k = 0; k < t->n; k++) s += t->w[k] * in[(o * n_old + t->idx[k]) * inner + p];
        dst[p] = (float)s;
      }
    }
  free(tp);
  return PS_OK;
}

static void update_geometry(double A[4][4], double spacing[3], const int64_t old[3], const int64_t nw[3],
                            const double step[3]) {
  for (int s = 0; s < 3; s++) { /* s indexes D, H, W; voxel axis a = 2 - s */
    int a = 2 - s;
    double off = offset_of(old[s], nw[s], step[s]);
    for (int w = 0; w < 3; w++) A[w][3] += A[w][a] * off;
    for (int w = 0; w < 3; w++) A[w][a] *= step[s];
    spacing[s] *= step[s];
  }
}

ps_status ps_resample_volume(const ps_volume *in, const int64_t ns[3], const double step[3], int order,
                             ps_volume *out) {
  if (order != 0 && order != 1 && order != 3) return ps_error(PS_ERR_INVALID, "resample: interpolation order %d (use 0, 1 or 3)", order);
  for (int s = 0; s < 3; s++)
    if (ns[s] < 1 || !(step[s] > 0)) return ps_error(PS_ERR_INVALID, "resample: bad target shape or step");
  int64_t C = in->c, D = in->d, H = in->h, W = in->w;
  ps_status st = ps_volume_alloc(out, C, ns[0], ns[1], ns[2]);
  if (st) return st;
  /* W first (contiguous), then H, then D; intermediates sized for the largest stage. */
  size_t n1 = (size_t)(C * D * H * ns[2]), n2 = (size_t)(C * D * ns[1] * ns[2]);
  float *t1 = malloc(n1 * sizeof(float)), *t2 = malloc(n2 * sizeof(float));
  if (!t1 || !t2) { free(t1); free(t2); ps_volume_free(out); return ps_error(PS_ERR_NOMEM, "resample: out of memory"); }
  st = resample_axis(in->data, t1, C * D * H, W, 1, ns[2], step[2], order);
  if (!st) st = resample_axis(t1, t2, C * D, H, ns[2], ns[1], step[1], order);
  if (!st) st = resample_axis(t2, out->data, C, D, ns[1] * ns[2], ns[0], step[0], order);
  free(t1); free(t2);
  if (st) { ps_volume_free(out); return st; }
  memcpy(out->affine, in->affine, sizeof out->affine);
  memcpy(out->spacing, in->spacing, sizeof out->spacing);
  int64_t old[3] = {D, H, W};
  update_geometry(out->affine, out->spacing, old, ns, step);
  return PS_OK;
}

ps_status ps_resample_labels(const ps_labelmap *in, const int64_t ns[3], const double step[3], ps_labelmap *out) {
  for (int s = 0; s < 3; s++)
    if (ns[s] < 1 || !(step[s] > 0)) return ps_error(PS_ERR_INVALID, "resample: bad target shape or step");
  ps_status st = ps_labelmap_alloc(out, ns[0], ns[1], ns[2]);
  if (st) return st;
  int64_t old[3] = {in->d, in->h, in->w};
  int64_t *ix[3];
  for (int s = 0; s < 3; s++) {
    ix[s] = malloc((size_t)ns[s] * sizeof(int64_t));
    if (!ix[s]) { for (int q = 0; q < s; q++) free(ix[q]); ps_labelmap_free(out); return ps_error(PS_ERR_NOMEM, "resample: out of memory"); }
    double off = offset_of(old[s], ns[s], step[s]);
    for (int64_t m = 0; m < ns[s]; m++) ix[s][m] = clampi((int64_t)floor((double)m * step[s] + off + 0.5), old[s]);
  }
#pragma omp parallel for schedule(static)
  for (int64_t k = 0; k < ns[0]; k++)
    for (int64_t j = 0; j < ns[1]; j++)
      for (int64_t i = 0; i < ns[2]; i++)
        out->data[(k * ns[1] + j) * ns[2] + i] = in->data[(ix[0][k] * in->h + ix[1][j]) * in->w + ix[2][i]];
  for (int s = 0; s < 3; s++) free(ix[s]);
  memcpy(out->affine, in->affine, sizeof out->affine);
  memcpy(out->spacing, in->spacing, sizeof out->spacing);
  update_geometry(out->affine, out->spacing, old, ns, step);
  return PS_OK;
}
