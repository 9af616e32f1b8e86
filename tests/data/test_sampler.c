/* Patch sampler: shapes, determinism, foreground fraction, border padding,
 * case subsets. Case image = voxel index pattern so positions can be traced. */
#include "testutil.h"
#include "proxyseg/sampler.h"
#include <stdlib.h>
#include <string.h>

static void make_case(ps_case *c, int id, int64_t d, int64_t h, int64_t w, int C) {
  memset(c, 0, sizeof *c);
  c->id = ps_strfmt("case_%d", id);
  ps_volume_alloc(&c->image, C, d, h, w);
  ps_labelmap_alloc(&c->label, d, h, w);
  size_t n = (size_t)(d * h * w);
  for (int ch = 0; ch < C; ch++)
    for (size_t i = 0; i < n; i++) c->image.data[ch * n + i] = (float)(id * 1000 + 1 + ch * 0.5); /* > 0 everywhere */
  /* a small foreground blob of class 2 and a single voxel of class 1 in a corner */
  for (int64_t z = 1; z < 3; z++)
    for (int64_t y = 1; y < 3; y++)
      for (int64_t x = 1; x < 3; x++) c->label.data[(z * h + y) * w + x] = 2;
  c->label.data[n - 1] = 1;
  ps_case_index_foreground(c, 3);
}

