/* Non-convolution ops and losses against PyTorch 1.13 (float64 on its side):
 * forward values and input gradients of sum(r * y) for instance / batch norm,
 * pooling with padding and strides, nearest / trilinear upsample, softmax,
 * linear, cross-entropy (weights, ignore_index), soft Dice and Dice+CE. Raw
 * float32 files are exchanged through a temp dir with tests/engine/ops_torch.py:
 * every case writes its inputs and our results into its own folder and a line
 * to a manifest; one python run (one torch import) answers them all. */
#include "gradcheck.h"
#include "proxyseg/ops.h"
#include <string.h>
#include <sys/stat.h>

#ifndef PS_OPS_TORCH_PY
#define PS_OPS_TORCH_PY "ops_torch.py"
#endif

static const char *py;
static char *dir;
static char cdir[1024]; /* the current case's folder */
static int ncase;
static ps_rng *rng;
static FILE *manifest;

typedef struct { char dir[1024], what[112], name[16]; int64_t n; double tol; } pending;
static pending pend[512];
static int npend;

static void new_case(void) {
  snprintf(cdir, sizeof cdir, "%s/c%03d", dir, ++ncase);
  mkdir(cdir, 0755);
}

static void wr(const char *name, const void *p, size_t bytes) {
  char path[1400];
  snprintf(path, sizeof path, "%s/%s", cdir, name);
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(p, 1, bytes, f) != bytes) fprintf(stderr, "cannot write %s\n", path);
  if (f) fclose(f);
}
static void wrf(const char *name, const float *p, int64_t n) {
  char nm[256];
  snprintf(nm, sizeof nm, "%s.f32", name);
  wr(nm, p, (size_t)n * sizeof(float));
}
/* our n values of <name>: saved as c_<name>.f32, compared after the oracle ran */
static void cmp(const char *what, const char *name, const float *got, int64_t n, double tol) {
  char nm[64];
  snprintf(nm, sizeof nm, "c_%s", name);
  wrf(nm, got, n);
  if (npend == (int)(sizeof pend / sizeof pend[0])) { CHECK(0, "too many comparisons"); return; }
  pending *q = &pend[npend++];
  snprintf(q->dir, sizeof q->dir, "%s", cdir);
  snprintf(q->what, sizeof q->what, "%s", what);
  snprintf(q->name, sizeof q->name, "%s", name);
  q->n = n;
  q->tol = tol;
}
static float *rdf(const char *d, const char *name, int64_t n, size_t *got) {
  char path[1200];
  snprintf(path, sizeof path, "%s/%s.f32", d, name);
  float *v = calloc((size_t)n, sizeof(float));
  FILE *f = fopen(path, "rb");
  *got = f ? fread(v, sizeof(float), (size_t)n, f) : 0;
  if (f) fclose(f);
  return v;
}
static void compare(const pending *q) {
  char cn[64];
  snprintf(cn, sizeof cn, "c_%s", q->name);
  size_t k, k2;
  float *want = rdf(q->dir, q->name, q->n, &k), *got = rdf(q->dir, cn, q->n, &k2);
  const int64_t n = q->n;
  const char *what = q->what, *name = q->name;
  const double tol = q->tol;
  CHECK(k == (size_t)n && k2 == (size_t)n, "%s: %s has %zu values, expected %lld", what, name, k, (long long)n);
  if (k == (size_t)n) {
    double e = ps_test_max_rel_err(got, want, (size_t)n, 1e-3);
    fprintf(stderr, "torch %-44s %-7s rel err %.2e\n", what, name, e);
    CHECK(e < tol, "%s: %s differs from PyTorch, rel err %.3g", what, name, e);
  }
  free(want);
  free(got);
}
static char *shp(const ps_tensor *x, char *b) {
  int k = 0;
  for (int i = 0; i < x->ndim; i++) k += sprintf(b + k, "%s%lld", i ? "," : "", (long long)x->shape[i]);
  return b;
}
static bool oracle(const char *op, const char *args) {
  fprintf(manifest, "%s %s %s\n", cdir, op, args);
  return true;
}
static ps_tensor *leaf(int nd, const int64_t *s) {
  ps_tensor *x = ps_gc_leaf(nd, s, true, rng);
  x->grad = calloc((size_t)x->numel, sizeof(float));
  return x;
}
static void leaf_free(ps_tensor *x) {
  if (!x) return;
  free(x->grad);
  ps_gc_leaf_free(x);
}
/* backward from y with random r, written as r.f32 for the oracle */
static void seed_backward(ps_tape *t, ps_tensor *y) {
  float *r = malloc((size_t)y->numel * sizeof(float));
  for (int64_t i = 0; i < y->numel; i++) r[i] = (float)ps_rng_uniform_range(rng, -1, 1);
  wrf("r", r, y->numel);
  CHECK_OK(ps_tape_backward_seed(t, y, r));
  free(r);
}

