/* Kernels of the fast "cpu" backend (OpenMP + OpenBLAS), split over files by
 * family; cpu_backend.c assembles them into the vtable. Signatures are the
 * vtable's (proxyseg/backend.h), shapes documented there. */
#ifndef PS_CPU_INTERNAL_H
#define PS_CPU_INTERNAL_H
#include "backend/cpu_common.h"

/* ---- reductions over float runs ----
 * C's evaluation order forbids the compiler to vectorise 'a += x[i]', so such a
 * loop ran one add per floating-point latency (4 cycles per element; norm
 * statistics, norm backward and the bias gradient were 9 % of a 3/16/32^3 step).
 * These keep 16 partial sums (one AVX-512 register; the compiler splits it on
 * narrower ISAs) and fold the lanes in a fixed order, so a result still does
 * not depend on the thread count. No vector type crosses a function boundary
 * (the ABI of 64-byte vectors differs without AVX-512). */
typedef float ps_f16v __attribute__((vector_size(64)));
/* an unaligned load of 16 floats: *(const ps_f16v_u *)p */
typedef float ps_f16v_u __attribute__((vector_size(64), aligned(4), may_alias));
#define ps_ld16v(p) (*(const ps_f16v_u *)(const void *)(p))
#define PS_FOLD16(v, out) \
  do { \
    float f_ = 0; \
    for (int l_ = 0; l_ < 16; l_++) f_ += (v)[l_]; \
    (out) = f_; \
  } while (0)

/* sum of x[0..n) */
static inline double ps_sum_f32(const float *x, int64_t n) {
  ps_f16v a = {0};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) a += ps_ld16v(x + i);
  float t = 0, f;
  for (; i < n; i++) t += x[i];
  PS_FOLD16(a, f);
  return (double)f + t;
}

/* *s1 = sum (x - shift), *s2 = sum (x - shift)^2 over x[0..n) */
static inline void ps_sum_dev_f32(const float *x, int64_t n, float shift, double *s1, double *s2) {
  ps_f16v a = {0}, b = {0};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const ps_f16v d = ps_ld16v(x + i) - shift;
    a += d;
    b += d * d;
  }
  float ta = 0, tb = 0, fa, fb;
  for (; i < n; i++) {
    const float d = x[i] - shift;
    ta += d;
    tb += d * d;
  }
  PS_FOLD16(a, fa);
  PS_FOLD16(b, fb);
  *s1 = (double)fa + ta;
  *s2 = (double)fb + tb;
}

/* cpu_norm_loss.c */
ps_status ps_cpu_norm_stats(ps_backend *be, const ps_norm_geom *g, const float *x, float eps, float *mean, float *rstd,
                            float *var_out);
ps_status ps_cpu_norm_forward(ps_backend *be, const ps_norm_geom *g, const float *x, float eps, const float *gamma,
                              const float *beta, float *mean, float *rstd, float *y);
ps_status ps_cpu_norm_apply(ps_backend *be, const ps_norm_geom *g, const float *x, const float *mean,
                            const float *rstd, const float *gamma, const float *beta, float *y);
ps_status ps_cpu_norm_backward(ps_backend *be, const ps_norm_geom *g, const float *x, const float *mean,
                               const float *rstd, const float *gamma, const float *beta, const float *y, const float *dy,
                               bool batch_stats,
                               float *dx, bool dx_acc, float *dgamma, bool dgamma_acc, float *dbeta, bool dbeta_acc);
size_t ps_cpu_loss_workspace_bytes(ps_backend *be, const ps_loss_geom *g);
ps_status ps_cpu_loss_forward(ps_backend *be, const ps_loss_geom *g, const float *logits, const uint8_t *labels,
                              float *loss, void *workspace);
ps_status ps_cpu_loss_backward(ps_backend *be, const ps_loss_geom *g, const float *logits, const uint8_t *labels,
                               const void *workspace, const float *up, float *dlogits, bool acc);

/* cpu_resample.c */
ps_status ps_cpu_maxpool_forward(ps_backend *be, const ps_pool_geom *g, const float *x, float *y, int32_t *argmax);
ps_status ps_cpu_maxpool_backward(ps_backend *be, const ps_pool_geom *g, const int32_t *argmax, const float *dy,
                                  float *dx, bool acc);
ps_status ps_cpu_avgpool_forward(ps_backend *be, const ps_pool_geom *g, const float *x, float *y);
ps_status ps_cpu_avgpool_backward(ps_backend *be, const ps_pool_geom *g, const float *dy, float *dx, bool acc);
ps_status ps_cpu_upsample_forward(ps_backend *be, bool trilinear, int64_t planes, const int64_t in[3],
                                  const int64_t out[3], const float *x, float *y);
ps_status ps_cpu_upsample_backward(ps_backend *be, bool trilinear, int64_t planes, const int64_t in[3],
                                   const int64_t out[3], const float *dy, float *dx, bool acc);
#endif
