/* The transforms of 3D Winograd F(2x2x2, 3x3x3), which conv_winograd.c's
 * drivers run (ps_wino23): 4^3 input tiles, 64 per-position GEMMs, 2^3 output
 * tiles, i.e. 64 instead of 8 * 27 = 216 multiplies per output tile and
 * channel pair (3.4x fewer than vol2col + SGEMM). */
#include "backend/cpu/conv_winograd_simd.h"
#include <string.h>

/* F(2,3) per axis (Lavin & Gray 2016):
 *   B^T d : v0 = d0 - d2, v1 = d1 + d2, v2 = d2 - d1, v3 = d1 - d3
 *   G w   : u0 = w0, u1 = (w0 + w1 + w2)/2, u2 = (w0 - w1 + w2)/2, u3 = w2
 *   A^T m : y0 = m0 + m1 + m2, y1 = m1 - m2 - m3
 * adjoints for backward-weight: A y (m = y0, y0 + y1, y0 - y1, -y1), G^T u.
 * A tile (tz, ty, tx) reads input voxels 2t-1 .. 2t+2 and writes outputs 2t, 2t+1
 * per axis. Transforms run over one "tile row" (fixed n, tz, ty; all TW tiles
 * along W) so that their loops vectorise over tx; a row of input is split into
 * even and odd voxels first (e[j] = x[2j-1], o[j] = x[2j]). */

/* Scratch floats the block transforms need (tmp argument). */
static int64_t tmp_elems(const wino_plan *P) { return 64 * P->ldt + 2 * (P->TW + 1) + 16; }

/* ---- transforms of one block (tile rows [r0, r1), nt = (r1 - r0) * TW tiles).
 * The x stage runs per tile row (it reads the even/odd split of an input row);
 * the y and z stages run over all columns of the block at once, so they
 * vectorise even when TW is 4. Columns [nt, nt rounded up to 16) are kept at zero; nothing reads past them. ---- */

/* ---- x stages of one row (the only stages that read or write a volume row):
 * AVX-512 splits even and odd voxels in registers (two-source permutes, masked
 * loads and stores at the borders); elsewhere through small even/odd buffers. ---- */
#if defined(__AVX512F__)
#define EVEN_IDX _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30)
#define ODD_IDX _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31)
#endif


/* dst[0..n) = src[0..n): n is 4-32 here, where a libc memcpy call cost more than the copy */
static inline void copy_row(float *dst, const float *src, int64_t n) {
#if defined(__AVX512F__)
  for (int64_t t = 0; t < n; t += 16) _mm512_mask_storeu_ps(dst + t, lane_mask(t, n), mload(src, t, n));
#else
  memcpy(dst, src, (size_t)n * sizeof(float));
#endif
}

/* d[px * L + t] (t < TW) = B^T (x[2t-1], x[2t], x[2t+1], x[2t+2]) of one input row x [W]
 * (0 outside); eo: 2 (TW + 1) floats of scratch. */
static inline void x_stage_in(const float *row, int64_t W, int64_t TW, int64_t L, float *d, float *eo) {
#if defined(__AVX512F__)
  (void)eo;
  /* e[j] = x[2t], o[j] = x[2t + 1] (t = t0 + j) from two loads at 2 t0, which
   * are whole cache lines inside a row; x[2t - 1] and x[2t + 2] are o and e
   * shifted by a lane. (Four loads at 2 t0 - 1 and 2 t0 + 1 split cache lines
   * and made these loads the transform's hot spot.) */
  __m512i oprev = _mm512_setzero_si512(); /* lane 15: x[2 t0 - 1] */
  for (int64_t t0 = 0; t0 < TW; t0 += 16) {
    const int64_t s = 2 * t0;
    const __m512 A = mload(row, s, W), B = mload(row, s + 16, W);
    const __m512 e = _mm512_permutex2var_ps(A, EVEN_IDX, B), o = _mm512_permutex2var_ps(A, ODD_IDX, B);
    const __m512i en = _mm512_castps_si512(_mm512_set1_ps(s + 32 < W ? row[s + 32] : 0.0f)); /* x[2 t0 + 32] */
    const __m512 om1 = _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(o), oprev, 15));
    const __m512 ep1 = _mm512_castsi512_ps(_mm512_alignr_epi32(en, _mm512_castps_si512(e), 1));
    oprev = _mm512_castps_si512(o);
    const __mmask16 m = lane_mask(t0, TW);
    _mm512_mask_storeu_ps(d + t0, m, _mm512_sub_ps(om1, o));
    _mm512_mask_storeu_ps(d + L + t0, m, _mm512_add_ps(e, o));
    _mm512_mask_storeu_ps(d + 2 * L + t0, m, _mm512_sub_ps(o, e));
    _mm512_mask_storeu_ps(d + 3 * L + t0, m, _mm512_sub_ps(e, ep1));
  }
