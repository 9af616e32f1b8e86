/* conv3d / conv_transpose3d: for every case of conv_cases.h the fast path
 * (with the default and with a tiny column buffer, so that many slabs are
 * used) against the reference loops, forward and all gradients, both the
 * fresh (=) and the accumulating (+=) gradient paths; then finite differences;
 * then the shape errors. */
#include "proxyseg/ops.h"
#include "backend/cpu/conv_kernels.h"
#include "conv_cases.h"
#include "gradcheck.h"
#include <string.h>

typedef struct {
  float *y, *gx, *gw, *gb;
  int64_t ny;
} run_out;

static void run_free(run_out *r) {
  free(r->y); free(r->gx); free(r->gw); free(r->gb);
  memset(r, 0, sizeof *r);
}

/* the backend the next run_case uses: "cpu-ref" (the oracle) or "cpu" */
static ps_backend *g_be;

static float *dup(const float *p, int64_t n) {
  float *q = malloc((size_t)n * sizeof(float));
  memcpy(q, p, (size_t)n * sizeof(float));
  return q;
}

/* Forward + backward with upstream gradient `seed`; leaves start with grad NULL
 * (fresh path) or with a caller-owned buffer holding `prior` (accumulating path). */
static bool run_case(const conv_case *c, ps_tensor *x, ps_tensor *w, ps_tensor *b, const float *seed_or_null,
                     ps_rng *rng, bool accumulate, run_out *out) {
  ps_tape *t = ps_tape_create_on(g_be);
  float *own[3] = {0};
  ps_tensor *lv[3] = {x, w, b};
  for (int i = 0; i < 3; i++) {
    lv[i]->grad = NULL;
    if (accumulate) {
      own[i] = malloc((size_t)lv[i]->numel * sizeof(float));
      for (int64_t j = 0; j < lv[i]->numel; j++) own[i][j] = 0.5f; /* prior gradient */
      lv[i]->grad = own[i];
    }
  }
  ps_tensor *y = conv_case_apply(t, c, x, w, b);
  bool ok = y != NULL;
  if (ok) {
    out->ny = y->numel;
    out->y = dup(y->data, y->numel);
    float *seed = malloc((size_t)y->numel * sizeof(float));
    for (int64_t i = 0; i < y->numel; i++) seed[i] = seed_or_null ? seed_or_null[i] : (float)ps_rng_uniform_range(rng, -1, 1);
    ok = ps_tape_backward_seed(t, y, seed) == PS_OK;
    free(seed);
  }
  if (ok) {
    out->gx = dup(x->grad, x->numel);
    out->gw = dup(w->grad, w->numel);
    out->gb = c->bias ? dup(b->grad, b->numel) : NULL;
  }
  ps_tape_free(t); /* hands pool-owned grads back (and clears them) first */
  for (int i = 0; i < 3; i++) lv[i]->grad = NULL;
  for (int i = 0; i < 3; i++) free(own[i]);
  return ok;
}

static ps_tensor *gc_build(ps_tape *t, ps_tensor **lv, void *ud) { return conv_case_apply(t, ud, lv[0], lv[1], lv[2]); }

static void check_case(const conv_case *c, ps_rng *rng) {
  int64_t xs[5], ws[5], bs[1];
  conv_case_shapes(c, xs, ws, bs);
  ps_tensor *x = ps_gc_leaf(5, xs, true, rng), *w = ps_gc_leaf(5, ws, true, rng), *b = ps_gc_leaf(1, bs, true, rng);
  for (int acc = 0; acc < 2; acc++) {
    /* one upstream gradient shared by all runs of this case */
    run_out ref = {0};
    g_be = ps_backend_get("cpu-ref");
    bool ok = run_case(c, x, w, b, NULL, rng, acc, &ref);
    CHECK(ok, "%s: reference run failed: %s", c->name, ps_last_error());
    if (!ok) break;
    float *seed = malloc((size_t)ref.ny * sizeof(float));
    ps_rng *r2 = ps_rng_create(99);
    for (int64_t i = 0; i < ref.ny; i++) seed[i] = (float)ps_rng_uniform_range(r2, -1, 1);
    ps_rng_free(r2);
    run_free(&ref);
    ok = run_case(c, x, w, b, seed, rng, acc, &ref);
    for (int cap = 0; cap < 2 && ok; cap++) {
      g_be = ps_backend_get("cpu");
      ps_conv_set_scratch_cap(cap ? 4096 : (size_t)2 << 20); /* 4 KiB: one line per slab */
      ps_conv_set_stream_min(cap ? 0 : (size_t)2 << 20);     /* 0: stream whatever is aligned */
      run_out fast = {0};
      bool okf = run_case(c, x, w, b, seed, rng, acc, &fast);
      CHECK(okf, "%s: fast run failed: %s", c->name, ps_last_error());
      if (!okf) continue;
      double ey = ps_test_max_rel_err(fast.y, ref.y, (size_t)ref.ny, 1e-3);
      double ex = ps_test_max_rel_err(fast.gx, ref.gx, (size_t)x->numel, 1e-3);
      double ew = ps_test_max_rel_err(fast.gw, ref.gw, (size_t)w->numel, 1e-3);
      double eb = c->bias ? ps_test_max_rel_err(fast.gb, ref.gb, (size_t)b->numel, 1e-3) : 0;
      CHECK(ey < 1e-4, "%s (cap %d, acc %d): forward rel err %.2e", c->name, cap, acc, ey);
      CHECK(ex < 1e-4, "%s (cap %d, acc %d): grad x rel err %.2e", c->name, cap, acc, ex);
      CHECK(ew < 1e-4, "%s (cap %d, acc %d): grad w rel err %.2e", c->name, cap, acc, ew);
      CHECK(eb < 1e-4, "%s (cap %d, acc %d): grad b rel err %.2e", c->name, cap, acc, eb);
      run_free(&fast);
    }
    free(seed);
    run_free(&ref);
  }
  ps_conv_set_scratch_cap((size_t)2 << 20);
  ps_conv_set_stream_min((size_t)2 << 20);
  /* finite differences (on cpu-ref, gradcheck.h; the op is linear in each leaf,
   * so a large step is exact up to rounding) */
  ps_tensor *lv[3] = {x, w, b};
  b->requires_grad = c->bias;
  double e = ps_gradcheck(c->name, gc_build, 3, lv, (void *)c, 1e-2, 40, 7);
  CHECK(e < 2e-3, "%s: gradcheck rel err %.2e", c->name, e);
  ps_gc_leaf_free(x);
  ps_gc_leaf_free(w);
  ps_gc_leaf_free(b);
}

