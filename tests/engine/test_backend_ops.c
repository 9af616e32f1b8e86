/* Backend against backend (ggml's test-backend-ops): every op, forward and
 * backward, over the shapes the U-Net family and the NAS cells use, run on the
 * backend under test (argv[1], default "cpu") and on "cpu-ref" (the oracle),
 * compared by NMSE = sum (a - b)^2 / sum b^2 per output and per gradient.
 * Thresholds: 1e-9 for copies and elementwise ops (exact up to rounding
 * order), 1e-7 for reductions (norms, convs, GEMM, softmax, losses; float32
 * summation orders differ from cpu-ref's double sums), 1e-6 for the optimiser
 * after several steps. Also: an allocation that fails inside backward makes
 * ps_tape_backward return an error for every failure point, never PS_OK with
 * a partial gradient. A backend that is not available: SKIP (exit 77). */
#include "proxyseg/backend.h"
#include "proxyseg/ops.h"
#include "testutil.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LEAVES 8

/* A leaf of a case: shape, whether it needs a gradient, how its values are drawn. */
typedef enum { V_UNIFORM, V_POSITIVE } vkind;
typedef struct {
  int ndim;
  int64_t shape[5];
  bool grad;
  vkind v;
} leaf_spec;

typedef struct op_case op_case;
typedef ps_tensor *(*build_fn)(ps_tape *t, ps_tensor **lv, const op_case *c);
struct op_case {
  const char *name;
  double tol;                 /* NMSE threshold */
  int n;
  leaf_spec l[MAX_LEAVES];
  build_fn build;
  /* op parameters */
  ps_conv_params cp;
  ps_pool_params pp;
  bool transposed, bias, max, tri, training, fused;
  ps_act act;
  int64_t up[3];
  int nclass;                 /* losses: classes; labels are drawn from [0, nclass + extra) */
  ps_loss_params lp;
  int loss_kind;              /* 0 CE, 1 Dice, 2 Dice+CE */
  float class_w[8];
};

static ps_backend *g_be, *g_ref;

/* ---- running a case on one backend ---- */
typedef struct {
  int n_out;
  float *out[MAX_LEAVES + 1];   /* [0] = forward output, [1 + i] = gradient of leaf i (NULL if none) */
  int64_t len[MAX_LEAVES + 1];
} run_res;

static void res_free(run_res *r) {
  for (int i = 0; i <= MAX_LEAVES; i++) free(r->out[i]);
  memset(r, 0, sizeof *r);
}

static float *to_host(ps_backend *be, const float *p, int64_t n) {
  float *h = malloc((size_t)(n ? n : 1) * sizeof(float));
  if (be->to_host(be, h, p, (size_t)n * sizeof(float)) != PS_OK) { free(h); return NULL; }
  return h;
}

/* Host values of leaf i of case c (the same on every backend: seeded by name and index). */
static float *leaf_values(const op_case *c, int i, int64_t n) {
  uint64_t h = 1469598103934665603ull;
  for (const char *s = c->name; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
  ps_rng *rng = ps_rng_create(h + (uint64_t)i);
  float *v = malloc((size_t)n * sizeof(float));
  for (int64_t k = 0; k < n; k++)
    v[k] = c->l[i].v == V_POSITIVE ? (float)ps_rng_uniform_range(rng, 0.5, 1.5) : (float)ps_rng_uniform_range(rng, -1, 1);
  ps_rng_free(rng);
  return v;
}

static bool run_case(ps_backend *be, const op_case *c, run_res *r) {
  memset(r, 0, sizeof *r);
  ps_tape *t = ps_tape_create_on(be);
  ps_tensor *lv[MAX_LEAVES];
  bool ok = t != NULL;
  for (int i = 0; i < c->n && ok; i++) {
    int64_t n = ps_shape_numel(c->l[i].ndim, c->l[i].shape);
    float *host = leaf_values(c, i, n);
    float *d = ps_tape_upload(t, host, (size_t)n * sizeof(float));
    free(host);
    lv[i] = d ? ps_tape_wrap(t, d, c->l[i].ndim, c->l[i].shape) : NULL;
    ok = lv[i] != NULL;
    if (ok) lv[i]->requires_grad = c->l[i].grad;
  }
  ps_tensor *y = ok ? c->build(t, lv, c) : NULL;
  ok = y != NULL;
  if (ok) {
    r->len[0] = y->numel;
    r->out[0] = to_host(be, y->data, y->numel);
    /* a fixed upstream gradient, the same on every backend */
    ps_rng *rng = ps_rng_create(4242);
    float *seed = malloc((size_t)y->numel * sizeof(float));
    for (int64_t k = 0; k < y->numel; k++) seed[k] = y->numel == 1 ? 1.0f : (float)ps_rng_uniform_range(rng, -1, 1);
    ps_rng_free(rng);
    ps_status st = ps_tape_backward_seed(t, y, seed);
    free(seed);
    ok = st == PS_OK;
    for (int i = 0; i < c->n && ok; i++) {
      if (!c->l[i].grad) continue;
      r->len[1 + i] = lv[i]->numel;
      /* a leaf no path reached has no gradient: zeros */
      r->out[1 + i] = lv[i]->grad ? to_host(be, lv[i]->grad, lv[i]->numel) : calloc((size_t)lv[i]->numel, sizeof(float));
    }
  }
  if (!ok) fprintf(stderr, "%s on %s: %s\n", c->name, be->name, ps_last_error());
  ps_tape_free(t);
  return ok;
}

static double nmse(const float *a, const float *b, int64_t n) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < n; i++) {
    const double d = (double)a[i] - b[i];
    num += d * d;
    den += (double)b[i] * b[i];
  }
  if (!isfinite(num)) return INFINITY;
  return den > 0 ? num / den : num;
}

