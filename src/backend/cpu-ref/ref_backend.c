/* The "cpu-ref" backend: every kernel as the plainest loop that is obviously
 * right (single thread, sums in double, direct formulas rather than the fast
 * backend's blocking or separable passes). It is the oracle the other
 * backends are tested against, and the backend finite differences run on. */
#include "backend/cpu_common.h"
#include "backend/cpu/conv_kernels.h"
#include <math.h>
#include <string.h>

#define UNUSED(x) (void)(x)

static inline float put(float *dst, double v, bool acc) { return acc ? (float)(*dst + v) : (float)v; }

/* ---- convolution: conv_ref.c's direct loops ---- */
static ps_status r_conv_forward(ps_backend *be, const ps_conv_geom *g, const float *x, const float *w, const float *b,
                                float *y, bool acc) {
  UNUSED(be);
  return ps_conv_ref_forward(g, x, w, b, y, acc);
}
static ps_status r_conv_backward_data(ps_backend *be, const ps_conv_geom *g, const float *dy, const float *w,
                                      float *dx, bool acc) {
  UNUSED(be);
  return ps_conv_ref_backward_data(g, dy, w, dx, acc);
}
static ps_status r_conv_backward_weight(ps_backend *be, const ps_conv_geom *g, const float *x, const float *dy,
                                        float *dw, bool acc) {
  UNUSED(be);
  return ps_conv_ref_backward_weight(g, x, dy, dw, acc);
}
static ps_status r_bias_add(ps_backend *be, int64_t N, int64_t K, int64_t S, const float *b, float *y) {
  UNUSED(be);
  for (int64_t n = 0; n < N; n++)
    for (int64_t k = 0; k < K; k++)
      for (int64_t s = 0; s < S; s++) y[(n * K + k) * S + s] += b[k];
  return PS_OK;
}
static ps_status r_bias_grad(ps_backend *be, int64_t N, int64_t K, int64_t S, const float *dy, float *db, bool acc) {
  UNUSED(be);
  for (int64_t k = 0; k < K; k++) {
    double s = 0;
    for (int64_t n = 0; n < N; n++)
      for (int64_t i = 0; i < S; i++) s += dy[(n * K + k) * S + i];
    db[k] = put(&db[k], s, acc);
  }
  return PS_OK;
}

/* ---- GEMM: triple loop in double ---- */
static ps_status r_sgemm(ps_backend *be, bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha,
                         const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
  UNUSED(be);
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < n; j++) {
      double s = 0;
      for (int64_t l = 0; l < k; l++) s += (double)(ta ? a[l * lda + i] : a[i * lda + l]) * (tb ? b[j * ldb + l] : b[l * ldb + j]);
      float *cij = &c[i * ldc + j];
      *cij = (float)(alpha * s + (beta == 0.0f ? 0.0 : (double)beta * *cij)); /* beta 0: c may hold garbage */
    }
  return PS_OK;
}

/* ---- elementwise ---- */
static ps_status r_add(ps_backend *be, const float *a, const float *b, float *y, int64_t len) {
  UNUSED(be);
  for (int64_t i = 0; i < len; i++) y[i] = a[i] + b[i];
  return PS_OK;
}
static ps_status r_mul(ps_backend *be, const float *a, const float *b, float *y, int64_t len, bool acc) {
  UNUSED(be);
  for (int64_t i = 0; i < len; i++) y[i] = acc ? y[i] + a[i] * b[i] : a[i] * b[i];
  return PS_OK;
}
static ps_status r_axpby(ps_backend *be, float s, const float *x, float *y, int64_t len, bool acc) {
  UNUSED(be);
  for (int64_t i = 0; i < len; i++) y[i] = acc ? y[i] + s * x[i] : s * x[i];
  return PS_OK;
}
static ps_status r_fill(ps_backend *be, float v, float *y, int64_t len) {
  UNUSED(be);
  for (int64_t i = 0; i < len; i++) y[i] = v;
  return PS_OK;
}
static ps_status r_weighted_sum(ps_backend *be, int n, const float *const *xs, const float *w, float *y, int64_t len) {
  UNUSED(be);
  for (int64_t i = 0; i < len; i++) {
    double s = 0;
    for (int k = 0; k < n; k++) s += (double)w[k] * xs[k][i];
    y[i] = (float)s;
  }
  return PS_OK;
}
static ps_status r_dot(ps_backend *be, const float *a, const float *b, int64_t len, float *out, bool acc) {
  UNUSED(be);
  double s = 0;
  for (int64_t i = 0; i < len; i++) s += (double)a[i] * b[i];
  out[0] = put(out, s, acc);
  return PS_OK;
}

