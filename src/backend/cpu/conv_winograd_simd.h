/* What the Winograd convs share: 16-float vectors, masked row loads, the
 * blocking plan, and the table of one tile size's transforms that the
 * drivers in conv_winograd.c run (conv_winograd23.c: F(2,3),
 * conv_winograd43.c: F(4,3)). */
#ifndef PS_CONV_WINOGRAD_SIMD_H
#define PS_CONV_WINOGRAD_SIMD_H

#include "proxyseg/backend.h"
#include <stdint.h>
#include <string.h>
#if defined(__AVX512F__) || defined(__FMA__)
#include <immintrin.h>
#endif

/* 16 floats: one AVX-512 register; GCC/Clang split it on narrower ISAs. */
typedef float v16 __attribute__((vector_size(64)));
static inline v16 ld16(const float *p) {
  v16 v;
  memcpy(&v, p, sizeof v);
  return v;
}
static inline void st16(float *p, v16 v) { memcpy(p, &v, sizeof v); }
/* a * b + c fused: ISO C mode (-std=c11) turns off GCC's FMA contraction */
static inline v16 fma16(v16 a, v16 b, v16 c) {
#if defined(__AVX512F__)
  return (v16)_mm512_fmadd_ps((__m512)a, (__m512)b, (__m512)c);
#elif defined(__FMA__)
  __m256 a0, a1, b0, b1, c0, c1;
  memcpy(&a0, &a, 32), memcpy(&a1, (const char *)&a + 32, 32);
  memcpy(&b0, &b, 32), memcpy(&b1, (const char *)&b + 32, 32);
  memcpy(&c0, &c, 32), memcpy(&c1, (const char *)&c + 32, 32);
  c0 = _mm256_fmadd_ps(a0, b0, c0);
  c1 = _mm256_fmadd_ps(a1, b1, c1);
  v16 r;
  memcpy(&r, &c0, 32), memcpy((char *)&r + 32, &c1, 32);
  return r;
#else
  return a * b + c;
#endif
}

#if defined(__AVX512F__)
/* lanes i with 0 <= s + i < n */
static inline __mmask16 lane_mask(int64_t s, int64_t n) {
  const int64_t lo = s < 0 ? -s : 0, hi = n - s > 16 ? 16 : n - s;
  return hi <= lo ? 0 : (__mmask16)(((1u << hi) - 1) & ~((1u << lo) - 1));
}
/* row[s .. s + 16) with 0 outside [0, n) */
static inline __m512 mload(const float *row, int64_t s, int64_t n) {
  return _mm512_maskz_loadu_ps(lane_mask(s, n), (const char *)row + s * (int64_t)sizeof(float));
}
#endif

/* ---- blocking: a block is rb consecutive tile rows of the batch ---- */
typedef struct {
  int tile;        /* outputs per tile and axis: 2 for F(2,3), 4 for F(4,3) */
  int64_t D, H, W, TD, TH, TW;
  int64_t rows;    /* N * TD * TH tile rows */
  int64_t rb;      /* tile rows per block */
  int64_t nblocks;
  int64_t ldt;     /* row stride: tiles per block rounded up to 16, an odd number of cache lines */
  int threads;
} wino_plan;

/* Floats between positions p and p + 1 of a transformed block [positions][chans][ldt]. */
static inline int64_t pos_stride(const wino_plan *P, int64_t chans) { return chans * P->ldt + 16; }

/* columns of a block of nt tiles that the GEMMs read: nt rounded up to 16 */
static inline int64_t cols16(int64_t nt) { return (nt + 15) & ~(int64_t)15; }

/* tile-row r of the batch -> (n, tz, ty) */
static inline void row_pos(const wino_plan *P, int64_t r, int64_t *n, int64_t *tz, int64_t *ty) {
  *ty = r % P->TH;
  *tz = (r / P->TH) % P->TD;
  *n = r / (P->TH * P->TD);
}

/* Prefetches the rows z in [z0, z0 + nz), y in [y0, y0 + ny) (clipped) of a plane
 * [D, H, W]: the transforms read a few rows from each of many planes, a pattern the
 * hardware prefetchers do not follow, so without this they wait on memory. */
static inline void prefetch_rows(const float *plane, const wino_plan *P, int64_t z0, int64_t nz, int64_t y0,
                                 int64_t ny) {
  for (int64_t z = z0 < 0 ? 0 : z0; z < z0 + nz && z < P->D; z++)
    for (int64_t y = y0 < 0 ? 0 : y0; y < y0 + ny && y < P->H; y++) {
      const char *row = (const char *)(plane + (z * P->H + y) * P->W);
      for (int64_t b = 0; b < P->W * (int64_t)sizeof(float); b += 64) __builtin_prefetch(row + b);
    }
}


/* The plan of a conv whose two sides have chans channels together, with tile^3
 * outputs per tile (conv_winograd.c). */
wino_plan ps_wino_plan(const ps_conv_geom *g, int64_t chans, int tile);

/* Weights are transformed 16 kernels at a time, one per lane. */
#define WL 16

/* One tile size's transforms of a block of tile rows [r0, r1) of a plan
 * (all TW tiles of each row, nt = (r1 - r0) TW tiles, the columns from nt up
 * to the next multiple of 16 kept at 0), which conv_winograd.c's drivers run
 * around the per-position GEMMs. Transformed data is [position][channel][ldt
 * columns], positions pos_stride apart. */
typedef struct {
  int tile; /* outputs per tile and axis */
  int npos; /* positions of an input tile, (tile + 2)^3 */
  /* floats of scratch (tmp) the block transforms need */
  int64_t (*tmp_elems)(const wino_plan *P);
  /* u[p * ustride + l] = G w_l G^T for l < nl, w_l = w + l * wstride (3^3 kernels) */
  void (*weight_transform16)(const float *w, int64_t wstride, int nl, float *u, int64_t ustride);
  /* v = B^T d B of the block's input tiles of x [N, C, D, H, W], positions pos_stride(P, C) apart */
  void (*input_block)(const float *x, int64_t C, const wino_plan *P, int64_t r0, int64_t r1, float *tmp,
                      float *v);
  /* y [N, K, D, H, W] (=, or += when acc) A^T m A + b[k] of the block's tiles */
  void (*output_block)(const float *m, int64_t K, const wino_plan *P, int64_t r0, int64_t r1, float *tmp,
                       float *y, const float *b, bool acc);
  /* dm = A dy A^T of the block's output tiles of dy [N, K, D, H, W] (0 past the border) */
  void (*grad_block)(const float *dy, int64_t K, const wino_plan *P, int64_t r0, int64_t r1, float *tmp,
                     float *dm);
  /* dw_l[27] (+)= G^T du_l G for l < nl, du_l[p] = du[p][l], dw_l = dw + l * 27 */
  void (*weight_grad_transform16)(const double (*du)[WL], int nl, float *dw, bool acc);
} wino_kernels;

extern const wino_kernels ps_wino23; /* conv_winograd23.c */
extern const wino_kernels ps_wino43; /* conv_winograd43.c */

#endif
