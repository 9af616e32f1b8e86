/* 3D Winograd F(4x4x4, 3x3x3): forward, and so backward-data (a forward of
 * dy with the flipped weight, conv_winograd.c), and backward-weight. 6^3
 * input tiles, 216 per-position GEMMs, 4^3 output tiles. Per output and channel pair that is
 * 216 / 64 = 3.4 multiplies against F(2,3)'s 8 (direct: 27), and 2.4x less
 * transformed data, which is what F(2,3)'s input transform spent its time
 * writing and waiting for. Measured one conv at a time (batch 2, 1 thread,
 * 16-64 channels; benchmarks/README.md, session 7): forward 1.03-1.5x faster
 * than F(2,3) from 16^3 up, 0.54-0.78x at 8^3-12^3; backward-weight 1.6-2.2x.
 * Rounding: about 4e-6 relative rms against 3e-7 for F(2,3) (forward, 32
 * channels, against a double direct conv), 5e-6 of the largest weight
 * gradient against 2e-7 (NMSE against cpu-ref ~1e-11, threshold 1e-7).
 * Where it replaces F(2,3): ps_conv_wino_tile (conv_winograd.c).
 * Per axis, points 0, +-1, +-2 and infinity (Lavin & Gray 2016):
 *   B^T d: v0 = 4 d0 - 5 d2 + d4        v1 = d3 + d4 - 4 (d1 + d2)
 *          v2 = 4 (d1 - d2) - d3 + d4   v3 = 2 (d3 - d1) - d2 + d4
 *          v4 = 2 (d1 - d3) - d2 + d4   v5 = 4 d1 - 5 d3 + d5
 *   G w:   u0 = w0 / 4, u1 = -(w0 + w1 + w2) / 6, u2 = -(w0 - w1 + w2) / 6,
 *          u3 = w0 / 24 + w1 / 12 + w2 / 6, u4 = w0 / 24 - w1 / 12 + w2 / 6, u5 = w2
 *   A^T m: y0 = m0 + m1 + m2 + m3 + m4, y1 = m1 - m2 + 2 (m3 - m4),
 *          y2 = m1 + m2 + 4 (m3 + m4),  y3 = m1 - m2 + 8 (m3 - m4) + m5
 * A tile t reads inputs 4t-1 .. 4t+4 and writes outputs 4t .. 4t+3 per axis.
 * Layouts as in conv_winograd.c: a block is rb tile rows (fixed n, tz, ty; all
 * TW tiles along W), transformed data [position][channel][ldt columns]. */
#include "backend/cpu/conv_winograd_simd.h"
#include <string.h>

#define NPOS 216 /* positions of a 6^3 tile */

/* The three transforms of one axis, for any type with + - and * by float
 * (float and v16), so that the vector and the scalar paths cannot drift apart. */
#define BT6(d, v)                                                   \
  do {                                                              \
    (v)[0] = 4.0f * (d)[0] - 5.0f * (d)[2] + (d)[4];                \
    (v)[1] = (d)[3] + (d)[4] - 4.0f * ((d)[1] + (d)[2]);            \
    (v)[2] = 4.0f * ((d)[1] - (d)[2]) - (d)[3] + (d)[4];            \
    (v)[3] = 2.0f * ((d)[3] - (d)[1]) - (d)[2] + (d)[4];            \
    (v)[4] = 2.0f * ((d)[1] - (d)[3]) - (d)[2] + (d)[4];            \
    (v)[5] = 4.0f * (d)[1] - 5.0f * (d)[3] + (d)[5];                \
  } while (0)
#define AT6(m, y)                                                   \
  do {                                                              \
    (y)[0] = (m)[0] + (m)[1] + (m)[2] + (m)[3] + (m)[4];            \
    (y)[1] = (m)[1] - (m)[2] + 2.0f * ((m)[3] - (m)[4]);            \
    (y)[2] = (m)[1] + (m)[2] + 4.0f * ((m)[3] + (m)[4]);            \
    (y)[3] = (m)[1] - (m)[2] + 8.0f * ((m)[3] - (m)[4]) + (m)[5];   \
  } while (0)