#else
  float *e = eo, *o = eo + TW + 1;
  const int64_t ne = W / 2 < TW ? W / 2 : TW;             /* e[j] = x[2j-1] valid for 1 <= j <= ne */
  const int64_t no = (W - 1) / 2 < TW ? (W - 1) / 2 : TW; /* o[j] = x[2j] valid for 0 <= j <= no */
  e[0] = 0.0f;
  for (int64_t j = 1; j <= ne; j++) e[j] = row[2 * j - 1];
  for (int64_t j = ne + 1; j <= TW; j++) e[j] = 0.0f;
  for (int64_t j = 0; j <= no; j++) o[j] = row[2 * j];
  for (int64_t j = no + 1; j <= TW; j++) o[j] = 0.0f;
  float *d0 = d, *d1 = d + L, *d2 = d + 2 * L, *d3 = d + 3 * L;
  for (int64_t t = 0; t < TW; t++) {
    d0[t] = e[t] - e[t + 1];
    d1[t] = o[t] + e[t + 1];
    d2[t] = e[t + 1] - o[t];
    d3[t] = o[t] - o[t + 1];
  }
#endif
}

/* d[px * L + t] (t < TW) = A (y[2t], y[2t+1]) of one gradient row y [W] (0 past W). */
static inline void x_stage_grad(const float *row, int64_t W, int64_t TW, int64_t L, float *d, float *eo) {
#if defined(__AVX512F__)
  (void)eo;
  for (int64_t t0 = 0; t0 < TW; t0 += 16) {
    const __m512 A = mload(row, 2 * t0, W), B = mload(row, 2 * t0 + 16, W);
    const __m512 e = _mm512_permutex2var_ps(A, EVEN_IDX, B), o = _mm512_permutex2var_ps(A, ODD_IDX, B);
    const __mmask16 m = lane_mask(t0, TW);
    _mm512_mask_storeu_ps(d + t0, m, e);
    _mm512_mask_storeu_ps(d + L + t0, m, _mm512_add_ps(e, o));
    _mm512_mask_storeu_ps(d + 2 * L + t0, m, _mm512_sub_ps(e, o));
    _mm512_mask_storeu_ps(d + 3 * L + t0, m, _mm512_sub_ps(_mm512_setzero_ps(), o));
  }
#else
  float *e = eo, *o = eo + TW + 1;
  const int64_t no = W / 2; /* o[j] = row[2j+1] valid for j < W/2 */
  for (int64_t j = 0; j < TW; j++) e[j] = row[2 * j];
  for (int64_t j = 0; j < no; j++) o[j] = row[2 * j + 1];
  for (int64_t j = no; j < TW; j++) o[j] = 0.0f;
  float *d0 = d, *d1 = d + L, *d2 = d + 2 * L, *d3 = d + 3 * L;
  for (int64_t t = 0; t < TW; t++) {
    d0[t] = e[t];
    d1[t] = e[t] + o[t];
    d2[t] = e[t] - o[t];
    d3[t] = -o[t];
  }
#endif
}

/* out [W] (=, or += when acc) the row A^T (a[t], a[L + t], a[2L + t], a[3L + t]) + bias,
 * output 2t and 2t + 1 from tile t; line: 2 TW floats of scratch. */
