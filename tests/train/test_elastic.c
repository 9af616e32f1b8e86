/* Elastic deformation in batchgenerators' units (src/data/augment_spatial.c):
 * the displacement field is alpha x Gaussian-smoothed U(-1, 1) noise. Its
 * magnitude follows alpha (exactly linear; SD alpha sqrt(1/3) (2 sqrt(pi)
 * sigma)^-3/2, as smoothed white noise) and its smoothness follows sigma
 * (lag-h autocorrelation exp(-h^2 / (4 sigma^2)), rising with sigma), on the
 * direct path (sigma < 4) and the coarse-grid one (sigma >= 4) alike. Plus: a deformed patch of a constant
 * volume stays constant inside, labels stay labels. */
#include "proxyseg/augment.h"
#include "testutil.h"
#include <string.h>

#define P 96
#define PV (P * P * P)

/* interior sums along W for the mean-zero field: sum f^2, sum f(x) f(x+h), count */
static void interior_sums(const float *f, int m, int h, double *s2, double *sh, double *n) {
  for (int z = m; z < P - m; z++)
    for (int y = m; y < P - m; y++)
      for (int x = m; x < P - m - h; x++) {
        double a = f[(z * P + y) * P + x], b = f[(z * P + y) * P + x + h];
        *s2 += a * a; *sh += a * b; *n += 1;
      }
}
static void interior(const float *f, int m, int h, double *sd, double *rho) {
  double s2 = 0, sh = 0, n = 0;
  interior_sums(f, m, h, &s2, &sh, &n);
  *sd = sqrt(s2 / n);
  *rho = sh / s2;
}

int main(void) {
  float *f1 = malloc(3 * PV * sizeof(float)), *f2 = malloc(3 * PV * sizeof(float));
  int patch[3] = {P, P, P};
  ps_aug_draw d;
  memset(&d, 0, sizeof d);
  d.elastic = true;
  d.elastic_seed = 12345;
  d.elastic_sigma = 3;
  d.elastic_alpha = 300;
  CHECK_OK(ps_aug_elastic_field(&d, patch, f1));
  d.elastic_alpha = 600;
  CHECK_OK(ps_aug_elastic_field(&d, patch, f2));
  double maxrel = 0;
  for (int i = 0; i < 3 * PV; i++) maxrel = fmax(maxrel, fabs(f2[i] - 2 * f1[i]) / (fabs(f2[i]) + 1e-6));
  CHECK(maxrel < 1e-5, "doubling alpha doubles the field (max rel diff %.2g)", maxrel);
  double prev_rho = 0;
  const double sigmas[] = {1, 2, 3, 5, 8};
  for (int si = 0; si < 5; si++) {
    double sg = sigmas[si];
    int r = (int)(4 * sg + 0.5) > 32 ? 32 : (int)(4 * sg + 0.5); /* interior margin */
    int h = (int)sg; /* lag of one sigma */
    double sd_expect = 100 * sqrt(1.0 / 3) * pow(2 * sqrt(M_PI) * sg, -1.5), rho_expect = exp(-h * h / (4 * sg * sg));
    d.elastic_sigma = sg;
    d.elastic_alpha = 100;
    /* pooled over 3 draws and the 3 components (the field's mean is 0 by construction) */
    double s2 = 0, sh = 0, n = 0, s2b = 0, sh1 = 0, nb = 0;
    for (int rep = 0; rep < 3; rep++) {
      d.elastic_seed = 500 + (uint64_t)rep;
      CHECK_OK(ps_aug_elastic_field(&d, patch, f1));
      for (int c = 0; c < 3; c++) {
        interior_sums(f1 + c * PV, r, h, &s2, &sh, &n);
        interior_sums(f1 + c * PV, r, 4, &s2b, &sh1, &nb);
      }
    }
    double sd = sqrt(s2 / n), rho = sh / s2, rho1 = sh1 / s2b;
    fprintf(stderr, "sigma %g: SD %.4f (expected %.4f), lag-%d autocorrelation %.3f (expected %.3f), lag-4 %.3f\n", sg, sd,
            sd_expect, h, rho, rho_expect, rho1);
    CHECK(fabs(sd / sd_expect - 1) < 0.2, "sigma %g: field SD %.4f within 20%% of %.4f", sg, sd, sd_expect);
    CHECK(fabs(rho - rho_expect) < 0.08, "sigma %g: lag-%d autocorrelation %.3f vs exp(-h^2/4 sigma^2) = %.3f", sg, h, rho, rho_expect);
    CHECK(rho1 > prev_rho, "smoother with larger sigma: lag-4 autocorrelation %.3f > %.3f", rho1, prev_rho);
    prev_rho = rho1;
  }
  /* sigma 0: no smoothing, |displacement| <= alpha, uncorrelated */
  d.elastic_sigma = 0;
  d.elastic_alpha = 5;
  CHECK_OK(ps_aug_elastic_field(&d, patch, f1));
  double mx = 0, sd0, rho0;
  for (int i = 0; i < 3 * PV; i++) mx = fmax(mx, fabs(f1[i]));
  interior(f1, 0, 1, &sd0, &rho0);
  CHECK(mx <= 5 && mx > 4.9 && fabs(rho0) < 0.02, "sigma 0: raw U(-alpha, alpha) (max %.3f, lag-1 %.3f)", mx, rho0);

  /* a constant volume stays constant in the interior; labels stay in {0, 1} */
  int64_t S[3] = {96, 96, 96};
  size_t sv = (size_t)S[0] * S[1] * S[2];
  float *img = malloc(sv * sizeof(float)), *out = malloc(32 * 32 * 32 * sizeof(float));
  uint8_t *lab = malloc(sv), *olab = malloc(32 * 32 * 32);
  for (size_t i = 0; i < sv; i++) img[i] = 2.5f, lab[i] = (uint8_t)(i % 2);
  ps_aug_draw e;
  memset(&e, 0, sizeof e);
  e.spatial = e.elastic = true;
  e.scale = 1;
  e.elastic_alpha = 900;
  e.elastic_sigma = 10;
  e.elastic_seed = 77;
  int p32[3] = {32, 32, 32};
  double centre[3] = {48, 48, 48};
  ps_aug_spatial(img, lab, 1, S, centre, &e, p32, out, olab);
  bool const_ok = true, lab_ok = true;
  for (int i = 0; i < 32 * 32 * 32; i++) { const_ok &= fabsf(out[i] - 2.5f) < 1e-5f; lab_ok &= olab[i] <= 1; }
  CHECK(const_ok && lab_ok, "alpha 900 sigma 10 inside a constant volume: constant image, labels in {0,1}");
  free(img); free(out); free(lab); free(olab); free(f1); free(f2);
  return ps_test_done("test_elastic");
}
