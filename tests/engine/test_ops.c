/* Non-convolution ops (and the decoder's fused transposed conv + concat): every forward + backward against central finite
 * differences (gradcheck.h) over several shapes and parameters, hand-computed
 * values for a few (softmax of a constant, max pool picks the max, nearest
 * upsample copies), and shape errors that must return NULL with a message. */
#include "gradcheck.h"
#include "proxyseg/ops.h"
#include <string.h>

typedef enum {
  OP_LINEAR, OP_LINEAR_NB, OP_MATMUL, OP_RELU, OP_LEAKY, OP_SIGMOID, OP_TANH, OP_ADD, OP_MUL, OP_MUL_SELF,
  OP_SCALE, OP_SLICE, OP_CONCAT, OP_WSUM, OP_SOFTMAX, OP_IN, OP_BN_TRAIN, OP_BN_EVAL, OP_MAXPOOL, OP_AVGPOOL,
  OP_UPSAMPLE, OP_CHAIN, OP_CONVT_CAT
} op_id;

typedef struct {
  op_id op;
  int n;                 /* number of tensor leaves for concat / wsum */
  float f;               /* slope, scale, eps */
  int64_t a, b;          /* slice start, len */
  ps_pool_params pool;
  int64_t out[3];
  ps_upsample_mode mode;
  bool affine;
  float rm[8], rv[8];    /* batch norm running stats */
  int nleaves;
  bool via;              /* feed the op through x*1: its input grads come fresh from the pool */
} spec;

static ps_tensor *build(ps_tape *t, ps_tensor **leaves, void *ud) {
  spec *s = ud;
  ps_tensor *L[16];
  for (int i = 0; i < s->nleaves; i++) L[i] = s->via ? ps_scale(t, leaves[i], 1.0f) : leaves[i];
  switch (s->op) {
  case OP_LINEAR: return ps_linear(t, L[0], L[1], L[2]);
  case OP_LINEAR_NB: return ps_linear(t, L[0], L[1], NULL);
  case OP_MATMUL: return ps_matmul(t, L[0], L[1]);
  case OP_RELU: return ps_relu(t, L[0]);
  case OP_LEAKY: return ps_leaky_relu(t, L[0], s->f);
  case OP_SIGMOID: return ps_sigmoid(t, L[0]);
  case OP_TANH: return ps_tanh(t, L[0]);
  case OP_ADD: return ps_add(t, L[0], L[1]);
  case OP_MUL: return ps_mul(t, L[0], L[1]);
  case OP_MUL_SELF: return ps_mul(t, L[0], L[0]);
  case OP_SCALE: return ps_scale(t, L[0], s->f);
  case OP_SLICE: return ps_slice(t, L[0], s->a, s->b);
  case OP_CONCAT: return ps_concat(t, s->n, L);
  case OP_WSUM: return ps_weighted_sum(t, s->n, L, L[s->n]);
  case OP_SOFTMAX: return ps_softmax(t, L[0]);
  case OP_IN: return ps_instance_norm(t, L[0], s->affine ? L[1] : NULL, s->affine ? L[2] : NULL, s->f);
  case OP_BN_TRAIN:
  case OP_BN_EVAL: {
    float rm[8], rv[8]; /* the op updates running stats: keep the spec's untouched across FD calls */
    memcpy(rm, s->rm, sizeof rm);
    memcpy(rv, s->rv, sizeof rv);
    return ps_batch_norm(t, L[0], s->affine ? L[1] : NULL, s->affine ? L[2] : NULL, rm, rv, 0.1f, s->f, s->op == OP_BN_TRAIN);
  }
  case OP_MAXPOOL: return ps_max_pool3d(t, L[0], &s->pool);
  case OP_AVGPOOL: return ps_avg_pool3d(t, L[0], &s->pool);
  case OP_UPSAMPLE: return ps_upsample3d(t, L[0], s->out, s->mode);
  case OP_CONVT_CAT: { /* leaves x, w, skip, b; 2^3 stride 2 */
    ps_conv_params cp = ps_conv_params_default();
    for (int d = 0; d < 3; d++) cp.stride[d] = 2;
    return ps_conv_transpose3d_cat(t, L[0], L[1], s->nleaves > 3 ? L[3] : NULL, &cp, L[2]);
  }
  case OP_CHAIN: { /* an LSTM-like gate: the grad of x flows through four uses */
    ps_tensor *h = ps_linear(t, L[0], L[1], L[2]);
    ps_tensor *i = ps_sigmoid(t, ps_slice(t, h, 0, 2)), *g = ps_tanh(t, ps_slice(t, h, 2, 2));
    ps_tensor *parts[2] = {ps_mul(t, i, g), ps_scale(t, i, 0.5f)};
    return ps_add(t, ps_concat(t, 2, parts), ps_relu(t, ps_slice(t, h, 0, 4)));
  }
  }
  return NULL;
}