static void check_errors(ps_rng *rng) {
  ps_tape *t = ps_tape_create();
  int64_t xs[5] = {1, 4, 5, 5, 5}, ws[5] = {3, 3, 3, 3, 3}, wok[5] = {6, 2, 3, 3, 3}, bs[1] = {5}, x4[4] = {1, 4, 5, 5};
  ps_tensor *x = ps_gc_leaf(5, xs, false, rng), *w = ps_gc_leaf(5, ws, false, rng), *w2 = ps_gc_leaf(5, wok, false, rng);
  ps_tensor *b = ps_gc_leaf(1, bs, false, rng), *xb = ps_gc_leaf(4, x4, false, rng);
  ps_conv_params p = ps_conv_params_default();
  CHECK(ps_conv3d(t, x, w, NULL, &p) == NULL && strstr(ps_last_error(), "weight"), "channel mismatch: %s", ps_last_error());
  CHECK(ps_conv3d(t, xb, w2, NULL, &p) == NULL && strstr(ps_last_error(), "5-D"), "4-D input: %s", ps_last_error());
  p.groups = 3;
  CHECK(ps_conv3d(t, x, w2, NULL, &p) == NULL && strstr(ps_last_error(), "groups"), "groups: %s", ps_last_error());
  p.groups = 2;
  CHECK(ps_conv3d(t, x, w2, NULL, &p) != NULL, "grouped conv rejected: %s", ps_last_error());
  CHECK(ps_conv3d(t, x, w2, b, &p) == NULL && strstr(ps_last_error(), "bias"), "bias: %s", ps_last_error());
  p.stride[1] = 0;
  CHECK(ps_conv3d(t, x, w2, NULL, &p) == NULL && strstr(ps_last_error(), "stride"), "stride 0: %s", ps_last_error());
  p = ps_conv_params_default();
  p.dilation[0] = 3; /* span 7 > 5 */
  CHECK(ps_conv3d(t, x, w, NULL, &p) == NULL, "empty output accepted");
  p = ps_conv_params_default();
  p.output_padding[2] = 1; /* stride 1, dilation 1 */
  int64_t wts[5] = {4, 2, 3, 3, 3};
  ps_tensor *wt = ps_gc_leaf(5, wts, false, rng);
  CHECK(ps_conv_transpose3d(t, x, wt, NULL, &p) == NULL && strstr(ps_last_error(), "output_padding"),
        "output_padding >= stride: %s", ps_last_error());
  p.output_padding[2] = 0;
  ps_tensor *yt = ps_conv_transpose3d(t, x, wt, NULL, &p);
  CHECK(yt && yt->shape[1] == 2 && yt->shape[2] == 7, "transposed shape");
  /* no grad enabled: nothing recorded */
  size_t nodes = ps_tape_node_count(t);
  CHECK(nodes == 0, "nodes recorded without requires_grad: %zu", nodes);
  ps_gc_leaf_free(x); ps_gc_leaf_free(w); ps_gc_leaf_free(w2); ps_gc_leaf_free(b); ps_gc_leaf_free(xb); ps_gc_leaf_free(wt);
  ps_tape_free(t);
}

int main(void) {
  ps_threads_set(2);
  ps_rng *rng = ps_rng_create(1234);
  for (int i = 0; i < CONV_NCASES; i++) check_case(&conv_cases[i], rng);
  check_errors(rng);
  ps_rng_free(rng);
  ps_conv_scratch_release();
  return ps_test_done("conv");
}
