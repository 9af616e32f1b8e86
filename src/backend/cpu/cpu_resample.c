/* Fast CPU pooling and upsampling over planes [D, H, W]. Pooling: OpenMP over
 * output rows (forward) and over planes (backward: overlapping windows scatter
 * into one plane); 2x2x2 stride-2 windows (the U-Net's) are unrolled. Upsample:
 * index tables per axis; trilinear as three separable 1D passes per plane
 * (W, H, D; backward in reverse) so each output costs two reads, not eight. */
#include "backend/cpu/cpu_internal.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define UNUSED(x) (void)(x)

static inline bool is_222(const ps_pool_geom *g) {
  for (int d = 0; d < 3; d++)
    if (g->k[d] != 2 || g->s[d] != 2 || g->p[d] != 0) return false;
  return true;
}
/* clipped window [lo, hi) of output index o along dim d */
static inline void win(const ps_pool_geom *g, int d, int64_t o, int64_t *lo, int64_t *hi) {
  int64_t s = o * g->s[d] - g->p[d], e = s + g->k[d];
  *lo = s < 0 ? 0 : s;
  *hi = e > g->in[d] ? g->in[d] : e;
}
static inline float avg_div(const ps_pool_geom *g, int64_t d0, int64_t d1, int64_t h0, int64_t h1, int64_t w0,
                            int64_t w1) {
  if (g->count_include_pad) return (float)(g->k[0] * g->k[1] * g->k[2]);
  return (float)((d1 - d0) * (h1 - h0) * (w1 - w0));
}

ps_status ps_cpu_maxpool_forward(ps_backend *be, const ps_pool_geom *g, const float *x, float *y, int32_t *am) {
  UNUSED(be);
  const int64_t OD = g->out[0], OH = g->out[1], OW = g->out[2], H = g->in[1], W = g->in[2];
  const int64_t vin = g->in[0] * H * W, ny = g->planes * OD * OH * OW;
  if (is_222(g)) {
#pragma omp parallel for collapse(2) if (ny > PS_OMP_MIN / 4) schedule(static)
    for (int64_t pl = 0; pl < g->planes; pl++)
      for (int64_t od = 0; od < OD; od++)
        for (int64_t oh = 0; oh < OH; oh++) {
          const float *xp = x + pl * vin;
          const int64_t o00 = (2 * od * H + 2 * oh) * W, off[4] = {o00, o00 + W, o00 + H * W, o00 + H * W + W};
          const int64_t orow = ((pl * OD + od) * OH + oh) * OW;
          for (int64_t ow = 0; ow < OW; ow++) {
            const int64_t w = 2 * ow;
            float m = xp[off[0] + w];
            int64_t mi = off[0] + w;
#define PS_MAX_CAND(idx)                                                   \
  do {                                                                     \
    const float v = xp[idx];                                               \
    if (v > m || (v != v && m == m)) { m = v; mi = (idx); }                \
  } while (0)
            PS_MAX_CAND(off[0] + w + 1);
            PS_MAX_CAND(off[1] + w);
            PS_MAX_CAND(off[1] + w + 1);
            PS_MAX_CAND(off[2] + w);
            PS_MAX_CAND(off[2] + w + 1);
            PS_MAX_CAND(off[3] + w);
            PS_MAX_CAND(off[3] + w + 1);
#undef PS_MAX_CAND
            y[orow + ow] = m;
            if (am) am[orow + ow] = (int32_t)mi;
          }
        }
    return PS_OK;
  }
#pragma omp parallel for collapse(2) if (ny > PS_OMP_MIN / 4) schedule(static)
  for (int64_t pl = 0; pl < g->planes; pl++)
    for (int64_t od = 0; od < OD; od++) {
      const float *xp = x + pl * vin;
      int64_t d0, d1;
      win(g, 0, od, &d0, &d1);
      for (int64_t oh = 0; oh < OH; oh++) {
        int64_t h0, h1;
        win(g, 1, oh, &h0, &h1);
        const int64_t orow = ((pl * OD + od) * OH + oh) * OW;
        for (int64_t ow = 0; ow < OW; ow++) {
          int64_t w0, w1;
          win(g, 2, ow, &w0, &w1);
          float m = -INFINITY;
          int64_t mi = (d0 * H + h0) * W + w0;
          for (int64_t d = d0; d < d1; d++)
            for (int64_t h = h0; h < h1; h++) {
              const int64_t r = (d * H + h) * W;
              for (int64_t w = w0; w < w1; w++)
                if (xp[r + w] > m || isnan(xp[r + w])) { m = xp[r + w]; mi = r + w; if (isnan(m)) goto done; }
            }
        done:
          y[orow + ow] = m;
          if (am) am[orow + ow] = (int32_t)mi;
        }
      }
    }
  return PS_OK;
}