static ps_rng *rng;

/* run one gradcheck with leaves of the given shapes (all requiring grad) */
static void gc(const char *what, spec *s, int nl, const int *ndims, const int64_t (*shapes)[5], double eps, double tol) {
  ps_tensor *L[16];
  for (int i = 0; i < nl; i++) L[i] = ps_gc_leaf(ndims[i], shapes[i], true, rng);
  s->nleaves = nl;
  /* leaves own their grads (the op accumulates); through x*1 the op's input
   * grads are fresh pool buffers (the op writes) */
  for (int via = 0; via < 2; via++) {
    char name[128];
    snprintf(name, sizeof name, "%s%s", what, via ? " (fresh)" : "");
    s->via = via;
    double e = ps_gradcheck(name, build, nl, L, s, eps, 60, 7);
    CHECK(e < tol, "%s: gradient rel err %.3g", name, e);
  }
  s->via = false;
  for (int i = 0; i < nl; i++) ps_gc_leaf_free(L[i]);
}
#define GC1(what, s, nd, sh, eps, tol) gc(what, s, 1, (int[]){nd}, (const int64_t(*)[5])(int64_t[1][5]){sh}, eps, tol)
#define SH(...) {__VA_ARGS__}

static void test_dense(void) {
  spec s = {.op = OP_LINEAR};
  gc("linear", &s, 3, (int[]){2, 2, 1}, (const int64_t[][5]){{3, 5}, {4, 5}, {4}}, 1e-2, 1e-2);
  s.op = OP_LINEAR_NB;
  gc("linear no bias", &s, 2, (int[]){2, 2}, (const int64_t[][5]){{1, 7}, {2, 7}}, 1e-2, 1e-2);
  s.op = OP_MATMUL;
  gc("matmul", &s, 2, (int[]){2, 2}, (const int64_t[][5]){{3, 4}, {4, 2}}, 1e-2, 1e-2);
  s.op = OP_CHAIN;
  gc("lstm-like chain", &s, 3, (int[]){2, 2, 1}, (const int64_t[][5]){{2, 3}, {4, 3}, {4}}, 1e-3, 2e-2);
  /* known value: [1,2]·[[1,0],[0,1],[1,1]]^T + [0,0,1] = [1,2,4] */
  ps_tape *t = ps_tape_create();
  float xv[2] = {1, 2}, wv[6] = {1, 0, 0, 1, 1, 1}, bv[3] = {0, 0, 1};
  ps_tensor *y = ps_linear(t, ps_tape_wrap(t, xv, 2, (int64_t[]){1, 2}), ps_tape_wrap(t, wv, 2, (int64_t[]){3, 2}),
                           ps_tape_wrap(t, bv, 1, (int64_t[]){3}));
  CHECK(y && y->shape[1] == 3, "linear shape");
  if (y) { CHECK_NEAR(y->data[0], 1, 1e-6); CHECK_NEAR(y->data[1], 2, 1e-6); CHECK_NEAR(y->data[2], 4, 1e-6); }
  CHECK(ps_linear(t, ps_tape_wrap(t, xv, 2, (int64_t[]){1, 2}), ps_tape_wrap(t, wv, 2, (int64_t[]){2, 3}), NULL) == NULL,
        "linear accepted w [2,3] for x [1,2]");
  CHECK(strstr(ps_last_error(), "ps_linear") != NULL, "message names the op: %s", ps_last_error());
  CHECK(ps_matmul(t, ps_tape_wrap(t, xv, 2, (int64_t[]){1, 2}), ps_tape_wrap(t, wv, 2, (int64_t[]){3, 2})) == NULL,
        "matmul accepted [1,2]x[3,2]");
  ps_tape_free(t);
}

