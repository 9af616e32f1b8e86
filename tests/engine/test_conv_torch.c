/* conv3d / conv_transpose3d against PyTorch (F.conv3d / F.conv_transpose3d in
 * float64): for every case of conv_cases.h plus two U-Net-sized ones, writes
 * x, w, b and the upstream gradient as raw float32, runs conv_torch.py, and
 * compares the output and all gradients of both the fast and the reference path. */
#include "proxyseg/ops.h"
#include "backend/cpu/conv_kernels.h"
#include "conv_cases.h"
#include "gradcheck.h"
#include <string.h>

#ifndef PS_CONV_TORCH_SCRIPT
#define PS_CONV_TORCH_SCRIPT "conv_torch.py"
#endif

static const conv_case extra_cases[] = {
    {"unet 16->16 k3p1 12^3", 2, 16, 16, 12, 12, 12, K3(3), K3(1), K3(1), K3(1), K3(0), 1, 1, 0},
    {"unet 32->16 concat 10^3", 2, 32, 16, 10, 10, 10, K3(3), K3(1), K3(1), K3(1), K3(0), 1, 1, 0},
    {"unet T 32->16 k2s2 5^3", 2, 32, 16, 5, 5, 5, K3(2), K3(2), K3(0), K3(1), K3(0), 1, 1, 1},
};

static bool write_f32(const char *dir, int i, const char *what, const float *p, int64_t n) {
  char *path = ps_strfmt("%s/c%d_%s.bin", dir, i, what);
  FILE *f = fopen(path, "wb");
  bool ok = f && fwrite(p, sizeof(float), (size_t)n, f) == (size_t)n;
  if (f) ok = fclose(f) == 0 && ok;
  free(path);
  return ok;
}

static float *read_f32(const char *dir, int i, const char *what, int64_t n) {
  char *path = ps_strfmt("%s/c%d_%s.bin", dir, i, what);
  FILE *f = fopen(path, "rb");
  float *p = malloc((size_t)n * sizeof(float) + 4);
  size_t got = f ? fread(p, sizeof(float), (size_t)n + 1, f) : 0;
  if (f) fclose(f);
  free(path);
  if (got != (size_t)n) { free(p); return NULL; }
  return p;
}

/* the backend ours() runs on: "cpu-ref" or "cpu" */
static ps_backend *g_be;

typedef struct {
  const conv_case *c;
  ps_tensor *x, *w, *b;
  float *gy;
  int64_t yshape[5], ny;
} tcase;

/* Runs one case on our side; returns copies of y, gx, gw, gb (gb NULL without bias). */
static bool ours(tcase *tc, float **y, float **gx, float **gw, float **gb) {
  ps_tape *t = ps_tape_create_on(g_be);
  tc->x->grad = tc->w->grad = tc->b->grad = NULL;
  ps_tensor *out = conv_case_apply(t, tc->c, tc->x, tc->w, tc->b);
  bool ok = out && ps_tape_backward_seed(t, out, tc->gy) == PS_OK;
  if (ok) {
    *y = malloc((size_t)out->numel * sizeof(float));
    memcpy(*y, out->data, (size_t)out->numel * sizeof(float));
    *gx = malloc((size_t)tc->x->numel * sizeof(float));
    memcpy(*gx, tc->x->grad, (size_t)tc->x->numel * sizeof(float));
    *gw = malloc((size_t)tc->w->numel * sizeof(float));
    memcpy(*gw, tc->w->grad, (size_t)tc->w->numel * sizeof(float));
    *gb = NULL;
    if (tc->c->bias) {
      *gb = malloc((size_t)tc->b->numel * sizeof(float));
      memcpy(*gb, tc->b->grad, (size_t)tc->b->numel * sizeof(float));
    }
  } else {
    fprintf(stderr, "%s: our conv failed: %s\n", tc->c->name, ps_last_error());
  }
  ps_tape_free(t); /* returns the pool-owned grads and clears the pointers */
  return ok;
}

