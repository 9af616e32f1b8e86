/* Finite-difference gradient check for tape ops. The test supplies a builder
 * that maps its leaf tensors to an output; the checker contracts the output
 * with fixed random weights r (loss = sum(r * out)), back-propagates, and
 * compares each leaf's gradient with central differences of the same loss in
 * double precision accumulation, on the "cpu-ref" backend (the oracle; other
 * backends are held to it by test_backend_ops). Used by every op test (header-only). */
#ifndef PS_GRADCHECK_H
#define PS_GRADCHECK_H
#include "proxyseg/tensor.h"
#include "testutil.h"
#include <stdlib.h>
#include <string.h>

typedef ps_tensor *(*ps_gc_build_fn)(ps_tape *t, ps_tensor **leaves, void *ud);

static double ps_gc_loss(ps_tape *t, ps_gc_build_fn build, ps_tensor **leaves, void *ud, const float *r, int64_t *n_out) {
  ps_tape_reset(t);
  ps_tensor *y = build(t, leaves, ud);
  if (!y) return NAN;
  *n_out = y->numel;
  double s = 0;
  for (int64_t i = 0; i < y->numel; i++) s += (double)r[i] * y->data[i];
  return s;
}

/* leaves: tensors made by the caller (data owned by caller, requires_grad set on
 * those to check). Returns the worst relative error over checked leaves and
 * prints it. eps: FD step; at most max_probe coordinates per leaf are probed. */
static double ps_gradcheck(const char *what, ps_gc_build_fn build, int n_leaves, ps_tensor **leaves, void *ud,
                           double eps, int max_probe, uint64_t seed) {
  ps_tape *t = ps_tape_create_on(ps_backend_get("cpu-ref"));
  ps_rng *rng = ps_rng_create(seed);
  /* a first pass to learn the output size */
  ps_tape_reset(t);
  ps_tensor *y = build(t, leaves, ud);
  if (!y) { fprintf(stderr, "%s: build failed: %s\n", what, ps_last_error()); ps_tape_free(t); ps_rng_free(rng); return INFINITY; }
  int64_t n_out = y->numel;
  float *r = malloc((size_t)n_out * sizeof(float));
  for (int64_t i = 0; i < n_out; i++) r[i] = (float)ps_rng_uniform_range(rng, -1, 1);
  /* analytic gradients: leaves keep caller-owned grad buffers */
  float **g = calloc((size_t)n_leaves, sizeof *g);
  for (int l = 0; l < n_leaves; l++) {
    if (!leaves[l]->requires_grad) continue;
    g[l] = calloc((size_t)leaves[l]->numel, sizeof(float));
    leaves[l]->grad = g[l];
  }
  ps_tape_reset(t);
  y = build(t, leaves, ud);
  ps_status st = ps_tape_backward_seed(t, y, r);
  if (st) fprintf(stderr, "%s: backward failed: %s\n", what, ps_last_error());
  double worst = 0;
  for (int l = 0; l < n_leaves; l++) {
    if (!g[l]) continue;
    ps_tensor *x = leaves[l];
    int64_t n = x->numel;
    int probes = n < max_probe ? (int)n : max_probe;
    double num_scale = 1e-3, max_err = 0;
    for (int p = 0; p < probes; p++) {
      int64_t i = probes == n ? p : (int64_t)ps_rng_int(rng, (uint64_t)n);
      float keep = x->data[i];
      x->data[i] = keep + (float)eps;
      double lp = ps_gc_loss(t, build, leaves, ud, r, &n_out);
      x->data[i] = keep - (float)eps;
      double lm = ps_gc_loss(t, build, leaves, ud, r, &n_out);
      x->data[i] = keep;
      double num = (lp - lm) / (2 * eps);
      double err = fabs(num - g[l][i]);
      if (fabs(num) > num_scale) num_scale = fabs(num);
      if (!(err <= max_err)) max_err = err;
    }
    double rel = max_err / num_scale;
    if (!(rel <= worst)) worst = rel;
    x->grad = NULL;
  }
  fprintf(stderr, "gradcheck %-40s max rel err %.2e\n", what, worst);
  for (int l = 0; l < n_leaves; l++) free(g[l]);
  free(g);
  free(r);
  ps_rng_free(rng);
  ps_tape_free(t);
  return worst;
}

/* A leaf tensor with caller-owned random data in [-1, 1] (free with ps_gc_leaf_free). */
static ps_tensor *ps_gc_leaf(int ndim, const int64_t *shape, bool requires_grad, ps_rng *rng) {
  ps_tensor *x = calloc(1, sizeof *x);
  x->ndim = ndim;
  for (int i = 0; i < ndim; i++) x->shape[i] = shape[i];
  x->numel = ps_shape_numel(ndim, shape);
  x->data = malloc((size_t)x->numel * sizeof(float));
  for (int64_t i = 0; i < x->numel; i++) x->data[i] = (float)ps_rng_uniform_range(rng, -1, 1);
  x->requires_grad = requires_grad;
  x->producer = -1;
  return x;
}
static void ps_gc_leaf_free(ps_tensor *x) {
  if (!x) return;
  free(x->data);
  free(x);
}
#endif