#define G6(w, u)                                                    \
  do {                                                              \
    (u)[0] = (w)[0] / 4.0f;                                         \
    (u)[1] = -((w)[0] + (w)[1] + (w)[2]) / 6.0f;                    \
    (u)[2] = -((w)[0] - (w)[1] + (w)[2]) / 6.0f;                    \
    (u)[3] = (w)[0] / 24.0f + (w)[1] / 12.0f + (w)[2] / 6.0f;       \
    (u)[4] = (w)[0] / 24.0f - (w)[1] / 12.0f + (w)[2] / 6.0f;       \
    (u)[5] = (w)[2];                                                \
  } while (0)

/* Scratch floats of a block: the input's x stage [6 zi][6 yi][6 px][ldt] (the
 * output stage needs 96 rows of it). */
static int64_t tmp_elems(const wino_plan *P) { return NPOS * P->ldt + 16; }

/* ---- x stages (the only ones that read or write a volume row) ---- */
#if defined(__AVX512F__)
/* lanes j < 8: element 4 j + k of (a, b); lanes j >= 8: of (c, d) */
static inline __m512 phase(__m512 a, __m512 b, __m512 c, __m512 d, int k) {
  const __m512i idx = _mm512_add_epi32(_mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 0, 4, 8, 12, 16, 20, 24, 28),
                                       _mm512_set1_epi32(k));
  return _mm512_mask_blend_ps(0xFF00, _mm512_permutex2var_ps(a, idx, b), _mm512_permutex2var_ps(c, idx, d));
}
#endif

/* d[px * L + t] (t < TW) = B^T (x[4t-1] .. x[4t+4]) of one input row x [W] (0 outside). */
static inline void x_stage_in(const float *row, int64_t W, int64_t TW, int64_t L, float *d) {
#if defined(__AVX512F__)
  __m512 prev3 = _mm512_setzero_ps(); /* lane 15: x[4 t0 - 1] */
  for (int64_t t0 = 0; t0 < TW; t0 += 16) {
    const int64_t s = 4 * t0;
    const __m512 X0 = mload(row, s, W), X1 = mload(row, s + 16, W);
    const bool wide = TW - t0 > 8; /* the second half of the 16 tiles reads X2, X3 */
    const __m512 X2 = wide ? mload(row, s + 32, W) : _mm512_setzero_ps(),
                 X3 = wide ? mload(row, s + 48, W) : _mm512_setzero_ps();
    v16 x[6];
    const __m512 p0 = phase(X0, X1, X2, X3, 0), p3 = phase(X0, X1, X2, X3, 3);
    const __m512 next = _mm512_set1_ps(s + 64 < W ? row[s + 64] : 0.0f); /* x[4 t0 + 64] */
    x[0] = (v16)_mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(p3), _mm512_castps_si512(prev3), 15));
    x[1] = (v16)p0;
    x[2] = (v16)phase(X0, X1, X2, X3, 1);
    x[3] = (v16)phase(X0, X1, X2, X3, 2);
    x[4] = (v16)p3;
    x[5] = (v16)_mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(next), _mm512_castps_si512(p0), 1));
    prev3 = p3;
    v16 v[6];
    BT6(x, v);
    const __mmask16 m = lane_mask(t0, TW);
    for (int i = 0; i < 6; i++) _mm512_mask_storeu_ps(d + i * L + t0, m, (__m512)v[i]);
  }
#else
  for (int64_t t = 0; t < TW; t++) {
    float x[6], v[6];
    for (int i = 0; i < 6; i++) {
      const int64_t xi = 4 * t - 1 + i;
      x[i] = xi >= 0 && xi < W ? row[xi] : 0.0f;
    }
    BT6(x, v);
    for (int i = 0; i < 6; i++) d[i * L + t] = v[i];
  }
#endif
}

/* Tile rows packed per vector: a row of W <= 32 voxels has TW <= 8 tiles, and
 * x_stage_in would leave 8-12 of its 16 lanes idle. Rows of 2 (TW <= 8) or 4
 * (TW <= 4) consecutive tile rows share a vector instead, 16 / G lanes each. */
static inline int pack_of(int64_t TW) {
#if defined(__AVX512F__)
  return TW <= 4 ? 4 : TW <= 8 ? 2 : 1;
#else
  (void)TW;
  return 1;
#endif
}