int main(void) {
  enum { NC = 3, B = 4, C = 2 };
  ps_case cases[NC];
  make_case(&cases[0], 0, 40, 36, 32, C);
  make_case(&cases[1], 1, 30, 50, 44, C);
  make_case(&cases[2], 2, 12, 10, 9, C); /* smaller than the patch */
  const int patch[3] = {16, 16, 16};
  const size_t pv = 16 * 16 * 16;
  float *img = malloc(B * C * pv * sizeof(float)), *img2 = malloc(B * C * pv * sizeof(float));
  uint8_t *lab = malloc(B * pv), *lab2 = malloc(B * pv);

  /* shapes / channels / determinism (also with augmentation) */
  ps_aug_policy pol = ps_aug_policy_default();
  ps_sampler *s1 = ps_sampler_create(cases, NC, NULL, 0, patch, B, 0.33, 42);
  ps_sampler *s2 = ps_sampler_create(cases, NC, NULL, 0, patch, B, 0.33, 42);
  CHECK(s1 && s2, "create: %s", ps_last_error());
  CHECK(ps_sampler_channels(s1) == C, "channels %d", ps_sampler_channels(s1));
  int same = 1;
  for (int it = 0; it < 5; it++) {
    CHECK_OK(ps_sampler_next(s1, &pol, img, lab));
    CHECK_OK(ps_sampler_next(s2, &pol, img2, lab2));
    same &= !memcmp(img, img2, B * C * pv * sizeof(float)) && !memcmp(lab, lab2, B * pv);
  }
  CHECK(same, "same seed must give identical batches");
  /* and whatever the thread count */
  {
    ps_sampler *t1 = ps_sampler_create(cases, NC, NULL, 0, patch, B, 0.33, 42);
    ps_sampler *t2 = ps_sampler_create(cases, NC, NULL, 0, patch, B, 0.33, 42);
    ps_threads_set(1);
    CHECK_OK(ps_sampler_next(t1, &pol, img, lab));
    ps_threads_set(2);
    CHECK_OK(ps_sampler_next(t2, &pol, img2, lab2));
    CHECK(!memcmp(img, img2, B * C * pv * sizeof(float)) && !memcmp(lab, lab2, B * pv), "1 vs 2 threads differ");
    ps_sampler_free(t1); ps_sampler_free(t2);
  }
  ps_sampler *s3 = ps_sampler_create(cases, NC, NULL, 0, patch, B, 0.33, 43);
  CHECK_OK(ps_sampler_next(s3, &pol, img2, lab2));
  CHECK(memcmp(img, img2, B * C * pv * sizeof(float)) != 0, "a different seed should differ");
  ps_sampler_free(s1); ps_sampler_free(s2); ps_sampler_free(s3);

  /* foreground fraction: with fg 0.33, forced patches contain foreground */
  ps_sampler *s = ps_sampler_create(cases, NC, NULL, 0, patch, B, 0.33, 5);
  int forced = 0, total = 0, forced_with_fg = 0;
  for (int it = 0; it < 300; it++) {
    CHECK_OK(ps_sampler_next(s, NULL, img, lab));
    for (int b = 0; b < B; b++) {
      total++;
      if (ps_sampler_last_forced(s, b)) {
        forced++;
        int has = 0;
        for (size_t i = 0; i < pv; i++) has |= lab[b * pv + i] != 0;
        forced_with_fg += has;
      }
    }
  }
  double frac = (double)forced / total; /* binomial n=1200, sd ~0.0136 */
  CHECK(fabs(frac - 0.33) < 0.05, "forced fraction %g, expected ~0.33", frac);
  CHECK(forced_with_fg == forced, "%d of %d forced patches contain foreground", forced_with_fg, forced);
  ps_sampler_free(s);
  /* nnU-Net's deterministic mode: B 4, 0.33 -> round(2.68) = 3: only the last */
  s = ps_sampler_create(cases, NC, NULL, 0, patch, B, 0.33, 5);
  ps_sampler_set_oversample_last(s, true);
  for (int it = 0; it < 10; it++) {
    CHECK_OK(ps_sampler_next(s, NULL, img, lab));
    for (int b = 0; b < B; b++) CHECK(ps_sampler_last_forced(s, b) == (b == 3), "oversample_last: patch %d forced %d", b, ps_sampler_last_forced(s, b));
  }
  ps_sampler_free(s);
  s = ps_sampler_create(cases, NC, NULL, 0, patch, B, 0.0, 5);
  for (int it = 0; it < 20; it++) {
    CHECK_OK(ps_sampler_next(s, NULL, img, lab));
    for (int b = 0; b < B; b++) CHECK(!ps_sampler_last_forced(s, b), "fg 0 forced a patch");
  }
  ps_sampler_free(s);

  /* subset respected; padding for the small case: image 0, label 0 outside, values inside */
  int sub[1] = {2};
  s = ps_sampler_create(cases, NC, sub, 1, patch, B, 0.5, 9);
  for (int it = 0; it < 10; it++) {
    CHECK_OK(ps_sampler_next(s, NULL, img, lab));
    for (int b = 0; b < B; b++) {
      CHECK(ps_sampler_last_case(s, b) == 2, "subset violated: case %d", ps_sampler_last_case(s, b));
      size_t zeros = 0, inside = 0, padlab = 0;
      for (size_t i = 0; i < pv; i++) {
        float v = img[(size_t)b * C * pv + i];
        if (v == 0) { zeros++; padlab += lab[b * pv + i] != 0; }
        else if (v == 2001.f) inside++;
      }
      CHECK(padlab == 0, "%zu labelled voxels inside the padding", padlab);
      /* the whole 12x10x9 volume lies inside the 16^3 patch */
      CHECK(inside == 12 * 10 * 9 && zeros == pv - inside, "inside %zu zeros %zu", inside, zeros);
      /* second channel carries its own value */
      CHECK(img[(size_t)b * C * pv + pv + 0] == 0 || img[(size_t)b * C * pv + pv + 0] == 2001.5f, "channel 1 value");
    }
  }
  ps_sampler_free(s);
  int bad[1] = {7};
  CHECK(ps_sampler_create(cases, NC, bad, 1, patch, B, 0.3, 1) == NULL, "out-of-range subset must fail");
  CHECK(ps_sampler_create(cases, NC, NULL, 0, patch, B, 1.5, 1) == NULL, "fg_fraction > 1 must fail");

  /* uniform patches of a big case stay inside the volume (no padding) */
  int sub0[1] = {0};
  s = ps_sampler_create(cases, NC, sub0, 1, patch, B, 0.0, 11);
  for (int it = 0; it < 10; it++) {
    CHECK_OK(ps_sampler_next(s, NULL, img, lab));
    size_t zeros = 0;
    for (size_t i = 0; i < B * C * pv; i++) zeros += img[i] == 0;
    CHECK(zeros == 0, "uniform patch inside a larger volume contains %zu padded voxels", zeros);
  }
  ps_sampler_free(s);
  for (int i = 0; i < NC; i++) ps_case_free(&cases[i]);
  free(img); free(img2); free(lab); free(lab2);
  return ps_test_done("test_sampler");
}
