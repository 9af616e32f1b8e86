/* Training smoke test: a small U-Net learns to segment a bright noisy sphere in
 * 16³ volumes (data made here). The loss must fall and the validation Dice
 * rise, and two runs with the same seed and thread count must end bit-identical. */
#include "proxyseg/nn.h"
#include "testutil.h"
#include <string.h>

#define S 16
#define NV (S * S * S)
#define BATCH 2
#define STEPS 100

/* One volume: a sphere of random centre/radius, intensity 1 inside, 0 outside, noise 0.4. */
static void make_case(ps_rng *r, float *x, uint8_t *lab) {
  double cz = ps_rng_uniform_range(r, 5, 11), cy = ps_rng_uniform_range(r, 5, 11), cx = ps_rng_uniform_range(r, 5, 11);
  double rad = ps_rng_uniform_range(r, 3, 5);
  for (int z = 0; z < S; z++)
    for (int y = 0; y < S; y++)
      for (int xx = 0; xx < S; xx++) {
        int i = (z * S + y) * S + xx;
        bool in = (z - cz) * (z - cz) + (y - cy) * (y - cy) + (xx - cx) * (xx - cx) < rad * rad;
        lab[i] = in;
        x[i] = (float)((in ? 1.0 : 0.0) + ps_rng_normal(r, 0.4));
      }
}

/* Mean hard Dice of class 1 over a fixed validation set. */
static double validate(ps_net *n, ps_tape *t, const float *vx, const uint8_t *vl, int ncases) {
  double sum = 0;
  ps_tape_set_grad_enabled(t, false);
  for (int c = 0; c < ncases; c++) {
    ps_tape_reset(t);
    int64_t sh[5] = {1, 1, S, S, S};
    ps_tensor *x = ps_tape_wrap(t, (float *)vx + (size_t)c * NV, 5, sh), *outs[8];
    int no;
    if (ps_net_forward(n, t, x, false, outs, &no)) { ps_tape_set_grad_enabled(t, true); return -1; }
    const float *o = outs[0]->data;
    double inter = 0, p = 0, g = 0;
    for (int i = 0; i < NV; i++) {
      bool fg = o[NV + i] > o[i];
      bool gt = vl[(size_t)c * NV + i];
      inter += fg && gt;
      p += fg;
      g += gt;
    }
    sum += (2 * inter + 1e-6) / (p + g + 1e-6);
  }
  ps_tape_set_grad_enabled(t, true);
  return sum / ncases;
}

typedef struct { double loss_first, loss_last, dice_before, dice_after; float *params; size_t n; } run_result;

static void train(uint64_t seed, run_result *res) {
  cJSON *arch = cJSON_Parse("{\"stages\":3,\"base_features\":4}");
  ps_net *n = NULL;
  CHECK_OK(ps_net_create(arch, 1, 2, seed, &n));
  cJSON_Delete(arch);
  if (!n) return;
  ps_optim *o = ps_optim_create("adam", ps_net_params(n), NULL);
  ps_sched *sc = NULL;
  cJSON *sj = cJSON_Parse("{\"kind\":\"poly\",\"warmup_epochs\":3}");
  CHECK_OK(ps_sched_create(sj, 2e-2, STEPS, &sc));
  cJSON_Delete(sj);
  ps_tape *t = ps_tape_create();
  ps_rng *r = ps_rng_create(ps_seed_derive(seed, 1));
  static float vx[4 * NV], x[BATCH * NV];
  static uint8_t vl[4 * NV], lab[BATCH * NV];
  ps_rng *vr = ps_rng_create(1234);
  for (int c = 0; c < 4; c++) make_case(vr, vx + c * NV, vl + c * NV);
  ps_rng_free(vr);
  res->dice_before = validate(n, t, vx, vl, 4);
  double first = 0, last = 0;
  for (int s = 0; s < STEPS; s++) {
    for (int b = 0; b < BATCH; b++) make_case(r, x + b * NV, lab + b * NV);
    ps_tape_reset(t);
    ps_params_zero_grad(ps_net_params(n));
    int64_t sh[5] = {BATCH, 1, S, S, S};
    ps_tensor *xt = ps_tape_wrap(t, x, 5, sh), *outs[8];
    int no;
    ps_status st = ps_net_forward(n, t, xt, true, outs, &no);
    ps_tensor *l = st ? NULL : ps_net_loss(n, t, outs, no, lab, NULL);
    if (!l || ps_tape_backward(t, l)) {
      CHECK(0, "training step %d failed: %s", s, ps_last_error());
      break;
    }
    ps_clip_grad_norm(ps_net_params(n), 12.0f);
    CHECK_OK(ps_optim_step(o, (float)ps_lr_at(sc, s)));
    if (s < 5) first += l->data[0] / 5;
    if (s >= STEPS - 5) last += l->data[0] / 5;
  }
  res->loss_first = first;
  res->loss_last = last;
  res->dice_after = validate(n, t, vx, vl, 4);
  res->n = ps_params_numel(ps_net_params(n));
  res->params = malloc(res->n * sizeof(float));
  memcpy(res->params, ps_params_data(ps_net_params(n)), res->n * sizeof(float));
  fprintf(stderr, "train seed %llu: loss %.4f -> %.4f, val Dice %.3f -> %.3f\n", (unsigned long long)seed, first, last,
          res->dice_before, res->dice_after);
  ps_rng_free(r);
  ps_tape_free(t);
  ps_sched_free(sc);
  ps_optim_free(o);
  ps_net_free(n);
}

int main(void) {
  ps_threads_set(2);
  run_result a = {0}, b = {0};
  train(2026, &a);
  CHECK(a.loss_last < 0.6 * a.loss_first, "loss must fall: %.4f -> %.4f", a.loss_first, a.loss_last);
  CHECK(a.dice_after > 0.8, "validation Dice after training %.3f (want > 0.8)", a.dice_after);
  CHECK(a.dice_after > a.dice_before + 0.2, "Dice must rise: %.3f -> %.3f", a.dice_before, a.dice_after);
  train(2026, &b);
  CHECK(a.params && b.params && a.n == b.n && memcmp(a.params, b.params, a.n * sizeof(float)) == 0,
        "same seed and threads: bit-identical parameters");
  CHECK(a.loss_last == b.loss_last && a.dice_after == b.dice_after, "same seed: identical loss and Dice");
  free(a.params);
  free(b.params);
  return ps_test_done("test_train_smoke");
}
