/* 2x2x2 stride-2 convs without padding (the U-Net's transposed convs and their
 * adjoints; "tiles": every big-grid voxel belongs to exactly one small-grid
 * voxel) as fused AVX-512 kernels, without a column matrix:
 *   forward        y [n, k, z, y, x] (+)= b[k] + sum_{c, t} w[k, c, t] x [n, c, 2z+a, 2y+b, 2x+d]
 *   backward-data  dx[n, c, 2z+a, 2y+b, 2x+d] (+)= sum_k w[k, c, t] dy[n, k, z, y, x]
 * with t = (a, b, d) in {0,1}^3. The transposed conv's forward is this
 * backward-data (op_conv.c). Through vol2col + SGEMM these ran at 0.4-0.6 of
 * SGEMM: the column matrix doubled the memory traffic of a GEMM whose inner
 * dimension (channels) is small. Here a big row's even and odd voxels are split
 * or merged in registers (two-source permutes) and the small grid's x axis is
 * the vector axis. Backward-weight stays on the GEMM path. Without AVX-512 the
 * GEMM path runs everything (ps_conv_tiles2_applicable is false). */
#include "backend/cpu/conv_kernels.h"
#include <stdlib.h>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

bool ps_conv_tiles2_applicable(const ps_conv_geom *g) {
#if defined(__AVX512F__)
  if (g->groups != 1) return false;
  for (int i = 0; i < 3; i++)
    if (g->ks[i] != 2 || g->stride[i] != 2 || g->pad[i] != 0 || g->dil[i] != 1 || g->in[i] != 2 * g->out[i])
      return false;
  return true;
#else
  (void)g;
  return false;
#endif
}

#if defined(__AVX512F__)
/* lanes i with 0 <= s + i < n */
static inline __mmask16 lanes(int64_t s, int64_t n) {
  const int64_t hi = n - s > 16 ? 16 : n - s;
  return hi <= 0 ? 0 : (__mmask16)((1u << hi) - 1);
}

/* wt[(c * 8 + t) * K + k] = w[(k * C + c) * 8 + t]: for fixed (c, t) the K weights are contiguous */
static float *weights_ctk(const float *w, int64_t C, int64_t K) {
  float *wt = malloc((size_t)(C * K * 8) * sizeof(float));
  if (wt)
    for (int64_t k = 0; k < K; k++)
      for (int64_t c = 0; c < C; c++)
        for (int t = 0; t < 8; t++) wt[(c * 8 + t) * K + k] = w[(k * C + c) * 8 + t];
  return wt;
}

/* One output line chunk of the forward: y[k0 + j][x0 .. x0 + 16) for j < KB,
 * from the big rows of every channel. Always inlined with a constant KB. */
static inline __attribute__((always_inline)) void fwd_chunk(const int KB, const float *x, int64_t C, int64_t BV,
                                                           int64_t H, int64_t W, const float *wt, int64_t K, int64_t k0,
                                                           int64_t x0, __m512 acc[16]) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  const __mmask16 ma = lanes(2 * x0, W), mb = lanes(2 * x0 + 16, W);
  for (int j = 0; j < KB; j++) acc[j] = _mm512_setzero_ps();
  for (int64_t c = 0; c < C; c++)
    for (int ab = 0; ab < 4; ab++) {
      /* row (2z + a, 2y + b) of channel c: x points at (c = 0, 2z, 2y, 0) */
      const float *row = x + c * BV + (ab >> 1) * H * W + (ab & 1) * W + 2 * x0;
      const __m512 A = _mm512_maskz_loadu_ps(ma, row), B = _mm512_maskz_loadu_ps(mb, row + 16);
      const __m512 e = _mm512_permutex2var_ps(A, even, B), o = _mm512_permutex2var_ps(A, odd, B);
      const float *w0 = wt + (c * 8 + ab * 2) * K + k0, *w1 = w0 + K;
      for (int j = 0; j < KB; j++)
        acc[j] = _mm512_fmadd_ps(_mm512_set1_ps(w1[j]), o, _mm512_fmadd_ps(_mm512_set1_ps(w0[j]), e, acc[j]));
    }
}

/* One chunk of the backward-data: the 8 taps of channel c over small voxels
 * x0 .. x0 + 16 of one line, summed over the K channels of dy. */
static inline void bwd_chunk(const float *dy, int64_t K, int64_t SV, const float *wt, int64_t c, int64_t x0,
                             __mmask16 m, __m512 acc[8]) {
  for (int t = 0; t < 8; t++) acc[t] = _mm512_setzero_ps();
  const float *wc = wt + c * 8 * K;
  for (int64_t k = 0; k < K; k++) {
    const __m512 v = _mm512_maskz_loadu_ps(m, dy + k * SV + x0);
    for (int t = 0; t < 8; t++) acc[t] = _mm512_fmadd_ps(_mm512_set1_ps(wc[t * K + k]), v, acc[t]);
  }
}
#endif

