/* Losses: cross-entropy, soft Dice and Dice+CE against finite differences over
 * weights / ignore label / batch Dice / background, and hand-computed values:
 * CE of uniform logits is log C, CE and Dice of a perfect prediction are ~0,
 * ignored voxels change nothing, class weights give PyTorch's weighted mean. */
#include "gradcheck.h"
#include "proxyseg/ops.h"
#include <string.h>

typedef struct {
  int which; /* 0 CE, 1 Dice, 2 Dice+CE */
  const uint8_t *labels;
  ps_loss_params p;
  bool via; /* logits through x*1: the loss writes a fresh gradient buffer */
} spec;

static ps_tensor *build(ps_tape *t, ps_tensor **leaves, void *ud) {
  spec *s = ud;
  ps_tensor *L[1] = {s->via ? ps_scale(t, leaves[0], 1.0f) : leaves[0]};
  if (s->which == 0) return ps_cross_entropy(t, L[0], s->labels, &s->p);
  if (s->which == 1) return ps_soft_dice_loss(t, L[0], s->labels, &s->p);
  return ps_dice_ce_loss(t, L[0], s->labels, &s->p);
}

static ps_rng *rng;

static void test_gradients(void) {
  const int64_t shapes[][5] = {{2, 3, 2, 3, 2}, {1, 2, 5, 1, 1}, {3, 4, 1, 1, 1}};
  const int ndims[] = {5, 5, 2};
  float cw[4] = {0.5f, 2, 1, 3};
  for (int sh = 0; sh < 3; sh++) {
    int64_t C = shapes[sh][1], vox = ps_shape_numel(ndims[sh], shapes[sh]) / C;
    uint8_t *lab = malloc((size_t)vox);
    for (int64_t v = 0; v < vox; v++) lab[v] = (uint8_t)ps_rng_int(rng, (uint64_t)C);
    if (vox > 3) lab[1] = 255; /* one ignored voxel when ignore_label is set */
    for (int which = 0; which < 3; which++)
      for (int variant = 0; variant < 4; variant++) {
        spec s = {.which = which, .labels = lab, .p = ps_loss_params_default()};
        s.p.class_weights = variant & 1 ? cw : NULL;
        s.p.ignore_label = vox > 3 ? 255 : -1;
        s.p.dice_batch = variant & 2;
        s.p.dice_include_background = variant == 3 || C == 2;
        s.p.dice_smooth = variant & 1 ? 1.0f : 1e-5f;
        s.p.weight_ce = 0.7f;
        s.p.weight_dice = 1.3f;
        ps_tensor *x = ps_gc_leaf(ndims[sh], shapes[sh], true, rng);
        for (int64_t i = 0; i < x->numel; i++) x->data[i] *= 3;
        s.via = variant == 2;
        char name[80];
        snprintf(name, sizeof name, "%s shape %d variant %d%s", which == 0 ? "ce" : which == 1 ? "dice" : "dice+ce", sh, variant,
                 s.via ? " (fresh)" : "");
        double e = ps_gradcheck(name, build, 1, &x, &s, 1e-2, 80, 3);
        CHECK(e < 1e-2, "%s: gradient rel err %.3g", name, e);
        ps_gc_leaf_free(x);
      }
    free(lab);
  }
}

static float loss_of(int which, float *logits, int64_t N, int64_t C, int64_t S, const uint8_t *lab, const ps_loss_params *p) {
  ps_tape *t = ps_tape_create();
  ps_tensor *x = ps_tape_wrap(t, logits, 3, (int64_t[]){N, C, S});
  spec s = {.which = which, .labels = lab, .p = *p};
  ps_tensor *y = build(t, &x, &s);
  float v = y ? y->data[0] : NAN;
  ps_tape_free(t);
  return v;
}

