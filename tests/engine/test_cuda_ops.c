/* Every CUDA kernel against the CPU ops (the tape's reference results) on the
 * shapes the U-Net family and NAS cells use: forward outputs and all gradients
 * by NMSE = sum (gpu - cpu)^2 / sum cpu^2. Thresholds: convolutions 1e-5 (cuDNN
 * with TF32 off, FMA math), GEMMs 1e-6 (cuBLAS pedantic), everything else 1e-7;
 * losses by relative error 1e-5. Also the allocator's caching and an injected
 * allocation failure. Without a GPU (or a build without PS_WITH_CUDA): SKIP, 77. */
#include "proxyseg/nn.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef PS_HAVE_CUDA
int main(void) {
  printf("SKIP: test_cuda_ops: built without PS_WITH_CUDA (no CUDA backend to test)\n");
  return 77;
}
#else
#include "backend/cuda/cuda_internal.h"

static ps_cuda *G;
static int fails, checks;
static uint64_t rs = 88172645463325252ULL;
static float frand(void) { /* xorshift64, uniform [-1, 1) */
  rs ^= rs << 13;
  rs ^= rs >> 7;
  rs ^= rs << 17;
  return (float)((double)(rs >> 11) / 4503599627370496.0 - 1.0);
}

static void *dalloc(size_t bytes) {
  void *p = ps_cuda_alloc(G, bytes);
  if (!p) {
    fprintf(stderr, "FATAL: %s\n", ps_last_error());
    exit(1);
  }
  return p;
}
static float *up(const float *h, int64_t n) {
  float *d = dalloc((size_t)n * sizeof(float) + 4);
  if (ps_cuda_h2d(G, d, h, (size_t)n * sizeof(float))) { fprintf(stderr, "FATAL: %s\n", ps_last_error()); exit(1); }
  return d;
}
static float *down(const float *d, int64_t n) {
  float *h = malloc((size_t)n * sizeof(float) + 4);
  if (ps_cuda_d2h(G, h, d, (size_t)n * sizeof(float))) { fprintf(stderr, "FATAL: %s\n", ps_last_error()); exit(1); }
  return h;
}
static void ok(ps_status st, const char *what) {
  if (st != PS_OK) {
    printf("FAIL %s: %s\n", what, ps_last_error());
    fails++;
  }
}
/* compares the device array d with the host reference ref */
static void cmp(const char *op, const char *what, const float *d, const float *ref, int64_t n, double thr) {
  float *h = down(d, n);
  double num = 0, den = 0;
  for (int64_t i = 0; i < n; i++) {
    double e = (double)h[i] - ref[i];
    num += e * e;
    den += (double)ref[i] * ref[i];
  }
  double v = den > 0 ? num / den : num;
  checks++;
  bool bad = !(v <= thr);
  if (bad) fails++;
  printf("%s %-28s %-10s n=%-9lld nmse=%.3e (<= %.0e)\n", bad ? "FAIL" : "ok  ", op, what, (long long)n, v, thr);
  free(h);
}

static ps_tensor *leaf(ps_tape *t, int nd, const int64_t *shape, float scale) {
  ps_tensor *x = ps_tape_tensor(t, nd, shape);
  for (int64_t i = 0; i < x->numel; i++) x->data[i] = scale * frand();
  x->requires_grad = true;
  return x;
}
static float *rnd(int64_t n) {
  float *h = malloc((size_t)n * sizeof(float));
  for (int64_t i = 0; i < n; i++) h[i] = frand();
  return h;
}
#define S3(s) ((s)[2] * (s)[3] * (s)[4])
#define T_EW 1e-7
#define T_CONV 1e-5
#define T_GEMM 1e-6

