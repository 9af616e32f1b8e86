/* Elementwise activations: ReLU, LeakyReLU, sigmoid, tanh. One pass forward,
 * one pass backward; ReLU/sigmoid/tanh differentiate through their output,
 * LeakyReLU through its input (any slope sign). OpenMP over elements. */
#include "op_internal.h"
#include <math.h>

typedef enum { ACT_RELU, ACT_LEAKY, ACT_SIGMOID, ACT_TANH } act_kind;
typedef struct { act_kind kind; float slope; } act_ctx;

static void act_backward(ps_tape *t, ps_node *n) {
  const act_ctx *c = n->ctx;
  ps_tensor *x = n->in[0];
  bool fresh;
  float *g = ps_op_grad(t, x, &fresh);
  if (!g) return;
  const float *dy = n->out->grad, *y = n->out->data, *xv = x->data;
  const int64_t len = x->numel;
  const float slope = c->slope;
  /* fresh buffers are uninitialised: write (=) instead of accumulating */
#define ACT_LOOP(EXPR)                                                                 \
  do {                                                                                 \
    if (fresh) {                                                                       \
      _Pragma("omp parallel for simd if (len > PS_OMP_MIN) schedule(static)")          \
      for (int64_t i = 0; i < len; i++) g[i] = (EXPR);                                 \
    } else {                                                                           \
      _Pragma("omp parallel for simd if (len > PS_OMP_MIN) schedule(static)")          \
      for (int64_t i = 0; i < len; i++) g[i] += (EXPR);                                \
    }                                                                                  \
  } while (0)
  switch (c->kind) {
  case ACT_RELU: ACT_LOOP(y[i] > 0 ? dy[i] : 0.0f); break;
  case ACT_LEAKY: ACT_LOOP(xv[i] > 0 ? dy[i] : slope * dy[i]); break;
  case ACT_SIGMOID: ACT_LOOP(dy[i] * y[i] * (1.0f - y[i])); break;
  case ACT_TANH: ACT_LOOP(dy[i] * (1.0f - y[i] * y[i])); break;
  }
#undef ACT_LOOP
}

static ps_tensor *act_forward(ps_tape *t, ps_tensor *x, act_kind kind, float slope, const char *name) {
  if (!ps_op_check_tensor(name, "x", x)) return NULL;
  ps_tensor *y = ps_tape_tensor_like(t, x);
  if (!y) return NULL;
  const float *xv = x->data;
  float *yv = y->data;
  const int64_t len = x->numel;
  switch (kind) {
  case ACT_RELU:
#pragma omp parallel for simd if (len > PS_OMP_MIN) schedule(static)
    for (int64_t i = 0; i < len; i++) yv[i] = xv[i] > 0 ? xv[i] : 0.0f;
    break;
  case ACT_LEAKY:
#pragma omp parallel for simd if (len > PS_OMP_MIN) schedule(static)
    for (int64_t i = 0; i < len; i++) yv[i] = xv[i] > 0 ? xv[i] : slope * xv[i];
    break;
  case ACT_SIGMOID:
    /* both branches stay finite for any x: exp of a non-positive number */
#pragma omp parallel for if (len > PS_OMP_MIN) schedule(static)
    for (int64_t i = 0; i < len; i++) {
      float v = xv[i];
      if (v >= 0) yv[i] = 1.0f / (1.0f + expf(-v));
      else { float e = expf(v); yv[i] = e / (1.0f + e); }
    }
    break;
  case ACT_TANH:
#pragma omp parallel for if (len > PS_OMP_MIN) schedule(static)
    for (int64_t i = 0; i < len; i++) yv[i] = tanhf(xv[i]);
    break;
  }
  if (x->requires_grad && ps_tape_grad_enabled(t)) {
    act_ctx *c = ps_tape_alloc(t, sizeof *c);
    if (!c) return NULL;
    c->kind = kind;
    c->slope = slope;
    PS_OP_RECORD(t, name, act_backward, y, 1, &x, c);
  }
  return y;
}

ps_tensor *ps_relu(ps_tape *t, ps_tensor *x) { return act_forward(t, x, ACT_RELU, 0.0f, "relu"); }
ps_tensor *ps_leaky_relu(ps_tape *t, ps_tensor *x, float slope) { return act_forward(t, x, ACT_LEAKY, slope, "leaky_relu"); }
ps_tensor *ps_sigmoid(ps_tape *t, ps_tensor *x) { return act_forward(t, x, ACT_SIGMOID, 0.0f, "sigmoid"); }
ps_tensor *ps_tanh(ps_tape *t, ps_tensor *x) { return act_forward(t, x, ACT_TANH, 0.0f, "tanh"); }