/* ---- activations ---- */
static double act_value(ps_act k, float slope, double v) {
  switch (k) {
  case PS_ACT_RELU: return v > 0 ? v : 0.0;
  case PS_ACT_LEAKY_RELU: return v > 0 ? v : slope * v;
  case PS_ACT_SIGMOID: return 1.0 / (1.0 + exp(-v));
  case PS_ACT_TANH: return tanh(v);
  default: return v;
  }
}
static ps_status r_act_forward(ps_backend *be, ps_act k, float slope, const float *x, float *y, int64_t len) {
  UNUSED(be);
  for (int64_t i = 0; i < len; i++) y[i] = (float)act_value(k, slope, x[i]);
  return PS_OK;
}
static ps_status r_act_backward(ps_backend *be, ps_act k, float slope, const float *x, const float *y, const float *dy,
                                float *dx, int64_t len, bool acc) {
  UNUSED(be);
  for (int64_t i = 0; i < len; i++) {
    double d;
    switch (k) {
    case PS_ACT_RELU: d = y[i] > 0 ? dy[i] : 0.0; break;
    case PS_ACT_LEAKY_RELU: d = x[i] > 0 ? dy[i] : (double)slope * dy[i]; break;
    case PS_ACT_SIGMOID: d = (double)dy[i] * y[i] * (1.0 - y[i]); break;
    case PS_ACT_TANH: d = (double)dy[i] * (1.0 - (double)y[i] * y[i]); break;
    default: d = dy[i];
    }
    dx[i] = put(&dx[i], d, acc);
  }
  return PS_OK;
}

/* ---- normalisation: group g covers planes p of x; index of value s of plane p ---- */
static int64_t norm_groups(const ps_norm_geom *g) { return g->per_sample ? g->N * g->C : g->C; }
static int64_t norm_planes(const ps_norm_geom *g) { return g->per_sample ? 1 : g->N; }
static int64_t norm_at(const ps_norm_geom *g, int64_t grp, int64_t p, int64_t s) {
  return g->per_sample ? grp * g->S + s : (p * g->C + grp) * g->S + s;
}
static int64_t norm_channel(const ps_norm_geom *g, int64_t grp) { return g->per_sample ? grp % g->C : grp; }

static ps_status r_norm_stats(ps_backend *be, const ps_norm_geom *g, const float *x, float eps, float *mean,
                              float *rstd, float *var_out) {
  UNUSED(be);
  const int64_t P = norm_planes(g);
  const double cnt = (double)(P * g->S);
  for (int64_t grp = 0; grp < norm_groups(g); grp++) {
    double s = 0, q = 0;
    for (int64_t p = 0; p < P; p++)
      for (int64_t i = 0; i < g->S; i++) s += x[norm_at(g, grp, p, i)];
    const double m = s / cnt;
    for (int64_t p = 0; p < P; p++)
      for (int64_t i = 0; i < g->S; i++) {
        const double d = x[norm_at(g, grp, p, i)] - m;
        q += d * d;
      }
    mean[grp] = (float)m;
    rstd[grp] = (float)(1.0 / sqrt(q / cnt + eps));
    if (var_out) var_out[grp] = (float)(q / cnt);
  }
  return PS_OK;
}