/* ---- convolution and transposed convolution ---- */
static void conv_case(const char *name, int64_t N, int64_t C, int64_t K, int64_t D, int64_t H, int64_t W, int ks,
                      int stride, int pad, int dil, int groups, bool bias, bool transposed, int outpad) {
  ps_tape *t = ps_tape_create();
  ps_conv_params p = ps_conv_params_default();
  for (int i = 0; i < 3; i++) {
    p.stride[i] = stride;
    p.pad[i] = pad;
    p.dilation[i] = dil;
    p.output_padding[i] = outpad;
  }
  p.groups = groups;
  ps_tensor *x = leaf(t, 5, (int64_t[]){N, C, D, H, W}, 1.0f);
  ps_tensor *w = transposed ? leaf(t, 5, (int64_t[]){C, K / groups, ks, ks, ks}, 0.3f)
                            : leaf(t, 5, (int64_t[]){K, C / groups, ks, ks, ks}, 0.3f);
  ps_tensor *b = bias ? leaf(t, 1, (int64_t[]){K}, 0.5f) : NULL;
  ps_tensor *y = transposed ? ps_conv_transpose3d(t, x, w, b, &p) : ps_conv3d(t, x, w, b, &p);
  if (!y) {
    printf("FAIL %s: cpu op: %s\n", name, ps_last_error());
    fails++;
    ps_tape_free(t);
    return;
  }
  float *dyh = rnd(y->numel);
  ok(ps_tape_backward_seed(t, y, dyh), "cpu backward");
  ps_cuda_conv_geom g;
  memset(&g, 0, sizeof g);
  g.n = N;
  g.groups = groups;
  for (int i = 0; i < 3; i++) {
    g.ks[i] = ks;
    g.stride[i] = stride;
    g.pad[i] = pad;
    g.dil[i] = dil;
    g.in[i] = transposed ? y->shape[2 + i] : x->shape[2 + i];
    g.out[i] = transposed ? x->shape[2 + i] : y->shape[2 + i];
  }
  g.c = transposed ? K : C;
  g.k = transposed ? C : K;
  if (!ps_cuda_conv_supported(&g)) {
    printf("FAIL %s: geometry reported unsupported\n", name);
    fails++;
    ps_tape_free(t);
    free(dyh);
    return;
  }
  float *dx = up(x->data, x->numel), *dw = up(w->data, w->numel), *db = b ? up(b->data, K) : NULL;
  float *ddy = up(dyh, y->numel), *dy = dalloc((size_t)y->numel * 4);
  float *gx = dalloc((size_t)x->numel * 4), *gw = dalloc((size_t)w->numel * 4), *gb = dalloc((size_t)K * 4);
  const int64_t Sy = S3(y->shape);
  if (!transposed) {
    ok(ps_cuda_conv_forward(G, &g, dx, dw, db, dy, false), name);
    ok(ps_cuda_conv_backward_data(G, &g, ddy, dw, gx, false), name);
    ok(ps_cuda_conv_backward_weight(G, &g, dx, ddy, gw, false), name);
  } else {
    ok(ps_cuda_conv_backward_data(G, &g, dx, dw, dy, false), name);
    if (db) ok(ps_cuda_bias_add(G, N, K, Sy, db, dy), name);
    ok(ps_cuda_conv_forward(G, &g, ddy, dw, NULL, gx, false), name);
    ok(ps_cuda_conv_backward_weight(G, &g, ddy, dx, gw, false), name);
  }
  if (db) ok(ps_cuda_bias_grad(G, N, K, Sy, ddy, gb, false), name);
  cmp(name, "y", dy, y->data, y->numel, T_CONV);
  cmp(name, "dx", gx, x->grad, x->numel, T_CONV);
  cmp(name, "dw", gw, w->grad, w->numel, T_CONV);
  if (db) cmp(name, "db", gb, b->grad, K, T_CONV);
  /* accumulate mode: a second backward-weight adds the same again */
  if (!transposed) {
    ok(ps_cuda_conv_backward_weight(G, &g, dx, ddy, gw, true), name);
    float *twice = malloc((size_t)w->numel * 4);
    for (int64_t i = 0; i < w->numel; i++) twice[i] = 2 * w->grad[i];
    cmp(name, "dw acc", gw, twice, w->numel, T_CONV);
    free(twice);
  }
  void *all[] = {dx, dw, db, ddy, dy, gx, gw, gb};
  for (size_t i = 0; i < sizeof all / sizeof *all; i++) ps_cuda_release(G, all[i]);
  free(dyh);
  ps_tape_free(t);
}

/* ---- instance / batch norm ---- */
static void norm_case(const char *name, bool instance, bool training, int64_t N, int64_t C, int64_t D) {
  ps_tape *t = ps_tape_create();
  ps_tensor *x = leaf(t, 5, (int64_t[]){N, C, D, D + 1, D}, 2.0f);
  for (int64_t i = 0; i < x->numel; i++) x->data[i] += 3.0f; /* an offset: the shifted sums must cope */
  ps_tensor *ga = leaf(t, 1, (int64_t[]){C}, 1.0f), *be = leaf(t, 1, (int64_t[]){C}, 1.0f);
  float *rm = rnd(C), *rv = rnd(C);
  for (int64_t i = 0; i < C; i++) rv[i] = 1.5f + rv[i];
  float *drm = up(rm, C), *drv = up(rv, C);
  ps_tensor *y = instance ? ps_instance_norm(t, x, ga, be, 1e-5f) : ps_batch_norm(t, x, ga, be, rm, rv, 0.1f, 1e-5f, training);
  if (!y) {
    printf("FAIL %s: cpu op: %s\n", name, ps_last_error());
    fails++;
    return;
  }
  float *dyh = rnd(y->numel);
  ok(ps_tape_backward_seed(t, y, dyh), "cpu backward");
  const int64_t S = S3(x->shape), Gn = instance ? N * C : C;
  ps_cuda_norm_geom g = {.N = N, .C = C, .S = S, .per_sample = instance};
  float *dx = up(x->data, x->numel), *dga = up(ga->data, C), *dbe = up(be->data, C), *ddy = up(dyh, y->numel);
  float *mean = dalloc((size_t)Gn * 4), *rstd = dalloc((size_t)Gn * 4), *var = dalloc((size_t)Gn * 4);
  float *dy = dalloc((size_t)y->numel * 4), *gx = dalloc((size_t)x->numel * 4), *gg = dalloc((size_t)C * 4),
        *gb = dalloc((size_t)C * 4);
  if (training || instance) {
    ok(ps_cuda_norm_stats(G, &g, dx, 1e-5f, mean, rstd, var), name);
    if (!instance) ok(ps_cuda_bn_running_update(G, C, N * S, 0.1f, mean, var, drm, drv), name);
  } else {
    ok(ps_cuda_bn_eval_stats(G, C, drm, drv, 1e-5f, mean, rstd), name);
  }
  ok(ps_cuda_norm_apply(G, &g, dx, mean, rstd, dga, dbe, dy), name);
  ok(ps_cuda_norm_backward(G, &g, dx, mean, rstd, dga, ddy, training || instance, gx, false, gg, false, gb, false), name);
  cmp(name, "y", dy, y->data, y->numel, T_EW);
  cmp(name, "dx", gx, x->grad, x->numel, T_EW);
  cmp(name, "dgamma", gg, ga->grad, C, T_EW);
  cmp(name, "dbeta", gb, be->grad, C, T_EW);
  if (!instance && training) {
    cmp(name, "run_mean", drm, rm, C, T_EW);
    cmp(name, "run_var", drv, rv, C, T_EW);
  }
  void *all[] = {drm, drv, dx, dga, dbe, ddy, mean, rstd, var, dy, gx, gg, gb};
  for (size_t i = 0; i < sizeof all / sizeof *all; i++) ps_cuda_release(G, all[i]);
  free(rm);
  free(rv);
  free(dyh);
  ps_tape_free(t);
}