#if defined(__AVX512F__)
/* lane g * (16 / G) + t -> lane g * TW + t (t < TW) */
static inline __m512i pack_index(int G, int64_t TW) {
  int32_t m[16];
  for (int j = 0; j < 16; j++) m[j] = j < G * TW ? (int32_t)(j / TW * (16 / G) + j % TW) : j;
  return _mm512_loadu_si512(m);
}

/* d[px * L + g * TW + t] (t < TW, g < ng) = B^T of row g (NULL: zeros), rows[g] of
 * tile row g of a pack of G (2 or 4; W <= 64 / G); idx = pack_index(G, TW). */
static inline void x_stage_in_packed(const float *const rows[4], int ng, int G, int64_t W, int64_t TW, int64_t L,
                                     __m512i idx, float *d) {
  const int S = 16 / G;
  __m512 R[4];
  for (int i = 0; i < 4; i++) {
    const int g = G == 2 ? i / 2 : i, half = G == 2 ? i % 2 : 0;
    R[i] = g < ng && rows[g] ? mload(rows[g], 16 * half, W) : _mm512_setzero_ps();
  }
  const __m512 p0 = phase(R[0], R[1], R[2], R[3], 0), p3 = phase(R[0], R[1], R[2], R[3], 3);
  /* x[4t-1] and x[4t+4] by a lane's shift, with each row's own border: 0 */
  const __mmask16 first = G == 2 ? 0x0101 : 0x1111, last = (__mmask16)(first << (S - 1));
  const __m512i zero = _mm512_setzero_si512();
  v16 xs[6], v[6];
  xs[0] = (v16)_mm512_maskz_mov_ps((__mmask16)~first,
                                   _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(p3), zero, 15)));
  xs[1] = (v16)p0;
  xs[2] = (v16)phase(R[0], R[1], R[2], R[3], 1);
  xs[3] = (v16)phase(R[0], R[1], R[2], R[3], 2);
  xs[4] = (v16)p3;
  xs[5] = (v16)_mm512_maskz_mov_ps((__mmask16)~last,
                                   _mm512_castsi512_ps(_mm512_alignr_epi32(zero, _mm512_castps_si512(p0), 1)));
  BT6(xs, v);
  const __mmask16 msk = lane_mask(0, ng * TW);
  for (int i = 0; i < 6; i++)
    _mm512_mask_storeu_ps(d + i * L, msk, TW != S ? _mm512_permutexvar_ps(idx, (__m512)v[i]) : (__m512)v[i]);
}
#endif

/* out [W] (=, or += when acc) the row A^T (a[t], a[L + t], .., a[5L + t]) + bias:
 * outputs 4t .. 4t + 3 from tile t. */
static inline void x_stage_out(const float *a, int64_t L, int64_t TW, int64_t W, float bias, bool acc, float *out) {
#if defined(__AVX512F__)
  for (int64_t t0 = 0; t0 < TW; t0 += 16) {
    v16 m[6], o[4];
    for (int i = 0; i < 6; i++) m[i] = (v16)mload(a + i * L, t0, TW);
    AT6(m, o);
    const __m512 bv = _mm512_set1_ps(bias);
    const __m512 o0 = _mm512_add_ps((__m512)o[0], bv), o1 = _mm512_add_ps((__m512)o[1], bv),
                 o2 = _mm512_add_ps((__m512)o[2], bv), o3 = _mm512_add_ps((__m512)o[3], bv);
    /* interleave: per 128-bit lane g, e holds tile 4g's four outputs, f 4g+1's, ... */
    const __m512d a01 = _mm512_castps_pd(_mm512_unpacklo_ps(o0, o1)), b01 = _mm512_castps_pd(_mm512_unpackhi_ps(o0, o1)),
                  a23 = _mm512_castps_pd(_mm512_unpacklo_ps(o2, o3)), b23 = _mm512_castps_pd(_mm512_unpackhi_ps(o2, o3));
    const __m512 e = _mm512_castpd_ps(_mm512_unpacklo_pd(a01, a23)), f = _mm512_castpd_ps(_mm512_unpackhi_pd(a01, a23)),
                 g = _mm512_castpd_ps(_mm512_unpacklo_pd(b01, b23)), h = _mm512_castpd_ps(_mm512_unpackhi_pd(b01, b23));
    /* then a 4x4 transpose of 128-bit lanes: q[j] = (e, f, g, h) lane j = outputs of tiles 4j .. 4j + 3 */
    const __m512 s0 = _mm512_shuffle_f32x4(e, f, 0x44), s1 = _mm512_shuffle_f32x4(g, h, 0x44),
                 s2 = _mm512_shuffle_f32x4(e, f, 0xEE), s3 = _mm512_shuffle_f32x4(g, h, 0xEE);
    const __m512 q[4] = {_mm512_shuffle_f32x4(s0, s1, 0x88), _mm512_shuffle_f32x4(s0, s1, 0xDD),
                         _mm512_shuffle_f32x4(s2, s3, 0x88), _mm512_shuffle_f32x4(s2, s3, 0xDD)};
    for (int j = 0; j < 4; j++) {
      const int64_t s = 4 * t0 + 16 * j;
      const __mmask16 msk = lane_mask(s, W);
      if (!msk) break;
      _mm512_mask_storeu_ps(out + s, msk, acc ? _mm512_add_ps(mload(out, s, W), q[j]) : q[j]);
    }
  }
#else
  for (int64_t t = 0; t < TW; t++) {
    float m[6], o[4];
    for (int i = 0; i < 6; i++) m[i] = a[i * L + t];
    AT6(m, o);
    for (int i = 0; i < 4 && 4 * t + i < W; i++) out[4 * t + i] = (acc ? out[4 * t + i] : 0.0f) + o[i] + bias;
  }
#endif
}

