/* The "cpu" backend: OpenMP loops (serial below PS_OMP_MIN elements, where a
 * fork/join costs more than it saves), OpenBLAS for GEMM and the vol2col conv
 * path, host memory. This file holds the small kernels and the vtable; convs
 * are in conv_gemm.c, norms and the loss in cpu_norm_loss.c, pools and
 * upsampling in cpu_resample.c. */
#include "backend/cpu/conv_kernels.h"
#include "backend/cpu/cpu_internal.h"
#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <string.h>

#define UNUSED(x) (void)(x)

/* ---- convolution ---- */
static ps_status c_conv_forward(ps_backend *be, const ps_conv_geom *g, const float *x, const float *w, const float *b,
                                float *y, bool acc) {
  UNUSED(be);
  return ps_conv_fast_forward(g, x, w, b, y, acc);
}
static ps_status c_conv_backward_data(ps_backend *be, const ps_conv_geom *g, const float *dy, const float *w,
                                      float *dx, bool acc) {
  UNUSED(be);
  return ps_conv_fast_backward_data(g, dy, w, dx, acc);
}
static ps_status c_conv_backward_weight(ps_backend *be, const ps_conv_geom *g, const float *x, const float *dy,
                                        float *dw, bool acc) {
  UNUSED(be);
  return ps_conv_fast_backward_weight(g, x, dy, dw, acc);
}
static ps_status c_bias_add(ps_backend *be, int64_t N, int64_t K, int64_t S, const float *b, float *y) {
  UNUSED(be);
#pragma omp parallel for if (N * K * S > PS_OMP_MIN) schedule(static)
  for (int64_t r = 0; r < N * K; r++) {
    const float bv = b[r % K];
    float *p = y + r * S;
    for (int64_t i = 0; i < S; i++) p[i] += bv;
  }
  return PS_OK;
}
static ps_status c_bias_grad(ps_backend *be, int64_t N, int64_t K, int64_t S, const float *dy, float *db, bool acc) {
  UNUSED(be);
#pragma omp parallel for if (N * K * S > PS_OMP_MIN) schedule(static)
  for (int64_t k = 0; k < K; k++) {
    double s = 0;
    for (int64_t n = 0; n < N; n++) {
      s += ps_sum_f32(dy + (n * K + k) * S, S);
    }
    db[k] = acc ? (float)(db[k] + s) : (float)s;
  }
  return PS_OK;
}
/* the transposed conv's backward: fused (one pass over dy) where the geometry
 * allows, else the three kernels */
static ps_status c_convt_backward(ps_backend *be, const ps_conv_geom *g, const float *dy, const float *x,
                                  const float *w, float *dx, bool dx_acc, float *dw, bool dw_acc, float *db,
                                  bool db_acc) {
  if (ps_conv_convt_fusable(g))
    return ps_conv_fast_convt_backward(g, dy, x, w, dx, dx_acc, dw, dw_acc, db, db_acc);
  ps_status st = PS_OK;
  if (db) st = c_bias_grad(be, g->n, g->c, g->in[0] * g->in[1] * g->in[2], dy, db, db_acc);
  if (st == PS_OK && dw) st = ps_conv_fast_backward_weight(g, dy, x, dw, dw_acc);
  if (st == PS_OK && dx) st = ps_conv_fast_forward(g, dy, w, NULL, dx, dx_acc);
  return st;
}

/* ---- GEMM ---- */
static ps_status c_sgemm(ps_backend *be, bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha,
                         const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
  UNUSED(be);
  if (m > INT32_MAX || n > INT32_MAX || k > INT32_MAX)
    return ps_error(PS_ERR_UNSUPPORTED, "sgemm: dimensions %lld x %lld x %lld exceed BLAS's int", (long long)m,
                    (long long)n, (long long)k);
  if (m == 0 || n == 0) return PS_OK;
  if (k == 0) { /* BLAS may skip the beta scaling when k = 0 */
    for (int64_t i = 0; i < m; i++)
      for (int64_t j = 0; j < n; j++) c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
    return PS_OK;
  }
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)m, (int)n, (int)k,
              alpha, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
  return PS_OK;
}