static void check_case(const op_case *c) {
  run_res a, b;
  bool oka = run_case(g_be, c, &a), okb = run_case(g_ref, c, &b);
  CHECK(oka && okb, "%s: run failed (%s %d, cpu-ref %d)", c->name, g_be->name, oka, okb);
  if (oka && okb) {
    double worst = 0, worst_rel = 0;
    for (int i = 0; i <= c->n; i++) {
      if (!b.out[i]) continue;
      const double e = nmse(a.out[i], b.out[i], b.len[i]);
      double dmax = 0, bmax = 0; /* max |a - b| over max |b|: the largest error on the output's scale */
      for (int64_t j = 0; j < b.len[i]; j++) {
        dmax = fmax(dmax, fabs((double)a.out[i][j] - b.out[i][j]));
        bmax = fmax(bmax, fabs((double)b.out[i][j]));
      }
      if (bmax > 0 && dmax / bmax > worst_rel) worst_rel = dmax / bmax;
      CHECK(e <= c->tol, "%s: %s NMSE %.3e > %.0e", c->name, i == 0 ? "output" : "gradient", e, c->tol);
      if (i > 0) CHECK(a.len[i] == b.len[i], "%s: gradient sizes differ", c->name);
      worst = e > worst ? e : worst;
    }
    printf("  %-34s worst NMSE %.2e (threshold %.0e), max rel err %.1e\n", c->name, worst, c->tol, worst_rel);
  }
  res_free(&a);
  res_free(&b);
}

