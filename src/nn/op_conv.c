/* Tape ops conv3d and conv_transpose3d: shape checks, the backend's conv
 * kernels and the backward functions. The transposed conv is the conv's
 * backward-data with the roles of input and output swapped, so one geometry
 * and one set of kernels serve both. */
#include "op_internal.h"
#include <string.h>

ps_conv_params ps_conv_params_default(void) {
  ps_conv_params p;
  memset(&p, 0, sizeof p);
  for (int i = 0; i < 3; i++) p.stride[i] = p.dilation[i] = 1;
  p.groups = 1;
  return p;
}

typedef struct {
  ps_conv_geom g;
  bool has_bias;
} conv_ctx;

/* Validates x [N, Cin, D, H, W], w and b against p and fills the conv geometry.
 * For the transposed conv the geometry describes the adjoint conv: its input is
 * the transposed conv's output and its output the transposed conv's input. */
static bool make_geom(const char *op, const ps_tensor *x, const ps_tensor *w, const ps_tensor *b,
                      const ps_conv_params *p, bool transposed, ps_conv_geom *g) {
  char sx[96], sw[96], sb[64];
  if (!x || !w) { ps_error(PS_ERR_INVALID, "op_conv.c: %s: input or weight is NULL", op); return false; }
  if (x->ndim != 5) {
    ps_error(PS_ERR_INVALID, "op_conv.c: %s: input %s must be 5-D [N, C, D, H, W]", op, ps_shape_str(x, sx, sizeof sx));
    return false;
  }
  if (w->ndim != 5) {
    ps_error(PS_ERR_INVALID, "op_conv.c: %s: weight %s must be 5-D", op, ps_shape_str(w, sw, sizeof sw));
    return false;
  }
  ps_shape_str(x, sx, sizeof sx);
  ps_shape_str(w, sw, sizeof sw);
  const int G = p->groups;
  for (int i = 0; i < 3; i++) {
    if (p->stride[i] < 1 || p->dilation[i] < 1 || p->pad[i] < 0 || w->shape[2 + i] < 1 ||
        (transposed && (p->output_padding[i] < 0 ||
                        (p->output_padding[i] >= p->stride[i] && p->output_padding[i] >= p->dilation[i])))) {
      ps_error(PS_ERR_INVALID,
               "op_conv.c: %s: bad parameters on axis %d (stride %d, pad %d, dilation %d, output_padding %d, "
               "kernel %lld): need stride >= 1, dilation >= 1, pad >= 0, output_padding < stride or < dilation",
               op, i, p->stride[i], p->pad[i], p->dilation[i], p->output_padding[i], (long long)w->shape[2 + i]);
      return false;
    }
  }
  const int64_t cin = x->shape[1];
  if (G < 1 || cin % G) {
    ps_error(PS_ERR_INVALID, "op_conv.c: %s: groups %d must be >= 1 and divide the %lld input channels of %s", op, G,
             (long long)cin, sx);
    return false;
  }
  int64_t cout;
  if (!transposed) {
    cout = w->shape[0];
    if (w->shape[1] * G != cin || cout % G) {
      ps_error(PS_ERR_INVALID,
               "op_conv.c: %s: weight %s does not fit input %s with groups %d: expected [Cout, %lld, kd, kh, kw] "
               "with Cout divisible by groups",
               op, sw, sx, G, (long long)(cin / G));
      return false;
    }
  } else {
    cout = w->shape[1] * G;
    if (w->shape[0] != cin) {
      ps_error(PS_ERR_INVALID, "op_conv.c: %s: weight %s does not fit input %s: expected [%lld, Cout/groups, kd, kh, kw]",
               op, sw, sx, (long long)cin);
      return false;
    }
  }
  if (b && (b->ndim != 1 || b->shape[0] != cout)) {
    ps_error(PS_ERR_INVALID, "op_conv.c: %s: bias %s must be [%lld]", op, ps_shape_str(b, sb, sizeof sb),
             (long long)cout);
    return false;
  }
  memset(g, 0, sizeof *g);
  g->n = x->shape[0];
  g->groups = G;
  for (int i = 0; i < 3; i++) {
    g->ks[i] = (int)w->shape[2 + i];
    g->stride[i] = p->stride[i];
    g->pad[i] = p->pad[i];
    g->dil[i] = p->dilation[i];
    const int64_t in = x->shape[2 + i];
    const int64_t span = (int64_t)p->dilation[i] * (g->ks[i] - 1);
    int64_t o = transposed ? (in - 1) * p->stride[i] - 2 * (int64_t)p->pad[i] + span + p->output_padding[i] + 1
                           : (in + 2 * (int64_t)p->pad[i] - span - 1 < 0 ? 0 : ps_conv_out_size(in, g->ks[i], p->stride[i], p->pad[i], p->dilation[i]));
    if (in < 1 || o < 1) {
      ps_error(PS_ERR_INVALID, "op_conv.c: %s: input %s with kernel %s, stride %d, pad %d, dilation %d gives an empty output on axis %d",
               op, sx, sw, p->stride[i], p->pad[i], p->dilation[i], i);
      return false;
    }
    if (transposed) { g->in[i] = o; g->out[i] = in; }
    else { g->in[i] = in; g->out[i] = o; }
  }
  if (transposed) { g->c = cout; g->k = cin; }
  else { g->c = cin; g->k = cout; }
  return true;
}

static ps_status record(ps_tape *t, const char *op, ps_op_kind kind, ps_backward_fn fn, ps_tensor *y, ps_tensor *x,
                        ps_tensor *w, ps_tensor *b, const ps_conv_geom *g) {
  ps_tensor *in[3] = {x, w, b};
  const int n = b ? 3 : 2;
  conv_ctx *ctx = NULL;
  if (ps_tape_needs_grad(t, n, in)) {
    ctx = ps_tape_alloc(t, sizeof *ctx);
    if (!ctx) return PS_ERR_NOMEM;
    ctx->g = *g;
    ctx->has_bias = b != NULL;
  }
  return ps_tape_record_kind(t, op, kind, fn, y, n, in, ctx);
}