static void test_elementwise(void) {
  spec s = {.op = OP_RELU};
  GC1("relu", &s, 2, SH(4, 9), 1e-3, 2e-2);
  s.op = OP_LEAKY; s.f = 0.01f;
  GC1("leaky_relu 0.01", &s, 5, SH(1, 2, 3, 2, 2), 1e-3, 2e-2);
  s.f = -0.3f;
  GC1("leaky_relu -0.3", &s, 2, SH(3, 5), 1e-3, 2e-2);
  s.op = OP_SIGMOID;
  GC1("sigmoid", &s, 2, SH(3, 5), 1e-2, 1e-2);
  s.op = OP_TANH;
  GC1("tanh", &s, 3, SH(2, 3, 4), 1e-2, 1e-2);
  s.op = OP_ADD;
  gc("add", &s, 2, (int[]){2, 2}, (const int64_t[][5]){{3, 4}, {3, 4}}, 1e-2, 1e-2);
  s.op = OP_MUL;
  gc("mul", &s, 2, (int[]){2, 2}, (const int64_t[][5]){{3, 4}, {3, 4}}, 1e-2, 1e-2);
  s.op = OP_MUL_SELF;
  GC1("mul x*x", &s, 2, SH(2, 5), 1e-2, 1e-2);
  s.op = OP_SCALE; s.f = -2.5f;
  GC1("scale", &s, 2, SH(2, 5), 1e-2, 1e-2);
  /* known values and stability */
  ps_tape *t = ps_tape_create();
  float v[4] = {-100, -1, 0, 100};
  ps_tensor *x = ps_tape_wrap(t, v, 2, (int64_t[]){1, 4});
  ps_tensor *sg = ps_sigmoid(t, x), *th = ps_tanh(t, x), *lr = ps_leaky_relu(t, x, 0.1f), *r = ps_relu(t, x);
  CHECK_NEAR(sg->data[0], 0, 1e-30);
  CHECK_NEAR(sg->data[2], 0.5, 1e-7);
  CHECK_NEAR(sg->data[3], 1, 1e-7);
  CHECK_NEAR(th->data[1], tanh(-1.0), 1e-6);
  CHECK_NEAR(lr->data[1], -0.1, 1e-7);
  CHECK_NEAR(r->data[1], 0, 0);
  CHECK_NEAR(r->data[3], 100, 0);
  CHECK(ps_add(t, x, ps_tape_wrap(t, v, 2, (int64_t[]){4, 1})) == NULL, "add accepted [1,4] + [4,1]");
  CHECK(ps_mul(t, x, ps_tape_wrap(t, v, 1, (int64_t[]){4})) == NULL, "mul accepted [1,4] * [4]");
  ps_tape_free(t);
}