/* ---- one-input ops: activations, pools, upsampling, softmax, scale, slice ---- */
typedef enum { U_RELU, U_LEAKY, U_SIGMOID, U_TANH, U_MAXPOOL, U_AVGPOOL, U_UPSAMPLE, U_SOFTMAX, U_SCALE, U_SLICE } unary;
typedef struct {
  ps_pool_params pool;
  int64_t out[3];
  ps_upsample_mode mode;
  int64_t start, len;
} unary_args;

static void unary_case(const char *name, unary k, const int64_t *shape, const unary_args *a) {
  ps_tape *t = ps_tape_create();
  ps_tensor *x = leaf(t, 5, shape, 2.0f), *y = NULL;
  switch (k) {
  case U_RELU: y = ps_relu(t, x); break;
  case U_LEAKY: y = ps_leaky_relu(t, x, 0.01f); break;
  case U_SIGMOID: y = ps_sigmoid(t, x); break;
  case U_TANH: y = ps_tanh(t, x); break;
  case U_MAXPOOL: y = ps_max_pool3d(t, x, &a->pool); break;
  case U_AVGPOOL: y = ps_avg_pool3d(t, x, &a->pool); break;
  case U_UPSAMPLE: y = ps_upsample3d(t, x, a->out, a->mode); break;
  case U_SOFTMAX: y = ps_softmax(t, x); break;
  case U_SCALE: y = ps_scale(t, x, -1.7f); break;
  case U_SLICE: y = ps_slice(t, x, a->start, a->len); break;
  }
  if (!y) {
    printf("FAIL %s: cpu op: %s\n", name, ps_last_error());
    fails++;
    ps_tape_free(t);
    return;
  }
  float *dyh = rnd(y->numel);
  ok(ps_tape_backward_seed(t, y, dyh), "cpu backward");
  float *dx = up(x->data, x->numel), *ddy = up(dyh, y->numel), *dy = dalloc((size_t)y->numel * 4);
  float *gx = dalloc((size_t)x->numel * 4);
  int32_t *am = dalloc((size_t)y->numel * 4);
  const int64_t N = shape[0], C = shape[1], S = S3(shape);
  ps_cuda_pool_geom pg;
  memset(&pg, 0, sizeof pg);
  pg.planes = N * C;
  for (int d = 0; d < 3; d++) {
    pg.in[d] = shape[2 + d];
    pg.out[d] = y->shape[2 + d];
    pg.k[d] = a ? a->pool.kernel[d] : 1;
    pg.s[d] = a ? a->pool.stride[d] : 1;
    pg.p[d] = a ? a->pool.pad[d] : 0;
  }
  pg.count_include_pad = a && a->pool.count_include_pad;
  const ps_cuda_act acts[4] = {PS_CUDA_RELU, PS_CUDA_LEAKY, PS_CUDA_SIGMOID, PS_CUDA_TANH};
  switch (k) {
  case U_RELU: case U_LEAKY: case U_SIGMOID: case U_TANH:
    ok(ps_cuda_act_forward(G, acts[k], 0.01f, dx, dy, x->numel), name);
    ok(ps_cuda_act_backward(G, acts[k], 0.01f, dx, dy, ddy, gx, x->numel, false), name);
    break;
  case U_MAXPOOL:
    ok(ps_cuda_maxpool_forward(G, &pg, dx, dy, am), name);
    ok(ps_cuda_maxpool_backward(G, &pg, am, ddy, gx, false), name);
    break;
  case U_AVGPOOL:
    ok(ps_cuda_avgpool_forward(G, &pg, dx, dy), name);
    ok(ps_cuda_avgpool_backward(G, &pg, ddy, gx, false), name);
    break;
  case U_UPSAMPLE: {
    const bool tri = a->mode == PS_UPSAMPLE_TRILINEAR;
    ok(ps_cuda_upsample_forward(G, tri, N * C, pg.in, a->out, dx, dy), name);
    ok(ps_cuda_upsample_backward(G, tri, N * C, pg.in, a->out, ddy, gx, false), name);
    break;
  }
  case U_SOFTMAX:
    ok(ps_cuda_softmax_forward(G, N, C, S, dx, dy), name);
    ok(ps_cuda_softmax_backward(G, N, C, S, dy, ddy, gx, false), name);
    break;
  case U_SCALE:
    ok(ps_cuda_axpby(G, -1.7f, dx, dy, x->numel, false), name);
    ok(ps_cuda_axpby(G, -1.7f, ddy, gx, x->numel, false), name);
    break;
  case U_SLICE:
    ok(ps_cuda_copy_channels(G, N, S, dx, C, a->start, dy, a->len, 0, a->len, false), name);
    ok(ps_cuda_memset0(G, gx, (size_t)x->numel * 4), name);
    ok(ps_cuda_copy_channels(G, N, S, ddy, a->len, 0, gx, C, a->start, a->len, true), name);
    break;
  }
  cmp(name, "y", dy, y->data, y->numel, T_EW);
  cmp(name, "dx", gx, x->grad, x->numel, T_EW);
  void *all[] = {dx, ddy, dy, gx, am};
  for (size_t i = 0; i < sizeof all / sizeof *all; i++) ps_cuda_release(G, all[i]);
  free(dyh);
  ps_tape_free(t);
}