/* ---- elementwise ---- */
static ps_status c_add(ps_backend *be, const float *a, const float *b, float *y, int64_t len) {
  UNUSED(be);
#pragma omp parallel for simd if (len > PS_OMP_MIN) schedule(static)
  for (int64_t i = 0; i < len; i++) y[i] = a[i] + b[i];
  return PS_OK;
}
static ps_status c_mul(ps_backend *be, const float *a, const float *b, float *y, int64_t len, bool acc) {
  UNUSED(be);
  if (acc) {
#pragma omp parallel for simd if (len > PS_OMP_MIN) schedule(static)
    for (int64_t i = 0; i < len; i++) y[i] += a[i] * b[i];
  } else {
#pragma omp parallel for simd if (len > PS_OMP_MIN) schedule(static)
    for (int64_t i = 0; i < len; i++) y[i] = a[i] * b[i];
  }
  return PS_OK;
}
static ps_status c_axpby(ps_backend *be, float s, const float *x, float *y, int64_t len, bool acc) {
  UNUSED(be);
  if (acc) {
#pragma omp parallel for simd if (len > PS_OMP_MIN) schedule(static)
    for (int64_t i = 0; i < len; i++) y[i] += s * x[i];
  } else if (s == 1.0f) {
    if (x != y) memcpy(y, x, (size_t)len * sizeof(float));
  } else {
#pragma omp parallel for simd if (len > PS_OMP_MIN) schedule(static)
    for (int64_t i = 0; i < len; i++) y[i] = s * x[i];
  }
  return PS_OK;
}
static ps_status c_fill(ps_backend *be, float v, float *y, int64_t len) {
  UNUSED(be);
#pragma omp parallel for simd if (len > PS_OMP_MIN) schedule(static)
  for (int64_t i = 0; i < len; i++) y[i] = v;
  return PS_OK;
}
static ps_status c_weighted_sum(ps_backend *be, int n, const float *const *xs, const float *w, float *y, int64_t len) {
  UNUSED(be);
  for (int k = 0; k < n; k++) {
    const float wk = w[k], *xv = xs[k];
    if (k == 0) {
#pragma omp parallel for simd if (len > PS_OMP_MIN) schedule(static)
      for (int64_t i = 0; i < len; i++) y[i] = wk * xv[i];
    } else {
#pragma omp parallel for simd if (len > PS_OMP_MIN) schedule(static)
      for (int64_t i = 0; i < len; i++) y[i] += wk * xv[i];
    }
  }
  return PS_OK;
}
/* Fixed chunking (not an OpenMP reduction): the same sum for every thread count. */
#define RED_CHUNKS 64
static double chunked_sum(const float *a, const float *b, int64_t len) {
  double part[RED_CHUNKS];
  const int64_t chunk = (len + RED_CHUNKS - 1) / RED_CHUNKS;
#pragma omp parallel for if (len > PS_OMP_MIN) schedule(static)
  for (int c = 0; c < RED_CHUNKS; c++) {
    double s = 0;
    const int64_t lo = c * chunk, hi = lo + chunk < len ? lo + chunk : len;
    for (int64_t i = lo; i < hi; i++) s += (double)a[i] * b[i];
    part[c] = s;
  }
  double s = 0;
  for (int c = 0; c < RED_CHUNKS; c++) s += part[c];
  return s;
}
static ps_status c_dot(ps_backend *be, const float *a, const float *b, int64_t len, float *out, bool acc) {
  UNUSED(be);
  const double s = chunked_sum(a, b, len);
  out[0] = acc ? (float)(out[0] + s) : (float)s;
  return PS_OK;
}

