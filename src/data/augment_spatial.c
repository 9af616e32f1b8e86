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

/* One axis of a separable Gaussian, zero outside ("constant" mode, as
 * batchgenerators' gaussian_filter call), truncated at 4 sigma as SciPy. */
static void blur_axis_zero(const float *in, float *out, const int n[3], int axis, const float *k, int r) {
  const int64_t stride = axis == 2 ? 1 : axis == 1 ? n[2] : (int64_t)n[1] * n[2];
  const int len = n[axis];
  const size_t tot = (size_t)n[0] * n[1] * n[2];
  for (size_t i = 0; i < tot; i++) {
    int pos = (int)((int64_t)i / stride % len);
    int a = pos - r < 0 ? -pos : -r, b = pos + r >= len ? len - 1 - pos : r;
    double acc = 0;
    for (int t = a; t <= b; t++) acc += k[t + r] * in[(int64_t)i + t * stride];
    out[i] = (float)acc;
  }
}

/* Smoothed U(-1, 1) noise on a grid n[3] with kernel sigma sg (grid units). */
static ps_status smooth_noise(ps_rng *rng, const int n[3], double sg, double amp, float *f, float *tmp) {
  const size_t tot = (size_t)n[0] * n[1] * n[2];
  int r = sg > 0 ? (int)(4 * sg + 0.5) : 0;
  float *k = malloc((size_t)(2 * r + 1) * sizeof(float));
  if (!k) return ps_error(PS_ERR_NOMEM, "elastic deformation: out of memory");
  double ks = 0;
  for (int t = -r; t <= r; t++) ks += k[t + r] = r ? (float)exp(-0.5 * t * t / (sg * sg)) : 1.0f;
  for (int t = 0; t <= 2 * r; t++) k[t] = (float)(k[t] / ks);
  for (size_t i = 0; i < tot; i++) f[i] = (float)((ps_rng_uniform(rng) * 2 - 1) * amp);
  if (r) {
    blur_axis_zero(f, tmp, n, 2, k, r);
    blur_axis_zero(tmp, f, n, 1, k, r);
    blur_axis_zero(f, tmp, n, 0, k, r);
    memcpy(f, tmp, tot * sizeof(float));
  }
  free(k);
  return PS_OK;
}

/* Smoothing white noise with sigma >= 4 voxels is done on a grid coarser by
 * c = floor(sigma / 2) (kernel sigma/c in [2, 4) there), with the noise
 * scaled by c^-3/2 so the field keeps its variance, then interpolated
 * trilinearly: the same field statistics at 1/c^3 of the cost (alpha 900,
 * sigma 13 on 64^3 patches: c = 6). */
ps_status ps_aug_elastic_field(const ps_aug_draw *d, const int P[3], float *field) {
  const size_t pv = (size_t)P[0] * P[1] * P[2];
  const double sg = d->elastic_sigma;
  const int c = sg >= 4 ? (int)(sg / 2) : 1;
  int n[3];
  for (int a = 0; a < 3; a++) n[a] = c > 1 ? (P[a] - 1) / c + 2 : P[a];
  const size_t nv = (size_t)n[0] * n[1] * n[2];
  ps_rng *rng = ps_rng_create(d->elastic_seed);
  float *tmp = malloc(nv * sizeof(float)), *g = c > 1 ? malloc(nv * sizeof(float)) : NULL;
  ps_status st = rng && tmp && (c == 1 || g) ? PS_OK : ps_error(PS_ERR_NOMEM, "elastic deformation: out of memory");
  for (int comp = 0; comp < 3 && !st; comp++) {
    float *f = field + comp * pv;
    if (c == 1) {
      st = smooth_noise(rng, n, sg, d->elastic_alpha, f, tmp);
      continue;
    }
    st = smooth_noise(rng, n, sg / c, d->elastic_alpha * pow(c, -1.5), g, tmp);
    for (int z = 0; z < P[0] && !st; z++) {
      int z0 = z / c;
      float fz = (float)(z - z0 * c) / c;
      for (int y = 0; y < P[1]; y++) {
        int y0 = y / c;
        float fy = (float)(y - y0 * c) / c;
        const float *g00 = g + ((size_t)z0 * n[1] + y0) * n[2], *g01 = g00 + n[2];
        const float *g10 = g00 + (size_t)n[1] * n[2], *g11 = g10 + n[2];
        float *o = f + ((size_t)z * P[1] + y) * P[2];
        for (int x = 0; x < P[2]; x++) {
          int x0 = x / c;
          float fx = (float)(x - x0 * c) / c;
          float a0 = g00[x0] + fx * (g00[x0 + 1] - g00[x0]), a1 = g01[x0] + fx * (g01[x0 + 1] - g01[x0]);
          float b0 = g10[x0] + fx * (g10[x0 + 1] - g10[x0]), b1 = g11[x0] + fx * (g11[x0 + 1] - g11[x0]);
          float a = a0 + fy * (a1 - a0), b = b0 + fy * (b1 - b0);
          o[x] = a + fz * (b - a);
        }
      }
    }
  }
  ps_rng_free(rng);
  free(tmp);
  free(g);
  return st;
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
  const size_t pv = (size_t)P[0] * P[1] * P[2], sv = (size_t)(S[0] * S[1] * S[2]);
  float *field = NULL; /* [3][pd][ph][pw] displacement in voxels */
  bool elastic = d->elastic && (field = malloc(3 * pv * sizeof(float))) != NULL;
  if (elastic && ps_aug_elastic_field(d, P, field)) elastic = false; /* degrade to no deformation rather than fail mid-batch */
  const int64_t s12 = S[1] * S[2];
  for (int i0 = 0; i0 < P[0]; i0++) {
    double o0 = i0 - 0.5 * (P[0] - 1);
    for (int i1 = 0; i1 < P[1]; i1++) {
      double o1 = i1 - 0.5 * (P[1] - 1);
      size_t orow = ((size_t)i0 * P[1] + i1) * P[2];
      double base[3];
      const double o2_0 = -0.5 * (P[2] - 1);
      for (int k = 0; k < 3; k++) base[k] = centre[k] + M[k][0] * o0 + M[k][1] * o1 + M[k][2] * o2_0;
      for (int i2 = 0; i2 < P[2]; i2++) {
        double x[3];
        for (int k = 0; k < 3; k++) x[k] = base[k] + M[k][2] * i2;
        if (elastic)
          for (int k = 0; k < 3; k++) x[k] += field[k * pv + orow + i2];
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
  free(field);
}
