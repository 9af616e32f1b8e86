/* 3D Winograd convs for the U-Net's 3^3 convs (stride 1, pad 1, dilation 1,
 * one group, output size = input size): which convs take it and which tile
 * size, the per-position GEMMs, and the drivers that run one tile size's
 * transforms (conv_winograd23.c: F(2,3); conv_winograd43.c: F(4,3)) over
 * blocks of tile rows. Forward and backward-weight run in the Winograd domain;
 * backward-data is the forward of dy with the flipped, channel-swapped weight
 * (the same geometry). */
#include "backend/cpu/conv_kernels.h"
#include "backend/cpu/conv_winograd_simd.h"
#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

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

/* For each of npos positions p: du[p * K * C + k * C + c] += sum over t < nt of m[p * ms + k * ldt + t]
 * v[p * vs + c * ldt + t]; the columns from nt to the next multiple of 16 are 0 in m and v. vt: C * ldt
 * floats of scratch. */
static void gemm_weight_positions(int npos, int64_t K, int64_t C, int64_t nt, const float *m, int64_t ms,
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

/* The per-thread float parts of backward-weight, summed in double: for each of npos positions p and lane
 * l < 16, s[p][l] = sum over threads th of part[th][p * pstride + off + l] (0 for l >= nl; part[th]
 * NULL: skipped). */
static void sum_parts(float *const *part, int threads, int npos, int64_t pstride, int64_t off, int nl,
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

/* For every position p < npos of a block: m[p * ms + k * ldt + t] = sum_c u[p * C * K + c * K + k]
 * v[p * vs + c * ldt + t] for t < nt (a multiple of 16). */
static void gemm_positions(int npos, int64_t K, int64_t C, int64_t nt, const float *u, const float *v, int64_t vs,
                           int64_t ldt, float *m, int64_t ms) {
  for (int p = 0; p < npos; p++) gemm_pos(K, C, nt, u + p * C * K, v + p * vs, ldt, m + p * ms);
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

static const wino_kernels *kernels_of(const ps_conv_geom *g) {
  return ps_conv_wino_tile(g) == 4 ? &ps_wino43 : &ps_wino23;
}

ps_status ps_conv_wino_forward(const ps_conv_geom *g, const float *x, const float *w, const float *b, float *y,
                               bool accumulate) {
  const wino_kernels *T = kernels_of(g);
  const int64_t C = g->c, K = g->k, kb = (K + WL - 1) / WL, npos = T->npos;
  const wino_plan P = ps_wino_plan(g, C + K, T->tile);
  float *u = malloc((size_t)(npos * C * K) * sizeof(float)); /* [npos][C][K] */
  if (!u) return ps_error(PS_ERR_NOMEM, "Winograd F(%d,3): out of memory for the transformed weight", T->tile);
#pragma omp parallel for schedule(static) num_threads(P.threads)
  for (int64_t ck = 0; ck < C * kb; ck++) {
    const int64_t c = ck / kb, k0 = ck % kb * WL;
    T->weight_transform16(w + (k0 * C + c) * 27, C * 27, K - k0 < WL ? (int)(K - k0) : WL, u + c * K + k0, C * K);
  }
  ps_conv_thread_bufs_init();
  const int64_t vs = pos_stride(&P, C), ms = pos_stride(&P, K);
  const size_t need = (size_t)(npos * (vs + ms) + T->tmp_elems(&P));
  int failed = 0;
#pragma omp parallel num_threads(P.threads) reduction(| : failed)
  {
    float *ws = ps_conv_thread_buf(omp_get_thread_num(), need);
    if (!ws) failed = 1;
    float *v = ws, *m = ws ? ws + npos * vs : NULL, *tmp = ws ? m + npos * ms : NULL;
#pragma omp for schedule(dynamic, 1)
    for (int64_t blk = 0; blk < P.nblocks; blk++) {
      if (!ws) continue;
      const int64_t r0 = blk * P.rb, r1 = r0 + P.rb < P.rows ? r0 + P.rb : P.rows;
      T->input_block(x, C, &P, r0, r1, tmp, v);
      gemm_positions((int)npos, K, C, cols16((r1 - r0) * P.TW), u, v, vs, P.ldt, m, ms);
      T->output_block(m, K, &P, r0, r1, tmp, y, b, accumulate);
    }
  }
  free(u);
  return failed ? ps_error(PS_ERR_NOMEM, "Winograd F(%d,3): cannot allocate the tile workspaces", T->tile) : PS_OK;
}

ps_status ps_conv_wino_backward_data(const ps_conv_geom *g, const float *dy, const float *w, float *dx,
                                     bool accumulate) {
  /* dx = conv(dy, w') with w'[c, k, t] = w[k, c, 26 - t]: the same pad-1 geometry */
  const int64_t C = g->c, K = g->k;
  float *wf = malloc((size_t)(C * K * 27) * sizeof(float));
  if (!wf) return ps_error(PS_ERR_NOMEM, "Winograd: out of memory for the flipped weight");
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
  const wino_kernels *T = kernels_of(g);
  const int64_t C = g->c, K = g->k, npos = T->npos;
  const wino_plan P = ps_wino_plan(g, C + K, T->tile);
  const int64_t un = npos * K * C, vs = pos_stride(&P, C), ms = pos_stride(&P, K);
  /* each thread sums its blocks into its own du [npos][K][C] (float: double
   * sums here measured no closer to cpu-ref), behind its workspace in its
   * pooled buffer (a calloc per call cost page faults) */
  ps_conv_thread_bufs_init();
  const size_t work = (size_t)(npos * (vs + ms) + T->tmp_elems(&P) + C * P.ldt), need = work + (size_t)un;
  float *part[PS_CONV_MAX_THREADS] = {0}; /* NULL: a thread the team did not get */
  int failed = 0;
#pragma omp parallel num_threads(P.threads) reduction(| : failed)
  {
    const int tid = omp_get_thread_num();
    float *ws = ps_conv_thread_buf(tid, need), *du = ws ? ws + work : NULL;
    if (!ws) failed = 1;
    else memset(du, 0, (size_t)un * sizeof(float));
    part[tid] = du;
    float *v = ws, *m = ws ? ws + npos * vs : NULL, *tmp = ws ? m + npos * ms : NULL;
    float *vt = ws ? tmp + T->tmp_elems(&P) : NULL; /* [ldt][C]: gemm_weight_positions' transposed v */
    /* static: the same blocks go to the same thread on every run (reproducible sums) */
#pragma omp for schedule(static)
    for (int64_t blk = 0; blk < P.nblocks; blk++) {
      if (!ws) continue;
      const int64_t r0 = blk * P.rb, r1 = r0 + P.rb < P.rows ? r0 + P.rb : P.rows;
      T->input_block(x, C, &P, r0, r1, tmp, v);
      T->grad_block(dy, K, &P, r0, r1, tmp, m);
      gemm_weight_positions((int)npos, K, C, (r1 - r0) * P.TW, m, ms, v, vs, P.ldt, du, vt);
    }
  }
  if (!failed) {
    const int64_t cb = (C + WL - 1) / WL;
#pragma omp parallel for schedule(static) num_threads(P.threads)
    for (int64_t kc = 0; kc < K * cb; kc++) {
      const int64_t k = kc / cb, c0 = kc % cb * WL;
      const int nl = C - c0 < WL ? (int)(C - c0) : WL;
      double s[216][WL]; /* npos <= 216 */
      sum_parts(part, P.threads, (int)npos, K * C, k * C + c0, nl, s);
      T->weight_grad_transform16((const double(*)[WL])s, nl, dw + (k * C + c0) * 27, accumulate);
    }
  }
  return failed ? ps_error(PS_ERR_NOMEM, "Winograd F(%d,3): cannot allocate the tile workspaces", T->tile) : PS_OK;
}
