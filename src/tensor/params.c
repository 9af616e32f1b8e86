/* The parameter arena: declared tensors with {name, shape, offset}; values and
 * gradients are each one contiguous block of the arena's backend memory, so
 * optimiser steps, zeroing and checkpoints are single passes over memory. */
#include "proxyseg/tensor.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct ps_params {
  ps_tensor **t;
  size_t *offset;
  size_t n, cap, numel;
  float *data, *grad;
  bool finalized;
  ps_backend *be;
};

ps_params *ps_params_create_on(ps_backend *be) {
  if (!be) return NULL;
  ps_params *p = calloc(1, sizeof(ps_params));
  if (!p) { ps_error(PS_ERR_NOMEM, "parameters: out of memory"); return NULL; }
  p->be = be;
  return p;
}
ps_params *ps_params_create(void) { return ps_params_create_on(ps_backend_default()); }
ps_backend *ps_params_backend(const ps_params *p) { return p->be; }

void ps_params_free(ps_params *p) {
  if (!p) return;
  for (size_t i = 0; i < p->n; i++) {
    free((char *)p->t[i]->name);
    free(p->t[i]);
  }
  free(p->t);
  free(p->offset);
  p->be->free(p->be, p->data);
  p->be->free(p->be, p->grad);
  free(p);
}

ps_tensor *ps_params_add(ps_params *p, const char *name, int ndim, const int64_t *shape) {
  if (p->finalized) { ps_error(PS_ERR_INVALID, "parameter %s declared after finalize", name); return NULL; }
  if (ps_params_find(p, name)) { ps_error(PS_ERR_INVALID, "parameter %s declared twice", name); return NULL; }
  if (p->n == p->cap) {
    size_t cap = p->cap ? 2 * p->cap : 64;
    ps_tensor **nt = realloc(p->t, cap * sizeof *nt);
    size_t *no = nt ? realloc(p->offset, cap * sizeof *no) : NULL;
    if (!nt || !no) { if (nt) p->t = nt; ps_error(PS_ERR_NOMEM, "out of memory"); return NULL; }
    p->t = nt;
    p->offset = no;
    p->cap = cap;
  }
  ps_tensor *x = calloc(1, sizeof *x);
  if (!x) { ps_error(PS_ERR_NOMEM, "out of memory"); return NULL; }
  x->ndim = ndim;
  for (int i = 0; i < ndim; i++) x->shape[i] = shape[i];
  x->numel = ps_shape_numel(ndim, shape);
  x->requires_grad = true;
  x->producer = -1;
  x->name = ps_strdup(name);
  x->backend = p->be;
  /* keep each tensor 16-float aligned inside the block */
  p->offset[p->n] = p->numel;
  p->numel += (size_t)((x->numel + 15) & ~(int64_t)15);
  p->t[p->n++] = x;
  return x;
}

ps_status ps_params_finalize(ps_params *p) {
  if (p->finalized) return PS_OK;
  size_t bytes = (p->numel ? p->numel : 16) * sizeof(float);
  ps_backend *be = p->be;
  if (!p->data) p->data = be->alloc(be, bytes);
  if (!p->grad) p->grad = be->alloc(be, bytes);
  if (!p->data || !p->grad) return ps_error_prefix(PS_ERR_NOMEM, "parameters (%zu bytes)", bytes);
  ps_status st = be->memset0(be, p->data, bytes);
  if (!st) st = be->memset0(be, p->grad, bytes);
  if (st) return st;
  for (size_t i = 0; i < p->n; i++) {
    p->t[i]->data = p->data + p->offset[i];
    p->t[i]->grad = p->grad + p->offset[i];
  }
  p->finalized = true;
  return PS_OK;
}

size_t ps_params_count(const ps_params *p) { return p->n; }
ps_tensor *ps_params_get(const ps_params *p, size_t i) { return i < p->n ? p->t[i] : NULL; }
size_t ps_params_offset(const ps_params *p, size_t i) { return p->offset[i]; }
float *ps_params_data(const ps_params *p) { return p->data; }
float *ps_params_grad(const ps_params *p) { return p->grad; }
size_t ps_params_numel(const ps_params *p) { return p->numel; }

ps_tensor *ps_params_find(const ps_params *p, const char *name) {
  for (size_t i = 0; i < p->n; i++)
    if (strcmp(p->t[i]->name, name) == 0) return p->t[i];
  return NULL;
}

void ps_params_zero_grad(ps_params *p) {
  if (p->grad) p->be->memset0(p->be, p->grad, p->numel * sizeof(float));
}

bool ps_params_grad_finite(const ps_params *p) {
  bool finite = false;
  if (!p->grad) return true;
  /* a failed check counts as not finite: the caller skips the update */
  if (p->be->all_finite(p->be, p->grad, (int64_t)p->numel, &finite) != PS_OK) return false;
  return finite;
}
