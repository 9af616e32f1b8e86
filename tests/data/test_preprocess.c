/* Preprocessing: reorientation keeps world coordinates, linear resampling of a
 * ramp is exact, cubic is exact on quadratics, nearest keeps the label set,
 * z-score / CT normalisation, crop box, invert(preprocess(x)) = x's grid, and
 * ps_plan_create on a generated task. */
#include "testutil.h"
#include "proxyseg/preprocess.h"
#include "proxyseg/dataset.h"
#include "proxyseg/json.h"
#include "proxyseg/synth.h"
#include <string.h>

static void world(const double A[4][4], double i, double j, double k, double w[3]) {
  for (int r = 0; r < 3; r++) w[r] = A[r][0] * i + A[r][1] * j + A[r][2] * k + A[r][3];
}

/* Volume with one marked voxel; check that after reorientation the mark sits at the same world point. */
static void check_reorient(const double A[4][4], const char *expect_code) {
  ps_volume v;
  ps_labelmap l;
  CHECK_OK(ps_volume_alloc(&v, 2, 5, 6, 7));
  CHECK_OK(ps_labelmap_alloc(&l, 5, 6, 7));
  memcpy(v.affine, A, 16 * sizeof(double));
  memcpy(l.affine, A, 16 * sizeof(double));
  for (int a = 0; a < 3; a++) {
    double n = sqrt(A[0][a] * A[0][a] + A[1][a] * A[1][a] + A[2][a] * A[2][a]);
    v.spacing[2 - a] = l.spacing[2 - a] = n;
  }
  int64_t mi = 2, mj = 4, mk = 1;
  size_t n = 5 * 6 * 7;
  v.data[(mk * 6 + mj) * 7 + mi] = 3;
  v.data[n + (mk * 6 + mj) * 7 + mi] = 4; /* channel 1 too */
  l.data[(mk * 6 + mj) * 7 + mi] = 9;
  double w0[3];
  world(A, (double)mi, (double)mj, (double)mk, w0);
  ps_orientation o;
  CHECK_OK(ps_orientation_of_affine(A, &o));
  CHECK(!strcmp(o.axes_code, expect_code), "orientation %s, expected %s", o.axes_code, expect_code);
  ps_volume orig = v;
  orig.data = malloc(2 * n * sizeof(float));
  memcpy(orig.data, v.data, 2 * n * sizeof(float));
  CHECK_OK(ps_reorient_volume(&v, &o, false));
  CHECK_OK(ps_reorient_labels(&l, &o, false));
  for (int r = 0; r < 3; r++) {
    CHECK(v.affine[r][r] > 0, "RAS diagonal positive (%s)", expect_code);
    for (int c = 0; c < 3; c++) /* an oblique input keeps its small shear */
      if (c != r) CHECK(fabs(v.affine[r][c]) < 0.1 * v.affine[r][r], "near-diagonal RAS affine (%s)", expect_code);
    double cn = sqrt(v.affine[0][r] * v.affine[0][r] + v.affine[1][r] * v.affine[1][r] + v.affine[2][r] * v.affine[2][r]);
    CHECK_NEAR(v.spacing[2 - r], cn, 1e-12);
  }
  int found = 0;
  for (int64_t k = 0; k < v.d; k++)
    for (int64_t j = 0; j < v.h; j++)
      for (int64_t i = 0; i < v.w; i++)
        if (v.data[(k * v.h + j) * v.w + i] == 3) {
          found++;
          double w1[3];
          world(v.affine, (double)i, (double)j, (double)k, w1);
          for (int r = 0; r < 3; r++) CHECK_NEAR(w1[r], w0[r], 1e-9);
          CHECK(v.data[(size_t)(v.d * v.h * v.w) + (k * v.h + j) * v.w + i] == 4, "channel 1 moves with channel 0");
          CHECK(l.data[(k * v.h + j) * v.w + i] == 9, "labels move with the image");
        }
  CHECK(found == 1, "exactly one marked voxel (%d)", found);
  CHECK_OK(ps_reorient_volume(&v, &o, true));
  CHECK(v.d == 5 && v.h == 6 && v.w == 7 && !memcmp(v.data, orig.data, 2 * n * sizeof(float)), "inverse restores data (%s)", expect_code);
  for (int r = 0; r < 4; r++)
    for (int c = 0; c < 4; c++) CHECK_NEAR(v.affine[r][c], A[r][c], 1e-9);
  free(orig.data);
  ps_volume_free(&v);
  ps_labelmap_free(&l);
}

