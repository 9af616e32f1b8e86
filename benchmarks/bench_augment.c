/* Sampling + augmentation of one training batch (2 x 1 x 64^3, default
 * policy) from synthetic 160x160x128 cases. Peer in the same run: the same
 * batch without augmentation (plain crops). One JSON line on stdout;
 * *_cpu_ms is process CPU time (all threads). Usage: bench_augment [iters] */
#include "proxyseg/sampler.h"
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* process CPU seconds (all threads): stable on a loaded machine */
static double cpu_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

int main(int argc, char **argv) {
  int iters = argc > 1 ? atoi(argv[1]) : 40;
  enum { NC = 2, B = 2 };
  ps_case cases[NC];
  for (int i = 0; i < NC; i++) {
    memset(&cases[i], 0, sizeof cases[i]);
    cases[i].id = ps_strfmt("bench_%d", i);
    if (ps_volume_alloc(&cases[i].image, 1, 128, 160, 160) != PS_OK || ps_labelmap_alloc(&cases[i].label, 128, 160, 160) != PS_OK) return 1;
    ps_rng *r = ps_rng_create((uint64_t)i);
    size_t n = 128 * 160 * 160;
    for (size_t v = 0; v < n; v++) {
      cases[i].image.data[v] = (float)ps_rng_normal(r, 1.0);
      cases[i].label.data[v] = (v / 160) % 160 > 60 && (v / 160) % 160 < 90 && v % 160 > 50 && v % 160 < 70;
    }
    ps_rng_free(r);
    ps_case_index_foreground(&cases[i], 2);
  }
  const int patch[3] = {64, 64, 64};
  const size_t pv = 64 * 64 * 64;
  float *img = malloc(B * pv * sizeof(float));
  uint8_t *lab = malloc(B * pv);
  ps_aug_policy pol = ps_aug_policy_default();
  ps_sampler *s = ps_sampler_create(cases, NC, NULL, 0, patch, B, 0.33, 1);
  if (!s) return 1;
  for (int w = 0; w < 3; w++) ps_sampler_next(s, &pol, img, lab);
  double t0 = ps_now(), c0 = cpu_now();
  for (int it = 0; it < iters; it++) ps_sampler_next(s, &pol, img, lab);
  double aug_ms = (ps_now() - t0) * 1000.0 / iters, aug_cpu_ms = (cpu_now() - c0) * 1000.0 / iters;
  t0 = ps_now();
  for (int it = 0; it < iters; it++) ps_sampler_next(s, NULL, img, lab);
  double crop_ms = (ps_now() - t0) * 1000.0 / iters;
  /* worst case: every op on (p = 1), elastic included */
  ps_aug_policy all = pol;
  for (int k = 0; k < PS_AUG_N_OPS; k++) ps_aug_policy_op(&all, k)->p = 1;
  all.elastic_alpha.lo = 1; all.elastic_alpha.hi = 4; all.elastic_sigma.lo = 8; all.elastic_sigma.hi = 12;
  t0 = ps_now();
  for (int it = 0; it < iters / 2 + 1; it++) ps_sampler_next(s, &all, img, lab);
  double all_ms = (ps_now() - t0) * 1000.0 / (iters / 2 + 1);
  printf("{\"bench\":\"augment\",\"batch\":%d,\"patch\":[64,64,64],\"channels\":1,\"threads\":%d,\"iters\":%d,"
         "\"sample_aug_default_ms\":%.3f,\"sample_aug_default_cpu_ms\":%.3f,\"sample_crop_only_ms\":%.3f,\"sample_aug_all_ops_ms\":%.3f,\"ratio_default_vs_crop\":%.2f}\n",
         B, ps_threads_get(), iters, aug_ms, aug_cpu_ms, crop_ms, all_ms, aug_ms / crop_ms);
  ps_sampler_free(s);
  for (int i = 0; i < NC; i++) ps_case_free(&cases[i]);
  free(img); free(lab);
  return 0;
}
