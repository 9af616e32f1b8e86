/* SCNAS Algorithm 1 (Kim et al., MICCAI 2019): Gumbel-softmax relaxation of
 * each edge's operation choice, the pair probabilities q{o1,o2}, sampling one
 * pair, and the tape op whose output is the renormalised weights of the ops
 * an edge computes, with gradients to the architecture logits alpha. */
#include "op_internal.h"
#include "proxyseg/nn.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Gumbel(0,1): -log(-log u), u in (0,1) (a draw of exactly 0 is redrawn). */
static double gumbel(ps_rng *rng) {
  double u;
  do u = ps_rng_uniform(rng);
  while (u <= 0.0);
  return -log(-log(u));
}

void ps_nas_gumbel_softmax(const float *alpha, int n, double tau, ps_rng *rng, double *eps, double *zbar) {
  double mx = -INFINITY;
  for (int o = 0; o < n; o++) {
    double e = rng ? gumbel(rng) : 0.0;
    if (eps) eps[o] = e;
    zbar[o] = ((double)alpha[o] + e) / tau;
    if (zbar[o] > mx) mx = zbar[o];
  }
  double s = 0;
  for (int o = 0; o < n; o++) s += (zbar[o] = exp(zbar[o] - mx));
  for (int o = 0; o < n; o++) zbar[o] /= s;
}

void ps_nas_pair_probs(const double *zbar, int n, double *q) {
  int k = 0;
  for (int a = 0; a < n; a++)
    for (int b = a + 1; b < n; b++) q[k++] = (zbar[a] + zbar[b]) / (double)(n - 1);
}

void ps_nas_sample_pair(const double *zbar, int n, ps_rng *rng, int *o1, int *o2) {
  /* q sums to 1: every op is in n-1 pairs, so sum_pairs (z_a + z_b) = (n-1) sum z */
  double u = ps_rng_uniform(rng), c = 0;
  int la = 0, lb = 1;
  for (int a = 0; a < n; a++)
    for (int b = a + 1; b < n; b++) {
      double q = (zbar[a] + zbar[b]) / (double)(n - 1);
      if (q > 0) la = a, lb = b;   /* rounding: u beyond the last sum falls on the last possible pair */
      c += q;
      if (u < c) { *o1 = a; *o2 = b; return; }
    }
  *o1 = la;
  *o2 = lb;
}

/* ---- the edge-weights op ---- */
typedef struct {
  int E, n, m;
  double tau;
  uint8_t *sel, *emit;   /* [E*n], [n] */
  double *w;             /* [E*n]: renormalised weights of the selected ops (0 elsewhere) */
} ew_ctx;

/* alpha grad: w = softmax of s = (alpha+eps)/tau restricted to the selected set S, so
 * dL/ds_k = w_k (g_k - sum_{o in S} g_o w_o) for k in S (0 elsewhere), dL/dalpha = dL/ds / tau.
 * Ops that emit nothing (zero) have g = 0 but still take part through the normalisation. */
static ps_status ew_backward(ps_tape *t, ps_node *nd) {
  const ew_ctx *c = nd->ctx;
  ps_tensor *alpha = nd->in[0];
  ps_backend *be = ps_tape_backend(t);
  float *ga;
  bool fresh;
  PS_TRY(ps_op_grad(t, alpha, &ga, &fresh));
  if (!ga) return PS_OK;
  const size_t En = (size_t)c->E * c->n;
  float *gy = ps_tape_alloc(t, (size_t)(c->m ? c->m : 1) * sizeof(float));
  float *gh = ps_tape_alloc(t, En * sizeof(float));
  if (!gy || !gh) return ps_error(PS_ERR_NOMEM, "nas_edge_weights backward: out of memory");
  PS_TRY(be->to_host(be, gy, nd->out->grad, (size_t)c->m * sizeof(float)));
  if (fresh) memset(gh, 0, En * sizeof(float));
  else PS_TRY(be->to_host(be, gh, ga, En * sizeof(float)));
  int k = 0;
  for (int e = 0; e < c->E; e++) {
    const uint8_t *sel = c->sel + (size_t)e * c->n;
    const double *w = c->w + (size_t)e * c->n;
    double g[64] = {0}, dot = 0;
    for (int o = 0; o < c->n; o++)
      if (sel[o]) {
        g[o] = c->emit[o] ? gy[k++] : 0.0;
        dot += g[o] * w[o];
      }
    for (int o = 0; o < c->n; o++)
      if (sel[o]) gh[(size_t)e * c->n + o] += (float)(w[o] * (g[o] - dot) / c->tau);
  }
  return be->to_backend(be, ga, gh, En * sizeof(float));
}