/* ---- several inputs: add, mul, concat, weighted sum ---- */
static void multi_case(void) {
  const int64_t sh[5] = {2, 3, 5, 4, 6}, sh2[5] = {2, 5, 5, 4, 6};
  ps_tape *t = ps_tape_create();
  ps_tensor *a = leaf(t, 5, sh, 1), *b = leaf(t, 5, sh, 1), *c3 = leaf(t, 5, sh2, 1);
  ps_tensor *w = leaf(t, 1, (int64_t[]){3}, 1);
  const int64_t n = a->numel, S = S3(sh);
  ps_tensor *s = ps_add(t, a, b), *m = ps_mul(t, s, b);
  ps_tensor *cat = ps_concat(t, 2, (ps_tensor *[]){m, c3});
  ps_tensor *xs[3] = {a, m, ps_scale(t, b, 0.5f)};
  ps_tensor *ws = ps_weighted_sum(t, 3, xs, w);
  /* one scalar-free seed per output: backward from cat and ws together through a sum */
  ps_tensor *cat_a = ps_slice(t, cat, 0, 3);
  ps_tensor *out = ps_add(t, ps_add(t, cat_a, ws), ps_slice(t, cat, 4, 3));
  float *dyh = rnd(out->numel);
  ok(ps_tape_backward_seed(t, out, dyh), "cpu backward");
  /* the same graph on the GPU, forward and backward by hand */
  float *da = up(a->data, n), *dbb = up(b->data, n), *dc = up(c3->data, c3->numel), *dw = up(w->data, 3);
  float *ds = dalloc(n * 4), *dm = dalloc(n * 4), *dcat = dalloc((size_t)(2 * 8 * S) * 4), *dsc = dalloc(n * 4);
  float *dws = dalloc(n * 4), *dout = dalloc(n * 4), *ddy = up(dyh, n);
  ok(ps_cuda_add(G, da, dbb, ds, n), "add");
  ok(ps_cuda_mul(G, ds, dbb, dm, n, false), "mul");
  ok(ps_cuda_copy_channels(G, 2, S, dm, 3, 0, dcat, 8, 0, 3, false), "concat");
  ok(ps_cuda_copy_channels(G, 2, S, dc, 5, 0, dcat, 8, 3, 5, false), "concat");
  ok(ps_cuda_axpby(G, 0.5f, dbb, dsc, n, false), "scale");
  const float *wx[3] = {da, dm, dsc};
  ok(ps_cuda_weighted_sum(G, 3, wx, dw, dws, n), "weighted sum");
  ok(ps_cuda_copy_channels(G, 2, S, dcat, 8, 0, dout, 3, 0, 3, false), "slice");
  ok(ps_cuda_add(G, dout, dws, dout, n), "add");
  float *tmp = dalloc(n * 4);
  ok(ps_cuda_copy_channels(G, 2, S, dcat, 8, 4, tmp, 3, 0, 3, false), "slice");
  ok(ps_cuda_add(G, dout, tmp, dout, n), "add");
  cmp("graph add/mul/concat/wsum", "y", dout, out->data, n, T_EW);
  /* backward: dcat = slices' grads; dws = dy; dm from cat and wsum; da, db */
  float *gcat = dalloc((size_t)(2 * 8 * S) * 4), *gm = dalloc(n * 4), *ga = dalloc(n * 4), *gb = dalloc(n * 4);
  float *gc = dalloc((size_t)c3->numel * 4), *gs = dalloc(n * 4), *gw = dalloc(3 * 4);
  float *wh = w->data;
  ok(ps_cuda_memset0(G, gcat, (size_t)(2 * 8 * S) * 4), "memset");
  ok(ps_cuda_copy_channels(G, 2, S, ddy, 3, 0, gcat, 8, 0, 3, true), "slice bwd");
  ok(ps_cuda_copy_channels(G, 2, S, ddy, 3, 0, gcat, 8, 4, 3, true), "slice bwd");
  ok(ps_cuda_dot(G, ddy, da, n, gw + 0, false), "dot");
  ok(ps_cuda_dot(G, ddy, dm, n, gw + 1, false), "dot");
  ok(ps_cuda_dot(G, ddy, dsc, n, gw + 2, false), "dot");
  ok(ps_cuda_copy_channels(G, 2, S, gcat, 8, 0, gm, 3, 0, 3, false), "concat bwd");
  ok(ps_cuda_copy_channels(G, 2, S, gcat, 8, 3, gc, 5, 0, 5, false), "concat bwd");
  ok(ps_cuda_axpby(G, wh[1], ddy, gm, n, true), "wsum bwd");
  ok(ps_cuda_axpby(G, wh[0], ddy, ga, n, false), "wsum bwd");
  ok(ps_cuda_axpby(G, 0.5f * wh[2], ddy, gb, n, false), "wsum/scale bwd");
  ok(ps_cuda_mul(G, gm, ds, gb, n, true), "mul bwd b");
  ok(ps_cuda_mul(G, gm, dbb, gs, n, false), "mul bwd s");
  ok(ps_cuda_axpby(G, 1.0f, gs, ga, n, true), "add bwd");
  ok(ps_cuda_axpby(G, 1.0f, gs, gb, n, true), "add bwd");
  cmp("graph add/mul/concat/wsum", "da", ga, a->grad, n, T_EW);
  cmp("graph add/mul/concat/wsum", "db", gb, b->grad, n, T_EW);
  cmp("graph add/mul/concat/wsum", "dc", gc, c3->grad, c3->numel, T_EW);
  cmp("graph add/mul/concat/wsum", "dw", gw, w->grad, 3, T_EW);
  void *all[] = {da, dbb, dc, dw, ds, dm, dcat, dsc, dws, dout, ddy, tmp, gcat, gm, ga, gb, gc, gs, gw};
  for (size_t i = 0; i < sizeof all / sizeof *all; i++) ps_cuda_release(G, all[i]);
  free(dyh);
  ps_tape_free(t);
}

