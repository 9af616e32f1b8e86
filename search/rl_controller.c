/* The RL controller: LSTM (PyTorch gate order i, f, g, o) over the previous
 * strategy, a linear head, and the policy's distribution math. The network is
 * built from tape ops (linear, sigmoid, tanh, mul, add, slice, concat,
 * softmax); the Beta/categorical log-densities are closed-form C (lgamma,
 * digamma) whose derivatives w.r.t. the head's outputs seed the tape. */
#include "rl_controller.h"
#include <gsl/gsl_sf_psi.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Continuous keys use Beta(α, β) with α, β = 1 + softplus(u): both > 1, so the
 * density is unimodal and bounded on [0, 1], never U-shaped, and the mode can
 * still sit arbitrarily close to either end as u grows. */
#define RL_XEPS 1e-6 /* samples are kept inside (0, 1) so log x, log(1-x) stay finite */

struct rl_controller {
  int d, H, M;
  int *n_cat;   /* per key: 0 continuous, else number of choices */
  int *off;     /* per key: offset in the step output */
  ps_params *params;
  ps_tensor *w_gate, *b_gate, *w_out, *b_out;
};

int rl_ctrl_dim(const rl_controller *c) { return c->d; }
int rl_ctrl_out_width(const rl_controller *c) { return c->M; }
ps_params *rl_ctrl_params(rl_controller *c) { return c->params; }

void rl_ctrl_free(rl_controller *c) {
  if (!c) return;
  ps_params_free(c->params);
  free(c->n_cat);
  free(c->off);
  free(c);
}

rl_controller *rl_ctrl_create(const ps_space *s, int hidden, uint64_t init_seed) {
  rl_controller *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->d = s->n;
  c->H = hidden;
  c->n_cat = calloc((size_t)c->d, sizeof *c->n_cat);
  c->off = calloc((size_t)c->d, sizeof *c->off);
  c->params = ps_params_create();
  if (!c->n_cat || !c->off || !c->params) { rl_ctrl_free(c); return NULL; }
  for (int i = 0; i < c->d; i++) {
    c->off[i] = c->M;
    c->n_cat[i] = s->params[i].kind == PS_PARAM_CATEGORICAL ? s->params[i].n_choices : 0;
    c->M += c->n_cat[i] ? c->n_cat[i] : 2;
  }
  int64_t sg[2] = {4 * hidden, c->d + hidden}, sb[1] = {4 * hidden}, so[2] = {c->M, hidden}, sbo[1] = {c->M};
  c->w_gate = ps_params_add(c->params, "lstm.weight", 2, sg);
  c->b_gate = ps_params_add(c->params, "lstm.bias", 1, sb);
  c->w_out = ps_params_add(c->params, "head.weight", 2, so);
  c->b_out = ps_params_add(c->params, "head.bias", 1, sbo);
  if (!c->w_gate || !c->b_gate || !c->w_out || !c->b_out || ps_params_finalize(c->params)) { rl_ctrl_free(c); return NULL; }
  /* PyTorch's LSTM init U(-1/sqrt(H), 1/sqrt(H)), forget-gate bias +1 so the
   * chain remembers; a small head so the first policy is close to the
   * symmetric Beta(1.69, 1.69) / uniform categorical whatever the input. */
  ps_rng *rng = ps_rng_create(init_seed);
  if (!rng) { rl_ctrl_free(c); return NULL; }
  double k = 1.0 / sqrt((double)hidden);
  for (int64_t i = 0; i < c->w_gate->numel; i++) c->w_gate->data[i] = (float)ps_rng_uniform_range(rng, -k, k);
  for (int64_t i = 0; i < c->b_gate->numel; i++) c->b_gate->data[i] = (float)ps_rng_uniform_range(rng, -k, k);
  for (int i = hidden; i < 2 * hidden; i++) c->b_gate->data[i] += 1.0f;
  for (int64_t i = 0; i < c->w_out->numel; i++) c->w_out->data[i] = (float)ps_rng_uniform_range(rng, -0.1 * k, 0.1 * k);
  ps_rng_free(rng);
  return c;
}