static void test_structure(void) {
  spec s = {.op = OP_SLICE, .a = 1, .b = 2};
  GC1("slice 5D [1,3)", &s, 5, SH(2, 4, 2, 1, 3), 1e-2, 1e-2);
  s.a = 0; s.b = 1;
  GC1("slice 2D [0,1)", &s, 2, SH(3, 3), 1e-2, 1e-2);
  s = (spec){.op = OP_CONCAT, .n = 3};
  gc("concat 3", &s, 3, (int[]){5, 5, 5}, (const int64_t[][5]){{2, 1, 2, 2, 1}, {2, 3, 2, 2, 1}, {2, 2, 2, 2, 1}}, 1e-2, 1e-2);
  s.n = 10; /* more inputs than a node holds */
  {
    int nd[10];
    int64_t sh[10][5];
    for (int i = 0; i < 10; i++) { nd[i] = 2; sh[i][0] = 2; sh[i][1] = 1 + i % 2; }
    gc("concat 10", &s, 10, nd, (const int64_t(*)[5])sh, 1e-2, 1e-2);
  }
  s = (spec){.op = OP_WSUM, .n = 3};
  gc("weighted_sum 3", &s, 4, (int[]){3, 3, 3, 1}, (const int64_t[][5]){{2, 3, 2}, {2, 3, 2}, {2, 3, 2}, {3}}, 1e-2, 1e-2);
  s.n = 9;
  {
    int nd[10];
    int64_t sh[10][5];
    for (int i = 0; i < 9; i++) { nd[i] = 2; sh[i][0] = 2; sh[i][1] = 3; }
    nd[9] = 1; sh[9][0] = 9;
    gc("weighted_sum 9", &s, 10, nd, (const int64_t(*)[5])sh, 1e-2, 1e-2);
  }
  /* concat places channels in order; slice reads them back */
  ps_tape *t = ps_tape_create();
  float a[4] = {1, 2, 3, 4}, b[2] = {9, 8};
  ps_tensor *xs[2] = {ps_tape_wrap(t, a, 3, (int64_t[]){2, 1, 2}), ps_tape_wrap(t, b, 3, (int64_t[]){2, 1, 1})};
  CHECK(ps_concat(t, 2, xs) == NULL, "concat accepted mismatched W");
  xs[1] = ps_tape_wrap(t, a, 3, (int64_t[]){2, 1, 2});
  ps_tensor *c = ps_concat(t, 2, xs);
  float want[8] = {1, 2, 1, 2, 3, 4, 3, 4};
  for (int i = 0; c && i < 8; i++) CHECK_NEAR(c->data[i], want[i], 0);
  CHECK(ps_slice(t, c, 1, 2) == NULL, "slice past the end accepted");
  float w[2] = {0.25f, 2};
  ps_tensor *ws = ps_weighted_sum(t, 2, xs, ps_tape_wrap(t, w, 1, (int64_t[]){2}));
  CHECK(ws && fabsf(ws->data[3] - 4 * 2.25f) < 1e-6, "weighted sum value");
  CHECK(ps_weighted_sum(t, 2, xs, ps_tape_wrap(t, w, 1, (int64_t[]){1})) == NULL, "weighted sum with 1 weight for 2");
  ps_tape_free(t);
}

static void test_softmax(void) {
  spec s = {.op = OP_SOFTMAX};
  GC1("softmax 2D", &s, 2, SH(3, 5), 1e-2, 1e-2);
  GC1("softmax 5D", &s, 5, SH(2, 3, 2, 3, 2), 1e-2, 1e-2);
  GC1("softmax 3D", &s, 3, SH(1, 4, 300), 1e-2, 1e-2); /* spans two voxel blocks */
  ps_tape *t = ps_tape_create();
  float v[12];
  for (int i = 0; i < 12; i++) v[i] = 1000.0f; /* a constant, large: must not overflow */
  ps_tensor *y = ps_softmax(t, ps_tape_wrap(t, v, 3, (int64_t[]){1, 4, 3}));
  for (int i = 0; i < 12; i++) CHECK_NEAR(y->data[i], 0.25, 1e-7);
  float u[3] = {0, 1, 2};
  y = ps_softmax(t, ps_tape_wrap(t, u, 2, (int64_t[]){1, 3}));
  double z = 1 + exp(1) + exp(2);
  CHECK_NEAR(y->data[2], exp(2) / z, 1e-6);
  CHECK(ps_softmax(t, ps_tape_wrap(t, u, 1, (int64_t[]){3})) == NULL, "softmax accepted a 1D tensor");
  ps_tape_free(t);
}