/* ---- linear and matmul through cuBLAS ---- */
static void gemm_case(void) {
  ps_tape *t = ps_tape_create();
  const int N = 5, In = 37, Out = 11;
  ps_tensor *x = leaf(t, 2, (int64_t[]){N, In}, 1), *w = leaf(t, 2, (int64_t[]){Out, In}, 1), *b = leaf(t, 1, (int64_t[]){Out}, 1);
  ps_tensor *y = ps_linear(t, x, w, b);
  ps_tensor *m2 = leaf(t, 2, (int64_t[]){Out, 7}, 1);
  ps_tensor *z = ps_matmul(t, y, m2);
  float *dzh = rnd(z->numel);
  ok(ps_tape_backward_seed(t, z, dzh), "cpu backward");
  float *dx = up(x->data, x->numel), *dw = up(w->data, w->numel), *db = up(b->data, Out), *dm = up(m2->data, m2->numel);
  float *dy = dalloc((size_t)N * Out * 4), *dz = dalloc((size_t)N * 7 * 4), *ddz = up(dzh, z->numel);
  float *gy = dalloc((size_t)N * Out * 4), *gm = dalloc((size_t)Out * 7 * 4), *gx = dalloc((size_t)N * In * 4);
  float *gw = dalloc((size_t)Out * In * 4), *gb = dalloc((size_t)Out * 4);
  ok(ps_cuda_sgemm(G, false, true, N, Out, In, 1, dx, In, dw, In, 0, dy, Out), "linear");
  ok(ps_cuda_bias_add(G, N, Out, 1, db, dy), "linear bias");
  ok(ps_cuda_sgemm(G, false, false, N, 7, Out, 1, dy, Out, dm, 7, 0, dz, 7), "matmul");
  ok(ps_cuda_sgemm(G, false, true, N, Out, 7, 1, ddz, 7, dm, 7, 0, gy, Out), "matmul da");
  ok(ps_cuda_sgemm(G, true, false, Out, 7, N, 1, dy, Out, ddz, 7, 0, gm, 7), "matmul db");
  ok(ps_cuda_sgemm(G, false, false, N, In, Out, 1, gy, Out, dw, In, 0, gx, In), "linear dx");
  ok(ps_cuda_sgemm(G, true, false, Out, In, N, 1, gy, Out, dx, In, 0, gw, In), "linear dw");
  ok(ps_cuda_bias_grad(G, N, Out, 1, gy, gb, false), "linear db");
  cmp("linear+matmul", "y", dz, z->data, z->numel, T_GEMM);
  cmp("linear+matmul", "dm", gm, m2->grad, m2->numel, T_GEMM);
  cmp("linear+matmul", "dx", gx, x->grad, x->numel, T_GEMM);
  cmp("linear+matmul", "dw", gw, w->grad, w->numel, T_GEMM);
  cmp("linear+matmul", "db", gb, b->grad, Out, T_GEMM);
  void *all[] = {dx, dw, db, dm, dy, dz, ddz, gy, gm, gx, gw, gb};
  for (size_t i = 0; i < sizeof all / sizeof *all; i++) ps_cuda_release(G, all[i]);
  free(dzh);
  ps_tape_free(t);
}