static inline void x_stage_out(const float *a, int64_t L, int64_t TW, int64_t W, float bias, bool acc, float *out,
                               float *line) {
#if defined(__AVX512F__)
  (void)line;
  const __m512 bv = _mm512_set1_ps(bias);
  const __m512i lo_idx = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i hi_idx = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  for (int64_t t0 = 0; t0 < TW; t0 += 16) {
    const __m512 a0 = mload(a, t0, TW), a1 = mload(a + L, t0, TW), a2 = mload(a + 2 * L, t0, TW),
                 a3 = mload(a + 3 * L, t0, TW);
    const __m512 y0 = _mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, bv));
    const __m512 y1 = _mm512_sub_ps(_mm512_sub_ps(a1, a2), _mm512_sub_ps(a3, bv));
    const __m512 lo = _mm512_permutex2var_ps(y0, lo_idx, y1), hi = _mm512_permutex2var_ps(y0, hi_idx, y1);
    const __mmask16 mlo = lane_mask(2 * t0, W), mhi = lane_mask(2 * t0 + 16, W);
    if (acc) {
      _mm512_mask_storeu_ps(out + 2 * t0, mlo, _mm512_add_ps(mload(out, 2 * t0, W), lo));
      if (mhi) _mm512_mask_storeu_ps(out + 2 * t0 + 16, mhi, _mm512_add_ps(mload(out, 2 * t0 + 16, W), hi));
    } else {
      _mm512_mask_storeu_ps(out + 2 * t0, mlo, lo);
      if (mhi) _mm512_mask_storeu_ps(out + 2 * t0 + 16, mhi, hi);
    }
  }
#else
  const float *a0 = a, *a1 = a + L, *a2 = a + 2 * L, *a3 = a + 3 * L;
  for (int64_t t = 0; t < TW; t++) {
    line[2 * t] = a0[t] + a1[t] + a2[t] + bias;
    line[2 * t + 1] = a1[t] - a2[t] - a3[t] + bias;
  }
  if (acc)
    for (int64_t i = 0; i < W; i++) out[i] += line[i];
  else
    memcpy(out, line, (size_t)W * sizeof(float));
#endif
}

