/* Per-case measurements for proxy-data scoring: the foreground box, trilinear
 * resampling of that box onto a common small grid (so cases of any size can be
 * compared voxel by voxel), the per-case signature that keeps only these
 * summaries, and the k-center descriptor computed from a signature. */
#include "case_sig.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define G PS_PROXY_GRID
#define GN (G * G * G)

struct ps_proxy_sig {
  int c;
  float *fg;       /* [C][G³] foreground box (with margin), trilinear */
  float *img;      /* [G³] channel 0, whole image */
  uint8_t *mask;   /* [G³] label > 0 on the box grid (nearest) */
  double p1, p99;  /* channel-0 percentiles */
  double shape[6]; /* log volume, extents D/H/W (mm), elongation, surface/volume */
};

/* Tight foreground box; returns 0 (and the whole image) when there is none. */
static int fg_box_tight(const ps_case *c, int64_t lo[3], int64_t hi[3]) {
  const ps_labelmap *l = &c->label;
  int64_t dim[3] = {l->d, l->h, l->w};
  for (int a = 0; a < 3; a++) { lo[a] = dim[a]; hi[a] = -1; }
  for (int64_t z = 0; z < l->d; z++)
    for (int64_t y = 0; y < l->h; y++) {
      const uint8_t *row = l->data + (z * l->h + y) * l->w;
      for (int64_t x = 0; x < l->w; x++) {
        if (!row[x]) continue;
        if (z < lo[0]) lo[0] = z;
        if (z > hi[0]) hi[0] = z;
        if (y < lo[1]) lo[1] = y;
        if (y > hi[1]) hi[1] = y;
        if (x < lo[2]) lo[2] = x;
        if (x > hi[2]) hi[2] = x;
      }
    }
  if (hi[0] < 0) {
    for (int a = 0; a < 3; a++) { lo[a] = 0; hi[a] = dim[a] - 1; }
    return 0;
  }
  return 1;
}

void ps_proxy_fg_box(const ps_case *c, int64_t lo[3], int64_t hi[3]) {
  if (!fg_box_tight(c, lo, hi)) return;
  int64_t dim[3] = {c->label.d, c->label.h, c->label.w};
  for (int a = 0; a < 3; a++) {
    /* context around the object matters for similarity (organ boundary, neighbours) */
    int64_t m = (hi[a] - lo[a] + 1) / 10;
    if (m < 2) m = 2;
    lo[a] = lo[a] - m < 0 ? 0 : lo[a] - m;
    hi[a] = hi[a] + m > dim[a] - 1 ? dim[a] - 1 : hi[a] + m;
  }
}

void ps_proxy_resample_box(const ps_case *c, int ch, const int64_t lo[3], const int64_t hi[3],
                           int g, float *out) {
  const ps_volume *v = &c->image;
  const float *src = v->data + (size_t)ch * (size_t)(v->d * v->h * v->w);
  int64_t i0[3][64], i1[3][64];
  float f[3][64];
  if (g > 64) g = 64; /* the tables above; the scorers use PS_PROXY_GRID */
  for (int a = 0; a < 3; a++) {
    double ext = (double)(hi[a] - lo[a] + 1);
    for (int o = 0; o < g; o++) {
      double p = (double)lo[a] - 0.5 + (o + 0.5) * ext / g;
      if (p < (double)lo[a]) p = (double)lo[a];
      if (p > (double)hi[a]) p = (double)hi[a];
      int64_t b = (int64_t)floor(p);
      i0[a][o] = b;
      i1[a][o] = b + 1 > hi[a] ? hi[a] : b + 1;
      f[a][o] = (float)(p - (double)b);
    }
  }
  for (int z = 0; z < g; z++)
    for (int y = 0; y < g; y++)
      for (int x = 0; x < g; x++) {
        float acc = 0;
        for (int dz = 0; dz < 2; dz++) {
          float wz = dz ? f[0][z] : 1 - f[0][z];
          int64_t zz = dz ? i1[0][z] : i0[0][z];
          for (int dy = 0; dy < 2; dy++) {
            float wy = dy ? f[1][y] : 1 - f[1][y];
            int64_t yy = dy ? i1[1][y] : i0[1][y];
            const float *row = src + (zz * v->h + yy) * v->w;
            acc += wz * wy * ((1 - f[2][x]) * row[i0[2][x]] + f[2][x] * row[i1[2][x]]);
          }
        }
        out[((size_t)z * g + y) * g + x] = acc;
      }
}