ps_status ps_cpu_maxpool_backward(ps_backend *be, const ps_pool_geom *g, const int32_t *argmax, const float *dy,
                                  float *dx, bool acc) {
  UNUSED(be);
  const int64_t vin = g->in[0] * g->in[1] * g->in[2], vout = g->out[0] * g->out[1] * g->out[2];
#pragma omp parallel for if (g->planes * vin > PS_OMP_MIN) schedule(static)
  for (int64_t pl = 0; pl < g->planes; pl++) {
    float *gp = dx + pl * vin;
    if (!acc) memset(gp, 0, (size_t)vin * sizeof(float));
    const int32_t *am = argmax + pl * vout;
    const float *dp = dy + pl * vout;
    for (int64_t o = 0; o < vout; o++) gp[am[o]] += dp[o];
  }
  return PS_OK;
}

ps_status ps_cpu_avgpool_forward(ps_backend *be, const ps_pool_geom *g, const float *x, float *y) {
  UNUSED(be);
  const int64_t OD = g->out[0], OH = g->out[1], OW = g->out[2], H = g->in[1], W = g->in[2];
  const int64_t vin = g->in[0] * H * W, ny = g->planes * OD * OH * OW;
  if (is_222(g)) {
#pragma omp parallel for collapse(2) if (ny > PS_OMP_MIN / 4) schedule(static)
    for (int64_t pl = 0; pl < g->planes; pl++)
      for (int64_t od = 0; od < OD; od++)
        for (int64_t oh = 0; oh < OH; oh++) {
          const float *r0 = x + pl * vin + (2 * od * H + 2 * oh) * W, *r1 = r0 + W, *r2 = r0 + H * W, *r3 = r2 + W;
          float *yr = y + ((pl * OD + od) * OH + oh) * OW;
          for (int64_t ow = 0; ow < OW; ow++) {
            const int64_t w = 2 * ow;
            yr[ow] = 0.125f * (((r0[w] + r0[w + 1]) + (r1[w] + r1[w + 1])) + ((r2[w] + r2[w + 1]) + (r3[w] + r3[w + 1])));
          }
        }
    return PS_OK;
  }
#pragma omp parallel for collapse(2) if (ny > PS_OMP_MIN / 4) schedule(static)
  for (int64_t pl = 0; pl < g->planes; pl++)
    for (int64_t od = 0; od < OD; od++) {
      const float *xp = x + pl * vin;
      int64_t d0, d1;
      win(g, 0, od, &d0, &d1);
      for (int64_t oh = 0; oh < OH; oh++) {
        int64_t h0, h1;
        win(g, 1, oh, &h0, &h1);
        const int64_t orow = ((pl * OD + od) * OH + oh) * OW;
        for (int64_t ow = 0; ow < OW; ow++) {
          int64_t w0, w1;
          win(g, 2, ow, &w0, &w1);
          float s = 0;
          for (int64_t d = d0; d < d1; d++)
            for (int64_t h = h0; h < h1; h++) {
              const float *r = xp + (d * H + h) * W;
              for (int64_t w = w0; w < w1; w++) s += r[w];
            }
          y[orow + ow] = s / avg_div(g, d0, d1, h0, h1, w0, w1);
        }
      }
    }
  return PS_OK;
}

