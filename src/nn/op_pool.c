/* Max and average pooling over D, H, W of [N, C, D, H, W]: any kernel, stride
 * and padding (at most half the kernel, as PyTorch), floor output size. Max pool
 * pads with -inf and saves the argmax (index in the input plane, a tape
 * buffer) for backward; avg pool divides by the full kernel volume
 * (count_include_pad) or by the number of real voxels in the window. */
#include "op_internal.h"
#include <string.h>

typedef struct {
  ps_pool_geom g;
  int32_t *argmax;         /* max pool: backend [N*C*out volume] */
} pool_ctx;

static bool pool_setup(const char *op, const ps_tensor *x, const ps_pool_params *p, ps_pool_geom *c) {
  if (!ps_op_check_ndim(op, "x", x, 5)) return false;
  if (!p) {
    ps_error(PS_ERR_INVALID, "%s: pool params are NULL", op);
    return false;
  }
  char b[96];
  for (int d = 0; d < 3; d++) {
    if (p->kernel[d] < 1 || p->stride[d] < 1 || p->pad[d] < 0 || p->pad[d] > p->kernel[d] / 2) {
      ps_error(PS_ERR_INVALID, "%s: dim %d has kernel %d, stride %d, pad %d (need kernel, stride >= 1 and 0 <= pad <= kernel/2)",
               op, d, p->kernel[d], p->stride[d], p->pad[d]);
      return false;
    }
    c->in[d] = x->shape[2 + d];
    int64_t span = c->in[d] + 2 * p->pad[d] - p->kernel[d];
    if (span < 0) {
      ps_error(PS_ERR_INVALID, "%s: input %s is smaller than kernel %dx%dx%d with padding %d,%d,%d", op,
               ps_shape_str(x, b, sizeof b), p->kernel[0], p->kernel[1], p->kernel[2], p->pad[0], p->pad[1], p->pad[2]);
      return false;
    }
    c->out[d] = span / p->stride[d] + 1;
  }
  if (c->in[0] * c->in[1] * c->in[2] > INT32_MAX) {
    ps_error(PS_ERR_INVALID, "%s: input plane of %s is too large (over 2^31 voxels)", op, ps_shape_str(x, b, sizeof b));
    return false;
  }
  c->planes = x->shape[0] * x->shape[1];
  for (int d = 0; d < 3; d++) {
    c->k[d] = p->kernel[d];
    c->s[d] = p->stride[d];
    c->p[d] = p->pad[d];
  }
  c->count_include_pad = p->count_include_pad;
  return true;
}

static ps_status max_backward(ps_tape *t, ps_node *n) {
  const pool_ctx *c = n->ctx;
  ps_backend *be = ps_tape_backend(t);
  float *g;
  bool fresh;
  PS_TRY(ps_op_grad(t, n->in[0], &g, &fresh));
  return g ? be->maxpool_backward(be, &c->g, c->argmax, n->out->grad, g, !fresh) : PS_OK;
}

static ps_status avg_backward(ps_tape *t, ps_node *n) {
  const pool_ctx *c = n->ctx;
  ps_backend *be = ps_tape_backend(t);
  float *g;
  bool fresh;
  PS_TRY(ps_op_grad(t, n->in[0], &g, &fresh));
  return g ? be->avgpool_backward(be, &c->g, n->out->grad, g, !fresh) : PS_OK;
}

static ps_tensor *pool(ps_tape *t, ps_tensor *x, const ps_pool_params *p, bool max) {
  const char *op = max ? "ps_max_pool3d" : "ps_avg_pool3d";
  ps_pool_geom g;
  if (!pool_setup(op, x, p, &g)) return NULL;
  ps_backend *be = ps_tape_backend(t);
  if (!be->supports(be, PS_OPK_POOL, &g)) {
    ps_error(PS_ERR_UNSUPPORTED, "%s: backend %s does not support this pooling", op, be->name);
    return NULL;
  }
  ps_tensor *y = ps_tape_tensor(t, 5, (int64_t[]){x->shape[0], x->shape[1], g.out[0], g.out[1], g.out[2]});
  if (!y) return NULL;
  pool_ctx *c = NULL;
  if (ps_tape_needs_grad(t, 1, &x)) {
    if (!(c = ps_tape_alloc(t, sizeof *c))) return NULL;
    c->g = g;
    c->argmax = max ? ps_tape_buffer(t, (size_t)y->numel * sizeof(int32_t)) : NULL;
    if (max && !c->argmax) return NULL;
  }
  PS_PROF_BEGIN(t);
  if (max) PS_TRY_NULL(be->maxpool_forward(be, &g, x->data, y->data, c ? c->argmax : NULL));
  else PS_TRY_NULL(be->avgpool_forward(be, &g, x->data, y->data));
  PS_PROF_END(t, PS_OPK_POOL);
  PS_OP_RECORD(t, max ? "max_pool3d" : "avg_pool3d", PS_OPK_POOL, max ? max_backward : avg_backward, y, 1, &x, c);
  return y;
}

ps_tensor *ps_max_pool3d(ps_tape *t, ps_tensor *x, const ps_pool_params *p) { return pool(t, x, p, true); }
ps_tensor *ps_avg_pool3d(ps_tape *t, ps_tensor *x, const ps_pool_params *p) { return pool(t, x, p, false); }