static ps_status r_norm_apply(ps_backend *be, const ps_norm_geom *g, const float *x, const float *mean,
                              const float *rstd, const float *gamma, const float *beta, float *y) {
  UNUSED(be);
  for (int64_t grp = 0; grp < norm_groups(g); grp++) {
    const int64_t c = norm_channel(g, grp);
    for (int64_t p = 0; p < norm_planes(g); p++)
      for (int64_t i = 0; i < g->S; i++) {
        const int64_t at = norm_at(g, grp, p, i);
        const double v = ((double)x[at] - mean[grp]) * rstd[grp] * (gamma ? gamma[c] : 1.0) + (beta ? beta[c] : 0.0);
        y[at] = (float)act_value(g->act, g->slope, v);
      }
  }
  return PS_OK;
}

static ps_status r_norm_backward(ps_backend *be, const ps_norm_geom *g, const float *x, const float *mean,
                                 const float *rstd, const float *gamma, const float *beta, const float *y,
                                 const float *dy, bool batch_stats, float *dx, bool dx_acc, float *dgamma,
                                 bool dgamma_acc, float *dbeta, bool dbeta_acc) {
  UNUSED(be);
  UNUSED(beta); /* the oracle gates from y, the fast backend from x: the test compares both */
  const int64_t P = norm_planes(g), G = norm_groups(g);
  const double cnt = (double)(P * g->S);
  /* the gradient at the norm's output: dy gated by the activation (read from y) */
  const double slope = g->act == PS_ACT_LEAKY_RELU ? g->slope : 0.0;
#define DZ(at) (g->act == PS_ACT_NONE ? (double)dy[at] : (y[at] > 0 ? (double)dy[at] : slope * dy[at]))
  if (dgamma)
    for (int64_t c = 0; c < g->C; c++) dgamma[c] = dgamma_acc ? dgamma[c] : 0.0f;
  if (dbeta)
    for (int64_t c = 0; c < g->C; c++) dbeta[c] = dbeta_acc ? dbeta[c] : 0.0f;
  for (int64_t grp = 0; grp < G; grp++) {
    const int64_t c = norm_channel(g, grp);
    double sd = 0, sdx = 0;
    for (int64_t p = 0; p < P; p++)
      for (int64_t i = 0; i < g->S; i++) {
        const int64_t at = norm_at(g, grp, p, i);
        const double dz = DZ(at), xh = ((double)x[at] - mean[grp]) * rstd[grp];
        sd += dz;
        sdx += dz * xh;
      }
    if (dgamma) dgamma[c] = (float)(dgamma[c] + sdx);
    if (dbeta) dbeta[c] = (float)(dbeta[c] + sd);
    if (!dx) continue;
    const double k1 = (gamma ? gamma[c] : 1.0) * rstd[grp];
    for (int64_t p = 0; p < P; p++)
      for (int64_t i = 0; i < g->S; i++) {
        const int64_t at = norm_at(g, grp, p, i);
        const double xh = ((double)x[at] - mean[grp]) * rstd[grp];
        const double v = batch_stats ? k1 * (DZ(at) - sd / cnt - xh * sdx / cnt) : k1 * DZ(at);
        dx[at] = put(&dx[at], v, dx_acc);
      }
  }
#undef DZ
  return PS_OK;
}

ps_status ps_ref_bn_running_update(ps_backend *be, int64_t C, int64_t count, float momentum, const float *mean,
                                   const float *var, float *running_mean, float *running_var) {
  UNUSED(be);
  /* PyTorch: the running variance takes the unbiased estimate */
  const double unb = count > 1 ? (double)count / (double)(count - 1) : 1.0;
  for (int64_t c = 0; c < C; c++) {
    running_mean[c] = (1 - momentum) * running_mean[c] + momentum * mean[c];
    running_var[c] = (1 - momentum) * running_var[c] + momentum * (float)(var[c] * unb);
  }
  return PS_OK;
}
ps_status ps_ref_bn_eval_stats(ps_backend *be, int64_t C, const float *running_mean, const float *running_var,
                               float eps, float *mean, float *rstd) {
  UNUSED(be);
  for (int64_t c = 0; c < C; c++) {
    mean[c] = running_mean[c];
    rstd[c] = (float)(1.0 / sqrt((double)running_var[c] + eps));
  }
  return PS_OK;
}

