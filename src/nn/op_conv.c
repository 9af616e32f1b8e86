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
/* A transposed conv's gradients (g its adjoint conv, dy [n, c, in]): the
 * backend's one-pass kernel where it has one, else bias_grad,
 * conv_backward_weight and conv_forward. NULL outputs are skipped. */
static ps_status convt_grads(ps_backend *be, const ps_conv_geom *g, const float *dy, const float *x, const float *w,
                             float *gx, bool ax, float *gw, bool aw, float *gb, bool ab) {
  if (be->convt_backward) return be->convt_backward(be, g, dy, x, w, gx, ax, gw, aw, gb, ab);
  if (gb) PS_TRY(be->bias_grad(be, g->n, g->c, g->in[0] * g->in[1] * g->in[2], dy, gb, ab));
  if (gw) PS_TRY(be->conv_backward_weight(be, g, dy, x, gw, aw));
  if (gx) PS_TRY(be->conv_forward(be, g, dy, w, NULL, gx, ax));
  return PS_OK;
}

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
  return convt_grads(be, g, dy, x->data, w->data, gx, !fx, gw, !fw, gb, !fb);
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

/* ---- conv_transpose3d then concat with skip along dim 1 (the U-Net decoder's
 * upsampling): the transposed conv writes straight into its channels of the
 * concatenated tensor and its backward reads its gradient there, so the
 * upsampled tensor is neither copied nor stored (nor its gradient). A sample's
 * channel block is contiguous, two samples' blocks are ct * voxels apart: one
 * kernel call with that sample stride (x_nstride of the adjoint geometry) where
 * the backend supports it, else one call per sample. ---- */
typedef struct {
  ps_conv_geom g;  /* the adjoint conv: all samples, strided; or one sample (per_sample) */
  int64_t n, ct;   /* samples; channels of the concatenated tensor */
  bool has_bias, per_sample;
} convt_cat_ctx;

static ps_status convt_cat_backward(ps_tape *t, ps_node *nd) {
  const convt_cat_ctx *c = nd->ctx;
  ps_backend *be = ps_tape_backend(t);
  ps_tensor *x = nd->in[0], *w = nd->in[1], *skip = nd->in[2], *b = c->has_bias ? nd->in[3] : NULL;
  const ps_conv_geom *g = &c->g;
  const int64_t V = g->in[0] * g->in[1] * g->in[2], P = g->out[0] * g->out[1] * g->out[2];
  const float *dy = nd->out->grad; /* [N, ct, D', H', W']: channels [0, g->c) are the transposed conv's */
  float *gs, *gb, *gw, *gx;
  bool fs, fb, fw, fx;
  PS_TRY(ps_op_grad(t, skip, &gs, &fs));
  if (gs)
    PS_TRY(be->copy_channels(be, c->n, V, dy, c->ct, g->c, gs, skip->shape[1], 0, skip->shape[1], !fs));
  PS_TRY(ps_op_grad(t, b, &gb, &fb));
  PS_TRY(ps_op_grad(t, w, &gw, &fw));
  PS_TRY(ps_op_grad(t, x, &gx, &fx));
  if (!c->per_sample) return convt_grads(be, g, dy, x->data, w->data, gx, !fx, gw, !fw, gb, !fb);
  for (int64_t n = 0; n < c->n; n++) /* the weight and bias gradients sum over samples: only sample 0 may overwrite */
    PS_TRY(convt_grads(be, g, dy + n * c->ct * V, x->data + n * g->k * P, w->data, gx ? gx + n * g->k * P : NULL,
                       !fx, gw, !fw || n > 0, gb, !fb || n > 0));
  return PS_OK;
}

ps_tensor *ps_conv_transpose3d_cat(ps_tape *t, ps_tensor *x, ps_tensor *w, ps_tensor *b, const ps_conv_params *p,
                                   ps_tensor *skip) {
  ps_conv_params def = ps_conv_params_default();
  ps_conv_geom g;
  if (!make_geom("conv_transpose3d_cat", x, w, b, p ? p : &def, true, &g)) return NULL;
  if (!ps_op_check_tensor("conv_transpose3d_cat", "skip", skip)) return NULL;
  char sk[96], sx[96];
  if (skip->ndim != 5 || skip->shape[0] != g.n || skip->shape[2] != g.in[0] || skip->shape[3] != g.in[1] ||
      skip->shape[4] != g.in[2]) {
    ps_error(PS_ERR_INVALID, "op_conv.c: conv_transpose3d_cat: skip %s does not match the upsampled [%lld, %lld, %lld, %lld, %lld] of %s outside dim 1",
             ps_shape_str(skip, sk, sizeof sk), (long long)g.n, (long long)g.c, (long long)g.in[0],
             (long long)g.in[1], (long long)g.in[2], ps_shape_str(x, sx, sizeof sx));
    return NULL;
  }
  const int64_t N = g.n, ct = g.c + skip->shape[1], V = g.in[0] * g.in[1] * g.in[2];
  const int64_t P = g.out[0] * g.out[1] * g.out[2];
  ps_backend *be = ps_tape_backend(t);
  g.x_nstride = ct * V;
  const bool per_sample = !be->convt_backward || !be->supports(be, PS_OPK_CONV_TRANSPOSED, &g);
  if (per_sample) {
    g.x_nstride = 0;
    g.n = 1;
  }
  if (!be->supports(be, PS_OPK_CONV_TRANSPOSED, &g)) {
    ps_error(PS_ERR_UNSUPPORTED, "conv_transpose3d_cat: backend %s does not support this geometry", be->name);
    return NULL;
  }
  const int64_t shape[5] = {N, ct, g.in[0], g.in[1], g.in[2]};
  ps_tensor *y = ps_tape_tensor(t, 5, shape);
  if (!y) return NULL;
  PS_PROF_BEGIN(t);
  for (int64_t n = 0; n < (per_sample ? N : 1); n++)
    PS_TRY_NULL(be->conv_backward_data(be, &g, x->data + n * g.k * P, w->data, y->data + n * ct * V, false));
  for (int64_t n = 0; b && n < N; n++) PS_TRY_NULL(be->bias_add(be, 1, g.c, V, b->data, y->data + n * ct * V));
  PS_TRY_NULL(be->copy_channels(be, N, V, skip->data, skip->shape[1], 0, y->data, ct, g.c, skip->shape[1], false));
  PS_PROF_END(t, PS_OPK_CONV_TRANSPOSED);
  ps_tensor *in[4] = {x, w, skip, b};
  const int nin = b ? 4 : 3;
  convt_cat_ctx *c = NULL;
  if (ps_tape_needs_grad(t, nin, in)) {
    if (!(c = ps_tape_alloc(t, sizeof *c))) return NULL;
    c->g = g;
    c->n = N;
    c->ct = ct;
    c->has_bias = b != NULL;
    c->per_sample = per_sample;
  }
  PS_OP_RECORD(t, "conv_transpose3d_cat", PS_OPK_CONV_TRANSPOSED, convt_cat_backward, y, nin, in, c);
  return y;
}
