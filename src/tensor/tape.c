/* The reverse-mode tape: arenas (bump allocators in large blocks, reset
 * between steps): one of host memory for op parameters and one of backend
 * memory for tensors and saved buffers (the same arena on host backends), a
 * node list, and a pool of gradient buffers keyed by size that are handed back
 * as soon as the backward pass is past them. Backward stops at the first node
 * that fails and returns its error. */
#include "proxyseg/tensor.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ARENA_BLOCK ((size_t)64 << 20)
#define ALIGN 64

typedef struct block {
  struct block *next;
  size_t size, used;
  char *mem;
} block;

/* be == NULL: host memory (malloc) */
typedef struct {
  ps_backend *be;
  block *blocks, *cur;
  size_t in_use, high_water;
} arena;

typedef struct pooled {
  size_t bytes;
  float *buf;
} pooled;

struct ps_tape {
  ps_backend *be;
  arena host, dev;           /* dev unused (host serves both) on host-memory backends */
  ps_node *nodes;
  size_t n_nodes, cap_nodes;
  bool grad_enabled;
  /* gradient pool: free buffers, and those handed out since the last reset */
  pooled *free_list;
  size_t n_free, cap_free;
  ps_tensor **leased;
  size_t n_leased, cap_leased;
  bool profile;
  double prof_ms[PS_OPK_COUNT];
};

static size_t round_up(size_t n) { return (n + ALIGN - 1) & ~(size_t)(ALIGN - 1); }

ps_tape *ps_tape_create_on(ps_backend *be) {
  if (!be) return NULL;
  ps_tape *t = calloc(1, sizeof *t);
  if (!t) { ps_error(PS_ERR_NOMEM, "tape: out of memory"); return NULL; }
  t->grad_enabled = true;
  t->be = be;
  t->dev.be = be;
  return t;
}
ps_tape *ps_tape_create(void) { return ps_tape_create_on(ps_backend_default()); }
ps_backend *ps_tape_backend(const ps_tape *t) { return t->be; }

static void release_leased_grads(ps_tape *t);

static void arena_free(arena *a) {
  for (block *b = a->blocks, *n; b; b = n) {
    n = b->next;
    if (a->be) a->be->free(a->be, b->mem);
    else free(b->mem);
    free(b);
  }
  a->blocks = a->cur = NULL;
}
static void arena_reset(arena *a) {
  for (block *b = a->blocks; b; b = b->next) b->used = 0;
  a->cur = a->blocks;
  a->in_use = 0;
}

void ps_tape_free(ps_tape *t) {
  if (!t) return;
  release_leased_grads(t);
  arena_free(&t->host);
  arena_free(&t->dev);
  for (size_t i = 0; i < t->n_free; i++) t->be->free(t->be, t->free_list[i].buf);
  free(t->free_list);
  free(t->leased);
  free(t->nodes);
  free(t);
}

void ps_tape_reset(ps_tape *t) {
  release_leased_grads(t);
  arena_reset(&t->host);
  arena_reset(&t->dev);
  t->n_nodes = 0;
}

void ps_tape_set_grad_enabled(ps_tape *t, bool on) { t->grad_enabled = on; }
bool ps_tape_grad_enabled(const ps_tape *t) { return t->grad_enabled; }
size_t ps_tape_node_count(const ps_tape *t) { return t->n_nodes; }
size_t ps_tape_arena_bytes(const ps_tape *t) { return t->host.high_water + t->dev.high_water; }

static void *arena_alloc(arena *a, size_t bytes) {
  bytes = round_up(bytes ? bytes : 1);
  /* first fit among the existing blocks after cur, so a reset arena is reused in order */
  for (block *b = a->cur; b; b = b->next) {
    if (b->size - b->used >= bytes) {
      void *p = b->mem + b->used;
      b->used += bytes;
      a->cur = b;
      a->in_use += bytes;
      if (a->in_use > a->high_water) a->high_water = a->in_use;
      return p;
    }
  }
  block *nb = calloc(1, sizeof *nb);
  size_t sz = bytes > ARENA_BLOCK ? bytes : ARENA_BLOCK;
  if (nb) nb->mem = a->be ? a->be->alloc(a->be, sz) : aligned_alloc(ALIGN, sz);
  if (!nb || !nb->mem) {
    free(nb);
    if (a->be) ps_error_prefix(PS_ERR_NOMEM, "tape arena");
    else ps_error(PS_ERR_NOMEM, "tape arena: cannot allocate %zu bytes", sz);
    return NULL;
  }
  nb->size = sz;
  nb->used = bytes;
  /* append at the end of the chain, so that block order is stable across steps */
  block **pp = &a->blocks;
  while (*pp) pp = &(*pp)->next;
  *pp = nb;
  a->cur = nb;
  a->in_use += bytes;
  if (a->in_use > a->high_water) a->high_water = a->in_use;
  return nb->mem;
}