/* v[p * pos_stride(C) + c * ldt + t] = B^T d B (3D) for every tile t of the block and channel c of x [N, C, D, H, W]. */
static void input_block(const float *x, int64_t C, const wino_plan *P, int64_t r0, int64_t r1, float *tmp,
                        float *restrict v) {
  const int64_t D = P->D, H = P->H, W = P->W, TW = P->TW, L = P->ldt, nt = (r1 - r0) * TW, vol = D * H * W;
  const int64_t n16 = cols16(nt), PS = pos_stride(P, C);
  float *restrict t1 = tmp; /* x stage: [zi][yi][px][L] */
  float *eo = tmp + 64 * L; /* x_stage_in's scratch */
  for (int i = 0; i < 64; i++) memset(t1 + i * L + nt, 0, (size_t)(n16 - nt) * sizeof(float));
  for (int64_t c = 0; c < C; c++) {
    if (c + 1 < C)
      for (int64_t r = r0; r < r1; r++) {
        int64_t n, tz, ty;
        row_pos(P, r, &n, &tz, &ty);
        const bool last = r + 1 == r1 || (r + 1) % P->TH == 0; /* no next tile row reading y + 2, y + 3 */
        prefetch_rows(x + (n * C + c + 1) * vol, P, 2 * tz - 1, 4, 2 * ty - 1, last ? 4 : 2);
      }
    /* backwards, so that a tile row's input rows yi = 2, 3 can be copied from
     * the next tile row's yi = 0, 1 (the same input rows) when it continues in y */
    for (int64_t r = r1 - 1; r >= r0; r--) {
      int64_t n, tz, ty;
      row_pos(P, r, &n, &tz, &ty);
      const float *xc = x + (n * C + c) * vol;
      const int64_t col = (r - r0) * TW;
      const bool cont = r + 1 < r1 && (r + 1) % P->TH != 0;
      for (int zi = 0; zi < 4; zi++)
        for (int yi = 0; yi < 4; yi++) {
          const int64_t z = 2 * tz - 1 + zi, y = 2 * ty - 1 + yi;
          float *d0 = t1 + (zi * 4 + yi) * 4 * L + col;
          if (yi >= 2 && cont) {
            for (int px = 0; px < 4; px++) copy_row(d0 + px * L, d0 - 8 * L + TW + px * L, TW);
            continue;
          }
          if (z < 0 || z >= D || y < 0 || y >= H) {
            for (int px = 0; px < 4; px++) memset(d0 + px * L, 0, (size_t)TW * sizeof(float));
            continue;
          }
          x_stage_in(xc + (z * H + y) * W, W, TW, L, d0, eo);
        }
    }
    /* along y and z together, 16 columns at a time in registers, into v */
    for (int px = 0; px < 4; px++)
      for (int64_t t = 0; t < n16; t += 16) {
        v16 a[4][4];
        for (int zi = 0; zi < 4; zi++) {
          v16 d[4];
          for (int yi = 0; yi < 4; yi++) d[yi] = ld16(t1 + ((zi * 4 + yi) * 4 + px) * L + t);
          a[zi][0] = d[0] - d[2];
          a[zi][1] = d[1] + d[2];
          a[zi][2] = d[2] - d[1];
          a[zi][3] = d[1] - d[3];
        }
        for (int py = 0; py < 4; py++) {
          float *v0 = v + (py * 4 + px) * PS + c * L + t, *v1 = v0 + 16 * PS, *v2 = v1 + 16 * PS, *v3 = v2 + 16 * PS;
          st16(v0, a[0][py] - a[2][py]);
          st16(v1, a[1][py] + a[2][py]);
          st16(v2, a[2][py] - a[1][py]);
          st16(v3, a[1][py] - a[3][py]);
        }
      }
  }
}

/* y [N, K, D, H, W] (=, or += when acc) A^T m A (3D) + b[k] for the block's tiles, from m[p * pos_stride(K) + k * ldt + t]. */
static void output_block(const float *m, int64_t K, const wino_plan *P, int64_t r0, int64_t r1, float *tmp,
                         float *y, const float *b, bool acc) {
  const int64_t D = P->D, H = P->H, W = P->W, TW = P->TW, L = P->ldt, nt = (r1 - r0) * TW, vol = D * H * W;
  const int64_t PS = pos_stride(P, K);
  float *restrict r = tmp;          /* [oz][oy][px][L]: 16 L */
  float *restrict line = tmp + 16 * L;
  for (int64_t k = 0; k < K; k++) {
    const float bias = b ? b[k] : 0.0f;
    /* along z and y together, 16 columns at a time in registers */
    for (int px = 0; px < 4; px++)
      for (int64_t t = 0; t < nt; t += 16) {
        v16 sz[2][4];
        for (int py = 0; py < 4; py++) {
          const float *m0 = m + (py * 4 + px) * PS + k * L + t;
          const v16 a0 = ld16(m0), a1 = ld16(m0 + 16 * PS), a2 = ld16(m0 + 32 * PS), a3 = ld16(m0 + 48 * PS);
          sz[0][py] = a0 + a1 + a2;
          sz[1][py] = a1 - a2 - a3;
        }
        for (int oz = 0; oz < 2; oz++) {
          float *q0 = r + (oz * 8 + px) * L + t;
          st16(q0, sz[oz][0] + sz[oz][1] + sz[oz][2]);
          st16(q0 + 4 * L, sz[oz][1] - sz[oz][2] - sz[oz][3]);
        }
      }
    for (int64_t row = r0; row < r1; row++) {
      int64_t n, tz, ty;
      row_pos(P, row, &n, &tz, &ty);
      const int64_t col = (row - r0) * TW;
      float *yk = y + (n * K + k) * vol;
      for (int oz = 0; oz < 2; oz++)
        for (int oy = 0; oy < 2; oy++) {
          const int64_t z = 2 * tz + oz, yy = 2 * ty + oy;
          if (z >= D || yy >= H) continue;
          x_stage_out(r + (oz * 2 + oy) * 4 * L + col, L, TW, W, bias, acc, yk + (z * H + yy) * W, line);
        }
    }
  }
}

