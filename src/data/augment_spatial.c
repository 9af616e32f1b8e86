/* Spatial augmentation: rotations, zoom, elastic deformation and mirroring
 * combined into one coordinate map from patch voxels to source voxels, applied
 * once (image trilinear, labels nearest; outside the source: 0). */
#include "proxyseg/augment.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* R = Rz * Ry * Rx in (D, H, W) = (z, y, x) component order. */
static void rotation(const double rot[3], double R[3][3]) {
  double cx = cos(rot[0]), sx = sin(rot[0]), cy = cos(rot[1]), sy = sin(rot[1]), cz = cos(rot[2]), sz = sin(rot[2]);
  /* in (x, y, z) order first, then permute to (z, y, x) */
  double Rx[3][3] = {{1, 0, 0}, {0, cx, -sx}, {0, sx, cx}};
  double Ry[3][3] = {{cy, 0, sy}, {0, 1, 0}, {-sy, 0, cy}};
  double Rz[3][3] = {{cz, -sz, 0}, {sz, cz, 0}, {0, 0, 1}};
  double T[3][3], M[3][3];
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++) {
      T[i][j] = 0;
      for (int k = 0; k < 3; k++) T[i][j] += Ry[i][k] * Rx[k][j];
    }
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++) {
      M[i][j] = 0;
      for (int k = 0; k < 3; k++) M[i][j] += Rz[i][k] * T[k][j];
    }
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++) R[i][j] = M[2 - i][2 - j];
}

/* Integer copy with zero padding and flips: the common no-spatial-op case. */
static void copy_patch(const float *src_img, const uint8_t *src_lab, int C, const int64_t S[3],
                       const double centre[3], const bool mirror[3], const int P[3], float *out_img, uint8_t *out_lab) {
  int64_t lo[3];
  for (int k = 0; k < 3; k++) lo[k] = (int64_t)floor(centre[k] - 0.5 * (P[k] - 1) + 0.5);
  const size_t pv = (size_t)P[0] * P[1] * P[2], sv = (size_t)(S[0] * S[1] * S[2]);
  /* patch columns i2 in [a, b) read source voxels inside the volume
   * (contiguous: the source column is monotonic in i2) */
  int a = P[2], b = 0;
  for (int i2 = 0; i2 < P[2]; i2++) {
    int64_t s2 = lo[2] + (mirror[2] ? P[2] - 1 - i2 : i2);
    if (s2 >= 0 && s2 < S[2]) { if (a == P[2]) a = i2; b = i2 + 1; }
  }
  if (a > b) a = b = 0;
  for (int i0 = 0; i0 < P[0]; i0++) {
    int64_t s0 = lo[0] + (mirror[0] ? P[0] - 1 - i0 : i0);
    for (int i1 = 0; i1 < P[1]; i1++) {
      int64_t s1 = lo[1] + (mirror[1] ? P[1] - 1 - i1 : i1);
      size_t o = ((size_t)i0 * P[1] + i1) * P[2];
      bool row_in = s0 >= 0 && s0 < S[0] && s1 >= 0 && s1 < S[1] && a < b;
      for (int c = 0; c < C; c++) {
        float *dst = out_img + c * pv + o;
        if (!row_in) { memset(dst, 0, (size_t)P[2] * sizeof(float)); continue; }
        const float *src = src_img + c * sv + (size_t)((s0 * S[1] + s1) * S[2]);
        for (int i2 = 0; i2 < a; i2++) dst[i2] = 0.f;
        if (!mirror[2]) memcpy(dst + a, src + lo[2] + a, (size_t)(b - a) * sizeof(float));
        else for (int i2 = a; i2 < b; i2++) dst[i2] = src[lo[2] + P[2] - 1 - i2];
        for (int i2 = b; i2 < P[2]; i2++) dst[i2] = 0.f;
      }
      if (out_lab) {
        uint8_t *dst = out_lab + o;
        if (!row_in || !src_lab) { memset(dst, 0, (size_t)P[2]); continue; }
        const uint8_t *src = src_lab + (size_t)((s0 * S[1] + s1) * S[2]);
        memset(dst, 0, (size_t)a);
        if (!mirror[2]) memcpy(dst + a, src + lo[2] + a, (size_t)(b - a));
        else for (int i2 = a; i2 < b; i2++) dst[i2] = src[lo[2] + P[2] - 1 - i2];
        memset(dst + b, 0, (size_t)(P[2] - b));
      }
    }
  }
}

