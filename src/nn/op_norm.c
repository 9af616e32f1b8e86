/* Instance norm (per (n, c) over D*H*W) and batch norm (per c over N*D*H*W),
 * both with optional affine gamma/beta [C]. One engine serves both: a "group"
 * is a set of equal segments of x (IN: one plane; BN: N planes, stride C*S).
 * Forward: one pass for mean/var (double accumulators, shifted by the first
 * value against cancellation), one pass to write y; mean and 1/std are saved.
 * Backward: one pass for sum(dy) and sum(dy*xhat), one pass to write dx. */
#include "op_internal.h"
#include <math.h>
#include <string.h>

typedef struct {
  int64_t groups, nseg, seg_stride, seg_len, C;  /* group g starts at offset base(g) */
  bool per_sample;                               /* IN: g = n*C + c; BN: g = c */
  bool batch_stats;                              /* false: BN eval, mean/rstd are constants */
  float *mean, *rstd;                            /* [groups] */
} norm_ctx;

/* IN: plane g at g*S; BN: channel g's first plane at g*S (the others follow at seg_stride) */
static inline int64_t group_base(const norm_ctx *c, int64_t g) { return g * c->seg_len; }
static inline int64_t group_channel(const norm_ctx *c, int64_t g) { return c->per_sample ? g % c->C : g; }

static void norm_backward(ps_tape *t, ps_node *n) {
  const norm_ctx *c = n->ctx;
  ps_tensor *x = n->in[0], *gamma = n->in[1], *beta = n->in[2];
  const float *dy = n->out->grad;
  bool fx, fg, fb;
  float *gx = ps_op_grad(t, x, &fx);
  float *gg = gamma ? ps_op_grad(t, gamma, &fg) : NULL;
  float *gb = beta ? ps_op_grad(t, beta, &fb) : NULL;
  const int64_t G = c->groups;
  /* per-group sums: [0] sum dy, [1] sum dy*xhat */
  double *sums = ps_tape_alloc(t, (size_t)G * 2 * sizeof(double));
  if (!sums) return;
  const double cnt = (double)(c->nseg * c->seg_len);
#pragma omp parallel for if (x->numel > PS_OMP_MIN) schedule(static)
  for (int64_t g = 0; g < G; g++) {
    const int64_t base = group_base(c, g);
    const float m = c->mean[g], r = c->rstd[g];
    double sd = 0, sdx = 0;
    for (int64_t k = 0; k < c->nseg; k++) {
      const float *xs = x->data + base + k * c->seg_stride, *ds = dy + base + k * c->seg_stride;
      /* float partials over short runs keep the loop vectorised; folded into double */
      for (int64_t s0 = 0; s0 < c->seg_len; s0 += 1024) {
        const int64_t e = s0 + 1024 < c->seg_len ? s0 + 1024 : c->seg_len;
        float a = 0, b = 0;
        for (int64_t s = s0; s < e; s++) { a += ds[s]; b += ds[s] * (xs[s] - m); }
        sd += a;
        sdx += (double)b * r;
      }
    }
    sums[2 * g] = sd;
    sums[2 * g + 1] = sdx;
    if (!gx) continue;
    const float gm = gamma ? gamma->data[group_channel(c, g)] : 1.0f;
    const float k1 = gm * r;
    /* training: dx = gamma*rstd*(dy - mean(dy) - xhat*mean(dy*xhat)); eval: gamma*rstd*dy */
    const float md = c->batch_stats ? (float)(sd / cnt) : 0.0f, mdx = c->batch_stats ? (float)(sdx / cnt) : 0.0f;
    for (int64_t k = 0; k < c->nseg; k++) {
      const float *xs = x->data + base + k * c->seg_stride, *ds = dy + base + k * c->seg_stride;
      float *gs = gx + base + k * c->seg_stride;
      if (fx)
        for (int64_t s = 0; s < c->seg_len; s++) gs[s] = k1 * (ds[s] - md - (xs[s] - m) * r * mdx);
      else
        for (int64_t s = 0; s < c->seg_len; s++) gs[s] += k1 * (ds[s] - md - (xs[s] - m) * r * mdx);
    }
  }
  /* parameters: reduce groups to channels in a fixed order (deterministic) */
  for (int64_t ch = 0; ch < c->C; ch++) {
    double a = 0, b = 0;
    for (int64_t g = ch; g < G; g += c->C) { a += sums[2 * g]; b += sums[2 * g + 1]; }
    if (gb) gb[ch] = (fb ? 0.0f : gb[ch]) + (float)a;
    if (gg) gg[ch] = (fg ? 0.0f : gg[ch]) + (float)b;
  }
}

