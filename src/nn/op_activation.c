/* Elementwise activations: ReLU, LeakyReLU, sigmoid, tanh, as the backend's
 * act_forward / act_backward kernels; ReLU/sigmoid/tanh differentiate through
 * their output, LeakyReLU through its input (any slope sign). */
#include "op_internal.h"

typedef struct { ps_act kind; float slope; } act_ctx;

static ps_status act_backward(ps_tape *t, ps_node *n) {
  const act_ctx *c = n->ctx;
  ps_backend *be = ps_tape_backend(t);
  ps_tensor *x = n->in[0];
  float *g;
  bool fresh;
  PS_TRY(ps_op_grad(t, x, &g, &fresh));
  if (!g) return PS_OK;
  return be->act_backward(be, c->kind, c->slope, x->data, n->out->data, n->out->grad, g, x->numel, !fresh);
}

static ps_tensor *act_forward(ps_tape *t, ps_tensor *x, ps_act kind, float slope, const char *name) {
  if (!ps_op_check_tensor(name, "x", x)) return NULL;
  ps_backend *be = ps_tape_backend(t);
  ps_tensor *y = ps_tape_tensor_like(t, x);
  if (!y) return NULL;
  PS_PROF_BEGIN(t);
  PS_TRY_NULL(be->act_forward(be, kind, slope, x->data, y->data, x->numel));
  PS_PROF_END(t, PS_OPK_ACTIVATION);
  act_ctx *c = NULL;
  if (ps_tape_needs_grad(t, 1, &x)) {
    if (!(c = ps_tape_alloc(t, sizeof *c))) return NULL;
    *c = (act_ctx){kind, slope};
  }
  PS_OP_RECORD(t, name, PS_OPK_ACTIVATION, act_backward, y, 1, &x, c);
  return y;
}

ps_tensor *ps_relu(ps_tape *t, ps_tensor *x) { return act_forward(t, x, PS_ACT_RELU, 0.0f, "relu"); }
ps_tensor *ps_leaky_relu(ps_tape *t, ps_tensor *x, float slope) { return act_forward(t, x, PS_ACT_LEAKY_RELU, slope, "leaky_relu"); }
ps_tensor *ps_sigmoid(ps_tape *t, ps_tensor *x) { return act_forward(t, x, PS_ACT_SIGMOID, 0.0f, "sigmoid"); }
ps_tensor *ps_tanh(ps_tape *t, ps_tensor *x) { return act_forward(t, x, PS_ACT_TANH, 0.0f, "tanh"); }
