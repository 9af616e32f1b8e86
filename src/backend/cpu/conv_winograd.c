/* 3D Winograd F(2x2x2, 3x3x3) for the U-Net's convs (3^3, stride 1, pad 1,
 * dilation 1, one group, output size = input size): 4^3 input tiles, 64
 * per-position GEMMs, 2^3 output tiles, i.e. 64 instead of 8 * 27 = 216
 * multiplies per output tile and channel pair (3.4x fewer than vol2col + SGEMM).
 * Forward and backward-weight run in the Winograd domain; backward-data is the
 * forward of dy with the flipped, channel-swapped weight (the same geometry). */
#include "backend/cpu/conv_kernels.h"
#include "backend/cpu/conv_winograd_simd.h"
#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
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

bool ps_conv_wino_applicable(const ps_conv_geom *g) {
  if (g->groups != 1) return false;
  for (int i = 0; i < 3; i++)
    if (g->ks[i] != 3 || g->stride[i] != 1 || g->pad[i] != 1 || g->dil[i] != 1 || g->in[i] != g->out[i] ||
        g->in[i] < 1)
      return false;
  return true;
}

/* ---- algorithm switch ---- */
static int g_algo = -1; /* -1: not yet read from PS_CONV_ALGO */

void ps_conv_set_algo(ps_conv_algo a) { g_algo = (int)a; }

ps_conv_algo ps_conv_get_algo(void) {
  if (g_algo < 0) {
    const char *e = getenv("PS_CONV_ALGO");
    g_algo = e && !strcmp(e, "gemm") ? PS_CONV_ALGO_GEMM
             : e && !strcmp(e, "winograd") ? PS_CONV_ALGO_WINOGRAD
             : e && !strcmp(e, "winograd2") ? PS_CONV_ALGO_WINOGRAD2
             : e && !strcmp(e, "winograd4") ? PS_CONV_ALGO_WINOGRAD4
                                            : PS_CONV_ALGO_AUTO;
  }
  return (ps_conv_algo)g_algo;
}

bool ps_conv_use_winograd(const ps_conv_geom *g, int direction) {
  (void)direction;
  const ps_conv_algo a = ps_conv_get_algo();
  if (a == PS_CONV_ALGO_GEMM || !ps_conv_wino_applicable(g)) return false;
  if (a != PS_CONV_ALGO_AUTO) return true;
  /* AUTO, from bench_conv (benchmarks/README.md): Winograd is 1.5-4x faster from
   * 16^3 up with >= 16 channels, even at 8^3 x 128 channels, and slower with 1
   * input or output channel (the transforms then cost more than the GEMM saves) */
  return g->c >= 4 && g->k >= 4 && g->in[0] * g->in[1] * g->in[2] >= 512;
}


wino_plan ps_wino_plan(const ps_conv_geom *g, int64_t chans, int tile) {
  wino_plan p;
  p.D = g->in[0];
  p.H = g->in[1];
  p.W = g->in[2];
  p.tile = tile;
  p.TD = (p.D + tile - 1) / tile;
  p.TH = (p.H + tile - 1) / tile;
  p.TW = (p.W + tile - 1) / tile;
  p.rows = g->n * p.TD * p.TH;
  /* the transformed block (positions x chans x tiles) should stay in L2 */
  static long budget_kb = 0;
  if (!budget_kb) {
    const char *e = getenv("PS_WINO_BLOCK_KB");
    budget_kb = e ? strtol(e, NULL, 10) : 0;
    if (budget_kb <= 0) budget_kb = 1024;
  }
  const int64_t npos = (int64_t)(tile + 2) * (tile + 2) * (tile + 2);
  int64_t tiles = ((int64_t)budget_kb << 10) / (int64_t)(npos * (int64_t)sizeof(float) * chans);
  if (tiles < 16) tiles = 16;
  p.rb = tiles / p.TW;
  if (p.rb < 1) p.rb = 1;
  int threads = omp_get_max_threads();
  if (threads > PS_CONV_MAX_THREADS) threads = PS_CONV_MAX_THREADS;
  /* at least ~4 blocks per thread so that dynamic scheduling balances */
  int64_t cap = (p.rows + 4 * threads - 1) / (4 * threads);
  if (cap < 1) cap = 1;
  if (p.rb > cap) p.rb = cap;
  /* whole vectors: rb * TW a multiple of 16 where the rows allow it */
  int64_t unit = 16;
  for (int64_t a = p.TW, b = 16; b;) { /* unit = 16 / gcd(TW, 16) */
    int64_t t = a % b;
    a = b;
    b = t;
    if (!b) unit = 16 / a;
  }
  if (p.rb > unit) p.rb -= p.rb % unit;
  else if (unit <= p.rows && unit * p.TW <= 4 * tiles) p.rb = unit;
  if (p.rb > p.rows) p.rb = p.rows;
  p.nblocks = (p.rows + p.rb - 1) / p.rb;
  p.ldt = (p.rb * p.TW + 15) & ~(int64_t)15;
  /* An odd number of 64-byte lines per row, and a position stride one line
   * past chans rows (pos_stride): the transforms touch 16 rows or positions at
   * once, and at power-of-two strides they all fell into the same L1 set
   * (4K aliasing); with these strides and the x stage below, the 32^3 convs
   * ran 1.07-1.11x faster (benchmarks/README.md). */
  if (!(p.ldt / 16 & 1)) p.ldt += 16;
  if (threads > p.nblocks) threads = (int)p.nblocks;
  p.threads = threads;
  return p;
}

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
#define WL 16
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