/* ---- activations ---- */
static ps_status c_act_forward(ps_backend *be, ps_act k, float slope, const float *x, float *y, int64_t len) {
  UNUSED(be);
  switch (k) {
  case PS_ACT_RELU:
#pragma omp parallel for simd if (len > PS_OMP_MIN) schedule(static)
    for (int64_t i = 0; i < len; i++) y[i] = x[i] > 0 ? x[i] : 0.0f;
    break;
  case PS_ACT_LEAKY_RELU:
#pragma omp parallel for simd if (len > PS_OMP_MIN) schedule(static)
    for (int64_t i = 0; i < len; i++) y[i] = x[i] > 0 ? x[i] : slope * x[i];
    break;
  case PS_ACT_SIGMOID:
    /* both branches stay finite for any x: exp of a non-positive number */
#pragma omp parallel for if (len > PS_OMP_MIN) schedule(static)
    for (int64_t i = 0; i < len; i++) {
      const float v = x[i];
      if (v >= 0) y[i] = 1.0f / (1.0f + expf(-v));
      else { const float e = expf(v); y[i] = e / (1.0f + e); }
    }
    break;
  case PS_ACT_TANH:
#pragma omp parallel for if (len > PS_OMP_MIN) schedule(static)
    for (int64_t i = 0; i < len; i++) y[i] = tanhf(x[i]);
    break;
  default:
    if (x != y) memcpy(y, x, (size_t)len * sizeof(float));
  }
  return PS_OK;
}
static ps_status c_act_backward(ps_backend *be, ps_act k, float slope, const float *x, const float *y, const float *dy,
                                float *g, int64_t len, bool acc) {
  UNUSED(be);
#define ACT_LOOP(EXPR)                                                                 \
  do {                                                                                 \
    if (!acc) {                                                                        \
      _Pragma("omp parallel for simd if (len > PS_OMP_MIN) schedule(static)")          \
      for (int64_t i = 0; i < len; i++) g[i] = (EXPR);                                 \
    } else {                                                                           \
      _Pragma("omp parallel for simd if (len > PS_OMP_MIN) schedule(static)")          \
      for (int64_t i = 0; i < len; i++) g[i] += (EXPR);                                \
    }                                                                                  \
  } while (0)
  switch (k) {
  case PS_ACT_RELU: ACT_LOOP(y[i] > 0 ? dy[i] : 0.0f); break;
  case PS_ACT_LEAKY_RELU: ACT_LOOP(x[i] > 0 ? dy[i] : slope * dy[i]); break;
  case PS_ACT_SIGMOID: ACT_LOOP(dy[i] * y[i] * (1.0f - y[i])); break;
  case PS_ACT_TANH: ACT_LOOP(dy[i] * (1.0f - y[i] * y[i])); break;
  default: ACT_LOOP(dy[i]);
  }
#undef ACT_LOOP
  return PS_OK;
}

/* ---- channel blocks ---- */
static ps_status c_copy_channels(ps_backend *be, int64_t N, int64_t inner, const float *src, int64_t sc, int64_t soff,
                                 float *dst, int64_t dc, int64_t doff, int64_t len, bool acc) {
  UNUSED(be);
  const int64_t blk = len * inner;
#pragma omp parallel for if (N * blk > 4 * PS_OMP_MIN) schedule(static)
  for (int64_t n = 0; n < N; n++) {
    const float *s = src + (n * sc + soff) * inner;
    float *d = dst + (n * dc + doff) * inner;
    if (!acc) memcpy(d, s, (size_t)blk * sizeof(float));
    else
      for (int64_t j = 0; j < blk; j++) d[j] += s[j];
  }
  return PS_OK;
}

