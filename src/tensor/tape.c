/* The reverse-mode tape: an activation arena (bump allocator in large blocks,
 * reset between steps), a node list, and a pool of gradient buffers keyed by
 * size that are handed back as soon as the backward pass is past them. */
#include "proxyseg/tensor.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_BLOCK ((size_t)64 << 20)
#define ALIGN 64

typedef struct block {
  struct block *next;
  size_t size, used;
  char *mem;
} block;

typedef struct pooled {
  size_t bytes;
  float *buf;
} pooled;

struct ps_tape {
  block *blocks, *cur;
  size_t in_use, high_water;
  ps_node *nodes;
  size_t n_nodes, cap_nodes;
  bool grad_enabled;
  /* gradient pool: free buffers, and those handed out since the last reset */
  pooled *free_list;
  size_t n_free, cap_free;
  ps_tensor **leased;
  size_t n_leased, cap_leased;
};

static size_t round_up(size_t n) { return (n + ALIGN - 1) & ~(size_t)(ALIGN - 1); }

ps_tape *ps_tape_create(void) {
  ps_tape *t = calloc(1, sizeof *t);
  if (t) t->grad_enabled = true;
  return t;
}

static void release_leased_grads(ps_tape *t);

void ps_tape_free(ps_tape *t) {
  if (!t) return;
  release_leased_grads(t);
  for (block *b = t->blocks, *n; b; b = n) {
    n = b->next;
    free(b->mem);
    free(b);
  }
  for (size_t i = 0; i < t->n_free; i++) free(t->free_list[i].buf);
  free(t->free_list);
  free(t->leased);
  free(t->nodes);
  free(t);
}

void ps_tape_reset(ps_tape *t) {
  release_leased_grads(t);
  for (block *b = t->blocks; b; b = b->next) b->used = 0;
  t->cur = t->blocks;
  t->in_use = 0;
  t->n_nodes = 0;
}

void ps_tape_set_grad_enabled(ps_tape *t, bool on) { t->grad_enabled = on; }
bool ps_tape_grad_enabled(const ps_tape *t) { return t->grad_enabled; }
size_t ps_tape_node_count(const ps_tape *t) { return t->n_nodes; }
size_t ps_tape_arena_bytes(const ps_tape *t) { return t->high_water; }

void *ps_tape_alloc(ps_tape *t, size_t bytes) {
  bytes = round_up(bytes ? bytes : 1);
  /* first fit among the existing blocks after cur, so a reset arena is reused in order */
  for (block *b = t->cur; b; b = b->next) {
    if (b->size - b->used >= bytes) {
      void *p = b->mem + b->used;
      b->used += bytes;
      t->cur = b;
      t->in_use += bytes;
      if (t->in_use > t->high_water) t->high_water = t->in_use;
      return p;
    }
  }
  block *nb = calloc(1, sizeof *nb);
  size_t sz = bytes > ARENA_BLOCK ? bytes : ARENA_BLOCK;
  if (!nb || !(nb->mem = aligned_alloc(ALIGN, sz))) {
    free(nb);
    ps_error(PS_ERR_NOMEM, "tape arena: cannot allocate %zu bytes", sz);
    return NULL;
  }
  nb->size = sz;
  nb->used = bytes;
  /* append at the end of the chain, so that block order is stable across steps */
  block **pp = &t->blocks;
  while (*pp) pp = &(*pp)->next;
  *pp = nb;
  t->cur = nb;
  t->in_use += bytes;
  if (t->in_use > t->high_water) t->high_water = t->in_use;
  return nb->mem;
}

int64_t ps_shape_numel(int ndim, const int64_t *shape) {
  int64_t n = 1;
  for (int i = 0; i < ndim; i++) n *= shape[i];
  return n;
}

static ps_tensor *new_header(ps_tape *t, int ndim, const int64_t *shape) {
  if (ndim < 0 || ndim > PS_MAX_DIMS) {
    ps_error(PS_ERR_INVALID, "tensor with %d dimensions (at most %d)", ndim, PS_MAX_DIMS);
    return NULL;
  }
  ps_tensor *x = ps_tape_alloc(t, sizeof *x);
  if (!x) return NULL;
  memset(x, 0, sizeof *x);
  x->ndim = ndim;
  for (int i = 0; i < ndim; i++) x->shape[i] = shape[i];
  x->numel = ps_shape_numel(ndim, shape);
  x->producer = -1;
  return x;
}

ps_tensor *ps_tape_tensor(ps_tape *t, int ndim, const int64_t *shape) {
  ps_tensor *x = new_header(t, ndim, shape);
  if (!x) return NULL;
  x->data = ps_tape_alloc(t, (size_t)x->numel * sizeof(float));
  return x->data ? x : NULL;
}

ps_tensor *ps_tape_tensor_zeros(ps_tape *t, int ndim, const int64_t *shape) {
  ps_tensor *x = ps_tape_tensor(t, ndim, shape);
  if (x) memset(x->data, 0, (size_t)x->numel * sizeof(float));
  return x;
}

ps_tensor *ps_tape_tensor_like(ps_tape *t, const ps_tensor *x) { return ps_tape_tensor(t, x->ndim, x->shape); }

ps_tensor *ps_tape_wrap(ps_tape *t, float *data, int ndim, const int64_t *shape) {
  ps_tensor *x = new_header(t, ndim, shape);
  if (x) x->data = data;
  return x;
}

