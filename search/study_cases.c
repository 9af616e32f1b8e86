/* Loading a study's cases: preprocess the dataset into the HDF5 cache (a no-op
 * when the cache matches the plan) and load every case. */
#include "proxyseg/study.h"
#include "proxyseg/cache.h"
#include <stdlib.h>
#include <string.h>

ps_status ps_study_load_cases(const char *dataset_dir, const char *cache_dir, int threads, ps_case **cases,
                              int *n, int *n_classes) {
  *cases = NULL;
  *n = 0;
  if (dataset_dir) {
    ps_status st = ps_cache_build(dataset_dir, cache_dir, NULL, threads);
    if (st) return st;
  }
  ps_status st = ps_cache_load(cache_dir, cases, n);
  if (st) return st;
  if (*n < 1) return ps_error(PS_ERR_DATA, "%s: no cases", cache_dir);
  *n_classes = (*cases)[0].n_classes;
  return PS_OK;
}

void ps_study_free_cases(ps_case *cases, int n) {
  if (!cases) return;
  for (int i = 0; i < n; i++) ps_case_free(&cases[i]);
  free(cases);
}

ps_status ps_study_case_indices(const ps_case *cases, int n, const cJSON *ids, int **idx, int *n_idx) {
  int m = cJSON_GetArraySize(ids);
  *idx = malloc((size_t)(m ? m : 1) * sizeof(int));
  *n_idx = 0;
  if (!*idx) return ps_error(PS_ERR_NOMEM, "out of memory");
  const cJSON *it;
  cJSON_ArrayForEach(it, ids) {
    int found = -1;
    for (int i = 0; i < n && cJSON_IsString(it); i++)
      if (!strcmp(cases[i].id, it->valuestring)) { found = i; break; }
    if (found < 0) return ps_error(PS_ERR_DATA, "case '%s' is not in the preprocessed dataset", cJSON_IsString(it) ? it->valuestring : "?");
    (*idx)[(*n_idx)++] = found;
  }
  return PS_OK;
}
