/* Metrics: Dice by hand, empty-empty NaN, EDT against brute force with
 * anisotropic spacing, HD95 of offset spheres with known distances. */
#include "testutil.h"
#include "proxyseg/metrics.h"
#include <stdlib.h>
#include <string.h>

static void test_dice(void) {
  ps_labelmap p, r;
  CHECK_OK(ps_labelmap_alloc(&p, 1, 2, 5));
  CHECK_OK(ps_labelmap_alloc(&r, 1, 2, 5));
  /* class 1: pred 4 voxels, ref 3 voxels, overlap 2 -> dice 4/7 */
  uint8_t pv[10] = {1, 1, 1, 1, 0, 2, 0, 0, 0, 0};
  uint8_t rv[10] = {0, 0, 1, 1, 1, 0, 0, 0, 0, 0};
  memcpy(p.data, pv, 10); memcpy(r.data, rv, 10);
  r.spacing[0] = 2; r.spacing[1] = 1; r.spacing[2] = 0.5;
  int cls[3] = {1, 2, 3};
  ps_class_metrics m[3];
  CHECK_OK(ps_metrics_compute(&p, &r, cls, 3, true, m));
  CHECK_NEAR(m[0].dice, 4.0 / 7.0, 1e-12);
  CHECK(m[0].tp == 2 && m[0].fp == 2 && m[0].fn == 1, "tp %lld fp %lld fn %lld", (long long)m[0].tp, (long long)m[0].fp, (long long)m[0].fn);
  CHECK_NEAR(m[0].vol_pred_mm3, 4.0, 1e-12);
  CHECK_NEAR(m[0].vol_ref_mm3, 3.0, 1e-12);
  CHECK_NEAR(m[1].dice, 0.0, 1e-12);           /* predicted, absent from truth */
  CHECK(isnan(m[1].hd95), "hd95 with an empty truth must be NaN");
  CHECK(isnan(m[2].dice), "empty-empty dice must be NaN, got %g", m[2].dice);
  /* class 1 surfaces: all voxels (1-voxel thick). pred x 0..3, ref x 2..4, spacing 0.5 along W.
   * pred->ref distances: 1,0.5,0,0 ; ref->pred: 0,0,0.5 -> pooled sorted 0,0,0,0,0.5,0.5,1 */
  double v[7] = {0, 0, 0, 0, 0.5, 0.5, 1};
  CHECK_NEAR(m[0].hd95, ps_percentile(v, 7, 95), 1e-12);
  CHECK_NEAR(m[0].hd95, 0.5 + 0.7 * 0.5, 1e-12); /* pos 5.7 */
  ps_labelmap_free(&p); ps_labelmap_free(&r);
}

static void test_edt_bruteforce(void) {
  const int64_t sh[3] = {9, 11, 13};
  const double sp[3] = {2.5, 0.7, 1.3};
  size_t n = 9 * 11 * 13;
  uint8_t *f = calloc(n, 1);
  double *d = malloc(n * sizeof(double));
  ps_rng *r = ps_rng_create(7);
  for (size_t i = 0; i < n; i++) f[i] = ps_rng_uniform(r) < 0.02;
  f[0] = 1;
  CHECK_OK(ps_edt(f, sh, sp, d));
  double maxerr = 0;
  for (int64_t z = 0; z < sh[0]; z++)
    for (int64_t y = 0; y < sh[1]; y++)
      for (int64_t x = 0; x < sh[2]; x++) {
        double best = INFINITY;
        for (size_t j = 0; j < n; j++)
          if (f[j]) {
            int64_t zz = (int64_t)j / (sh[1] * sh[2]), yy = ((int64_t)j / sh[2]) % sh[1], xx = (int64_t)j % sh[2];
            double dd = pow((z - zz) * sp[0], 2) + pow((y - yy) * sp[1], 2) + pow((x - xx) * sp[2], 2);
            if (dd < best) best = dd;
          }
        double e = fabs(sqrt(best) - d[(z * sh[1] + y) * sh[2] + x]);
        if (e > maxerr) maxerr = e;
      }
  CHECK(maxerr < 1e-9, "EDT vs brute force max error %g", maxerr);
  memset(f, 0, n);
  CHECK_OK(ps_edt(f, sh, sp, d));
  CHECK(isinf(d[5]), "EDT without features must be inf");
  ps_rng_free(r); free(f); free(d);
}

/* Two concentric balls: the surfaces are spheres, so every distance is close
 * to the radius difference; offset balls along one axis: HD95 is close to
 * the offset + radius difference (the far side). */
static void test_spheres(void) {
  const int64_t sh[3] = {40, 48, 48};
  const double sp[3] = {2.0, 1.0, 1.0};
  size_t n = 40 * 48 * 48;
  uint8_t *a = calloc(n, 1), *b = calloc(n, 1);
  const double ra = 14, rb = 10; /* mm */
  for (int64_t z = 0; z < sh[0]; z++)
    for (int64_t y = 0; y < sh[1]; y++)
      for (int64_t x = 0; x < sh[2]; x++) {
        double dz = (z - 20) * sp[0], dy = (y - 24) * sp[1], dx = (x - 24) * sp[2];
        size_t i = (size_t)((z * sh[1] + y) * sh[2] + x);
        a[i] = dz * dz + dy * dy + dx * dx <= ra * ra;
        b[i] = dz * dz + dy * dy + dx * dx <= rb * rb;
      }
  double h;
  CHECK_OK(ps_hd95(a, b, sh, sp, &h));
  CHECK(fabs(h - (ra - rb)) < 1.5, "concentric balls: hd95 %g, expected ~%g", h, ra - rb);
  double h2;
  CHECK_OK(ps_hd95(b, a, sh, sp, &h2));
  CHECK_NEAR(h, h2, 1e-12); /* symmetric */
  CHECK_OK(ps_hd95(a, a, sh, sp, &h));
  CHECK_NEAR(h, 0.0, 1e-12);
  /* shift b by 4 voxels along D = 8 mm: far side distance rb.. ~ (ra-rb) + 8 at most */
  uint8_t *c = calloc(n, 1);
  for (size_t i = 0; i < n - (size_t)(4 * 48 * 48); i++) c[i + 4 * 48 * 48] = b[i];
  CHECK_OK(ps_hd95(a, c, sh, sp, &h));
  CHECK(h > (ra - rb) && h < 8 + (ra - rb) + 1.5, "offset balls: hd95 %g", h);
  free(a); free(b); free(c);
}

int main(void) {
  test_dice();
  test_edt_bruteforce();
  test_spheres();
  return ps_test_done("test_metrics");
}
