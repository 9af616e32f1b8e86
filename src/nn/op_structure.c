/* Structural ops: channel concat and slice (dim 1 of [N, C, ...] or [N, F]),
 * elementwise add / mul, scalar scale, and the scalar-weighted sum of NAS
 * mixed ops (weights are a tape tensor with gradients), as backend kernels
 * (copy_channels, add, mul, axpby, weighted_sum, dot). */
#include "op_internal.h"
#include <string.h>

/* ---- concat along dim 1 ---- */
typedef struct { int n; ps_tensor **xs; } multi_ctx;

static ps_status concat_backward(ps_tape *t, ps_node *nd) {
  const multi_ctx *c = nd->ctx;
  ps_backend *be = ps_tape_backend(t);
  ps_tensor *y = nd->out;
  const int64_t N = y->shape[0], inner = ps_op_inner(y, 2), Cy = y->shape[1];
  int64_t off = 0;
  for (int k = 0; k < c->n; k++) {
    ps_tensor *x = c->xs[k];
    const int64_t Cx = x->shape[1];
    float *g;
    bool fresh;
    PS_TRY(ps_op_grad(t, x, &g, &fresh));
    if (g) PS_TRY(be->copy_channels(be, N, inner, y->grad, Cy, off, g, Cx, 0, Cx, !fresh));
    off += Cx;
  }
  return PS_OK;
}

ps_tensor *ps_concat(ps_tape *t, int n, ps_tensor *const *xs) {
  if (n < 1 || !xs) {
    ps_error(PS_ERR_INVALID, "ps_concat: needs at least one tensor (got %d)", n);
    return NULL;
  }
  if (!ps_op_check_ndim("ps_concat", "xs[0]", xs[0], -2)) return NULL;
  int64_t C = 0;
  for (int k = 0; k < n; k++) {
    if (!ps_op_check_tensor("ps_concat", "an input", xs[k])) return NULL;
    bool ok = xs[k]->ndim == xs[0]->ndim;
    for (int d = 0; ok && d < xs[0]->ndim; d++)
      if (d != 1 && xs[k]->shape[d] != xs[0]->shape[d]) ok = false;
    if (!ok) {
      char b0[96], bk[96];
      ps_error(PS_ERR_INVALID, "ps_concat: xs[%d] %s does not match xs[0] %s outside dim 1", k,
               ps_shape_str(xs[k], bk, sizeof bk), ps_shape_str(xs[0], b0, sizeof b0));
      return NULL;
    }
    C += xs[k]->shape[1];
  }
  int64_t shape[PS_MAX_DIMS];
  memcpy(shape, xs[0]->shape, sizeof shape);
  shape[1] = C;
  ps_tensor *y = ps_tape_tensor(t, xs[0]->ndim, shape);
  if (!y) return NULL;
  ps_backend *be = ps_tape_backend(t);
  const int64_t N = shape[0], inner = ps_op_inner(y, 2);
  int64_t off = 0;
  PS_PROF_BEGIN(t);
  for (int k = 0; k < n; k++) {
    const int64_t Cx = xs[k]->shape[1];
    PS_TRY_NULL(be->copy_channels(be, N, inner, xs[k]->data, Cx, 0, y->data, C, off, Cx, false));
    off += Cx;
  }
  PS_PROF_END(t, PS_OPK_CONCAT);
  multi_ctx *c = NULL;
  if (ps_tape_needs_grad(t, n, xs)) {
    if (!(c = ps_tape_alloc(t, sizeof *c + (size_t)n * sizeof(ps_tensor *)))) return NULL;
    c->n = n;
    c->xs = (ps_tensor **)(c + 1);
    memcpy(c->xs, xs, (size_t)n * sizeof(ps_tensor *));
  }
  PS_OP_RECORD(t, "concat", PS_OPK_CONCAT, concat_backward, y, n, xs, c);
  return y;
}

/* ---- slice [start, start+len) along dim 1 ---- */
typedef struct { int64_t start; } slice_ctx;

static ps_status slice_backward(ps_tape *t, ps_node *nd) {
  ps_tensor *x = nd->in[0], *y = nd->out;
  const slice_ctx *c = nd->ctx;
  ps_backend *be = ps_tape_backend(t);
  float *g;
  bool fresh;
  PS_TRY(ps_op_grad(t, x, &g, &fresh));
  if (!g) return PS_OK;
  const int64_t N = x->shape[0], C = x->shape[1], L = y->shape[1], inner = ps_op_inner(x, 2);
  /* a fresh buffer: only the slice gets gradient, the rest is zero */
  if (fresh) PS_TRY(be->memset0(be, g, (size_t)x->numel * sizeof(float)));
  return be->copy_channels(be, N, inner, y->grad, L, 0, g, C, c->start, L, true);
}

