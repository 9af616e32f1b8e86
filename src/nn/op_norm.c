/* Instance norm (per (n, c) over D*H*W) and batch norm (per c over N*D*H*W),
 * both with optional affine gamma/beta [C], and instance norm fused with a
 * ReLU/LeakyReLU (one pass to write y, one backward pass through both). The
 * statistics (mean, 1/std per group) are kept in tape buffers for backward;
 * the kernels are the backend's norm_stats / norm_apply / norm_backward. */
#include "op_internal.h"
#include <math.h>
#include <string.h>

typedef struct {
  ps_norm_geom g;
  bool batch_stats;   /* false: BN eval, mean/rstd are constants */
  float *mean, *rstd; /* backend [groups] */
} norm_ctx;

static ps_status norm_backward(ps_tape *t, ps_node *n) {
  const norm_ctx *c = n->ctx;
  ps_backend *be = ps_tape_backend(t);
  ps_tensor *x = n->in[0], *gamma = n->in[1], *beta = n->in[2];
  float *gx, *gg, *gb;
  bool fx, fg, fb;
  PS_TRY(ps_op_grad(t, x, &gx, &fx));
  PS_TRY(ps_op_grad(t, gamma, &gg, &fg));
  PS_TRY(ps_op_grad(t, beta, &gb, &fb));
  return be->norm_backward(be, &c->g, x->data, c->mean, c->rstd, gamma ? gamma->data : NULL,
                           beta ? beta->data : NULL, c->g.act != PS_ACT_NONE ? n->out->data : NULL, n->out->grad,
                           c->batch_stats, gx, !fx, gg, !fg, gb, !fb);
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

/* y = the norm of x with c's statistics; fused_eps: the statistics are still
 * to be taken, by the backend's norm_forward together with y */
static ps_tensor *norm_finish(ps_tape *t, const char *op, norm_ctx *c, ps_tensor *x, ps_tensor *gamma, ps_tensor *beta,
                              double t0, const float *fused_eps) {
  ps_backend *be = ps_tape_backend(t);
  ps_tensor *y = ps_tape_tensor_like(t, x);
  if (!y) return NULL;
  const float *gd = gamma ? gamma->data : NULL, *bd = beta ? beta->data : NULL;
  if (fused_eps)
    PS_TRY_NULL(be->norm_forward(be, &c->g, x->data, *fused_eps, gd, bd, c->mean, c->rstd, y->data));
  else
    PS_TRY_NULL(be->norm_apply(be, &c->g, x->data, c->mean, c->rstd, gd, bd, y->data));
  ps_tape_prof_end(t, PS_OPK_NORM, t0);
  ps_tensor *in[3] = {x, gamma, beta};
  PS_OP_RECORD(t, op, PS_OPK_NORM, norm_backward, y, 3, in, c);
  return y;
}

/* mean/rstd buffers of G groups */
static norm_ctx *norm_ctx_new(ps_tape *t, ps_norm_geom g, int64_t G, bool batch_stats) {
  norm_ctx *c = ps_tape_alloc(t, sizeof *c);
  if (!c) return NULL;
  c->g = g;
  c->batch_stats = batch_stats;
  c->mean = ps_tape_buffer(t, (size_t)G * sizeof(float));
  c->rstd = ps_tape_buffer(t, (size_t)G * sizeof(float));
  return c->mean && c->rstd ? c : NULL;
}

ps_tensor *ps_instance_norm_act(ps_tape *t, ps_tensor *x, ps_tensor *gamma, ps_tensor *beta, float eps, ps_act act,
                                float slope) {
  if (!ps_op_check_ndim("ps_instance_norm", "x", x, -3) || !check_affine("ps_instance_norm", x, gamma, beta)) return NULL;
  const int64_t N = x->shape[0], C = x->shape[1], S = ps_op_inner(x, 2);
  if (S < 1) {
    ps_error(PS_ERR_INVALID, "ps_instance_norm: empty spatial size");
    return NULL;
  }
  ps_backend *be = ps_tape_backend(t);
  const ps_norm_geom g = {.N = N, .C = C, .S = S, .per_sample = true, .act = act, .slope = slope};
  if (!be->supports(be, PS_OPK_NORM, &g)) {
    /* the backend has no fused kernel for this activation: norm, then the activation op */
    ps_tensor *y = ps_instance_norm_act(t, x, gamma, beta, eps, PS_ACT_NONE, 0.0f);
    if (!y || act == PS_ACT_NONE) return y;
    return act == PS_ACT_LEAKY_RELU ? ps_leaky_relu(t, y, slope) : act == PS_ACT_RELU ? ps_relu(t, y)
           : act == PS_ACT_SIGMOID ? ps_sigmoid(t, y) : ps_tanh(t, y);
  }
  norm_ctx *c = norm_ctx_new(t, g, N * C, true);
  if (!c) return NULL;
  const double t0 = ps_tape_prof_begin(t);
  const char *op = act == PS_ACT_NONE ? "instance_norm" : "instance_norm_act";
  if (be->norm_forward) return norm_finish(t, op, c, x, gamma, beta, t0, &eps);
  PS_TRY_NULL(be->norm_stats(be, &c->g, x->data, eps, c->mean, c->rstd, NULL));
  return norm_finish(t, op, c, x, gamma, beta, t0, NULL);
}

ps_tensor *ps_instance_norm(ps_tape *t, ps_tensor *x, ps_tensor *gamma, ps_tensor *beta, float eps) {
  return ps_instance_norm_act(t, x, gamma, beta, eps, PS_ACT_NONE, 0.0f);
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
  ps_backend *be = ps_tape_backend(t);
  norm_ctx *c = norm_ctx_new(t, (ps_norm_geom){.N = N, .C = C, .S = S, .per_sample = false}, C, training);
  if (!c) return NULL;
  const double t0 = ps_tape_prof_begin(t);
  if (training) {
    float *var = ps_tape_buffer(t, (size_t)C * sizeof(float));
    if (!var) return NULL;
    PS_TRY_NULL(be->norm_stats(be, &c->g, x->data, eps, c->mean, c->rstd, var));
    if (running_mean && running_var)
      PS_TRY_NULL(be->bn_running_update(be, C, N * S, momentum, c->mean, var, running_mean, running_var));
  } else {
    PS_TRY_NULL(be->bn_eval_stats(be, C, running_mean, running_var, eps, c->mean, c->rstd));
  }
  return norm_finish(t, "batch_norm", c, x, gamma, beta, t0, NULL);
}
