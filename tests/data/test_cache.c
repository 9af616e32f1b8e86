/* HDF5 case cache: build, load, no rebuild when unchanged, rebuild on a plan
 * change or a touched case file, truncated file → clear error, and the cached
 * case equals preprocessing the case directly. */
#include "testutil.h"
#include "proxyseg/cache.h"
#include "proxyseg/dataset.h"
#include "proxyseg/json.h"
#include "proxyseg/preprocess.h"
#include "proxyseg/synth.h"
#include <string.h>

int main(void) {
  char *dir = ps_test_tmpdir("cache_ds"), *cache = ps_test_tmpdir("cache_out");
  ps_synth_opts o;
  ps_synth_opts_default(&o);
  o.cases = 4; o.size = 24; o.seed = 11; o.classes = 3;
  CHECK_OK(ps_synth_generate(&o, dir));

  int rebuilt = -1;
  CHECK_OK(ps_cache_build_ex(dir, cache, NULL, 2, &rebuilt));
  CHECK(rebuilt == 1, "first build writes the cache");
  ps_case *cs = NULL;
  int n = 0;
  CHECK_OK(ps_cache_load(cache, &cs, &n));
  CHECK(n == 4, "4 cases loaded (%d)", n);
  cJSON *plan = NULL;
  char *pp = ps_path_join(cache, "plan.json");
  CHECK_OK(ps_json_read(pp, &plan));
  ps_plan p;
  CHECK_OK(ps_plan_from_json(plan, &p));
  for (int i = 0; i < n; i++) {
    CHECK(cs[i].image.c == 1 && cs[i].image.d == cs[i].label.d && cs[i].image.h == cs[i].label.h && cs[i].image.w == cs[i].label.w,
          "case %d shapes", i);
    CHECK(cs[i].n_classes == 3 && cs[i].fg_count[1] > 0, "case %d foreground indexed (%lld organ voxels)", i,
          cs[i].fg_count ? (long long)cs[i].fg_count[1] : -1LL);
    for (int a = 0; a < 3; a++) CHECK_NEAR(cs[i].image.spacing[a], p.target_spacing[a], 1e-9);
    char want[32];
    snprintf(want, sizeof want, "synth_%03d", i);
    CHECK(cs[i].id && !strcmp(cs[i].id, want), "case %d id %s", i, cs[i].id ? cs[i].id : "(null)");
  }
  /* The cached case equals preprocessing it here. */
  ps_dataset *d = NULL;
  CHECK_OK(ps_dataset_open(dir, &d));
  ps_volume v;
  ps_labelmap l;
  cJSON *props = NULL;
  CHECK_OK(ps_dataset_load_case(d, 1, &v, &l, NULL));
  CHECK_OK(ps_preprocess_case(plan, &v, &l, &props));
  size_t N = (size_t)(v.c * v.d * v.h * v.w);
  CHECK(v.d == cs[1].image.d && v.h == cs[1].image.h && v.w == cs[1].image.w, "direct and cached shapes");
  if (v.d == cs[1].image.d && v.h == cs[1].image.h && v.w == cs[1].image.w) {
    CHECK(!memcmp(v.data, cs[1].image.data, N * sizeof(float)), "cached image bit-identical");
    CHECK(!memcmp(l.data, cs[1].label.data, N / (size_t)v.c), "cached label identical");
    for (int r = 0; r < 4; r++)
      for (int c = 0; c < 4; c++) CHECK_NEAR(cs[1].image.affine[r][c], v.affine[r][c], 1e-9);
  }
  /* Properties in the file invert back to the original grid. */
  ps_case one;
  cJSON *fprops = NULL;
  char *f1 = ps_path_join(cache, "synth_001.h5");
  CHECK_OK(ps_cache_read_case(f1, 3, &one, &fprops));
  ps_labelmap back;
  if (fprops) {
    CHECK_OK(ps_preprocess_invert_labels(fprops, &one.label, &back));
    ps_volume v0;
    ps_labelmap l0;
    CHECK_OK(ps_dataset_load_case(d, 1, &v0, &l0, NULL));
    CHECK(back.d == l0.d && back.h == l0.h && back.w == l0.w, "inverted to the original shape");
    ps_volume_free(&v0); ps_labelmap_free(&l0); ps_labelmap_free(&back);
  }
  ps_case_free(&one);
  cJSON_Delete(fprops);
  cJSON_Delete(props);
  ps_volume_free(&v);
  ps_labelmap_free(&l);
  ps_cache_free_cases(cs, n);
  cJSON_Delete(plan);

  /* Unchanged inputs: no rebuild (plan.json untouched). */
  char *before = NULL, *after = NULL;
  size_t nb = 0, na = 0;
  CHECK_OK(ps_read_file(pp, 0, &before, &nb));
  CHECK_OK(ps_cache_build_ex(dir, cache, NULL, 2, &rebuilt));
  CHECK(rebuilt == 0, "unchanged: no rebuild");
  /* A plan change rebuilds. */
  cJSON *ov = cJSON_Parse("{\"target_spacing\": [2.0, 1.5, 1.5], \"interp_image\": 1}");
  CHECK_OK(ps_cache_build_ex(dir, cache, ov, 2, &rebuilt));
  CHECK(rebuilt == 1, "plan change: rebuild");
  CHECK_OK(ps_read_file(pp, 0, &after, &na));
  CHECK(before && after && strcmp(before, after) != 0, "plan.json changed");
  CHECK_OK(ps_cache_build_ex(dir, cache, ov, 2, &rebuilt));
  CHECK(rebuilt == 0, "same overrides again: no rebuild");
  CHECK_OK(ps_cache_load(cache, &cs, &n));
  if (n > 0) CHECK_NEAR(cs[0].image.spacing[0], 2.0, 1e-9);
  ps_cache_free_cases(cs, n);
  /* A dataset file touched (mtime) rebuilds. */
  CHECK(ps_test_sh("touch -d '2001-01-01' '%s/labelsTr/synth_002.nii.gz'", dir) == 0, "touch");
  CHECK_OK(ps_cache_build_ex(dir, cache, ov, 2, &rebuilt));
  CHECK(rebuilt == 1, "touched case file: rebuild");

  /* A truncated cache file: a clear error naming it, and the next build repairs it. */
  char *f2 = ps_path_join(cache, "synth_002.h5");
  CHECK(ps_test_sh("truncate -s 1000 '%s'", f2) == 0, "truncate");
  ps_status st = ps_cache_load(cache, &cs, &n);
  CHECK(st == PS_ERR_DATA, "truncated file -> PS_ERR_DATA (%s)", ps_status_name(st));
  CHECK(strstr(ps_last_error(), "synth_002.h5") != NULL, "error names the file: %s", ps_last_error());
  CHECK(cs == NULL && n == 0, "nothing returned on error");
  CHECK_OK(ps_cache_build_ex(dir, cache, ov, 2, &rebuilt));
  CHECK(rebuilt == 1, "damaged cache rebuilt");
  CHECK_OK(ps_cache_load(cache, &cs, &n));
  ps_cache_free_cases(cs, n);
  /* Garbage with an .h5 name. */
  CHECK(ps_test_sh("echo garbage > '%s'", f2) == 0, "overwrite");
  ps_case junk;
  CHECK(ps_cache_read_case(f2, 3, &junk, NULL) == PS_ERR_DATA, "garbage file refused: %s", ps_last_error());
  CHECK(ps_cache_load("no_such_cache_dir", &cs, &n) == PS_ERR_IO, "missing cache dir -> PS_ERR_IO");

  /* plan.json damaged: a checksum that no longer matches, an absurd n_classes */
  CHECK_OK(ps_cache_build_ex(dir, cache, ov, 2, &rebuilt));
  cJSON *pj = NULL;
  CHECK_OK(ps_json_read(pp, &pj));
  cJSON *sum = (cJSON *)ps_json_path(pj, "cache.files");
  sum = cJSON_GetObjectItem(cJSON_GetArrayItem(sum, 1), "fnv1a64");
  CHECK(cJSON_IsString(sum), "pj lists each file's checksum");
  char *orig = strdup(sum->valuestring);
  cJSON_SetValuestring(sum, "0123456789abcdef");
  CHECK_OK(ps_json_write(pp, pj));
  st = ps_cache_load(cache, &cs, &n);
  CHECK(st == PS_ERR_DATA && strstr(ps_last_error(), "checksum") && strstr(ps_last_error(), "synth_001.h5"),
        "checksum mismatch refused, naming the file: %s", ps_last_error());
  cJSON_SetValuestring(sum, orig);
  free(orig);
  CHECK_OK(ps_json_set(pj, "n_classes", cJSON_CreateNumber(100000000)));
  CHECK_OK(ps_json_write(pp, pj));
  st = ps_cache_load(cache, &cs, &n);
  CHECK(st == PS_ERR_DATA && strstr(ps_last_error(), "n_classes"), "n_classes 10^8 refused: %s", ps_last_error());
  CHECK(cs == NULL && n == 0, "nothing returned on error");
  CHECK_OK(ps_json_set(pj, "n_classes", cJSON_CreateNumber(3)));
  CHECK_OK(ps_json_write(pp, pj));
  CHECK_OK(ps_cache_load(cache, &cs, &n));
  ps_cache_free_cases(cs, n);
  cJSON_Delete(pj);

  cJSON_Delete(ov);
  free(before); free(after);
  free(f1); free(f2); free(pp);
  ps_dataset_free(d);
  free(dir); free(cache);
  return ps_test_done("test_cache");
}