/* v[p * pos_stride(C) + c * ldt + t] = B^T d B (3D), p = (pz * 6 + py) * 6 + px, for every tile t
 * of the block (tile rows [r0, r1)) and channel c of x [N, C, D, H, W]. */
static void input_block(const float *x, int64_t C, const wino_plan *P, int64_t r0, int64_t r1, float *tmp,
                        float *restrict v) {
  const int64_t D = P->D, H = P->H, W = P->W, TW = P->TW, L = P->ldt, nt = (r1 - r0) * TW, vol = D * H * W;
  const int64_t n16 = cols16(nt), PS = pos_stride(P, C);
  float *restrict t1 = tmp; /* x stage: [zi][yi][px][L] */
  const int G = pack_of(TW);
#if defined(__AVX512F__)
  const __m512i idx = pack_index(G, TW);
#endif
  for (int i = 0; i < NPOS; i++) memset(t1 + i * L + nt, 0, (size_t)(n16 - nt) * sizeof(float));
  for (int64_t c = 0; c < C; c++) {
    if (c + 1 < C)
      for (int64_t r = r0; r < r1; r++) {
        int64_t n, tz, ty;
        row_pos(P, r, &n, &tz, &ty);
        const bool last = r + 1 == r1 || (r + 1) % P->TH == 0; /* no next tile row reading y + 4, y + 5 */
        prefetch_rows(x + (n * C + c + 1) * vol, P, 4 * tz - 1, 6, 4 * ty - 1, last ? 6 : 4);
      }
    for (int64_t r = r0; r < r1; r += G) {
      const int ng = r1 - r < G ? (int)(r1 - r) : G;
      int64_t tz[4], ty[4];
      const float *xc[4];
      for (int g = 0; g < ng; g++) {
        int64_t n;
        row_pos(P, r + g, &n, &tz[g], &ty[g]);
        xc[g] = x + (n * C + c) * vol;
      }
      const int64_t col = (r - r0) * TW;
      for (int zi = 0; zi < 6; zi++)
        for (int yi = 0; yi < 6; yi++) {
          const float *rows[4] = {NULL, NULL, NULL, NULL};
          for (int g = 0; g < ng; g++) {
            const int64_t z = 4 * tz[g] - 1 + zi, y = 4 * ty[g] - 1 + yi;
            if (z >= 0 && z < D && y >= 0 && y < H) rows[g] = xc[g] + (z * H + y) * W;
          }
          float *d0 = t1 + (zi * 6 + yi) * 6 * L + col;
#if defined(__AVX512F__)
          if (G > 1) {
            x_stage_in_packed(rows, ng, G, W, TW, L, idx, d0);
            continue;
          }
#endif
          if (rows[0])
            x_stage_in(rows[0], W, TW, L, d0);
          else
            for (int px = 0; px < 6; px++) memset(d0 + px * L, 0, (size_t)TW * sizeof(float));
        }
    }
    /* along y, then z, 16 columns at a time, into v */
    for (int px = 0; px < 6; px++)
      for (int64_t t = 0; t < n16; t += 16) {
        v16 a[6][6]; /* [zi][py] */
        for (int zi = 0; zi < 6; zi++) {
          v16 d[6];
          for (int yi = 0; yi < 6; yi++) d[yi] = ld16(t1 + ((zi * 6 + yi) * 6 + px) * L + t);
          BT6(d, a[zi]);
        }
        for (int py = 0; py < 6; py++) {
          const v16 d[6] = {a[0][py], a[1][py], a[2][py], a[3][py], a[4][py], a[5][py]};
          v16 o[6];
          BT6(d, o);
          for (int pz = 0; pz < 6; pz++) st16(v + ((pz * 6 + py) * 6 + px) * PS + c * L + t, o[pz]);
        }
      }
  }
}

