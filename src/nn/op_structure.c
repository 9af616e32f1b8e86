/* Structural ops: channel concat and slice (dim 1 of [N, C, ...] or [N, F]),
 * elementwise add / mul, scalar scale, and the scalar-weighted sum of NAS
 * mixed ops (weights are a tape tensor with gradients). */
#include "op_internal.h"
#include <stdlib.h>
#include <string.h>

/* ---- concat along dim 1 ---- */
typedef struct { int n; ps_tensor **xs; } multi_ctx;

static void concat_backward(ps_tape *t, ps_node *nd) {
  const multi_ctx *c = nd->ctx;
  ps_tensor *y = nd->out;
  const int64_t N = y->shape[0], inner = ps_op_inner(y, 2), Cy = y->shape[1];
  int64_t off = 0;
  for (int k = 0; k < c->n; k++) {
    ps_tensor *x = c->xs[k];
    const int64_t Cx = x->shape[1], blk = Cx * inner;
    bool fresh;
    float *g = ps_op_grad(t, x, &fresh);
    if (g) {
      for (int64_t i = 0; i < N; i++) {
        const float *src = y->grad + (i * Cy + off) * inner;
        float *dst = g + i * blk;
        if (fresh) memcpy(dst, src, (size_t)blk * sizeof(float));
        else
          for (int64_t j = 0; j < blk; j++) dst[j] += src[j];
      }
    }
    off += Cx;
  }
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
  const int64_t N = shape[0], inner = ps_op_inner(y, 2);
  int64_t off = 0;
  for (int k = 0; k < n; k++) {
    const int64_t blk = xs[k]->shape[1] * inner;
    for (int64_t i = 0; i < N; i++)
      memcpy(y->data + (i * C + off) * inner, xs[k]->data + i * blk, (size_t)blk * sizeof(float));
    off += xs[k]->shape[1];
  }
  bool rg = false;
  for (int k = 0; k < n; k++) rg |= xs[k]->requires_grad;
  if (rg && ps_tape_grad_enabled(t)) {
    multi_ctx *c = ps_tape_alloc(t, sizeof *c + (size_t)n * sizeof(ps_tensor *));
    if (!c) return NULL;
    c->n = n;
    c->xs = (ps_tensor **)(c + 1);
    memcpy(c->xs, xs, (size_t)n * sizeof(ps_tensor *));
    PS_OP_RECORD_MANY(t, "concat", concat_backward, y, n, xs, c);
  }
  return y;
}

/* ---- slice [start, start+len) along dim 1 ---- */
typedef struct { int64_t start; } slice_ctx;