/* Elastic displacement: control points every `sg` voxels with displacement
 * in [-alpha, alpha] per axis, trilinear in between. */
typedef struct { int n[3]; double inv; float *g; /* [3][n0][n1][n2] */ } elastic_grid;

static bool elastic_init(elastic_grid *e, const ps_aug_draw *d, const int P[3]) {
  e->inv = 1.0 / d->elastic_sigma;
  size_t tot = 1;
  for (int k = 0; k < 3; k++) { e->n[k] = (int)ceil((P[k] - 1) * e->inv) + 2; tot *= (size_t)e->n[k]; }
  e->g = malloc(3 * tot * sizeof(float));
  if (!e->g) return false;
  ps_rng *r = ps_rng_create(d->elastic_seed);
  if (!r) { free(e->g); e->g = NULL; return false; }
  for (size_t i = 0; i < 3 * tot; i++) e->g[i] = (float)ps_rng_uniform_range(r, -d->elastic_alpha, d->elastic_alpha);
  ps_rng_free(r);
  return true;
}

/* Displacements along one patch row (i0, i1): bilinear in the (i0, i1) plane
 * gives a line of control values, then linear along i2. line: 3*n2 scratch. */
static void elastic_row(const elastic_grid *e, int i0, int i1, int P2, float *line, float *disp /*[3][P2]*/) {
  double x0 = i0 * e->inv, x1 = i1 * e->inv;
  int b0 = (int)x0, b1 = (int)x1;
  if (b0 > e->n[0] - 2) b0 = e->n[0] - 2;
  if (b1 > e->n[1] - 2) b1 = e->n[1] - 2;
  float f0 = (float)(x0 - b0), f1 = (float)(x1 - b1);
  const int n2 = e->n[2];
  const size_t tot = (size_t)e->n[0] * e->n[1] * n2;
  for (int c = 0; c < 3; c++) {
    const float *g = e->g + c * tot;
    const float *r00 = g + ((size_t)b0 * e->n[1] + b1) * n2, *r01 = r00 + n2;
    const float *r10 = r00 + (size_t)e->n[1] * n2, *r11 = r10 + n2;
    for (int t = 0; t < n2; t++)
      line[c * n2 + t] = (1 - f0) * ((1 - f1) * r00[t] + f1 * r01[t]) + f0 * ((1 - f1) * r10[t] + f1 * r11[t]);
  }
  for (int i2 = 0; i2 < P2; i2++) {
    double x2 = i2 * e->inv;
    int b2 = (int)x2;
    if (b2 > n2 - 2) b2 = n2 - 2;
    float f2 = (float)(x2 - b2);
    for (int c = 0; c < 3; c++) disp[c * P2 + i2] = (1 - f2) * line[c * n2 + b2] + f2 * line[c * n2 + b2 + 1];
  }
}