static void t_linear(void) {
  new_case();
  ps_tape *t = ps_tape_create();
  ps_tensor *x = leaf(2, (int64_t[]){3, 5}), *w = leaf(2, (int64_t[]){4, 5}), *b = leaf(1, (int64_t[]){4});
  ps_tensor *y = ps_linear(t, x, w, b);
  seed_backward(t, y);
  wrf("x", x->data, x->numel); wrf("w", w->data, w->numel); wrf("b", b->data, b->numel);
  char bx[64], bw[64], args[256];
  snprintf(args, sizeof args, "x=%s w=%s", shp(x, bx), shp(w, bw));
  if (oracle("linear", args)) {
    cmp("linear", "y", y->data, y->numel, 1e-5);
    cmp("linear", "gx", x->grad, x->numel, 1e-5);
    cmp("linear", "gw", w->grad, w->numel, 1e-5);
    cmp("linear", "gb", b->grad, b->numel, 1e-5);
  }
  leaf_free(x); leaf_free(w); leaf_free(b);
  ps_tape_free(t);
}

static void t_softmax(int nd, const int64_t *s) {
  new_case();
  ps_tape *t = ps_tape_create();
  ps_tensor *x = leaf(nd, s);
  for (int64_t i = 0; i < x->numel; i++) x->data[i] *= 5;
  ps_tensor *y = ps_softmax(t, x);
  seed_backward(t, y);
  wrf("x", x->data, x->numel);
  char bx[64], args[128], what[96];
  snprintf(args, sizeof args, "x=%s", shp(x, bx));
  snprintf(what, sizeof what, "softmax %s", bx);
  if (oracle("softmax", args)) {
    cmp(what, "y", y->data, y->numel, 1e-5);
    cmp(what, "gx", x->grad, x->numel, 1e-5);
  }
  leaf_free(x);
  ps_tape_free(t);
}

static void t_norm(int kind, bool train) { /* kind 0 instance, 1 batch */
  new_case();
  ps_tape *t = ps_tape_create();
  const int64_t s[5] = {2, 3, 4, 5, 6};
  ps_tensor *x = leaf(5, s), *g = leaf(1, (int64_t[]){3}), *b = leaf(1, (int64_t[]){3});
  for (int64_t i = 0; i < x->numel; i++) x->data[i] = 3 * x->data[i] + 2 + (float)(i % 7); /* offset: exercises the shift */
  float rm[3] = {0.5f, -1, 2}, rv[3] = {1, 2, 0.5f};
  wrf("rm", rm, 3); wrf("rv", rv, 3);
  ps_tensor *y = kind == 0 ? ps_instance_norm(t, x, g, b, 1e-5f) : ps_batch_norm(t, x, g, b, rm, rv, 0.1f, 1e-5f, train);
  seed_backward(t, y);
  wrf("x", x->data, x->numel); wrf("gamma", g->data, 3); wrf("beta", b->data, 3);
  char bx[64], args[256], what[64];
  snprintf(args, sizeof args, "x=%s eps=1e-5 momentum=0.1 train=%d", shp(x, bx), train);
  snprintf(what, sizeof what, "%s", kind == 0 ? "instance_norm affine" : train ? "batch_norm train" : "batch_norm eval");
  if (oracle(kind == 0 ? "instance_norm" : "batch_norm", args)) {
    cmp(what, "y", y->data, y->numel, 1e-4);
    cmp(what, "gx", x->grad, x->numel, 1e-4);
    cmp(what, "ggamma", g->grad, 3, 1e-4);
    cmp(what, "gbeta", b->grad, 3, 1e-4);
    if (kind == 1) {
      cmp(what, "rm_out", rm, 3, 1e-5);
      cmp(what, "rv_out", rv, 3, 1e-5);
    }
  }
  leaf_free(x); leaf_free(g); leaf_free(b);
  ps_tape_free(t);
}