ps_status ps_cpu_avgpool_backward(ps_backend *be, const ps_pool_geom *g, const float *dy, float *dx, bool acc) {
  UNUSED(be);
  const int64_t H = g->in[1], W = g->in[2], vin = g->in[0] * H * W;
  const int64_t OD = g->out[0], OH = g->out[1], OW = g->out[2], vout = OD * OH * OW;
  const bool fresh = !acc;
#pragma omp parallel for if (g->planes * vin > PS_OMP_MIN) schedule(static)
  for (int64_t pl = 0; pl < g->planes; pl++) {
    float *gp = dx + pl * vin;
    const float *dp = dy + pl * vout;
    if (is_222(g)) {
      /* every input voxel has at most one window: write when fresh and covered */
      const bool cover = 2 * OD == g->in[0] && 2 * OH == H && 2 * OW == W;
      if (fresh && !cover) memset(gp, 0, (size_t)vin * sizeof(float));
      const bool assign = fresh && cover;
      for (int64_t od = 0; od < OD; od++)
        for (int64_t oh = 0; oh < OH; oh++) {
          float *r[4];
          r[0] = gp + (2 * od * H + 2 * oh) * W;
          r[1] = r[0] + W;
          r[2] = r[0] + H * W;
          r[3] = r[2] + W;
          const float *dr = dp + (od * OH + oh) * OW;
          for (int k = 0; k < 4; k++) {
            float *q = r[k];
            if (assign)
              for (int64_t ow = 0; ow < OW; ow++) q[2 * ow] = q[2 * ow + 1] = 0.125f * dr[ow];
            else
              for (int64_t ow = 0; ow < OW; ow++) { q[2 * ow] += 0.125f * dr[ow]; q[2 * ow + 1] += 0.125f * dr[ow]; }
          }
        }
      continue;
    }
    if (fresh) memset(gp, 0, (size_t)vin * sizeof(float));
    for (int64_t od = 0; od < OD; od++) {
      int64_t d0, d1;
      win(g, 0, od, &d0, &d1);
      for (int64_t oh = 0; oh < OH; oh++) {
        int64_t h0, h1;
        win(g, 1, oh, &h0, &h1);
        for (int64_t ow = 0; ow < OW; ow++) {
          int64_t w0, w1;
          win(g, 2, ow, &w0, &w1);
          const float v = dp[(od * OH + oh) * OW + ow] / avg_div(g, d0, d1, h0, h1, w0, w1);
          for (int64_t d = d0; d < d1; d++)
            for (int64_t h = h0; h < h1; h++) {
              float *r = gp + (d * H + h) * W;
              for (int64_t w = w0; w < w1; w++) r[w] += v;
            }
        }
      }
    }
  }
  return PS_OK;
}

/* ---- upsampling ---- */
#define UP_MAX 4096 /* longest axis the stack tables hold */
typedef struct {
  int64_t in[3], out[3];
  int64_t i0[3][UP_MAX], i1[3][UP_MAX];
  float l1[3][UP_MAX];
} up_tab;

static ps_status build(up_tab *c, bool tri, const int64_t in[3], const int64_t out[3]) {
  for (int d = 0; d < 3; d++) {
    if (out[d] > UP_MAX) return ps_error(PS_ERR_UNSUPPORTED, "upsample: output axis of %lld (at most %d)", (long long)out[d], UP_MAX);
    c->in[d] = in[d];
    c->out[d] = out[d];
    const float scale = (float)in[d] / (float)out[d];
    for (int64_t o = 0; o < out[d]; o++) {
      if (!tri) {
        int64_t s = in[d] == out[d] ? o : (int64_t)floorf((float)o * scale);
        if (s > in[d] - 1) s = in[d] - 1;
        c->i0[d][o] = c->i1[d][o] = s;
        c->l1[d][o] = 0.0f;
      } else {
        float src = scale * ((float)o + 0.5f) - 0.5f;
        if (src < 0) src = 0;
        int64_t s = (int64_t)src;
        if (s > in[d] - 1) s = in[d] - 1;
        c->i0[d][o] = s;
        c->i1[d][o] = s + (s < in[d] - 1 ? 1 : 0);
        c->l1[d][o] = src - (float)s;
      }
    }
  }
  return PS_OK;
}

