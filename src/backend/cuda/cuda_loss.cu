/* Segmentation losses on the GPU, the same definitions as src/nn/loss.c:
 * cross-entropy (PyTorch's weighted mean with an ignore label), soft Dice on the
 * softmax (per sample or batch, background optional, smooth term, ignored voxels
 * masked) and their weighted sum. Forward: one pass over the logits (log-sum-exp
 * per voxel, CE and Dice partial sums per block in double), then one block that
 * combines the partials in a fixed order, writes the loss and the backward
 * coefficients on the device (no host round trip). Backward: one pass. */
#include "cuda_common.h"
#include <math.h>

#define LCHUNK 4096 /* voxels per block in the forward pass */


struct loss_g {
  int64_t N, C, S, bps, nq; /* nq = 2 + 3C quantities per block: ce, weight sum, then I, P, G per class */
  int ignore, c0, groups;
  bool dice, keep, batch;
  float smooth, wce, wdice;
};

/* per block of voxels of sample blockIdx.y: partial sums, lse saved when keep */
__global__ void k_loss_fwd(loss_g g, const float *x, const uint8_t *lab, const float *cw, float *lse_out, double *part,
                           int32_t *bad) {
  const int64_t n = blockIdx.y, lo = (int64_t)blockIdx.x * LCHUNK;
  const int64_t hi = lo + LCHUNK < g.S ? lo + LCHUNK : g.S;
  const float *xb = x + n * g.C * g.S;
  const uint8_t *lb = lab + n * g.S;
  double *pa = part + (n * g.bps + blockIdx.x) * g.nq;
  /* every quantity is reduced over the block in turn; a thread visits its voxels once per class chunk */
  double ce = 0, ws = 0;
  for (int64_t s = lo + threadIdx.x; s < hi; s += blockDim.x) {
    const int l = lb[s];
    float m = -INFINITY;
    for (int64_t k = 0; k < g.C; k++) m = fmaxf(m, xb[k * g.S + s]);
    float se = 0;
    for (int64_t k = 0; k < g.C; k++) se += expf(xb[k * g.S + s] - m);
    const float lse = m + logf(se);
    if (g.keep) lse_out[n * g.S + s] = lse;
    if (l == g.ignore) continue;
    if (l >= g.C) {
      atomicMin(bad, (int32_t)((n * g.S + s) > INT32_MAX - 1 ? INT32_MAX - 1 : n * g.S + s));
      continue;
    }
    const float w = cw ? cw[l] : 1.0f;
    ce += (double)w * (lse - xb[(int64_t)l * g.S + s]);
    ws += w;
  }
  ce = ps_block_sum(ce);
  ws = ps_block_sum(ws);
  if (threadIdx.x == 0) {
    pa[0] = ce;
    pa[1] = ws;
  }
  for (int64_t k = 0; k < g.C; k++) {
    double I = 0, P = 0, G = 0;
    if (g.dice && k >= g.c0)
      for (int64_t s = lo + threadIdx.x; s < hi; s += blockDim.x) {
        const int l = lb[s];
        if (l == g.ignore || l >= g.C) continue;
        /* lse recomputed when not kept: the forward-only (validation) path stores nothing */
        float lse;
        if (g.keep) lse = lse_out[n * g.S + s];
        else {
          float m = -INFINITY, se = 0;
          for (int64_t j = 0; j < g.C; j++) m = fmaxf(m, xb[j * g.S + s]);
          for (int64_t j = 0; j < g.C; j++) se += expf(xb[j * g.S + s] - m);
          lse = m + logf(se);
        }
        const float p = expf(xb[k * g.S + s] - lse), is = l == k ? 1.0f : 0.0f;
        I += p * is;
        P += p;
        G += is;
      }
    I = ps_block_sum(I);
    P = ps_block_sum(P);
    G = ps_block_sum(G);
    if (threadIdx.x == 0) {
      pa[2 + 3 * k] = I;
      pa[3 + 3 * k] = P;
      pa[4 + 3 * k] = G;
    }
  }
}

