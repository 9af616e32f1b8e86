/* Segmentation losses on logits [N, C, spatial...] and uint8 labels [N, spatial...]:
 * cross-entropy (PyTorch's weighted mean with ignore_index), soft Dice on the
 * softmax (nnU-Net's SoftDiceLoss: per sample or batch, background optional,
 * smooth term, ignored voxels masked) and their weighted sum. One fused kernel:
 * the forward makes one pass (log-sum-exp per voxel, CE and Dice sums per voxel
 * block, reduced in a fixed order so results do not depend on the thread count);
 * the backward makes one pass from the saved log-sum-exp. Class weights apply
 * to cross-entropy only. With every voxel ignored CE is 0 (PyTorch: NaN). */
#include "op_internal.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LB 512   /* voxels per block */
#define PB_C 16  /* up to this many classes, a block's probabilities stay in a stack buffer (one exp per value) */

ps_loss_params ps_loss_params_default(void) {
  return (ps_loss_params){.class_weights = NULL,
                          .ignore_label = -1,
                          .dice_smooth = 1e-5f,
                          .dice_batch = false,
                          .dice_include_background = false,
                          .weight_ce = 1.0f,
                          .weight_dice = 1.0f};
}

typedef struct {
  int64_t N, C, S, nb;      /* nb: blocks per sample */
  uint8_t *labels;          /* copy [N*S] */
  float *lse;               /* [N*S] log-sum-exp of the logits per voxel */
  float *cw;                /* [C] class weights (1 when none) */
  int ignore;
  float ce_scale;           /* weight_ce / (sum of voxel weights) */
  bool dice;
  float *A, *B;             /* [groups*C]: dL/dp_c = A*g + B on unignored voxels */
  bool dice_batch;
} loss_ctx;

static void loss_backward(ps_tape *t, ps_node *n) {
  const loss_ctx *c = n->ctx;
  ps_tensor *x = n->in[0];
  bool fresh;
  float *g = ps_op_grad(t, x, &fresh);
  if (!g) return;
  const float up = n->out->grad[0];
  const int64_t N = c->N, C = c->C, S = c->S, nb = c->nb;
#pragma omp parallel for collapse(2) if (x->numel > PS_OMP_MIN) schedule(static)
  for (int64_t i = 0; i < N; i++)
    for (int64_t b = 0; b < nb; b++) {
      const int64_t s0 = b * LB, len = S - s0 < LB ? S - s0 : LB;
      const float *xb = x->data + i * C * S + s0, *lse = c->lse + i * S + s0;
      const uint8_t *lab = c->labels + i * S + s0;
      float *gb = g + i * C * S + s0;
      const float *A = c->A ? c->A + (c->dice_batch ? 0 : i) * C : NULL;
      const float *B = c->B ? c->B + (c->dice_batch ? 0 : i) * C : NULL;
      float dot[LB], cew[LB];
      for (int64_t s = 0; s < len; s++) {
        dot[s] = 0;
        cew[s] = (int)lab[s] == c->ignore ? 0.0f : c->ce_scale * c->cw[lab[s]];
      }
      float pb[C <= PB_C ? C * LB : 1];
      const bool keep = c->dice && C <= PB_C;
      if (c->dice) /* sum_k p_k dp_k per voxel */
        for (int64_t k = 0; k < C; k++) {
          const float *xk = xb + k * S;
          for (int64_t s = 0; s < len; s++) {
            float p = expf(xk[s] - lse[s]);
            if (keep) pb[k * LB + s] = p;
            dot[s] += p * (A[k] * (lab[s] == k) + B[k]);
          }
        }
      for (int64_t k = 0; k < C; k++) {
        const float *xk = xb + k * S;
        float *gk = gb + k * S;
        for (int64_t s = 0; s < len; s++) {
          const bool ign = (int)lab[s] == c->ignore;
          const float p = keep ? pb[k * LB + s] : expf(xk[s] - lse[s]), is = lab[s] == k ? 1.0f : 0.0f;
          float v = cew[s] * (p - is);
          if (c->dice && !ign) v += p * (A[k] * is + B[k] - dot[s]);
          v *= up;
          gk[s] = fresh ? v : gk[s] + v;
        }
      }
    }
}

