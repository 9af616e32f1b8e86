/* Nearest and trilinear (align_corners=false) resampling of [N, C, D, H, W] to
 * a given output size, with PyTorch's index rules (nearest: floor(o * in/out);
 * trilinear: src = (o + 0.5) * in/out - 0.5 clamped at 0), as the backend's
 * upsample kernels. */
#include "op_internal.h"

typedef struct {
  bool tri;
  int64_t in[3], out[3];
} up_ctx;

static ps_status up_backward(ps_tape *t, ps_node *n) {
  const up_ctx *c = n->ctx;
  ps_backend *be = ps_tape_backend(t);
  ps_tensor *x = n->in[0];
  float *g;
  bool fresh;
  PS_TRY(ps_op_grad(t, x, &g, &fresh));
  if (!g) return PS_OK;
  return be->upsample_backward(be, c->tri, x->shape[0] * x->shape[1], c->in, c->out, n->out->grad, g, !fresh);
}

ps_tensor *ps_upsample3d(ps_tape *t, ps_tensor *x, const int64_t out[3], ps_upsample_mode mode) {
  if (!ps_op_check_ndim("ps_upsample3d", "x", x, 5)) return NULL;
  if (!out || out[0] < 1 || out[1] < 1 || out[2] < 1 || (mode != PS_UPSAMPLE_NEAREST && mode != PS_UPSAMPLE_TRILINEAR)) {
    ps_error(PS_ERR_INVALID, "ps_upsample3d: bad output size or mode (size %lld,%lld,%lld, mode %d)",
             out ? (long long)out[0] : 0LL, out ? (long long)out[1] : 0LL, out ? (long long)out[2] : 0LL, (int)mode);
    return NULL;
  }
  if (x->shape[2] < 1 || x->shape[3] < 1 || x->shape[4] < 1) {
    char b[96];
    ps_error(PS_ERR_INVALID, "ps_upsample3d: empty input %s", ps_shape_str(x, b, sizeof b));
    return NULL;
  }
  ps_backend *be = ps_tape_backend(t);
  up_ctx *c = ps_tape_alloc(t, sizeof *c);
  if (!c) return NULL;
  c->tri = mode == PS_UPSAMPLE_TRILINEAR;
  for (int d = 0; d < 3; d++) {
    c->in[d] = x->shape[2 + d];
    c->out[d] = out[d];
  }
  const int64_t N = x->shape[0], C = x->shape[1];
  ps_tensor *y = ps_tape_tensor(t, 5, (int64_t[]){N, C, out[0], out[1], out[2]});
  if (!y) return NULL;
  PS_PROF_BEGIN(t);
  PS_TRY_NULL(be->upsample_forward(be, c->tri, N * C, c->in, c->out, x->data, y->data));
  PS_PROF_END(t, PS_OPK_UPSAMPLE);
  PS_OP_RECORD(t, "upsample3d", PS_OPK_UPSAMPLE, up_backward, y, 1, &x, c);
  return y;
}
