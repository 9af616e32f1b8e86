/* The U-Net builder: resolved architectures, parameter names and shapes, output
 * shapes for several variants, the divisibility error, the proxy shrink
 * function, deep-supervision loss weighting, and whole-network gradients
 * (every parameter tensor of tiny nets) against finite differences. */
#include "proxyseg/nn.h"
#include "gradcheck.h"
#include <string.h>

static cJSON *J(const char *s) {
  cJSON *j = cJSON_Parse(s);
  if (!j) fprintf(stderr, "bad test JSON: %s\n", s);
  return j;
}

static ps_net *mk(const char *arch, int cin, int ncls) {
  cJSON *a = J(arch);
  ps_net *n = NULL;
  ps_status st = ps_net_create(a, cin, ncls, 42, &n);
  CHECK(st == PS_OK, "create %s: %s", arch, ps_last_error());
  cJSON_Delete(a);
  return n;
}

static ps_tensor *input(ps_tape *t, float *buf, int64_t n, int64_t c, int64_t d, int64_t h, int64_t w, ps_rng *r) {
  int64_t sh[5] = {n, c, d, h, w};
  for (int64_t i = 0; i < n * c * d * h * w; i++) buf[i] = (float)ps_rng_uniform_range(r, -1, 1);
  return ps_tape_wrap(t, buf, 5, sh);
}

static void test_defaults_and_names(void) {
  ps_net *n = mk("{}", 1, 2);
  if (!n) return;
  const cJSON *r = ps_net_arch_resolved(n);
  const char *keys[] = {"stages", "base_features", "feature_multiplier", "max_features", "features",
                        "convs_per_stage_encoder", "convs_per_stage_decoder", "kernel_sizes", "strides", "norm",
                        "activation", "leaky_slope", "downsample", "upsample", "residual", "deep_supervision"};
  for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
    CHECK(cJSON_GetObjectItemCaseSensitive(r, keys[i]) != NULL, "resolved arch lacks %s", keys[i]);
  CHECK(ps_json_int(r, "stages", 0) == 4, "default stages");
  const cJSON *f = cJSON_GetObjectItemCaseSensitive(r, "features");
  CHECK(cJSON_GetArraySize(f) == 4 && cJSON_GetArrayItem(f, 3)->valueint == 128, "features 16..128");
  CHECK(ps_net_patch_divisor(n, 0) == 8 && ps_net_patch_divisor(n, 2) == 8, "divisor 8");
  ps_tensor *w = ps_params_find(ps_net_params(n), "enc0.conv0.weight");
  CHECK(w && w->ndim == 5 && w->shape[0] == 16 && w->shape[1] == 1 && w->shape[4] == 3, "enc0.conv0.weight [16,1,3,3,3]");
  w = ps_params_find(ps_net_params(n), "dec2.up.weight");
  CHECK(w && w->shape[0] == 128 && w->shape[1] == 64 && w->shape[2] == 2, "dec2.up.weight [128,64,2,2,2]");
  w = ps_params_find(ps_net_params(n), "dec0.conv0.weight");
  CHECK(w && w->shape[0] == 16 && w->shape[1] == 32, "dec0.conv0.weight [16,32,3,3,3]");
  w = ps_params_find(ps_net_params(n), "head0.weight");
  CHECK(w && w->shape[0] == 2 && w->shape[1] == 16 && w->shape[2] == 1, "head0.weight [2,16,1,1,1]");
  CHECK(ps_params_find(ps_net_params(n), "enc3.norm1.bias") != NULL, "norm params");
  CHECK(ps_params_find(ps_net_params(n), "head1.weight") == NULL, "no deep-supervision heads by default");
  /* Kaiming init: std of enc1.conv0.weight ≈ sqrt(2/(1+1e-4)) / sqrt(16*27) */
  w = ps_params_find(ps_net_params(n), "enc1.conv0.weight");
  double s2 = 0;
  for (int64_t i = 0; i < w->numel; i++) s2 += (double)w->data[i] * w->data[i];
  double sd = sqrt(s2 / w->numel), want = sqrt(2.0 / 1.0001) / sqrt(16.0 * 27);
  CHECK(fabs(sd - want) < 0.05 * want, "He init std %.4f vs %.4f", sd, want);
  /* the same seed gives the same network */
  ps_net *n2 = mk("{}", 1, 2);
  CHECK(n2 && memcmp(ps_params_data(ps_net_params(n)), ps_params_data(ps_net_params(n2)),
                     ps_params_numel(ps_net_params(n)) * sizeof(float)) == 0, "same seed, same weights");
  /* resolved arch rebuilds the identical network */
  ps_net *n3 = NULL;
  CHECK_OK(ps_net_create(r, 1, 2, 42, &n3));
  CHECK(n3 && ps_params_numel(ps_net_params(n3)) == ps_params_numel(ps_net_params(n)), "resolved arch round trip");
  ps_net_free(n2);
  ps_net_free(n3);
  ps_net_free(n);
  cJSON *bad = J("{\"stages\":3,\"norm\":\"layer\"}");
  ps_net *nb = NULL;
  CHECK(ps_net_create(bad, 1, 2, 1, &nb) == PS_ERR_INVALID && nb == NULL, "bad norm rejected");
  CHECK(strstr(ps_last_error(), "norm") != NULL, "message names the key: %s", ps_last_error());
  cJSON_Delete(bad);
  bad = J("{\"stage\":3}");
  CHECK(ps_net_create(bad, 1, 2, 1, &nb) == PS_ERR_INVALID, "unknown key rejected");
  cJSON_Delete(bad);
  bad = J("{\"stages\":3,\"kernel_sizes\":[3,3]}");
  CHECK(ps_net_create(bad, 1, 2, 1, &nb) == PS_ERR_INVALID, "list of the wrong length rejected");
  cJSON_Delete(bad);
}

