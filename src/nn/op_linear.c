/* Dense layers: ps_linear (x [N, In] · w[Out, In]^T + b, PyTorch's nn.Linear
 * layout) and ps_matmul (a [M, K] · b [K, N]); forward and backward through
 * cblas_sgemm, called outside any OpenMP region (BLAS threads are not nested). */
#include "op_internal.h"
#include <cblas.h>
#include <string.h>

static void linear_backward(ps_tape *t, ps_node *n) {
  ps_tensor *x = n->in[0], *w = n->in[1], *b = n->n_in > 2 ? n->in[2] : NULL;
  const float *dy = n->out->grad;
  const int N = (int)x->shape[0], In = (int)x->shape[1], Out = (int)w->shape[0];
  bool fresh;
  float *g;
  /* dx [N, In] = dy [N, Out] · w [Out, In] */
  if ((g = ps_op_grad(t, x, &fresh)))
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, In, Out, 1.0f, dy, Out, w->data, In, fresh ? 0.0f : 1.0f, g, In);
  /* dw [Out, In] = dy^T · x */
  if ((g = ps_op_grad(t, w, &fresh)))
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Out, In, N, 1.0f, dy, Out, x->data, In, fresh ? 0.0f : 1.0f, g, In);
  if (b && (g = ps_op_grad(t, b, &fresh))) {
    for (int o = 0; o < Out; o++) {
      double s = 0;
      for (int i = 0; i < N; i++) s += dy[(size_t)i * Out + o];
      g[o] = (fresh ? 0.0f : g[o]) + (float)s;
    }
  }
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
  const int N = (int)x->shape[0], In = (int)x->shape[1], Out = (int)w->shape[0];
  ps_tensor *y = ps_tape_tensor(t, 2, (int64_t[]){N, Out});
  if (!y) return NULL;
  if (b)
    for (int i = 0; i < N; i++) memcpy(y->data + (size_t)i * Out, b->data, (size_t)Out * sizeof(float));
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, Out, In, 1.0f, x->data, In, w->data, In, b ? 1.0f : 0.0f, y->data, Out);
  ps_tensor *in[3] = {x, w, b};
  PS_OP_RECORD(t, "linear", linear_backward, y, b ? 3 : 2, in, NULL);
  return y;
}

static void matmul_backward(ps_tape *t, ps_node *n) {
  ps_tensor *a = n->in[0], *b = n->in[1];
  const float *dy = n->out->grad;
  const int M = (int)a->shape[0], K = (int)a->shape[1], N = (int)b->shape[1];
  bool fresh;
  float *g;
  /* da [M, K] = dy [M, N] · b^T */
  if ((g = ps_op_grad(t, a, &fresh)))
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, K, N, 1.0f, dy, N, b->data, N, fresh ? 0.0f : 1.0f, g, K);
  /* db [K, N] = a^T · dy */
  if ((g = ps_op_grad(t, b, &fresh)))
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, N, M, 1.0f, a->data, K, dy, N, fresh ? 0.0f : 1.0f, g, N);
}

ps_tensor *ps_matmul(ps_tape *t, ps_tensor *a, ps_tensor *b) {
  if (!ps_op_check_ndim("ps_matmul", "a", a, 2) || !ps_op_check_ndim("ps_matmul", "b", b, 2)) return NULL;
  if (a->shape[1] != b->shape[0]) {
    char ba[64], bb[64];
    ps_error(PS_ERR_INVALID, "ps_matmul: a %s and b %s do not chain (a [M, K], b [K, N])", ps_shape_str(a, ba, 64),
             ps_shape_str(b, bb, 64));
    return NULL;
  }
  const int M = (int)a->shape[0], K = (int)a->shape[1], N = (int)b->shape[1];
  ps_tensor *y = ps_tape_tensor(t, 2, (int64_t[]){M, N});
  if (!y) return NULL;
  if (K == 0) memset(y->data, 0, (size_t)M * N * sizeof(float));
  else cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, a->data, K, b->data, N, 0.0f, y->data, N);
  ps_tensor *in[2] = {a, b};
  PS_OP_RECORD(t, "matmul", matmul_backward, y, 2, in, NULL);
  return y;
}