static void t_pool(bool max, ps_pool_params p, const int64_t *s) {
  new_case();
  ps_tape *t = ps_tape_create();
  ps_tensor *x = leaf(5, s);
  ps_tensor *y = max ? ps_max_pool3d(t, x, &p) : ps_avg_pool3d(t, x, &p);
  CHECK(y != NULL, "pool: %s", ps_last_error());
  if (y) {
    seed_backward(t, y);
    wrf("x", x->data, x->numel);
    char bx[64], args[256], what[112];
    snprintf(args, sizeof args, "x=%s k=%d,%d,%d s=%d,%d,%d p=%d,%d,%d cip=%d", shp(x, bx), p.kernel[0], p.kernel[1],
             p.kernel[2], p.stride[0], p.stride[1], p.stride[2], p.pad[0], p.pad[1], p.pad[2], p.count_include_pad);
    snprintf(what, sizeof what, "%s k%d%d%d s%d%d%d p%d%d%d cip%d", max ? "max_pool" : "avg_pool", p.kernel[0], p.kernel[1],
             p.kernel[2], p.stride[0], p.stride[1], p.stride[2], p.pad[0], p.pad[1], p.pad[2], p.count_include_pad);
    if (oracle(max ? "max_pool" : "avg_pool", args)) {
      cmp(what, "y", y->data, y->numel, 1e-5);
      cmp(what, "gx", x->grad, x->numel, 1e-5);
    }
  }
  leaf_free(x);
  ps_tape_free(t);
}

static void t_upsample(ps_upsample_mode m, const int64_t *s, const int64_t *out) {
  new_case();
  ps_tape *t = ps_tape_create();
  ps_tensor *x = leaf(5, s);
  ps_tensor *y = ps_upsample3d(t, x, out, m);
  seed_backward(t, y);
  wrf("x", x->data, x->numel);
  char bx[64], args[256], what[112];
  const char *mode = m == PS_UPSAMPLE_NEAREST ? "nearest" : "trilinear";
  snprintf(args, sizeof args, "x=%s out=%lld,%lld,%lld mode=%s", shp(x, bx), (long long)out[0], (long long)out[1],
           (long long)out[2], mode);
  snprintf(what, sizeof what, "upsample %s %s->%lldx%lldx%lld", mode, bx, (long long)out[0], (long long)out[1], (long long)out[2]);
  if (oracle("upsample", args)) {
    cmp(what, "y", y->data, y->numel, 1e-5);
    cmp(what, "gx", x->grad, x->numel, 1e-5);
  }
  leaf_free(x);
  ps_tape_free(t);
}