/* ---- losses ---- */
static void loss_case(const char *name, int kind, int64_t N, int64_t C, int64_t D, bool weights, int ignore, bool batch,
                      bool bg) {
  ps_tape *t = ps_tape_create();
  ps_tensor *x = leaf(t, 5, (int64_t[]){N, C, D, D, D + 2}, 3.0f);
  const int64_t S = S3(x->shape);
  uint8_t *lab = malloc((size_t)(N * S));
  for (int64_t i = 0; i < N * S; i++) {
    lab[i] = (uint8_t)((frand() + 1) * 0.5 * C) % C;
    if (ignore >= 0 && frand() > 0.8f) lab[i] = (uint8_t)ignore;
  }
  float cw[16];
  for (int k = 0; k < C; k++) cw[k] = 0.5f + 0.25f * k;
  ps_loss_params p = ps_loss_params_default();
  p.class_weights = weights ? cw : NULL;
  p.ignore_label = ignore;
  p.dice_batch = batch;
  p.dice_include_background = bg;
  p.weight_ce = 0.7f;
  p.weight_dice = 1.3f;
  ps_tensor *y = kind == 0 ? ps_cross_entropy(t, x, lab, &p) : kind == 1 ? ps_soft_dice_loss(t, x, lab, &p)
                                                                          : ps_dice_ce_loss(t, x, lab, &p);
  if (!y) {
    printf("FAIL %s: cpu op: %s\n", name, ps_last_error());
    fails++;
    return;
  }
  const float seed = 0.7f;
  ok(ps_tape_backward_seed(t, y, &seed), "cpu backward");
  ps_cuda_loss_geom g = {.N = N, .C = C, .S = S, .class_weights = NULL, .ignore_label = ignore, .smooth = p.dice_smooth,
                         .wce = kind == 0 ? 1.0f : kind == 1 ? 0.0f : p.weight_ce,
                         .wdice = kind == 0 ? 0.0f : kind == 1 ? 1.0f : p.weight_dice,
                         .dice_batch = batch, .include_background = bg};
  float *dcw = weights ? up(cw, C) : NULL;
  g.class_weights = dcw;
  float *dx = up(x->data, x->numel), *dl = dalloc(4), *dup = up(&seed, 1), *gx = dalloc((size_t)x->numel * 4);
  uint8_t *dlab = dalloc((size_t)(N * S));
  ok(ps_cuda_h2d(G, dlab, lab, (size_t)(N * S)), "labels");
  ps_cuda_loss_state st;
  ok(ps_cuda_loss_forward(G, &g, dx, dlab, dl, &st, true), name);
  ok(ps_cuda_loss_backward(G, &g, dx, dlab, &st, dup, gx, false), name);
  float lv = 0;
  ok(ps_cuda_d2h(G, &lv, dl, 4), "loss read-back");
  const double rel = fabs((double)lv - y->data[0]) / fmax(fabs(y->data[0]), 1e-12);
  checks++;
  if (!(rel <= 1e-5)) fails++;
  printf("%s %-28s %-10s gpu=%.7g cpu=%.7g rel=%.2e (<= 1e-05)\n", rel <= 1e-5 ? "ok  " : "FAIL", name, "loss", lv,
         y->data[0], rel);
  cmp(name, "dlogits", gx, x->grad, x->numel, T_EW);
  /* the forward-only path (validation) gives the same value */
  float *dl2 = dalloc(4);
  ok(ps_cuda_loss_forward(G, &g, dx, dlab, dl2, NULL, false), name);
  cmp(name, "loss eval", dl2, y->data, 1, 1e-10);
  ps_cuda_loss_state_free(G, &st);
  void *all[] = {dcw, dx, dl, dup, gx, dlab, dl2};
  for (size_t i = 0; i < sizeof all / sizeof *all; i++) ps_cuda_release(G, all[i]);
  free(lab);
  ps_tape_free(t);
}

static void bad_label_case(void) {
  uint8_t lab[8] = {0, 1, 1, 0, 7, 0, 1, 0};
  float xh[16];
  for (int i = 0; i < 16; i++) xh[i] = frand();
  ps_cuda_loss_geom g = {.N = 1, .C = 2, .S = 8, .ignore_label = 255, .smooth = 1e-5f, .wce = 1, .wdice = 1};
  float *dx = up(xh, 16), *dl = dalloc(4);
  uint8_t *dlab = dalloc(8);
  ok(ps_cuda_h2d(G, dlab, lab, 8), "labels");
  ps_cuda_loss_state st;
  ps_status s = ps_cuda_loss_forward(G, &g, dx, dlab, dl, &st, true);
  checks++;
  if (s != PS_ERR_INVALID) fails++;
  printf("%s %-28s label 7 of 2 classes -> %s (%s)\n", s == PS_ERR_INVALID ? "ok  " : "FAIL", "loss bad label",
         ps_status_name(s), ps_last_error());
  int64_t bad = 0;
  ok(ps_cuda_labels_check(G, dlab, 8, 2, 255, &bad), "labels check");
  checks++;
  if (bad != 4) fails++;
  printf("%s %-28s first bad voxel %lld (expected 4)\n", bad == 4 ? "ok  " : "FAIL", "labels check", (long long)bad);
  ps_cuda_release(G, dx);
  ps_cuda_release(G, dl);
  ps_cuda_release(G, dlab);
}