static void test_resample(void) {
  /* Ramp in world coordinates, sampled on an anisotropic grid with an offset affine. */
  ps_volume v, r;
  CHECK_OK(ps_volume_alloc(&v, 1, 9, 11, 13));
  double sp[3] = {2.5, 1.2, 0.8};
  memcpy(v.spacing, sp, sizeof sp);
  double A[4][4] = {{0.8, 0, 0, -3}, {0, 1.2, 0, 4}, {0, 0, 2.5, 10}, {0, 0, 0, 1}};
  memcpy(v.affine, A, sizeof A);
  const double g[3] = {0.7, -1.3, 2.1};
  for (int64_t k = 0; k < v.d; k++)
    for (int64_t j = 0; j < v.h; j++)
      for (int64_t i = 0; i < v.w; i++) {
        double w[3];
        world(A, (double)i, (double)j, (double)k, w);
        v.data[(k * v.h + j) * v.w + i] = (float)(g[0] * w[0] + g[1] * w[1] + g[2] * w[2] + 5);
      }
  double to[3] = {1.0, 1.0, 1.0};
  int64_t shape[3] = {9, 11, 13}, ns[3];
  double step[3];
  ps_resample_geometry(shape, sp, to, ns, step);
  CHECK(ns[0] == 23 && ns[1] == 13 && ns[2] == 10, "new shape %lld %lld %lld", (long long)ns[0], (long long)ns[1], (long long)ns[2]);
  for (int order = 1; order <= 3; order += 2) {
    CHECK_OK(ps_resample_volume(&v, ns, step, order, &r));
    for (int s = 0; s < 3; s++) CHECK_NEAR(r.spacing[s], 1.0, 1e-12);
    double maxerr = 0;
    int64_t checked = 0;
    for (int64_t k = 0; k < r.d; k++)
      for (int64_t j = 0; j < r.h; j++)
        for (int64_t i = 0; i < r.w; i++) {
          double w[3];
          world(r.affine, (double)i, (double)j, (double)k, w);
          /* only where the source grid covers the point (cubic: with its 4 taps) */
          double o[3] = {(w[0] - A[0][3]) / A[0][0], (w[1] - A[1][3]) / A[1][1], (w[2] - A[2][3]) / A[2][2]};
          double m = order == 1 ? 0 : 1;
          if (o[0] < m || o[0] > 12 - m || o[1] < m || o[1] > 10 - m || o[2] < m || o[2] > 8 - m) continue;
          double want = g[0] * w[0] + g[1] * w[1] + g[2] * w[2] + 5;
          maxerr = fmax(maxerr, fabs(r.data[(k * r.h + j) * r.w + i] - want));
          checked++;
        }
    CHECK(checked > 500, "interior points checked: %lld", (long long)checked);
    CHECK(maxerr < 1e-3, "order %d resampling of a ramp: max error %g", order, maxerr);
    ps_volume_free(&r);
  }
  /* Cubic (Catmull-Rom) reproduces quadratics away from the edges. */
  for (int64_t k = 0; k < v.d; k++)
    for (int64_t j = 0; j < v.h; j++)
      for (int64_t i = 0; i < v.w; i++) v.data[(k * v.h + j) * v.w + i] = (float)(0.1 * i * i - 0.05 * j * j + 0.2 * k * k + i * j * 0.01);
  CHECK_OK(ps_resample_volume(&v, ns, step, 3, &r));
  double maxerr = 0;
  for (int64_t k = 0; k < r.d; k++)
    for (int64_t j = 0; j < r.h; j++)
      for (int64_t i = 0; i < r.w; i++) {
        double w[3];
        world(r.affine, (double)i, (double)j, (double)k, w);
        double o[3] = {(w[0] - A[0][3]) / A[0][0], (w[1] - A[1][3]) / A[1][1], (w[2] - A[2][3]) / A[2][2]};
        if (o[0] < 1 || o[0] > 11 || o[1] < 1 || o[1] > 9 || o[2] < 1 || o[2] > 7) continue;
        double want = 0.1 * o[0] * o[0] - 0.05 * o[1] * o[1] + 0.2 * o[2] * o[2] + o[0] * o[1] * 0.01;
        maxerr = fmax(maxerr, fabs(r.data[(k * r.h + j) * r.w + i] - want));
      }
  CHECK(maxerr < 1e-3, "cubic on a quadratic: max error %g", maxerr);
  ps_volume_free(&r);
  CHECK(ps_resample_volume(&v, ns, step, 2, &r) == PS_ERR_INVALID, "order 2 refused");
  ps_volume_free(&v);

  /* Nearest keeps the label set. */
  ps_labelmap l, lr;
  CHECK_OK(ps_labelmap_alloc(&l, 12, 12, 12));
  for (int64_t q = 0; q < 12 * 12 * 12; q++) {
    int64_t i = q % 12, k = q / 144;
    l.data[q] = i < 4 ? 0 : i < 8 ? (k < 6 ? 1 : 2) : 5;
  }
  int64_t ls[3] = {12, 12, 12}, lns[3];
  double lsp[3] = {1, 1, 1}, lto[3] = {1.7, 0.6, 1.3}, lst[3];
  ps_resample_geometry(ls, lsp, lto, lns, lst);
  CHECK_OK(ps_resample_labels(&l, lns, lst, &lr));
  int present[256] = {0};
  for (int64_t q = 0; q < lr.d * lr.h * lr.w; q++) present[lr.data[q]] = 1;
  CHECK(present[0] && present[1] && present[2] && present[5], "labels 0 1 2 5 kept");
  int extra = 0;
  for (int c = 0; c < 256; c++) extra += present[c] && c != 0 && c != 1 && c != 2 && c != 5;
  CHECK(extra == 0, "no new label values");
  ps_labelmap_free(&l);
  ps_labelmap_free(&lr);
}