ps_status ps_conv_tiles2_forward(const ps_conv_geom *g, const float *x, const float *w, const float *b, float *y,
                                 bool accumulate) {
#if defined(__AVX512F__)
  const int64_t C = g->c, K = g->k, D = g->in[0], H = g->in[1], W = g->in[2];
  const int64_t OD = g->out[0], OH = g->out[1], OW = g->out[2], BV = D * H * W, SV = OD * OH * OW;
  float *wt = weights_ctk(w, C, K);
  if (!wt) return ps_error(PS_ERR_NOMEM, "conv_tiles2.c: out of memory for the weight");
  const int64_t lines = g->n * OD * OH;
#pragma omp parallel for schedule(static)
  for (int64_t l = 0; l < lines; l++) {
    const int64_t n = l / (OD * OH), z = l / OH % OD, yy = l % OH;
    const float *xl = x + n * C * BV + (2 * z * H + 2 * yy) * W;
    float *yl = y + n * K * SV + (z * OH + yy) * OW;
    for (int64_t x0 = 0; x0 < OW; x0 += 16) {
      const __mmask16 m = lanes(x0, OW);
      __m512 acc[16];
      for (int64_t k0 = 0; k0 < K;) {
        const int kb = K - k0 >= 16 ? 16 : K - k0 >= 8 ? 8 : 1;
        if (kb == 16) fwd_chunk(16, xl, C, BV, H, W, wt, K, k0, x0, acc);
        else if (kb == 8) fwd_chunk(8, xl, C, BV, H, W, wt, K, k0, x0, acc);
        else fwd_chunk(1, xl, C, BV, H, W, wt, K, k0, x0, acc);
        for (int j = 0; j < kb; j++) {
          float *out = yl + (k0 + j) * SV + x0;
          __m512 v = _mm512_add_ps(acc[j], _mm512_set1_ps(b ? b[k0 + j] : 0.0f));
          if (accumulate) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, out));
          _mm512_mask_storeu_ps(out, m, v);
        }
        k0 += kb;
      }
    }
  }
  free(wt);
  return PS_OK;
#else
  (void)g, (void)x, (void)w, (void)b, (void)y, (void)accumulate;
  return ps_error(PS_ERR_UNSUPPORTED, "conv_tiles2.c: built without AVX-512");
#endif
}

ps_status ps_conv_tiles2_backward_data(const ps_conv_geom *g, const float *dy, const float *w, float *dx,
                                       bool accumulate) {
#if defined(__AVX512F__)
  const int64_t C = g->c, K = g->k, D = g->in[0], H = g->in[1], W = g->in[2];
  const int64_t OD = g->out[0], OH = g->out[1], OW = g->out[2], BV = D * H * W, SV = OD * OH * OW;
  float *wt = weights_ctk(w, C, K);
  if (!wt) return ps_error(PS_ERR_NOMEM, "conv_tiles2.c: out of memory for the weight");
  const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  const int64_t lines = g->n * OD * OH;
#pragma omp parallel for schedule(static)
  for (int64_t l = 0; l < lines; l++) {
    const int64_t n = l / (OD * OH), z = l / OH % OD, yy = l % OH;
    const float *dyl = dy + n * K * SV + (z * OH + yy) * OW;
    float *dxl = dx + n * C * BV + (2 * z * H + 2 * yy) * W;
    for (int64_t c = 0; c < C; c++)
      for (int64_t x0 = 0; x0 < OW; x0 += 16) {
        const __mmask16 m = lanes(x0, OW), ma = lanes(2 * x0, W), mb = lanes(2 * x0 + 16, W);
        __m512 acc[8];
        bwd_chunk(dyl, K, SV, wt, c, x0, m, acc);
        for (int ab = 0; ab < 4; ab++) {
          float *row = dxl + c * BV + (ab >> 1) * H * W + (ab & 1) * W + 2 * x0;
          __m512 r0 = _mm512_permutex2var_ps(acc[2 * ab], lo, acc[2 * ab + 1]);
          __m512 r1 = _mm512_permutex2var_ps(acc[2 * ab], hi, acc[2 * ab + 1]);
          if (accumulate) {
            r0 = _mm512_add_ps(r0, _mm512_maskz_loadu_ps(ma, row));
            r1 = _mm512_add_ps(r1, _mm512_maskz_loadu_ps(mb, row + 16));
          }
          _mm512_mask_storeu_ps(row, ma, r0);
          if (mb) _mm512_mask_storeu_ps(row + 16, mb, r1);
        }
      }
  }
  free(wt);
  return PS_OK;
#else
  (void)g, (void)dy, (void)w, (void)dx, (void)accumulate;
  return ps_error(PS_ERR_UNSUPPORTED, "conv_tiles2.c: built without AVX-512");
#endif
}