typedef struct { const char *arch; int cin, ncls; int64_t d, h, w; int n_outs; } variant;

static void test_variants(void) {
  const variant vs[] = {
      {"{\"stages\":3,\"base_features\":4}", 1, 2, 8, 8, 8, 1},
      {"{\"stages\":3,\"base_features\":4,\"norm\":\"batch\",\"activation\":\"relu\",\"downsample\":\"strided_conv\"}", 2, 3, 8, 12, 16, 1},
      {"{\"stages\":3,\"base_features\":3,\"upsample\":\"trilinear_conv\",\"residual\":true,\"deep_supervision\":true}", 1, 2, 16, 8, 8, 2},
      {"{\"stages\":4,\"base_features\":2,\"strides\":[1,[1,2,2],2,2],\"kernel_sizes\":[[1,3,3],3,3,3],\"deep_supervision\":true,\"norm\":\"none\"}", 1, 4, 8, 16, 16, 3},
      {"{\"stages\":1,\"base_features\":4,\"convs_per_stage_encoder\":3}", 1, 2, 5, 6, 7, 1},
      {"{\"stages\":2,\"base_features\":4,\"convs_per_stage_encoder\":[1,3],\"convs_per_stage_decoder\":[1]}", 1, 2, 4, 4, 4, 1},
  };
  ps_rng *r = ps_rng_create(3);
  ps_tape *t = ps_tape_create();
  for (size_t v = 0; v < sizeof vs / sizeof *vs; v++) {
    ps_net *n = mk(vs[v].arch, vs[v].cin, vs[v].ncls);
    if (!n) continue;
    ps_tape_reset(t);
    float *buf = malloc(sizeof(float) * 2 * vs[v].cin * vs[v].d * vs[v].h * vs[v].w);
    ps_tensor *x = input(t, buf, 2, vs[v].cin, vs[v].d, vs[v].h, vs[v].w, r);
    ps_tensor *outs[8];
    int no = 0;
    ps_status st = ps_net_forward(n, t, x, true, outs, &no);
    CHECK(st == PS_OK, "variant %zu forward: %s", v, ps_last_error());
    CHECK(no == vs[v].n_outs, "variant %zu: %d outputs, expected %d", v, no, vs[v].n_outs);
    if (st == PS_OK && no >= 1) {
      ps_tensor *o = outs[0];
      CHECK(o->shape[0] == 2 && o->shape[1] == vs[v].ncls && o->shape[2] == vs[v].d && o->shape[3] == vs[v].h &&
                o->shape[4] == vs[v].w, "variant %zu: full-resolution logits", v);
      for (int i = 1; i < no; i++)
        CHECK(outs[i]->shape[3] <= outs[i - 1]->shape[3] && outs[i]->shape[4] < outs[i - 1]->shape[4],
              "variant %zu: output %d at lower resolution", v, i);
      uint8_t *lab = calloc((size_t)(2 * vs[v].d * vs[v].h * vs[v].w), 1);
      for (int64_t i = 0; i < 2 * vs[v].d * vs[v].h * vs[v].w; i++) lab[i] = (uint8_t)(i % vs[v].ncls);
      ps_tensor *loss = ps_net_loss(n, t, outs, no, lab, NULL);
      CHECK(loss && isfinite(loss->data[0]), "variant %zu: loss %s", v, loss ? "non-finite" : ps_last_error());
      if (loss) CHECK_OK(ps_tape_backward(t, loss));
      free(lab);
    }
    free(buf);
    ps_net_free(n);
  }
  /* an input the strides do not divide: a clear error */
  ps_net *n = mk("{\"stages\":4,\"base_features\":2}", 1, 2);
  ps_tape_reset(t);
  float *buf = malloc(sizeof(float) * 12 * 16 * 16);
  ps_tensor *x = input(t, buf, 1, 1, 12, 16, 16, r);
  ps_tensor *outs[8];
  int no;
  CHECK(ps_net_forward(n, t, x, true, outs, &no) == PS_ERR_INVALID, "12 is not a multiple of 8");
  CHECK(strstr(ps_last_error(), "divisible by 8") != NULL, "message: %s", ps_last_error());
  free(buf);
  ps_net_free(n);
  ps_tape_free(t);
  ps_rng_free(r);
}