/* y[o] = (1-l[o]) * x[i0[o]] + l[o] * x[i1[o]], rows of length `row` */
static void lerp_rows(const float *x, float *y, int64_t nout, int64_t row, const int64_t *i0, const int64_t *i1,
                      const float *l) {
  for (int64_t o = 0; o < nout; o++) {
    const float *a = x + i0[o] * row, *b = x + i1[o] * row;
    float *yo = y + o * row;
    const float lb = l[o], la = 1 - lb;
    for (int64_t j = 0; j < row; j++) yo[j] = la * a[j] + lb * b[j];
  }
}
/* the transpose: x[i0[o]] += (1-l[o]) * y[o], x[i1[o]] += l[o] * y[o] (x zeroed by the caller) */
static void lerp_rows_t(const float *y, float *x, int64_t nout, int64_t row, const int64_t *i0, const int64_t *i1,
                        const float *l) {
  for (int64_t o = 0; o < nout; o++) {
    float *a = x + i0[o] * row, *b = x + i1[o] * row;
    const float *yo = y + o * row;
    const float lb = l[o], la = 1 - lb;
    for (int64_t j = 0; j < row; j++) { a[j] += la * yo[j]; b[j] += lb * yo[j]; }
  }
}
static void tri_plane_fwd(const up_tab *c, const float *x, float *y, float *t1, float *t2) {
  const int64_t ID = c->in[0], IH = c->in[1], IW = c->in[2], OH = c->out[1], OW = c->out[2];
  for (int64_t r = 0; r < ID * IH; r++) {
    const float *xr = x + r * IW;
    float *tr = t1 + r * OW;
    for (int64_t ow = 0; ow < OW; ow++) {
      const float lb = c->l1[2][ow];
      tr[ow] = (1 - lb) * xr[c->i0[2][ow]] + lb * xr[c->i1[2][ow]];
    }
  }
  for (int64_t d = 0; d < ID; d++) lerp_rows(t1 + d * IH * OW, t2 + d * OH * OW, OH, OW, c->i0[1], c->i1[1], c->l1[1]);
  lerp_rows(t2, y, c->out[0], OH * OW, c->i0[0], c->i1[0], c->l1[0]);
}
static void tri_plane_bwd(const up_tab *c, const float *dy, float *g, bool fresh, float *t1, float *t2) {
  const int64_t ID = c->in[0], IH = c->in[1], IW = c->in[2], OH = c->out[1], OW = c->out[2];
  memset(t2, 0, (size_t)(ID * OH * OW) * sizeof(float));
  lerp_rows_t(dy, t2, c->out[0], OH * OW, c->i0[0], c->i1[0], c->l1[0]);
  memset(t1, 0, (size_t)(ID * IH * OW) * sizeof(float));
  for (int64_t d = 0; d < ID; d++) lerp_rows_t(t2 + d * OH * OW, t1 + d * IH * OW, OH, OW, c->i0[1], c->i1[1], c->l1[1]);
  if (fresh) memset(g, 0, (size_t)(ID * IH * IW) * sizeof(float));
  for (int64_t r = 0; r < ID * IH; r++) {
    float *gr = g + r * IW;
    const float *tr = t1 + r * OW;
    for (int64_t ow = 0; ow < OW; ow++) {
      const float lb = c->l1[2][ow];
      gr[c->i0[2][ow]] += (1 - lb) * tr[ow];
      gr[c->i1[2][ow]] += lb * tr[ow];
    }
  }
}

