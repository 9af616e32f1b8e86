/* Augmentation: identity, mirror involution, exact 90-degree rotations on
 * labels, image/label alignment under random spatial maps, intensity op
 * statistics, probabilities 0/1, policy JSON. */
#include "testutil.h"
#include "proxyseg/augment.h"
#include "proxyseg/json.h"
#include <stdlib.h>
#include <string.h>

#define N 16
static const int P[3] = {N, N, N};
static const int64_t S[3] = {N, N, N};
static const double CEN[3] = {7.5, 7.5, 7.5};
#define IX(a, b, c) (((size_t)(a) * N + (b)) * N + (c))

static ps_aug_draw identity_draw(void) {
  ps_aug_draw d;
  ps_aug_draw_sample(NULL, NULL, &d);
  return d;
}

static void test_identity_mirror_rot(void) {
  const size_t n = N * N * N;
  float *img = malloc(n * sizeof(float)), *o1 = malloc(n * sizeof(float)), *o2 = malloc(n * sizeof(float));
  uint8_t *lab = malloc(n), *l1 = malloc(n), *l2 = malloc(n);
  ps_rng *r = ps_rng_create(3);
  for (size_t i = 0; i < n; i++) { img[i] = (float)ps_rng_uniform(r); lab[i] = (uint8_t)ps_rng_int(r, 4); }
  /* identity policy */
  ps_aug_policy none = ps_aug_policy_none();
  ps_aug_draw d;
  ps_aug_draw_sample(&none, r, &d);
  ps_aug_spatial(img, lab, 1, S, CEN, &d, P, o1, l1);
  CHECK_OK(ps_aug_intensity(o1, 1, P, &d));
  CHECK(!memcmp(o1, img, n * sizeof(float)) && !memcmp(l1, lab, n), "policy none must be the identity");
  /* mirroring twice, on each axis and all together */
  for (int m = 1; m < 8; m++) {
    d = identity_draw();
    for (int k = 0; k < 3; k++) d.mirror[k] = (m >> k) & 1;
    ps_aug_spatial(img, lab, 1, S, CEN, &d, P, o1, l1);
    CHECK(memcmp(o1, img, n * sizeof(float)) != 0, "mirror %d changed nothing", m);
    ps_aug_spatial(o1, l1, 1, S, CEN, &d, P, o2, l2);
    CHECK(!memcmp(o2, img, n * sizeof(float)) && !memcmp(l2, lab, n), "mirror %d twice is not the identity", m);
  }
  /* the same flips through the general (interpolating) path: rotation by 2*pi */
  d = identity_draw();
  d.mirror[2] = true; d.spatial = true; d.rot[2] = 2 * M_PI;
  ps_aug_spatial(img, lab, 1, S, CEN, &d, P, o1, l1);
  int bad = 0;
  for (int a = 0; a < N; a++) for (int b = 0; b < N; b++) for (int c = 0; c < N; c++)
    bad += l1[IX(a, b, c)] != lab[IX(a, b, N - 1 - c)] || fabsf(o1[IX(a, b, c)] - img[IX(a, b, N - 1 - c)]) > 1e-5f;
  CHECK(bad == 0, "general-path mirror mismatches at %d voxels", bad);
  /* fast integer path == interpolating path, with flips and a patch hanging
   * over the volume's corner (padding) */
  for (int m = 0; m < 8; m++) {
    const double cen[3] = {2.5, 13.5, 9.5};
    ps_aug_draw fast = identity_draw(), slow;
    for (int k = 0; k < 3; k++) fast.mirror[k] = (m >> k) & 1;
    slow = fast; slow.spatial = true; slow.rot[0] = 2 * M_PI;
    ps_aug_spatial(img, lab, 1, S, cen, &fast, P, o1, l1);
    ps_aug_spatial(img, lab, 1, S, cen, &slow, P, o2, l2);
    size_t diff = 0, zeros = 0;
    for (size_t i = 0; i < n; i++) { diff += l1[i] != l2[i] || fabsf(o1[i] - o2[i]) > 1e-4f; zeros += o1[i] == 0; }
    CHECK(diff == 0, "flip mask %d: fast and interpolating paths differ at %zu voxels", m, diff);
    CHECK(zeros == n - (size_t)11 * 10 * 14, "flip mask %d: %zu padded voxels, expected %zu", m, zeros, n - (size_t)11 * 10 * 14);
  }
  /* 90 degrees about z (in the x-y plane): out[z][y][x] = in[z][x][N-1-y] */
  d = identity_draw(); d.spatial = true; d.rot[2] = M_PI / 2;
  ps_aug_spatial(img, lab, 1, S, CEN, &d, P, o1, l1);
  bad = 0;
  for (int a = 0; a < N; a++) for (int b = 0; b < N; b++) for (int c = 0; c < N; c++)
    bad += l1[IX(a, b, c)] != lab[IX(a, c, N - 1 - b)] || fabsf(o1[IX(a, b, c)] - img[IX(a, c, N - 1 - b)]) > 1e-4f;
  CHECK(bad == 0, "rot_z 90 deg differs from the axis permutation at %d voxels", bad);
  /* 90 degrees about x (in the y-z plane): out[z][y][x] = in[y][N-1-z][x] */
  d = identity_draw(); d.spatial = true; d.rot[0] = M_PI / 2;
  ps_aug_spatial(img, lab, 1, S, CEN, &d, P, o1, l1);
  bad = 0;
  for (int a = 0; a < N; a++) for (int b = 0; b < N; b++) for (int c = 0; c < N; c++)
    bad += l1[IX(a, b, c)] != lab[IX(b, N - 1 - a, c)];
  CHECK(bad == 0, "rot_x 90 deg differs from the axis permutation at %d voxels", bad);
  /* 90 degrees about y (in the x-z plane): rotating four times is the identity */
  d = identity_draw(); d.spatial = true; d.rot[1] = M_PI / 2;
  memcpy(l2, lab, n);
  for (int t = 0; t < 4; t++) { ps_aug_spatial(img, l2, 1, S, CEN, &d, P, o1, l1); memcpy(l2, l1, n); }
  CHECK(!memcmp(l2, lab, n), "four rot_y 90 deg turns are not the identity");
  ps_rng_free(r);
  free(img); free(o1); free(o2); free(lab); free(l1); free(l2);
}