static void test_shrink(void) {
  cJSON *a = J("{\"stages\":5,\"base_features\":32,\"max_features\":320,\"strides\":[1,2,2,2,[1,2,2]],"
               "\"convs_per_stage_decoder\":[2,2,2,3]}");
  cJSON *s = NULL;
  CHECK_OK(ps_arch_shrink(a, 0.25, 2, &s));
  if (s) {
    CHECK(ps_json_int(s, "stages", 0) == 3, "5 - 2 stages");
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(s, "features");
    CHECK(cJSON_GetArraySize(f) == 3 && cJSON_GetArrayItem(f, 0)->valueint == 8 && cJSON_GetArrayItem(f, 2)->valueint == 32,
          "features 32,64,128 * 0.25 = 8,16,32");
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(s, "strides")) == 3, "strides truncated");
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(s, "convs_per_stage_decoder")) == 2, "decoder list truncated");
    CHECK(ps_json_int(s, "base_features", 0) == 8 && ps_json_int(s, "max_features", 0) == 80, "base/max scaled");
    ps_net *n = NULL;
    CHECK_OK(ps_net_create(s, 1, 2, 1, &n));
    if (n) CHECK(ps_net_patch_divisor(n, 0) == 4, "proxy divisor");
    ps_net_free(n);
    /* shrinking the resolved form again composes */
    cJSON *s2 = NULL;
    CHECK_OK(ps_arch_shrink(s, 0.5, 0, &s2));
    const cJSON *f2 = cJSON_GetObjectItemCaseSensitive(s2, "features");
    CHECK(f2 && cJSON_GetArrayItem(f2, 0)->valueint == 4, "8 * 0.5 = 4");
    cJSON_Delete(s2);
  }
  cJSON_Delete(s);
  /* extreme factors: at least 2 channels, at least 1 stage */
  CHECK_OK(ps_arch_shrink(a, 0.01, 10, &s));
  if (s) {
    CHECK(ps_json_int(s, "stages", 0) == 1, "at least one stage");
    CHECK(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(s, "features"), 0)->valueint == 2, "at least 2 channels");
  }
  cJSON_Delete(s);
  CHECK(ps_arch_shrink(a, 0, 0, &s) == PS_ERR_INVALID, "width 0 rejected");
  CHECK(ps_arch_shrink(a, 1, -1, &s) == PS_ERR_INVALID, "negative depth rejected");
  cJSON_Delete(a);
}