ps_tensor *ps_slice(ps_tape *t, ps_tensor *x, int64_t start, int64_t len) {
  if (!ps_op_check_ndim("ps_slice", "x", x, -2)) return NULL;
  if (start < 0 || len < 1 || start + len > x->shape[1]) {
    char b[96];
    ps_error(PS_ERR_INVALID, "ps_slice: [%lld, %lld) is outside dim 1 of %s", (long long)start, (long long)(start + len),
             ps_shape_str(x, b, sizeof b));
    return NULL;
  }
  int64_t shape[PS_MAX_DIMS];
  memcpy(shape, x->shape, sizeof shape);
  shape[1] = len;
  ps_tensor *y = ps_tape_tensor(t, x->ndim, shape);
  if (!y) return NULL;
  ps_backend *be = ps_tape_backend(t);
  const int64_t N = x->shape[0], C = x->shape[1], inner = ps_op_inner(x, 2);
  PS_PROF_BEGIN(t);
  PS_TRY_NULL(be->copy_channels(be, N, inner, x->data, C, start, y->data, len, 0, len, false));
  PS_PROF_END(t, PS_OPK_CONCAT);
  slice_ctx *c = NULL;
  if (ps_tape_needs_grad(t, 1, &x)) {
    if (!(c = ps_tape_alloc(t, sizeof *c))) return NULL;
    c->start = start;
  }
  PS_OP_RECORD(t, "slice", PS_OPK_CONCAT, slice_backward, y, 1, &x, c);
  return y;
}

/* ---- elementwise binary ---- */
static bool same_shape_check(const char *op, const ps_tensor *a, const ps_tensor *b) {
  if (!ps_op_check_tensor(op, "a", a) || !ps_op_check_tensor(op, "b", b)) return false;
  if (!ps_tensor_same_shape(a, b)) {
    char ba[96], bb[96];
    ps_error(PS_ERR_INVALID, "%s: shapes %s and %s differ (no broadcasting)", op, ps_shape_str(a, ba, sizeof ba),
             ps_shape_str(b, bb, sizeof bb));
    return false;
  }
  return true;
}

static ps_status add_backward(ps_tape *t, ps_node *n) {
  ps_backend *be = ps_tape_backend(t);
  for (int k = 0; k < 2; k++) {
    float *g;
    bool fresh;
    PS_TRY(ps_op_grad(t, n->in[k], &g, &fresh));
    if (g) PS_TRY(be->axpby(be, 1.0f, n->out->grad, g, n->out->numel, !fresh));
  }
  return PS_OK;
}

ps_tensor *ps_add(ps_tape *t, ps_tensor *a, ps_tensor *b) {
  if (!same_shape_check("ps_add", a, b)) return NULL;
  ps_backend *be = ps_tape_backend(t);
  ps_tensor *y = ps_tape_tensor_like(t, a);
  if (!y) return NULL;
  PS_PROF_BEGIN(t);
  PS_TRY_NULL(be->add(be, a->data, b->data, y->data, a->numel));
  PS_PROF_END(t, PS_OPK_ELEMENTWISE);
  ps_tensor *in[2] = {a, b};
  PS_OP_RECORD(t, "add", PS_OPK_ELEMENTWISE, add_backward, y, 2, in, NULL);
  return y;
}

static ps_status mul_backward(ps_tape *t, ps_node *n) {
  ps_backend *be = ps_tape_backend(t);
  /* a and b may be the same tensor: each use adds its own term */
  for (int k = 0; k < 2; k++) {
    float *g;
    bool fresh;
    PS_TRY(ps_op_grad(t, n->in[k], &g, &fresh));
    if (g) PS_TRY(be->mul(be, n->out->grad, n->in[1 - k]->data, g, n->out->numel, !fresh));
  }
  return PS_OK;
}

ps_tensor *ps_mul(ps_tape *t, ps_tensor *a, ps_tensor *b) {
  if (!same_shape_check("ps_mul", a, b)) return NULL;
  ps_backend *be = ps_tape_backend(t);
  ps_tensor *y = ps_tape_tensor_like(t, a);
  if (!y) return NULL;
  PS_PROF_BEGIN(t);
  PS_TRY_NULL(be->mul(be, a->data, b->data, y->data, a->numel, false));
  PS_PROF_END(t, PS_OPK_ELEMENTWISE);
  ps_tensor *in[2] = {a, b};
  PS_OP_RECORD(t, "mul", PS_OPK_ELEMENTWISE, mul_backward, y, 2, in, NULL);
  return y;
}

typedef struct { float s; } scale_ctx;