/* one block: acc[n][q] = sum over blocks (fixed order), then thread 0 the loss and coefficients */
__global__ void k_loss_final(loss_g g, const double *part, double *acc, float *loss, float *coef) {
  for (int64_t t = threadIdx.x; t < g.N * g.nq; t += blockDim.x) {
    const int64_t n = t / g.nq, q = t % g.nq;
    double s = 0;
    for (int64_t b = 0; b < g.bps; b++) s += part[(n * g.bps + b) * g.nq + q];
    acc[t] = s;
  }
  __syncthreads();
  if (threadIdx.x != 0) return;
  double ce = 0, ws = 0;
  for (int64_t n = 0; n < g.N; n++) {
    ce += acc[n * g.nq];
    ws += acc[n * g.nq + 1];
  }
  double L = 0;
  if (g.wce != 0) L += g.wce * (ws > 0 ? ce / ws : 0.0);
  const int64_t C = g.C, K = C - g.c0;
  float *A = coef, *B = coef + g.groups * C;
  if (g.dice) {
    const double kk = (double)(g.groups * K);
    double dsum = 0;
    for (int64_t gi = 0; gi < g.groups; gi++)
      for (int64_t k = 0; k < C; k++) {
        double I = 0, P = 0, G = 0;
        for (int64_t n = 0; n < g.N; n++) {
          if (!g.batch && n != gi) continue;
          I += acc[n * g.nq + 2 + 3 * k];
          P += acc[n * g.nq + 3 + 3 * k];
          G += acc[n * g.nq + 4 + 3 * k];
        }
        double den = P + G + g.smooth;
        if (den < 1e-8) den = 1e-8;
        const double dc = (2 * I + g.smooth) / den;
        if (k >= g.c0) dsum += dc;
        if (g.keep) {
          A[gi * C + k] = k >= g.c0 ? (float)(-g.wdice * 2.0 / (den * kk)) : 0.0f;
          B[gi * C + k] = k >= g.c0 ? (float)(g.wdice * dc / (den * kk)) : 0.0f;
        }
      }
    L += g.wdice * (1.0 - dsum / kk);
  }
  if (g.keep) coef[2 * g.groups * C] = ws > 0 ? (float)(g.wce / ws) : 0.0f;
  loss[0] = (float)L;
}

static loss_g loss_geom(const ps_cuda_loss_geom *p, bool keep) {
  loss_g g;
  g.N = p->N;
  g.C = p->C;
  g.S = p->S;
  g.bps = (p->S + LCHUNK - 1) / LCHUNK;
  g.nq = 2 + 3 * p->C;
  g.ignore = p->ignore_label;
  g.c0 = p->include_background ? 0 : 1;
  g.groups = p->dice_batch ? 1 : (int)p->N;
  g.dice = p->wdice != 0;
  g.keep = keep;
  g.batch = p->dice_batch;
  g.smooth = p->smooth;
  g.wce = p->wce;
  g.wdice = p->wdice;
  return g;
}

extern "C" void ps_cuda_loss_state_free(ps_cuda *c, ps_cuda_loss_state *st) {
  if (!st) return;
  ps_cuda_release(c, st->lse);
  ps_cuda_release(c, st->coef);
  ps_cuda_release(c, st->part);
  ps_cuda_release(c, st->bad);
  st->lse = st->coef = NULL;
  st->part = NULL;
  st->bad = NULL;
}

extern "C" ps_status ps_cuda_loss_forward(ps_cuda *c, const ps_cuda_loss_geom *p, const float *logits,
                                          const uint8_t *labels, float *loss, ps_cuda_loss_state *st,
                                          bool keep_for_backward) {
  const loss_g g = loss_geom(p, keep_for_backward);
  if (g.N < 1 || g.C < 1 || g.C > 256 || g.S < 1)
    return ps_error(PS_ERR_INVALID, "cuda loss: need 1..256 classes and a non-empty batch");
  if (g.dice && g.C - g.c0 < 1) return ps_error(PS_ERR_INVALID, "cuda loss: soft Dice without background needs 2 classes");
  if (g.N > 65535) return ps_error(PS_ERR_UNSUPPORTED, "cuda loss: batch over 65535");
  ps_cuda_loss_state s = {NULL, NULL, NULL, NULL};
  const size_t part_n = (size_t)(g.N * g.bps * g.nq) + (size_t)(g.N * g.nq);
  s.part = (double *)ps_cuda_alloc(c, part_n * sizeof(double));
  s.bad = (int32_t *)ps_cuda_alloc(c, sizeof(int32_t));
  s.coef = (float *)ps_cuda_alloc(c, (size_t)(2 * g.groups * g.C + 1) * sizeof(float));
  if (keep_for_backward) s.lse = (float *)ps_cuda_alloc(c, (size_t)(g.N * g.S) * sizeof(float));
  if (!s.part || !s.bad || !s.coef || (keep_for_backward && !s.lse)) {
    ps_cuda_loss_state_free(c, &s);
    return ps_error_prefix(PS_ERR_NOMEM, "cuda loss: ");
  }
  ps_status e = PS_OK;
  const int32_t none = INT32_MAX;
  int32_t bad = none;
  if ((e = ps_cuda_h2d(c, s.bad, &none, sizeof none))) goto fail;
  k_loss_fwd<<<dim3((unsigned)g.bps, (unsigned)g.N), PS_CUDA_THREADS, 0, c->stream>>>(g, logits, labels, p->class_weights,
                                                                                       s.lse, s.part, s.bad);
  k_loss_final<<<1, PS_CUDA_THREADS, 0, c->stream>>>(g, s.part, s.part + g.N * g.bps * g.nq, loss, s.coef);
  if ((e = ps_cuda_check_launch("loss forward"))) goto fail;
  /* a label outside the classes is bad input, as on the CPU: one 4-byte read-back */
  if ((e = ps_cuda_d2h(c, &bad, s.bad, sizeof bad))) goto fail;
  if (bad != none) {
    e = ps_error(PS_ERR_INVALID, "cuda loss: a label at voxel %d is not a class of %lld (ignore_label %d)", (int)bad,
                 (long long)g.C, g.ignore);
    goto fail;
  }
  if (!keep_for_backward) {
    ps_cuda_loss_state_free(c, &s);
    if (st) *st = s;
    return PS_OK;
  }
  if (st) *st = s;
  else ps_cuda_loss_state_free(c, &s);
  return PS_OK;
fail:
  ps_cuda_loss_state_free(c, &s);
  return e;
}