static void test_normalize(void) {
  ps_volume v;
  CHECK_OK(ps_volume_alloc(&v, 1, 4, 5, 6));
  size_t n = 120;
  uint8_t mask[120];
  for (size_t i = 0; i < n; i++) {
    mask[i] = i % 3 != 0;
    v.data[i] = mask[i] ? (float)(10 + (double)(i * 7 % 13)) : 0;
  }
  ps_norm_params p = {PS_NORM_ZSCORE, true, 0, 0, 0, 1};
  CHECK_OK(ps_normalize_channel(&v, 0, &p, mask));
  double s = 0, s2 = 0, m = 0;
  int outside_zero = 1;
  for (size_t i = 0; i < n; i++) {
    if (mask[i]) { s += v.data[i]; s2 += v.data[i] * v.data[i]; m++; }
    else outside_zero &= v.data[i] == 0;
  }
  CHECK_NEAR(s / m, 0, 1e-5);
  CHECK_NEAR(sqrt(s2 / m - (s / m) * (s / m)), 1, 1e-5);
  CHECK(outside_zero, "outside the mask is 0");

  /* CT: clip to [lo, hi], then (x - mean) / std. */
  for (size_t i = 0; i < n; i++) v.data[i] = (float)(-1000 + 20 * (double)i);
  ps_norm_params ct = {PS_NORM_CT, false, -200, 300, 50, 100};
  CHECK_OK(ps_normalize_channel(&v, 0, &ct, NULL));
  double mn = 1e9, mx = -1e9;
  for (size_t i = 0; i < n; i++) { mn = fmin(mn, v.data[i]); mx = fmax(mx, v.data[i]); }
  CHECK_NEAR(mn, (-200 - 50) / 100.0, 1e-6);
  CHECK_NEAR(mx, (300 - 50) / 100.0, 1e-6);
  CHECK_NEAR(v.data[60], (-1000 + 1200 - 50) / 100.0, 1e-6);
  ps_volume_free(&v);

  /* Percentiles as numpy's default (linear). */
  float xs[100];
  for (int i = 0; i < 100; i++) xs[i] = (float)(i + 1);
  CHECK_NEAR(ps_percentile_sorted(xs, 100, 0.5), 1.495, 1e-6);
  CHECK_NEAR(ps_percentile_sorted(xs, 100, 99.5), 99.505, 1e-5);
  CHECK_NEAR(ps_percentile_sorted(xs, 100, 50), 50.5, 1e-6);
}