ps_status rl_ctrl_step(rl_controller *c, ps_tape *t, const double *x_prev, ps_tensor *h, ps_tensor *cell,
                       ps_tensor **h_out, ps_tensor **cell_out, ps_tensor **out) {
  const int H = c->H;
  int64_t sx[2] = {1, c->d}, sh[2] = {1, H};
  ps_tensor *x = ps_tape_tensor(t, 2, sx);
  if (!h) h = ps_tape_tensor_zeros(t, 2, sh);
  if (!cell) cell = ps_tape_tensor_zeros(t, 2, sh);
  if (!x || !h || !cell) return PS_ERR_NOMEM;
  for (int i = 0; i < c->d; i++) x->data[i] = (float)x_prev[i];
  ps_tensor *xh_in[2] = {x, h};
  ps_tensor *xh = ps_concat(t, 2, xh_in);                          /* [1, d+H] */
  ps_tensor *z = xh ? ps_linear(t, xh, c->w_gate, c->b_gate) : NULL; /* [1, 4H] */
  if (!z) return ps_error_prefix(PS_ERR_RUNTIME, "rl controller: ");
  ps_tensor *ig = ps_sigmoid(t, ps_slice(t, z, 0, H));
  ps_tensor *fg = ps_sigmoid(t, ps_slice(t, z, H, H));
  ps_tensor *gg = ps_tanh(t, ps_slice(t, z, 2 * H, H));
  ps_tensor *og = ps_sigmoid(t, ps_slice(t, z, 3 * H, H));
  if (!ig || !fg || !gg || !og) return ps_error_prefix(PS_ERR_RUNTIME, "rl controller: ");
  ps_tensor *c2 = ps_add(t, ps_mul(t, fg, cell), ps_mul(t, ig, gg)); /* [1, H] */
  ps_tensor *h2 = c2 ? ps_mul(t, og, ps_tanh(t, c2)) : NULL;
  ps_tensor *y = h2 ? ps_linear(t, h2, c->w_out, c->b_out) : NULL;   /* [1, M] */
  if (!y) return ps_error_prefix(PS_ERR_RUNTIME, "rl controller: ");
  /* categorical slices go through the tape's softmax; runs of continuous keys stay raw */
  bool any_cat = false;
  for (int i = 0; i < c->d; i++) any_cat |= c->n_cat[i] > 0;
  if (any_cat) {
    ps_tensor **pieces = ps_tape_alloc(t, (size_t)c->d * sizeof *pieces);
    if (!pieces) return PS_ERR_NOMEM;
    int np = 0;
    for (int i = 0; i < c->d;) {
      if (c->n_cat[i]) {
        pieces[np++] = ps_softmax(t, ps_slice(t, y, c->off[i], c->n_cat[i]));
        i++;
      } else {
        int j = i;
        while (j < c->d && !c->n_cat[j]) j++;
        int end = j < c->d ? c->off[j] : c->M;
        pieces[np++] = ps_slice(t, y, c->off[i], end - c->off[i]);
        i = j;
      }
      if (!pieces[np - 1]) return ps_error_prefix(PS_ERR_RUNTIME, "rl controller: ");
    }
    y = np == 1 ? pieces[0] : ps_concat(t, np, pieces);
    if (!y) return ps_error_prefix(PS_ERR_RUNTIME, "rl controller: ");
  }
  *h_out = h2;
  *cell_out = c2;
  *out = y;
  return PS_OK;
}

static double softplus(double u) { return u > 30 ? u : log1p(exp(u)); }
static double sigm(double u) { return 1.0 / (1.0 + exp(-u)); }
static double clampx(double x) { return x < RL_XEPS ? RL_XEPS : x > 1 - RL_XEPS ? 1 - RL_XEPS : x; }

static int cat_index(double x, int n) {
  int k = (int)floor(x * n);
  return k < 0 ? 0 : k >= n ? n - 1 : k;
}

double rl_ctrl_logp(const rl_controller *c, const float *out, const double *x, double *entropy, double *dlogp,
                    double *dent) {
  double lp = 0, ent = 0;
  for (int i = 0; i < c->d; i++) {
    const float *o = out + c->off[i];
    if (c->n_cat[i]) {
      int n = c->n_cat[i], k = cat_index(x[i], n);
      double pk = o[k] > 1e-30f ? o[k] : 1e-30;
      lp += log(pk);
      for (int j = 0; j < n; j++) {
        double pj = o[j] > 1e-30f ? o[j] : 1e-30;
        ent -= pj * log(pj);
        if (dlogp) dlogp[c->off[i] + j] = j == k ? 1.0 / pk : 0.0;
        if (dent) dent[c->off[i] + j] = -(log(pj) + 1.0);
      }
      continue;
    }
    double ua = o[0], ub = o[1];
    double a = 1 + softplus(ua), b = 1 + softplus(ub), xi = clampx(x[i]);
    double lbeta = lgamma(a) + lgamma(b) - lgamma(a + b);
    lp += (a - 1) * log(xi) + (b - 1) * log1p(-xi) - lbeta;
    double psa = gsl_sf_psi(a), psb = gsl_sf_psi(b), psab = gsl_sf_psi(a + b);
    /* H = ln B(α,β) − (α−1)ψ(α) − (β−1)ψ(β) + (α+β−2)ψ(α+β) */
    ent += lbeta - (a - 1) * psa - (b - 1) * psb + (a + b - 2) * psab;
    double da = sigm(ua), db = sigm(ub);
    if (dlogp) {
      dlogp[c->off[i]] = (log(xi) - psa + psab) * da;
      dlogp[c->off[i] + 1] = (log1p(-xi) - psb + psab) * db;
    }
    if (dent) {
      double t1a = gsl_sf_psi_1(a), t1b = gsl_sf_psi_1(b), t1ab = gsl_sf_psi_1(a + b);
      dent[c->off[i]] = (-(a - 1) * t1a + (a + b - 2) * t1ab) * da;
      dent[c->off[i] + 1] = (-(b - 1) * t1b + (a + b - 2) * t1ab) * db;
    }
  }
  if (entropy) *entropy = ent;
  return lp;
}