/* ---- pooling: every output voxel scans its clipped window ---- */
typedef struct { int64_t lo[3], hi[3]; } window;
static window pool_window(const ps_pool_geom *g, int64_t od, int64_t oh, int64_t ow) {
  const int64_t o[3] = {od, oh, ow};
  window w;
  for (int d = 0; d < 3; d++) {
    const int64_t s = o[d] * g->s[d] - g->p[d], e = s + g->k[d];
    w.lo[d] = s < 0 ? 0 : s;
    w.hi[d] = e > g->in[d] ? g->in[d] : e;
  }
  return w;
}
static double pool_div(const ps_pool_geom *g, const window *w) {
  if (g->count_include_pad) return (double)g->k[0] * g->k[1] * g->k[2];
  return (double)((w->hi[0] - w->lo[0]) * (w->hi[1] - w->lo[1]) * (w->hi[2] - w->lo[2]));
}
#define POOL_LOOP(BODY)                                                                      \
  const int64_t vin = g->in[0] * g->in[1] * g->in[2], vout = g->out[0] * g->out[1] * g->out[2]; \
  for (int64_t pl = 0; pl < g->planes; pl++)                                                 \
    for (int64_t od = 0; od < g->out[0]; od++)                                               \
      for (int64_t oh = 0; oh < g->out[1]; oh++)                                             \
        for (int64_t ow = 0; ow < g->out[2]; ow++) {                                         \
          const int64_t oi = pl * vout + (od * g->out[1] + oh) * g->out[2] + ow;             \
          const window wn = pool_window(g, od, oh, ow);                                      \
          BODY                                                                               \
        }
#define WINDOW_FOR(IDX)                                             \
  for (int64_t d = wn.lo[0]; d < wn.hi[0]; d++)                     \
    for (int64_t h = wn.lo[1]; h < wn.hi[1]; h++)                   \
      for (int64_t w = wn.lo[2]; w < wn.hi[2]; w++)                 \
        for (int64_t IDX = (d * g->in[1] + h) * g->in[2] + w, once_ = 1; once_; once_ = 0)

static ps_status r_maxpool_forward(ps_backend *be, const ps_pool_geom *g, const float *x, float *y, int32_t *argmax) {
  UNUSED(be);
  POOL_LOOP({
    const float *xp = x + pl * vin;
    float m = -INFINITY;
    int64_t mi = (wn.lo[0] * g->in[1] + wn.lo[1]) * g->in[2] + wn.lo[2];
    bool nan = false;
    WINDOW_FOR(i) {
      /* the first NaN wins (PyTorch propagates NaN) */
      if (!nan && (xp[i] > m || isnan(xp[i]))) { m = xp[i]; mi = i; nan = isnan(xp[i]); }
    }
    y[oi] = m;
    if (argmax) argmax[oi] = (int32_t)mi;
  })
  return PS_OK;
}
static ps_status r_maxpool_backward(ps_backend *be, const ps_pool_geom *g, const int32_t *argmax, const float *dy,
                                    float *dx, bool acc) {
  UNUSED(be);
  const int64_t vin = g->in[0] * g->in[1] * g->in[2], vout = g->out[0] * g->out[1] * g->out[2];
  if (!acc) memset(dx, 0, (size_t)(g->planes * vin) * sizeof(float));
  for (int64_t pl = 0; pl < g->planes; pl++)
    for (int64_t o = 0; o < vout; o++) dx[pl * vin + argmax[pl * vout + o]] += dy[pl * vout + o];
  return PS_OK;
}
static ps_status r_avgpool_forward(ps_backend *be, const ps_pool_geom *g, const float *x, float *y) {
  UNUSED(be);
  POOL_LOOP({
    double s = 0;
    WINDOW_FOR(i) s += x[pl * vin + i];
    y[oi] = (float)(s / pool_div(g, &wn));
  })
  return PS_OK;
}
static ps_status r_avgpool_backward(ps_backend *be, const ps_pool_geom *g, const float *dy, float *dx, bool acc) {
  UNUSED(be);
  if (!acc) memset(dx, 0, (size_t)(g->planes * g->in[0] * g->in[1] * g->in[2]) * sizeof(float));
  POOL_LOOP({
    const double v = dy[oi] / pool_div(g, &wn);
    WINDOW_FOR(i) dx[pl * vin + i] = (float)(dx[pl * vin + i] + v);
  })
  return PS_OK;
}

