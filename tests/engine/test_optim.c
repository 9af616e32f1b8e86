/* Optimisers against hand-checked / PyTorch-computed trajectories (3 steps on
 * p = [1, -2]), LR schedule values, gradient clipping, and a NaN gradient that
 * must return PS_ERR_NONFINITE without touching the parameters. */
#include "proxyseg/nn.h"
#include "testutil.h"
#include <string.h>

static const float G[3][2] = {{0.5f, 1.0f}, {0.25f, -1.0f}, {-0.1f, 0.3f}};

/* Runs 3 steps of `kind` with hyper-parameters `hp_json` and lr 0.1. */
static void run3(const char *kind, const char *hp_json, double e0, double e1, double tol) {
  ps_params *p = ps_params_create();
  int64_t sh = 2;
  ps_tensor *w = ps_params_add(p, "w", 1, &sh);
  CHECK_OK(ps_params_finalize(p));
  w->data[0] = 1.0f;
  w->data[1] = -2.0f;
  cJSON *hp = cJSON_Parse(hp_json);
  ps_optim *o = ps_optim_create(kind, p, hp);
  CHECK(o != NULL, "create %s: %s", kind, ps_last_error());
  if (o) {
    for (int s = 0; s < 3; s++) {
      w->grad[0] = G[s][0];
      w->grad[1] = G[s][1];
      CHECK_OK(ps_optim_step(o, 0.1f));
    }
    CHECK_NEAR(w->data[0], e0, tol);
    CHECK_NEAR(w->data[1], e1, tol);
    CHECK(ps_optim_step_count(o) == 3, "step count %lld", (long long)ps_optim_step_count(o));
  }
  ps_optim_free(o);
  cJSON_Delete(hp);
  ps_params_free(p);
}

static void test_optimisers(void) {
  /* SGD momentum 0.9 by hand: buf = g1; p = 0.95; buf = .7 → .88; buf = .53 → .827 */
  run3("sgd", "{\"momentum\":0.9,\"nesterov\":false,\"weight_decay\":0}", 0.827, -2.111, 1e-6);
  /* reference values from torch.optim (float64) with the same settings */
  run3("sgd", "{\"momentum\":0.9,\"nesterov\":true,\"weight_decay\":0.1}", 0.706211146, -1.965068472, 2e-6);
  run3("adam", "{\"weight_decay\":0.05}", 0.739354102, -2.081494853, 2e-6);
  run3("adamw", "{\"weight_decay\":0.1}", 0.720332118, -2.042683546, 2e-6);
  /* plain SGD without momentum: p -= lr * g */
  run3("sgd", "{\"momentum\":0,\"nesterov\":false,\"weight_decay\":0}", 1.0 - 0.1 * (0.5 + 0.25 - 0.1),
       -2.0 - 0.1 * (1.0 - 1.0 + 0.3), 1e-6);
  ps_params *empty = ps_params_create();
  CHECK(ps_optim_create("lion", empty, NULL) == NULL, "unknown kind must fail");
  ps_params_free(empty);
  CHECK(strstr(ps_last_error(), "lion") != NULL, "message names the kind: %s", ps_last_error());
}

static void test_nonfinite_and_clip(void) {
  ps_params *p = ps_params_create();
  int64_t sh = 2;
  ps_tensor *w = ps_params_add(p, "w", 1, &sh);
  CHECK_OK(ps_params_finalize(p));
  w->data[0] = 1.0f;
  w->data[1] = 2.0f;
  ps_optim *o = ps_optim_create("adam", p, NULL);
  w->grad[0] = NAN;
  w->grad[1] = 1.0f;
  CHECK(ps_optim_step(o, 0.1f) == PS_ERR_NONFINITE, "NaN gradient must give PS_ERR_NONFINITE");
  CHECK(w->data[0] == 1.0f && w->data[1] == 2.0f, "parameters untouched after a NaN gradient");
  CHECK(ps_optim_step_count(o) == 0, "no step counted");
  CHECK(!isfinite(ps_clip_grad_norm(p, 1.0f)), "clip reports a non-finite norm");
  w->grad[0] = INFINITY;
  CHECK(ps_optim_step(o, 0.1f) == PS_ERR_NONFINITE, "Inf gradient must give PS_ERR_NONFINITE");
  /* clipping: norm of [3, 4] is 5, scaled to 1 */
  w->grad[0] = 3.0f;
  w->grad[1] = 4.0f;
  CHECK_NEAR(ps_clip_grad_norm(p, 1.0f), 5.0, 1e-6);
  CHECK_NEAR(w->grad[0], 0.6, 1e-6);
  CHECK_NEAR(w->grad[1], 0.8, 1e-6);
  /* below the limit: unchanged */
  CHECK_NEAR(ps_clip_grad_norm(p, 10.0f), 1.0, 1e-6);
  CHECK_NEAR(w->grad[0], 0.6, 1e-6);
  CHECK_OK(ps_optim_step(o, 0.1f));
  ps_optim_free(o);
  ps_params_free(p);
}

