/* Softmax over dim 1 of [N, C, ...] (channels of NCDHW) or [N, F], as the
 * backend's softmax kernels; backward from the saved output:
 * dx = y * (dy - sum_c y dy). */
#include "op_internal.h"

static ps_status softmax_backward(ps_tape *t, ps_node *n) {
  ps_tensor *x = n->in[0], *y = n->out;
  ps_backend *be = ps_tape_backend(t);
  float *g;
  bool fresh;
  PS_TRY(ps_op_grad(t, x, &g, &fresh));
  if (!g) return PS_OK;
  return be->softmax_backward(be, x->shape[0], x->shape[1], ps_op_inner(x, 2), y->data, y->grad, g, !fresh);
}

ps_tensor *ps_softmax(ps_tape *t, ps_tensor *x) {
  if (!ps_op_check_ndim("ps_softmax", "x", x, -2)) return NULL;
  ps_backend *be = ps_tape_backend(t);
  ps_tensor *y = ps_tape_tensor_like(t, x);
  if (!y) return NULL;
  PS_PROF_BEGIN(t);
  PS_TRY_NULL(be->softmax_forward(be, x->shape[0], x->shape[1], ps_op_inner(x, 2), x->data, y->data));
  PS_PROF_END(t, PS_OPK_SOFTMAX);
  PS_OP_RECORD(t, "softmax", PS_OPK_SOFTMAX, softmax_backward, y, 1, &x, NULL);
  return y;
}
