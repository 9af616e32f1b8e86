/* exp and log over float arrays, 16 lanes at a time. glibc's expf and logf
 * are scalar calls unless the whole program is built with -ffast-math, and
 * the fused loss (cpu_norm_loss.c) spent most of its time in them. These are
 * Cephes' single-precision approximations (range reduction by ln 2, then a
 * polynomial): about 1 ulp against glibc in [-87, 88] for exp and for
 * positive finite inputs of log. exp clamps its input to [-87.3, 88.37] (so
 * exp(-inf) is 1e-38, not 0, which no softmax probability can tell apart);
 * log expects positive finite inputs (the loss takes it of sums >= 1). Array
 * functions, not vector ones, because no vector type may cross a function
 * boundary (cpu_internal.h). */
#ifndef PS_CPU_VMATH_H
#define PS_CPU_VMATH_H
#include "backend/cpu/cpu_internal.h"
#include <math.h>
#include <stdint.h>
#include <string.h>

typedef int32_t ps_i16v __attribute__((vector_size(64)));

/* lanes where mask is set from a, the others from b (C has no vector ?:; a
 * macro, since a vector argument would cross a function boundary) */
#define ps_vsel(mask, a, b) ((ps_f16v)(((mask) & (ps_i16v)(a)) | (~(mask) & (ps_i16v)(b))))

/* x[i] = exp(x[i]), i < n */
static inline void ps_vexp_inplace(float *x, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    ps_f16v v = ps_ld16v(x + i);
    v = ps_vsel(v > 88.37f, (ps_f16v){0} + 88.37f, v); /* 2^128 would overflow the scale */
    v = ps_vsel(v < -87.3f, (ps_f16v){0} - 87.3f, v);
    /* n = round(v / ln 2) by the 1.5 * 2^23 trick, r = v - n ln 2 in two parts */
    const ps_f16v t = v * 1.44269504088896341f + 12582912.0f, fn = t - 12582912.0f;
    const ps_f16v r = v - fn * 0.693359375f + fn * 2.12194440e-4f;
    ps_f16v p = r * 1.9875691500e-4f + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    const ps_i16v ni = (ps_i16v)t - 0x4B400000; /* the integer n from t's low mantissa bits */
    const ps_i16v scale = (ni + 127) << 23;
    const ps_f16v out = p * (ps_f16v)scale;
    memcpy(x + i, &out, sizeof out);
  }
  for (; i < n; i++) x[i] = expf(x[i]);
}

/* x[i] = log(x[i]), i < n, for positive finite x */
static inline void ps_vlog_inplace(float *x, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const ps_i16v bits = (ps_i16v)ps_ld16v(x + i);
    /* x = m 2^e with m in [0.5, 1) */
    ps_f16v e = __builtin_convertvector(((bits >> 23) & 0xff) - 126, ps_f16v);
    ps_f16v m = (ps_f16v)((bits & 0x807fffff) | 0x3f000000);
    /* m < sqrt(1/2): use 2m - 1 and e - 1, else m - 1 (|m - 1| <= 0.29) */
    const ps_i16v small = m < 0.707106781186547524f;
    e = ps_vsel(small, e - 1.0f, e);
    m = ps_vsel(small, m + m - 1.0f, m - 1.0f);
    const ps_f16v z = m * m;
    ps_f16v y = m * 7.0376836292e-2f - 1.1514610310e-1f;
    y = y * m + 1.1676998740e-1f;
    y = y * m - 1.2420140846e-1f;
    y = y * m + 1.4249322787e-1f;
    y = y * m - 1.6668057665e-1f;
    y = y * m + 2.0000714765e-1f;
    y = y * m - 2.4999993993e-1f;
    y = y * m + 3.3333331174e-1f;
    y = y * m * z;
    y = y - e * 2.12194440e-4f;
    y = y - z * 0.5f;
    const ps_f16v out = m + y + e * 0.693359375f;
    memcpy(x + i, &out, sizeof out);
  }
  for (; i < n; i++) x[i] = logf(x[i]);
}

#endif