/* y [N, K, D, H, W] (=, or += when acc) A^T m A (3D) + b[k] for the block's tiles, from m[p * pos_stride(K) + k * ldt + t]. */
static void output_block(const float *m, int64_t K, const wino_plan *P, int64_t r0, int64_t r1, float *tmp,
                         float *y, const float *b, bool acc) {
  const int64_t D = P->D, H = P->H, W = P->W, TW = P->TW, L = P->ldt, nt = (r1 - r0) * TW, vol = D * H * W;
  const int64_t PS = pos_stride(P, K);
  float *restrict r = tmp; /* [oz][oy][px][L]: 96 L */
  for (int64_t k = 0; k < K; k++) {
    /* along z, then y, 16 columns at a time */
    for (int px = 0; px < 6; px++)
      for (int64_t t = 0; t < nt; t += 16) {
        v16 sz[4][6]; /* [oz][py] */
        for (int py = 0; py < 6; py++) {
          v16 a[6], o[4];
          for (int pz = 0; pz < 6; pz++) a[pz] = ld16(m + ((pz * 6 + py) * 6 + px) * PS + k * L + t);
          AT6(a, o);
          for (int oz = 0; oz < 4; oz++) sz[oz][py] = o[oz];
        }
        for (int oz = 0; oz < 4; oz++) {
          v16 o[4];
          AT6(sz[oz], o);
          for (int oy = 0; oy < 4; oy++) st16(r + ((oz * 4 + oy) * 6 + px) * L + t, o[oy]);
        }
      }
    const float bias = b ? b[k] : 0.0f;
    for (int64_t row = r0; row < r1; row++) {
      int64_t n, tz, ty;
      row_pos(P, row, &n, &tz, &ty);
      const int64_t col = (row - r0) * TW;
      float *yk = y + (n * K + k) * vol;
      for (int oz = 0; oz < 4; oz++)
        for (int oy = 0; oy < 4; oy++) {
          const int64_t z = 4 * tz + oz, yy = 4 * ty + oy;
          if (z < D && yy < H)
            x_stage_out(r + (oz * 4 + oy) * 6 * L + col, L, TW, W, bias, acc, yk + (z * H + yy) * W);
        }
    }
  }
}

/* u[p * ustride + l] = G w_l G^T (3D) for l < nl, w_l = w + l * wstride (3^3
 * kernels), 16 kernels at once, one per lane, so that every write to u is one
 * 64-byte row instead of 216 scattered floats. */
static void weight_transform16(const float *w, int64_t wstride, int nl, float *u, int64_t ustride) {
  v16 in[3][3][3], a[3][3][6], b[3][6][6];
  for (int t = 0; t < 27; t++) {
    float lane[WL];
    for (int l = 0; l < WL; l++) lane[l] = l < nl ? w[l * wstride + t] : 0.0f;
    in[t / 9][t / 3 % 3][t % 3] = ld16(lane);
  }
  for (int z = 0; z < 3; z++)
    for (int y = 0; y < 3; y++) G6(in[z][y], a[z][y]);
  for (int z = 0; z < 3; z++)
    for (int x = 0; x < 6; x++) {
      const v16 r[3] = {a[z][0][x], a[z][1][x], a[z][2][x]};
      v16 o[6];
      G6(r, o);
      for (int y = 0; y < 6; y++) b[z][y][x] = o[y];
    }
  for (int y = 0; y < 6; y++)
    for (int x = 0; x < 6; x++) {
      const v16 r[3] = {b[0][y][x], b[1][y][x], b[2][y][x]};
      v16 o[6];
      G6(r, o);
      for (int z = 0; z < 6; z++) {
        float lane[WL];
        st16(lane, o[z]);
        memcpy(u + ((z * 6 + y) * 6 + x) * ustride, lane, (size_t)nl * sizeof(float));
      }
    }
}

