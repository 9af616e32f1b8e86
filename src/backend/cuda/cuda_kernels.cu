/* CUDA kernels for everything but convolution, GEMM, losses and optimisers:
 * elementwise ops and activations, instance/batch norm (two-level reductions:
 * per-block partial sums in double, combined in a fixed order, so results do
 * not depend on scheduling), max/avg pooling, nearest/trilinear upsampling,
 * channel-block copies (concat/slice), softmax over channels, dot products.
 * Semantics follow the CPU reference kernels (src/nn/op_*.c) exactly. */
#include "cuda_common.h"
#include <math.h>

/* ---------------------------------------------------------------- helpers */

#define LAUNCH(kernel, n, ...)                                                      \
  do {                                                                              \
    kernel<<<ps_cuda_grid(n), PS_CUDA_THREADS, 0, c->stream>>>(__VA_ARGS__);         \
    return ps_cuda_check_launch(#kernel);                                           \
  } while (0)

/* ---------------------------------------------------------------- elementwise */
__global__ void k_add(const float *a, const float *b, float *y, int64_t n) {
  PS_CUDA_LOOP(i, n) y[i] = a[i] + b[i];
}
__global__ void k_mul(const float *a, const float *b, float *y, int64_t n, bool acc) {
  PS_CUDA_LOOP(i, n) y[i] = acc ? y[i] + a[i] * b[i] : a[i] * b[i];
}
__global__ void k_axpby(float s, const float *x, float *y, int64_t n, bool acc) {
  PS_CUDA_LOOP(i, n) y[i] = acc ? y[i] + s * x[i] : s * x[i];
}
__global__ void k_fill(float v, float *y, int64_t n) {
  PS_CUDA_LOOP(i, n) y[i] = v;
}

extern "C" ps_status ps_cuda_add(ps_cuda *c, const float *a, const float *b, float *y, int64_t n) {
  if (n <= 0) return PS_OK;
  LAUNCH(k_add, n, a, b, y, n);
}
extern "C" ps_status ps_cuda_mul(ps_cuda *c, const float *a, const float *b, float *y, int64_t n, bool acc) {
  if (n <= 0) return PS_OK;
  LAUNCH(k_mul, n, a, b, y, n, acc);
}
extern "C" ps_status ps_cuda_axpby(ps_cuda *c, float s, const float *x, float *y, int64_t n, bool acc) {
  if (n <= 0) return PS_OK;
  LAUNCH(k_axpby, n, s, x, y, n, acc);
}
extern "C" ps_status ps_cuda_fill(ps_cuda *c, float v, float *y, int64_t n) {
  if (n <= 0) return PS_OK;
  LAUNCH(k_fill, n, v, y, n);
}

/* up to 8 inputs per launch; more are folded in by further launches that accumulate */
#define WS_MAX 8
struct ws_args {
  const float *x[WS_MAX];
};
__global__ void k_wsum(ws_args a, int n, const float *w, int w0, float *y, int64_t len, bool acc) {
  PS_CUDA_LOOP(i, len) {
    float s = acc ? y[i] : 0.0f;
    for (int k = 0; k < n; k++) s += w[w0 + k] * a.x[k][i];
    y[i] = s;
  }
}
extern "C" ps_status ps_cuda_weighted_sum(ps_cuda *c, int n, const float *const *xs, const float *wd, float *y,
                                          int64_t len) {
  if (len <= 0) return PS_OK;
  for (int k0 = 0; k0 < n; k0 += WS_MAX) {
    ws_args a;
    const int m = n - k0 < WS_MAX ? n - k0 : WS_MAX;
    for (int k = 0; k < m; k++) a.x[k] = xs[k0 + k];
    k_wsum<<<ps_cuda_grid(len), PS_CUDA_THREADS, 0, c->stream>>>(a, m, wd, k0, y, len, k0 > 0);
    ps_status st = ps_cuda_check_launch("weighted sum");
    if (st) return st;
  }
  return PS_OK;
}

/* dot: a fixed grid (depends on len only) of partial sums, then one block in order */
#define DOT_BLOCKS 512
__global__ void k_dot_part(const float *a, const float *b, int64_t n, double *part) {
  double s = 0;
  PS_CUDA_LOOP(i, n) s += (double)a[i] * b[i];
  s = ps_block_sum(s);
  if (threadIdx.x == 0) part[blockIdx.x] = s;
}
__global__ void k_dot_final(const double *part, int nb, float *out, bool acc) {
  double s = 0;
  for (int i = threadIdx.x; i < nb; i += blockDim.x) s += part[i];
  s = ps_block_sum(s);
  if (threadIdx.x == 0) out[0] = (acc ? out[0] : 0.0f) + (float)s;
}
extern "C" ps_status ps_cuda_dot(ps_cuda *c, const float *a, const float *b, int64_t len, float *out, bool acc) {
  unsigned nb = ps_cuda_grid(len);
  if (nb > DOT_BLOCKS) nb = DOT_BLOCKS;
  k_dot_part<<<nb, PS_CUDA_THREADS, 0, c->stream>>>(a, b, len, c->red);
  k_dot_final<<<1, PS_CUDA_THREADS, 0, c->stream>>>(c->red, (int)nb, out, acc);
  return ps_cuda_check_launch("dot");
}

/* ---------------------------------------------------------------- activations */
__global__ void k_act_fwd(ps_cuda_act k, float slope, const float *x, float *y, int64_t n) {
  PS_CUDA_LOOP(i, n) {
    const float v = x[i];
    float r;
    switch (k) {
    case PS_CUDA_RELU: r = v > 0 ? v : 0.0f; break;
    case PS_CUDA_LEAKY: r = v > 0 ? v : slope * v; break;
    case PS_CUDA_SIGMOID:
      if (v >= 0) r = 1.0f / (1.0f + expf(-v));
      else { const float e = expf(v); r = e / (1.0f + e); }
      break;
    default: r = tanhf(v); break;
    }
    y[i] = r;
  }
}
__global__ void k_act_bwd(ps_cuda_act k, float slope, const float *x, const float *y, const float *dy, float *dx,
                          int64_t n, bool acc) {
  PS_CUDA_LOOP(i, n) {
    float g;
    switch (k) {
    case PS_CUDA_RELU: g = y[i] > 0 ? dy[i] : 0.0f; break;
    case PS_CUDA_LEAKY: g = x[i] > 0 ? dy[i] : slope * dy[i]; break;
    case PS_CUDA_SIGMOID: g = dy[i] * y[i] * (1.0f - y[i]); break;
    default: g = dy[i] * (1.0f - y[i] * y[i]); break;
    }
    dx[i] = acc ? dx[i] + g : g;
  }
}
extern "C" ps_status ps_cuda_act_forward(ps_cuda *c, ps_cuda_act k, float slope, const float *x, float *y, int64_t n) {
  if (n <= 0) return PS_OK;
  LAUNCH(k_act_fwd, n, k, slope, x, y, n);
}
extern "C" ps_status ps_cuda_act_backward(ps_cuda *c, ps_cuda_act k, float slope, const float *x, const float *y,
                                          const float *dy, float *dx, int64_t n, bool acc) {
  if (n <= 0) return PS_OK;
  LAUNCH(k_act_bwd, n, k, slope, x, y, dy, dx, n, acc);
}

/* ---------------------------------------------------------------- normalisation
 * Group g: IN g = n*C + ch, one segment at g*S; BN g = ch, N segments at
 * ch*S + n*C*S. Pass 1 grid: (blocks per segment * segments, groups); block b of
 * segment sg sums its chunk into part[(g * nparts + sg * bps + b) * 2 + {0,1}]. */
#define NORM_CHUNK 16384
struct norm_layout {
  int64_t G, nseg, seg_stride, S, C, bps, nparts;
  bool per_sample;
};
static norm_layout layout_of(const ps_cuda_norm_geom *g) {
  norm_layout L;
  L.per_sample = g->per_sample;
  L.S = g->S;
  L.C = g->C;
  L.G = g->per_sample ? g->N * g->C : g->C;
  L.nseg = g->per_sample ? 1 : g->N;
  L.seg_stride = g->C * g->S;
  L.bps = (g->S + NORM_CHUNK - 1) / NORM_CHUNK;
  L.nparts = L.bps * L.nseg;
  return L;
}
__device__ __forceinline__ int64_t seg_base(const norm_layout &L, int64_t g, int64_t sg) {
  return g * L.S + sg * L.seg_stride;
}
__device__ __forceinline__ int64_t chan_of(const norm_layout &L, int64_t g) { return L.per_sample ? g % L.C : g; }

/* shifted sums: s1 = sum(x - shift), s2 = sum((x - shift)^2), shift = first value of the group */
__global__ void k_norm_stats_part(norm_layout L, const float *x, double *part) {
  const int64_t g = blockIdx.y, sg = blockIdx.x / L.bps, b = blockIdx.x % L.bps;
  const float shift = x[g * L.S];
  const float *p = x + seg_base(L, g, sg);
  const int64_t lo = b * NORM_CHUNK, hi = lo + NORM_CHUNK < L.S ? lo + NORM_CHUNK : L.S;
  double s1 = 0, s2 = 0;
  for (int64_t i = lo + threadIdx.x; i < hi; i += blockDim.x) {
    const double d = (double)(p[i] - shift);
    s1 += d;
    s2 += d * d;
  }
  s1 = ps_block_sum(s1);
  s2 = ps_block_sum(s2);
  if (threadIdx.x == 0) {
    part[(g * L.nparts + blockIdx.x) * 2] = s1;
    part[(g * L.nparts + blockIdx.x) * 2 + 1] = s2;
  }
}
__global__ void k_norm_stats_final(norm_layout L, const float *x, const double *part, float eps, float *mean,
                                   float *rstd, float *var_out) {
  const int64_t g = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (g >= L.G) return;
  double s1 = 0, s2 = 0;
  for (int64_t k = 0; k < L.nparts; k++) {
    s1 += part[(g * L.nparts + k) * 2];
    s2 += part[(g * L.nparts + k) * 2 + 1];
  }
  const double cnt = (double)(L.nseg * L.S), md = s1 / cnt;
  double var = s2 / cnt - md * md;
  if (var < 0) var = 0;
  mean[g] = (float)((double)x[g * L.S] + md);
  rstd[g] = (float)(1.0 / sqrt(var + (double)eps));
  if (var_out) var_out[g] = (float)var;
}

extern "C" ps_status ps_cuda_norm_stats(ps_cuda *c, const ps_cuda_norm_geom *g, const float *x, float eps, float *mean,
                                        float *rstd, float *var_out) {
  const norm_layout L = layout_of(g);
  if (L.G < 1 || L.S < 1) return ps_error(PS_ERR_INVALID, "cuda norm: empty input");
  if (L.G > 65535) return ps_error(PS_ERR_UNSUPPORTED, "cuda norm: more than 65535 groups");
  double *part = (double *)ps_cuda_alloc(c, (size_t)(L.G * L.nparts * 2) * sizeof(double));
  if (!part) return ps_error_prefix(PS_ERR_NOMEM, "cuda norm: ");
  dim3 grid((unsigned)L.nparts, (unsigned)L.G);
  k_norm_stats_part<<<grid, PS_CUDA_THREADS, 0, c->stream>>>(L, x, part);
  k_norm_stats_final<<<(unsigned)((L.G + 127) / 128), 128, 0, c->stream>>>(L, x, part, eps, mean, rstd, var_out);
  ps_cuda_release(c, part);
  return ps_cuda_check_launch("norm stats");
}

__global__ void k_norm_apply(norm_layout L, const float *x, const float *mean, const float *rstd, const float *gamma,
                             const float *beta, float *y, int64_t n) {
  PS_CUDA_LOOP(i, n) {
    const int64_t plane = i / L.S; /* n*C + ch */
    const int64_t ch = plane % L.C, g = L.per_sample ? plane : ch;
    const float sc = rstd[g] * (gamma ? gamma[ch] : 1.0f);
    const float sh = (beta ? beta[ch] : 0.0f) - mean[g] * sc;
    y[i] = x[i] * sc + sh;
  }
}
extern "C" ps_status ps_cuda_norm_apply(ps_cuda *c, const ps_cuda_norm_geom *g, const float *x, const float *mean,
                                        const float *rstd, const float *gamma, const float *beta, float *y) {
  const norm_layout L = layout_of(g);
  const int64_t n = g->N * g->C * g->S;
  if (n <= 0) return PS_OK;
  LAUNCH(k_norm_apply, n, L, x, mean, rstd, gamma, beta, y, n);
}

/* backward pass 1: per chunk sum(dy) and sum(dy * (x - mean)) * rstd */
__global__ void k_norm_bwd_part(norm_layout L, const float *x, const float *dy, const float *mean, const float *rstd,
                                double *part) {
  const int64_t g = blockIdx.y, sg = blockIdx.x / L.bps, b = blockIdx.x % L.bps;
  const int64_t base = seg_base(L, g, sg);
  const float m = mean[g];
  const int64_t lo = b * NORM_CHUNK, hi = lo + NORM_CHUNK < L.S ? lo + NORM_CHUNK : L.S;
  double a = 0, d = 0;
  for (int64_t i = lo + threadIdx.x; i < hi; i += blockDim.x) {
    const float v = dy[base + i];
    a += v;
    d += (double)(v * (x[base + i] - m));
  }
  a = ps_block_sum(a);
  d = ps_block_sum(d);
  if (threadIdx.x == 0) {
    part[(g * L.nparts + blockIdx.x) * 2] = a;
    part[(g * L.nparts + blockIdx.x) * 2 + 1] = d * (double)rstd[g];
  }
}
/* per group: coef[g] = {k1 = gamma*rstd, md, mdx}; sums[g] = {sum dy, sum dy*xhat} */
__global__ void k_norm_bwd_group(norm_layout L, const double *part, const float *rstd, const float *gamma,
                                 bool batch_stats, float *coef, double *sums) {
  const int64_t g = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (g >= L.G) return;
  double a = 0, d = 0;
  for (int64_t k = 0; k < L.nparts; k++) {
    a += part[(g * L.nparts + k) * 2];
    d += part[(g * L.nparts + k) * 2 + 1];
  }
  sums[2 * g] = a;
  sums[2 * g + 1] = d;
  const double cnt = (double)(L.nseg * L.S);
  coef[3 * g] = (gamma ? gamma[chan_of(L, g)] : 1.0f) * rstd[g];
  coef[3 * g + 1] = batch_stats ? (float)(a / cnt) : 0.0f;
  coef[3 * g + 2] = batch_stats ? (float)(d / cnt) : 0.0f;
}
/* per channel, groups of that channel in a fixed order */
__global__ void k_norm_bwd_params(norm_layout L, const double *sums, float *dgamma, bool ga, float *dbeta, bool ba) {
  const int64_t ch = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (ch >= L.C) return;
  double a = 0, b = 0;
  for (int64_t g = ch; g < L.G; g += L.C) {
    a += sums[2 * g];
    b += sums[2 * g + 1];
  }
  if (dbeta) dbeta[ch] = (ba ? dbeta[ch] : 0.0f) + (float)a;
  if (dgamma) dgamma[ch] = (ga ? dgamma[ch] : 0.0f) + (float)b;
}
__global__ void k_norm_bwd_dx(norm_layout L, const float *x, const float *dy, const float *mean, const float *rstd,
                              const float *coef, float *dx, int64_t n, bool acc) {
  PS_CUDA_LOOP(i, n) {
    const int64_t plane = i / L.S;
    const int64_t g = L.per_sample ? plane : plane % L.C;
    const float m = mean[g], r = rstd[g];
    const float v = coef[3 * g] * (dy[i] - coef[3 * g + 1] - (x[i] - m) * r * coef[3 * g + 2]);
    dx[i] = acc ? dx[i] + v : v;
  }
}

extern "C" ps_status ps_cuda_norm_backward(ps_cuda *c, const ps_cuda_norm_geom *g, const float *x, const float *mean,
                                           const float *rstd, const float *gamma, const float *dy, bool batch_stats,
                                           float *dx, bool dx_acc, float *dgamma, bool dgamma_acc, float *dbeta,
                                           bool dbeta_acc) {
  const norm_layout L = layout_of(g);
  if (L.G < 1 || L.S < 1) return ps_error(PS_ERR_INVALID, "cuda norm: empty input");
  if (L.G > 65535) return ps_error(PS_ERR_UNSUPPORTED, "cuda norm: more than 65535 groups");
  const size_t pb = (size_t)(L.G * L.nparts * 2) * sizeof(double), sb = (size_t)L.G * 2 * sizeof(double);
  char *scr = (char *)ps_cuda_alloc(c, pb + sb + (size_t)L.G * 3 * sizeof(float));
  if (!scr) return ps_error_prefix(PS_ERR_NOMEM, "cuda norm backward: ");
  double *part = (double *)scr, *sums = (double *)(scr + pb);
  float *coef = (float *)(scr + pb + sb);
  dim3 grid((unsigned)L.nparts, (unsigned)L.G);
  k_norm_bwd_part<<<grid, PS_CUDA_THREADS, 0, c->stream>>>(L, x, dy, mean, rstd, part);
  k_norm_bwd_group<<<(unsigned)((L.G + 127) / 128), 128, 0, c->stream>>>(L, part, rstd, gamma, batch_stats, coef, sums);
  if (dgamma || dbeta)
    k_norm_bwd_params<<<(unsigned)((L.C + 127) / 128), 128, 0, c->stream>>>(L, sums, dgamma, dgamma_acc, dbeta,
                                                                            dbeta_acc);
  const int64_t n = g->N * g->C * g->S;
  if (dx) k_norm_bwd_dx<<<ps_cuda_grid(n), PS_CUDA_THREADS, 0, c->stream>>>(L, x, dy, mean, rstd, coef, dx, n, dx_acc);
  ps_cuda_release(c, scr);
  return ps_cuda_check_launch("norm backward");
}

__global__ void k_bn_running(int64_t C, double cnt, float mom, const float *mean, const float *var, float *rm, float *rv) {
  PS_CUDA_LOOP(ch, C) {
    if (rm) rm[ch] = (1 - mom) * rm[ch] + mom * mean[ch];
    /* PyTorch: running stats take the unbiased variance */
    if (rv) rv[ch] = (1 - mom) * rv[ch] + mom * (float)((double)var[ch] * cnt / (cnt - 1));
  }
}
extern "C" ps_status ps_cuda_bn_running_update(ps_cuda *c, int64_t C, int64_t count, float momentum, const float *mean,
                                               const float *var, float *running_mean, float *running_var) {
  LAUNCH(k_bn_running, C, C, (double)count, momentum, mean, var, running_mean, running_var);
}
__global__ void k_bn_eval(int64_t C, const float *rm, const float *rv, float eps, float *mean, float *rstd) {
  PS_CUDA_LOOP(ch, C) {
    mean[ch] = rm[ch];
    rstd[ch] = (float)(1.0 / sqrt((double)rv[ch] + eps));
  }
}
extern "C" ps_status ps_cuda_bn_eval_stats(ps_cuda *c, int64_t C, const float *running_mean, const float *running_var,
                                           float eps, float *mean, float *rstd) {
  LAUNCH(k_bn_eval, C, C, running_mean, running_var, eps, mean, rstd);
}

/* ---------------------------------------------------------------- pooling */
struct pool_g {
  int64_t planes, in[3], out[3], vin, vout;
  int k[3], s[3], p[3];
  bool cip;
};
static pool_g pool_of(const ps_cuda_pool_geom *g) {
  pool_g q;
  q.planes = g->planes;
  for (int d = 0; d < 3; d++) {
    q.in[d] = g->in[d];
    q.out[d] = g->out[d];
    q.k[d] = g->k[d];
    q.s[d] = g->s[d];
    q.p[d] = g->p[d];
  }
  q.vin = q.in[0] * q.in[1] * q.in[2];
  q.vout = q.out[0] * q.out[1] * q.out[2];
  q.cip = g->count_include_pad;
  return q;
}
__device__ __forceinline__ void pwin(const pool_g &q, int d, int64_t o, int64_t *lo, int64_t *hi) {
  int64_t s = o * q.s[d] - q.p[d], e = s + q.k[d];
  *lo = s < 0 ? 0 : s;
  *hi = e > q.in[d] ? q.in[d] : e;
}

__global__ void k_maxpool_fwd(pool_g q, const float *x, float *y, int32_t *am) {
  PS_CUDA_LOOP(i, q.planes * q.vout) {
    const int64_t pl = i / q.vout, o = i % q.vout;
    const int64_t ow = o % q.out[2], oh = (o / q.out[2]) % q.out[1], od = o / (q.out[2] * q.out[1]);
    int64_t d0, d1, h0, h1, w0, w1;
    pwin(q, 0, od, &d0, &d1);
    pwin(q, 1, oh, &h0, &h1);
    pwin(q, 2, ow, &w0, &w1);
    const float *xp = x + pl * q.vin;
    float m = -INFINITY;
    int64_t mi = (d0 * q.in[1] + h0) * q.in[2] + w0;
    bool nan = false;
    for (int64_t d = d0; d < d1 && !nan; d++)
      for (int64_t h = h0; h < h1 && !nan; h++) {
        const int64_t r = (d * q.in[1] + h) * q.in[2];
        for (int64_t w = w0; w < w1; w++) {
          const float v = xp[r + w];
          if (v > m || isnan(v)) {
            m = v;
            mi = r + w;
            if (isnan(v)) { nan = true; break; }
          }
        }
      }
    y[i] = m;
    if (am) am[i] = (int32_t)mi;
  }
}
__global__ void k_maxpool_bwd(pool_g q, const int32_t *am, const float *dy, float *dx) {
  PS_CUDA_LOOP(i, q.planes * q.vout) {
    const int64_t pl = i / q.vout;
    atomicAdd(dx + pl * q.vin + am[i], dy[i]);
  }
}
extern "C" ps_status ps_cuda_maxpool_forward(ps_cuda *c, const ps_cuda_pool_geom *g, const float *x, float *y,
                                             int32_t *argmax) {
  const pool_g q = pool_of(g);
  if (q.planes * q.vout <= 0) return PS_OK;
  LAUNCH(k_maxpool_fwd, q.planes * q.vout, q, x, y, argmax);
}
extern "C" ps_status ps_cuda_maxpool_backward(ps_cuda *c, const ps_cuda_pool_geom *g, const int32_t *argmax,
                                              const float *dy, float *dx, bool acc) {
  const pool_g q = pool_of(g);
  if (!acc) {
    ps_status st = ps_cuda_memset0(c, dx, (size_t)(q.planes * q.vin) * sizeof(float));
    if (st) return st;
  }
  if (q.planes * q.vout <= 0) return PS_OK;
  LAUNCH(k_maxpool_bwd, q.planes * q.vout, q, argmax, dy, dx);
}

__device__ __forceinline__ float avg_div(const pool_g &q, int64_t d0, int64_t d1, int64_t h0, int64_t h1, int64_t w0,
                                         int64_t w1) {
  if (q.cip) return (float)(q.k[0] * q.k[1] * q.k[2]);
  return (float)((d1 - d0) * (h1 - h0) * (w1 - w0));
}
__global__ void k_avgpool_fwd(pool_g q, const float *x, float *y) {
  PS_CUDA_LOOP(i, q.planes * q.vout) {
    const int64_t pl = i / q.vout, o = i % q.vout;
    const int64_t ow = o % q.out[2], oh = (o / q.out[2]) % q.out[1], od = o / (q.out[2] * q.out[1]);
    int64_t d0, d1, h0, h1, w0, w1;
    pwin(q, 0, od, &d0, &d1);
    pwin(q, 1, oh, &h0, &h1);
    pwin(q, 2, ow, &w0, &w1);
    const float *xp = x + pl * q.vin;
    float s = 0;
    for (int64_t d = d0; d < d1; d++)
      for (int64_t h = h0; h < h1; h++)
        for (int64_t w = w0; w < w1; w++) s += xp[(d * q.in[1] + h) * q.in[2] + w];
    y[i] = s / avg_div(q, d0, d1, h0, h1, w0, w1);
  }
}
/* outputs whose window covers input index i along dim d: [lo, hi) */
__device__ __forceinline__ void covering(const pool_g &q, int d, int64_t i, int64_t *lo, int64_t *hi) {
  /* o*s - p <= i  and  i < o*s - p + k   =>   (i + p - k) / s < o <= (i + p) / s */
  const int64_t a = i + q.p[d] - q.k[d] + 1; /* o*s >= a */
  int64_t l = a <= 0 ? 0 : (a + q.s[d] - 1) / q.s[d];
  int64_t h = (i + q.p[d]) / q.s[d] + 1;
  if (h > q.out[d]) h = q.out[d];
  *lo = l;
  *hi = h;
}
__global__ void k_avgpool_bwd(pool_g q, const float *dy, float *dx, bool acc) {
  PS_CUDA_LOOP(i, q.planes * q.vin) {
    const int64_t pl = i / q.vin, v = i % q.vin;
    const int64_t iw = v % q.in[2], ih = (v / q.in[2]) % q.in[1], id = v / (q.in[2] * q.in[1]);
    int64_t od0, od1, oh0, oh1, ow0, ow1;
    covering(q, 0, id, &od0, &od1);
    covering(q, 1, ih, &oh0, &oh1);
    covering(q, 2, iw, &ow0, &ow1);
    const float *dp = dy + pl * q.vout;
    float s = 0;
    for (int64_t od = od0; od < od1; od++) {
      int64_t d0, d1;
      pwin(q, 0, od, &d0, &d1);
      for (int64_t oh = oh0; oh < oh1; oh++) {
        int64_t h0, h1;
        pwin(q, 1, oh, &h0, &h1);
        for (int64_t ow = ow0; ow < ow1; ow++) {
          int64_t w0, w1;
          pwin(q, 2, ow, &w0, &w1);
          s += dp[(od * q.out[1] + oh) * q.out[2] + ow] / avg_div(q, d0, d1, h0, h1, w0, w1);
        }
      }
    }
    dx[i] = acc ? dx[i] + s : s;
  }
}
extern "C" ps_status ps_cuda_avgpool_forward(ps_cuda *c, const ps_cuda_pool_geom *g, const float *x, float *y) {
  const pool_g q = pool_of(g);
  if (q.planes * q.vout <= 0) return PS_OK;
  LAUNCH(k_avgpool_fwd, q.planes * q.vout, q, x, y);
}
extern "C" ps_status ps_cuda_avgpool_backward(ps_cuda *c, const ps_cuda_pool_geom *g, const float *dy, float *dx,
                                              bool acc) {
  const pool_g q = pool_of(g);
  if (q.planes * q.vin <= 0) return PS_OK;
  LAUNCH(k_avgpool_bwd, q.planes * q.vin, q, dy, dx, acc);
}

/* ---------------------------------------------------------------- upsampling */
struct up_g {
  int64_t planes, in[3], out[3], vin, vout;
  float scale[3];
  bool tri;
};
static up_g up_of(bool tri, int64_t planes, const int64_t in[3], const int64_t out[3]) {
  up_g u;
  u.tri = tri;
  u.planes = planes;
  for (int d = 0; d < 3; d++) {
    u.in[d] = in[d];
    u.out[d] = out[d];
    u.scale[d] = (float)in[d] / (float)out[d];
  }
  u.vin = in[0] * in[1] * in[2];
  u.vout = out[0] * out[1] * out[2];
  return u;
}
/* the CPU's index rules in round-to-nearest float steps (no contraction into FMA) */
__device__ __forceinline__ void up_idx(const up_g &u, int d, int64_t o, int64_t *i0, int64_t *i1, float *l1) {
  const int64_t in = u.in[d];
  if (!u.tri) {
    int64_t s = in == u.out[d] ? o : (int64_t)floorf(__fmul_rn((float)o, u.scale[d]));
    if (s > in - 1) s = in - 1;
    *i0 = *i1 = s;
    *l1 = 0.0f;
    return;
  }
  float src = __fadd_rn(__fmul_rn(u.scale[d], __fadd_rn((float)o, 0.5f)), -0.5f);
  if (src < 0) src = 0;
  int64_t s = (int64_t)src;
  if (s > in - 1) s = in - 1;
  *i0 = s;
  *i1 = s + (s < in - 1 ? 1 : 0);
  *l1 = __fadd_rn(src, -(float)s);
}
__global__ void k_up_fwd(up_g u, const float *x, float *y) {
  PS_CUDA_LOOP(i, u.planes * u.vout) {
    const int64_t pl = i / u.vout, o = i % u.vout;
    const int64_t ow = o % u.out[2], oh = (o / u.out[2]) % u.out[1], od = o / (u.out[2] * u.out[1]);
    int64_t a0, a1, b0, b1, c0, c1;
    float la, lb, lc;
    up_idx(u, 0, od, &a0, &a1, &la);
    up_idx(u, 1, oh, &b0, &b1, &lb);
    up_idx(u, 2, ow, &c0, &c1, &lc);
    const float *xp = x + pl * u.vin;
    const int64_t H = u.in[1], W = u.in[2];
    if (!u.tri) {
      y[i] = xp[(a0 * H + b0) * W + c0];
      continue;
    }
    /* same association as the CPU's three 1-D passes: W, then H, then D */
#define X(a, b, cc) xp[((a) * H + (b)) * W + (cc)]
    const float r00 = (1 - lc) * X(a0, b0, c0) + lc * X(a0, b0, c1), r01 = (1 - lc) * X(a0, b1, c0) + lc * X(a0, b1, c1);
    const float r10 = (1 - lc) * X(a1, b0, c0) + lc * X(a1, b0, c1), r11 = (1 - lc) * X(a1, b1, c0) + lc * X(a1, b1, c1);
#undef X
    const float p0 = (1 - lb) * r00 + lb * r01, p1 = (1 - lb) * r10 + lb * r11;
    y[i] = (1 - la) * p0 + la * p1;
  }
}
__global__ void k_up_bwd(up_g u, const float *dy, float *dx) {
  PS_CUDA_LOOP(i, u.planes * u.vout) {
    const int64_t pl = i / u.vout, o = i % u.vout;
    const int64_t ow = o % u.out[2], oh = (o / u.out[2]) % u.out[1], od = o / (u.out[2] * u.out[1]);
    int64_t a0, a1, b0, b1, c0, c1;
    float la, lb, lc;
    up_idx(u, 0, od, &a0, &a1, &la);
    up_idx(u, 1, oh, &b0, &b1, &lb);
    up_idx(u, 2, ow, &c0, &c1, &lc);
    float *gp = dx + pl * u.vin;
    const int64_t H = u.in[1], W = u.in[2];
    const float g = dy[i];
    if (!u.tri) {
      atomicAdd(gp + (a0 * H + b0) * W + c0, g);
      continue;
    }
    const int64_t A[2] = {a0, a1}, B[2] = {b0, b1}, C[2] = {c0, c1};
    const float wa[2] = {1 - la, la}, wb[2] = {1 - lb, lb}, wc[2] = {1 - lc, lc};
    for (int p = 0; p < 2; p++)
      for (int q = 0; q < 2; q++)
        for (int r = 0; r < 2; r++) {
          const float w = wa[p] * wb[q] * wc[r];
          if (w != 0.0f) atomicAdd(gp + (A[p] * H + B[q]) * W + C[r], w * g);
        }
  }
}
extern "C" ps_status ps_cuda_upsample_forward(ps_cuda *c, bool trilinear, int64_t planes, const int64_t in[3],
                                              const int64_t out[3], const float *x, float *y) {
  const up_g u = up_of(trilinear, planes, in, out);
  if (u.planes * u.vout <= 0) return PS_OK;
  LAUNCH(k_up_fwd, u.planes * u.vout, u, x, y);
}
extern "C" ps_status ps_cuda_upsample_backward(ps_cuda *c, bool trilinear, int64_t planes, const int64_t in[3],
                                               const int64_t out[3], const float *dy, float *dx, bool acc) {
  const up_g u = up_of(trilinear, planes, in, out);
  if (!acc) {
    ps_status st = ps_cuda_memset0(c, dx, (size_t)(u.planes * u.vin) * sizeof(float));
    if (st) return st;
  }
  if (u.planes * u.vout <= 0) return PS_OK;
  LAUNCH(k_up_bwd, u.planes * u.vout, u, dy, dx);
}

/* ---------------------------------------------------------------- channel blocks */
__global__ void k_copy_acc(int64_t row, const float *src, int64_t sp, float *dst, int64_t dp) {
  const int64_t n = blockIdx.y;
  for (int64_t j = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; j < row; j += (int64_t)blockDim.x * gridDim.x)
    dst[n * dp + j] += src[n * sp + j];
}
extern "C" ps_status ps_cuda_copy_channels(ps_cuda *c, int64_t N, int64_t inner, const float *src, int64_t sc,
                                           int64_t soff, float *dst, int64_t dc, int64_t doff, int64_t len, bool acc) {
  const int64_t row = len * inner;
  if (N <= 0 || row <= 0) return PS_OK;
  const float *s = src + soff * inner;
  float *d = dst + doff * inner;
  if (!acc) {
    PS_CUDA_TRY(cudaMemcpy2DAsync(d, (size_t)(dc * inner) * 4, s, (size_t)(sc * inner) * 4, (size_t)row * 4, (size_t)N,
                                  cudaMemcpyDeviceToDevice, c->stream),
                "channel copy");
    return PS_OK;
  }
  if (N > 65535) return ps_error(PS_ERR_UNSUPPORTED, "cuda copy: batch over 65535");
  unsigned gx = ps_cuda_grid(row);
  if (gx > 4096) gx = 4096;
  k_copy_acc<<<dim3(gx, (unsigned)N), PS_CUDA_THREADS, 0, c->stream>>>(row, s, sc * inner, d, dc * inner);
  return ps_cuda_check_launch("channel copy");
}

/* ---------------------------------------------------------------- softmax over channels */
__global__ void k_softmax_fwd(int64_t N, int64_t C, int64_t S, const float *x, float *y) {
  PS_CUDA_LOOP(i, N * S) {
    const int64_t n = i / S, s = i % S;
    const float *xp = x + n * C * S + s;
    float *yp = y + n * C * S + s;
    float m = -INFINITY;
    for (int64_t k = 0; k < C; k++) m = xp[k * S] > m ? xp[k * S] : m;
    float sum = 0;
    for (int64_t k = 0; k < C; k++) {
      const float e = expf(xp[k * S] - m);
      yp[k * S] = e;
      sum += e;
    }
    const float inv = 1.0f / sum;
    for (int64_t k = 0; k < C; k++) yp[k * S] *= inv;
  }
}
__global__ void k_softmax_bwd(int64_t N, int64_t C, int64_t S, const float *y, const float *dy, float *dx, bool acc) {
  PS_CUDA_LOOP(i, N * S) {
    const int64_t n = i / S, s = i % S, off = n * C * S + s;
    float dot = 0;
    for (int64_t k = 0; k < C; k++) dot += y[off + k * S] * dy[off + k * S];
    for (int64_t k = 0; k < C; k++) {
      const float v = y[off + k * S] * (dy[off + k * S] - dot);
      dx[off + k * S] = acc ? dx[off + k * S] + v : v;
    }
  }
}
extern "C" ps_status ps_cuda_softmax_forward(ps_cuda *c, int64_t N, int64_t C, int64_t S, const float *x, float *y) {
  if (N * S <= 0) return PS_OK;
  LAUNCH(k_softmax_fwd, N * S, N, C, S, x, y);
}
extern "C" ps_status ps_cuda_softmax_backward(ps_cuda *c, int64_t N, int64_t C, int64_t S, const float *y,
                                              const float *dy, float *dx, bool acc) {
  if (N * S <= 0) return PS_OK;
  LAUNCH(k_softmax_bwd, N * S, N, C, S, y, dy, dx, acc);
}