/* ---- upsampling: each output voxel straight from its (up to) 8 sources ---- */
/* PyTorch's source index along one axis: i0, i1 and the weight of i1 */
static void up_src(bool tri, int64_t in, int64_t out, int64_t o, int64_t *i0, int64_t *i1, float *l1) {
  const float scale = (float)in / (float)out;
  if (!tri) {
    int64_t s = in == out ? o : (int64_t)floorf((float)o * scale);
    if (s > in - 1) s = in - 1;
    *i0 = *i1 = s;
    *l1 = 0.0f;
    return;
  }
  float src = scale * ((float)o + 0.5f) - 0.5f;
  if (src < 0) src = 0;
  int64_t s = (int64_t)src;
  if (s > in - 1) s = in - 1;
  *i0 = s;
  *i1 = s + (s < in - 1 ? 1 : 0);
  *l1 = src - (float)s;
}
static ps_status up_common(bool tri, int64_t planes, const int64_t in[3], const int64_t out[3], const float *x,
                           float *y, const float *dy, float *dx, bool acc) {
  const int64_t vin = in[0] * in[1] * in[2], vout = out[0] * out[1] * out[2];
  if (dx && !acc) memset(dx, 0, (size_t)(planes * vin) * sizeof(float));
  for (int64_t pl = 0; pl < planes; pl++)
    for (int64_t od = 0; od < out[0]; od++)
      for (int64_t oh = 0; oh < out[1]; oh++)
        for (int64_t ow = 0; ow < out[2]; ow++) {
          const int64_t o[3] = {od, oh, ow};
          int64_t i[3][2];
          float l[3];
          for (int d = 0; d < 3; d++) up_src(tri, in[d], out[d], o[d], &i[d][0], &i[d][1], &l[d]);
          const int64_t oi = pl * vout + (od * out[1] + oh) * out[2] + ow;
          double s = 0;
          for (int a = 0; a < 2; a++)
            for (int b = 0; b < 2; b++)
              for (int c = 0; c < 2; c++) {
                const double wgt = (a ? l[0] : 1 - l[0]) * (b ? l[1] : 1 - l[1]) * (c ? l[2] : 1 - l[2]);
                if (wgt == 0) continue;
                const int64_t ii = pl * vin + (i[0][a] * in[1] + i[1][b]) * in[2] + i[2][c];
                if (y) s += wgt * x[ii];
                else dx[ii] = (float)(dx[ii] + wgt * dy[oi]);
              }
          if (y) y[oi] = (float)s;
        }
  return PS_OK;
}
static ps_status r_upsample_forward(ps_backend *be, bool tri, int64_t planes, const int64_t in[3],
                                    const int64_t out[3], const float *x, float *y) {
  UNUSED(be);
  return up_common(tri, planes, in, out, x, y, NULL, NULL, false);
}
static ps_status r_upsample_backward(ps_backend *be, bool tri, int64_t planes, const int64_t in[3],
                                     const int64_t out[3], const float *dy, float *dx, bool acc) {
  UNUSED(be);
  return up_common(tri, planes, in, out, NULL, NULL, dy, dx, acc);
}