static void test_crop(void) {
  ps_volume v;
  CHECK_OK(ps_volume_alloc(&v, 2, 10, 11, 12));
  double A[4][4] = {{1.5, 0, 0, 1}, {0, 2, 0, 2}, {0, 0, 3, 3}, {0, 0, 0, 1}};
  memcpy(v.affine, A, sizeof A);
  v.data[(3 * 11 + 4) * 12 + 5] = 1;                 /* channel 0 */
  v.data[10 * 11 * 12 + (7 * 11 + 2) * 12 + 9] = -1; /* channel 1 */
  int64_t lo[3], hi[3];
  ps_nonzero_bbox(&v, lo, hi);
  CHECK(lo[0] == 3 && lo[1] == 2 && lo[2] == 5 && hi[0] == 8 && hi[1] == 5 && hi[2] == 10, "bbox [%lld %lld %lld]-[%lld %lld %lld]",
        (long long)lo[0], (long long)lo[1], (long long)lo[2], (long long)hi[0], (long long)hi[1], (long long)hi[2]);
  CHECK_OK(ps_crop_volume(&v, lo, hi));
  CHECK(v.d == 5 && v.h == 3 && v.w == 5, "cropped shape");
  /* the channel-0 mark at (k3,j4,i5) is now at (0,2,0) with the same world point */
  CHECK(v.data[(0 * 3 + 2) * 5 + 0] == 1, "mark moved with the crop");
  double w0[3], w1[3];
  world(A, 5, 4, 3, w0);
  world(v.affine, 0, 2, 0, w1);
  for (int r = 0; r < 3; r++) CHECK_NEAR(w1[r], w0[r], 1e-12);
  int64_t bad_hi[3] = {9, 3, 5};
  CHECK(ps_crop_volume(&v, lo, bad_hi) == PS_ERR_INVALID, "crop box outside refused");
  ps_volume_free(&v);
}