static void test_norm(void) {
  spec s = {.op = OP_IN, .f = 1e-5f, .affine = true};
  gc("instance_norm affine", &s, 3, (int[]){5, 1, 1}, (const int64_t[][5]){{2, 3, 2, 3, 2}, {3}, {3}}, 1e-2, 2e-2);
  s.affine = false;
  GC1("instance_norm plain", &s, 5, SH(1, 2, 3, 2, 2), 1e-2, 2e-2);
  s = (spec){.op = OP_BN_TRAIN, .f = 1e-5f, .affine = true};
  for (int i = 0; i < 8; i++) { s.rm[i] = 0.1f * i; s.rv[i] = 1 + 0.2f * i; }
  gc("batch_norm train", &s, 3, (int[]){5, 1, 1}, (const int64_t[][5]){{2, 3, 2, 2, 2}, {3}, {3}}, 1e-2, 2e-2);
  gc("batch_norm train 2D", &s, 3, (int[]){2, 1, 1}, (const int64_t[][5]){{5, 4}, {4}, {4}}, 1e-2, 2e-2);
  s.op = OP_BN_EVAL;
  gc("batch_norm eval", &s, 3, (int[]){5, 1, 1}, (const int64_t[][5]){{2, 3, 2, 2, 2}, {3}, {3}}, 1e-2, 1e-2);
  /* known: IN output has zero mean and unit variance per plane, gamma/beta applied */
  ps_tape *t = ps_tape_create();
  float x[8] = {1, 2, 3, 4, 10, 10, 10, 14}, g[2] = {2, 1}, b[2] = {0.5f, -1};
  ps_tensor *y = ps_instance_norm(t, ps_tape_wrap(t, x, 3, (int64_t[]){1, 2, 4}), ps_tape_wrap(t, g, 1, (int64_t[]){2}),
                                  ps_tape_wrap(t, b, 1, (int64_t[]){2}), 0);
  CHECK_NEAR(y->data[0], 2 * (1 - 2.5) / sqrt(1.25) + 0.5, 1e-5);
  CHECK_NEAR(y->data[7], (14 - 11) / sqrt(3.0) - 1, 1e-5);
  float rm[2] = {0, 0}, rv[2] = {1, 1};
  ps_batch_norm(t, ps_tape_wrap(t, x, 3, (int64_t[]){1, 2, 4}), NULL, NULL, rm, rv, 0.1f, 1e-5f, true);
  CHECK_NEAR(rm[0], 0.25, 1e-6);
  CHECK_NEAR(rv[0], 0.9 + 0.1 * (5.0 / 3.0), 1e-6); /* unbiased var of 1..4 is 5/3 */
  CHECK(ps_instance_norm(t, ps_tape_wrap(t, x, 3, (int64_t[]){1, 2, 4}), ps_tape_wrap(t, g, 1, (int64_t[]){1}), NULL, 1e-5f) == NULL,
        "instance norm accepted gamma [1] for C=2");
  CHECK(ps_batch_norm(t, ps_tape_wrap(t, x, 2, (int64_t[]){1, 2}), NULL, NULL, rm, rv, 0.1f, 1e-5f, true) == NULL,
        "batch norm trained on one value per channel");
  ps_tape_free(t);
}