/* ---- builders ---- */
static ps_tensor *b_conv(ps_tape *t, ps_tensor **lv, const op_case *c) {
  ps_tensor *b = c->bias ? lv[2] : NULL;
  return c->transposed ? ps_conv_transpose3d(t, lv[0], lv[1], b, &c->cp) : ps_conv3d(t, lv[0], lv[1], b, &c->cp);
}
static ps_tensor *b_norm(ps_tape *t, ps_tensor **lv, const op_case *c) {
  ps_tensor *g = c->n > 1 ? lv[1] : NULL, *be = c->n > 2 ? lv[2] : NULL;
  if (c->max) { /* batch norm: running stats in backend memory */
    ps_backend *B = ps_tape_backend(t);
    const int64_t C = lv[0]->shape[1];
    float *rm = ps_tape_buffer(t, (size_t)C * sizeof(float)), *rv = ps_tape_buffer(t, (size_t)C * sizeof(float));
    if (!rm || !rv || B->fill(B, 0.1f, rm, C) || B->fill(B, 0.8f, rv, C)) return NULL;
    ps_tensor *y = ps_batch_norm(t, lv[0], g, be, rm, rv, 0.1f, 1e-5f, c->training);
    if (!y || !c->training) return y;
    /* the running-stat update is part of the op: fold it into the output compared */
    float h[2];
    if (B->to_host(B, &h[0], rm, sizeof(float)) || B->to_host(B, &h[1], rv, sizeof(float))) return NULL;
    return fabsf(h[0] - 0.1f) > 0 || fabsf(h[1] - 0.8f) > 0 ? y : NULL;
  }
  if (c->fused) return ps_instance_norm_act(t, lv[0], g, be, 1e-5f, c->act, 0.01f);
  return ps_instance_norm(t, lv[0], g, be, 1e-5f);
}
static ps_tensor *b_act(ps_tape *t, ps_tensor **lv, const op_case *c) {
  switch (c->act) {
  case PS_ACT_RELU: return ps_relu(t, lv[0]);
  case PS_ACT_LEAKY_RELU: return ps_leaky_relu(t, lv[0], 0.01f);
  case PS_ACT_SIGMOID: return ps_sigmoid(t, lv[0]);
  default: return ps_tanh(t, lv[0]);
  }
}
static ps_tensor *b_pool(ps_tape *t, ps_tensor **lv, const op_case *c) {
  return c->max ? ps_max_pool3d(t, lv[0], &c->pp) : ps_avg_pool3d(t, lv[0], &c->pp);
}
static ps_tensor *b_up(ps_tape *t, ps_tensor **lv, const op_case *c) {
  return ps_upsample3d(t, lv[0], c->up, c->tri ? PS_UPSAMPLE_TRILINEAR : PS_UPSAMPLE_NEAREST);
}
static ps_tensor *b_concat(ps_tape *t, ps_tensor **lv, const op_case *c) { return ps_concat(t, c->n, lv); }
/* leaves x, w, skip[, b] */
static ps_tensor *b_convt_cat(ps_tape *t, ps_tensor **lv, const op_case *c) {
  return ps_conv_transpose3d_cat(t, lv[0], lv[1], c->bias ? lv[3] : NULL, &c->cp, lv[2]);
}
static ps_tensor *b_slice(ps_tape *t, ps_tensor **lv, const op_case *c) {
  (void)c;
  return ps_slice(t, lv[0], 2, 3);
}
static ps_tensor *b_add_mul(ps_tape *t, ps_tensor **lv, const op_case *c) {
  (void)c;
  /* (a + b) * a, scaled: add, mul with a shared input, scale */
  ps_tensor *s = ps_add(t, lv[0], lv[1]);
  ps_tensor *m = s ? ps_mul(t, s, lv[0]) : NULL;
  return m ? ps_scale(t, m, -0.75f) : NULL;
}
static ps_tensor *b_wsum(ps_tape *t, ps_tensor **lv, const op_case *c) { return ps_weighted_sum(t, c->n - 1, lv, lv[c->n - 1]); }
static ps_tensor *b_softmax(ps_tape *t, ps_tensor **lv, const op_case *c) {
  (void)c;
  return ps_softmax(t, lv[0]);
}
static ps_tensor *b_linear(ps_tape *t, ps_tensor **lv, const op_case *c) {
  ps_tensor *h = ps_linear(t, lv[0], lv[1], c->bias ? lv[2] : NULL);
  return h && c->max ? ps_matmul(t, h, lv[3]) : h;
}
static ps_tensor *b_loss(ps_tape *t, ps_tensor **lv, const op_case *c) {
  ps_tensor *x = lv[0];
  const int64_t N = x->shape[0], S = ps_shape_numel(x->ndim - 2, x->shape + 2);
  uint8_t *lab = malloc((size_t)(N * S));
  ps_rng *rng = ps_rng_create(77);
  for (int64_t i = 0; i < N * S; i++) {
    int v = (int)ps_rng_int(rng, (uint64_t)c->nclass + (c->lp.ignore_label >= 0 ? 1 : 0));
    lab[i] = (uint8_t)(v == c->nclass ? c->lp.ignore_label : v);
  }
  ps_rng_free(rng);
  const uint8_t *dl = ps_tape_upload(t, lab, (size_t)(N * S));
  free(lab);
  if (!dl) return NULL;
  ps_loss_params p = c->lp;
  if (p.class_weights) p.class_weights = c->class_w;
  return c->loss_kind == 0 ? ps_cross_entropy(t, x, dl, &p)
         : c->loss_kind == 1 ? ps_soft_dice_loss(t, x, dl, &p) : ps_dice_ce_loss(t, x, dl, &p);
}

/* ---- the cases ---- */
#define L5(n, c, d, h, w, g) {5, {n, c, d, h, w}, g, V_UNIFORM}
#define L1(n, g, v) {1, {n}, g, v}
#define L2(a, b, g) {2, {a, b}, g, V_UNIFORM}

static op_case conv_case(const char *name, int64_t n, int64_t cin, int64_t cout, int64_t sp, int k, int stride, int pad,
                         int dil, int groups, bool transposed, bool bias) {
  op_case c = {.name = name, .tol = 1e-7, .build = b_conv, .transposed = transposed, .bias = bias};
  c.cp = ps_conv_params_default();
  for (int i = 0; i < 3; i++) { c.cp.stride[i] = stride; c.cp.pad[i] = pad; c.cp.dilation[i] = dil; }
  c.cp.groups = groups;
  c.n = bias ? 3 : 2;
  c.l[0] = (leaf_spec)L5(n, cin, sp, sp, sp, true);
  if (!transposed) c.l[1] = (leaf_spec)L5(cout, cin / groups, k, k, k, true);
  else c.l[1] = (leaf_spec)L5(cin, cout / groups, k, k, k, true);
  c.l[2] = (leaf_spec)L1(cout, true, V_UNIFORM);
  return c;
}