static int hist_bin(float v, double lo, double hi) {
  if (!(hi > lo) || !isfinite(v)) return 0;
  int b = (int)floor((v - lo) / (hi - lo) * PS_PROXY_HIST_BINS);
  return b < 0 ? 0 : b >= PS_PROXY_HIST_BINS ? PS_PROXY_HIST_BINS - 1 : b;
}

/* Nearest-neighbour version of ps_proxy_resample_box for the label. */
static void resample_mask(const ps_case *c, const int64_t lo[3], const int64_t hi[3], uint8_t *out) {
  const ps_labelmap *l = &c->label;
  int64_t idx[3][G];
  for (int a = 0; a < 3; a++) {
    double ext = (double)(hi[a] - lo[a] + 1);
    for (int o = 0; o < G; o++) {
      int64_t k = lo[a] + (int64_t)floor((o + 0.5) * ext / G);
      idx[a][o] = k > hi[a] ? hi[a] : k;
    }
  }
  for (int z = 0; z < G; z++)
    for (int y = 0; y < G; y++)
      for (int x = 0; x < G; x++)
        out[((size_t)z * G + y) * G + x] = l->data[(idx[0][z] * l->h + idx[1][y]) * l->w + idx[2][x]] > 0;
}

static int cmp_float(const void *x, const void *y) {
  float a = *(const float *)x, b = *(const float *)y;
  return (a > b) - (a < b);
}

/* Percentiles from a strided sample: a histogram range, not a statistic. */
static void percentiles(const ps_case *c, double *p1, double *p99) {
  enum { S = 65536 };
  const ps_volume *v = &c->image;
  int64_t N = v->d * v->h * v->w, step = N / S + 1, m = 0;
  float *buf = malloc(S * sizeof *buf);
  *p1 = 0; *p99 = 1;
  if (!buf) return;
  for (int64_t k = 0; k < N && m < S; k += step)
    if (isfinite(v->data[k])) buf[m++] = v->data[k];
  if (m > 0) {
    qsort(buf, (size_t)m, sizeof *buf, cmp_float);
    *p1 = buf[m / 100];
    *p99 = buf[m - 1 - m / 100];
  }
  free(buf);
}

/* Foreground volume, box extents, elongation and surface-to-volume at full resolution. */
static void shape_numbers(const ps_case *c, double *s) {
  const ps_labelmap *l = &c->label;
  int64_t nfg = 0, nsurf = 0;
  for (int64_t z = 0; z < l->d; z++)
    for (int64_t y = 0; y < l->h; y++)
      for (int64_t x = 0; x < l->w; x++) {
        int64_t i = (z * l->h + y) * l->w + x;
        if (!l->data[i]) continue;
        nfg++;
        /* the image border counts as background: a cut-off object has an open surface */
        nsurf += z == 0 || z == l->d - 1 || y == 0 || y == l->h - 1 || x == 0 || x == l->w - 1 ||
                 !l->data[i - 1] || !l->data[i + 1] || !l->data[i - l->w] || !l->data[i + l->w] ||
                 !l->data[i - l->h * l->w] || !l->data[i + l->h * l->w];
      }
  memset(s, 0, 6 * sizeof *s);
  double vox = c->image.spacing[0] * c->image.spacing[1] * c->image.spacing[2];
  s[0] = log1p((double)nfg * vox);
  int64_t blo[3], bhi[3];
  if (fg_box_tight(c, blo, bhi)) {
    double mn = INFINITY, mx = 0;
    for (int a = 0; a < 3; a++) {
      double e = (double)(bhi[a] - blo[a] + 1) * c->image.spacing[a];
      s[1 + a] = e;
      if (e < mn) mn = e;
      if (e > mx) mx = e;
    }
    s[4] = mx / mn;
    s[5] = (double)nsurf / (double)nfg;
  }
}

