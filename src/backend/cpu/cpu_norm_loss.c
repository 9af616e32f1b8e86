/* Fast CPU normalisation (instance / batch norm, optionally fused with a
 * ReLU/LeakyReLU) and the fused segmentation loss (softmax, CE and soft Dice
 * in one forward pass, one backward pass from the saved log-sum-exp).
 * Reductions use float partials over short runs folded into double, and a
 * fixed order, so results do not depend on the thread count. */
#include "backend/cpu/cpu_internal.h"
#include "backend/cpu/cpu_vmath.h"
#include <math.h>
#include <string.h>

#define UNUSED(x) (void)(x)

/* ---- normalisation: group g = (n, c) plane (instance) or channel c over N planes (batch) ---- */
typedef struct { int64_t G, nseg, seg_stride, S, C; bool per_sample; } groups_t;
static groups_t groups_of(const ps_norm_geom *g) {
  return g->per_sample ? (groups_t){g->N * g->C, 1, 0, g->S, g->C, true}
                       : (groups_t){g->C, g->N, g->C * g->S, g->S, g->C, false};
}
static inline int64_t gbase(const groups_t *q, int64_t g) { return g * q->S; }
static inline int64_t gchan(const groups_t *q, int64_t g) { return q->per_sample ? g % q->C : g; }

/* mean, rstd (and the biased variance) of group gi */
static void group_stats(const groups_t *q, const float *x, int64_t gi, float eps, float *mean, float *rstd,
                        float *var_out) {
  const int64_t base = gbase(q, gi);
  const float shift = x[base]; /* against cancellation in s2/n - mean^2 */
  double s1 = 0, s2 = 0;
  for (int64_t k = 0; k < q->nseg; k++) {
    const float *xs = x + base + k * q->seg_stride;
    for (int64_t s0 = 0; s0 < q->S; s0 += 1024) {
      const int64_t e = s0 + 1024 < q->S ? s0 + 1024 : q->S;
      double a, b;
      ps_sum_dev_f32(xs + s0, e - s0, shift, &a, &b);
      s1 += a;
      s2 += b;
    }
  }
  const double cnt = (double)(q->nseg * q->S), md = s1 / cnt;
  double var = s2 / cnt - md * md;
  if (var < 0) var = 0;
  mean[gi] = (float)(shift + md);
  rstd[gi] = (float)(1.0 / sqrt(var + eps));
  if (var_out) var_out[gi] = (float)var;
}

/* y = act(x sc + sh) over group gi (the backward recomputes x sc + sh the same way) */
static void group_apply(const groups_t *q, const ps_norm_geom *g, const float *x, int64_t gi, const float *mean,
                        const float *rstd, const float *gamma, const float *beta, float *y) {
  const int64_t base = gbase(q, gi), ch = gchan(q, gi);
  const float slope = g->act == PS_ACT_LEAKY_RELU ? g->slope : 0.0f;
  const bool act = g->act != PS_ACT_NONE;
  const float sc = rstd[gi] * (gamma ? gamma[ch] : 1.0f);
  const float sh = (beta ? beta[ch] : 0.0f) - mean[gi] * sc;
  for (int64_t k = 0; k < q->nseg; k++) {
    const float *xs = x + base + k * q->seg_stride;
    float *ys = y + base + k * q->seg_stride;
    if (act)
      for (int64_t s = 0; s < q->S; s++) { const float v = xs[s] * sc + sh; ys[s] = v > 0 ? v : slope * v; }
    else
      for (int64_t s = 0; s < q->S; s++) ys[s] = xs[s] * sc + sh;
  }
}

ps_status ps_cpu_norm_stats(ps_backend *be, const ps_norm_geom *g, const float *x, float eps, float *mean, float *rstd,
                            float *var_out) {
  UNUSED(be);
  const groups_t q = groups_of(g);
  const int64_t numel = g->N * g->C * g->S;
#pragma omp parallel for if (numel > PS_OMP_MIN) schedule(static)
  for (int64_t gi = 0; gi < q.G; gi++) group_stats(&q, x, gi, eps, mean, rstd, var_out);
  return PS_OK;
}

ps_status ps_cpu_norm_apply(ps_backend *be, const ps_norm_geom *g, const float *x, const float *mean,
                            const float *rstd, const float *gamma, const float *beta, float *y) {
  UNUSED(be);
  const groups_t q = groups_of(g);
  const int64_t numel = g->N * g->C * g->S;
#pragma omp parallel for if (numel > PS_OMP_MIN) schedule(static)
  for (int64_t gi = 0; gi < q.G; gi++) group_apply(&q, g, x, gi, mean, rstd, gamma, beta, y);
  return PS_OK;
}