/* ---- the per-position GEMM of the forward: m [K, ldt] = u^T [C, K]^T v [C, ldt], nt columns (multiple of 16) ---- */
static inline __attribute__((always_inline)) void kern(const int KB, const int NV, int64_t C, int64_t K,
                                                      const float *u, const float *v, int64_t ldt, float *m) {
  v16 acc[8][2];
  for (int i = 0; i < KB; i++)
    for (int j = 0; j < NV; j++) acc[i][j] = (v16){0};
  for (int64_t c = 0; c < C; c++) {
    v16 b[2];
    for (int j = 0; j < NV; j++) b[j] = ld16(v + c * ldt + 16 * j);
    const float *uc = u + c * K;
    for (int i = 0; i < KB; i++)
      for (int j = 0; j < NV; j++) acc[i][j] = fma16(uc[i] - (v16){0}, b[j], acc[i][j]);
  }
  for (int i = 0; i < KB; i++)
    for (int j = 0; j < NV; j++) st16(m + i * ldt + 16 * j, acc[i][j]);
}

static void gemm_pos(int64_t K, int64_t C, int64_t nt, const float *u, const float *v, int64_t ldt, float *m) {
  int64_t k0 = 0;
  for (; k0 + 8 <= K; k0 += 8) {
    int64_t t = 0;
    for (; t + 32 <= nt; t += 32) kern(8, 2, C, K, u + k0, v + t, ldt, m + k0 * ldt + t);
    for (; t < nt; t += 16) kern(8, 1, C, K, u + k0, v + t, ldt, m + k0 * ldt + t);
  }
  for (; k0 + 4 <= K; k0 += 4) {
    int64_t t = 0;
    for (; t + 32 <= nt; t += 32) kern(4, 2, C, K, u + k0, v + t, ldt, m + k0 * ldt + t);
    for (; t < nt; t += 16) kern(4, 1, C, K, u + k0, v + t, ldt, m + k0 * ldt + t);
  }
  for (; k0 < K; k0++)
    for (int64_t t = 0; t < nt; t += 16) kern(1, 1, C, K, u + k0, v + t, ldt, m + k0 * ldt + t);
}

/* ---- the per-position GEMM of backward-weight: du [K, C] += m [K, ldt] v [C, ldt]^T over n16 columns ----
 * The reduction runs over the columns (tiles), which both operands hold in
 * lanes. OpenBLAS took 216 calls of K x C x 16..64 per block, mostly call
 * and packing overhead (14 % of a 3/16/32^3 step). Here each position's v is
 * transposed into vt [n16, C] (16 x 16 blocks in registers), and du is
 * accumulated in registers as outer products of m's broadcast entries with
 * vt's rows, the forward kern's shape. */
