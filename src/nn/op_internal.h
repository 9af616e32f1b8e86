/* Helpers shared by the op_*.c and loss.c files (private to src/nn): input
 * checks with clear messages, gradient fetching with the `fresh` protocol,
 * and the OpenMP size threshold below which loops stay serial. */
#ifndef PS_OP_INTERNAL_H
#define PS_OP_INTERNAL_H
#include "proxyseg/ops.h"
#include <stdio.h>

/* Below this many elements a parallel region costs more than it saves. */
#define PS_OMP_MIN 32768

/* The gradient buffer of x when x needs one, else NULL. *fresh: write with =. */
static inline float *ps_op_grad(ps_tape *t, ps_tensor *x, bool *fresh) {
  *fresh = false;
  if (!x || !x->requires_grad) return NULL;
  return ps_tape_grad(t, x, fresh);
}

static inline bool ps_op_check_tensor(const char *op, const char *what, const ps_tensor *x) {
  if (!x || !x->data) {
    ps_error(PS_ERR_INVALID, "%s: %s is NULL", op, what);
    return false;
  }
  return true;
}

/* Checks a tensor has `ndim` dims (or at least `-ndim` when negative). */
static inline bool ps_op_check_ndim(const char *op, const char *what, const ps_tensor *x, int ndim) {
  if (!ps_op_check_tensor(op, what, x)) return false;
  if ((ndim >= 0 && x->ndim != ndim) || (ndim < 0 && x->ndim < -ndim)) {
    char b[96];
    ps_error(PS_ERR_INVALID, "%s: %s has shape %s, expected %s%d dimensions", op, what, ps_shape_str(x, b, sizeof b),
             ndim < 0 ? "at least " : "", ndim < 0 ? -ndim : ndim);
    return false;
  }
  return true;
}

/* Product of dims from `from` on (spatial size of NC... tensors). */
static inline int64_t ps_op_inner(const ps_tensor *x, int from) {
  int64_t s = 1;
  for (int i = from; i < x->ndim; i++) s *= x->shape[i];
  return s;
}

/* Record a node whose inputs may be more than PS_NODE_MAX_IN (concat, weighted
 * sum): the backward reads its inputs from ctx, so the node keeps only up to
 * PS_NODE_MAX_IN of them, those that require grad first (recording decides on
 * them). */
static inline ps_node *ps_op_record_many(ps_tape *t, const char *op, ps_backward_fn fn, ps_tensor *out, int n,
                                         ps_tensor *const *in, void *ctx) {
  if (n <= PS_NODE_MAX_IN) return ps_tape_record(t, op, fn, out, n, in, ctx);
  ps_tensor *pick[PS_NODE_MAX_IN];
  int k = 0;
  for (int i = 0; i < n && k < PS_NODE_MAX_IN; i++)
    if (in[i]->requires_grad) pick[k++] = in[i];
  for (int i = 0; i < n && k < PS_NODE_MAX_IN; i++)
    if (!in[i]->requires_grad) pick[k++] = in[i];
  return ps_tape_record(t, op, fn, out, k, pick, ctx);
}


/* Record the node; when recording itself fails (out of memory) the op fails
 * too instead of returning a tensor whose gradient would silently be lost. */
#define PS_OP_RECORD(t, op, fn, out, n, in, ctx)                                  \
  do {                                                                          \
    if (!ps_tape_record(t, op, fn, out, n, in, ctx) && (out)->requires_grad) return NULL; \
  } while (0)
#define PS_OP_RECORD_MANY(t, op, fn, out, n, in, ctx)                             \
  do {                                                                          \
    if (!ps_op_record_many(t, op, fn, out, n, in, ctx) && (out)->requires_grad) return NULL; \
  } while (0)
#endif