static ps_status scale_backward(ps_tape *t, ps_node *n) {
  ps_backend *be = ps_tape_backend(t);
  float *g;
  bool fresh;
  PS_TRY(ps_op_grad(t, n->in[0], &g, &fresh));
  return g ? be->axpby(be, ((const scale_ctx *)n->ctx)->s, n->out->grad, g, n->out->numel, !fresh) : PS_OK;
}

ps_tensor *ps_scale(ps_tape *t, ps_tensor *x, float s) {
  if (!ps_op_check_tensor("ps_scale", "x", x)) return NULL;
  ps_backend *be = ps_tape_backend(t);
  ps_tensor *y = ps_tape_tensor_like(t, x);
  if (!y) return NULL;
  PS_PROF_BEGIN(t);
  PS_TRY_NULL(be->axpby(be, s, x->data, y->data, x->numel, false));
  PS_PROF_END(t, PS_OPK_ELEMENTWISE);
  scale_ctx *c = NULL;
  if (ps_tape_needs_grad(t, 1, &x)) {
    if (!(c = ps_tape_alloc(t, sizeof *c))) return NULL;
    c->s = s;
  }
  PS_OP_RECORD(t, "scale", PS_OPK_ELEMENTWISE, scale_backward, y, 1, &x, c);
  return y;
}

/* ---- sum_i w[i] * xs[i] ---- */
typedef struct { int n; ps_tensor **xs; ps_tensor *w; const float **ptrs; } wsum_ctx;

static ps_status wsum_backward(ps_tape *t, ps_node *nd) {
  const wsum_ctx *c = nd->ctx;
  ps_backend *be = ps_tape_backend(t);
  const float *dy = nd->out->grad;
  const int64_t len = nd->out->numel;
  float *gw, *g;
  bool fw, fresh;
  PS_TRY(ps_op_grad(t, c->w, &gw, &fw));
  /* the weights the forward used, read on the host once (n scalars) for the axpby scale */
  float wh[c->n];
  PS_TRY(be->to_host(be, wh, c->w->data, (size_t)c->n * sizeof(float)));
  for (int k = 0; k < c->n; k++) {
    ps_tensor *x = c->xs[k];
    if (gw) PS_TRY(be->dot(be, dy, x->data, len, gw + k, !fw)); /* dw_k (+)= <dy, x_k> */
    PS_TRY(ps_op_grad(t, x, &g, &fresh));
    if (g) PS_TRY(be->axpby(be, wh[k], dy, g, len, !fresh));
  }
  return PS_OK;
}

ps_tensor *ps_weighted_sum(ps_tape *t, int n, ps_tensor *const *xs, ps_tensor *w) {
  if (n < 1 || !xs) {
    ps_error(PS_ERR_INVALID, "ps_weighted_sum: needs at least one tensor (got %d)", n);
    return NULL;
  }
  if (!ps_op_check_tensor("ps_weighted_sum", "w", w)) return NULL;
  if (w->numel != n) {
    ps_error(PS_ERR_INVALID, "ps_weighted_sum: %d tensors but %lld weights", n, (long long)w->numel);
    return NULL;
  }
  for (int k = 0; k < n; k++) {
    if (!ps_op_check_tensor("ps_weighted_sum", "an input", xs[k])) return NULL;
    if (!ps_tensor_same_shape(xs[k], xs[0])) {
      char b0[96], bk[96];
      ps_error(PS_ERR_INVALID, "ps_weighted_sum: xs[%d] %s differs from xs[0] %s", k, ps_shape_str(xs[k], bk, sizeof bk),
               ps_shape_str(xs[0], b0, sizeof b0));
      return NULL;
    }
  }
  ps_backend *be = ps_tape_backend(t);
  ps_tensor *y = ps_tape_tensor_like(t, xs[0]);
  const float **ptrs = ps_tape_alloc(t, (size_t)n * sizeof *ptrs);
  if (!y || !ptrs) return NULL;
  for (int k = 0; k < n; k++) ptrs[k] = xs[k]->data;
  PS_PROF_BEGIN(t);
  PS_TRY_NULL(be->weighted_sum(be, n, ptrs, w->data, y->data, y->numel));
  PS_PROF_END(t, PS_OPK_ELEMENTWISE);
  ps_tensor **all = ps_tape_alloc(t, (size_t)(n + 1) * sizeof *all);
  if (!all) return NULL;
  memcpy(all, xs, (size_t)n * sizeof *all);
  all[n] = w; /* the node's inputs include w */
  wsum_ctx *c = NULL;
  if (ps_tape_needs_grad(t, n + 1, all)) {
    if (!(c = ps_tape_alloc(t, sizeof *c))) return NULL;
    *c = (wsum_ctx){.n = n, .xs = all, .w = w, .ptrs = ptrs};
  }
  PS_OP_RECORD(t, "weighted_sum", PS_OPK_ELEMENTWISE, wsum_backward, y, n + 1, all, c);
  return y;
}