ps_tensor *ps_nas_edge_weights(ps_tape *t, ps_tensor *alpha, const double *eps, double tau, const uint8_t *sel,
                               const uint8_t *emit) {
  if (!ps_op_check_ndim("ps_nas_edge_weights", "alpha", alpha, 2)) return NULL;
  const int E = (int)alpha->shape[0], n = (int)alpha->shape[1];
  if (n < 2 || n > 64 || !(tau > 0)) {
    ps_error(PS_ERR_INVALID, "ps_nas_edge_weights: %d ops (2..64) and tau %g (> 0)", n, tau);
    return NULL;
  }
  const size_t En = (size_t)E * n;
  ew_ctx *c = ps_tape_alloc(t, sizeof *c);
  float *ah = ps_tape_alloc(t, En * sizeof(float));
  if (!c || !ah) return NULL;
  *c = (ew_ctx){.E = E, .n = n, .tau = tau};
  c->sel = ps_tape_alloc(t, En);
  c->emit = ps_tape_alloc(t, (size_t)n);
  c->w = ps_tape_alloc(t, En * sizeof(double));
  if (!c->sel || !c->emit || !c->w) return NULL;
  memcpy(c->sel, sel, En);
  memcpy(c->emit, emit, (size_t)n);
  ps_backend *be = ps_tape_backend(t);
  PS_TRY_NULL(be->to_host(be, ah, alpha->data, En * sizeof(float)));
  int m = 0;
  for (int e = 0; e < E; e++) {
    const uint8_t *s = sel + (size_t)e * n;
    double *w = c->w + (size_t)e * n, mx = -INFINITY, sum = 0;
    int cnt = 0;
    for (int o = 0; o < n; o++) {
      w[o] = 0;
      if (!s[o]) continue;
      cnt++;
      double v = ((double)ah[(size_t)e * n + o] + (eps ? eps[(size_t)e * n + o] : 0.0)) / tau;
      if (v > mx) mx = v;
    }
    if (!cnt) {
      ps_error(PS_ERR_INVALID, "ps_nas_edge_weights: edge %d selects no operation", e);
      return NULL;
    }
    /* the same value as z̄_o / sum_S z̄ (softmax's normaliser cancels), computed stably */
    for (int o = 0; o < n; o++)
      if (s[o]) sum += (w[o] = exp(((double)ah[(size_t)e * n + o] + (eps ? eps[(size_t)e * n + o] : 0.0)) / tau - mx));
    for (int o = 0; o < n; o++) {
      w[o] /= sum;
      if (s[o] && emit[o]) m++;
    }
  }
  c->m = m;
  int64_t shape[2] = {1, m ? m : 1};
  ps_tensor *y = ps_tape_tensor_zeros(t, 2, shape);
  float *yh = ps_tape_alloc(t, (size_t)shape[1] * sizeof(float));
  if (!y || !yh) return NULL;
  int k = 0;
  memset(yh, 0, (size_t)shape[1] * sizeof(float));
  for (int e = 0; e < E; e++)
    for (int o = 0; o < n; o++)
      if (sel[(size_t)e * n + o] && emit[o]) yh[k++] = (float)c->w[(size_t)e * n + o];
  PS_TRY_NULL(be->to_backend(be, y->data, yh, (size_t)shape[1] * sizeof(float)));
  PS_OP_RECORD(t, "nas_edge_weights", PS_OPK_OTHER, ew_backward, y, 1, &alpha, c);
  return y;
}