/* A label blob on an LPS grid with a zero border; preprocess then invert. */
static void test_invert(double target) {
  ps_volume v;
  ps_labelmap l;
  CHECK_OK(ps_volume_alloc(&v, 1, 14, 20, 18));
  CHECK_OK(ps_labelmap_alloc(&l, 14, 20, 18));
  double A[4][4] = {{-1.25, 0, 0, 40}, {0, -1.25, 0, 30}, {0, 0, 2.5, -20}, {0, 0, 0, 1}};
  double sp[3] = {2.5, 1.25, 1.25};
  memcpy(v.affine, A, sizeof A); memcpy(l.affine, A, sizeof A);
  memcpy(v.spacing, sp, sizeof sp); memcpy(l.spacing, sp, sizeof sp);
  for (int64_t k = 0; k < 14; k++)
    for (int64_t j = 0; j < 20; j++)
      for (int64_t i = 0; i < 18; i++) {
        size_t q = (size_t)((k * 20 + j) * 18 + i);
        int body = k >= 2 && k < 12 && j >= 3 && j < 18 && i >= 1 && i < 16;
        double r2 = (i - 8.0) * (i - 8.0) / 16 + (j - 10.0) * (j - 10.0) / 20 + (k - 7.0) * (k - 7.0) / 6;
        l.data[q] = body && r2 < 1 ? (r2 < 0.3 ? 2 : 1) : 0;
        v.data[q] = body ? (float)(100 + 50 * l.data[q] + (double)((i * 31 + j * 17 + k * 7) % 11)) : 0;
      }
  ps_labelmap orig;
  CHECK_OK(ps_labelmap_alloc(&orig, 14, 20, 18));
  memcpy(orig.data, l.data, 14 * 20 * 18);
  ps_plan p;
  memset(&p, 0, sizeof p);
  p.target_spacing[0] = target > 0 ? target : 2.5;
  p.target_spacing[1] = p.target_spacing[2] = target > 0 ? target : 1.25;
  p.n_channels = 1; p.n_classes = 3; p.interp_image = 3; p.crop_nonzero = true;
  p.norm[0].scheme = PS_NORM_ZSCORE; p.norm[0].nonzero_mask = true;
  cJSON *pj = ps_plan_to_json(&p), *props = NULL;
  CHECK_OK(ps_preprocess_case(pj, &v, &l, &props));
  CHECK(v.d == l.d && v.h == l.h && v.w == l.w, "image and label on one grid");
  CHECK(v.affine[0][0] > 0 && v.affine[1][1] > 0, "preprocessed grid is RAS");
  CHECK(!strcmp(ps_json_str(ps_json_path(props, "orientation"), "axes", ""), "LPS"), "orientation recorded as LPS");
  for (int s = 0; s < 3; s++) CHECK_NEAR(v.spacing[s], p.target_spacing[s], 1e-9);
  if (target <= 0) CHECK(v.d == 10 && v.h == 15 && v.w == 15, "cropped to the body: %lld %lld %lld", (long long)v.d, (long long)v.h, (long long)v.w);
  ps_labelmap back;
  CHECK_OK(ps_preprocess_invert_labels(props, &l, &back));
  CHECK(back.d == 14 && back.h == 20 && back.w == 18, "original shape back");
  for (int r = 0; r < 4; r++)
    for (int c = 0; c < 4; c++) CHECK_NEAR(back.affine[r][c], A[r][c], 1e-12);
  size_t agree = 0, inter = 0, sa = 0, sb = 0, N = 14 * 20 * 18;
  for (size_t q = 0; q < N; q++) {
    agree += back.data[q] == orig.data[q];
    inter += back.data[q] && orig.data[q];
    sa += back.data[q] != 0; sb += orig.data[q] != 0;
  }
  if (target <= 0) CHECK(agree == N, "same spacing: exact round trip (%zu of %zu)", agree, N);
  else CHECK(2.0 * inter / (double)(sa + sb) > 0.85, "resampled round trip Dice %g", 2.0 * inter / (double)(sa + sb));
  ps_labelmap wrong = l;
  wrong.w = l.w - 1;
  ps_labelmap junk;
  CHECK(ps_preprocess_invert_labels(props, &wrong, &junk) == PS_ERR_DATA, "wrong prediction shape refused");
  ps_labelmap_free(&back);
  ps_labelmap_free(&orig);
  cJSON_Delete(pj);
  cJSON_Delete(props);
  ps_volume_free(&v);
  ps_labelmap_free(&l);
}