/* ---- softmax over dim 1, in blocks of voxels so the strided channel loop stays in cache ---- */
#define SM_BLOCK 256
static ps_status c_softmax_forward(ps_backend *be, int64_t N, int64_t C, int64_t S, const float *x, float *y) {
  UNUSED(be);
  const int64_t nblk = (S + SM_BLOCK - 1) / SM_BLOCK;
#pragma omp parallel for collapse(2) if (N * C * S > PS_OMP_MIN) schedule(static)
  for (int64_t i = 0; i < N; i++)
    for (int64_t b = 0; b < nblk; b++) {
      const int64_t s0 = b * SM_BLOCK, len = S - s0 < SM_BLOCK ? S - s0 : SM_BLOCK;
      const int64_t base = i * C * S + s0;
      float m[SM_BLOCK], sum[SM_BLOCK];
      for (int64_t s = 0; s < len; s++) { m[s] = -INFINITY; sum[s] = 0; }
      for (int64_t c = 0; c < C; c++) {
        const float *xc = x + base + c * S;
        for (int64_t s = 0; s < len; s++) m[s] = xc[s] > m[s] ? xc[s] : m[s];
      }
      for (int64_t c = 0; c < C; c++) {
        const float *xc = x + base + c * S;
        float *yc = y + base + c * S;
        for (int64_t s = 0; s < len; s++) { yc[s] = expf(xc[s] - m[s]); sum[s] += yc[s]; }
      }
      for (int64_t s = 0; s < len; s++) sum[s] = 1.0f / sum[s];
      for (int64_t c = 0; c < C; c++) {
        float *yc = y + base + c * S;
        for (int64_t s = 0; s < len; s++) yc[s] *= sum[s];
      }
    }
  return PS_OK;
}
static ps_status c_softmax_backward(ps_backend *be, int64_t N, int64_t C, int64_t S, const float *y, const float *dy,
                                    float *g, bool acc) {
  UNUSED(be);
  const int64_t nblk = (S + SM_BLOCK - 1) / SM_BLOCK;
#pragma omp parallel for collapse(2) if (N * C * S > PS_OMP_MIN) schedule(static)
  for (int64_t i = 0; i < N; i++)
    for (int64_t b = 0; b < nblk; b++) {
      const int64_t s0 = b * SM_BLOCK, len = S - s0 < SM_BLOCK ? S - s0 : SM_BLOCK;
      const int64_t base = i * C * S + s0;
      float dot[SM_BLOCK];
      for (int64_t s = 0; s < len; s++) dot[s] = 0;
      for (int64_t c = 0; c < C; c++) {
        const float *yc = y + base + c * S, *dc = dy + base + c * S;
        for (int64_t s = 0; s < len; s++) dot[s] += yc[s] * dc[s];
      }
      for (int64_t c = 0; c < C; c++) {
        const float *yc = y + base + c * S, *dc = dy + base + c * S;
        float *gc = g + base + c * S;
        if (!acc)
          for (int64_t s = 0; s < len; s++) gc[s] = yc[s] * (dc[s] - dot[s]);
        else
          for (int64_t s = 0; s < len; s++) gc[s] += yc[s] * (dc[s] - dot[s]);
      }
    }
  return PS_OK;
}

/* ---- optimisers: one pass over the arena ---- */
static ps_status c_optim_step(ps_backend *be, const ps_opt_params *p, float *restrict w, const float *restrict g,
                              float *restrict m, float *restrict v, int64_t n) {
  UNUSED(be);
  const float lr = p->lr, wd = p->weight_decay;
  if (p->kind == PS_OPT_SGD) {
    const float mu = p->momentum;
    if (!m) {
#pragma omp parallel for simd if (n > PS_OMP_MIN) schedule(static)
      for (int64_t i = 0; i < n; i++) w[i] -= lr * (g[i] + wd * w[i]);
      return PS_OK;
    }
    /* PyTorch initialises the buffer with the first gradient (no dampening) */
    const bool first = p->step <= 1, nest = p->nesterov;
#pragma omp parallel for simd if (n > PS_OMP_MIN) schedule(static)
    for (int64_t i = 0; i < n; i++) {
      const float d = g[i] + wd * w[i];
      const float b = first ? d : mu * m[i] + d;
      m[i] = b;
      w[i] -= lr * (nest ? d + mu * b : b);
    }
    return PS_OK;
  }
  const float b1 = p->beta1, b2 = p->beta2;
  const double bc1 = 1.0 - pow(p->beta1, (double)p->step), bc2 = 1.0 - pow(p->beta2, (double)p->step);
  const float step_size = (float)(lr / bc1), bc2_sqrt = (float)sqrt(bc2), eps = p->eps;
  const bool decoupled = p->kind == PS_OPT_ADAMW;
  const float l2 = decoupled ? 0.0f : wd, shrink = decoupled ? 1.0f - lr * wd : 1.0f;
#pragma omp parallel for simd if (n > PS_OMP_MIN) schedule(static)
  for (int64_t i = 0; i < n; i++) {
    const float x = w[i] * shrink, d = g[i] + l2 * w[i];
    const float mi = b1 * m[i] + (1.0f - b1) * d, vi = b2 * v[i] + (1.0f - b2) * d * d;
    m[i] = mi;
    v[i] = vi;
    w[i] = x - step_size * mi / (sqrtf(vi) / bc2_sqrt + eps);
  }
  return PS_OK;
}
static ps_status c_grad_norm(ps_backend *be, const float *g, int64_t n, float *norm) {
  UNUSED(be);
  *norm = (float)sqrt(chunked_sum(g, g, n));
  return PS_OK;
}
static ps_status c_all_finite(ps_backend *be, const float *x, int64_t n, bool *finite) {
  UNUSED(be);
  float acc = 0;
#pragma omp parallel for simd reduction(+ : acc) if (n > PS_OMP_MIN) schedule(static)
  for (int64_t i = 0; i < n; i++) acc += x[i] * 0.0f; /* NaN and Inf propagate to NaN */
  *finite = acc == 0.0f;
  return PS_OK;
}