/* Both, group by group: the apply then reads a plane that the statistics
 * just brought into cache, instead of the whole tensor from memory again. */
ps_status ps_cpu_norm_forward(ps_backend *be, const ps_norm_geom *g, const float *x, float eps, const float *gamma,
                              const float *beta, float *mean, float *rstd, float *y) {
  UNUSED(be);
  const groups_t q = groups_of(g);
  const int64_t numel = g->N * g->C * g->S;
#pragma omp parallel for if (numel > PS_OMP_MIN) schedule(static)
  for (int64_t gi = 0; gi < q.G; gi++) {
    group_stats(&q, x, gi, eps, mean, rstd, NULL);
    group_apply(&q, g, x, gi, mean, rstd, gamma, beta, y);
  }
  return PS_OK;
}

/* The gradient at the norm's output, dz: dy gated by the fused activation,
 * whose sign is that of the pre-activation v = x sc + sh, recomputed from x
 * exactly as ps_cpu_norm_apply computed it (the same float multiply and add),
 * so that y, a third stream of the plane, is never read. */
typedef struct { bool act; float slope, sc, sh; } gate_t;

/* *sd = sum dz, *sdx = sum dz (x - m) over n voxels; 16 partial sums (cpu_internal.h). */
static void dz_sums(const float *x, const float *dy, int64_t n, float m, gate_t q, double *sd, double *sdx) {
  typedef int32_t i16v __attribute__((vector_size(64)));
  ps_f16v a = {0}, b = {0};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const ps_f16v xv = ps_ld16v(x + i);
    ps_f16v dz = ps_ld16v(dy + i);
    if (q.act) { /* lanes where v <= 0 scale by slope (bit select: C has no vector ?:) */
      const i16v pos = xv * q.sc + q.sh > 0;
      const ps_f16v sl = dz * q.slope;
      dz = (ps_f16v)(((i16v)dz & pos) | ((i16v)sl & ~pos));
    }
    a += dz;
    b += dz * (xv - m);
  }
  float ta = 0, tb = 0, fa, fb;
  for (; i < n; i++) {
    const float dz = q.act && !(x[i] * q.sc + q.sh > 0) ? q.slope * dy[i] : dy[i];
    ta += dz;
    tb += dz * (x[i] - m);
  }
  PS_FOLD16(a, fa);
  PS_FOLD16(b, fb);
  *sd = (double)fa + ta;
  *sdx = (double)fb + tb;
}