/* ---- optimisers, gradient norm, non-finite check ---- */
static void optim_case(const char *kind, const char *hp_json, ps_cuda_opt_params op) {
  const int64_t n = 1000;
  ps_params *p = ps_params_create();
  ps_params_add(p, "w", 1, (int64_t[]){n});
  cJSON *hp = cJSON_Parse(hp_json);
  ps_optim *o = ps_optim_create(kind, p, hp);
  cJSON_Delete(hp);
  if (!o) {
    printf("FAIL optim %s: %s\n", kind, ps_last_error());
    fails++;
    return;
  }
  float *w = ps_params_data(p), *g = ps_params_grad(p);
  for (int64_t i = 0; i < n; i++) w[i] = frand();
  float *dw = up(w, n), *dg = dalloc(n * 4), *dm = dalloc(n * 4), *dv = dalloc(n * 4);
  ok(ps_cuda_memset0(G, dm, n * 4), "memset");
  ok(ps_cuda_memset0(G, dv, n * 4), "memset");
  for (int s = 1; s <= 4; s++) {
    for (int64_t i = 0; i < n; i++) g[i] = frand();
    ok(ps_cuda_h2d(G, dg, g, n * 4), "grad upload");
    ok(ps_optim_step(o, op.lr), "cpu step");
    op.step = s;
    ok(ps_cuda_optim_step(G, &op, dw, dg, dm, dv, n), kind);
  }
  char nm[64];
  snprintf(nm, sizeof nm, "optim %s", kind);
  cmp(nm, "w (4 steps)", dw, w, n, T_EW);
  /* grad norm as ps_clip_grad_norm (max_norm 0: no clipping), then a NaN */
  float norm = 0;
  const float ref = ps_clip_grad_norm(p, 0.0f);
  ok(ps_cuda_grad_norm(G, dg, n, &norm), "grad norm");
  cmp(nm, "grad norm", up(&norm, 1), &ref, 1, 1e-12);
  bool fin = false;
  ok(ps_cuda_all_finite(G, dg, n, &fin), "finite");
  g[17] = NAN;
  ok(ps_cuda_h2d(G, dg, g, n * 4), "grad upload");
  bool fin2 = true;
  ok(ps_cuda_all_finite(G, dg, n, &fin2), "finite");
  ok(ps_cuda_grad_norm(G, dg, n, &norm), "grad norm");
  checks++;
  const bool good = fin && !fin2 && !isfinite(norm);
  if (!good) fails++;
  printf("%s %-28s finite before NaN %d, after %d, norm with NaN %g\n", good ? "ok  " : "FAIL", nm, fin, fin2, norm);
  ps_cuda_release(G, dw);
  ps_cuda_release(G, dg);
  ps_cuda_release(G, dm);
  ps_cuda_release(G, dv);
  ps_optim_free(o);
  ps_params_free(p);
}

static void alloc_case(void) {
  size_t m0, m1, held;
  void *a = dalloc(1000);
  ps_cuda_release(G, a);
  ps_cuda_mem_stats(G, &m0, &held, NULL);
  void *b = dalloc(900); /* same rounded size: the cached block, no cudaMalloc */
  ps_cuda_mem_stats(G, &m1, &held, NULL);
  checks++;
  const bool reuse = a == b && m1 == m0;
  if (!reuse) fails++;
  printf("%s %-28s cached block reused %d, cudaMalloc calls %zu -> %zu\n", reuse ? "ok  " : "FAIL", "allocator", a == b, m0, m1);
  ps_cuda_release(G, b);
  ps_cuda_fail_alloc_after(G, 0);
  void *c = ps_cuda_alloc(G, 64);
  checks++;
  if (c) fails++;
  printf("%s %-28s injected failure -> %s\n", c ? "FAIL" : "ok  ", "allocator", c ? "a block" : ps_last_error());
  ps_cuda_fail_alloc_after(G, -1);
  ps_cuda_release(G, c);
}