static void test_ds_loss(void) {
  double w[3];
  ps_net_ds_weights(3, w);
  CHECK_NEAR(w[0], 2.0 / 3, 1e-12);
  CHECK_NEAR(w[1], 1.0 / 3, 1e-12);
  CHECK_NEAR(w[2], 0.0, 1e-12);
  ps_net_ds_weights(1, w);
  CHECK_NEAR(w[0], 1.0, 1e-12);
  /* the deep-supervised loss equals the hand-weighted sum with nearest-downsampled labels */
  ps_net *n = mk("{\"stages\":4,\"base_features\":2,\"deep_supervision\":true}", 1, 2);
  if (!n) return;
  ps_rng *r = ps_rng_create(5);
  ps_tape *t = ps_tape_create();
  float *buf = malloc(sizeof(float) * 16 * 16 * 16);
  ps_tensor *x = input(t, buf, 1, 1, 16, 16, 16, r);
  uint8_t lab[16 * 16 * 16], lab2[8 * 8 * 8];
  for (int i = 0; i < 16 * 16 * 16; i++) lab[i] = ps_rng_uniform(r) < 0.3;
  for (int z = 0; z < 8; z++)
    for (int y = 0; y < 8; y++)
      for (int xx = 0; xx < 8; xx++) lab2[(z * 8 + y) * 8 + xx] = lab[((2 * z) * 16 + 2 * y) * 16 + 2 * xx];
  ps_tensor *outs[8];
  int no = 0;
  CHECK_OK(ps_net_forward(n, t, x, true, outs, &no));
  CHECK(no == 3, "4 stages with deep supervision: 3 outputs");
  ps_tensor *l = ps_net_loss(n, t, outs, no, lab, NULL);
  ps_loss_params lp = ps_loss_params_default();
  ps_tensor *l0 = ps_dice_ce_loss(t, outs[0], lab, &lp), *l1 = ps_dice_ce_loss(t, outs[1], lab2, &lp);
  CHECK(l && l0 && l1, "losses computed");
  if (l && l0 && l1) CHECK_NEAR(l->data[0], (2.0 * l0->data[0] + l1->data[0]) / 3, 1e-5);
  free(buf);
  ps_tape_free(t);
  ps_rng_free(r);
  ps_net_free(n);
}

typedef struct { ps_net *net; const uint8_t *labels; } gc_ud;

static ps_tensor *gc_build(ps_tape *t, ps_tensor **leaves, void *ud) {
  gc_ud *u = ud;
  ps_tensor *outs[8];
  int no = 0;
  if (ps_net_forward(u->net, t, leaves[0], true, outs, &no)) return NULL;
  return ps_net_loss(u->net, t, outs, no, u->labels, NULL);
}

static double net_loss(ps_tape *t, ps_net *n, ps_tensor *x, const uint8_t *lab) {
  ps_tape_reset(t);
  ps_tensor *outs[8];
  int no = 0;
  if (ps_net_forward(n, t, x, true, outs, &no)) return NAN;
  ps_tensor *l = ps_net_loss(n, t, outs, no, lab, NULL);
  return l ? l->data[0] : NAN;
}

/* Whole-network gradient check by directional derivatives, one parameter tensor
 * at a time: along the tensor's own gradient direction u = g/|g| the central
 * difference must equal |g| (a wrong direction or scale both show), and along a
 * random direction it must equal g·v. Per-coordinate differences are not used
 * here: through two instance norms most single-weight effects drown in float32
 * noise, while a directional step moves the loss well above it. */