ps_status ps_cpu_norm_backward(ps_backend *be, const ps_norm_geom *g, const float *x, const float *mean,
                               const float *rstd, const float *gamma, const float *beta, const float *y,
                               const float *dy, bool batch_stats, float *dx, bool dx_acc, float *dgamma,
                               bool dgamma_acc, float *dbeta, bool dbeta_acc) {
  UNUSED(be);
  UNUSED(y);
  const groups_t q = groups_of(g);
  const int64_t numel = g->N * g->C * g->S;
  const bool act = g->act != PS_ACT_NONE;
  const float slope = g->act == PS_ACT_LEAKY_RELU ? g->slope : 0.0f;
  const double cnt = (double)(q.nseg * q.S);
  /* per-group sums of dz and dz * xhat, reduced to channels afterwards in a fixed order */
  double sums_stack[2 * 8192]; /* 128 KiB of stack */
  double *sums = q.G <= 8192 ? sums_stack : NULL;
  if (!sums) { /* larger batches: reduce per channel directly (still fixed order) */
    if (dgamma && !dgamma_acc) memset(dgamma, 0, (size_t)q.C * sizeof(float));
    if (dbeta && !dbeta_acc) memset(dbeta, 0, (size_t)q.C * sizeof(float));
  }
#pragma omp parallel for if (numel > PS_OMP_MIN) schedule(static)
  for (int64_t gi = 0; gi < q.G; gi++) {
    const int64_t base = gbase(&q, gi), ch = gchan(&q, gi);
    const float m = mean[gi], r = rstd[gi];
    /* sc and sh as ps_cpu_norm_apply computes them */
    const float sc = r * (gamma ? gamma[ch] : 1.0f), sh = (beta ? beta[ch] : 0.0f) - m * sc;
    const gate_t gt = {act, slope, sc, sh};
    double sd = 0, sdx = 0;
    for (int64_t k = 0; k < q.nseg; k++) {
      const int64_t o = base + k * q.seg_stride;
      const float *xs = x + o, *ds = dy + o;
      for (int64_t s0 = 0; s0 < q.S; s0 += 1024) {
        const int64_t e = s0 + 1024 < q.S ? s0 + 1024 : q.S;
        double a, b;
        dz_sums(xs + s0, ds + s0, e - s0, m, gt, &a, &b);
        sd += a;
        sdx += b * r;
      }
    }
    if (sums) { sums[2 * gi] = sd; sums[2 * gi + 1] = sdx; }
    else {
#pragma omp critical(ps_norm_param_sums)
      {
        if (dbeta) dbeta[ch] += (float)sd;
        if (dgamma) dgamma[ch] += (float)sdx;
      }
    }
    if (!dx) continue;
    const float k1 = (gamma ? gamma[ch] : 1.0f) * r;
    /* training: dx = gamma*rstd*(dz - mean(dz) - xhat*mean(dz*xhat)); eval: gamma*rstd*dz */
    const float md = batch_stats ? (float)(sd / cnt) : 0.0f, mdx = batch_stats ? (float)(sdx / cnt) : 0.0f;
#define DZ(s) (act && !(xs[s] * sc + sh > 0) ? slope * ds[s] : ds[s])
    for (int64_t k = 0; k < q.nseg; k++) {
      const int64_t o = base + k * q.seg_stride;
      const float *xs = x + o, *ds = dy + o;
      float *gs = dx + o;
      if (!dx_acc)
        for (int64_t s = 0; s < q.S; s++) gs[s] = k1 * (DZ(s) - md - (xs[s] - m) * r * mdx);
      else
        for (int64_t s = 0; s < q.S; s++) gs[s] += k1 * (DZ(s) - md - (xs[s] - m) * r * mdx);
    }
#undef DZ
  }
  if (sums)
    for (int64_t ch = 0; ch < q.C; ch++) {
      double a = 0, b = 0;
      for (int64_t gi = ch; gi < q.G; gi += q.C) { a += sums[2 * gi]; b += sums[2 * gi + 1]; }
      if (dbeta) dbeta[ch] = (dbeta_acc ? dbeta[ch] : 0.0f) + (float)a;
      if (dgamma) dgamma[ch] = (dgamma_acc ? dgamma[ch] : 0.0f) + (float)b;
    }
  return PS_OK;
}

/* ---- the loss ---- */
#define LB 512   /* voxels per block */
#define PB_C 16  /* up to this many classes a block's probabilities stay in a stack buffer */

typedef struct {
  double *part;    /* [N * nb * (2 + 3C)]: per block CE sum, weight sum, then I, P, G per class */
  double *acc;     /* [groups * C * 3] */
  float *lse;      /* [N * S] */
  float *A, *B;    /* [groups * C]: dL/dp_k = A_k [label = k] + B_k on unignored voxels */
  float *ce_scale; /* [1] */
} loss_ws;

static int64_t nblocks(const ps_loss_geom *g) { return (g->S + LB - 1) / LB; }
static loss_ws carve(const ps_loss_geom *g, void *w) {
  const int64_t groups = g->dice_batch ? 1 : g->N, nb = nblocks(g);
  loss_ws s;
  s.part = w;
  s.acc = s.part + g->N * nb * (2 + 3 * g->C);
  s.lse = (float *)(s.acc + groups * g->C * 3);
  s.A = s.lse + g->N * g->S;
  s.B = s.A + groups * g->C;
  s.ce_scale = s.B + groups * g->C;
  return s;
}
size_t ps_cpu_loss_workspace_bytes(ps_backend *be, const ps_loss_geom *g) {
  UNUSED(be);
  const int64_t groups = g->dice_batch ? 1 : g->N;
  return (size_t)(g->N * nblocks(g) * (2 + 3 * g->C) + groups * g->C * 3) * sizeof(double) +
         (size_t)(g->N * g->S + 2 * groups * g->C + 1) * sizeof(float);
}

static inline float cweight(const ps_loss_geom *g, int lab) { return g->class_weights ? g->class_weights[lab] : 1.0f; }

/* Per-block voxel masks: lf[s] = label as float, vf[s] = 1 unless ignored */
static void label_rows(const uint8_t *lab, int64_t len, int ign, float *lf, float *vf) {
  for (int64_t s = 0; s < len; s++) {
    lf[s] = (float)lab[s];
    vf[s] = (int)lab[s] == ign ? 0.0f : 1.0f;
  }
}

/* e[s] = exp(x[s] - sub[s]) */
static void exp_row(const float *x, const float *sub, int64_t len, float *e) {
  for (int64_t s = 0; s < len; s++) e[s] = x[s] - sub[s];
  ps_vexp_inplace(e, len);
}