static void test_pool(void) {
  const struct { int k[3], s[3], p[3]; bool cip; } cases[] = {
      {{2, 2, 2}, {2, 2, 2}, {0, 0, 0}, true},  {{3, 3, 3}, {1, 1, 1}, {1, 1, 1}, true},
      {{3, 3, 3}, {2, 2, 2}, {1, 1, 1}, false}, {{1, 2, 3}, {1, 2, 1}, {0, 1, 1}, false},
      {{3, 1, 2}, {2, 1, 2}, {1, 0, 1}, true}};
  for (int op = 0; op < 2; op++) { /* 2x2x2/2 fast path on a plane it covers exactly */
    spec s = {.op = op ? OP_AVGPOOL : OP_MAXPOOL, .pool = {{2, 2, 2}, {2, 2, 2}, {0, 0, 0}, true}};
    GC1(op ? "avg_pool3d 2/2 even" : "max_pool3d 2/2 even", &s, 5, SH(2, 2, 4, 2, 6), op ? 1e-2 : 1e-3, 2e-2);
  }
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    spec s = {.op = OP_MAXPOOL};
    memcpy(s.pool.kernel, cases[i].k, sizeof s.pool.kernel);
    memcpy(s.pool.stride, cases[i].s, sizeof s.pool.stride);
    memcpy(s.pool.pad, cases[i].p, sizeof s.pool.pad);
    s.pool.count_include_pad = cases[i].cip;
    char name[64];
    snprintf(name, sizeof name, "max_pool3d case %zu", i);
    GC1(name, &s, 5, SH(1, 2, 4, 5, 4), 1e-3, 2e-2);
    s.op = OP_AVGPOOL;
    snprintf(name, sizeof name, "avg_pool3d case %zu", i);
    GC1(name, &s, 5, SH(2, 1, 4, 5, 4), 1e-2, 1e-2);
  }
  /* known: 2x2x2 max pool picks the max; avg with and without counting padding */
  ps_tape *t = ps_tape_create();
  float v[8] = {1, -5, 7, 2, 0, 3, -1, 6};
  ps_tensor *x = ps_tape_wrap(t, v, 5, (int64_t[]){1, 1, 2, 2, 2});
  ps_pool_params p = {{2, 2, 2}, {2, 2, 2}, {0, 0, 0}, true};
  ps_tensor *y = ps_max_pool3d(t, x, &p);
  CHECK(y && y->numel == 1 && y->data[0] == 7, "max pool value %g", y ? y->data[0] : NAN);
  y = ps_avg_pool3d(t, x, &p);
  CHECK_NEAR(y->data[0], 13.0 / 8, 1e-6);
  float neg[8] = {-1, -2, -3, -4, -5, -6, -7, -8};
  ps_pool_params q = {{3, 3, 3}, {1, 1, 1}, {1, 1, 1}, true};
  y = ps_max_pool3d(t, ps_tape_wrap(t, neg, 5, (int64_t[]){1, 1, 2, 2, 2}), &q);
  CHECK(y && y->data[7] == -1, "max pool treats padding as -inf, got %g", y ? y->data[7] : NAN);
  y = ps_avg_pool3d(t, ps_tape_wrap(t, neg, 5, (int64_t[]){1, 1, 2, 2, 2}), &q);
  CHECK_NEAR(y->data[0], -36.0 / 27, 1e-6);
  q.count_include_pad = false;
  y = ps_avg_pool3d(t, ps_tape_wrap(t, neg, 5, (int64_t[]){1, 1, 2, 2, 2}), &q);
  CHECK_NEAR(y->data[0], -36.0 / 8, 1e-6);
  ps_pool_params bad = {{2, 2, 2}, {2, 2, 2}, {2, 0, 0}, true};
  CHECK(ps_max_pool3d(t, x, &bad) == NULL, "pad over half the kernel accepted");
  ps_pool_params big = {{3, 3, 3}, {1, 1, 1}, {0, 0, 0}, true};
  CHECK(ps_avg_pool3d(t, x, &big) == NULL, "kernel larger than input accepted");
  CHECK(ps_max_pool3d(t, ps_tape_wrap(t, v, 2, (int64_t[]){2, 4}), &p) == NULL, "2D input accepted");
  ps_tape_free(t);
}