void ps_aug_spatial(const float *src_img, const uint8_t *src_lab, int C, const int64_t shape[3],
                    const double centre[3], const ps_aug_draw *d, const int patch[3],
                    float *out_img, uint8_t *out_lab) {
  const int *P = patch;
  const int64_t *S = shape;
  if (!d->spatial) { copy_patch(src_img, src_lab, C, S, centre, d->mirror, P, out_img, out_lab); return; }
  double R[3][3];
  rotation(d->rot, R);
  const double inv_s = 1.0 / d->scale;
  double sgn[3];
  for (int k = 0; k < 3; k++) sgn[k] = d->mirror[k] ? -1 : 1;
  /* M maps the centred patch offset o (mirrored) to a source offset */
  double M[3][3];
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++) M[i][j] = R[i][j] * inv_s * sgn[j];
  elastic_grid eg = {{0, 0, 0}, 0, NULL};
  bool elastic = d->elastic && elastic_init(&eg, d, P);
  float *line = NULL, *disp = NULL;
  if (elastic) {
    line = malloc(3 * (size_t)eg.n[2] * sizeof(float));
    disp = malloc(3 * (size_t)P[2] * sizeof(float));
    if (!line || !disp) elastic = false; /* degrade to no deformation rather than fail mid-batch */
  }
  const size_t pv = (size_t)P[0] * P[1] * P[2], sv = (size_t)(S[0] * S[1] * S[2]);
  const int64_t s12 = S[1] * S[2];
  for (int i0 = 0; i0 < P[0]; i0++) {
    double o0 = i0 - 0.5 * (P[0] - 1);
    for (int i1 = 0; i1 < P[1]; i1++) {
      double o1 = i1 - 0.5 * (P[1] - 1);
      size_t orow = ((size_t)i0 * P[1] + i1) * P[2];
      if (elastic) elastic_row(&eg, i0, i1, P[2], line, disp);
      double base[3];
      const double o2_0 = -0.5 * (P[2] - 1);
      for (int k = 0; k < 3; k++) base[k] = centre[k] + M[k][0] * o0 + M[k][1] * o1 + M[k][2] * o2_0;
      for (int i2 = 0; i2 < P[2]; i2++) {
        double x[3];
        for (int k = 0; k < 3; k++) x[k] = base[k] + M[k][2] * i2;
        if (elastic)
          for (int k = 0; k < 3; k++) x[k] += disp[k * P[2] + i2];
        const size_t o = orow + i2;
        const double fl0 = floor(x[0]), fl1 = floor(x[1]), fl2 = floor(x[2]);
        const int64_t b0 = (int64_t)fl0, b1 = (int64_t)fl1, b2 = (int64_t)fl2;
        const float f0 = (float)(x[0] - fl0), f1 = (float)(x[1] - fl1), f2 = (float)(x[2] - fl2);
        /* labels: nearest neighbour */
        if (out_lab) {
          const int64_t n0 = b0 + (f0 >= 0.5f), n1 = b1 + (f1 >= 0.5f), n2 = b2 + (f2 >= 0.5f);
          const bool in = n0 >= 0 && n0 < S[0] && n1 >= 0 && n1 < S[1] && n2 >= 0 && n2 < S[2];
          out_lab[o] = (in && src_lab) ? src_lab[n0 * s12 + n1 * S[2] + n2] : 0;
        }
        /* image: trilinear, zero outside */
        if (b0 >= 0 && b0 < S[0] - 1 && b1 >= 0 && b1 < S[1] - 1 && b2 >= 0 && b2 < S[2] - 1) {
          const size_t i000 = (size_t)(b0 * s12 + b1 * S[2] + b2);
          for (int c = 0; c < C; c++) {
            const float *p = src_img + c * sv + i000;
            const float *q = p + s12;
            float c00 = p[0] + f2 * (p[1] - p[0]), c01 = p[S[2]] + f2 * (p[S[2] + 1] - p[S[2]]);
            float c10 = q[0] + f2 * (q[1] - q[0]), c11 = q[S[2]] + f2 * (q[S[2] + 1] - q[S[2]]);
            float c0 = c00 + f1 * (c01 - c00), c1 = c10 + f1 * (c11 - c10);
            out_img[c * pv + o] = c0 + f0 * (c1 - c0);
          }
          continue;
        }
        if (b0 < -1 || b0 >= S[0] || b1 < -1 || b1 >= S[1] || b2 < -1 || b2 >= S[2]) {
          for (int c = 0; c < C; c++) out_img[c * pv + o] = 0.f;
          continue;
        }
        float w[8]; int64_t idx[8];
        int m = 0;
        for (int a = 0; a < 2; a++) {
          int64_t z = b0 + a;
          float wa = a ? f0 : 1 - f0;
          for (int b = 0; b < 2; b++) {
            int64_t y = b1 + b;
            float wb = wa * (b ? f1 : 1 - f1);
            for (int cc = 0; cc < 2; cc++) {
              int64_t xx = b2 + cc;
              if (z < 0 || z >= S[0] || y < 0 || y >= S[1] || xx < 0 || xx >= S[2]) continue;
              w[m] = wb * (cc ? f2 : 1 - f2);
              idx[m++] = z * s12 + y * S[2] + xx;
            }
          }
        }
        for (int c = 0; c < C; c++) {
          const float *src = src_img + c * sv;
          float acc = 0.f;
          for (int t = 0; t < m; t++) acc += w[t] * src[idx[t]];
          out_img[c * pv + o] = acc;
        }
      }
    }
  }
  free(eg.g);
  free(line);
  free(disp);
}
