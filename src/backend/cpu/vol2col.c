/* Dedicated vol2col / col2vol for 3D convs (not a generic N-d im2col): each
 * column row is built from whole W runs — one memcpy (stride 1) or one strided
 * gather per (row, output line), zero fill only at the borders. col2vol is
 * parallel over input planes (c, iz), so threads write disjoint memory. */
#include "backend/cpu/conv_kernels.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

/* d[i] = s[2 i] for i < n: the stride-2 gather of a stride-2 conv's rows
 * (other than gather2_pair's), 16 at a time from two loads and a permute;
 * the last source element read is s[2 n - 2]. */
static inline void gather2(float *d, const float *s, int64_t n) {
  int64_t i = 0;
#if defined(__AVX512F__)
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  for (; i + 16 <= n; i += 16) {
    /* the second load stops at s[2 i + 30] (lane 15 of it is never used) */
    const __m512 a = _mm512_loadu_ps(s + 2 * i), b = _mm512_maskz_loadu_ps(0x7FFF, s + 2 * i + 16);
    _mm512_storeu_ps(d + i, _mm512_permutex2var_ps(a, even, b));
  }
#endif
  for (; i < n; i++) d[i] = s[2 * i];
}

/* d0[i] = s[2 i], d1[i] = s[2 i + 1] for i < n: both kx taps of a 2^3 stride-2
 * conv's rows (the transposed convs' adjoint) from one pass over the input row,
 * 16 of each from two loads and two permutes. One pass instead of one per tap
 * read each input line once: vol2col of the 32^3 transposed conv got 1.2x faster. */
static inline void gather2_pair(float *d0, float *d1, const float *s, int64_t n) {
  int64_t i = 0;
#if defined(__AVX512F__)
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  for (; i + 16 <= n; i += 16) {
    const __m512 a = _mm512_loadu_ps(s + 2 * i), b = _mm512_loadu_ps(s + 2 * i + 16);
    _mm512_storeu_ps(d0 + i, _mm512_permutex2var_ps(a, even, b));
    _mm512_storeu_ps(d1 + i, _mm512_permutex2var_ps(a, odd, b));
  }
#endif
  for (; i < n; i++) {
    d0[i] = s[2 * i];
    d1[i] = s[2 * i + 1];
  }
}

/* d[2 i] (=, or += when acc) a[i], d[2 i + 1] (=/+=) b[i] for i < n: the two
 * kx taps of a 2^3 stride-2 conv's column rows back into one input row. stream:
 * non-temporal stores (d 64-byte aligned, !acc): they skip the read for
 * ownership, which halved col2vol of the 32^3 transposed conv (a 33 MB output);
 * the caller fences. */
static inline void interleave2(float *d, const float *a, const float *b, int64_t n, bool acc, bool stream) {
  int64_t i = 0;
#if defined(__AVX512F__)
  const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  for (; i + 16 <= n; i += 16) {
    const __m512 va = _mm512_loadu_ps(a + i), vb = _mm512_loadu_ps(b + i);
    __m512 l = _mm512_permutex2var_ps(va, lo, vb), h = _mm512_permutex2var_ps(va, hi, vb);
    if (stream) {
      _mm512_stream_ps(d + 2 * i, l);
      _mm512_stream_ps(d + 2 * i + 16, h);
      continue;
    }
    if (acc) {
      l = _mm512_add_ps(l, _mm512_loadu_ps(d + 2 * i));
      h = _mm512_add_ps(h, _mm512_loadu_ps(d + 2 * i + 16));
    }
    _mm512_storeu_ps(d + 2 * i, l);
    _mm512_storeu_ps(d + 2 * i + 16, h);
  }
#else
  (void)stream;
#endif
  for (; i < n; i++) {
    d[2 * i] = acc ? d[2 * i] + a[i] : a[i];
    d[2 * i + 1] = acc ? d[2 * i + 1] + b[i] : b[i];
  }
}

/* 2^3 stride 2 in x without padding (the transposed convs' adjoint): the kx = 0
 * and kx = 1 taps are the even and odd voxels of one input row */
static bool pair_x(const ps_conv_geom *g) {
  return g->ks[2] == 2 && g->stride[2] == 2 && g->pad[2] == 0 && g->dil[2] == 1 && g->in[2] == 2 * g->out[2];
}

/* The [lo, hi) range of ow whose input column ow*s + ix0 lies inside [0, W). */
static inline void ow_range(int64_t ix0, int s, int64_t W, int64_t OW, int64_t *lo, int64_t *hi) {
  int64_t a = ix0 < 0 ? (-ix0 + s - 1) / s : 0;
  int64_t b = W - 1 - ix0 < 0 ? 0 : (W - 1 - ix0) / s + 1;
  if (b > OW) b = OW;
  if (a > b) a = b;
  *lo = a;
  *hi = b;
}