/* image channel k = 100 * (label == k+1): after any spatial map, thresholding
 * the image must give the label almost everywhere (they differ only where
 * trilinear and nearest disagree at edges). */
static void test_alignment(void) {
  enum { M = 40 };
  const int64_t SS[3] = {M, M, M};
  const size_t n = (size_t)M * M * M, pv = N * N * N;
  float *img = calloc(2 * n, sizeof(float)), *o = malloc(2 * pv * sizeof(float));
  uint8_t *lab = malloc(n), *l = malloc(pv);
  for (int a = 0; a < M; a++) for (int b = 0; b < M; b++) for (int c = 0; c < M; c++) {
    double dz = a - 20, dy = b - 17, dx = c - 22;
    uint8_t v = dz * dz / 64 + dy * dy / 36 + dx * dx / 100 < 1 ? 1 : 0;
    if (a > 24 && b > 20) v = 2;
    lab[((size_t)a * M + b) * M + c] = v;
    if (v) img[(v - 1) * n + ((size_t)a * M + b) * M + c] = 100.f;
  }
  ps_aug_policy pol = ps_aug_policy_none();
  pol.rot_x.p = pol.rot_y.p = pol.rot_z.p = 1;
  pol.rot_x.lo = pol.rot_y.lo = pol.rot_z.lo = -1; pol.rot_x.hi = pol.rot_y.hi = pol.rot_z.hi = 1;
  pol.scale.p = 1; pol.elastic_alpha.p = 1; pol.elastic_alpha.lo = 1; pol.elastic_alpha.hi = 3;
  pol.mirror_p[0] = pol.mirror_p[1] = pol.mirror_p[2] = 0.5;
  ps_rng *r = ps_rng_create(11);
  size_t agree = 0, tot = 0, fg = 0;
  for (int t = 0; t < 20; t++) {
    ps_aug_draw d;
    ps_aug_draw_sample(&pol, r, &d);
    CHECK(d.spatial && d.elastic, "p=1 spatial ops must be on");
    double cen[3] = {20 + ps_rng_uniform_range(r, -3, 3), 20, 20};
    ps_aug_spatial(img, lab, 2, SS, cen, &d, P, o, l);
    for (size_t i = 0; i < pv; i++) {
      int thr = o[pv + i] > 50 ? 2 : o[i] > 50 ? 1 : 0;
      agree += thr == l[i]; tot++; fg += l[i] != 0;
    }
  }
  CHECK(agree > 0.98 * tot, "image/label agreement %zu of %zu", agree, tot);
  CHECK(fg > 0.1 * tot, "too little foreground to test alignment (%zu)", fg);
  ps_rng_free(r); free(img); free(o); free(lab); free(l);
}