/* ---- backward-weight: dw = G^T [sum over tiles of (B^T d B) * (A dy A^T)] G, per channel pair ---- */
/* A dy per axis (the adjoint of A^T): m from the tile's four outputs y */
#define A6(y, m)                                                    \
  do {                                                              \
    (m)[0] = (y)[0];                                                \
    (m)[1] = (y)[0] + (y)[1] + (y)[2] + (y)[3];                     \
    (m)[2] = (y)[0] - (y)[1] + (y)[2] - (y)[3];                     \
    (m)[3] = (y)[0] + 2.0f * (y)[1] + 4.0f * (y)[2] + 8.0f * (y)[3]; \
    (m)[4] = (y)[0] - 2.0f * (y)[1] + 4.0f * (y)[2] - 8.0f * (y)[3]; \
    (m)[5] = (y)[3];                                                \
  } while (0)
/* d[px * L + t] (t < TW) = A (y[4t] .. y[4t+3]) of one gradient row y [W] (0 past W). */
static inline void x_stage_grad(const float *row, int64_t W, int64_t TW, int64_t L, float *d) {
#if defined(__AVX512F__)
  for (int64_t t0 = 0; t0 < TW; t0 += 16) {
    const int64_t s = 4 * t0;
    const __m512 X0 = mload(row, s, W), X1 = mload(row, s + 16, W);
    const bool wide = TW - t0 > 8;
    const __m512 X2 = wide ? mload(row, s + 32, W) : _mm512_setzero_ps(),
                 X3 = wide ? mload(row, s + 48, W) : _mm512_setzero_ps();
    const v16 y[4] = {(v16)phase(X0, X1, X2, X3, 0), (v16)phase(X0, X1, X2, X3, 1), (v16)phase(X0, X1, X2, X3, 2),
                      (v16)phase(X0, X1, X2, X3, 3)};
    v16 m[6];
    A6(y, m);
    const __mmask16 msk = lane_mask(t0, TW);
    for (int i = 0; i < 6; i++) _mm512_mask_storeu_ps(d + i * L + t0, msk, (__m512)m[i]);
  }
#else
  for (int64_t t = 0; t < TW; t++) {
    float y[4], m[6];
    for (int j = 0; j < 4; j++) y[j] = 4 * t + j < W ? row[4 * t + j] : 0.0f;
    A6(y, m);
    for (int i = 0; i < 6; i++) d[i * L + t] = m[i];
  }
#endif
}

/* dm[p * pos_stride(K) + k * ldt + t] = A dy A^T (3D) of the block's output tiles of dy [N, K, D, H, W]
 * (voxels past the border count as 0). */