void ps_proxy_sig_free(ps_proxy_sig *s) {
  if (!s) return;
  free(s->fg);
  free(s->img);
  free(s->mask);
  free(s);
}

ps_status ps_proxy_sig_create(const ps_case *c, ps_proxy_sig **out) {
  *out = NULL;
  if (!c || !c->image.data || !c->label.data || c->image.c < 1 || c->image.d != c->label.d ||
      c->image.h != c->label.h || c->image.w != c->label.w)
    return ps_error(PS_ERR_DATA, "proxy data: case %s: image and label grids differ or are empty",
                    c && c->id ? c->id : "?");
  ps_proxy_sig *s = calloc(1, sizeof *s);
  if (!s) return ps_error(PS_ERR_NOMEM, "proxy data: out of memory");
  s->c = (int)c->image.c;
  s->fg = malloc((size_t)s->c * GN * sizeof *s->fg);
  s->img = malloc(GN * sizeof *s->img);
  s->mask = malloc(GN);
  if (!s->fg || !s->img || !s->mask) {
    ps_proxy_sig_free(s);
    return ps_error(PS_ERR_NOMEM, "proxy data: out of memory for a case signature");
  }
  int64_t lo[3], hi[3], wlo[3] = {0, 0, 0}, whi[3] = {c->image.d - 1, c->image.h - 1, c->image.w - 1};
  ps_proxy_fg_box(c, lo, hi);
  for (int ch = 0; ch < s->c; ch++) ps_proxy_resample_box(c, ch, lo, hi, G, s->fg + (size_t)ch * GN);
  ps_proxy_resample_box(c, 0, wlo, whi, G, s->img);
  for (size_t i = 0; i < (size_t)s->c * GN; i++)
    if (!isfinite(s->fg[i])) s->fg[i] = 0; /* a stray NaN must not poison every pair it meets */
  for (size_t i = 0; i < GN; i++)
    if (!isfinite(s->img[i])) s->img[i] = 0;
  resample_mask(c, lo, hi, s->mask);
  percentiles(c, &s->p1, &s->p99);
  shape_numbers(c, s->shape);
  *out = s;
  return PS_OK;
}

int ps_proxy_sig_channels(const ps_proxy_sig *s) { return s->c; }
const float *ps_proxy_sig_grid(const ps_proxy_sig *s, int ch) { return s->fg + (size_t)ch * GN; }

void ps_proxy_sig_range(const ps_proxy_sig *s, double *p1, double *p99) {
  *p1 = s->p1;
  *p99 = s->p99;
}

int ps_proxy_descriptor(const ps_proxy_sig *s, double lo, double hi, double *d, int cap) {
  if (cap < PS_PROXY_DESC_LEN) return -1;
  memset(d, 0, PS_PROXY_DESC_LEN * sizeof *d);
  double *hfg = d, *him = d + PS_PROXY_HIST_BINS;
  int64_t nfg = 0;
  for (size_t i = 0; i < GN; i++) {
    him[hist_bin(s->img[i], lo, hi)] += 1;
    if (!s->mask[i]) continue;
    hfg[hist_bin(s->fg[i], lo, hi)] += 1;
    nfg++;
  }
  for (int b = 0; b < PS_PROXY_HIST_BINS; b++) {
    if (nfg) hfg[b] /= (double)nfg;
    him[b] /= (double)GN;
  }
  memcpy(d + 2 * PS_PROXY_HIST_BINS, s->shape, 6 * sizeof *d);
  return PS_PROXY_DESC_LEN;
}
