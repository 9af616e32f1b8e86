/* Segmentation losses on logits [N, C, spatial...] and uint8 labels [N, spatial...]:
 * cross-entropy (PyTorch's weighted mean with ignore_index), soft Dice on the
 * softmax (nnU-Net's SoftDiceLoss: per sample or batch, background optional,
 * smooth term, ignored voxels masked) and their weighted sum, as the backend's
 * fused loss kernels (one forward pass, one backward pass; what backward needs
 * stays in a tape workspace). Class weights apply to cross-entropy only. With
 * every voxel ignored CE is 0 (PyTorch: NaN). */
#include "op_internal.h"
#include <math.h>
#include <string.h>

ps_loss_params ps_loss_params_default(void) {
  return (ps_loss_params){.class_weights = NULL,
                          .ignore_label = -1,
                          .dice_smooth = 1e-5f,
                          .dice_batch = false,
                          .dice_include_background = false,
                          .weight_ce = 1.0f,
                          .weight_dice = 1.0f};
}

typedef struct {
  ps_loss_geom g;
  const uint8_t *labels;    /* backend copy [N*S]: the caller may reuse its buffer before backward */
  void *ws;                 /* backend workspace of the forward kernel */
} loss_ctx;

static ps_status loss_backward(ps_tape *t, ps_node *n) {
  const loss_ctx *c = n->ctx;
  ps_backend *be = ps_tape_backend(t);
  ps_tensor *x = n->in[0];
  float *g;
  bool fresh;
  PS_TRY(ps_op_grad(t, x, &g, &fresh));
  if (!g) return PS_OK;
  return be->loss_backward(be, &c->g, x->data, c->labels, c->ws, n->out->grad, g, !fresh);
}

static ps_tensor *loss_core(ps_tape *t, ps_tensor *x, const uint8_t *labels, const ps_loss_params *pp, float wce,
                            float wdice, const char *op) {
  ps_loss_params p = pp ? *pp : ps_loss_params_default();
  if (!ps_op_check_ndim(op, "logits", x, -2)) return NULL;
  if (!labels) {
    ps_error(PS_ERR_INVALID, "%s: labels are NULL", op);
    return NULL;
  }
  const int64_t N = x->shape[0], C = x->shape[1], S = ps_op_inner(x, 2);
  char b[96];
  if (C < 1 || C > 256 || S < 1) {
    ps_error(PS_ERR_INVALID, "%s: logits %s need 1..256 classes and a non-empty spatial size", op, ps_shape_str(x, b, sizeof b));
    return NULL;
  }
  const bool dice = wdice != 0;
  if (dice && C - (p.dice_include_background ? 0 : 1) < 1) {
    ps_error(PS_ERR_INVALID, "%s: soft Dice without background needs at least 2 classes, logits are %s", op,
             ps_shape_str(x, b, sizeof b));
    return NULL;
  }
  if (p.class_weights)
    for (int64_t k = 0; k < C; k++)
      if (!isfinite(p.class_weights[k]) || p.class_weights[k] < 0) {
        ps_error(PS_ERR_INVALID, "%s: class weight %lld is %g (must be finite and >= 0)", op, (long long)k, p.class_weights[k]);
        return NULL;
      }
  ps_backend *be = ps_tape_backend(t);
  loss_ctx *c = ps_tape_alloc(t, sizeof *c);
  if (!c) return NULL;
  c->g = (ps_loss_geom){.N = N, .C = C, .S = S, .ignore_label = p.ignore_label, .smooth = p.dice_smooth, .wce = wce,
                        .wdice = wdice, .dice_batch = p.dice_batch, .include_background = p.dice_include_background};
  if (p.class_weights && !(c->g.class_weights = ps_tape_upload(t, p.class_weights, (size_t)C * sizeof(float))))
    return NULL;
  if (!be->supports(be, PS_OPK_LOSS, &c->g)) {
    ps_error(PS_ERR_UNSUPPORTED, "%s: backend %s does not support this loss", op, be->name);
    return NULL;
  }
  ps_tensor *y = ps_tape_tensor(t, 1, (int64_t[]){1});
  c->ws = ps_tape_buffer(t, be->loss_workspace_bytes(be, &c->g));
  if (!y || !c->ws) return NULL;
  PS_PROF_BEGIN(t);
  if (be->loss_forward(be, &c->g, x->data, labels, y->data, c->ws) != PS_OK) {
    ps_error_prefix(ps_last_error()[0] ? PS_ERR_INVALID : PS_ERR_RUNTIME, "%s", op);
    return NULL;
  }
  PS_PROF_END(t, PS_OPK_LOSS);
  if (ps_tape_needs_grad(t, 1, &x)) {
    uint8_t *lc = ps_tape_buffer(t, (size_t)(N * S));
    if (!lc) return NULL;
    PS_TRY_NULL(be->copy(be, lc, labels, (size_t)(N * S)));
    c->labels = lc;
  }
  PS_OP_RECORD(t, op, PS_OPK_LOSS, loss_backward, y, 1, &x, c);
  return y;
}

ps_tensor *ps_cross_entropy(ps_tape *t, ps_tensor *logits, const uint8_t *labels, const ps_loss_params *p) {
  return loss_core(t, logits, labels, p, 1.0f, 0.0f, "ps_cross_entropy");
}

ps_tensor *ps_soft_dice_loss(ps_tape *t, ps_tensor *logits, const uint8_t *labels, const ps_loss_params *p) {
  return loss_core(t, logits, labels, p, 0.0f, 1.0f, "ps_soft_dice_loss");
}

ps_tensor *ps_dice_ce_loss(ps_tape *t, ps_tensor *logits, const uint8_t *labels, const ps_loss_params *p) {
  ps_loss_params d = p ? *p : ps_loss_params_default();
  return loss_core(t, logits, labels, &d, d.weight_ce, d.weight_dice, "ps_dice_ce_loss");
}