/* ---- channel blocks ---- */
static ps_status r_copy_channels(ps_backend *be, int64_t N, int64_t inner, const float *src, int64_t sc, int64_t soff,
                                 float *dst, int64_t dc, int64_t doff, int64_t len, bool acc) {
  UNUSED(be);
  for (int64_t n = 0; n < N; n++)
    for (int64_t j = 0; j < len; j++)
      for (int64_t s = 0; s < inner; s++) {
        float *d = &dst[(n * dc + doff + j) * inner + s];
        const float v = src[(n * sc + soff + j) * inner + s];
        *d = acc ? *d + v : v;
      }
  return PS_OK;
}

/* ---- softmax over channels ---- */
static ps_status r_softmax_forward(ps_backend *be, int64_t N, int64_t C, int64_t S, const float *x, float *y) {
  UNUSED(be);
  for (int64_t n = 0; n < N; n++)
    for (int64_t s = 0; s < S; s++) {
      const float *xv = x + n * C * S + s;
      double m = -INFINITY, z = 0;
      for (int64_t c = 0; c < C; c++) m = xv[c * S] > m ? xv[c * S] : m;
      for (int64_t c = 0; c < C; c++) z += exp(xv[c * S] - m);
      for (int64_t c = 0; c < C; c++) y[n * C * S + c * S + s] = (float)(exp(xv[c * S] - m) / z);
    }
  return PS_OK;
}
static ps_status r_softmax_backward(ps_backend *be, int64_t N, int64_t C, int64_t S, const float *y, const float *dy,
                                    float *dx, bool acc) {
  UNUSED(be);
  for (int64_t n = 0; n < N; n++)
    for (int64_t s = 0; s < S; s++) {
      const int64_t b = n * C * S + s;
      double dot = 0;
      for (int64_t c = 0; c < C; c++) dot += (double)y[b + c * S] * dy[b + c * S];
      for (int64_t c = 0; c < C; c++) dx[b + c * S] = put(&dx[b + c * S], y[b + c * S] * (dy[b + c * S] - dot), acc);
    }
  return PS_OK;
}

/* ---- losses. Workspace: probabilities [N*C*S], Dice coefficients A, B
 * [groups*C] each (dL/dp_k = A_k [label = k] + B_k on unignored voxels), and
 * the CE scale wce / (sum of voxel weights). ---- */
static size_t r_loss_ws(ps_backend *be, const ps_loss_geom *g) {
  UNUSED(be);
  const int64_t groups = g->dice_batch ? 1 : g->N;
  return (size_t)(g->N * g->C * g->S + 2 * groups * g->C + 1) * sizeof(float);
}

ps_status ps_loss_check_labels(const ps_loss_geom *g, const uint8_t *labels) {
  for (int64_t v = 0; v < g->N * g->S; v++)
    if (labels[v] >= g->C && (int)labels[v] != g->ignore_label)
      return ps_error(PS_ERR_INVALID, "loss: label %d at voxel %lld is not a class of %lld-class logits (ignore_label %d)",
                      labels[v], (long long)v, (long long)g->C, g->ignore_label);
  return PS_OK;
}