static void test_plan_create(void) {
  char *dir = ps_test_tmpdir("prep_plan");
  ps_synth_opts o;
  ps_synth_opts_default(&o);
  o.cases = 5; o.size = 24; o.seed = 3;
  CHECK_OK(ps_synth_generate(&o, dir));
  ps_dataset *d = NULL;
  CHECK_OK(ps_dataset_open(dir, &d));
  if (!d) { free(dir); return; }
  cJSON *plan = NULL;
  CHECK_OK(ps_plan_create(d, NULL, &plan));
  if (plan) {
    ps_plan p;
    CHECK_OK(ps_plan_from_json(plan, &p));
    /* median of the generated slice spacings */
    double sz[5];
    for (int i = 0; i < 5; i++) {
      ps_volume v;
      ps_labelmap l;
      CHECK_OK(ps_synth_case(&o, i, &v, &l, NULL));
      sz[i] = v.spacing[0];
      ps_volume_free(&v); ps_labelmap_free(&l);
    }
    for (int a = 0; a < 5; a++)
      for (int b = a + 1; b < 5; b++)
        if (sz[b] < sz[a]) { double t = sz[a]; sz[a] = sz[b]; sz[b] = t; }
    CHECK_NEAR(p.target_spacing[0], sz[2], 1e-4);
    CHECK(p.norm[0].scheme == PS_NORM_CT, "CT channel gets the CT scheme");
    CHECK(p.norm[0].clip_lo < p.norm[0].mean && p.norm[0].mean < p.norm[0].clip_hi, "CT stats ordered: %g < %g < %g",
          p.norm[0].clip_lo, p.norm[0].mean, p.norm[0].clip_hi);
    CHECK(p.norm[0].mean > 40 && p.norm[0].mean < 200, "foreground (organ) mean in HU: %g", p.norm[0].mean);
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(plan, "cases")) == 5, "per-case geometry listed");
    cJSON *ov = cJSON_Parse("{\"target_spacing\": [2, 1.5, 1.5], \"interp_image\": 1}");
    cJSON *plan2 = NULL;
    CHECK_OK(ps_plan_create(d, ov, &plan2));
    CHECK_OK(ps_plan_from_json(plan2, &p));
    CHECK(p.target_spacing[0] == 2 && p.interp_image == 1, "overrides applied");
    cJSON_Delete(ov);
    cJSON_Delete(plan2);
    ov = cJSON_Parse("{\"interp_image\": 2}");
    CHECK(ps_plan_create(d, ov, &plan2) == PS_ERR_DATA, "bad override refused: %s", ps_last_error());
    cJSON_Delete(ov);
    /* the whole pipeline on a real case */
    ps_volume v;
    ps_labelmap l;
    CHECK_OK(ps_dataset_load_case(d, 0, &v, &l, NULL));
    int64_t shape0[3] = {v.d, v.h, v.w};
    cJSON *props = NULL;
    CHECK_OK(ps_preprocess_case(plan, &v, &l, &props));
    ps_labelmap back;
    CHECK_OK(ps_preprocess_invert_labels(props, &l, &back));
    CHECK(back.d == shape0[0] && back.h == shape0[1] && back.w == shape0[2], "case 0 back on its grid");
    ps_labelmap_free(&back);
    cJSON_Delete(props);
    ps_volume_free(&v);
    ps_labelmap_free(&l);
  }
  cJSON_Delete(plan);
  ps_dataset_free(d);
  free(dir);
}

int main(void) {
  double RAS[4][4] = {{1.5, 0, 0, -10}, {0, 2, 0, 5}, {0, 0, 3, 7}, {0, 0, 0, 1}};
  double LPS[4][4] = {{-1.5, 0, 0, 10}, {0, -2, 0, 5}, {0, 0, 3, -7}, {0, 0, 0, 1}};
  double LAS[4][4] = {{-1.5, 0, 0, 10}, {0, 2, 0, 5}, {0, 0, 3, -7}, {0, 0, 0, 1}};
  /* permuted and oblique: i runs along -y, j along +z, k along -x (small shear) */
  double PSL[4][4] = {{0.05, 0, -3, 4}, {-1.5, 0.02, 0, 2}, {0, 2, 0.1, -3}, {0, 0, 0, 1}};
  check_reorient(RAS, "RAS");
  check_reorient(LPS, "LPS");
  check_reorient(LAS, "LAS");
  check_reorient(PSL, "PSL");
  test_resample();
  test_normalize();
  test_crop();
  test_invert(0);
  test_invert(1.7);
  test_plan_create();
  return ps_test_done("test_preprocess");
}