static void test_values(void) {
  ps_loss_params p = ps_loss_params_default();
  /* uniform logits: CE = log C */
  float u[12] = {0};
  uint8_t lab[4] = {0, 1, 2, 1};
  CHECK_NEAR(loss_of(0, u, 1, 3, 4, lab, &p), log(3.0), 1e-6);
  /* a perfect, confident prediction: CE ~ 0, Dice ~ 0 (identical masks) */
  float perfect[12];
  for (int c = 0; c < 3; c++)
    for (int s = 0; s < 4; s++) perfect[c * 4 + s] = lab[s] == c ? 40.0f : -40.0f;
  CHECK_NEAR(loss_of(0, perfect, 1, 3, 4, lab, &p), 0, 1e-6);
  CHECK_NEAR(loss_of(1, perfect, 1, 3, 4, lab, &p), 0, 1e-6);
  p.dice_include_background = true;
  CHECK_NEAR(loss_of(1, perfect, 1, 3, 4, lab, &p), 0, 1e-6);
  CHECK_NEAR(loss_of(2, perfect, 1, 3, 4, lab, &p), 0, 1e-6);
  /* completely wrong and confident: Dice of disjoint masks ~ 1 */
  uint8_t wrong[4] = {1, 2, 0, 2};
  CHECK_NEAR(loss_of(1, perfect, 1, 3, 4, wrong, &p), 1, 1e-5);
  /* soft Dice by hand: 2 classes, 2 voxels, include background, one sample */
  float two[4] = {0, 1, 1, 0}; /* voxel 0: p1 = s(1); voxel 1: p1 = s(-1) */
  uint8_t l2[2] = {1, 0};
  double a = 1 / (1 + exp(-1.0)), b = 1 - a; /* p(class of label) = a at both voxels */
  double dc1 = (2 * a + 1e-5) / (a + b + 1 + 1e-5), dc0 = (2 * a + 1e-5) / (b + a + 1 + 1e-5);
  CHECK_NEAR(loss_of(1, two, 1, 2, 2, l2, &p), 1 - (dc0 + dc1) / 2, 1e-6);
  /* ignore_label: changing logits at an ignored voxel changes nothing */
  ps_loss_params pi = ps_loss_params_default();
  pi.ignore_label = 7;
  uint8_t li[4] = {0, 7, 2, 1};
  float r[12];
  for (int i = 0; i < 12; i++) r[i] = (float)ps_rng_uniform_range(rng, -2, 2);
  float ce1 = loss_of(0, r, 1, 3, 4, li, &pi), d1 = loss_of(1, r, 1, 3, 4, li, &pi);
  r[1] += 5; r[5] -= 3; /* voxel 1 of channels 0 and 1 */
  CHECK_NEAR(loss_of(0, r, 1, 3, 4, li, &pi), ce1, 1e-6);
  CHECK_NEAR(loss_of(1, r, 1, 3, 4, li, &pi), d1, 1e-6);
  /* and CE averages over the 3 remaining voxels */
  double ce_hand = 0;
  for (int s = 0; s < 4; s++) {
    if (s == 1) continue;
    double z = 0;
    for (int c = 0; c < 3; c++) z += exp(r[c * 4 + s]);
    ce_hand += log(z) - r[li[s] * 4 + s];
  }
  CHECK_NEAR(ce1, ce_hand / 3, 1e-5);
  /* class weights: sum_i w[y_i] * nll_i / sum_i w[y_i] (PyTorch) */
  float cw[3] = {0.2f, 3, 1};
  pi.class_weights = cw;
  double num = 0, den = 0;
  for (int s = 0; s < 4; s++) {
    if (s == 1) continue;
    double z = 0;
    for (int c = 0; c < 3; c++) z += exp(r[c * 4 + s]);
    num += cw[li[s]] * (log(z) - r[li[s] * 4 + s]);
    den += cw[li[s]];
  }
  CHECK_NEAR(loss_of(0, r, 1, 3, 4, li, &pi), num / den, 1e-5);
  /* Dice+CE = weight_ce * CE + weight_dice * Dice */
  ps_loss_params pd = ps_loss_params_default();
  pd.weight_ce = 0.3f;
  pd.weight_dice = 2;
  double want = 0.3 * loss_of(0, r, 2, 3, 2, lab, &pd) + 2 * loss_of(1, r, 2, 3, 2, lab, &pd);
  CHECK_NEAR(loss_of(2, r, 2, 3, 2, lab, &pd), want, 1e-5);
  /* numerical stability: huge logits stay finite */
  float huge[12];
  for (int i = 0; i < 12; i++) huge[i] = i % 2 ? 1e4f : -1e4f;
  CHECK(isfinite(loss_of(2, huge, 1, 3, 4, lab, &p)), "Dice+CE not finite for logits of 1e4");
  /* errors: labels out of range, Dice without background on one class */
  uint8_t badl[4] = {0, 3, 0, 0};
  CHECK(isnan(loss_of(0, u, 1, 3, 4, badl, &p)), "label 3 accepted for 3 classes");
  CHECK(strstr(ps_last_error(), "label 3") != NULL, "message: %s", ps_last_error());
  ps_loss_params nb = ps_loss_params_default();
  CHECK(isnan(loss_of(1, u, 4, 1, 3, lab, &nb)), "Dice without background accepted C=1");
}

/* the loss gradient at a perfect prediction is ~0, and grads reach the logits */
static void test_backward_runs(void) {
  ps_tape *t = ps_tape_create();
  ps_tensor *x = ps_gc_leaf(5, (int64_t[]){2, 3, 4, 4, 4}, true, rng);
  uint8_t *lab = malloc(2 * 64);
  for (int i = 0; i < 128; i++) lab[i] = (uint8_t)(i % 3);
  ps_loss_params p = ps_loss_params_default();
  float *g = calloc((size_t)x->numel, sizeof(float));
  x->grad = g;
  ps_tensor *y = ps_dice_ce_loss(t, x, lab, &p);
  CHECK_OK(ps_tape_backward(t, y));
  double s = 0;
  for (int64_t i = 0; i < x->numel; i++) s += fabs(g[i]);
  CHECK(s > 0 && isfinite(s), "gradient sum %g", s);
  x->grad = NULL;
  free(g);
  free(lab);
  ps_gc_leaf_free(x);
  ps_tape_free(t);
}

int main(void) {
  rng = ps_rng_create(5);
  test_gradients();
  test_values();
  test_backward_runs();
  ps_rng_free(rng);
  return ps_test_done("test_losses");
}