static ps_status r_loss_forward(ps_backend *be, const ps_loss_geom *g, const float *logits, const uint8_t *labels,
                                float *loss, void *workspace) {
  UNUSED(be);
  ps_status st = ps_loss_check_labels(g, labels);
  if (st) return st;
  const int64_t N = g->N, C = g->C, S = g->S, groups = g->dice_batch ? 1 : N;
  const int64_t c0 = g->include_background ? 0 : 1, K = C - c0;
  float *prob = workspace, *A = prob + N * C * S, *B = A + groups * C, *ce_scale = B + groups * C;
  double ce = 0, ws = 0;
  double IPG[3 * 256 * 2];  /* per class (and group when one at a time): I, P, G */
  double dsum = 0;
  r_softmax_forward(be, N, C, S, logits, prob);
  for (int64_t gi = 0; gi < groups; gi++) {
    memset(IPG, 0, sizeof IPG);
    const int64_t n0 = g->dice_batch ? 0 : gi, n1 = g->dice_batch ? N : gi + 1;
    for (int64_t n = n0; n < n1; n++)
      for (int64_t s = 0; s < S; s++) {
        const int lab = labels[n * S + s];
        if (lab == g->ignore_label) continue;
        const double w = g->class_weights ? g->class_weights[lab] : 1.0;
        ce += w * -log((double)prob[(n * C + lab) * S + s]);
        ws += w;
        for (int64_t k = 0; k < C; k++) {
          const double p = prob[(n * C + k) * S + s], is = lab == k;
          IPG[3 * k] += p * is;
          IPG[3 * k + 1] += p;
          IPG[3 * k + 2] += is;
        }
      }
    for (int64_t k = 0; k < C; k++) {
      double den = IPG[3 * k + 1] + IPG[3 * k + 2] + g->smooth;
      if (den < 1e-8) den = 1e-8;
      const double dc = (2 * IPG[3 * k] + g->smooth) / den, kk = (double)(groups * K);
      if (k >= c0) dsum += dc;
      A[gi * C + k] = k >= c0 && g->wdice != 0 ? (float)(-g->wdice * 2.0 / (den * kk)) : 0.0f;
      B[gi * C + k] = k >= c0 && g->wdice != 0 ? (float)(g->wdice * dc / (den * kk)) : 0.0f;
    }
  }
  double l = 0;
  if (g->wce != 0) l += g->wce * (ws > 0 ? ce / ws : 0.0);
  if (g->wdice != 0) l += g->wdice * (1.0 - dsum / (double)(groups * K));
  *ce_scale = ws > 0 ? (float)(g->wce / ws) : 0.0f;
  loss[0] = (float)l;
  return PS_OK;
}

static ps_status r_loss_backward(ps_backend *be, const ps_loss_geom *g, const float *logits, const uint8_t *labels,
                                 const void *workspace, const float *up, float *dx, bool acc) {
  UNUSED(be);
  UNUSED(logits);
  const int64_t N = g->N, C = g->C, S = g->S, groups = g->dice_batch ? 1 : N;
  const float *prob = workspace, *A = prob + N * C * S, *B = A + groups * C, *ce_scale = B + groups * C;
  const double u = up ? up[0] : 1.0;
  for (int64_t n = 0; n < N; n++)
    for (int64_t s = 0; s < S; s++) {
      const int lab = labels[n * S + s];
      const bool ign = lab == g->ignore_label;
      const double cew = ign ? 0.0 : *ce_scale * (g->class_weights ? g->class_weights[lab] : 1.0);
      const float *a = A + (g->dice_batch ? 0 : n) * C, *b = B + (g->dice_batch ? 0 : n) * C;
      double dot = 0;
      for (int64_t k = 0; k < C; k++) dot += prob[(n * C + k) * S + s] * (a[k] * (lab == k) + b[k]);
      for (int64_t k = 0; k < C; k++) {
        const int64_t at = (n * C + k) * S + s;
        const double p = prob[at], is = lab == k;
        double v = cew * (p - is);
        if (!ign) v += p * (a[k] * is + b[k] - dot);
        dx[at] = put(&dx[at], u * v, acc);
      }
    }
  return PS_OK;
}