static void moments(const float *x, size_t n, double *m, double *sd) {
  double s = 0, s2 = 0;
  for (size_t i = 0; i < n; i++) { s += x[i]; s2 += (double)x[i] * x[i]; }
  *m = s / n; *sd = sqrt(s2 / n - *m * *m);
}

static void test_intensity(void) {
  const size_t n = N * N * N;
  float *x0 = malloc(n * sizeof(float)), *x = malloc(n * sizeof(float));
  ps_rng *r = ps_rng_create(5);
  for (size_t i = 0; i < n; i++) x0[i] = (float)(1.0 + ps_rng_uniform(r));
  double m0, s0, m, s;
  moments(x0, n, &m0, &s0);
  ps_aug_draw d;
#define RUN(setup) do { d = identity_draw(); setup; memcpy(x, x0, n * sizeof(float)); CHECK_OK(ps_aug_intensity(x, 1, P, &d)); moments(x, n, &m, &s); } while (0)
  RUN(d.noise_on = true; d.noise_var = 0.25; d.noise_seed = 9);
  { double dm, ds; for (size_t i = 0; i < n; i++) x[i] -= x0[i]; moments(x, n, &dm, &ds);
    CHECK_NEAR(ds * ds, 0.25, 0.02); CHECK_NEAR(dm, 0, 0.02); }
  RUN(d.smooth_on = true; d.smooth_sigma = 1.0);
  CHECK(s < 0.5 * s0, "blur must reduce the std of white noise: %g vs %g", s, s0);
  CHECK_NEAR(m, m0, 1e-3);
  RUN(d.sharpen_on = true; d.sharpen = 0.5);
  CHECK(s > 1.2 * s0, "sharpen must increase the std of white noise: %g vs %g", s, s0);
  RUN(d.mul_on = true; d.mul = 1.2);
  CHECK_NEAR(m, 1.2 * m0, 1e-4); CHECK_NEAR(s, 1.2 * s0, 1e-4);
  RUN(d.shift_on = true; d.shift = -0.3);
  CHECK_NEAR(m, m0 - 0.3, 1e-4); CHECK_NEAR(s, s0, 1e-4);
  RUN(d.contrast_on = true; d.contrast = 0.5);
  CHECK_NEAR(m, m0, 1e-4); CHECK_NEAR(s, 0.5 * s0, 1e-4);
  RUN(d.contrast_on = true; d.contrast = 1.5);
  CHECK(s > s0 * 1.1, "contrast 1.5 must raise the std (clipped): %g vs %g", s, s0);
  RUN(d.gamma_on = true; d.gamma = 2.0);
  CHECK_NEAR(m, m0, 1e-3); CHECK_NEAR(s, s0, 1e-3); /* retain_stats */
  { /* gamma > 1 on uniform data: the median falls below the mean (right skew) */
    size_t below = 0; for (size_t i = 0; i < n; i++) below += x[i] < m;
    CHECK(below > 0.53 * n, "gamma 2 should skew right: %zu of %zu below the mean", below, n); }
  ps_rng_free(r); free(x0); free(x);
}

