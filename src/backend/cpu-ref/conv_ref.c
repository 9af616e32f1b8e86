/* Reference 3D convolution: one direct loop nest over (n, k, out, c, kernel)
 * shared by forward, backward-data and backward-weight, accumulated in double.
 * Slow and obviously correct; the fast path (conv_gemm.c) is tested against it. */
#include "backend/cpu/conv_kernels.h"
#include <stdlib.h>
#include <string.h>

typedef enum { REF_FWD, REF_BWD_DATA, REF_BWD_WEIGHT } ref_mode;

/* Visits every (output voxel, weight tap, input voxel) triple that the conv
 * multiplies, with their flat indices, and applies the mode's update. */
static void ref_loop(const ps_conv_geom *g, ref_mode mode, const float *x, const float *w, const float *dy,
                     double *acc_y, double *acc_dx, double *acc_dw) {
  const int64_t cg = g->c / g->groups, kg = g->k / g->groups;
  const int64_t D = g->in[0], H = g->in[1], W = g->in[2];
  const int64_t OD = g->out[0], OH = g->out[1], OW = g->out[2];
  const int64_t kvol = (int64_t)g->ks[0] * g->ks[1] * g->ks[2];
  for (int64_t n = 0; n < g->n; n++)
    for (int64_t k = 0; k < g->k; k++) {
      const int64_t grp = k / kg;
      for (int64_t od = 0; od < OD; od++)
        for (int64_t oh = 0; oh < OH; oh++)
          for (int64_t ow = 0; ow < OW; ow++) {
            const int64_t yi = (((n * g->k + k) * OD + od) * OH + oh) * OW + ow;
            double s = 0;
            for (int64_t ci = 0; ci < cg; ci++) {
              const int64_t c = grp * cg + ci;
              for (int kz = 0; kz < g->ks[0]; kz++) {
                const int64_t iz = od * g->stride[0] - g->pad[0] + (int64_t)kz * g->dil[0];
                if (iz < 0 || iz >= D) continue;
                for (int ky = 0; ky < g->ks[1]; ky++) {
                  const int64_t iy = oh * g->stride[1] - g->pad[1] + (int64_t)ky * g->dil[1];
                  if (iy < 0 || iy >= H) continue;
                  for (int kx = 0; kx < g->ks[2]; kx++) {
                    const int64_t ix = ow * g->stride[2] - g->pad[2] + (int64_t)kx * g->dil[2];
                    if (ix < 0 || ix >= W) continue;
                    const int64_t xi = (((n * g->c + c) * D + iz) * H + iy) * W + ix;
                    const int64_t wi = (k * cg + ci) * kvol + ((int64_t)kz * g->ks[1] + ky) * g->ks[2] + kx;
                    switch (mode) {
                    case REF_FWD: s += (double)w[wi] * x[xi]; break;
                    case REF_BWD_DATA: acc_dx[xi] += (double)w[wi] * dy[yi]; break;
                    case REF_BWD_WEIGHT: acc_dw[wi] += (double)x[xi] * dy[yi]; break;
                    }
                  }
                }
              }
            }
            if (mode == REF_FWD) acc_y[yi] = s;
          }
    }
}

static void store(float *dst, const double *src, int64_t n, bool accumulate) {
  for (int64_t i = 0; i < n; i++) dst[i] = accumulate ? (float)(dst[i] + src[i]) : (float)src[i];
}

ps_status ps_conv_ref_forward(const ps_conv_geom *g, const float *x, const float *w, const float *b, float *y,
                              bool accumulate) {
  const int64_t sp = g->out[0] * g->out[1] * g->out[2], ny = g->n * g->k * sp;
  double *acc = calloc((size_t)ny, sizeof *acc);
  if (!acc) return ps_error(PS_ERR_NOMEM, "conv_ref.c: cannot allocate the forward accumulator");
  ref_loop(g, REF_FWD, x, w, NULL, acc, NULL, NULL);
  for (int64_t i = 0; i < ny; i++) {
    const double v = acc[i] + (b ? b[(i / sp) % g->k] : 0.0);
    y[i] = accumulate ? (float)(y[i] + v) : (float)v;
  }
  free(acc);
  return PS_OK;
}

ps_status ps_conv_ref_backward_data(const ps_conv_geom *g, const float *dy, const float *w, float *dx, bool accumulate) {
  const int64_t nx = g->n * g->c * g->in[0] * g->in[1] * g->in[2];
  double *acc = calloc((size_t)nx, sizeof *acc);
  if (!acc) return ps_error(PS_ERR_NOMEM, "conv_ref.c: cannot allocate the accumulator");
  ref_loop(g, REF_BWD_DATA, NULL, w, dy, NULL, acc, NULL);
  store(dx, acc, nx, accumulate);
  free(acc);
  return PS_OK;
}

ps_status ps_conv_ref_backward_weight(const ps_conv_geom *g, const float *x, const float *dy, float *dw, bool accumulate) {
  const int64_t nw = g->k * (g->c / g->groups) * g->ks[0] * g->ks[1] * g->ks[2];
  double *acc = calloc((size_t)nw, sizeof *acc);
  if (!acc) return ps_error(PS_ERR_NOMEM, "conv_ref.c: cannot allocate the accumulator");
  ref_loop(g, REF_BWD_WEIGHT, x, NULL, dy, NULL, NULL, acc);
  store(dw, acc, nw, accumulate);
  free(acc);
  return PS_OK;
}

void ps_conv_ref_backward_bias(const ps_conv_geom *g, const float *dy, float *db, bool accumulate) {
  const int64_t sp = g->out[0] * g->out[1] * g->out[2];
  for (int64_t k = 0; k < g->k; k++) {
    double s = 0;
    for (int64_t n = 0; n < g->n; n++)
      for (int64_t i = 0; i < sp; i++) s += dy[(n * g->k + k) * sp + i];
    db[k] = accumulate ? (float)(db[k] + s) : (float)s;
  }
}
