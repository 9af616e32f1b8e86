/* Tensors (float32, NCDHW, contiguous), parameter arenas and the reverse-mode
 * tape. An op computes its output, then records a node holding what its
 * backward needs; ps_tape_backward walks the nodes in reverse. Gradients
 * accumulate (+=) into tensor->grad; activation gradients come from a pool and
 * are returned to it as soon as the node that produced the tensor has run its
 * backward, so peak memory is forward activations plus a moving front of grads. */
#ifndef PROXYSEG_TENSOR_H
#define PROXYSEG_TENSOR_H

#include "proxyseg/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PS_MAX_DIMS 5

typedef struct ps_tensor {
  float *data;                 /* numel values, 64-byte aligned when the tape made them */
  float *grad;                 /* NULL until needed; same shape as data */
  int64_t shape[PS_MAX_DIMS];
  int ndim;
  int64_t numel;
  bool requires_grad;          /* a parameter, or computed from one */
  bool grad_from_pool;         /* grad buffer belongs to the tape's pool (internal) */
  int producer;                /* index of the node that produced it, -1 for leaves */
  const char *name;            /* parameters: their name in the arena */
} ps_tensor;

typedef struct ps_tape ps_tape;
typedef struct ps_node ps_node;
typedef void (*ps_backward_fn)(ps_tape *t, ps_node *n);

#define PS_NODE_MAX_IN 8
struct ps_node {
  const char *op;              /* op name, for profiles and error messages */
  ps_backward_fn backward;
  ps_tensor *out;
  ps_tensor *in[PS_NODE_MAX_IN];
  int n_in;
  void *ctx;                   /* op parameters and saved buffers (tape arena memory) */
};

ps_tape *ps_tape_create(void);
void ps_tape_free(ps_tape *t);
/* Forget all nodes and activations of the last step; memory is kept for reuse. */
void ps_tape_reset(ps_tape *t);
/* With grad disabled (inference, validation) ops record nothing. */
void ps_tape_set_grad_enabled(ps_tape *t, bool on);
bool ps_tape_grad_enabled(const ps_tape *t);
size_t ps_tape_node_count(const ps_tape *t);
size_t ps_tape_arena_bytes(const ps_tape *t);   /* high-water mark of the activation arena */

/* New tensors live in the tape's arena until the next reset. Data is uninitialised
 * (…_zeros: zeroed). Returns NULL and sets the error on out-of-memory. */
ps_tensor *ps_tape_tensor(ps_tape *t, int ndim, const int64_t *shape);
ps_tensor *ps_tape_tensor_zeros(ps_tape *t, int ndim, const int64_t *shape);
ps_tensor *ps_tape_tensor_like(ps_tape *t, const ps_tensor *x);
/* Wrap caller-owned memory (an input batch, a parameter) as a leaf. */
ps_tensor *ps_tape_wrap(ps_tape *t, float *data, int ndim, const int64_t *shape);
/* Scratch memory that lives until reset (saved buffers for backward); 64-byte aligned. */
void *ps_tape_alloc(ps_tape *t, size_t bytes);

/* Record a node: out->requires_grad becomes true if any input requires grad, and
 * the node is kept only when grad is enabled and out requires grad. ctx must be
 * tape memory (ps_tape_alloc) or static. Returns the node or NULL if not recorded. */
ps_node *ps_tape_record(ps_tape *t, const char *op, ps_backward_fn fn, ps_tensor *out,
                        int n_in, ps_tensor *const *in, void *ctx);

/* The gradient buffer of x, allocated on first use. If `fresh` is NULL the
 * buffer is zeroed and the caller accumulates (+=). If `fresh` is non-NULL and
 * the buffer is new, *fresh is set true and the contents are UNINITIALISED: the
 * caller must write (=) every element instead of accumulating; otherwise false. */
float *ps_tape_grad(ps_tape *t, ps_tensor *x, bool *fresh);

/* Backward from a scalar loss (its gradient is seeded with 1). */
ps_status ps_tape_backward(ps_tape *t, ps_tensor *loss);
/* Backward from any tensor with a given upstream gradient (same numel). */
ps_status ps_tape_backward_seed(ps_tape *t, ps_tensor *out, const float *seed);

/* Shapes: helpers for ops and messages. */
int64_t ps_shape_numel(int ndim, const int64_t *shape);
bool ps_tensor_same_shape(const ps_tensor *a, const ps_tensor *b);
char *ps_shape_str(const ps_tensor *x, char *buf, size_t n);   /* "[2,16,64,64,64]" */

/* ---- parameter arena: one block for values, one for gradients ---- */
typedef struct ps_params ps_params;
ps_params *ps_params_create(void);
void ps_params_free(ps_params *p);
/* Declare a parameter; its data/grad pointers are valid after ps_params_finalize. */
ps_tensor *ps_params_add(ps_params *p, const char *name, int ndim, const int64_t *shape);
ps_status ps_params_finalize(ps_params *p);   /* allocate both blocks (zeroed) */
size_t ps_params_count(const ps_params *p);
ps_tensor *ps_params_get(const ps_params *p, size_t i);
ps_tensor *ps_params_find(const ps_params *p, const char *name);
size_t ps_params_offset(const ps_params *p, size_t i);   /* in floats from the block start */
float *ps_params_data(const ps_params *p);
float *ps_params_grad(const ps_params *p);
size_t ps_params_numel(const ps_params *p);
void ps_params_zero_grad(ps_params *p);
/* Non-finite check over all gradients (one pass). */
bool ps_params_grad_finite(const ps_params *p);

#ifdef __cplusplus
}
#endif
#endif