/* Soft-Dice sums of class k over a block: I = sum p [lab = k], P = sum p, G =
 * sum [lab = k], all over unignored voxels; p[s] = pr[s] * scale[s] (scale
 * NULL: 1); 16 partial sums as in cpu_internal.h. */
static void dice_sums(const float *pr, const float *scale, const float *lf, const float *vf, int64_t len, float k,
                      float *I, float *P, float *G) {
  ps_f16v vi = {0}, vp = {0}, vg = {0};
  int64_t s = 0;
  for (; s + 16 <= len; s += 16) {
    const ps_f16v v = ps_ld16v(vf + s);
    ps_f16v p = ps_ld16v(pr + s);
    if (scale) p *= ps_ld16v(scale + s);
    p *= v;
    const ps_f16v is = ps_vsel(ps_ld16v(lf + s) == k, v, (ps_f16v){0});
    vi += p * is;
    vp += p;
    vg += is;
  }
  float ti = 0, tp = 0, tg = 0, fi, fp, fg;
  for (; s < len; s++) {
    const float p = (scale ? pr[s] * scale[s] : pr[s]) * vf[s], is = lf[s] == k ? vf[s] : 0.0f;
    ti += p * is;
    tp += p;
    tg += is;
  }
  PS_FOLD16(vi, fi);
  PS_FOLD16(vp, fp);
  PS_FOLD16(vg, fg);
  *I = fi + ti;
  *P = fp + tp;
  *G = fg + tg;
}

ps_status ps_cpu_loss_forward(ps_backend *be, const ps_loss_geom *g, const float *logits, const uint8_t *labels,
                              float *loss, void *workspace) {
  UNUSED(be);
  ps_status st = ps_loss_check_labels(g, labels);
  if (st) return st;
  const int64_t N = g->N, C = g->C, S = g->S, nb = nblocks(g), groups = g->dice_batch ? 1 : N;
  const int64_t stride = 2 + 3 * C, c0 = g->include_background ? 0 : 1, K = C - c0;
  const bool dice = g->wdice != 0;
  const int ign = g->ignore_label;
  loss_ws w = carve(g, workspace);
#pragma omp parallel for collapse(2) if (N * C * S > PS_OMP_MIN) schedule(static)
  for (int64_t i = 0; i < N; i++)
    for (int64_t bl = 0; bl < nb; bl++) {
      const int64_t s0 = bl * LB, len = S - s0 < LB ? S - s0 : LB;
      const float *xb = logits + i * C * S + s0;
      const uint8_t *lab = labels + i * S + s0;
      double *pa = w.part + (i * nb + bl) * stride;
      float m[LB], se[LB], lf[LB], vf[LB], tmp[LB];
      float *lse = w.lse + i * S + s0;
      label_rows(lab, len, ign, lf, vf);
      for (int64_t s = 0; s < len; s++) m[s] = xb[s];
      for (int64_t k = 1; k < C; k++)
        for (int64_t s = 0; s < len; s++) m[s] = xb[k * S + s] > m[s] ? xb[k * S + s] : m[s];
      /* keep: the block's exp(x - m) rows stay for the Dice sums */
      float pb[C <= PB_C ? C * LB : 1];
      const bool keep = dice && C <= PB_C;
      for (int64_t s = 0; s < len; s++) se[s] = 0;
      for (int64_t k = 0; k < C; k++) {
        float *e = keep ? pb + k * LB : tmp;
        exp_row(xb + k * S, m, len, e);
        for (int64_t s = 0; s < len; s++) se[s] += e[s];
      }
      memcpy(lse, se, (size_t)len * sizeof(float));
      ps_vlog_inplace(lse, len);
      for (int64_t s = 0; s < len; s++) lse[s] += m[s];
      if (keep) /* exp(x - m) / sum = softmax */
        for (int64_t s = 0; s < len; s++) se[s] = 1.0f / se[s];
      double ce = 0, ws = 0;
      for (int64_t s = 0; s < len; s++) {
        if ((int)lab[s] == ign) continue;
        const float wt = cweight(g, lab[s]);
        ce += (double)wt * (lse[s] - xb[lab[s] * S + s]);
        ws += wt;
      }
      pa[0] = ce;
      pa[1] = ws;
      for (int64_t k = 0; k < C; k++) {
        float I = 0, P = 0, G = 0;
        if (dice && k >= c0) {
          if (keep)
            dice_sums(pb + k * LB, se, lf, vf, len, (float)k, &I, &P, &G);
          else {
            exp_row(xb + k * S, lse, len, tmp);
            dice_sums(tmp, NULL, lf, vf, len, (float)k, &I, &P, &G);
          }
        }
        pa[2 + 3 * k] = I;
        pa[3 + 3 * k] = P;
        pa[4 + 3 * k] = G;
      }
    }
  /* fixed-order reduction */
  double ce = 0, ws = 0;
  memset(w.acc, 0, (size_t)(groups * C * 3) * sizeof(double));
  for (int64_t i = 0; i < N; i++)
    for (int64_t bl = 0; bl < nb; bl++) {
      const double *pa = w.part + (i * nb + bl) * stride;
      ce += pa[0];
      ws += pa[1];
      double *ag = w.acc + (g->dice_batch ? 0 : i) * C * 3;
      for (int64_t k = 0; k < 3 * C; k++) ag[k] += pa[2 + k];
    }
  double l = 0;
  if (g->wce != 0) l += g->wce * (ws > 0 ? ce / ws : 0.0);
  *w.ce_scale = ws > 0 ? (float)(g->wce / ws) : 0.0f;
  if (dice) {
    const double sm = g->smooth, kk = (double)(groups * K);
    double dsum = 0;
    for (int64_t gi = 0; gi < groups; gi++)
      for (int64_t k = 0; k < C; k++) {
        const double *a = w.acc + (gi * C + k) * 3;
        double den = a[1] + a[2] + sm;
        if (den < 1e-8) den = 1e-8;
        const double dc = (2 * a[0] + sm) / den;
        if (k >= c0) dsum += dc;
        /* d(1 - mean dc)/dp = -(2 g - dc) / (den * groups * K) */
        w.A[gi * C + k] = k >= c0 ? (float)(-g->wdice * 2.0 / (den * kk)) : 0.0f;
        w.B[gi * C + k] = k >= c0 ? (float)(g->wdice * dc / (den * kk)) : 0.0f;
      }
    l += g->wdice * (1.0 - dsum / kk);
  }
  loss[0] = (float)l;
  return PS_OK;
}