#if defined(__AVX512F__)
/* dst[j * ldd + i] = src[i * lds + j], i, j < 16 */
static inline void transpose16(const float *src, int64_t lds, float *dst, int64_t ldd) {
  __m512 r[16], t[16];
  for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_ps(src + i * lds);
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  /* s[4 g + j], 128-bit lane L: column 4 L + j of rows 4 g .. 4 g + 3 */
  for (int g = 0; g < 16; g += 4) {
    const __m512d a0 = _mm512_castps_pd(t[g]), a1 = _mm512_castps_pd(t[g + 1]), a2 = _mm512_castps_pd(t[g + 2]),
                  a3 = _mm512_castps_pd(t[g + 3]);
    r[g] = _mm512_castpd_ps(_mm512_unpacklo_pd(a0, a2));
    r[g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a0, a2));
    r[g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(a1, a3));
    r[g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(a1, a3));
  }
  /* a 4 x 4 transpose of 128-bit lanes across r[j], r[4 + j], r[8 + j], r[12 + j] */
  for (int j = 0; j < 4; j++) {
    const __m512 a = _mm512_shuffle_f32x4(r[j], r[4 + j], 0x44), b = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0x44),
                 c = _mm512_shuffle_f32x4(r[j], r[4 + j], 0xEE), d = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0xEE);
    _mm512_storeu_ps(dst + j * ldd, _mm512_shuffle_f32x4(a, b, 0x88));
    _mm512_storeu_ps(dst + (4 + j) * ldd, _mm512_shuffle_f32x4(a, b, 0xDD));
    _mm512_storeu_ps(dst + (8 + j) * ldd, _mm512_shuffle_f32x4(c, d, 0x88));
    _mm512_storeu_ps(dst + (12 + j) * ldd, _mm512_shuffle_f32x4(c, d, 0xDD));
  }
}

/* du [KB, 16 NV] (row stride C) += m [KB, n16] (row stride ldt) vt [n16, 16 NV] (row stride C) */
static inline __attribute__((always_inline)) void wkern(const int KB, const int NV, int64_t n16, const float *m,
                                                       int64_t ldt, const float *vt, int64_t C, float *du) {
  v16 acc[8][2];
  for (int i = 0; i < KB; i++)
    for (int j = 0; j < NV; j++) acc[i][j] = ld16(du + i * C + 16 * j);
  for (int64_t t = 0; t < n16; t++) {
    v16 b[2];
    for (int j = 0; j < NV; j++) b[j] = ld16(vt + t * C + 16 * j);
    for (int i = 0; i < KB; i++)
      for (int j = 0; j < NV; j++) acc[i][j] = fma16(m[i * ldt + t] - (v16){0}, b[j], acc[i][j]);
  }
  for (int i = 0; i < KB; i++)
    for (int j = 0; j < NV; j++) st16(du + i * C + 16 * j, acc[i][j]);
}

static void wgemm_pos(int64_t K, int64_t C, int64_t n16, const float *m, int64_t ldt, const float *vt, float *du) {
  int64_t k0 = 0;
#define WROWS(KB)                                                                                    \
  for (; k0 + (KB) <= K; k0 += (KB)) {                                                               \
    int64_t c = 0;                                                                                   \
    for (; c + 32 <= C; c += 32) wkern((KB), 2, n16, m + k0 * ldt, ldt, vt + c, C, du + k0 * C + c); \
    for (; c < C; c += 16) wkern((KB), 1, n16, m + k0 * ldt, ldt, vt + c, C, du + k0 * C + c);      \
  }
  WROWS(8)
  WROWS(4)
  WROWS(1)
#undef WROWS
}
#endif

int64_t ps_wino_weight_scratch(int64_t C, int64_t ldt) { return C * ldt; }

void ps_wino_gemm_weight_positions(int npos, int64_t K, int64_t C, int64_t nt, const float *m, int64_t ms,
                                   const float *v, int64_t vs, int64_t ldt, float *du, float *vt) {
#if defined(__AVX512F__)
  if (C % 16 == 0) {
    const int64_t n16 = cols16(nt); /* the columns past nt are 0 in v and m */
    for (int p = 0; p < npos; p++) {
      for (int64_t c = 0; c < C; c += 16)
        for (int64_t t = 0; t < n16; t += 16) transpose16(v + p * vs + c * ldt + t, ldt, vt + t * C + c, C);
      wgemm_pos(K, C, n16, m + p * ms, ldt, vt, du + p * K * C);
    }
    return;
  }
#endif
  (void)vt;
  for (int p = 0; p < npos; p++)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)K, (int)C, (int)nt, 1.0f, m + p * ms, (int)ldt,
                v + p * vs, (int)ldt, 1.0f, du + p * K * C, (int)C);
}