static inline void zero(float *p, int64_t n) {
  for (int64_t i = 0; i < n; i++) p[i] = 0.0f;
}

/* zero n floats at p in each of nr rows `cols` apart */
static inline void zero_rows(float *p, int64_t n, int64_t nr, int64_t cols) {
  for (int64_t j = 0; j < nr; j++) zero(p + j * cols, n);
}

void ps_vol2col(const ps_conv_geom *g, const float *x, int64_t cg, int64_t l0, int64_t l1, float *col) {
  const int64_t D = g->in[0], H = g->in[1], W = g->in[2];
  const int64_t OH = g->out[1], OW = g->out[2];
  const int kd = g->ks[0], kh = g->ks[1], kw = g->ks[2];
  const int64_t kvol = (int64_t)kd * kh * kw, rows = cg * kvol, cols = (l1 - l0) * OW;
  const int sd = g->stride[0], sh = g->stride[1], sw = g->stride[2];
  const int64_t pd = g->pad[0], ph = g->pad[1], pw = g->pad[2];
  const int dd = g->dil[0], dh = g->dil[1], dw = g->dil[2];
  /* "same"-width stride-1 convs: consecutive output lines read consecutive input
   * rows at a constant offset, so a block of lines is one memcpy, after which
   * only the border columns are zeroed */
  const bool block_copy = sw == 1 && sh == 1 && OW == W;
  /* pairs: one task fills the kx = 0 and kx = 1 rows (r, r + 1) together */
  const int64_t nr = pair_x(g) ? 2 : 1;
  /* one task per row: the row's constants (tap, valid W run) are computed once,
   * and lines are visited per output plane, keeping divisions out of the inner loops */
#pragma omp parallel for schedule(static) if (rows * cols > 16384)
  for (int64_t r = 0; r < rows; r += nr) {
    const int64_t c = r / kvol, t = r % kvol;
    const int kz = (int)(t / (kh * kw)), ky = (int)(t / kw % kh), kx = (int)(t % kw);
    const int64_t ix0 = (int64_t)kx * dw - pw;
    int64_t lo, hi;
    ow_range(ix0, sw, W, OW, &lo, &hi);
    const int64_t nrun = hi - lo;
    const float *xc = x + c * D * H * W;
    /* output rows oh whose input row lies inside [0, H) */
    const int64_t yoff = (int64_t)ky * dh - ph;
    int64_t va = yoff < 0 ? (-yoff + sh - 1) / sh : 0, vb = H - 1 - yoff < 0 ? 0 : (H - 1 - yoff) / sh + 1;
    if (vb > OH) vb = OH;
    if (va > vb) va = vb;
    float *drow = col + r * cols;
    for (int64_t od = l0 / OH; od * OH < l1; od++) {
      const int64_t a = l0 > od * OH ? l0 - od * OH : 0, b = l1 - od * OH < OH ? l1 - od * OH : OH;
      float *dst = drow + (od * OH + a - l0) * OW;
      const int64_t iz = od * sd - pd + (int64_t)kz * dd;
      const int64_t ya = va > a ? va : a, yb = vb < b ? vb : b;
      if (iz < 0 || iz >= D || ya >= yb || nrun == 0) {
        zero_rows(dst, (b - a) * OW, nr, cols);
        continue;
      }
      zero_rows(dst, (ya - a) * OW, nr, cols);
      zero_rows(dst + (yb - a) * OW, (b - yb) * OW, nr, cols);
      float *d0 = dst + (ya - a) * OW;
      const float *s0 = xc + (iz * H + ya * sh + yoff) * W + ix0;
      if (block_copy) {
        /* skip the first line's leading and the last line's trailing border so that
         * the copy never reads outside this input plane */
        const int64_t n = (yb - ya) * OW - lo - (OW - hi);
        memcpy(d0 + lo, s0 + lo, (size_t)n * sizeof(float));
        if (lo > 0 || hi < OW)
          for (int64_t oh = ya; oh < yb; oh++) {
            float *d = d0 + (oh - ya) * OW;
            zero(d, lo);
            zero(d + hi, OW - hi);
          }
        continue;
      }
      for (int64_t oh = ya; oh < yb; oh++) {
        float *d = d0 + (oh - ya) * OW;
        const float *src = s0 + (oh - ya) * sh * W + lo * sw;
        if (nr == 2) { /* lo = 0, hi = OW for both taps */
          gather2_pair(d, d + cols, src, OW);
          continue;
        }
        zero(d, lo);
        if (sw == 1) memcpy(d + lo, src, (size_t)nrun * sizeof(float));
        else if (sw == 2) gather2(d + lo, src, nrun);
        else
          for (int64_t i = 0; i < nrun; i++) d[lo + i] = src[i * sw];
        zero(d + hi, OW - hi);
      }
    }
  }
}