void *ps_tape_alloc(ps_tape *t, size_t bytes) { return arena_alloc(&t->host, bytes); }
void *ps_tape_buffer(ps_tape *t, size_t bytes) {
  return arena_alloc(t->be->host_memory ? &t->host : &t->dev, bytes);
}
void *ps_tape_upload(ps_tape *t, const void *host, size_t bytes) {
  void *p = ps_tape_buffer(t, bytes);
  if (p && bytes && t->be->to_backend(t->be, p, host, bytes) != PS_OK) return NULL;
  return p;
}

/* ---- profile ---- */
static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}
void ps_tape_profile_enable(ps_tape *t, bool on) { t->profile = on; }
void ps_tape_profile_reset(ps_tape *t) { memset(t->prof_ms, 0, sizeof t->prof_ms); }
const double *ps_tape_profile_ms(const ps_tape *t) { return t->prof_ms; }
double ps_tape_prof_begin(ps_tape *t) {
  if (!t->profile) return 0;
  t->be->sync(t->be);
  return now_ms();
}
void ps_tape_prof_end(ps_tape *t, ps_op_kind kind, double t0) {
  if (!t->profile || kind < 0 || kind >= PS_OPK_COUNT) return;
  t->be->sync(t->be);
  t->prof_ms[kind] += now_ms() - t0;
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
  x->backend = t->be;
  return x;
}

ps_tensor *ps_tape_tensor(ps_tape *t, int ndim, const int64_t *shape) {
  ps_tensor *x = new_header(t, ndim, shape);
  if (!x) return NULL;
  x->data = ps_tape_buffer(t, (size_t)x->numel * sizeof(float));
  return x->data ? x : NULL;
}

ps_tensor *ps_tape_tensor_zeros(ps_tape *t, int ndim, const int64_t *shape) {
  ps_tensor *x = ps_tape_tensor(t, ndim, shape);
  if (x && t->be->memset0(t->be, x->data, (size_t)x->numel * sizeof(float)) != PS_OK) return NULL;
  return x;
}

ps_tensor *ps_tape_tensor_like(ps_tape *t, const ps_tensor *x) { return ps_tape_tensor(t, x->ndim, x->shape); }

ps_tensor *ps_tape_wrap(ps_tape *t, float *data, int ndim, const int64_t *shape) {
  ps_tensor *x = new_header(t, ndim, shape);
  if (x) x->data = data;
  return x;
}

bool ps_tape_needs_grad(const ps_tape *t, int n_in, ps_tensor *const *in) {
  if (!t->grad_enabled) return false;
  for (int i = 0; i < n_in; i++)
    if (in[i] && in[i]->requires_grad) return true;
  return false;
}

ps_status ps_tape_record_kind(ps_tape *t, const char *op, ps_op_kind kind, ps_backward_fn fn, ps_tensor *out,
                              int n_in, ps_tensor *const *in, void *ctx) {
  if (!out) return ps_error(PS_ERR_INVALID, "op %s: recording a NULL output", op);
  out->requires_grad = ps_tape_needs_grad(t, n_in, in);
  if (!out->requires_grad) return PS_OK;
  if (t->n_nodes == t->cap_nodes) {
    size_t cap = t->cap_nodes ? 2 * t->cap_nodes : 256;
    ps_node *nn = realloc(t->nodes, cap * sizeof *nn);
    if (!nn) return ps_error(PS_ERR_NOMEM, "tape: out of memory recording op %s", op);
    t->nodes = nn;
    t->cap_nodes = cap;
  }
  ps_node *n = &t->nodes[t->n_nodes];
  memset(n, 0, sizeof *n);
  n->op = op;
  n->kind = kind;
  n->backward = fn;
  n->out = out;
  n->ctx = ctx;
  if (n_in <= PS_NODE_MAX_IN) { /* in order, so backward can index them */
    n->n_in = n_in;
    for (int i = 0; i < n_in; i++) n->in[i] = in[i];
  } else { /* concat, weighted sum: those that need a gradient first; backward reads ctx */
    for (int i = 0; i < n_in && n->n_in < PS_NODE_MAX_IN; i++)
      if (in[i] && in[i]->requires_grad) n->in[n->n_in++] = in[i];
    for (int i = 0; i < n_in && n->n_in < PS_NODE_MAX_IN; i++)
      if (!(in[i] && in[i]->requires_grad)) n->in[n->n_in++] = in[i];
  }
  out->producer = (int)t->n_nodes++;
  return PS_OK;
}

