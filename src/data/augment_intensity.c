/* Intensity augmentation on one patch (image only, per channel statistics),
 * nnU-Net order: noise, blur, sharpen, brightness x, contrast, shift, gamma. */
#include "proxyseg/augment.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* 1D blur along one axis of [n0, n1, n2], replicate borders. For axes 0 and
 * 1 whole contiguous rows are combined, so the inner loop vectorises. */
static void blur_axis(const float *in, float *out, const int n[3], int axis, const float *k, int r) {
  if (axis == 2) {
    const int len = n[2];
    const size_t lines = (size_t)n[0] * n[1];
    for (size_t l = 0; l < lines; l++) {
      const float *x = in + l * len;
      float *y = out + l * len;
      for (int i = 0; i < len; i++) {
        float acc = 0.f;
        if (i >= r && i + r < len) {
          for (int t = -r; t <= r; t++) acc += k[t + r] * x[i + t];
        } else {
          for (int t = -r; t <= r; t++) {
            int j = i + t;
            j = j < 0 ? 0 : j >= len ? len - 1 : j;
            acc += k[t + r] * x[j];
          }
        }
        y[i] = acc;
      }
    }
    return;
  }
  /* axis 0: rows of n1*n2 within one volume; axis 1: rows of n2 within each slab */
  const int len = n[axis];
  const size_t row = axis == 0 ? (size_t)n[1] * n[2] : (size_t)n[2];
  const int outer = axis == 0 ? 1 : n[0];
  const size_t slab = (size_t)n[1] * n[2];
  for (int o = 0; o < outer; o++) {
    const float *x = in + (size_t)o * (axis == 0 ? 0 : slab);
    float *y = out + (size_t)o * (axis == 0 ? 0 : slab);
    for (int i = 0; i < len; i++) {
      float *yr = y + (size_t)i * row;
      for (size_t e = 0; e < row; e++) yr[e] = 0.f;
      for (int t = -r; t <= r; t++) {
        int j = i + t;
        j = j < 0 ? 0 : j >= len ? len - 1 : j;
        const float *xr = x + (size_t)j * row;
        const float kt = k[t + r];
        for (size_t e = 0; e < row; e++) yr[e] += kt * xr[e];
      }
    }
  }
}

void ps_aug_gaussian_blur(float *x, const int n[3], double sigma, float *tmp) {
  if (!(sigma > 0)) return;
  int r = (int)ceil(3 * sigma);
  if (r > 32) r = 32;
  float k[65];
  double s = 0;
  for (int t = -r; t <= r; t++) { k[t + r] = (float)exp(-0.5 * t * t / (sigma * sigma)); s += k[t + r]; }
  for (int t = 0; t < 2 * r + 1; t++) k[t] = (float)(k[t] / s);
  blur_axis(x, tmp, n, 2, k, r);
  blur_axis(tmp, x, n, 1, k, r);
  blur_axis(x, tmp, n, 0, k, r);
  memcpy(x, tmp, (size_t)n[0] * n[1] * n[2] * sizeof(float));
}

static void stats(const float *x, size_t n, double *mean, double *sd, float *mn, float *mx) {
  double s = 0, s2 = 0;
  float lo = x[0], hi = x[0];
  for (size_t i = 0; i < n; i++) {
    s += x[i]; s2 += (double)x[i] * x[i];
    if (x[i] < lo) lo = x[i];
    if (x[i] > hi) hi = x[i];
  }
  *mean = s / n;
  double v = s2 / n - *mean * *mean;
  *sd = v > 0 ? sqrt(v) : 0;
  if (mn) *mn = lo;
  if (mx) *mx = hi;
}

ps_status ps_aug_intensity(float *img, int C, const int patch[3], const ps_aug_draw *d) {
  const size_t pv = (size_t)patch[0] * patch[1] * patch[2];
  float *tmp = NULL, *tmp2 = NULL;
  if (d->smooth_on || d->sharpen_on) {
    tmp = malloc(pv * sizeof(float));
    tmp2 = d->sharpen_on ? malloc(pv * sizeof(float)) : NULL;
    if (!tmp || (d->sharpen_on && !tmp2)) { free(tmp); free(tmp2); return ps_error(PS_ERR_NOMEM, "augment: out of memory for a %zu-voxel patch", pv); }
  }
  ps_rng *r = NULL;
  if (d->noise_on && d->noise_var > 0) {
    r = ps_rng_create(d->noise_seed);
    if (!r) { free(tmp); free(tmp2); return ps_error(PS_ERR_NOMEM, "augment: cannot create an RNG"); }
  }
  for (int c = 0; c < C; c++) {
    float *x = img + (size_t)c * pv;
    if (r) {
      double sd = sqrt(d->noise_var);
      for (size_t i = 0; i < pv; i++) x[i] += (float)ps_rng_normal(r, sd);
    }
    if (d->smooth_on) ps_aug_gaussian_blur(x, patch, d->smooth_sigma, tmp);
    if (d->sharpen_on) {
      memcpy(tmp2, x, pv * sizeof(float));
      ps_aug_gaussian_blur(tmp2, patch, 1.0, tmp);
      float k = (float)d->sharpen;
      for (size_t i = 0; i < pv; i++) x[i] += k * (x[i] - tmp2[i]);
    }
    if (d->mul_on) {
      float f = (float)d->mul;
      for (size_t i = 0; i < pv; i++) x[i] *= f;
    }
    if (d->contrast_on) {
      double m, sd; float lo, hi;
      stats(x, pv, &m, &sd, &lo, &hi);
      float f = (float)d->contrast, mf = (float)m;
      for (size_t i = 0; i < pv; i++) {
        float v = (x[i] - mf) * f + mf;
        x[i] = v < lo ? lo : v > hi ? hi : v;
      }
    }
    if (d->shift_on) {
      float b = (float)d->shift;
      for (size_t i = 0; i < pv; i++) x[i] += b;
    }
    if (d->gamma_on) {
      double m, sd; float lo, hi;
      stats(x, pv, &m, &sd, &lo, &hi);
      double range = (double)hi - lo;
      if (range > 1e-7) {
        float g = (float)d->gamma, inv = (float)(1.0 / range), rf = (float)range;
        for (size_t i = 0; i < pv; i++) x[i] = powf((x[i] - lo) * inv + 1e-7f, g) * rf + lo;
        double m2, sd2;
        stats(x, pv, &m2, &sd2, NULL, NULL);
        double a = sd2 > 1e-8 ? sd / sd2 : 1;
        for (size_t i = 0; i < pv; i++) x[i] = (float)((x[i] - m2) * a + m);
      }
    }
  }
  ps_rng_free(r);
  free(tmp);
  free(tmp2);
  return PS_OK;
}