static void gradcheck_net_dir(const char *what, const char *arch, int64_t size, double tol) {
  ps_net *n = mk(arch, 1, 2);
  if (!n) return;
  ps_params *p = ps_net_params(n);
  ps_rng *r = ps_rng_create(23);
  int64_t sh[5] = {2, 1, size, size, size};
  ps_tensor *x = ps_gc_leaf(5, sh, false, r);
  int64_t nv = 2 * size * size * size;
  uint8_t *lab = malloc((size_t)nv);
  for (int64_t i = 0; i < nv; i++) lab[i] = ps_rng_uniform(r) < 0.4;
  for (size_t i = 0; i < ps_params_count(p); i++) {
    ps_tensor *w = ps_params_get(p, i);
    if (w->ndim == 1)   /* zero biases / unit scales at init would make some paths degenerate */
      for (int64_t k = 0; k < w->numel; k++) w->data[k] += (float)ps_rng_uniform_range(r, -0.3, 0.3);
  }
  ps_tape *t = ps_tape_create();
  ps_params_zero_grad(p);
  ps_tape_reset(t);
  ps_tensor *outs[8];
  int no = 0;
  CHECK_OK(ps_net_forward(n, t, x, true, outs, &no));
  ps_tensor *loss = ps_net_loss(n, t, outs, no, lab, NULL);
  CHECK(loss != NULL, "%s: loss: %s", what, ps_last_error());
  if (!loss) goto done;
  CHECK_OK(ps_tape_backward(t, loss));
  size_t ntot = ps_params_numel(p);
  float *g = malloc(ntot * sizeof(float)), *w0 = malloc(ntot * sizeof(float));
  memcpy(g, ps_params_grad(p), ntot * sizeof(float));
  memcpy(w0, ps_params_data(p), ntot * sizeof(float));
  double gall = 0;
  for (size_t k = 0; k < ntot; k++) gall += (double)g[k] * g[k];
  gall = sqrt(gall);
  const double eps = getenv("PS_GC_EPS") ? atof(getenv("PS_GC_EPS")) : 1e-3;
  double worst = 0;
  const char *worst_name = "";
  double *v = NULL;
  for (size_t i = 0; i < ps_params_count(p); i++) {
    ps_tensor *w = ps_params_get(p, i);
    const float *gi = g + ps_params_offset(p, i);
    v = realloc(v, (size_t)w->numel * sizeof *v);
    double gn = 0;
    for (int64_t k = 0; k < w->numel; k++) gn += (double)gi[k] * gi[k];
    gn = sqrt(gn);
    for (int dir = 0; dir < 2; dir++) {
      double ana = 0, vn = 0;
      for (int64_t k = 0; k < w->numel; k++) {
        v[k] = dir == 0 && gn > 0 ? gi[k] / gn : ps_rng_uniform_range(r, -1, 1);
        vn += v[k] * v[k];
      }
      vn = sqrt(vn);
      for (int64_t k = 0; k < w->numel; k++) ana += (v[k] /= vn) * gi[k];
      for (int64_t k = 0; k < w->numel; k++) w->data[k] = (float)(w0[ps_params_offset(p, i) + k] + eps * v[k]);
      double lp = net_loss(t, n, x, lab);
      for (int64_t k = 0; k < w->numel; k++) w->data[k] = (float)(w0[ps_params_offset(p, i) + k] - eps * v[k]);
      double lm = net_loss(t, n, x, lab);
      memcpy(w->data, w0 + ps_params_offset(p, i), (size_t)w->numel * sizeof(float));
      double num = (lp - lm) / (2 * eps);
      /* floor: a tensor whose true gradient is ~0 (a conv bias before a norm) is held
       * to a small fraction of the whole gradient instead of to itself */
      double scale = fmax(fmax(fabs(ana), gn), 2e-2 * gall);
      double err = fabs(num - ana) / scale;
      if (getenv("PS_GC_VERBOSE")) fprintf(stderr, "  %-24s dir %d num %.6g ana %.6g gn %.3g\n", w->name, dir, num, ana, gn);
      if (!(err <= worst)) { worst = err; worst_name = w->name; }
    }
  }
  fprintf(stderr, "gradcheck %-40s directional max rel err %.2e (%s)\n", what, worst, worst_name);
  CHECK(worst < tol, "%s: whole-network gradient rel err %.3g at %s", what, worst, worst_name);
  free(v);
  free(g);
  free(w0);
done:
  ps_tape_free(t);
  free(lab);
  ps_gc_leaf_free(x);
  ps_rng_free(r);
  ps_net_free(n);
}

