/* Helpers shared by the op_*.c and loss.c files (private to src/nn): input
 * checks with clear messages, gradient fetching with the `fresh` protocol,
 * and the one checked path every op records through. Ops never touch tensor
 * memory themselves: every computation is a kernel of the tape's backend. */
#ifndef PS_OP_INTERNAL_H
#define PS_OP_INTERNAL_H
#include "proxyseg/ops.h"
#include <stdio.h>

/* The gradient buffer of x when x needs one (*g = NULL otherwise). *fresh: the
 * buffer is new and uninitialised, so the kernel writes (acc = false). An
 * allocation failure is returned, never mistaken for "no gradient needed". */
static inline ps_status ps_op_grad(ps_tape *t, ps_tensor *x, float **g, bool *fresh) {
  *fresh = false;
  *g = NULL;
  if (!x || !x->requires_grad) return PS_OK;
  *g = ps_tape_grad(t, x, fresh);
  return *g ? PS_OK : PS_ERR_NOMEM;
}

/* Inside a backward function: return the first failing status. */
#define PS_TRY(expr)                    \
  do {                                  \
    ps_status st_ = (expr);             \
    if (st_ != PS_OK) return st_;       \
  } while (0)
/* Inside an op's forward: a failing kernel makes the op return NULL (error set). */
#define PS_TRY_NULL(expr)               \
  do {                                  \
    if ((expr) != PS_OK) return NULL;   \
  } while (0)

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

/* Record the node (the one checked path): when recording fails the op fails
 * too instead of returning a tensor whose gradient would silently be lost. */
#define PS_OP_RECORD(t, op, kind, fn, out, n, in, ctx)                                   \
  do {                                                                                  \
    if (ps_tape_record_kind(t, op, kind, fn, out, n, in, ctx) != PS_OK) return NULL;    \
  } while (0)

/* Forward-kernel timing for the per-op-kind profile (no-op unless enabled). */
#define PS_PROF_BEGIN(t) const double ps_prof_t0_ = ps_tape_prof_begin(t)
#define PS_PROF_END(t, kind) ps_tape_prof_end(t, kind, ps_prof_t0_)
#endif