/* Trilinear over all planes with per-thread scratch of two partial planes. */
static ps_status tri_all(const up_tab *c, int64_t planes, const float *src, float *dst, bool backward, bool fresh) {
  const int64_t vin = c->in[0] * c->in[1] * c->in[2], vout = c->out[0] * c->out[1] * c->out[2];
  const size_t n1 = (size_t)(c->in[0] * c->in[1] * c->out[2]), n2 = (size_t)(c->in[0] * c->out[1] * c->out[2]);
  bool ok = true;
#pragma omp parallel if (planes * vout > PS_OMP_MIN / 4)
  {
    float *t1 = malloc((n1 + n2) * sizeof(float));
    if (!t1) {
#pragma omp atomic write
      ok = false;
    }
#pragma omp for schedule(static)
    for (int64_t pl = 0; pl < planes; pl++) {
      if (!t1) continue;
      if (backward) tri_plane_bwd(c, src + pl * vout, dst + pl * vin, fresh, t1, t1 + n1);
      else tri_plane_fwd(c, src + pl * vin, dst + pl * vout, t1, t1 + n1);
    }
    free(t1);
  }
  return ok ? PS_OK : ps_error(PS_ERR_NOMEM, "upsample: no scratch memory for a plane");
}

static up_tab *tables(bool tri, const int64_t in[3], const int64_t out[3], ps_status *st) {
  /* ~200 KiB: too large for a worker's stack, so the tables live in thread-local storage */
  static _Thread_local up_tab tab;
  *st = build(&tab, tri, in, out);
  return *st ? NULL : &tab;
}

ps_status ps_cpu_upsample_forward(ps_backend *be, bool tri, int64_t planes, const int64_t in[3], const int64_t out[3],
                                  const float *x, float *y) {
  UNUSED(be);
  ps_status st;
  const up_tab *c = tables(tri, in, out, &st);
  if (!c) return st;
  if (tri) return tri_all(c, planes, x, y, false, false);
  const int64_t H = in[1], W = in[2], vin = in[0] * H * W, OD = out[0], OH = out[1], OW = out[2];
#pragma omp parallel for collapse(2) if (planes * OD * OH * OW > PS_OMP_MIN / 4) schedule(static)
  for (int64_t pl = 0; pl < planes; pl++)
    for (int64_t od = 0; od < OD; od++) {
      const float *xp = x + pl * vin;
      for (int64_t oh = 0; oh < OH; oh++) {
        float *yrow = y + ((pl * OD + od) * OH + oh) * OW;
        const float *r00 = xp + (c->i0[0][od] * H + c->i0[1][oh]) * W;
        for (int64_t ow = 0; ow < OW; ow++) yrow[ow] = r00[c->i0[2][ow]];
      }
    }
  return PS_OK;
}

ps_status ps_cpu_upsample_backward(ps_backend *be, bool tri, int64_t planes, const int64_t in[3],
                                   const int64_t out[3], const float *dy, float *dx, bool acc) {
  UNUSED(be);
  ps_status st;
  const up_tab *c = tables(tri, in, out, &st);
  if (!c) return st;
  if (tri) return tri_all(c, planes, dy, dx, true, !acc);
  const int64_t H = in[1], W = in[2], vin = in[0] * H * W, OD = out[0], OH = out[1], OW = out[2], vout = OD * OH * OW;
#pragma omp parallel for if (planes * vin > PS_OMP_MIN / 8) schedule(static)
  for (int64_t pl = 0; pl < planes; pl++) {
    float *gp = dx + pl * vin;
    if (!acc) memset(gp, 0, (size_t)vin * sizeof(float));
    const float *dp = dy + pl * vout;
    for (int64_t od = 0; od < OD; od++) {
      const int64_t a0 = c->i0[0][od];
      for (int64_t oh = 0; oh < OH; oh++) {
        const float *drow = dp + (od * OH + oh) * OW;
        float *r00 = gp + (a0 * H + c->i0[1][oh]) * W;
        for (int64_t ow = 0; ow < OW; ow++) r00[c->i0[2][ow]] += drow[ow];
      }
    }
  }
  return PS_OK;
}
