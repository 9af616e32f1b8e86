/* libFuzzer target: arbitrary bytes as the preprocessed cache, read as `train`
 * and `search` do (ps_cache_load): a JSON text ('{' first) as the cache's
 * plan.json beside one valid case file; anything else as that case file beside
 * a valid plan.json, whose checksum must refuse it before HDF5 sees it (reading
 * case files unchecked, HDF5 1.10 overflowed a heap buffer in H5Dread).
 * PS_FUZZ_WRITE_SEEDS=DIR: write the valid plan.json and case file there. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_tmp.h"
#include "proxyseg/cache.h"
#include "proxyseg/dataset.h"

static char root[256], *cache_dir, *plan_path, *case_dir, *case_path;

static void copy_file(const char *from, const char *to) {
  char *d;
  size_t n;
  if (ps_read_file(from, 0, &d, &n) == PS_OK) {
    ps_fuzz_write(to, (const unsigned char *)d, n);
    free(d);
  }
}

/* A one-case MSD dataset, preprocessed: cache/plan.json and cache/a.h5. */
static void setup(void) {
  ps_fuzz_tmp_path(root, sizeof root, "ps_fuzz_cache", "");
  char *ds = ps_path_join(root, "ds"), *p = ps_strfmt("%s/imagesTr", ds);
  ps_mkdir_p(p);
  free(p);
  p = ps_strfmt("%s/labelsTr", ds);
  ps_mkdir_p(p);
  free(p);
  ps_volume v;
  ps_labelmap l;
  if (ps_volume_alloc(&v, 1, 4, 5, 6) != PS_OK || ps_labelmap_alloc(&l, 4, 5, 6) != PS_OK) abort();
  for (int i = 0; i < 120; i++) { v.data[i] = (float)(i % 17); l.data[i] = (uint8_t)(i % 3 == 0); }
  p = ps_strfmt("%s/imagesTr/a.nii.gz", ds);
  ps_nifti_write(p, &v, PS_NIFTI_FLOAT32);
  free(p);
  p = ps_strfmt("%s/labelsTr/a.nii.gz", ds);
  ps_nifti_write_labels(p, &l);
  free(p);
  ps_volume_free(&v);
  ps_labelmap_free(&l);
  p = ps_strfmt("%s/dataset.json", ds);
  const char *dj = "{\"name\":\"F\",\"modality\":{\"0\":\"MRI\"},\"labels\":{\"0\":\"bg\",\"1\":\"x\"},\"numTraining\":1,"
                   "\"training\":[{\"image\":\"./imagesTr/a.nii.gz\",\"label\":\"./labelsTr/a.nii.gz\"}],\"test\":[]}";
  ps_fuzz_write(p, (const unsigned char *)dj, strlen(dj));
  free(p);
  cache_dir = ps_path_join(root, "cache");
  if (ps_cache_build(ds, cache_dir, NULL, 1) != PS_OK) {
    fprintf(stderr, "fuzz_cache: building the seed cache failed: %s\n", ps_last_error());
    abort();
  }
  free(ds);
  plan_path = ps_path_join(cache_dir, "plan.json");
  /* a second copy of the cache whose case file the inputs replace */
  case_dir = ps_path_join(root, "cases");
  ps_mkdir_p(case_dir);
  char *a = ps_path_join(cache_dir, "a.h5"), *b = ps_path_join(case_dir, "plan.json");
  case_path = ps_path_join(case_dir, "a.h5");
  copy_file(a, case_path);
  copy_file(plan_path, b);
  free(a), free(b);
  const char *seeds = getenv("PS_FUZZ_WRITE_SEEDS");
  if (seeds && *seeds) {
    ps_mkdir_p(seeds);
    char *a = ps_path_join(cache_dir, "a.h5"), *b = ps_path_join(seeds, "case.h5"), *c = ps_path_join(seeds, "plan.json");
    copy_file(a, b);
    copy_file(plan_path, c);
    free(a), free(b), free(c);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!root[0]) setup();
  if (size > 0 && data[0] == '{') {
    /* plan.json of a cache whose a.h5 is valid: n_classes and the file list */
    if (ps_fuzz_write(plan_path, data, size)) return 0;
    ps_case *cs = NULL;
    int n = 0;
    if (ps_cache_load(cache_dir, &cs, &n) == PS_OK) ps_cache_free_cases(cs, n);
    return 0;
  }
  if (ps_fuzz_write(case_path, data, size)) return 0;
  ps_case *cs = NULL;
  int n = 0;
  if (ps_cache_load(case_dir, &cs, &n) == PS_OK) ps_cache_free_cases(cs, n);
  return 0;
}
