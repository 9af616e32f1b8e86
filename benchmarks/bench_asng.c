/* ASNG's costs at the demo's training size (patch 24^3, batch 2, 3-stage
 * U-Net with 16 base features, 48^3 cases), peers measured in the same run:
 *   aug:  sampling + augmentation of one batch (default policy; the ASNG
 *         space at its widest: every op on, alpha to 900, sigma to 14) against
 *         one plain training step (trainer, same threads);
 *   cost: one ASNG search (the trainer with the ASNG plugin, lambda 2) against
 *         one plain training of the same steps: the ratio of training seconds.
 * One JSON line per mode. Usage: bench_asng aug|cost [threads=1] [steps=30] [theta_every=1] */
#include "../search/asng_plugin.h"
#include "proxyseg/sampler.h"
#include <stdlib.h>
#include <string.h>

#define NC 8
#define S 48

static void make_cases(ps_case *cases) {
  ps_rng *r = ps_rng_create(3);
  for (int i = 0; i < NC; i++) {
    ps_case *c = &cases[i];
    memset(c, 0, sizeof *c);
    c->id = ps_strfmt("bench_%d", i);
    ps_volume_alloc(&c->image, 1, S, S, S);
    ps_labelmap_alloc(&c->label, S, S, S);
    double cz = ps_rng_uniform_range(r, 18, 30), cy = ps_rng_uniform_range(r, 18, 30), cx = ps_rng_uniform_range(r, 18, 30);
    double rad = ps_rng_uniform_range(r, 6, 12);
    for (int z = 0; z < S; z++)
      for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
          size_t k = ((size_t)z * S + y) * S + x;
          bool in = (z - cz) * (z - cz) + (y - cy) * (y - cy) + (x - cx) * (x - cx) < rad * rad;
          c->label.data[k] = in;
          c->image.data[k] = (float)(in + ps_rng_normal(r, 0.5));
        }
    ps_case_index_foreground(c, 2);
  }
  ps_rng_free(r);
}

static ps_status train(ps_case *cases, int threads, int steps, int theta_every, bool asng, const char *dir, double *sec) {
  char e[64], t[64];
  snprintf(e, sizeof e, "iters_per_epoch=%d", steps);
  snprintf(t, sizeof t, "threads=%d", threads);
  const char *sets[] = {"epochs=1", e, t, "patch=[24,24,24]", "batch=2", "net.stages=3", "net.base_features=16",
                        "val.every=100", "checkpoint_every=1000", "seed=1"};
  cJSON *cfg = NULL;
  ps_status st = ps_train_config_resolve(NULL, sets, 10, &cfg);
  int tr[NC - 1], va[1] = {NC - 1};
  for (int i = 0; i < NC - 1; i++) tr[i] = i;
  cJSON *opts = cJSON_CreateObject();
  cJSON_AddNumberToObject(opts, "theta_every", theta_every);
  ps_train_plugin_use pl[] = {{&ps_asng_plugin, opts}};
  ps_train_job j = {0};
  j.config = cfg;
  j.cases = cases;
  j.n_cases = NC;
  j.train_idx = tr;
  j.n_train = NC - 1;
  j.val_idx = va;
  j.n_val = 1;
  j.out_dir = dir;
  j.plugins = asng ? pl : NULL;
  j.n_plugins = asng ? 1 : 0;
  j.n_classes = 2;
  ps_train_result res = {0};
  if (!st) st = ps_train_run(&j, &res);
  *sec = res.train_seconds;
  ps_train_result_free(&res);
  cJSON_Delete(cfg);
  cJSON_Delete(opts);
  return st;
}

static double sample_ms(ps_case *cases, const ps_aug_policy *pol, int iters) {
  const int patch[3] = {24, 24, 24};
  float *img = malloc(2 * 24 * 24 * 24 * sizeof(float));
  uint8_t *lab = malloc(2 * 24 * 24 * 24);
  ps_sampler *s = ps_sampler_create(cases, NC, NULL, 0, patch, 2, 0.33, 1);
  ps_sampler_next(s, pol, img, lab);
  double t0 = ps_now();
  for (int i = 0; i < iters; i++) ps_sampler_next(s, pol, img, lab);
  double ms = (ps_now() - t0) * 1000 / iters;
  ps_sampler_free(s);
  free(img);
  free(lab);
  return ms;
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "aug";
  int threads = argc > 2 ? atoi(argv[2]) : 1, steps = argc > 3 ? atoi(argv[3]) : 30, every = argc > 4 ? atoi(argv[4]) : 1;
  ps_log_set_level(PS_LOG_WARN);
  ps_case cases[NC];
  make_cases(cases);
  ps_threads_set(threads);
  double plain = 0;
  if (train(cases, threads, steps, every, false, "bench_asng_plain", &plain)) { fprintf(stderr, "%s\n", ps_last_error()); return 1; }
  double step_ms = plain * 1000 / steps;
  if (!strcmp(mode, "aug")) {
    ps_aug_policy def = ps_aug_policy_default(), wide;
    int top[18];
    for (int i = 0; i < 18; i++) top[i] = 10;
    top[0] = top[2] = top[4] = top[6] = top[8] = top[10] = top[12] = 0; /* lower bounds at their lowest: widest intervals */
    ps_asng_policy_of(top, 11, &wide);
    double d = sample_ms(cases, &def, 40), w = sample_ms(cases, &wide, 40), n = sample_ms(cases, NULL, 40);
    printf("{\"bench\":\"aug_vs_step\",\"size\":\"demo: patch 24^3, batch 2, 3 stages x 16\",\"threads\":%d,"
           "\"step_ms\":%.3f,\"sample_crop_ms\":%.3f,\"sample_aug_default_ms\":%.3f,\"sample_aug_asng_widest_ms\":%.3f,"
           "\"share_default\":%.4f,\"share_asng_widest\":%.4f,\"limit\":0.05,\"ok\":%s}\n",
           threads, step_ms, n, d, w, d / step_ms, w / step_ms, (d / step_ms < 0.05 && w / step_ms < 0.05) ? "true" : "false");
  } else {
    double asng = 0;
    if (train(cases, threads, steps, every, true, "bench_asng_search", &asng)) { fprintf(stderr, "%s\n", ps_last_error()); return 1; }
    printf("{\"bench\":\"asng_cost\",\"size\":\"demo: patch 24^3, batch 2, 3 stages x 16\",\"threads\":%d,\"steps\":%d,\"theta_every\":%d,"
           "\"plain_train_s\":%.3f,\"asng_train_s\":%.3f,\"ratio\":%.3f,\"paper_ratio\":3.3}\n",
           threads, steps, every, plain, asng, asng / plain);
  }
  for (int i = 0; i < NC; i++) ps_case_free(&cases[i]);
  return 0;
}