static ps_sched *mk(const char *cfg, double lr0, int max_epochs) {
  cJSON *j = cJSON_Parse(cfg);
  ps_sched *s = NULL;
  CHECK_OK(ps_sched_create(j, lr0, max_epochs, &s));
  cJSON_Delete(j);
  return s;
}

static void test_schedules(void) {
  ps_sched *s = mk("{\"kind\":\"poly\"}", 0.01, 100);
  CHECK_NEAR(ps_lr_at(s, 0), 0.01, 1e-12);
  CHECK_NEAR(ps_lr_at(s, 50), 0.01 * pow(0.5, 0.9), 1e-12);
  CHECK_NEAR(ps_lr_at(s, 99), 0.01 * pow(0.01, 0.9), 1e-12);
  ps_sched_free(s);
  s = mk("{\"kind\":\"cosine\",\"min_lr\":0.001}", 0.01, 100);
  CHECK_NEAR(ps_lr_at(s, 0), 0.01, 1e-12);
  CHECK_NEAR(ps_lr_at(s, 50), 0.0055, 1e-12);
  CHECK_NEAR(ps_lr_at(s, 100), 0.001, 1e-12);
  ps_sched_free(s);
  s = mk("{\"kind\":\"step\",\"gamma\":0.5,\"step_size\":10}", 0.1, 100);
  CHECK_NEAR(ps_lr_at(s, 9), 0.1, 1e-12);
  CHECK_NEAR(ps_lr_at(s, 10), 0.05, 1e-12);
  CHECK_NEAR(ps_lr_at(s, 35), 0.0125, 1e-12);
  ps_sched_free(s);
  s = mk("{\"kind\":\"constant\",\"warmup_epochs\":4}", 0.1, 100);
  CHECK_NEAR(ps_lr_at(s, 0), 0.02, 1e-12);
  CHECK_NEAR(ps_lr_at(s, 3), 0.08, 1e-12);
  CHECK_NEAR(ps_lr_at(s, 4), 0.1, 1e-12);
  ps_sched_free(s);
  s = mk("{\"kind\":\"poly\",\"warmup_epochs\":10}", 0.01, 110);
  CHECK_NEAR(ps_lr_at(s, 10), 0.01, 1e-12);
  CHECK_NEAR(ps_lr_at(s, 60), 0.01 * pow(0.5, 0.9), 1e-12);
  ps_sched_free(s);
  s = mk("{\"kind\":\"plateau\",\"factor\":0.5,\"patience\":2,\"min_lr\":0.02}", 0.1, 100);
  const double metrics[] = {1.0, 0.9, 0.95, 0.95};
  for (int i = 0; i < 4; i++) ps_lr_observe(s, metrics[i]);
  CHECK_NEAR(ps_lr_at(s, 4), 0.1, 1e-12);   /* 2 bad epochs = patience: not yet */
  ps_lr_observe(s, 0.95);
  CHECK_NEAR(ps_lr_at(s, 5), 0.05, 1e-12);
  cJSON *state = ps_sched_state(s);
  for (int i = 0; i < 6; i++) ps_lr_observe(s, 0.95);
  CHECK_NEAR(ps_lr_at(s, 12), 0.02, 1e-12);  /* 0.0125 floored to min_lr */
  CHECK_OK(ps_sched_load_state(s, state));
  CHECK_NEAR(ps_lr_at(s, 5), 0.05, 1e-12);
  cJSON_Delete(state);
  ps_sched_free(s);
  cJSON *bad = cJSON_Parse("{\"kind\":\"exponential\"}");
  CHECK(ps_sched_create(bad, 0.1, 10, &s) == PS_ERR_INVALID, "unknown schedule kind rejected");
  cJSON_Delete(bad);
}

int main(void) {
  test_optimisers();
  test_nonfinite_and_clip();
  test_schedules();
  return ps_test_done("test_optim");
}