static int n_cases;
static op_case cases[96];
static void add(op_case c) { cases[n_cases++] = c; }

static void make_cases(void) {
  /* convolutions: U-Net stages, strided downsampling, heads, NAS cell ops */
  add(conv_case("conv 3^3 4->8 8^3 bias", 2, 4, 8, 8, 3, 1, 1, 1, 1, false, true));
  add(conv_case("conv 3^3 1->8 (first layer)", 1, 1, 8, 9, 3, 1, 1, 1, 1, false, true));
  add(conv_case("conv 3^3 stride 2", 2, 4, 8, 9, 3, 2, 1, 1, 1, false, true));
  add(conv_case("conv 1^3 head 8->3", 2, 8, 3, 6, 1, 1, 0, 1, 1, false, true));
  add(conv_case("conv 5^3 pad 2", 1, 3, 4, 7, 5, 1, 2, 1, 1, false, false));
  add(conv_case("conv 3^3 dilation 2", 1, 4, 4, 10, 3, 1, 2, 2, 1, false, true));
  add(conv_case("conv 3^3 dilation 3", 1, 4, 4, 10, 3, 1, 3, 3, 1, false, false));
  add(conv_case("conv 3^3 dilation 4", 1, 4, 4, 11, 3, 1, 4, 4, 1, false, true));
  add(conv_case("conv depthwise 3^3 (groups 8)", 2, 8, 8, 7, 3, 1, 1, 1, 8, false, true));
  add(conv_case("conv depthwise 3^3 dilation 2", 1, 6, 6, 9, 3, 1, 2, 2, 6, false, false));
  add(conv_case("conv depthwise 5^3 stride 2", 1, 4, 4, 9, 5, 2, 2, 1, 4, false, true));
  add(conv_case("conv grouped (groups 2)", 1, 4, 6, 6, 3, 1, 1, 1, 2, false, true));
  add(conv_case("conv 1^3 pointwise 8->16", 2, 8, 16, 5, 1, 1, 0, 1, 1, false, false));
  add(conv_case("convT 2^3 stride 2 16->8", 2, 16, 8, 4, 2, 2, 0, 1, 1, true, true));
  add(conv_case("convT 2^3 stride 2 8->4 no bias", 1, 8, 4, 5, 2, 2, 0, 1, 1, true, false));
  /* rows of >= 16 voxels: the AVX-512 stride-2 gather and interleave of vol2col.c */
  add(conv_case("convT 2^3 stride 2 3->2 17^3 (vector rows)", 1, 3, 2, 17, 2, 2, 0, 1, 1, true, true));
  add(conv_case("conv 2^3 stride 2 2->3 34^3 (vector rows)", 2, 2, 3, 34, 2, 2, 0, 1, 1, false, true));
  /* the decoder's transposed conv written straight into the concat (per-sample blocks) */
  for (int bias = 0; bias < 2; bias++) {
    op_case c = conv_case(bias ? "convT+concat 16->8, skip 8, 16^3 bias" : "convT+concat 6->3, skip 2 (no grad), 10^3",
                          2, bias ? 16 : 6, bias ? 8 : 3, bias ? 8 : 5, 2, 2, 0, 1, 1, true, bias);
    c.build = b_convt_cat;
    c.n = bias ? 4 : 3;
    if (bias) c.l[3] = c.l[2]; /* the bias after the skip */
    c.l[2] = (leaf_spec)L5(2, bias ? 8 : 2, bias ? 16 : 10, bias ? 16 : 10, bias ? 16 : 10, bias);
    add(c);
  }
  {
    op_case c = conv_case("convT 3^3 stride 2 outpad 1", 1, 4, 3, 4, 3, 2, 1, 1, 1, true, true);
    for (int i = 0; i < 3; i++) c.cp.output_padding[i] = 1;
    add(c);
  }
  {
    op_case c = conv_case("conv anisotropic 1x3x3", 1, 3, 5, 6, 3, 1, 1, 1, 1, false, true);
    c.l[1].shape[2] = 1;
    c.cp.pad[0] = 0;
    add(c);
  }
  /* 3^3 pad-1 convs that the fast backend may run as Winograd F(2x2x2, 3x3x3)
   * or F(4x4x4, 3x3x3) (PS_CONV_ALGO=winograd2 and winograd4 force each; see
   * backend.cmake): odd and uneven sizes whose output tiles overhang the
   * border, batch > 1, C != K, one input channel, a single voxel, enough tiles
   * for several tile blocks, rows of more than 16 tiles of either size (W =
   * 37: 19 of F(2,3)'s; W = 70: 18 of F(4,3)'s, whose x stage then reads past
   * 64 voxels) */
  add(conv_case("winograd 3^3 2x5->6 7^3 bias", 2, 5, 6, 7, 3, 1, 1, 1, 1, false, true));
  add(conv_case("winograd 3^3 1->8 5^3", 2, 1, 8, 5, 3, 1, 1, 1, 1, false, false));
  add(conv_case("winograd 3^3 8->1 6^3", 1, 8, 1, 6, 3, 1, 1, 1, 1, false, true));
  add(conv_case("winograd 3^3 3->4 1^3", 2, 3, 4, 1, 3, 1, 1, 1, 1, false, true));
  add(conv_case("winograd 3^3 2x16->8 12^3", 2, 16, 8, 12, 3, 1, 1, 1, 1, false, true));
  add(conv_case("winograd 3^3 18->20 6^3 (lane tails)", 1, 18, 20, 6, 3, 1, 1, 1, 1, false, false));
  {
    op_case c = conv_case("winograd 3^3 3x6->10 5x8x11", 3, 6, 10, 5, 3, 1, 1, 1, 1, false, true);
    c.l[0].shape[3] = 8;
    c.l[0].shape[4] = 11;
    add(c);
    c = conv_case("winograd 3^3 3->4 3x4x37 (rows > 16 tiles)", 1, 3, 4, 3, 3, 1, 1, 1, 1, false, true);
    c.l[0].shape[3] = 4;
    c.l[0].shape[4] = 37;
    add(c);
    c = conv_case("winograd 3^3 2x3->5 5x6x70 (rows > 16 tiles)", 2, 3, 5, 5, 3, 1, 1, 1, 1, false, true);
    c.l[0].shape[3] = 6;
    c.l[0].shape[4] = 70;
    add(c);
    /* F(4,3) packs 2 tile rows per vector when W <= 32 and 4 when W <= 16:
     * 8 tiles a row (no repacking), 6 (repacked lanes) with an odd number of
     * tile rows (a pack of 1 at the end) */
    c = conv_case("winograd 3^3 2x3->4 6x7x29 (2 rows a vector)", 2, 3, 4, 6, 3, 1, 1, 1, 1, false, true);
    c.l[0].shape[3] = 7;
    c.l[0].shape[4] = 29;
    add(c);
    c = conv_case("winograd 3^3 4->5 3x9x21 (odd tile rows)", 1, 4, 5, 3, 3, 1, 1, 1, 1, false, false);
    c.l[0].shape[3] = 9;
    c.l[0].shape[4] = 21;
    add(c);
    /* backward-weight's own GEMM takes input channels in multiples of 16:
     * 48 = 32 + 16 columns; 13 = 8 + 4 + 1 gradient rows */
    c = conv_case("winograd 3^3 48->13 5x6x9 (weight GEMM tails)", 1, 48, 13, 5, 3, 1, 1, 1, 1, false, true);
    c.l[0].shape[3] = 6;
    c.l[0].shape[4] = 9;
    add(c);
  }
  /* normalisation */
  {
    op_case c = {.name = "instance norm affine", .tol = 1e-7, .build = b_norm, .n = 3};
    c.l[0] = (leaf_spec)L5(2, 6, 5, 6, 7, true);
    c.l[1] = (leaf_spec)L1(6, true, V_POSITIVE);
    c.l[2] = (leaf_spec)L1(6, true, V_UNIFORM);
    add(c);
    c.name = "instance norm + leaky relu (fused)";
    c.fused = true;
    c.act = PS_ACT_LEAKY_RELU;
    add(c);
    c.name = "instance norm + relu (fused)";
    c.act = PS_ACT_RELU;
    add(c);
    c.name = "instance norm no affine";
    c.fused = false;
    c.n = 1;
    add(c);
    c.name = "batch norm training";
    c.n = 3;
    c.max = true;
    c.training = true;
    add(c);
    c.name = "batch norm eval";
    c.training = false;
    add(c);
  }
  /* activations */
  {
    const ps_act acts[4] = {PS_ACT_RELU, PS_ACT_LEAKY_RELU, PS_ACT_SIGMOID, PS_ACT_TANH};
    const char *names[4] = {"relu", "leaky relu", "sigmoid", "tanh"};
    for (int i = 0; i < 4; i++) {
      op_case c = {.name = names[i], .tol = 1e-9, .build = b_act, .n = 1, .act = acts[i]};
      c.l[0] = (leaf_spec)L5(2, 3, 4, 5, 6, true);
      add(c);
    }
  }
  /* pooling */
  {
    op_case c = {.name = "max pool 2^3 stride 2", .tol = 1e-9, .build = b_pool, .n = 1, .max = true};
    c.l[0] = (leaf_spec)L5(2, 3, 8, 6, 10, true);
    c.pp = (ps_pool_params){{2, 2, 2}, {2, 2, 2}, {0, 0, 0}, false};
    add(c);
    c.name = "max pool 3^3 stride 1 pad 1";
    c.pp = (ps_pool_params){{3, 3, 3}, {1, 1, 1}, {1, 1, 1}, false};
    add(c);
    c.name = "max pool 3^3 stride 2 odd size";
    c.l[0] = (leaf_spec)L5(1, 2, 7, 9, 5, true);
    c.pp = (ps_pool_params){{3, 3, 3}, {2, 2, 2}, {1, 1, 1}, false};
    add(c);
    c.max = false;
    c.tol = 1e-9;
    c.name = "avg pool 2^3 stride 2 odd size";
    c.pp = (ps_pool_params){{2, 2, 2}, {2, 2, 2}, {0, 0, 0}, false};
    add(c);
    c.name = "avg pool 3^3 pad 1 exclude pad";
    c.pp = (ps_pool_params){{3, 3, 3}, {2, 2, 2}, {1, 1, 1}, false};
    add(c);
    c.name = "avg pool 3^3 pad 1 include pad";
    c.pp.count_include_pad = true;
    add(c);
    c.name = "avg pool 2^3 stride 2";
    c.l[0] = (leaf_spec)L5(2, 3, 8, 6, 10, true);
    c.pp = (ps_pool_params){{2, 2, 2}, {2, 2, 2}, {0, 0, 0}, false};
    add(c);
  }
  /* upsampling */
  {
    op_case c = {.name = "upsample nearest x2", .tol = 1e-9, .build = b_up, .n = 1, .up = {8, 6, 10}};
    c.l[0] = (leaf_spec)L5(2, 3, 4, 3, 5, true);
    add(c);
    c.name = "upsample trilinear x2";
    c.tri = true;
    c.tol = 1e-9;
    add(c);
    c.name = "upsample trilinear 4x3x5 -> 7x8x6";
    c.up[0] = 7; c.up[1] = 8; c.up[2] = 6;
    add(c);
    c.name = "upsample nearest 4x3x5 -> 7x8x6";
    c.tri = false;
    add(c);
  }
  /* structure */
  {
    op_case c = {.name = "concat 3 inputs", .tol = 1e-12, .build = b_concat, .n = 3};
    c.l[0] = (leaf_spec)L5(2, 2, 3, 4, 5, true);
    c.l[1] = (leaf_spec)L5(2, 3, 3, 4, 5, false);
    c.l[2] = (leaf_spec)L5(2, 1, 3, 4, 5, true);
    add(c);
    op_case s = {.name = "slice [2, 5) of 6 channels", .tol = 1e-12, .build = b_slice, .n = 1};
    s.l[0] = (leaf_spec)L5(2, 6, 3, 4, 5, true);
    add(s);
    op_case e = {.name = "add, mul (shared input), scale", .tol = 1e-9, .build = b_add_mul, .n = 2};
    e.l[0] = (leaf_spec)L5(2, 3, 4, 5, 6, true);
    e.l[1] = (leaf_spec)L5(2, 3, 4, 5, 6, true);
    add(e);
    op_case w = {.name = "weighted sum of 5 (NAS mixed op)", .tol = 1e-9, .build = b_wsum, .n = 6};
    for (int i = 0; i < 5; i++) w.l[i] = (leaf_spec)L5(1, 4, 5, 5, 5, i != 2);
    w.l[5] = (leaf_spec)L1(5, true, V_UNIFORM);
    add(w);
    op_case sm = {.name = "softmax over channels", .tol = 1e-9, .build = b_softmax, .n = 1};
    sm.l[0] = (leaf_spec)L5(2, 5, 3, 4, 5, true);
    add(sm);
    op_case sv = {.name = "softmax over features [N, F]", .tol = 1e-9, .build = b_softmax, .n = 1};
    sv.l[0] = (leaf_spec)L2(7, 11, true);
    add(sv);
    op_case li = {.name = "linear + bias then matmul", .tol = 1e-7, .build = b_linear, .n = 4, .bias = true, .max = true};
    li.l[0] = (leaf_spec)L2(6, 20, true);
    li.l[1] = (leaf_spec)L2(12, 20, true);
    li.l[2] = (leaf_spec)L1(12, true, V_UNIFORM);
    li.l[3] = (leaf_spec)L2(12, 5, true);
    add(li);
  }
  /* losses: logits over 2 samples, labels drawn per voxel (with the ignore label where set) */
  {
    op_case c = {.name = "cross-entropy", .tol = 1e-7, .build = b_loss, .n = 1, .nclass = 3, .loss_kind = 0};
    c.l[0] = (leaf_spec)L5(2, 3, 6, 7, 9, true);
    c.lp = ps_loss_params_default();
    add(c);
    c.name = "cross-entropy weighted, ignore 255";
    c.lp.class_weights = c.class_w;
    c.class_w[0] = 0.2f; c.class_w[1] = 1.0f; c.class_w[2] = 2.5f;
    c.lp.ignore_label = 255;
    add(c);
    c.name = "soft Dice per sample";
    c.loss_kind = 1;
    c.lp = ps_loss_params_default();
    add(c);
    c.name = "soft Dice batch, with background";
    c.lp.dice_batch = true;
    c.lp.dice_include_background = true;
    add(c);
    c.name = "Dice+CE, 4 classes, ignore, weights";
    c.loss_kind = 2;
    c.nclass = 4;
    c.l[0].shape[1] = 4;
    c.lp = ps_loss_params_default();
    c.lp.ignore_label = 9;
    c.lp.class_weights = c.class_w;
    c.class_w[3] = 0.7f;
    add(c);
    c.name = "Dice+CE, 20 classes (no stack buffer)";
    c.nclass = 20;
    c.l[0].shape[1] = 20;
    c.lp = ps_loss_params_default();
    add(c);
  }
}