/* ---- optimisers (PyTorch's formulas) ---- */
static ps_status r_optim_step(ps_backend *be, const ps_opt_params *p, float *w, const float *g, float *m, float *v,
                              int64_t n) {
  UNUSED(be);
  if (p->kind == PS_OPT_SGD) {
    for (int64_t i = 0; i < n; i++) {
      const double d = (double)g[i] + (double)p->weight_decay * w[i];
      if (!m) { w[i] = (float)(w[i] - (double)p->lr * d); continue; }
      const double b = p->step <= 1 ? d : (double)p->momentum * m[i] + d;
      m[i] = (float)b;
      w[i] = (float)(w[i] - (double)p->lr * (p->nesterov ? d + (double)p->momentum * b : b));
    }
    return PS_OK;
  }
  const bool decoupled = p->kind == PS_OPT_ADAMW;
  const double bc1 = 1.0 - pow(p->beta1, (double)p->step), bc2 = 1.0 - pow(p->beta2, (double)p->step);
  for (int64_t i = 0; i < n; i++) {
    const double x = decoupled ? w[i] * (1.0 - (double)p->lr * p->weight_decay) : w[i];
    const double d = g[i] + (decoupled ? 0.0 : (double)p->weight_decay * w[i]);
    const double mi = p->beta1 * (double)m[i] + (1.0 - p->beta1) * d;
    const double vi = p->beta2 * (double)v[i] + (1.0 - p->beta2) * d * d;
    m[i] = (float)mi;
    v[i] = (float)vi;
    w[i] = (float)(x - (p->lr / bc1) * mi / (sqrt(vi) / sqrt(bc2) + p->eps));
  }
  return PS_OK;
}
static ps_status r_grad_norm(ps_backend *be, const float *g, int64_t n, float *norm) {
  UNUSED(be);
  double s = 0;
  for (int64_t i = 0; i < n; i++) s += (double)g[i] * g[i];
  *norm = (float)sqrt(s);
  return PS_OK;
}
static ps_status r_all_finite(ps_backend *be, const float *x, int64_t n, bool *finite) {
  UNUSED(be);
  *finite = true;
  for (int64_t i = 0; i < n && *finite; i++) *finite = isfinite(x[i]);
  return PS_OK;
}

bool ps_ref_supports(ps_backend *be, ps_op_kind k, const void *params) {
  UNUSED(be);
  if (k == PS_OPK_NORM && params) {
    const ps_norm_geom *g = params;
    return g->act == PS_ACT_NONE || g->act == PS_ACT_RELU || (g->act == PS_ACT_LEAKY_RELU && g->slope > 0);
  }
  if (k == PS_OPK_LOSS && params) return ((const ps_loss_geom *)params)->C <= 256;
  if ((k == PS_OPK_CONV || k == PS_OPK_CONV_TRANSPOSED) && params && ((const ps_conv_geom *)params)->x_nstride)
    return false; /* dense samples only */
  return k >= 0 && k < PS_OPK_COUNT;
}

static ps_backend ref_be;
static void ref_init(void) {
  ps_backend *b = &ref_be;
  b->name = "cpu-ref";
  ps_host_fill_memory(b);
  b->supports = ps_ref_supports;
  b->conv_forward = r_conv_forward;
  b->conv_backward_data = r_conv_backward_data;
  b->conv_backward_weight = r_conv_backward_weight;
  b->bias_add = r_bias_add;
  b->bias_grad = r_bias_grad;
  b->sgemm = r_sgemm;
  b->add = r_add;
  b->mul = r_mul;
  b->axpby = r_axpby;
  b->fill = r_fill;
  b->weighted_sum = r_weighted_sum;
  b->dot = r_dot;
  b->act_forward = r_act_forward;
  b->act_backward = r_act_backward;
  b->norm_stats = r_norm_stats;
  b->norm_apply = r_norm_apply;
  b->norm_backward = r_norm_backward;
  b->bn_running_update = ps_ref_bn_running_update;
  b->bn_eval_stats = ps_ref_bn_eval_stats;
  b->maxpool_forward = r_maxpool_forward;
  b->maxpool_backward = r_maxpool_backward;
  b->avgpool_forward = r_avgpool_forward;
  b->avgpool_backward = r_avgpool_backward;
  b->upsample_forward = r_upsample_forward;
  b->upsample_backward = r_upsample_backward;
  b->copy_channels = r_copy_channels;
  b->softmax_forward = r_softmax_forward;
  b->softmax_backward = r_softmax_backward;
  b->loss_workspace_bytes = r_loss_ws;
  b->loss_forward = r_loss_forward;
  b->loss_backward = r_loss_backward;
  b->optim_step = r_optim_step;
  b->grad_norm = r_grad_norm;
  b->all_finite = r_all_finite;
}

#include <pthread.h>
static pthread_once_t ref_once = PTHREAD_ONCE_INIT;
ps_backend *ps_backend_cpu_ref(void) {
  pthread_once(&ref_once, ref_init);
  return &ref_be;
}