static void test_upsample(void) {
  const int64_t outs[][3] = {{4, 6, 4}, {3, 5, 7}, {2, 3, 2}, {1, 2, 5}};
  for (int m = 0; m < 2; m++)
    for (size_t i = 0; i < sizeof outs / sizeof outs[0]; i++) {
      spec s = {.op = OP_UPSAMPLE, .mode = m ? PS_UPSAMPLE_TRILINEAR : PS_UPSAMPLE_NEAREST};
      memcpy(s.out, outs[i], sizeof s.out);
      char name[64];
      snprintf(name, sizeof name, "upsample %s -> %lldx%lldx%lld", m ? "trilinear" : "nearest", (long long)outs[i][0],
               (long long)outs[i][1], (long long)outs[i][2]);
      GC1(name, &s, 5, SH(1, 2, 2, 3, 2), 1e-2, 1e-2);
    }
  ps_tape *t = ps_tape_create();
  float v[2] = {1, 3};
  ps_tensor *x = ps_tape_wrap(t, v, 5, (int64_t[]){1, 1, 1, 1, 2});
  ps_tensor *y = ps_upsample3d(t, x, (int64_t[]){1, 1, 4}, PS_UPSAMPLE_NEAREST);
  float wn[4] = {1, 1, 3, 3}, wt[4] = {1, 1.5f, 2.5f, 3}; /* trilinear, align_corners=false */
  for (int i = 0; i < 4; i++) CHECK_NEAR(y->data[i], wn[i], 0);
  y = ps_upsample3d(t, x, (int64_t[]){1, 1, 4}, PS_UPSAMPLE_TRILINEAR);
  for (int i = 0; i < 4; i++) CHECK_NEAR(y->data[i], wt[i], 1e-6);
  CHECK(ps_upsample3d(t, x, (int64_t[]){0, 1, 4}, PS_UPSAMPLE_NEAREST) == NULL, "output size 0 accepted");
  ps_tape_free(t);
}

/* no-grad mode records nothing and still computes */
/* ps_conv_transpose3d_cat against concat(conv_transpose3d, skip): the same
 * values and gradients (batch 2: each sample's channel block sits at its own
 * offset), finite differences, and a skip that does not fit. */
static ps_tensor *convt_then_concat(ps_tape *t, ps_tensor **L, bool bias) {
  ps_conv_params cp = ps_conv_params_default();
  for (int d = 0; d < 3; d++) cp.stride[d] = 2;
  ps_tensor *cat[2] = {ps_conv_transpose3d(t, L[0], L[1], bias ? L[3] : NULL, &cp), L[2]};
  return cat[0] ? ps_concat(t, 2, cat) : NULL;
}