void rl_ctrl_sample(const rl_controller *c, const float *out, ps_rng *rng, double *x) {
  for (int i = 0; i < c->d; i++) {
    const float *o = out + c->off[i];
    if (c->n_cat[i]) {
      int n = c->n_cat[i], k = n - 1;
      double u = ps_rng_uniform(rng), acc = 0;
      for (int j = 0; j < n; j++) {
        acc += o[j];
        if (u < acc) { k = j; break; }
      }
      x[i] = (k + 0.5) / n;
    } else {
      x[i] = clampx(ps_rng_beta(rng, 1 + softplus(o[0]), 1 + softplus(o[1])));
    }
  }
}

ps_status rl_ctrl_chain(rl_controller *c, ps_tape *t, const double *anchor, const double *actions, int K,
                        ps_tensor **outs) {
  ps_tape_reset(t);
  ps_tensor *h = NULL, *cell = NULL;
  for (int k = 0; k < K; k++) {
    const double *prev = k ? actions + (size_t)(k - 1) * c->d : anchor;
    ps_status st = rl_ctrl_step(c, t, prev, h, cell, &h, &cell, &outs[k]);
    if (st) return st;
  }
  return PS_OK;
}

ps_status rl_ppo_loss(rl_controller *c, ps_tape *t, const double *anchor, const double *actions, int K,
                      const double *logp_old, const double *adv, double clip_eps, double ent_coef, bool want_grad,
                      double *loss) {
  ps_tensor **outs = malloc((size_t)K * sizeof *outs);
  double *dl = malloc((size_t)c->M * sizeof *dl), *de = malloc((size_t)c->M * sizeof *de);
  float *seed = malloc((size_t)K * c->M * sizeof *seed);
  ps_status st = outs && dl && de && seed ? PS_OK : ps_error(PS_ERR_NOMEM, "rl controller: out of memory");
  bool was = ps_tape_grad_enabled(t);
  ps_tape_set_grad_enabled(t, want_grad);
  if (!st) st = rl_ctrl_chain(c, t, anchor, actions, K, outs);
  ps_tape_set_grad_enabled(t, was);
  double L = 0;
  for (int k = 0; k < K && !st; k++) {
    double ent;
    double lp = rl_ctrl_logp(c, outs[k]->data, actions + (size_t)k * c->d, &ent, dl, de);
    double rho = exp(lp - logp_old[k]);
    double rc = rho < 1 - clip_eps ? 1 - clip_eps : rho > 1 + clip_eps ? 1 + clip_eps : rho;
    double surr = fmin(rho * adv[k], rc * adv[k]);
    L -= (surr + ent_coef * ent) / K;
    /* d(min)/dρ is A where the unclipped term is the smaller one, else 0 */
    double g_lp = rho * adv[k] <= rc * adv[k] ? -adv[k] * rho / K : 0.0;
    for (int m = 0; m < c->M; m++) seed[(size_t)k * c->M + m] = (float)(g_lp * dl[m] - ent_coef / K * de[m]);
  }
  if (!st && want_grad) {
    ps_params_zero_grad(c->params);
    ps_tensor *all = K == 1 ? outs[0] : ps_concat(t, K, outs); /* [1, K*M] */
    if (!all) st = ps_error_prefix(PS_ERR_RUNTIME, "rl controller: ");
    else st = ps_tape_backward_seed(t, all, seed);
  }
  if (!st && loss) *loss = L;
  free(outs);
  free(dl);
  free(de);
  free(seed);
  return st;
}
