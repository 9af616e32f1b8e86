/* Tiny in-memory training cases for trainer tests: a bright noisy ellipsoid
 * per 20^3 case (one channel, two classes), a small resolved config, and the
 * weights a run left in its checkpoint. */
#ifndef PS_TEST_TINY_CASES_H
#define PS_TEST_TINY_CASES_H
#include "proxyseg/train.h"
#include <stdlib.h>
#include <string.h>

#define TINY_S 20

static inline void tiny_cases_make(ps_case *cases, int n, uint64_t seed) {
  ps_rng *r = ps_rng_create(seed);
  for (int i = 0; i < n; i++) {
    ps_case *c = &cases[i];
    memset(c, 0, sizeof *c);
    c->id = malloc(16);
    snprintf(c->id, 16, "case_%03d", i);
    ps_volume_alloc(&c->image, 1, TINY_S, TINY_S, TINY_S);
    ps_labelmap_alloc(&c->label, TINY_S, TINY_S, TINY_S);
    double cz = ps_rng_uniform_range(r, 7, 13), cy = ps_rng_uniform_range(r, 7, 13), cx = ps_rng_uniform_range(r, 7, 13);
    double rz = ps_rng_uniform_range(r, 3, 6), ry = ps_rng_uniform_range(r, 3, 6), rx = ps_rng_uniform_range(r, 3, 6);
    for (int z = 0; z < TINY_S; z++)
      for (int y = 0; y < TINY_S; y++)
        for (int x = 0; x < TINY_S; x++) {
          double q = (z - cz) * (z - cz) / (rz * rz) + (y - cy) * (y - cy) / (ry * ry) + (x - cx) * (x - cx) / (rx * rx);
          int k = (z * TINY_S + y) * TINY_S + x;
          c->label.data[k] = q < 1;
          c->image.data[k] = (float)((q < 1) + ps_rng_normal(r, 0.5));
        }
    ps_case_index_foreground(c, 2);
  }
  ps_rng_free(r);
}

static inline void tiny_cases_free(ps_case *cases, int n) {
  for (int i = 0; i < n; i++) ps_case_free(&cases[i]);
}

/* A small config: 2-stage U-Net with 4 base features, 16^3 patches. */
static inline cJSON *tiny_config(const char *optimizer, int epochs, int iters) {
  char e[64], it[64], o[64];
  snprintf(e, sizeof e, "epochs=%d", epochs);
  snprintf(it, sizeof it, "iters_per_epoch=%d", iters);
  snprintf(o, sizeof o, "optimizer=%s", optimizer);
  const char *sets[] = {e, it, o, "patch=[16,16,16]", "net.stages=2", "net.base_features=4", "val.every=1",
                        "threads=1", "seed=7", "lr=0.01"};
  cJSON *cfg = NULL;
  if (ps_train_config_resolve(NULL, sets, (int)(sizeof sets / sizeof *sets), &cfg)) return NULL;
  return cfg;
}
/* TINY_NCASES cases: the first six train, the last validates. */
#define TINY_NCASES 7
static const int tiny_train_idx[] = {0, 1, 2, 3, 4, 5}, tiny_val_idx[] = {6};

/* A training job over the tiny cases writing to DIR (checkpoint kept). */
static inline ps_status tiny_run(const ps_case *cases, const cJSON *cfg, const char *dir,
                                 const ps_train_plugin_use *pl, int n_plugins, bool resume, ps_train_result *res) {
  ps_train_job j = {0};
  j.config = cfg;
  j.cases = cases;
  j.n_cases = TINY_NCASES;
  j.train_idx = tiny_train_idx;
  j.n_train = 6;
  j.val_idx = tiny_val_idx;
  j.n_val = 1;
  j.out_dir = dir;
  j.resume = resume;
  j.keep_checkpoint = true;
  j.plugins = pl;
  j.n_plugins = n_plugins;
  j.n_classes = 2;
  return ps_train_run(&j, res);
}

/* The parameters stored in DIR/checkpoint.h5 (caller frees; NULL if unreadable). */
static inline float *tiny_final_params(const char *dir, size_t *n) {
  char *p = ps_path_join(dir, "checkpoint.h5");
  ps_net *net = NULL;
  float *out = NULL;
  if (ps_checkpoint_load_net(p, &net) == PS_OK) {
    *n = ps_params_numel(ps_net_params(net));
    out = malloc(*n * sizeof(float));
    if (out) memcpy(out, ps_params_data(ps_net_params(net)), *n * sizeof(float));
  }
  ps_net_free(net);
  free(p);
  return out;
}
#endif