/* dm[p * pos_stride(K) + k * ldt + t] = A dy A^T (3D) of the block's output tiles of dy [N, K, D, H, W]
 * (voxels past the border count as 0). */
static void grad_block(const float *dy, int64_t K, const wino_plan *P, int64_t r0, int64_t r1, float *tmp,
                       float *restrict dm) {
  const int64_t D = P->D, H = P->H, W = P->W, TW = P->TW, L = P->ldt, nt = (r1 - r0) * TW, vol = D * H * W;
  const int64_t n16 = cols16(nt), PS = pos_stride(P, K);
  float *restrict q = tmp; /* [oz][oy][px][L]: 16 L */
  float *eo = tmp + 16 * L; /* x_stage_grad's scratch */
  for (int i = 0; i < 16; i++) memset(q + i * L + nt, 0, (size_t)(n16 - nt) * sizeof(float));
  for (int64_t k = 0; k < K; k++) {
    if (k + 1 < K)
      for (int64_t row = r0; row < r1; row++) {
        int64_t n, tz, ty;
        row_pos(P, row, &n, &tz, &ty);
        prefetch_rows(dy + (n * K + k + 1) * vol, P, 2 * tz, 2, 2 * ty, 2);
      }
    for (int64_t row = r0; row < r1; row++) {
      int64_t n, tz, ty;
      row_pos(P, row, &n, &tz, &ty);
      const float *dyk = dy + (n * K + k) * vol;
      const int64_t col = (row - r0) * TW;
      for (int oz = 0; oz < 2; oz++)
        for (int oy = 0; oy < 2; oy++) {
          const int64_t z = 2 * tz + oz, yy = 2 * ty + oy;
          float *d0 = q + (oz * 2 + oy) * 4 * L + col;
          if (z >= D || yy >= H) {
            for (int px = 0; px < 4; px++) memset(d0 + px * L, 0, (size_t)TW * sizeof(float));
            continue;
          }
          x_stage_grad(dyk + (z * H + yy) * W, W, TW, L, d0, eo);
        }
    }
    /* along y and z together, 16 columns at a time in registers, into dm */
    for (int px = 0; px < 4; px++)
      for (int64_t t = 0; t < n16; t += 16) {
        v16 yz[2][4];
        for (int oz = 0; oz < 2; oz++) {
          const v16 a0 = ld16(q + (oz * 8 + px) * L + t), a1 = ld16(q + (oz * 8 + 4 + px) * L + t);
          yz[oz][0] = a0;
          yz[oz][1] = a0 + a1;
          yz[oz][2] = a0 - a1;
          yz[oz][3] = -a1;
        }
        for (int py = 0; py < 4; py++) {
          float *m0 = dm + (py * 4 + px) * PS + k * L + t;
          st16(m0, yz[0][py]);
          st16(m0 + 16 * PS, yz[0][py] + yz[1][py]);
          st16(m0 + 32 * PS, yz[0][py] - yz[1][py]);
          st16(m0 + 48 * PS, -yz[1][py]);
        }
      }
  }
}

/* ---- weights, 16 kernels at a time (lanes l), so that every write to the
 * transformed weight is one 64-byte row instead of 64 scattered floats ---- */
#define LANES for (int l = 0; l < WL; l++)