/* ---- conv3d ---- */
static ps_status conv_backward(ps_tape *t, ps_node *nd) {
  const conv_ctx *c = nd->ctx;
  ps_backend *be = ps_tape_backend(t);
  ps_tensor *x = nd->in[0], *w = nd->in[1], *b = c->has_bias ? nd->in[2] : NULL;
  const ps_conv_geom *g = &c->g;
  const float *dy = nd->out->grad;                     /* [N, Cout, OD, OH, OW] */
  float *gr;
  bool fresh;
  PS_TRY(ps_op_grad(t, b, &gr, &fresh));               /* [Cout] */
  if (gr) PS_TRY(be->bias_grad(be, g->n, g->k, g->out[0] * g->out[1] * g->out[2], dy, gr, !fresh));
  PS_TRY(ps_op_grad(t, w, &gr, &fresh));               /* [Cout, Cin/g, kd, kh, kw] */
  if (gr) PS_TRY(be->conv_backward_weight(be, g, x->data, dy, gr, !fresh));
  PS_TRY(ps_op_grad(t, x, &gr, &fresh));               /* [N, Cin, D, H, W] */
  if (gr) PS_TRY(be->conv_backward_data(be, g, dy, w->data, gr, !fresh));
  return PS_OK;
}

ps_tensor *ps_conv3d(ps_tape *t, ps_tensor *x, ps_tensor *w, ps_tensor *b, const ps_conv_params *p) {
  ps_conv_params def = ps_conv_params_default();
  ps_conv_geom g;
  if (!make_geom("conv3d", x, w, b, p ? p : &def, false, &g)) return NULL;
  ps_backend *be = ps_tape_backend(t);
  if (!be->supports(be, PS_OPK_CONV, &g)) {
    ps_error(PS_ERR_UNSUPPORTED, "conv3d: backend %s does not support this geometry", be->name);
    return NULL;
  }
  const int64_t shape[5] = {g.n, g.k, g.out[0], g.out[1], g.out[2]};
  ps_tensor *y = ps_tape_tensor(t, 5, shape);
  if (!y) return NULL;
  PS_PROF_BEGIN(t);
  PS_TRY_NULL(be->conv_forward(be, &g, x->data, w->data, b ? b->data : NULL, y->data, false));
  PS_PROF_END(t, PS_OPK_CONV);
  if (record(t, "conv3d", PS_OPK_CONV, conv_backward, y, x, w, b, &g)) return NULL;
  return y;
}

/* ---- conv_transpose3d: forward = conv backward-data; backward = conv forward
 * (data) and conv backward-weight with x and dy swapped ---- */
static ps_status convt_backward(ps_tape *t, ps_node *nd) {
  const conv_ctx *c = nd->ctx;
  ps_backend *be = ps_tape_backend(t);
  ps_tensor *x = nd->in[0], *w = nd->in[1], *b = c->has_bias ? nd->in[2] : NULL;
  const ps_conv_geom *g = &c->g;
  const float *dy = nd->out->grad; /* [N, Cout, D', H', W'] = the adjoint conv's input */
  float *gb, *gw, *gx;             /* [Cout]: sums over dy; [Cin, Cout/g, kd, kh, kw]; [N, Cin, D, H, W] */
  bool fb, fw, fx;
  PS_TRY(ps_op_grad(t, b, &gb, &fb));
  PS_TRY(ps_op_grad(t, w, &gw, &fw));
  PS_TRY(ps_op_grad(t, x, &gx, &fx));
  if (be->convt_backward) return be->convt_backward(be, g, dy, x->data, w->data, gx, !fx, gw, !fw, gb, !fb);
  if (gb) PS_TRY(be->bias_grad(be, g->n, g->c, g->in[0] * g->in[1] * g->in[2], dy, gb, !fb));
  if (gw) PS_TRY(be->conv_backward_weight(be, g, dy, x->data, gw, !fw));
  if (gx) PS_TRY(be->conv_forward(be, g, dy, w->data, NULL, gx, !fx));
  return PS_OK;
}

ps_tensor *ps_conv_transpose3d(ps_tape *t, ps_tensor *x, ps_tensor *w, ps_tensor *b, const ps_conv_params *p) {
  ps_conv_params def = ps_conv_params_default();
  ps_conv_geom g;
  if (!make_geom("conv_transpose3d", x, w, b, p ? p : &def, true, &g)) return NULL;
  ps_backend *be = ps_tape_backend(t);
  if (!be->supports(be, PS_OPK_CONV_TRANSPOSED, &g)) {
    ps_error(PS_ERR_UNSUPPORTED, "conv_transpose3d: backend %s does not support this geometry", be->name);
    return NULL;
  }
  const int64_t shape[5] = {g.n, g.c, g.in[0], g.in[1], g.in[2]};
  ps_tensor *y = ps_tape_tensor(t, 5, shape);
  if (!y) return NULL;
  PS_PROF_BEGIN(t);
  PS_TRY_NULL(be->conv_backward_data(be, &g, x->data, w->data, y->data, false));
  if (b) PS_TRY_NULL(be->bias_add(be, g.n, g.c, g.in[0] * g.in[1] * g.in[2], b->data, y->data));
  PS_PROF_END(t, PS_OPK_CONV_TRANSPOSED);
  if (record(t, "conv_transpose3d", PS_OPK_CONV_TRANSPOSED, convt_backward, y, x, w, b, &g)) return NULL;
  return y;
}
