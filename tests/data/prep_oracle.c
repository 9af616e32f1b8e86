/* Oracle driver for preprocessing: resample a seeded random volume (order 1)
 * and labels (nearest) and reorient a permuted/flipped volume, dump inputs and
 * outputs, and let tests/data/prep_oracle.py check them against
 * scipy.ndimage.map_coordinates and nibabel's as_closest_canonical. */
#include "testutil.h"
#include "proxyseg/preprocess.h"
#include <string.h>

static int dump(const char *dir, const char *name, const void *p, size_t bytes) {
  char *path = ps_strfmt("%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  free(path);
  if (!f) return -1;
  size_t w = fwrite(p, 1, bytes, f);
  fclose(f);
  return w == bytes ? 0 : -1;
}

static void affine_line(FILE *f, const char *key, const double A[4][4]) {
  fprintf(f, "\"%s\": [", key);
  for (int r = 0; r < 4; r++) fprintf(f, "%s[%.17g, %.17g, %.17g, %.17g]", r ? ", " : "", A[r][0], A[r][1], A[r][2], A[r][3]);
  fprintf(f, "],\n");
}

int main(int argc, char **argv) {
  const char *script = argc > 1 ? argv[1] : "prep_oracle.py";
  const char *py = ps_test_python_with("numpy,scipy.ndimage,nibabel");
  if (!py) PS_SKIP("prep_oracle: /usr/bin/python3 with numpy, scipy and nibabel not found; resampling NOT checked against SciPy");
  char *dir = ps_test_tmpdir("prep_oracle");
  ps_rng *r = ps_rng_create(42);
  ps_volume v, out;
  ps_labelmap l, lo;
  CHECK_OK(ps_volume_alloc(&v, 2, 9, 12, 15));
  CHECK_OK(ps_labelmap_alloc(&l, 9, 12, 15));
  size_t n = 9 * 12 * 15;
  for (size_t i = 0; i < 2 * n; i++) v.data[i] = (float)ps_rng_normal(r, 1);
  for (size_t i = 0; i < n; i++) l.data[i] = (uint8_t)ps_rng_int(r, 4);
  double sp[3] = {2.7, 1.3, 0.9}, to[3] = {1.1, 0.95, 1.45};
  double A[4][4] = {{0.9, 0, 0, -5}, {0, 1.3, 0, 7}, {0, 0, 2.7, 1}, {0, 0, 0, 1}};
  memcpy(v.spacing, sp, sizeof sp); memcpy(l.spacing, sp, sizeof sp);
  memcpy(v.affine, A, sizeof A); memcpy(l.affine, A, sizeof A);
  int64_t shape[3] = {9, 12, 15}, ns[3];
  double step[3];
  ps_resample_geometry(shape, sp, to, ns, step);
  CHECK_OK(ps_resample_volume(&v, ns, step, 1, &out));
  CHECK_OK(ps_resample_labels(&l, ns, step, &lo));
  CHECK(dump(dir, "in.f32", v.data, 2 * n * 4) == 0, "dump");
  CHECK(dump(dir, "in.u8", l.data, n) == 0, "dump");
  size_t m = (size_t)(ns[0] * ns[1] * ns[2]);
  CHECK(dump(dir, "out1.f32", out.data, 2 * m * 4) == 0, "dump");
  CHECK(dump(dir, "out0.u8", lo.data, m) == 0, "dump");

  /* Reorientation of an oblique-free permuted/flipped grid: i→-y, j→+z, k→-x. */
  ps_volume q;
  CHECK_OK(ps_volume_alloc(&q, 1, 5, 6, 7));
  double B[4][4] = {{0, 0, -3, 4}, {-1.5, 0, 0, 2}, {0, 2, 0, -3}, {0, 0, 0, 1}};
  memcpy(q.affine, B, sizeof B);
  for (size_t i = 0; i < 5 * 6 * 7; i++) q.data[i] = (float)i;
  CHECK(dump(dir, "rin.f32", q.data, 5 * 6 * 7 * 4) == 0, "dump");
  ps_orientation o;
  CHECK_OK(ps_orientation_of_affine(B, &o));
  CHECK_OK(ps_reorient_volume(&q, &o, false));
  CHECK(dump(dir, "rout.f32", q.data, 5 * 6 * 7 * 4) == 0, "dump");

  char *meta = ps_strfmt("%s/meta.json", dir);
  FILE *f = fopen(meta, "w");
  CHECK(f != NULL, "meta");
  if (f) {
    fprintf(f, "{\"in_shape\": [2, 9, 12, 15], \"out_shape\": [2, %lld, %lld, %lld],\n", (long long)ns[0], (long long)ns[1], (long long)ns[2]);
    fprintf(f, "\"step\": [%.17g, %.17g, %.17g],\n", step[0], step[1], step[2]);
    affine_line(f, "in_affine", A);
    affine_line(f, "out_affine", out.affine);
    affine_line(f, "r_in_affine", B);
    affine_line(f, "r_out_affine", q.affine);
    fprintf(f, "\"r_shape\": [5, 6, 7], \"r_out_shape\": [%lld, %lld, %lld]}\n", (long long)q.d, (long long)q.h, (long long)q.w);
    fclose(f);
  }
  int rc = ps_test_sh("'%s' '%s' '%s'", py, script, dir);
  CHECK(rc == 0, "prep_oracle.py exit %d", rc);
  ps_volume_free(&v); ps_volume_free(&out); ps_volume_free(&q);
  ps_labelmap_free(&l); ps_labelmap_free(&lo);
  ps_rng_free(r);
  free(meta);
  free(dir);
  return ps_test_done("prep_oracle");
}