__global__ void k_loss_bwd(loss_g g, const float *x, const uint8_t *lab, const float *cw, const float *lse_all,
                           const float *coef, const float *up, float *dx, bool acc) {
  const float ce_scale = coef[2 * g.groups * g.C];
  const float u = up ? up[0] : 1.0f;
  PS_CUDA_LOOP(i, g.N * g.S) {
    const int64_t n = i / g.S, s = i % g.S;
    const float *xb = x + n * g.C * g.S + s;
    float *gb = dx + n * g.C * g.S + s;
    const int l = lab[i];
    const bool ign = l == g.ignore;
    const float lse = lse_all[i];
    const float *A = coef + (g.batch ? 0 : n) * g.C, *B = coef + g.groups * g.C + (g.batch ? 0 : n) * g.C;
    const float cew = ign ? 0.0f : ce_scale * (cw ? cw[l] : 1.0f);
    float dot = 0;
    if (g.dice)
      for (int64_t k = 0; k < g.C; k++) dot += expf(xb[k * g.S] - lse) * (A[k] * (l == k) + B[k]);
    for (int64_t k = 0; k < g.C; k++) {
      const float p = expf(xb[k * g.S] - lse), is = l == k ? 1.0f : 0.0f;
      float v = cew * (p - is);
      if (g.dice && !ign) v += p * (A[k] * is + B[k] - dot);
      v *= u;
      gb[k * g.S] = acc ? gb[k * g.S] + v : v;
    }
  }
}

extern "C" ps_status ps_cuda_loss_backward(ps_cuda *c, const ps_cuda_loss_geom *p, const float *logits,
                                           const uint8_t *labels, const ps_cuda_loss_state *st, const float *up,
                                           float *dx, bool acc) {
  if (!st || !st->lse || !st->coef) return ps_error(PS_ERR_INVALID, "cuda loss backward: forward kept no state");
  const loss_g g = loss_geom(p, true);
  k_loss_bwd<<<ps_cuda_grid(g.N * g.S), PS_CUDA_THREADS, 0, c->stream>>>(g, logits, labels, p->class_weights, st->lse,
                                                                         st->coef, up, dx, acc);
  return ps_cuda_check_launch("loss backward");
}

__global__ void k_labels_check(const uint8_t *lab, int64_t n, int C, int ignore, int32_t *bad) {
  PS_CUDA_LOOP(i, n) {
    const int l = lab[i];
    if (l >= C && l != ignore) atomicMin(bad, (int32_t)(i > INT32_MAX - 1 ? INT32_MAX - 1 : i));
  }
}
extern "C" ps_status ps_cuda_labels_check(ps_cuda *c, const uint8_t *labels, int64_t n, int C, int ignore,
                                          int64_t *bad_voxel) {
  const int32_t none = INT32_MAX;
  int32_t bad = none;
  ps_status e;
  if ((e = ps_cuda_h2d(c, c->flag, &none, sizeof none))) return e;
  if (n > 0) k_labels_check<<<ps_cuda_grid(n), PS_CUDA_THREADS, 0, c->stream>>>(labels, n, C, ignore, (int32_t *)c->flag);
  if ((e = ps_cuda_check_launch("labels check")) || (e = ps_cuda_d2h(c, &bad, c->flag, sizeof bad))) return e;
  *bad_voxel = bad == none ? -1 : bad;
  return PS_OK;
}