int main(void) {
  int n = ps_cuda_device_count();
  if (n <= 0) {
    printf("SKIP: test_cuda_ops: no CUDA device is visible (cudaGetDeviceCount: %d)\n", n);
    return 77;
  }
  if (ps_cuda_create(0, &G)) {
    printf("FAIL: cannot create the CUDA context: %s\n", ps_last_error());
    return 1;
  }
  ps_cuda_set_tf32(G, false); /* strict FP32 so the CPU reference is comparable */
  printf("device: %s (sm_%d)\n", ps_cuda_device_name(G), ps_cuda_device_cc(G));
  ps_threads_set(1);

  conv_case("conv 3^3 p1 +bias", 2, 3, 4, 6, 7, 5, 3, 1, 1, 1, 1, true, false, 0);
  conv_case("conv 3^3 s2 p1", 2, 4, 8, 9, 8, 7, 3, 2, 1, 1, 1, true, false, 0);
  conv_case("conv 3^3 dil2 p2", 1, 4, 4, 9, 9, 9, 3, 1, 2, 2, 1, false, false, 0);
  conv_case("conv 3^3 dil4 p4", 1, 2, 3, 10, 9, 11, 3, 1, 4, 4, 1, false, false, 0);
  conv_case("conv 3^3 groups2", 2, 4, 6, 6, 6, 6, 3, 1, 1, 1, 2, true, false, 0);
  conv_case("conv 3^3 depthwise", 2, 6, 6, 7, 6, 5, 3, 1, 1, 1, 6, false, false, 0);
  conv_case("conv 5^3 p2", 1, 3, 4, 8, 7, 9, 5, 1, 2, 1, 1, true, false, 0);
  conv_case("conv 1^3 head", 2, 16, 2, 8, 8, 8, 1, 1, 0, 1, 1, true, false, 0);
  conv_case("convT 2^3 s2 (U-Net up)", 2, 8, 4, 4, 5, 3, 2, 2, 0, 1, 1, true, true, 0);
  conv_case("convT 3^3 s2 p1 op1", 1, 4, 3, 4, 4, 5, 3, 2, 1, 1, 1, true, true, 1);
  conv_case("conv U-Net 32ch 16^3", 2, 32, 32, 16, 16, 16, 3, 1, 1, 1, 1, true, false, 0);

  norm_case("instance norm", true, true, 2, 3, 6);
  norm_case("instance norm 1 plane/blk+", true, true, 1, 2, 40); /* > one chunk per plane */
  norm_case("batch norm train", false, true, 3, 4, 5);
  norm_case("batch norm eval", false, false, 2, 3, 4);

  const int64_t s5[5] = {2, 3, 6, 8, 7}, s8[5] = {2, 3, 8, 8, 8};
  unary_case("relu", U_RELU, s5, NULL);
  unary_case("leaky_relu", U_LEAKY, s5, NULL);
  unary_case("sigmoid", U_SIGMOID, s5, NULL);
  unary_case("tanh", U_TANH, s5, NULL);
  unary_case("scale", U_SCALE, s5, NULL);
  unary_case("softmax (C=3)", U_SOFTMAX, s5, NULL);
  unary_args a = {0};
  a.start = 1;
  a.len = 2;
  unary_case("slice", U_SLICE, s5, &a);
  for (int d = 0; d < 3; d++) a.pool.kernel[d] = a.pool.stride[d] = 2;
  unary_case("max pool 2 s2", U_MAXPOOL, s8, &a);
  unary_case("avg pool 2 s2", U_AVGPOOL, s8, &a);
  unary_case("max pool 2 s2 (odd)", U_MAXPOOL, s5, &a);
  for (int d = 0; d < 3; d++) { a.pool.kernel[d] = 3; a.pool.stride[d] = 1; a.pool.pad[d] = 1; }
  unary_case("max pool 3 s1 p1", U_MAXPOOL, s5, &a);
  for (int d = 0; d < 3; d++) { a.pool.kernel[d] = 3; a.pool.stride[d] = 2; a.pool.pad[d] = 1; }
  a.pool.count_include_pad = true;
  unary_case("avg pool 3 s2 p1 incl", U_AVGPOOL, s5, &a);
  a.pool.count_include_pad = false;
  unary_case("avg pool 3 s2 p1 excl", U_AVGPOOL, s5, &a);
  a.out[0] = 12; a.out[1] = 16; a.out[2] = 14;
  a.mode = PS_UPSAMPLE_NEAREST;
  unary_case("upsample nearest x2", U_UPSAMPLE, s5, &a);
  a.mode = PS_UPSAMPLE_TRILINEAR;
  unary_case("upsample trilinear x2", U_UPSAMPLE, s5, &a);
  a.out[0] = 9; a.out[1] = 5; a.out[2] = 11;
  unary_case("upsample trilinear odd", U_UPSAMPLE, s5, &a);
  a.mode = PS_UPSAMPLE_NEAREST;
  unary_case("upsample nearest odd", U_UPSAMPLE, s5, &a);

  multi_case();
  gemm_case();

  loss_case("CE", 0, 2, 3, 6, false, -1, false, false);
  loss_case("CE weights+ignore", 0, 2, 4, 6, true, 255, false, false);
  loss_case("Dice per sample", 1, 2, 3, 7, false, -1, false, false);
  loss_case("Dice batch +bg ignore", 1, 2, 3, 6, false, 255, true, true);
  loss_case("Dice+CE (U-Net, 2 cls)", 2, 2, 2, 16, false, -1, false, false);
  loss_case("Dice+CE weights ign batch", 2, 3, 5, 7, true, 4, true, false);
  bad_label_case();

  optim_case("sgd", "{\"momentum\":0.9,\"nesterov\":true,\"weight_decay\":0.001}",
             (ps_cuda_opt_params){.kind = PS_CUDA_SGD, .lr = 0.01f, .weight_decay = 0.001f, .momentum = 0.9f, .nesterov = true});
  optim_case("adam", "{\"weight_decay\":0.01}",
             (ps_cuda_opt_params){.kind = PS_CUDA_ADAM, .lr = 1e-3f, .weight_decay = 0.01f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f});
  optim_case("adamw", "{\"weight_decay\":0.05}",
             (ps_cuda_opt_params){.kind = PS_CUDA_ADAMW, .lr = 1e-3f, .weight_decay = 0.05f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f});
  alloc_case();

  ps_status st = ps_cuda_sync(G);
  if (st) {
    printf("FAIL: asynchronous error: %s\n", ps_last_error());
    fails++;
  }
  size_t plans, ws, mallocs, held, peak;
  ps_cuda_conv_stats(G, &plans, &ws);
  ps_cuda_mem_stats(G, &mallocs, &held, &peak);
  printf("conv plans %zu, workspace %zu B, cudaMalloc calls %zu, held %zu B\n", plans, ws, mallocs, held);
  ps_cuda_free(G);
  printf("%s: %d of %d checks failed\n", fails ? "FAIL" : "PASS", fails, checks);
  return fails ? 1 : 0;
}
#endif