static void grad_block(const float *dy, int64_t K, const wino_plan *P, int64_t r0, int64_t r1, float *tmp,
                       float *restrict dm) {
  const int64_t D = P->D, H = P->H, W = P->W, TW = P->TW, L = P->ldt, nt = (r1 - r0) * TW, vol = D * H * W;
  const int64_t n16 = cols16(nt), PS = pos_stride(P, K);
  float *restrict q = tmp; /* [oz][oy][px][L]: 96 L */
  for (int i = 0; i < 96; i++) memset(q + i * L + nt, 0, (size_t)(n16 - nt) * sizeof(float));
  for (int64_t k = 0; k < K; k++) {
    if (k + 1 < K)
      for (int64_t row = r0; row < r1; row++) {
        int64_t n, tz, ty;
        row_pos(P, row, &n, &tz, &ty);
        prefetch_rows(dy + (n * K + k + 1) * vol, P, 4 * tz, 4, 4 * ty, 4);
      }
    for (int64_t row = r0; row < r1; row++) {
      int64_t n, tz, ty;
      row_pos(P, row, &n, &tz, &ty);
      const float *dyk = dy + (n * K + k) * vol;
      const int64_t col = (row - r0) * TW;
      for (int oz = 0; oz < 4; oz++)
        for (int oy = 0; oy < 4; oy++) {
          const int64_t z = 4 * tz + oz, yy = 4 * ty + oy;
          float *d0 = q + (oz * 4 + oy) * 6 * L + col;
          if (z >= D || yy >= H)
            for (int px = 0; px < 6; px++) memset(d0 + px * L, 0, (size_t)TW * sizeof(float));
          else
            x_stage_grad(dyk + (z * H + yy) * W, W, TW, L, d0);
        }
    }
    /* along y, then z, 16 columns at a time, into dm */
    for (int px = 0; px < 6; px++)
      for (int64_t t = 0; t < n16; t += 16) {
        v16 a[4][6]; /* [oz][py] */
        for (int oz = 0; oz < 4; oz++) {
          v16 d[4];
          for (int oy = 0; oy < 4; oy++) d[oy] = ld16(q + ((oz * 4 + oy) * 6 + px) * L + t);
          A6(d, a[oz]);
        }
        for (int py = 0; py < 6; py++) {
          const v16 d[4] = {a[0][py], a[1][py], a[2][py], a[3][py]};
          v16 o[6];
          A6(d, o);
          for (int pz = 0; pz < 6; pz++) st16(dm + ((pz * 6 + py) * 6 + px) * PS + k * L + t, o[pz]);
        }
      }
  }
}

/* dw_l[27] (+)= G^T du_l G (3D) for l < nl, du_l[p] = du[p][l] (double sums of the threads' parts), dw_l = dw + l * 27.
 * The lane loops are innermost, so that they vectorise. */
static void weight_grad_transform16(const double du[NPOS][WL], int nl, float *dw, bool acc) {
  static const double g[3][6] = {{1.0 / 4, -1.0 / 6, -1.0 / 6, 1.0 / 24, 1.0 / 24, 0},
                                 {0, -1.0 / 6, 1.0 / 6, 1.0 / 12, -1.0 / 12, 0},
                                 {0, -1.0 / 6, -1.0 / 6, 1.0 / 6, 1.0 / 6, 1}}; /* G^T */
  double a[6][6][3][WL], b[6][3][3][WL], o[3][3][3][WL];
  for (int z = 0; z < 6; z++) /* along x */
    for (int y = 0; y < 6; y++)
      for (int j = 0; j < 3; j++) {
        double *r = a[z][y][j];
        for (int l = 0; l < WL; l++) r[l] = 0;
        for (int i = 0; i < 6; i++)
          if (g[j][i] != 0)
            for (int l = 0; l < WL; l++) r[l] += g[j][i] * du[(z * 6 + y) * 6 + i][l];
      }
  for (int z = 0; z < 6; z++) /* along y */
    for (int j = 0; j < 3; j++)
      for (int x = 0; x < 3; x++) {
        double *r = b[z][j][x];
        for (int l = 0; l < WL; l++) r[l] = 0;
        for (int i = 0; i < 6; i++)
          if (g[j][i] != 0)
            for (int l = 0; l < WL; l++) r[l] += g[j][i] * a[z][i][x][l];
      }
  for (int j = 0; j < 3; j++) /* along z */
    for (int y = 0; y < 3; y++)
      for (int x = 0; x < 3; x++) {
        double *r = o[j][y][x];
        for (int l = 0; l < WL; l++) r[l] = 0;
        for (int i = 0; i < 6; i++)
          if (g[j][i] != 0)
            for (int l = 0; l < WL; l++) r[l] += g[j][i] * b[i][y][x][l];
      }
  for (int l = 0; l < nl; l++)
    for (int t = 0; t < 27; t++) {
      float *out = dw + l * 27 + t;
      const double v = o[t / 9][t / 3 % 3][t % 3][l];
      *out = acc ? (float)(*out + v) : (float)v;
    }
}

const wino_kernels ps_wino43 = {4, NPOS, tmp_elems, weight_transform16, input_block, output_block, grad_block,
                                weight_grad_transform16};
