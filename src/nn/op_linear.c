/* Dense layers: ps_linear (x [N, In] · w[Out, In]^T + b, PyTorch's nn.Linear
 * layout) and ps_matmul (a [M, K] · b [K, N]); forward and backward through
 * the backend's sgemm (the bias as a [N, Out] x [Out] bias kernel with S = 1). */
#include "op_internal.h"

static ps_status linear_backward(ps_tape *t, ps_node *n) {
  ps_tensor *x = n->in[0], *w = n->in[1], *b = n->n_in > 2 ? n->in[2] : NULL;
  ps_backend *be = ps_tape_backend(t);
  const float *dy = n->out->grad;
  const int64_t N = x->shape[0], In = x->shape[1], Out = w->shape[0];
  bool fresh;
  float *g;
  /* dx [N, In] = dy [N, Out] · w [Out, In] */
  PS_TRY(ps_op_grad(t, x, &g, &fresh));
  if (g) PS_TRY(be->sgemm(be, false, false, N, In, Out, 1.0f, dy, Out, w->data, In, fresh ? 0.0f : 1.0f, g, In));
  /* dw [Out, In] = dy^T · x */
  PS_TRY(ps_op_grad(t, w, &g, &fresh));
  if (g) PS_TRY(be->sgemm(be, true, false, Out, In, N, 1.0f, dy, Out, x->data, In, fresh ? 0.0f : 1.0f, g, In));
  /* db [Out] = column sums of dy */
  PS_TRY(ps_op_grad(t, b, &g, &fresh));
  if (g) PS_TRY(be->bias_grad(be, N, Out, 1, dy, g, !fresh));
  return PS_OK;
}

ps_tensor *ps_linear(ps_tape *t, ps_tensor *x, ps_tensor *w, ps_tensor *b) {
  if (!ps_op_check_ndim("ps_linear", "x", x, 2) || !ps_op_check_ndim("ps_linear", "w", w, 2)) return NULL;
  char bx[64], bw[64];
  if (w->shape[1] != x->shape[1]) {
    ps_error(PS_ERR_INVALID, "ps_linear: x %s and w %s disagree on the input size (w is [Out, In])", ps_shape_str(x, bx, 64),
             ps_shape_str(w, bw, 64));
    return NULL;
  }
  if (b && (!b->data || b->numel != w->shape[0])) {
    ps_error(PS_ERR_INVALID, "ps_linear: bias has %lld values, expected %lld (w %s)", (long long)b->numel,
             (long long)w->shape[0], ps_shape_str(w, bw, 64));
    return NULL;
  }
  ps_backend *be = ps_tape_backend(t);
  const int64_t N = x->shape[0], In = x->shape[1], Out = w->shape[0];
  ps_tensor *y = ps_tape_tensor(t, 2, (int64_t[]){N, Out});
  if (!y) return NULL;
  PS_PROF_BEGIN(t);
  PS_TRY_NULL(be->sgemm(be, false, true, N, Out, In, 1.0f, x->data, In, w->data, In, 0.0f, y->data, Out));
  if (b) PS_TRY_NULL(be->bias_add(be, N, Out, 1, b->data, y->data));
  PS_PROF_END(t, PS_OPK_GEMM);
  ps_tensor *in[3] = {x, w, b};
  PS_OP_RECORD(t, "linear", PS_OPK_GEMM, linear_backward, y, b ? 3 : 2, in, NULL);
  return y;
}

static ps_status matmul_backward(ps_tape *t, ps_node *n) {
  ps_tensor *a = n->in[0], *b = n->in[1];
  ps_backend *be = ps_tape_backend(t);
  const float *dy = n->out->grad;
  const int64_t M = a->shape[0], K = a->shape[1], N = b->shape[1];
  bool fresh;
  float *g;
  /* da [M, K] = dy [M, N] · b^T */
  PS_TRY(ps_op_grad(t, a, &g, &fresh));
  if (g) PS_TRY(be->sgemm(be, false, true, M, K, N, 1.0f, dy, N, b->data, N, fresh ? 0.0f : 1.0f, g, K));
  /* db [K, N] = a^T · dy */
  PS_TRY(ps_op_grad(t, b, &g, &fresh));
  if (g) PS_TRY(be->sgemm(be, true, false, K, N, M, 1.0f, a->data, K, dy, N, fresh ? 0.0f : 1.0f, g, N));
  return PS_OK;
}

ps_tensor *ps_matmul(ps_tape *t, ps_tensor *a, ps_tensor *b) {
  if (!ps_op_check_ndim("ps_matmul", "a", a, 2) || !ps_op_check_ndim("ps_matmul", "b", b, 2)) return NULL;
  if (a->shape[1] != b->shape[0]) {
    char ba[64], bb[64];
    ps_error(PS_ERR_INVALID, "ps_matmul: a %s and b %s do not chain (a [M, K], b [K, N])", ps_shape_str(a, ba, 64),
             ps_shape_str(b, bb, 64));
    return NULL;
  }
  ps_backend *be = ps_tape_backend(t);
  const int64_t M = a->shape[0], K = a->shape[1], N = b->shape[1];
  ps_tensor *y = ps_tape_tensor(t, 2, (int64_t[]){M, N});
  if (!y) return NULL;
  PS_PROF_BEGIN(t);
  PS_TRY_NULL(be->sgemm(be, false, false, M, N, K, 1.0f, a->data, K, b->data, N, 0.0f, y->data, N));
  PS_PROF_END(t, PS_OPK_GEMM);
  ps_tensor *in[2] = {a, b};
  PS_OP_RECORD(t, "matmul", PS_OPK_GEMM, matmul_backward, y, 2, in, NULL);
  return y;
}