static ps_tensor *loss_core(ps_tape *t, ps_tensor *x, const uint8_t *labels, const ps_loss_params *pp, float wce,
                            float wdice, const char *op) {
  ps_loss_params p = pp ? *pp : ps_loss_params_default();
  if (!ps_op_check_ndim(op, "logits", x, -2)) return NULL;
  if (!labels) {
    ps_error(PS_ERR_INVALID, "%s: labels are NULL", op);
    return NULL;
  }
  const int64_t N = x->shape[0], C = x->shape[1], S = ps_op_inner(x, 2);
  char b[96];
  if (C < 1 || C > 256 || S < 1) {
    ps_error(PS_ERR_INVALID, "%s: logits %s need 1..256 classes and a non-empty spatial size", op, ps_shape_str(x, b, sizeof b));
    return NULL;
  }
  const bool dice = wdice != 0;
  const int64_t c0 = p.dice_include_background ? 0 : 1, K = C - c0;
  if (dice && K < 1) {
    ps_error(PS_ERR_INVALID, "%s: soft Dice without background needs at least 2 classes, logits are %s", op,
             ps_shape_str(x, b, sizeof b));
    return NULL;
  }
  if (p.class_weights)
    for (int64_t k = 0; k < C; k++)
      if (!isfinite(p.class_weights[k]) || p.class_weights[k] < 0) {
        ps_error(PS_ERR_INVALID, "%s: class weight %lld is %g (must be finite and >= 0)", op, (long long)k, p.class_weights[k]);
        return NULL;
      }
  /* labels: every value is a class or the ignore label */
  int64_t bad = -1;
  for (int64_t v = 0; v < N * S && bad < 0; v++)
    if (labels[v] >= C && (int)labels[v] != p.ignore_label) bad = v;
  if (bad >= 0) {
    ps_error(PS_ERR_INVALID, "%s: label %d at voxel %lld is not a class of logits %s (ignore_label %d)", op, labels[bad],
             (long long)bad, ps_shape_str(x, b, sizeof b), p.ignore_label);
    return NULL;
  }
  const bool rec = x->requires_grad && ps_tape_grad_enabled(t);
  const int64_t nb = (S + LB - 1) / LB, groups = p.dice_batch ? 1 : N;
  const int64_t stride = 2 + 3 * C; /* per block: ce sum, weight sum, then I, P, G per class */
  loss_ctx *c = ps_tape_alloc(t, sizeof *c);
  double *part = ps_tape_alloc(t, (size_t)(N * nb * stride) * sizeof(double));
  float *lse_all = rec ? ps_tape_alloc(t, (size_t)(N * S) * sizeof(float)) : NULL;
  float *cw = ps_tape_alloc(t, (size_t)C * sizeof(float));
  if (!c || !part || !cw || (rec && !lse_all)) return NULL;
  for (int64_t k = 0; k < C; k++) cw[k] = p.class_weights ? p.class_weights[k] : 1.0f;
  const int ign = p.ignore_label;
#pragma omp parallel for collapse(2) if (x->numel > PS_OMP_MIN) schedule(static)
  for (int64_t i = 0; i < N; i++)
    for (int64_t bl = 0; bl < nb; bl++) {
      const int64_t s0 = bl * LB, len = S - s0 < LB ? S - s0 : LB;
      const float *xb = x->data + i * C * S + s0;
      const uint8_t *lab = labels + i * S + s0;
      double *pa = part + (i * nb + bl) * stride;
      float m[LB], se[LB], lse_local[LB];
      float *lse = lse_all ? lse_all + i * S + s0 : lse_local;
      for (int64_t s = 0; s < len; s++) { m[s] = -INFINITY; se[s] = 0; }
      for (int64_t k = 0; k < C; k++)
        for (int64_t s = 0; s < len; s++) m[s] = xb[k * S + s] > m[s] ? xb[k * S + s] : m[s];
      float pb[C <= PB_C ? C * LB : 1];
      const bool keep = dice && C <= PB_C;
      for (int64_t k = 0; k < C; k++)
        for (int64_t s = 0; s < len; s++) {
          const float e = expf(xb[k * S + s] - m[s]);
          if (keep) pb[k * LB + s] = e;
          se[s] += e;
        }
      for (int64_t s = 0; s < len; s++) lse[s] = m[s] + logf(se[s]);
      if (keep) /* exp(x - m) / sum = softmax */
        for (int64_t s = 0; s < len; s++) se[s] = 1.0f / se[s];
      double ce = 0, ws = 0;
      for (int64_t s = 0; s < len; s++) {
        if ((int)lab[s] == ign) continue;
        const float w = cw[lab[s]];
        ce += (double)w * (lse[s] - xb[lab[s] * S + s]);
        ws += w;
      }
      pa[0] = ce;
      pa[1] = ws;
      for (int64_t k = 0; k < C; k++) {
        float I = 0, P = 0, G = 0;
        if (dice && k >= c0) {
          const float *xk = xb + k * S;
          for (int64_t s = 0; s < len; s++) {
            if ((int)lab[s] == ign) continue;
            const float pr = keep ? pb[k * LB + s] * se[s] : expf(xk[s] - lse[s]), is = lab[s] == k ? 1.0f : 0.0f;
            I += pr * is;
            P += pr;
            G += is;
          }
        }
        pa[2 + 3 * k] = I;
        pa[3 + 3 * k] = P;
        pa[4 + 3 * k] = G;
      }
    }
  /* fixed-order reduction */
  double ce = 0, ws = 0;
  double *acc = calloc((size_t)(groups * C * 3), sizeof(double));
  if (!acc) {
    ps_error(PS_ERR_NOMEM, "%s: out of memory", op);
    return NULL;
  }
  for (int64_t i = 0; i < N; i++)
    for (int64_t bl = 0; bl < nb; bl++) {
      const double *pa = part + (i * nb + bl) * stride;
      ce += pa[0];
      ws += pa[1];
      double *ag = acc + (p.dice_batch ? 0 : i) * C * 3;
      for (int64_t k = 0; k < 3 * C; k++) ag[k] += pa[2 + k];
    }
  double loss = 0;
  if (wce != 0) loss += wce * (ws > 0 ? ce / ws : 0.0);
  float *A = NULL, *B = NULL;
  if (dice) {
    A = rec ? ps_tape_alloc(t, (size_t)(groups * C) * sizeof(float)) : NULL;
    B = rec ? ps_tape_alloc(t, (size_t)(groups * C) * sizeof(float)) : NULL;
    if (rec && (!A || !B)) { free(acc); return NULL; }
    const double sm = p.dice_smooth, kk = (double)(groups * K);
    double dsum = 0;
    for (int64_t gi = 0; gi < groups; gi++)
      for (int64_t k = 0; k < C; k++) {
        const double *a = acc + (gi * C + k) * 3;
        double den = a[1] + a[2] + sm;
        if (den < 1e-8) den = 1e-8;
        const double dc = (2 * a[0] + sm) / den;
        if (k >= c0) dsum += dc;
        if (A) {
          /* d(1 - mean dc)/dp = -(2 g - dc) / (den * groups * K) */
          A[gi * C + k] = k >= c0 ? (float)(-wdice * 2.0 / (den * kk)) : 0.0f;
          B[gi * C + k] = k >= c0 ? (float)(wdice * dc / (den * kk)) : 0.0f;
        }
      }
    loss += wdice * (1.0 - dsum / kk);
  }
  free(acc);
  ps_tensor *y = ps_tape_tensor(t, 1, (int64_t[]){1});
  if (!y) return NULL;
  y->data[0] = (float)loss;
  if (rec) {
    uint8_t *lc = ps_tape_alloc(t, (size_t)(N * S));
    if (!lc) return NULL;
    memcpy(lc, labels, (size_t)(N * S));
    *c = (loss_ctx){.N = N, .C = C, .S = S, .nb = nb, .labels = lc, .lse = lse_all, .cw = cw, .ignore = ign,
                    .ce_scale = ws > 0 ? (float)(wce / ws) : 0.0f, .dice = dice, .A = A, .B = B, .dice_batch = p.dice_batch};
    PS_OP_RECORD(t, op, loss_backward, y, 1, &x, c);
  }
  return y;
}

ps_tensor *ps_cross_entropy(ps_tape *t, ps_tensor *logits, const uint8_t *labels, const ps_loss_params *p) {
  return loss_core(t, logits, labels, p, 1.0f, 0.0f, "ps_cross_entropy");
}

ps_tensor *ps_soft_dice_loss(ps_tape *t, ps_tensor *logits, const uint8_t *labels, const ps_loss_params *p) {
  return loss_core(t, logits, labels, p, 0.0f, 1.0f, "ps_soft_dice_loss");
}

ps_tensor *ps_dice_ce_loss(ps_tape *t, ps_tensor *logits, const uint8_t *labels, const ps_loss_params *p) {
  ps_loss_params d = p ? *p : ps_loss_params_default();
  return loss_core(t, logits, labels, &d, d.weight_ce, d.weight_dice, "ps_dice_ce_loss");
}