/* ---- optimiser and gradient utilities, kernel against kernel ---- */
static void check_optim(void) {
  const int64_t n = 5000;
  const char *names[3] = {"sgd nesterov", "adam", "adamw"};
  for (int k = 0; k < 3; k++) {
    float *res[2] = {0};
    for (int b = 0; b < 2; b++) {
      ps_backend *be = b ? g_ref : g_be;
      ps_rng *rng = ps_rng_create(5);
      float *h = malloc((size_t)(2 * n) * sizeof(float));
      for (int64_t i = 0; i < 2 * n; i++) h[i] = (float)ps_rng_uniform_range(rng, -1, 1);
      ps_rng_free(rng);
      float *w = be->alloc(be, (size_t)n * 4), *g = be->alloc(be, (size_t)n * 4), *m = be->alloc(be, (size_t)n * 4),
            *v = be->alloc(be, (size_t)n * 4);
      CHECK_OK(be->to_backend(be, w, h, (size_t)n * 4));
      CHECK_OK(be->to_backend(be, g, h + n, (size_t)n * 4));
      CHECK_OK(be->memset0(be, m, (size_t)n * 4));
      CHECK_OK(be->memset0(be, v, (size_t)n * 4));
      for (int step = 1; step <= 4; step++) {
        ps_opt_params p = {.kind = k == 0 ? PS_OPT_SGD : k == 1 ? PS_OPT_ADAM : PS_OPT_ADAMW, .lr = 0.01f,
                           .weight_decay = k == 2 ? 0.01f : 3e-5f, .momentum = 0.99f, .beta1 = 0.9f, .beta2 = 0.999f,
                           .eps = 1e-8f, .nesterov = true, .step = step};
        CHECK_OK(be->optim_step(be, &p, w, g, m, k == 0 ? NULL : v, n));
      }
      res[b] = to_host(be, w, n);
      float norm;
      bool fin;
      CHECK_OK(be->grad_norm(be, g, n, &norm));
      double s = 0;
      for (int64_t i = 0; i < n; i++) s += (double)h[n + i] * h[n + i];
      CHECK(fabs(norm - sqrt(s)) < 1e-5 * sqrt(s), "%s grad_norm %g, expected %g", be->name, norm, sqrt(s));
      CHECK_OK(be->all_finite(be, g, n, &fin));
      CHECK(fin, "%s: all_finite false on finite data", be->name);
      h[n + 4321] = INFINITY;
      CHECK_OK(be->to_backend(be, g, h + n, (size_t)n * 4));
      CHECK_OK(be->all_finite(be, g, n, &fin));
      CHECK(!fin, "%s: all_finite missed an Inf", be->name);
      be->free(be, w); be->free(be, g); be->free(be, m); be->free(be, v);
      free(h);
    }
    const double e = res[0] && res[1] ? nmse(res[0], res[1], n) : INFINITY;
    CHECK(e < 1e-6, "optimiser %s: weights NMSE %.3e after 4 steps", names[k], e);
    printf("  %-34s worst NMSE %.2e (threshold 1e-06)\n", names[k], e);
    free(res[0]);
    free(res[1]);
  }
}

