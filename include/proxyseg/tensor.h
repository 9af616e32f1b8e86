/* Tensors (float32, NCDHW, contiguous), parameter arenas and the reverse-mode
 * tape. Every tensor lives on a backend (proxyseg/backend.h): its data and grad
 * are that backend's memory (host memory for "cpu" and "cpu-ref"); a tape and
 * a parameter arena each have one backend. An op computes its output, then records a node holding what its
 * backward needs; ps_tape_backward walks the nodes in reverse. Gradients
 * accumulate (+=) into tensor->grad; activation gradients come from a pool and
 * are returned to it as soon as the node that produced the tensor has run its
 * backward, so peak memory is forward activations plus a moving front of grads. */
#ifndef PROXYSEG_TENSOR_H
#define PROXYSEG_TENSOR_H

#include "proxyseg/backend.h"
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
  ps_backend *backend;         /* where data and grad live */
} ps_tensor;

typedef struct ps_tape ps_tape;
typedef struct ps_node ps_node;
/* A node's backward: accumulates into its inputs' gradients; an error (a
 * failed kernel or allocation) stops ps_tape_backward, which returns it. */
typedef ps_status (*ps_backward_fn)(ps_tape *t, ps_node *n);

#define PS_NODE_MAX_IN 8
struct ps_node {
  const char *op;              /* op name, for profiles and error messages */
  ps_backward_fn backward;
  ps_tensor *out;
  ps_tensor *in[PS_NODE_MAX_IN];
  int n_in;
  void *ctx;                   /* op parameters and saved buffers (tape arena memory) */
  ps_op_kind kind;             /* profile bucket (ps_tape_record_kind; PS_OPK_OTHER otherwise) */
};

/* A tape on the default backend (ps_backend_default()), or on a given one. */
ps_tape *ps_tape_create(void);
ps_tape *ps_tape_create_on(ps_backend *be);
ps_backend *ps_tape_backend(const ps_tape *t);
void ps_tape_free(ps_tape *t);
/* Forget all nodes and activations of the last step; memory is kept for reuse. */
void ps_tape_reset(ps_tape *t);
/* With grad disabled (inference, validation) ops record nothing. */
void ps_tape_set_grad_enabled(ps_tape *t, bool on);
bool ps_tape_grad_enabled(const ps_tape *t);
size_t ps_tape_node_count(const ps_tape *t);
size_t ps_tape_arena_bytes(const ps_tape *t);   /* high-water mark of the activation arena */

/* New tensors live in the tape's arena (backend memory) until the next reset. Data is uninitialised
 * (…_zeros: zeroed). Returns NULL and sets the error on out-of-memory. */
ps_tensor *ps_tape_tensor(ps_tape *t, int ndim, const int64_t *shape);
ps_tensor *ps_tape_tensor_zeros(ps_tape *t, int ndim, const int64_t *shape);
ps_tensor *ps_tape_tensor_like(ps_tape *t, const ps_tensor *x);
/* Wrap caller-owned memory of the tape's backend (an input batch, a parameter) as a leaf. */
ps_tensor *ps_tape_wrap(ps_tape *t, float *data, int ndim, const int64_t *shape);
/* HOST scratch that lives until reset (op parameters, pointer tables); 64-byte aligned. */
void *ps_tape_alloc(ps_tape *t, size_t bytes);
/* BACKEND memory that lives until reset (saved buffers a kernel reads: argmax,
 * statistics, loss workspaces, labels); 64-byte aligned. NULL + error on failure. */
void *ps_tape_buffer(ps_tape *t, size_t bytes);
/* Copy host data into a new tape buffer (labels, class weights). */
void *ps_tape_upload(ps_tape *t, const void *host, size_t bytes);

/* Record a node: out->requires_grad becomes true if any input requires grad, and
 * the node is kept only when grad is enabled and out requires grad. ctx must be
 * tape memory (ps_tape_alloc) or static. More than PS_NODE_MAX_IN inputs: the
 * node keeps those that require grad first (its backward must read the full
 * list from ctx). Returns PS_OK when recorded or not needed, an error when the
 * node was needed and could not be recorded: ops must then fail, or the
 * gradient would silently be lost. */
ps_status ps_tape_record(ps_tape *t, const char *op, ps_backward_fn fn, ps_tensor *out, int n_in,
                         ps_tensor *const *in, void *ctx);
/* The same with the op's profile bucket. */
ps_status ps_tape_record_kind(ps_tape *t, const char *op, ps_op_kind kind, ps_backward_fn fn, ps_tensor *out,
                              int n_in, ps_tensor *const *in, void *ctx);
/* Whether an op with these inputs must record (grad enabled and an input requires grad). */
bool ps_tape_needs_grad(const ps_tape *t, int n_in, ps_tensor *const *in);

/* Per-op-kind timing of forward ops and backward nodes (wall ms, summed since
 * the last ps_tape_profile_reset), for benchmarks. Off by default; timing a
 * kernel synchronises the backend. ms[PS_OPK_COUNT]. */
void ps_tape_profile_enable(ps_tape *t, bool on);
void ps_tape_profile_reset(ps_tape *t);
const double *ps_tape_profile_ms(const ps_tape *t);
/* Ops call these around their forward kernels (no-ops when profiling is off). */
double ps_tape_prof_begin(ps_tape *t);
void ps_tape_prof_end(ps_tape *t, ps_op_kind kind, double t0);

/* The gradient buffer of x, allocated on first use. If `fresh` is NULL the
 * buffer is zeroed and the caller accumulates (+=). If `fresh` is non-NULL and
 * the buffer is new, *fresh is set true and the contents are UNINITIALISED: the
 * caller must write (=) every element instead of accumulating; otherwise false. */
float *ps_tape_grad(ps_tape *t, ps_tensor *x, bool *fresh);

/* Backward from a scalar loss (its gradient is seeded with 1). Returns the
 * first error of a node's backward (named in the message). */
ps_status ps_tape_backward(ps_tape *t, ps_tensor *loss);
/* Backward from any tensor with a given upstream gradient (host, same numel). */
ps_status ps_tape_backward_seed(ps_tape *t, ps_tensor *out, const float *seed);

/* Shapes: helpers for ops and messages. */
int64_t ps_shape_numel(int ndim, const int64_t *shape);
bool ps_tensor_same_shape(const ps_tensor *a, const ps_tensor *b);
char *ps_shape_str(const ps_tensor *x, char *buf, size_t n);   /* "[2,16,64,64,64]" */

/* ---- parameter arena: one block for values, one for gradients ---- */
typedef struct ps_params ps_params;
/* On the default backend, or on a given one (the blocks are its memory). */
ps_params *ps_params_create(void);
ps_params *ps_params_create_on(ps_backend *be);
ps_backend *ps_params_backend(const ps_params *p);
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
/* Non-finite check over all gradients (one pass on the backend). */
bool ps_params_grad_finite(const ps_params *p);

#ifdef __cplusplus
}
#endif
#endif