ps_status ps_cpu_loss_backward(ps_backend *be, const ps_loss_geom *g, const float *logits, const uint8_t *labels,
                               const void *workspace, const float *upp, float *dx, bool acc) {
  UNUSED(be);
  const loss_ws w = carve(g, (void *)workspace);
  const float up = upp ? upp[0] : 1.0f, ce_scale = *w.ce_scale;
  const int64_t N = g->N, C = g->C, S = g->S, nb = nblocks(g);
  const bool dice = g->wdice != 0;
  const int ign = g->ignore_label;
#pragma omp parallel for collapse(2) if (N * C * S > PS_OMP_MIN) schedule(static)
  for (int64_t i = 0; i < N; i++)
    for (int64_t b = 0; b < nb; b++) {
      const int64_t s0 = b * LB, len = S - s0 < LB ? S - s0 : LB;
      const float *xb = logits + i * C * S + s0, *lse = w.lse + i * S + s0;
      const uint8_t *lab = labels + i * S + s0;
      float *gb = dx + i * C * S + s0;
      const float *A = w.A + (g->dice_batch ? 0 : i) * C, *B = w.B + (g->dice_batch ? 0 : i) * C;
      float dot[LB], cew[LB], lf[LB], vf[LB], tmp[LB];
      label_rows(lab, len, ign, lf, vf);
      for (int64_t s = 0; s < len; s++) {
        dot[s] = 0;
        cew[s] = vf[s] * ce_scale * cweight(g, lab[s] == ign ? 0 : lab[s]);
      }
      /* keep: the block's probabilities stay between the two passes */
      float pb[C <= PB_C ? C * LB : 1];
      const bool keep = dice && C <= PB_C;
      if (dice) /* sum_k p_k dL/dp_k per voxel */
        for (int64_t k = 0; k < C; k++) {
          float *p = keep ? pb + k * LB : tmp;
          exp_row(xb + k * S, lse, len, p);
          const float a = A[k], bk = B[k], kf = (float)k;
          for (int64_t s = 0; s < len; s++) dot[s] += p[s] * (lf[s] == kf ? a + bk : bk);
        }
      for (int64_t k = 0; k < C; k++) {
        const float *p = keep ? pb + k * LB : tmp;
        if (!keep) exp_row(xb + k * S, lse, len, tmp);
        const float a = A[k], bk = B[k], kf = (float)k;
        float *gk = gb + k * S;
        for (int64_t s = 0; s < len; s++) {
          const float is = lf[s] == kf ? 1.0f : 0.0f;
          float v = cew[s] * (p[s] - is);
          if (dice) v += vf[s] * p[s] * (a * is + bk - dot[s]);
          v *= up;
          gk[s] = acc ? gk[s] + v : v;
        }
      }
    }
  return PS_OK;
}