/* which: 0 CE, 1 Dice, 2 Dice+CE */
static void t_loss(int which, bool weights, int ignore, bool batch, bool bg) {
  new_case();
  ps_tape *t = ps_tape_create();
  const int64_t s[5] = {2, 3, 3, 4, 5};
  ps_tensor *x = leaf(5, s);
  for (int64_t i = 0; i < x->numel; i++) x->data[i] *= 4;
  int64_t vox = 2 * 3 * 4 * 5;
  uint8_t *lab = malloc((size_t)vox);
  for (int64_t v = 0; v < vox; v++) lab[v] = (uint8_t)ps_rng_int(rng, 3);
  if (ignore >= 0)
    for (int64_t v = 0; v < vox; v += 7) lab[v] = (uint8_t)ignore;
  float cw[3] = {0.3f, 1.7f, 1.1f};
  ps_loss_params p = ps_loss_params_default();
  p.class_weights = weights ? cw : NULL;
  p.ignore_label = ignore;
  p.dice_batch = batch;
  p.dice_include_background = bg;
  p.weight_ce = 0.6f;
  p.weight_dice = 1.4f;
  ps_tensor *y = which == 0 ? ps_cross_entropy(t, x, lab, &p) : which == 1 ? ps_soft_dice_loss(t, x, lab, &p) : ps_dice_ce_loss(t, x, lab, &p);
  seed_backward(t, y);
  wrf("x", x->data, x->numel);
  wrf("cw", cw, 3);
  wr("labels.u8", lab, (size_t)vox);
  char bx[64], args[256], what[112];
  snprintf(args, sizeof args, "x=%s ignore=%d batch=%d bg=%d wce=0.6 wdice=1.4 smooth=1e-5%s", shp(x, bx), ignore, batch, bg,
           weights ? " cw=1" : "");
  const char *op = which == 0 ? "ce" : which == 1 ? "dice" : "dice_ce";
  snprintf(what, sizeof what, "%s w%d ign%d batch%d bg%d", op, weights, ignore, batch, bg);
  if (oracle(op, args)) {
    cmp(what, "y", y->data, 1, 1e-5);
    cmp(what, "gx", x->grad, x->numel, 1e-4);
  }
  free(lab);
  leaf_free(x);
  ps_tape_free(t);
}

int main(void) {
  py = ps_test_python_with("torch,numpy");
  if (!py) PS_SKIP("no python with torch and numpy (set PS_PYTHON): the PyTorch oracle cannot run");
  (void)ps_gradcheck;
  dir = ps_test_tmpdir("ops_torch");
  char mpath[1024];
  snprintf(mpath, sizeof mpath, "%s/manifest.txt", dir);
  manifest = fopen(mpath, "w");
  if (!manifest) PS_SKIP("cannot write %s", mpath);
  rng = ps_rng_create(11);
  t_linear();
  t_softmax(2, (int64_t[]){3, 7});
  t_softmax(5, (int64_t[]){2, 4, 3, 4, 5});
  t_norm(0, true);
  t_norm(1, true);
  t_norm(1, false);
  const int64_t s[5] = {2, 2, 5, 6, 7};
  const ps_pool_params pools[] = {{{2, 2, 2}, {2, 2, 2}, {0, 0, 0}, true},
                                  {{3, 3, 3}, {2, 2, 2}, {1, 1, 1}, true},
                                  {{3, 3, 3}, {2, 2, 2}, {1, 1, 1}, false},
                                  {{3, 2, 1}, {1, 2, 1}, {1, 1, 0}, false},
                                  {{3, 3, 3}, {1, 1, 1}, {1, 1, 1}, false}};
  for (size_t i = 0; i < sizeof pools / sizeof pools[0]; i++) {
    t_pool(true, pools[i], s);
    t_pool(false, pools[i], s);
  }
  const int64_t us[5] = {1, 2, 3, 4, 5};
  const int64_t outs[][3] = {{6, 8, 10}, {4, 7, 3}, {5, 5, 11}};
  for (int m = 0; m < 2; m++)
    for (int i = 0; i < 3; i++) t_upsample(m ? PS_UPSAMPLE_TRILINEAR : PS_UPSAMPLE_NEAREST, us, outs[i]);
  for (int which = 0; which < 3; which++) {
    t_loss(which, false, -1, false, false);
    t_loss(which, true, 255, false, true);
    t_loss(which, which != 1, 2, true, false);
    t_loss(which, false, 255, true, true);
  }
  fclose(manifest);
  int rc = ps_test_sh("%s %s %s", py, PS_OPS_TORCH_PY, mpath);
  CHECK(rc == 0, "the PyTorch oracle failed (exit %d)", rc);
  if (rc == 0)
    for (int i = 0; i < npend; i++) compare(&pend[i]);
  ps_rng_free(rng);
  free(dir);
  return ps_test_done("test_ops_torch");
}