/* ---- an allocation failing inside backward is an error, at every failure point ---- */
static ps_tensor *small_net(ps_tape *t, ps_tensor **lv) {
  ps_conv_params cp = ps_conv_params_default();
  for (int i = 0; i < 3; i++) cp.pad[i] = 1;
  ps_tensor *h = ps_conv3d(t, lv[0], lv[1], lv[2], &cp);
  h = h ? ps_instance_norm_act(t, h, NULL, NULL, 1e-5f, PS_ACT_LEAKY_RELU, 0.01f) : NULL;
  ps_pool_params pp = {{2, 2, 2}, {2, 2, 2}, {0, 0, 0}, false};
  ps_tensor *p = h ? ps_max_pool3d(t, h, &pp) : NULL;
  ps_conv_params up = ps_conv_params_default();
  for (int i = 0; i < 3; i++) up.stride[i] = 2;
  ps_tensor *u = p ? ps_conv_transpose3d(t, p, lv[3], NULL, &up) : NULL;
  ps_tensor *cat = u ? ps_concat(t, 2, (ps_tensor *[]){h, u}) : NULL;
  cp.pad[0] = cp.pad[1] = cp.pad[2] = 0;
  return cat ? ps_conv3d(t, cat, lv[4], NULL, &cp) : NULL;
}