/* Per-coordinate check (every parameter tensor and the input) where float32
 * noise permits it: no normalisation layers. */
static void gradcheck_net(const char *what, const char *arch, int64_t size, int probes, double tol) {
  ps_net *n = mk(arch, 1, 2);
  if (!n) return;
  ps_params *p = ps_net_params(n);
  size_t np = ps_params_count(p);
  ps_tensor **leaves = calloc(np + 1, sizeof *leaves);
  ps_rng *r = ps_rng_create(11);
  int64_t sh[5] = {2, 1, size, size, size};
  leaves[0] = ps_gc_leaf(5, sh, true, r);
  uint8_t *lab = malloc((size_t)(2 * size * size * size));
  for (int64_t i = 0; i < 2 * size * size * size; i++) lab[i] = ps_rng_uniform(r) < 0.4;
  float **keep = calloc(np, sizeof *keep);
  for (size_t i = 0; i < np; i++) {
    leaves[i + 1] = ps_params_get(p, i);
    keep[i] = leaves[i + 1]->grad;
    if (leaves[i + 1]->ndim == 1)
      for (int64_t k = 0; k < leaves[i + 1]->numel; k++) leaves[i + 1]->data[k] += (float)ps_rng_uniform_range(r, -0.3, 0.3);
  }
  gc_ud ud = {n, lab};
  double e = ps_gradcheck(what, gc_build, (int)np + 1, leaves, &ud, 1e-3, probes, 17);
  CHECK(e < tol, "%s: whole-network gradient rel err %.3g", what, e);
  for (size_t i = 0; i < np; i++) leaves[i + 1]->grad = keep[i];   /* gradcheck left them NULL */
  free(keep);
  free(lab);
  ps_gc_leaf_free(leaves[0]);
  free(leaves);
  ps_rng_free(r);
  ps_net_free(n);
}

int main(int argc, char **argv) {
  if (argc > 2) { /* debugging: test_unet ARCH_JSON SIZE */
    gradcheck_net_dir("cli", argv[1], atoi(argv[2]), 0.1); return ps_test_done("test_unet"); }
  test_defaults_and_names();
  test_variants();
  test_shrink();
  test_ds_loss();
  /* Finite differences through max-pool, (leaky) ReLU kinks and instance norms over a
   * few voxels are only good to a few per cent in float32, so these tolerances catch
   * wrong or missing gradient paths (errors of order 1); the tight per-tensor check
   * (< 1e-3) is the PyTorch oracle, test_unet_torch. */
  gradcheck_net("unet 1 stage, no norm (all coords)", "{\"stages\":1,\"base_features\":2,\"norm\":\"none\"}", 4, 1000, 0.1);
  gradcheck_net("unet 2 stages, no norm", "{\"stages\":2,\"base_features\":2,\"norm\":\"none\"}", 4, 40, 0.1);
  gradcheck_net_dir("unet 1 stage", "{\"stages\":1,\"base_features\":2}", 4, 0.1);
  gradcheck_net_dir("unet 2 stages", "{\"stages\":2,\"base_features\":2}", 8, 0.1);
  gradcheck_net_dir("unet 3 stages", "{\"stages\":3,\"base_features\":4}", 12, 0.1);
  gradcheck_net_dir("unet bn/strided/trilinear/residual/ds",
                    "{\"stages\":3,\"base_features\":3,\"norm\":\"batch\",\"activation\":\"relu\",\"downsample\":"
                    "\"strided_conv\",\"upsample\":\"trilinear_conv\",\"residual\":true,\"deep_supervision\":true}",
                    12, 0.1);
  return ps_test_done("test_unet");
}