ps_status ps_tape_record(ps_tape *t, const char *op, ps_backward_fn fn, ps_tensor *out, int n_in,
                         ps_tensor *const *in, void *ctx) {
  return ps_tape_record_kind(t, op, PS_OPK_OTHER, fn, out, n_in, in, ctx);
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
  return t->be->alloc(t->be, round_up(bytes));
}

static void pool_give(ps_tape *t, float *buf, size_t bytes) {
  if (t->n_free == t->cap_free) {
    size_t cap = t->cap_free ? 2 * t->cap_free : 64;
    pooled *nf = realloc(t->free_list, cap * sizeof *nf);
    if (!nf) { t->be->free(t->be, buf); return; }
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
  if (!g) { ps_error_prefix(PS_ERR_NOMEM, "gradient of a %zu-byte tensor", bytes); return NULL; }
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
  else if (t->be->memset0(t->be, g, bytes) != PS_OK) return NULL;
  return g;
}

/* Test hook: env PS_TEST_FAIL_BACKWARD_ALLOC=N makes the N-th backend
 * allocation of every backward pass fail (0: the first), so tests can check
 * that a failure inside backward ends a training trial as FAIL. */
static long backward_fail_hook(void) {
  const char *e = getenv("PS_TEST_FAIL_BACKWARD_ALLOC");
  return e && *e ? strtol(e, NULL, 10) : -1;
}

static ps_status backward_nodes(ps_tape *t, ps_tensor *out, const float *seed);

ps_status ps_tape_backward_seed(ps_tape *t, ps_tensor *out, const float *seed) {
  if (!out->requires_grad) return ps_error(PS_ERR_INVALID, "backward: the output does not depend on any parameter");
  const long hook = backward_fail_hook();
  if (hook >= 0) t->be->fail_alloc_after(t->be, hook);
  ps_status st = backward_nodes(t, out, seed);
  if (hook >= 0) t->be->fail_alloc_after(t->be, -1);
  return st;
}

static ps_status backward_nodes(ps_tape *t, ps_tensor *out, const float *seed) {
  ps_backend *be = t->be;
  bool fresh;
  float *g = ps_tape_grad(t, out, &fresh);
  if (!g) return ps_error_prefix(PS_ERR_NOMEM, "backward: the output's gradient");
  ps_status st;
  if (fresh) st = be->to_backend(be, g, seed, (size_t)out->numel * sizeof(float));
  else {
    /* the output already has a gradient (it fed another op that ran backward first): add the seed */
    float *tmp = ps_tape_upload(t, seed, (size_t)out->numel * sizeof(float));
    st = tmp ? be->axpby(be, 1.0f, tmp, g, out->numel, true) : PS_ERR_NOMEM;
  }
  if (st) return ps_error_prefix(st, "backward: seeding the output's gradient");
  for (int i = out->producer; i >= 0; i--) {
    ps_node *n = &t->nodes[i];
    if (!n->out->grad) continue; /* nothing downstream used this output */
    const double t0 = ps_tape_prof_begin(t);
    st = n->backward(t, n);
    if (st != PS_OK) return ps_error_prefix(st, "backward of %s (node %d)", n->op, i);
    ps_tape_prof_end(t, n->kind, t0);
    /* the node's output gradient is consumed; inputs' grads may still be accumulating */
    release_grad(t, n->out);
  }
  return PS_OK;
}

ps_status ps_tape_backward(ps_tape *t, ps_tensor *loss) {
  if (loss->numel != 1) return ps_error(PS_ERR_INVALID, "backward: the loss has %lld elements, expected a scalar", (long long)loss->numel);
  float v;
  ps_status st = t->be->to_host(t->be, &v, loss->data, sizeof v);
  if (st) return st;
  if (!isfinite(v)) return ps_error(PS_ERR_NONFINITE, "loss is %g", v);
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