/* u[p * ustride + l] = G w_l G^T (3D) for l < nl, w_l = w + l * wstride (3^3 kernels). */
static void weight_transform16(const float *w, int64_t wstride, int nl, float *u, int64_t ustride) {
  float in[27][WL], a[3][3][4][WL], b[3][4][4][WL];
  for (int t = 0; t < 27; t++) LANES in[t][l] = l < nl ? w[l * wstride + t] : 0.0f;
  for (int z = 0; z < 3; z++)
    for (int y = 0; y < 3; y++) {
      const float(*r)[WL] = in + (z * 3 + y) * 3;
      LANES {
        a[z][y][0][l] = r[0][l];
        a[z][y][1][l] = 0.5f * (r[0][l] + r[1][l] + r[2][l]);
        a[z][y][2][l] = 0.5f * (r[0][l] - r[1][l] + r[2][l]);
        a[z][y][3][l] = r[2][l];
      }
    }
  for (int z = 0; z < 3; z++)
    for (int x = 0; x < 4; x++) LANES {
        b[z][0][x][l] = a[z][0][x][l];
        b[z][1][x][l] = 0.5f * (a[z][0][x][l] + a[z][1][x][l] + a[z][2][x][l]);
        b[z][2][x][l] = 0.5f * (a[z][0][x][l] - a[z][1][x][l] + a[z][2][x][l]);
        b[z][3][x][l] = a[z][2][x][l];
      }
  for (int y = 0; y < 4; y++)
    for (int x = 0; x < 4; x++) {
      const int q = y * 4 + x;
      float o[4][WL];
      LANES {
        o[0][l] = b[0][y][x][l];
        o[1][l] = 0.5f * (b[0][y][x][l] + b[1][y][x][l] + b[2][y][x][l]);
        o[2][l] = 0.5f * (b[0][y][x][l] - b[1][y][x][l] + b[2][y][x][l]);
        o[3][l] = b[2][y][x][l];
      }
      for (int pz = 0; pz < 4; pz++) memcpy(u + (pz * 16 + q) * ustride, o[pz], (size_t)nl * sizeof(float));
    }
}

/* dw_l[27] (+)= G^T du_l G (3D) for l < nl, du_l[p] = du[p][l] (double sums of the
 * threads' parts), dw_l = dw + l * 27. */
static void weight_grad_transform16(const double du[64][WL], int nl, float *dw, bool acc) {
  double a[4][4][3][WL], b[4][3][3][WL];
  for (int z = 0; z < 4; z++)
    for (int y = 0; y < 4; y++) {
      const double(*u)[WL] = du + (z * 4 + y) * 4;
      LANES {
        a[z][y][0][l] = u[0][l] + 0.5 * (u[1][l] + u[2][l]);
        a[z][y][1][l] = 0.5 * (u[1][l] - u[2][l]);
        a[z][y][2][l] = 0.5 * (u[1][l] + u[2][l]) + u[3][l];
      }
    }
  for (int z = 0; z < 4; z++)
    for (int x = 0; x < 3; x++) LANES {
        b[z][0][x][l] = a[z][0][x][l] + 0.5 * (a[z][1][x][l] + a[z][2][x][l]);
        b[z][1][x][l] = 0.5 * (a[z][1][x][l] - a[z][2][x][l]);
        b[z][2][x][l] = 0.5 * (a[z][1][x][l] + a[z][2][x][l]) + a[z][3][x][l];
      }
  for (int y = 0; y < 3; y++)
    for (int x = 0; x < 3; x++) {
      double v[3][WL];
      LANES {
        v[0][l] = b[0][y][x][l] + 0.5 * (b[1][y][x][l] + b[2][y][x][l]);
        v[1][l] = 0.5 * (b[1][y][x][l] - b[2][y][x][l]);
        v[2][l] = 0.5 * (b[1][y][x][l] + b[2][y][x][l]) + b[3][y][x][l];
      }
      for (int l = 0; l < nl; l++)
        for (int z = 0; z < 3; z++) {
          float *o = dw + l * 27 + z * 9 + y * 3 + x;
          *o = acc ? (float)(*o + v[z][l]) : (float)v[z][l];
        }
    }
}

const wino_kernels ps_wino23 = {2, 64, tmp_elems, weight_transform16, input_block, output_block, grad_block,
                                weight_grad_transform16};