void ps_wino_sum_parts(float *const *part, int threads, int npos, int64_t pstride, int64_t off, int nl,
                       double (*s)[16]) {
  for (int p = 0; p < npos; p++) {
    double a[16] = {0};
    for (int th = 0; th < threads; th++) {
      if (!part[th]) continue;
      const float *src = part[th] + p * pstride + off;
      if (nl == 16) /* all lanes: a loop that vectorises */
        for (int l = 0; l < 16; l++) a[l] += src[l];
      else
        for (int l = 0; l < nl; l++) a[l] += src[l];
    }
    memcpy(s[p], a, sizeof a);
  }
}

void ps_wino_gemm_positions(int p0, int p1, int64_t K, int64_t C, int64_t nt, const float *u, const float *v,
                            int64_t vs, int64_t ldt, float *m, int64_t ms) {
  for (int p = p0; p < p1; p++) gemm_pos(K, C, nt, u + p * C * K, v + p * vs, ldt, m + p * ms);
}

int ps_conv_wino_tile(const ps_conv_geom *g) {
  const ps_conv_algo a = ps_conv_get_algo();
  if (a == PS_CONV_ALGO_WINOGRAD2 || a == PS_CONV_ALGO_WINOGRAD4) return a == PS_CONV_ALGO_WINOGRAD4 ? 4 : 2;
  /* Measured one conv at a time (bench_conv --wino-only, batch 2, 1 thread;
   * benchmarks/README.md, session 7): F(4,3) is 1.1-1.8x faster than F(2,3)
   * from 16^3 up in every direction, 0.57-0.74x at 8^3 (a row holds 2 tiles,
   * and the 216-position weight outweighs them), and at 12^3 between 0.75x
   * and 1.33x depending on the channels. */
  const int64_t min_dim = g->in[0] < g->in[1] ? (g->in[0] < g->in[2] ? g->in[0] : g->in[2])
                                              : (g->in[1] < g->in[2] ? g->in[1] : g->in[2]);
  return min_dim >= 16 ? 4 : 2;
}

ps_status ps_conv_wino_forward(const ps_conv_geom *g, const float *x, const float *w, const float *b, float *y,
                               bool accumulate) {
  if (ps_conv_wino_tile(g) == 4) return ps_conv_wino43_forward(g, x, w, b, y, accumulate);
  const int64_t C = g->c, K = g->k;
  const wino_plan P = ps_wino_plan(g, C + K, 2);
  /* u [64][C][K] */
  float *u = malloc((size_t)(64 * C * K) * sizeof(float));
  if (!u) return ps_error(PS_ERR_NOMEM, "conv_winograd.c: out of memory for the transformed weight");
#pragma omp parallel for schedule(static) num_threads(P.threads)
  for (int64_t ck = 0; ck < C * ((K + WL - 1) / WL); ck++) {
    const int64_t c = ck / ((K + WL - 1) / WL), k0 = ck % ((K + WL - 1) / WL) * WL;
    const int nl = K - k0 < WL ? (int)(K - k0) : WL;
    weight_transform16(w + (k0 * C + c) * 27, C * 27, nl, u + c * K + k0, C * K);
  }
  ps_conv_thread_bufs_init();
  const int64_t TW = P.TW, vs = pos_stride(&P, C), ms = pos_stride(&P, K);
  const size_t need = (size_t)(64 * (vs + ms) + tmp_elems(&P));
  int failed = 0;
#pragma omp parallel num_threads(P.threads) reduction(| : failed)
  {
    float *ws = ps_conv_thread_buf(omp_get_thread_num(), need);
    if (!ws) failed = 1;
    float *v = ws, *m = ws ? ws + 64 * vs : NULL, *tmp = ws ? m + 64 * ms : NULL;
#pragma omp for schedule(dynamic, 1)
    for (int64_t blk = 0; blk < P.nblocks; blk++) {
      if (!ws) continue;
      const int64_t r0 = blk * P.rb, r1 = r0 + P.rb < P.rows ? r0 + P.rb : P.rows;
      const int64_t nt = cols16((r1 - r0) * TW);
      input_block(x, C, &P, r0, r1, tmp, v);
      ps_wino_gemm_positions(0, 64, K, C, nt, u, v, vs, P.ldt, m, ms);
      output_block(m, K, &P, r0, r1, tmp, y, b, accumulate);
    }
  }
  free(u);
  return failed ? ps_error(PS_ERR_NOMEM, "conv_winograd.c: cannot allocate the tile workspaces") : PS_OK;
}