static void slice_backward(ps_tape *t, ps_node *nd) {
  ps_tensor *x = nd->in[0], *y = nd->out;
  const slice_ctx *c = nd->ctx;
  bool fresh;
  float *g = ps_op_grad(t, x, &fresh);
  if (!g) return;
  const int64_t N = x->shape[0], C = x->shape[1], L = y->shape[1], inner = ps_op_inner(x, 2);
  for (int64_t i = 0; i < N; i++) {
    float *dst = g + i * C * inner;
    const float *src = y->grad + i * L * inner;
    if (fresh) { /* only the slice gets gradient: the rest is zero */
      memset(dst, 0, (size_t)(c->start * inner) * sizeof(float));
      memcpy(dst + c->start * inner, src, (size_t)(L * inner) * sizeof(float));
      memset(dst + (c->start + L) * inner, 0, (size_t)((C - c->start - L) * inner) * sizeof(float));
    } else {
      dst += c->start * inner;
      for (int64_t j = 0; j < L * inner; j++) dst[j] += src[j];
    }
  }
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
  const int64_t N = x->shape[0], C = x->shape[1], inner = ps_op_inner(x, 2);
  for (int64_t i = 0; i < N; i++)
    memcpy(y->data + i * len * inner, x->data + (i * C + start) * inner, (size_t)(len * inner) * sizeof(float));
  if (x->requires_grad && ps_tape_grad_enabled(t)) {
    slice_ctx *c = ps_tape_alloc(t, sizeof *c);
    if (!c) return NULL;
    c->start = start;
    PS_OP_RECORD(t, "slice", slice_backward, y, 1, &x, c);
  }
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

/* g (=|+=) s * src, or g (=|+=) src * other when other is non-NULL */
static void grad_axpy(float *g, bool fresh, const float *src, const float *other, float s, int64_t len) {
  if (other) {
    if (fresh) {
#pragma omp parallel for simd if (len > PS_OMP_MIN) schedule(static)
      for (int64_t i = 0; i < len; i++) g[i] = src[i] * other[i];
    } else {
#pragma omp parallel for simd if (len > PS_OMP_MIN) schedule(static)
      for (int64_t i = 0; i < len; i++) g[i] += src[i] * other[i];
    }
  } else {
    if (fresh) {
#pragma omp parallel for simd if (len > PS_OMP_MIN) schedule(static)
      for (int64_t i = 0; i < len; i++) g[i] = s * src[i];
    } else {
#pragma omp parallel for simd if (len > PS_OMP_MIN) schedule(static)
      for (int64_t i = 0; i < len; i++) g[i] += s * src[i];
    }
  }
}

static void add_backward(ps_tape *t, ps_node *n) {
  bool fresh;
  float *g;
  for (int k = 0; k < 2; k++)
    if ((g = ps_op_grad(t, n->in[k], &fresh))) grad_axpy(g, fresh, n->out->grad, NULL, 1.0f, n->out->numel);
}

ps_tensor *ps_add(ps_tape *t, ps_tensor *a, ps_tensor *b) {
  if (!same_shape_check("ps_add", a, b)) return NULL;
  ps_tensor *y = ps_tape_tensor_like(t, a);
  if (!y) return NULL;
  const float *av = a->data, *bv = b->data;
  float *yv = y->data;
  const int64_t len = a->numel;
#pragma omp parallel for simd if (len > PS_OMP_MIN) schedule(static)
  for (int64_t i = 0; i < len; i++) yv[i] = av[i] + bv[i];
  ps_tensor *in[2] = {a, b};
  PS_OP_RECORD(t, "add", add_backward, y, 2, in, NULL);
  return y;
}

static void mul_backward(ps_tape *t, ps_node *n) {
  bool fresh;
  float *g;
  /* a and b may be the same tensor: each use adds its own term */
  if ((g = ps_op_grad(t, n->in[0], &fresh))) grad_axpy(g, fresh, n->out->grad, n->in[1]->data, 0, n->out->numel);
  if ((g = ps_op_grad(t, n->in[1], &fresh))) grad_axpy(g, fresh, n->out->grad, n->in[0]->data, 0, n->out->numel);
}

ps_tensor *ps_mul(ps_tape *t, ps_tensor *a, ps_tensor *b) {
  if (!same_shape_check("ps_mul", a, b)) return NULL;
  ps_tensor *y = ps_tape_tensor_like(t, a);
  if (!y) return NULL;
  const float *av = a->data, *bv = b->data;
  float *yv = y->data;
  const int64_t len = a->numel;
#pragma omp parallel for simd if (len > PS_OMP_MIN) schedule(static)
  for (int64_t i = 0; i < len; i++) yv[i] = av[i] * bv[i];
  ps_tensor *in[2] = {a, b};
  PS_OP_RECORD(t, "mul", mul_backward, y, 2, in, NULL);
  return y;
}

typedef struct { float s; } scale_ctx;

static void scale_backward(ps_tape *t, ps_node *n) {
  bool fresh;
  float *g = ps_op_grad(t, n->in[0], &fresh);
  if (g) grad_axpy(g, fresh, n->out->grad, NULL, ((const scale_ctx *)n->ctx)->s, n->out->numel);
}

ps_tensor *ps_scale(ps_tape *t, ps_tensor *x, float s) {
  if (!ps_op_check_tensor("ps_scale", "x", x)) return NULL;
  ps_tensor *y = ps_tape_tensor_like(t, x);
  if (!y) return NULL;
  const float *xv = x->data;
  float *yv = y->data;
  const int64_t len = x->numel;
#pragma omp parallel for simd if (len > PS_OMP_MIN) schedule(static)
  for (int64_t i = 0; i < len; i++) yv[i] = s * xv[i];
  if (x->requires_grad && ps_tape_grad_enabled(t)) {
    scale_ctx *c = ps_tape_alloc(t, sizeof *c);
    if (!c) return NULL;
    c->s = s;
    PS_OP_RECORD(t, "scale", scale_backward, y, 1, &x, c);
  }
  return y;
}

/* ---- sum_i w[i] * xs[i] ---- */
typedef struct { int n; ps_tensor **xs; ps_tensor *w; } wsum_ctx;

static void wsum_backward(ps_tape *t, ps_node *nd) {
  const wsum_ctx *c = nd->ctx;
  const float *dy = nd->out->grad;
  const int64_t len = nd->out->numel;
  bool fresh;
  float *gw = ps_op_grad(t, c->w, &fresh);
  if (gw && fresh)
    for (int k = 0; k < c->n; k++) gw[k] = 0;
  for (int k = 0; k < c->n; k++) {
    ps_tensor *x = c->xs[k];
    if (gw) { /* dw_k = <dy, x_k> */
      double s = 0;
      const float *xv = x->data;
#pragma omp parallel for simd reduction(+ : s) if (len > PS_OMP_MIN) schedule(static)
      for (int64_t i = 0; i < len; i++) s += (double)dy[i] * xv[i];
      gw[k] += (float)s;
    }
    float *g = ps_op_grad(t, x, &fresh);
    if (g) grad_axpy(g, fresh, dy, NULL, c->w->data[k], len);
  }
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
  ps_tensor *y = ps_tape_tensor_like(t, xs[0]);
  if (!y) return NULL;
  const int64_t len = y->numel;
  float *yv = y->data;
  for (int k = 0; k < n; k++) {
    const float wk = w->data[k], *xv = xs[k]->data;
    if (k == 0) {
#pragma omp parallel for simd if (len > PS_OMP_MIN) schedule(static)
      for (int64_t i = 0; i < len; i++) yv[i] = wk * xv[i];
    } else {
#pragma omp parallel for simd if (len > PS_OMP_MIN) schedule(static)
      for (int64_t i = 0; i < len; i++) yv[i] += wk * xv[i];
    }
  }
  bool rg = w->requires_grad;
  for (int k = 0; k < n; k++) rg |= xs[k]->requires_grad;
  if (rg && ps_tape_grad_enabled(t)) {
    wsum_ctx *c = ps_tape_alloc(t, sizeof *c + (size_t)(n + 1) * sizeof(ps_tensor *));
    if (!c) return NULL;
    c->n = n;
    c->w = w;
    c->xs = (ps_tensor **)(c + 1);
    memcpy(c->xs, xs, (size_t)n * sizeof(ps_tensor *));
    c->xs[n] = w; /* the node's input list includes w */
    PS_OP_RECORD_MANY(t, "weighted_sum", wsum_backward, y, n + 1, c->xs, c);
  }
  return y;
}