static void test_convt_cat(void) {
  const int64_t sh[4][5] = {{2, 3, 2, 3, 2}, {3, 2, 2, 2, 2}, {2, 4, 4, 6, 4}, {2}};
  for (int bias = 0; bias < 2; bias++) {
    const int nl = bias ? 4 : 3;
    ps_tensor *L[4];
    for (int i = 0; i < nl; i++) L[i] = ps_gc_leaf(i == 3 ? 1 : 5, sh[i], true, rng);
    L[2]->requires_grad = bias; /* a skip without gradient too */
    float *got[5] = {0}, *want[5] = {0};
    for (int run = 0; run < 2; run++) {
      ps_tape *t = ps_tape_create();
      ps_tensor *y;
      if (run == 0) {
        spec s = {.op = OP_CONVT_CAT, .nleaves = nl};
        y = build(t, L, &s);
      } else {
        y = convt_then_concat(t, L, bias);
      }
      CHECK(y != NULL, "convt_cat run %d: %s", run, ps_last_error());
      if (!y) { ps_tape_free(t); break; }
      float **out = run == 0 ? got : want;
      out[0] = malloc((size_t)y->numel * sizeof(float));
      memcpy(out[0], y->data, (size_t)y->numel * sizeof(float));
      float *seed = malloc((size_t)y->numel * sizeof(float));
      for (int64_t k = 0; k < y->numel; k++) seed[k] = (float)((k * 37 % 19) - 9) / 9.0f;
      CHECK(ps_tape_backward_seed(t, y, seed) == PS_OK, "convt_cat backward: %s", ps_last_error());
      free(seed);
      for (int i = 0; i < nl; i++)
        if (L[i]->grad) { /* pool memory, handed back (cleared) by ps_tape_free */
          out[1 + i] = malloc((size_t)L[i]->numel * sizeof(float));
          memcpy(out[1 + i], L[i]->grad, (size_t)L[i]->numel * sizeof(float));
        }
      ps_tape_free(t);
      for (int i = 0; i < nl; i++) L[i]->grad = NULL;
    }
    const int64_t ny = 2 * (2 + 4) * 4 * 6 * 4;
    CHECK(got[0] && want[0] && ps_test_max_rel_err(got[0], want[0], (size_t)ny, 1e-3) < 1e-6,
          "convt_cat (bias %d): forward differs from concat(conv_transpose3d)", bias);
    for (int i = 0; i < nl; i++) {
      CHECK((got[1 + i] != NULL) == (L[i]->requires_grad), "convt_cat (bias %d): leaf %d gradient presence", bias, i);
      if (got[1 + i] && want[1 + i])
        CHECK(ps_test_max_rel_err(got[1 + i], want[1 + i], (size_t)L[i]->numel, 1e-3) < 1e-5,
              "convt_cat (bias %d): leaf %d gradient differs from concat(conv_transpose3d)", bias, i);
    }
    for (int i = 0; i < 5; i++) { free(got[i]); free(want[i]); }
    for (int i = 0; i < nl; i++) ps_gc_leaf_free(L[i]);
  }
  spec s = {.op = OP_CONVT_CAT};
  gc("conv_transpose3d_cat", &s, 4, (int[]){5, 5, 5, 1}, sh, 1e-2, 1e-2);
  /* a skip that does not match the upsampled size */
  ps_tape *t = ps_tape_create();
  ps_tensor *x = ps_gc_leaf(5, sh[0], false, rng), *w = ps_gc_leaf(5, sh[1], false, rng);
  ps_tensor *bad = ps_gc_leaf(5, (int64_t[]){2, 4, 4, 6, 5}, false, rng);
  ps_conv_params cp = ps_conv_params_default();
  for (int d = 0; d < 3; d++) cp.stride[d] = 2;
  CHECK(ps_conv_transpose3d_cat(t, x, w, NULL, &cp, bad) == NULL && strstr(ps_last_error(), "skip"),
        "convt_cat accepted a skip of the wrong size (%s)", ps_last_error());
  ps_tape_free(t);
  ps_gc_leaf_free(x);
  ps_gc_leaf_free(w);
  ps_gc_leaf_free(bad);
}

static void test_no_grad(void) {
  ps_tape *t = ps_tape_create();
  ps_tensor *x = ps_gc_leaf(5, (int64_t[]){1, 2, 2, 2, 2}, true, rng);
  ps_tape_set_grad_enabled(t, false);
  ps_pool_params p = {{2, 2, 2}, {2, 2, 2}, {0, 0, 0}, true};
  ps_tensor *y = ps_max_pool3d(t, ps_leaky_relu(t, ps_instance_norm(t, x, NULL, NULL, 1e-5f), 0.01f), &p);
  CHECK(y && !y->requires_grad && ps_tape_node_count(t) == 0, "no-grad recorded %zu nodes", ps_tape_node_count(t));
  ps_gc_leaf_free(x);
  ps_tape_free(t);
}

int main(void) {
  rng = ps_rng_create(42);
  test_dense();
  test_elementwise();
  test_structure();
  test_softmax();
  test_norm();
  test_pool();
  test_upsample();
  test_no_grad();
  test_convt_cat();
  ps_rng_free(rng);
  return ps_test_done("test_ops");
}