/* col2vol streams its stores when one sample's output is at least this big
 * (default 2 MiB, one core's L2; env PS_CONV_STREAM_MB). A smaller one may
 * still be in L2 when the next op reads it; from 2 MiB up, streaming then
 * reading back cost 0.69-0.76 of storing then reading back (measured on the
 * AVX-512 Xeon VM of benchmarks/README.md, 2-32 MiB, other data touched between). */
static int64_t g_stream_min = -1;

void ps_conv_set_stream_min(size_t bytes) { g_stream_min = (int64_t)bytes; }

static int64_t stream_min_bytes(void) {
  if (g_stream_min < 0) {
    const char *e = getenv("PS_CONV_STREAM_MB");
    long mb = e ? strtol(e, NULL, 10) : -1;
    g_stream_min = mb >= 0 ? (int64_t)mb << 20 : (int64_t)2 << 20;
  }
  return g_stream_min;
}

static bool stream_ok(const ps_conv_geom *g, int64_t cg, const float *dx) {
  const bool big = cg * g->in[0] * g->in[1] * g->in[2] * (int64_t)sizeof(float) >= stream_min_bytes();
#if defined(__AVX512F__)
  return big && !((uintptr_t)dx & 63) && g->in[2] % 16 == 0;
#else
  (void)big, (void)dx; /* no streaming stores without AVX-512 */
  return false;
#endif
}

void ps_col2vol(const ps_conv_geom *g, const float *col, int64_t cg, int64_t l0, int64_t l1, float *dx,
                bool assign) {
  const int64_t D = g->in[0], H = g->in[1], W = g->in[2];
  const int64_t OD = g->out[0], OH = g->out[1], OW = g->out[2];
  const int kd = g->ks[0], kh = g->ks[1], kw = g->ks[2];
  const int64_t kvol = (int64_t)kd * kh * kw, cols = (l1 - l0) * OW;
  const int sd = g->stride[0], sh = g->stride[1], sw = g->stride[2];
  const int64_t pd = g->pad[0], ph = g->pad[1], pw = g->pad[2];
  const int dd = g->dil[0], dh = g->dil[1], dw = g->dil[2];
  const int64_t planes = cg * D;
  /* pairs: the two kx taps fill the even and odd voxels of one row, written
   * together as whole lines; streamed when the rows are aligned and the output is
   * too big to stay in L2 anyway */
  const bool pair = pair_x(g), stream = pair && assign && stream_ok(g, cg, dx);
#pragma omp parallel for schedule(dynamic, 1) if (cols * kvol * cg > 16384)
  for (int64_t pl = 0; pl < planes; pl++) {
    const int64_t c = pl / D, iz = pl % D;
    float *plane = dx + (c * D + iz) * H * W;
    for (int kz = 0; kz < kd; kz++) {
      const int64_t tz = iz + pd - (int64_t)kz * dd;
      if (tz < 0 || tz % sd) continue;
      const int64_t od = tz / sd;
      if (od >= OD) continue;
      int64_t oh_a = l0 - od * OH, oh_b = l1 - od * OH;
      if (oh_a < 0) oh_a = 0;
      if (oh_b > OH) oh_b = OH;
      for (int64_t oh = oh_a; oh < oh_b; oh++) {
        const int64_t l = od * OH + oh;
        for (int ky = 0; ky < kh; ky++) {
          const int64_t iy = oh * sh - ph + (int64_t)ky * dh;
          if (iy < 0 || iy >= H) continue;
          if (pair) {
            const float *src = col + ((c * kd + kz) * kh * kw + (int64_t)ky * kw) * cols + (l - l0) * OW;
            interleave2(plane + iy * W, src, src + cols, OW, !assign, stream);
            continue;
          }
          for (int kx = 0; kx < kw; kx++) {
            const int64_t r = (c * kd + kz) * kh * kw + (int64_t)ky * kw + kx;
            const int64_t ix0 = (int64_t)kx * dw - pw;
            int64_t lo, hi;
            ow_range(ix0, sw, W, OW, &lo, &hi);
            const int64_t n = hi - lo;
            const float *src = col + r * cols + (l - l0) * OW + lo;
            float *dst = plane + iy * W + (ix0 + lo * sw);
            if (assign) {
              if (sw == 1) memcpy(dst, src, (size_t)n * sizeof(float));
              else
                for (int64_t i = 0; i < n; i++) dst[i * sw] = src[i];
            } else if (sw == 1) {
              for (int64_t i = 0; i < n; i++) dst[i] += src[i];
            } else {
              for (int64_t i = 0; i < n; i++) dst[i * sw] += src[i];
            }
          }
        }
      }
    }
#if defined(__AVX512F__)
    if (stream) _mm_sfence(); /* this thread's streamed stores land before the region ends */
#endif
  }
}