ps_status ps_conv_wino_backward_data(const ps_conv_geom *g, const float *dy, const float *w, float *dx,
                                     bool accumulate) {
  /* dx = conv(dy, w') with w'[c, k, t] = w[k, c, 26 - t]: the same pad-1 geometry */
  const int64_t C = g->c, K = g->k;
  float *wf = malloc((size_t)(C * K * 27) * sizeof(float));
  if (!wf) return ps_error(PS_ERR_NOMEM, "conv_winograd.c: out of memory for the flipped weight");
  for (int64_t k = 0; k < K; k++)
    for (int64_t c = 0; c < C; c++)
      for (int t = 0; t < 27; t++) wf[(c * K + k) * 27 + t] = w[(k * C + c) * 27 + 26 - t];
  ps_conv_geom a = *g;
  a.c = K;
  a.k = C;
  ps_status st = ps_conv_wino_forward(&a, dy, wf, NULL, dx, accumulate);
  free(wf);
  return st;
}

ps_status ps_conv_wino_backward_weight(const ps_conv_geom *g, const float *x, const float *dy, float *dw,
                                       bool accumulate) {
  if (ps_conv_wino_tile(g) == 4) return ps_conv_wino43_backward_weight(g, x, dy, dw, accumulate);
  const int64_t C = g->c, K = g->k;
  const wino_plan P = ps_wino_plan(g, C + K, 2);
  const int64_t TW = P.TW, un = 64 * K * C, vs = pos_stride(&P, C), ms = pos_stride(&P, K);
  /* each thread sums its blocks into its own du [64][K][C], behind its
   * workspace in its pooled buffer (a calloc per call cost page faults) */
  ps_conv_thread_bufs_init();
  const size_t work = (size_t)(64 * (vs + ms) + tmp_elems(&P) + ps_wino_weight_scratch(C, P.ldt)),
               need = work + (size_t)un;
  float *part[PS_CONV_MAX_THREADS] = {0}; /* NULL: a thread the team did not get */
  int failed = 0;
#pragma omp parallel num_threads(P.threads) reduction(| : failed)
  {
    const int tid = omp_get_thread_num();
    float *ws = ps_conv_thread_buf(tid, need), *du = ws ? ws + work : NULL;
    if (!ws) failed = 1;
    else memset(du, 0, (size_t)un * sizeof(float));
    part[tid] = du;
    float *v = ws, *m = ws ? ws + 64 * vs : NULL, *tmp = ws ? m + 64 * ms : NULL;
    /* static: the same blocks go to the same thread on every run (reproducible sums) */
#pragma omp for schedule(static)
    for (int64_t blk = 0; blk < P.nblocks; blk++) {
      if (!ws) continue;
      const int64_t r0 = blk * P.rb, r1 = r0 + P.rb < P.rows ? r0 + P.rb : P.rows, nt = (r1 - r0) * TW;
      input_block(x, C, &P, r0, r1, tmp, v);
      grad_block(dy, K, &P, r0, r1, tmp, m);
      ps_wino_gemm_weight_positions(64, K, C, nt, m, ms, v, vs, P.ldt, du, tmp + tmp_elems(&P));
    }
  }
  if (!failed) {
#pragma omp parallel for schedule(static)
    for (int64_t kc = 0; kc < K * ((C + WL - 1) / WL); kc++) {
      const int64_t k = kc / ((C + WL - 1) / WL), c0 = kc % ((C + WL - 1) / WL) * WL;
      const int nl = C - c0 < WL ? (int)(C - c0) : WL;
      double s[64][WL];
      ps_wino_sum_parts(part, P.threads, 64, K * C, k * C + c0, nl, s);
      weight_grad_transform16((const double(*)[WL])s, nl, dw + (k * C + c0) * 27, accumulate);
    }
  }
  return failed ? ps_error(PS_ERR_NOMEM, "conv_winograd.c: cannot allocate the tile workspaces") : PS_OK;
}