/* y = (x - mean[g]) * rstd[g] * gamma[c] + beta[c] */
static void norm_apply(const norm_ctx *c, const float *x, const float *gamma, const float *beta, float *y, int64_t numel) {
#pragma omp parallel for if (numel > PS_OMP_MIN) schedule(static)
  for (int64_t g = 0; g < c->groups; g++) {
    const int64_t base = group_base(c, g), ch = group_channel(c, g);
    const float sc = c->rstd[g] * (gamma ? gamma[ch] : 1.0f);
    const float sh = (beta ? beta[ch] : 0.0f) - c->mean[g] * sc;
    for (int64_t k = 0; k < c->nseg; k++) {
      const float *xs = x + base + k * c->seg_stride;
      float *ys = y + base + k * c->seg_stride;
      for (int64_t s = 0; s < c->seg_len; s++) ys[s] = xs[s] * sc + sh;
    }
  }
}

/* mean and biased variance of each group */
static void norm_stats(const norm_ctx *c, const float *x, double *var_out, int64_t numel) {
#pragma omp parallel for if (numel > PS_OMP_MIN) schedule(static)
  for (int64_t g = 0; g < c->groups; g++) {
    const int64_t base = group_base(c, g);
    const float shift = x[base];
    double s1 = 0, s2 = 0;
    for (int64_t k = 0; k < c->nseg; k++) {
      const float *xs = x + base + k * c->seg_stride;
      /* float partials over short runs keep the inner loop vectorised */
      for (int64_t s0 = 0; s0 < c->seg_len; s0 += 1024) {
        const int64_t e = s0 + 1024 < c->seg_len ? s0 + 1024 : c->seg_len;
        float a = 0, b = 0;
        for (int64_t s = s0; s < e; s++) { float d = xs[s] - shift; a += d; b += d * d; }
        s1 += a;
        s2 += b;
      }
    }
    const double cnt = (double)(c->nseg * c->seg_len), md = s1 / cnt;
    double var = s2 / cnt - md * md;
    if (var < 0) var = 0;
    c->mean[g] = (float)(shift + md);
    var_out[g] = var;
  }
}

static bool check_affine(const char *op, const ps_tensor *x, const ps_tensor *gamma, const ps_tensor *beta) {
  const ps_tensor *p[2] = {gamma, beta};
  const char *nm[2] = {"gamma", "beta"};
  for (int i = 0; i < 2; i++)
    if (p[i] && (!p[i]->data || p[i]->numel != x->shape[1])) {
      char b[96];
      ps_error(PS_ERR_INVALID, "%s: %s has %lld values, expected C = %lld for x %s", op, nm[i], (long long)p[i]->numel,
               (long long)x->shape[1], ps_shape_str(x, b, sizeof b));
      return false;
    }
  return true;
}

static ps_tensor *norm_finish(ps_tape *t, const char *op, norm_ctx *c, ps_tensor *x, ps_tensor *gamma, ps_tensor *beta) {
  ps_tensor *y = ps_tape_tensor_like(t, x);
  if (!y) return NULL;
  norm_apply(c, x->data, gamma ? gamma->data : NULL, beta ? beta->data : NULL, y->data, x->numel);
  ps_tensor *in[3] = {x, gamma, beta};
  PS_OP_RECORD(t, op, norm_backward, y, 3, in, c);
  return y;
}