int main(void) {
  (void)ps_gradcheck; /* gradcheck.h is included for ps_gc_leaf only */
  const char *py = ps_test_python_with("torch,numpy");
  if (!py) PS_SKIP("test_conv_torch: %s cannot import torch and numpy (set PS_PYTHON to a python with PyTorch)",
                   getenv("PS_PYTHON") ? getenv("PS_PYTHON") : "/usr/bin/python3");
  const char *script = getenv("PS_CONV_TORCH_SCRIPT");
  if (!script) script = PS_CONV_TORCH_SCRIPT;
  ps_threads_set(2);
  char *dir = ps_test_tmpdir("conv_torch");
  ps_rng *rng = ps_rng_create(4242);
  const int nbase = CONV_NCASES, nextra = (int)(sizeof extra_cases / sizeof extra_cases[0]), nc = nbase + nextra;
  tcase *tc = calloc((size_t)nc, sizeof *tc);
  char *list = ps_strfmt("%s/cases.txt", dir);
  FILE *lf = fopen(list, "w");
  CHECK(lf != NULL, "cannot write %s", list);
  if (!lf) return ps_test_done("conv_torch");
  for (int i = 0; i < nc; i++) {
    const conv_case *c = i < nbase ? &conv_cases[i] : &extra_cases[i - nbase];
    tc[i].c = c;
    int64_t xs[5], ws[5], bs[1];
    conv_case_shapes(c, xs, ws, bs);
    tc[i].x = ps_gc_leaf(5, xs, true, rng);
    tc[i].w = ps_gc_leaf(5, ws, true, rng);
    tc[i].b = ps_gc_leaf(1, bs, true, rng);
    /* learn the output shape from a forward without grad */
    ps_tape *t = ps_tape_create();
    ps_tape_set_grad_enabled(t, false);
    ps_tensor *y = conv_case_apply(t, c, tc[i].x, tc[i].w, tc[i].b);
    CHECK(y != NULL, "%s: forward failed: %s", c->name, ps_last_error());
    if (y) {
      memcpy(tc[i].yshape, y->shape, sizeof tc[i].yshape);
      tc[i].ny = y->numel;
      tc[i].gy = malloc((size_t)y->numel * sizeof(float));
      for (int64_t j = 0; j < y->numel; j++) tc[i].gy[j] = (float)ps_rng_uniform_range(rng, -1, 1);
    }
    ps_tape_free(t);
    if (!y) continue;
    bool ok = write_f32(dir, i, "x", tc[i].x->data, tc[i].x->numel) && write_f32(dir, i, "w", tc[i].w->data, tc[i].w->numel) &&
              write_f32(dir, i, "b", tc[i].b->data, tc[i].b->numel) && write_f32(dir, i, "gy", tc[i].gy, tc[i].ny);
    CHECK(ok, "%s: cannot write inputs to %s", c->name, dir);
    fprintf(lf, "%d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d\n", i, c->n, c->cin, c->cout,
            c->d, c->h, c->w, c->k[0], c->k[1], c->k[2], c->s[0], c->s[1], c->s[2], c->p[0], c->p[1], c->p[2], c->dil[0],
            c->dil[1], c->dil[2], c->op[0], c->op[1], c->op[2], c->groups, (int)c->bias, (int)c->transposed);
  }
  fclose(lf);
  int rc = ps_test_sh("'%s' '%s' '%s'", py, script, dir);
  CHECK(rc == 0, "%s %s failed (exit %d)", py, script, rc);
  for (int i = 0; i < nc && rc == 0; i++) {
    if (!tc[i].gy) continue;
    const conv_case *c = tc[i].c;
    /* torch's output shape must be ours */
    char *sp = ps_strfmt("%s/c%d_yshape.txt", dir, i);
    FILE *f = fopen(sp, "r");
    long long s[5] = {0};
    int got = f ? fscanf(f, "%lld %lld %lld %lld %lld", &s[0], &s[1], &s[2], &s[3], &s[4]) : 0;
    if (f) fclose(f);
    free(sp);
    bool same = got == 5;
    for (int d = 0; d < 5 && same; d++) same = s[d] == tc[i].yshape[d];
    CHECK(same, "%s: torch output shape [%lld,%lld,%lld,%lld,%lld], ours [%lld,%lld,%lld,%lld,%lld]", c->name, s[0], s[1],
          s[2], s[3], s[4], (long long)tc[i].yshape[0], (long long)tc[i].yshape[1], (long long)tc[i].yshape[2],
          (long long)tc[i].yshape[3], (long long)tc[i].yshape[4]);
    float *ty = read_f32(dir, i, "y", tc[i].ny), *tgx = read_f32(dir, i, "gx", tc[i].x->numel);
    float *tgw = read_f32(dir, i, "gw", tc[i].w->numel), *tgb = c->bias ? read_f32(dir, i, "gb", tc[i].b->numel) : NULL;
    CHECK(ty && tgx && tgw && (!c->bias || tgb), "%s: missing or short torch outputs in %s", c->name, dir);
    for (int ref = 0; ref < 2 && ty && tgx && tgw && (!c->bias || tgb); ref++) {
      g_be = ps_backend_get(ref ? "cpu-ref" : "cpu");
      float *y = NULL, *gx = NULL, *gw = NULL, *gb = NULL;
      if (!ours(&tc[i], &y, &gx, &gw, &gb)) { CHECK(false, "%s: our run failed", c->name); continue; }
      const char *path = ref ? "reference" : "fast";
      double ey = ps_test_max_rel_err(y, ty, (size_t)tc[i].ny, 1e-3);
      double ex = ps_test_max_rel_err(gx, tgx, (size_t)tc[i].x->numel, 1e-3);
      double ew = ps_test_max_rel_err(gw, tgw, (size_t)tc[i].w->numel, 1e-3);
      double eb = c->bias ? ps_test_max_rel_err(gb, tgb, (size_t)tc[i].b->numel, 1e-3) : 0;
      CHECK(ey < 1e-4, "%s (%s): y vs torch rel err %.2e", c->name, path, ey);
      CHECK(ex < 1e-4, "%s (%s): grad x vs torch rel err %.2e", c->name, path, ex);
      CHECK(ew < 1e-4, "%s (%s): grad w vs torch rel err %.2e", c->name, path, ew);
      CHECK(eb < 1e-4, "%s (%s): grad b vs torch rel err %.2e", c->name, path, eb);
      if (!ref) fprintf(stderr, "torch %-28s y %.1e gx %.1e gw %.1e gb %.1e\n", c->name, ey, ex, ew, eb);
      free(y); free(gx); free(gw); free(gb);
    }
    free(ty); free(tgx); free(tgw); free(tgb);
  }
  for (int i = 0; i < nc; i++) {
    ps_gc_leaf_free(tc[i].x); ps_gc_leaf_free(tc[i].w); ps_gc_leaf_free(tc[i].b);
    free(tc[i].gy);
  }
  free(tc);
  free(list);
  ps_rng_free(rng);
  if (ps_test_failed == 0) ps_test_sh("rm -rf '%s'", dir);
  free(dir);
  ps_conv_scratch_release();
  return ps_test_done("conv_torch");
}