static void test_probabilities_json(void) {
  ps_aug_policy pol = ps_aug_policy_none();
  pol.gamma.p = 1; pol.gamma.lo = 0.8; pol.gamma.hi = 1.2;
  pol.noise.p = 0;
  pol.mirror_p[1] = 1;
  ps_rng *r = ps_rng_create(1);
  int on = 0, noise = 0, mir = 0, mir0 = 0, inrange = 1;
  for (int t = 0; t < 500; t++) {
    ps_aug_draw d;
    ps_aug_draw_sample(&pol, r, &d);
    on += d.gamma_on; noise += d.noise_on; mir += d.mirror[1]; mir0 += d.mirror[0];
    inrange &= d.gamma >= 0.8 && d.gamma <= 1.2;
  }
  CHECK(on == 500 && noise == 0 && mir == 500 && mir0 == 0, "p=1 always / p=0 never: %d %d %d %d", on, noise, mir, mir0);
  CHECK(inrange, "magnitude outside [lo, hi]");
  pol = ps_aug_policy_default();
  int rot = 0;
  for (int t = 0; t < 2000; t++) { ps_aug_draw d; ps_aug_draw_sample(&pol, r, &d); rot += d.rot[0] != 0; }
  CHECK(fabs(rot / 2000.0 - 0.2) < 0.04, "rot_x frequency %g, expected 0.2", rot / 2000.0);
  /* JSON: nested, dotted and array forms; round trip */
  cJSON *j = cJSON_Parse("{\"gamma\": {\"p\": 0.5, \"lo\": 0.6}, \"rot_x.hi\": 0.3, \"mirror_p\": [0.1, 0.2, 0.3]}");
  ps_aug_policy a = ps_aug_policy_default();
  CHECK_OK(ps_aug_policy_from_json(j, &a));
  CHECK(a.gamma.p == 0.5 && a.gamma.lo == 0.6 && a.gamma.hi == 1.5 && a.rot_x.hi == 0.3 && a.mirror_p[2] == 0.3, "json overlay");
  cJSON *back = ps_aug_policy_to_json(&a);
  ps_aug_policy b = ps_aug_policy_none();
  CHECK_OK(ps_aug_policy_from_json(back, &b));
  CHECK(!memcmp(&a, &b, sizeof a), "JSON round trip differs");
  cJSON_Delete(j); cJSON_Delete(back);
  j = cJSON_Parse("{\"mirror\": {\"p\": 0.25}, \"mirror_p.1\": 0.75, \"scale.p\": 0.5}");
  CHECK_OK(ps_aug_policy_from_json(j, &a));
  CHECK(a.mirror_p[0] == 0.25 && a.mirror_p[1] == 0.75 && a.mirror_p[2] == 0.25 && a.scale.p == 0.5, "mirror / dotted keys");
  cJSON_Delete(j);
  j = cJSON_Parse("{\"gama\": {\"p\": 0.5}}");
  CHECK(ps_aug_policy_from_json(j, &a) == PS_ERR_INVALID, "unknown op must be rejected");
  cJSON_Delete(j);
  j = cJSON_Parse("{\"gamma.p\": 1.5}");
  CHECK(ps_aug_policy_from_json(j, &a) == PS_ERR_INVALID, "p > 1 must be rejected");
  cJSON_Delete(j);
  ps_rng_free(r);
}

int main(void) {
  test_identity_mirror_rot();
  test_alignment();
  test_intensity();
  test_probabilities_json();
  return ps_test_done("test_augment");
}