/* the reference's ops and limits, plus strided samples (x_nstride) for the
 * transposed convs' fused kernels */
static bool c_supports(ps_backend *be, ps_op_kind k, const void *params) {
  if ((k == PS_OPK_CONV || k == PS_OPK_CONV_TRANSPOSED) && params && ((const ps_conv_geom *)params)->x_nstride)
    return k == PS_OPK_CONV_TRANSPOSED && ps_conv_strided_ok(params);
  return ps_ref_supports(be, k, params);
}

static ps_backend cpu_be;
static void cpu_init(void) {
  ps_backend *b = &cpu_be;
  b->name = "cpu";
  ps_host_fill_memory(b);
  b->supports = c_supports;
  b->conv_forward = c_conv_forward;
  b->conv_backward_data = c_conv_backward_data;
  b->conv_backward_weight = c_conv_backward_weight;
  b->bias_add = c_bias_add;
  b->bias_grad = c_bias_grad;
  b->convt_backward = c_convt_backward;
  b->sgemm = c_sgemm;
  b->add = c_add;
  b->mul = c_mul;
  b->axpby = c_axpby;
  b->fill = c_fill;
  b->weighted_sum = c_weighted_sum;
  b->dot = c_dot;
  b->act_forward = c_act_forward;
  b->act_backward = c_act_backward;
  b->norm_stats = ps_cpu_norm_stats;
  b->norm_apply = ps_cpu_norm_apply;
  b->norm_forward = ps_cpu_norm_forward;
  b->norm_backward = ps_cpu_norm_backward;
  b->bn_running_update = ps_ref_bn_running_update;
  b->bn_eval_stats = ps_ref_bn_eval_stats;
  b->maxpool_forward = ps_cpu_maxpool_forward;
  b->maxpool_backward = ps_cpu_maxpool_backward;
  b->avgpool_forward = ps_cpu_avgpool_forward;
  b->avgpool_backward = ps_cpu_avgpool_backward;
  b->upsample_forward = ps_cpu_upsample_forward;
  b->upsample_backward = ps_cpu_upsample_backward;
  b->copy_channels = c_copy_channels;
  b->softmax_forward = c_softmax_forward;
  b->softmax_backward = c_softmax_backward;
  b->loss_workspace_bytes = ps_cpu_loss_workspace_bytes;
  b->loss_forward = ps_cpu_loss_forward;
  b->loss_backward = ps_cpu_loss_backward;
  b->optim_step = c_optim_step;
  b->grad_norm = c_grad_norm;
  b->all_finite = c_all_finite;
}

static pthread_once_t cpu_once = PTHREAD_ONCE_INIT;
ps_backend *ps_backend_cpu(void) {
  pthread_once(&cpu_once, cpu_init);
  return &cpu_be;
}