ps_node *ps_tape_record(ps_tape *t, const char *op, ps_backward_fn fn, ps_tensor *out, int n_in,
                        ps_tensor *const *in, void *ctx) {
  bool rg = false;
  for (int i = 0; i < n_in; i++) rg |= in[i] && in[i]->requires_grad;
  out->requires_grad = rg;
  if (!t->grad_enabled || !rg) {
    out->requires_grad = false;
    return NULL;
  }
  if (n_in > PS_NODE_MAX_IN) {
    ps_error(PS_ERR_INVALID, "op %s: %d inputs (at most %d)", op, n_in, PS_NODE_MAX_IN);
    return NULL;
  }
  if (t->n_nodes == t->cap_nodes) {
    size_t cap = t->cap_nodes ? 2 * t->cap_nodes : 256;
    ps_node *nn = realloc(t->nodes, cap * sizeof *nn);
    if (!nn) { ps_error(PS_ERR_NOMEM, "tape: out of memory"); return NULL; }
    t->nodes = nn;
    t->cap_nodes = cap;
  }
  ps_node *n = &t->nodes[t->n_nodes];
  memset(n, 0, sizeof *n);
  n->op = op;
  n->backward = fn;
  n->out = out;
  n->n_in = n_in;
  for (int i = 0; i < n_in; i++) n->in[i] = in[i];
  n->ctx = ctx;
  out->producer = (int)t->n_nodes++;
  return n;
}

/* ---- gradient pool ---- */
static float *pool_take(ps_tape *t, size_t bytes) {
  for (size_t i = 0; i < t->n_free; i++) {
    if (t->free_list[i].bytes == bytes) {
      float *b = t->free_list[i].buf;
      t->free_list[i] = t->free_list[--t->n_free];
      return b;
    }
  }
  return aligned_alloc(ALIGN, round_up(bytes));
}

static void pool_give(ps_tape *t, float *buf, size_t bytes) {
  if (t->n_free == t->cap_free) {
    size_t cap = t->cap_free ? 2 * t->cap_free : 64;
    pooled *nf = realloc(t->free_list, cap * sizeof *nf);
    if (!nf) { free(buf); return; }
    t->free_list = nf;
    t->cap_free = cap;
  }
  t->free_list[t->n_free++] = (pooled){bytes, buf};
}

static void release_grad(ps_tape *t, ps_tensor *x) {
  if (!x->grad_from_pool || !x->grad) return;
  pool_give(t, x->grad, (size_t)x->numel * sizeof(float));
  x->grad = NULL;
  x->grad_from_pool = false;
}

static void release_leased_grads(ps_tape *t) {
  for (size_t i = 0; i < t->n_leased; i++) release_grad(t, t->leased[i]);
  t->n_leased = 0;
}

float *ps_tape_grad(ps_tape *t, ps_tensor *x, bool *fresh) {
  if (fresh) *fresh = false;
  if (x->grad) return x->grad;
  size_t bytes = (size_t)x->numel * sizeof(float);
  float *g = pool_take(t, bytes);
  if (!g) { ps_error(PS_ERR_NOMEM, "gradient pool: cannot allocate %zu bytes", bytes); return NULL; }
  if (t->n_leased == t->cap_leased) {
    size_t cap = t->cap_leased ? 2 * t->cap_leased : 256;
    ps_tensor **nl = realloc(t->leased, cap * sizeof *nl);
    if (!nl) { pool_give(t, g, bytes); ps_error(PS_ERR_NOMEM, "out of memory"); return NULL; }
    t->leased = nl;
    t->cap_leased = cap;
  }
  t->leased[t->n_leased++] = x;
  x->grad = g;
  x->grad_from_pool = true;
  if (fresh) *fresh = true;
  else memset(g, 0, bytes);
  return g;
}

ps_status ps_tape_backward_seed(ps_tape *t, ps_tensor *out, const float *seed) {
  if (!out->requires_grad) return ps_error(PS_ERR_INVALID, "backward: the output does not depend on any parameter");
  float *g = ps_tape_grad(t, out, NULL);
  if (!g) return PS_ERR_NOMEM;
  for (int64_t i = 0; i < out->numel; i++) g[i] += seed[i];
  int start = out->producer;
  for (int i = start; i >= 0; i--) {
    ps_node *n = &t->nodes[i];
    if (!n->out->grad) continue; /* nothing downstream used this output */
    n->backward(t, n);
    /* the node's output gradient is consumed; inputs' grads may still be accumulating */
    release_grad(t, n->out);
  }
  return PS_OK;
}

ps_status ps_tape_backward(ps_tape *t, ps_tensor *loss) {
  if (loss->numel != 1) return ps_error(PS_ERR_INVALID, "backward: the loss has %lld elements, expected a scalar", (long long)loss->numel);
  if (!isfinite(loss->data[0])) return ps_error(PS_ERR_NONFINITE, "loss is %g", loss->data[0]);
  const float one = 1.0f;
  return ps_tape_backward_seed(t, loss, &one);
}

bool ps_tensor_same_shape(const ps_tensor *a, const ps_tensor *b) {
  if (a->ndim != b->ndim) return false;
  for (int i = 0; i < a->ndim; i++)
    if (a->shape[i] != b->shape[i]) return false;
  return true;
}

char *ps_shape_str(const ps_tensor *x, char *buf, size_t n) {
  size_t k = 0;
  k += snprintf(buf + k, n - k, "[");
  for (int i = 0; i < x->ndim && k < n; i++) k += snprintf(buf + k, n - k, "%s%lld", i ? "," : "", (long long)x->shape[i]);
  if (k < n) snprintf(buf + k, n - k, "]");
  return buf;
}