ps_tensor *ps_instance_norm(ps_tape *t, ps_tensor *x, ps_tensor *gamma, ps_tensor *beta, float eps) {
  if (!ps_op_check_ndim("ps_instance_norm", "x", x, -3) || !check_affine("ps_instance_norm", x, gamma, beta)) return NULL;
  norm_ctx *c = ps_tape_alloc(t, sizeof *c);
  if (!c) return NULL;
  const int64_t N = x->shape[0], C = x->shape[1], S = ps_op_inner(x, 2);
  *c = (norm_ctx){.groups = N * C, .nseg = 1, .seg_stride = 0, .seg_len = S, .C = C, .per_sample = true, .batch_stats = true};
  c->mean = ps_tape_alloc(t, (size_t)(N * C) * sizeof(float));
  c->rstd = ps_tape_alloc(t, (size_t)(N * C) * sizeof(float));
  double *var = ps_tape_alloc(t, (size_t)(N * C) * sizeof(double));
  if (!c->mean || !c->rstd || !var) return NULL;
  if (S < 1) {
    ps_error(PS_ERR_INVALID, "ps_instance_norm: empty spatial size");
    return NULL;
  }
  norm_stats(c, x->data, var, x->numel);
  for (int64_t g = 0; g < N * C; g++) c->rstd[g] = (float)(1.0 / sqrt(var[g] + eps));
  return norm_finish(t, "instance_norm", c, x, gamma, beta);
}

ps_tensor *ps_batch_norm(ps_tape *t, ps_tensor *x, ps_tensor *gamma, ps_tensor *beta, float *running_mean,
                         float *running_var, float momentum, float eps, bool training) {
  if (!ps_op_check_ndim("ps_batch_norm", "x", x, -2) || !check_affine("ps_batch_norm", x, gamma, beta)) return NULL;
  const int64_t N = x->shape[0], C = x->shape[1], S = ps_op_inner(x, 2);
  if (!training && (!running_mean || !running_var)) {
    ps_error(PS_ERR_INVALID, "ps_batch_norm: eval mode needs running_mean and running_var");
    return NULL;
  }
  if (training && N * S < 2) {
    char b[96];
    ps_error(PS_ERR_INVALID, "ps_batch_norm: training needs more than 1 value per channel, x is %s", ps_shape_str(x, b, sizeof b));
    return NULL;
  }
  norm_ctx *c = ps_tape_alloc(t, sizeof *c);
  if (!c) return NULL;
  *c = (norm_ctx){.groups = C, .nseg = N, .seg_stride = C * S, .seg_len = S, .C = C, .per_sample = false,
                  .batch_stats = training};
  c->mean = ps_tape_alloc(t, (size_t)C * sizeof(float));
  c->rstd = ps_tape_alloc(t, (size_t)C * sizeof(float));
  double *var = ps_tape_alloc(t, (size_t)C * sizeof(double));
  if (!c->mean || !c->rstd || !var) return NULL;
  if (training) {
    norm_stats(c, x->data, var, x->numel);
    const double cnt = (double)(N * S);
    for (int64_t ch = 0; ch < C; ch++) {
      c->rstd[ch] = (float)(1.0 / sqrt(var[ch] + eps));
      /* PyTorch: running stats take the unbiased variance */
      if (running_mean) running_mean[ch] = (1 - momentum) * running_mean[ch] + momentum * c->mean[ch];
      if (running_var) running_var[ch] = (1 - momentum) * running_var[ch] + momentum * (float)(var[ch] * cnt / (cnt - 1));
    }
  } else {
    for (int64_t ch = 0; ch < C; ch++) {
      c->mean[ch] = running_mean[ch];
      c->rstd[ch] = (float)(1.0 / sqrt((double)running_var[ch] + eps));
    }
  }
  return norm_finish(t, "batch_norm", c, x, gamma, beta);
}