static void check_backward_failure(void) {
  ps_backend *be = g_be;
  const int64_t xs[5] = {1, 2, 6, 6, 6}, w1[5] = {4, 2, 3, 3, 3}, b1[1] = {4}, wt[5] = {4, 4, 2, 2, 2},
                w2[5] = {3, 8, 1, 1, 1};
  const int64_t *shapes[5] = {xs, w1, b1, wt, w2};
  const int nd[5] = {5, 5, 1, 5, 5};
  int failures = 0, successes = 0;
  for (long fail_at = 0; fail_at < 64 && successes == 0; fail_at++) {
    ps_tape *t = ps_tape_create_on(be);
    ps_tensor *lv[5];
    for (int i = 0; i < 5; i++) {
      const int64_t n = ps_shape_numel(nd[i], shapes[i]);
      float *h = malloc((size_t)n * sizeof(float));
      for (int64_t k = 0; k < n; k++) h[k] = (float)sin(0.37 * (double)k + i);
      lv[i] = ps_tape_wrap(t, ps_tape_upload(t, h, (size_t)n * sizeof(float)), nd[i], shapes[i]);
      lv[i]->requires_grad = true;
      free(h);
    }
    ps_tensor *y = small_net(t, lv);
    CHECK(y != NULL, "small net forward: %s", ps_last_error());
    if (!y) { ps_tape_free(t); break; }
    float *seed = malloc((size_t)y->numel * sizeof(float));
    for (int64_t k = 0; k < y->numel; k++) seed[k] = 1.0f;
    be->fail_alloc_after(be, fail_at);
    ps_status st = ps_tape_backward_seed(t, y, seed);
    be->fail_alloc_after(be, -1);
    free(seed);
    if (st == PS_OK) {
      /* no allocation left to fail: every gradient is complete */
      successes++;
      for (int i = 0; i < 5; i++) CHECK(lv[i]->grad != NULL, "leaf %d has no gradient after a successful backward", i);
    } else {
      failures++;
      CHECK(st == PS_ERR_NOMEM && strstr(ps_last_error(), "injected") && strstr(ps_last_error(), "backward"),
            "failure at allocation %ld: status %s, message '%s'", fail_at, ps_status_name(st), ps_last_error());
    }
    ps_tape_free(t);
  }
  CHECK(failures >= 5 && successes == 1, "injected failures: %d failed backward passes, %d successes", failures, successes);
  printf("  backward with an allocation failing at each of its first %d allocations: all returned PS_ERR_NOMEM\n",
         failures);
}

int main(int argc, char **argv) {
  const char *name = argc > 1 ? argv[1] : "cpu";
  if (!ps_backend_available(name)) {
    printf("SKIP: backend '%s' is not available here: %s\n", name, ps_last_error());
    return 77;
  }
  g_be = ps_backend_get(name);
  g_ref = ps_backend_get("cpu-ref");
  printf("backend %s against cpu-ref (NMSE of outputs and gradients)\n", name);
  make_cases();
  for (int i = 0; i < n_cases; i++) check_case(&cases[i]);
  check_optim();
  check_backward_failure();
  return ps_test_done("test_backend_ops");
}
