/* The validation split. Every trial of a study must validate on the same cases,
 * so the split is seeded by a fixed constant (as nnU-Net's 12345), never by
 * the trial's seed. */
#include "proxyseg/train.h"
#include <stdlib.h>
#include <string.h>

ps_status ps_train_split(const cJSON *cfg, const ps_case *cases, int n, int **train_idx, int *n_train,
                         int **val_idx, int *n_val) {
  *train_idx = malloc((size_t)(n ? n : 1) * sizeof(int));
  *val_idx = malloc((size_t)(n ? n : 1) * sizeof(int));
  if (!*train_idx || !*val_idx) return ps_error(PS_ERR_NOMEM, "out of memory");
  *n_train = *n_val = 0;
  const cJSON *list = ps_json_path(cfg, "val.cases");
  bool *is_val = calloc((size_t)(n ? n : 1), sizeof(bool));
  if (!is_val) return ps_error(PS_ERR_NOMEM, "out of memory");
  if (cJSON_IsArray(list)) {
    const cJSON *it;
    cJSON_ArrayForEach(it, list) {
      int found = -1;
      for (int i = 0; i < n && cJSON_IsString(it); i++)
        if (!strcmp(cases[i].id, it->valuestring)) found = i;
      if (found < 0) {
        free(is_val);
        return ps_error(PS_ERR_INVALID, "val.cases: no case named %s", cJSON_IsString(it) ? it->valuestring : "(not a string)");
      }
      is_val[found] = true;
    }
  } else {
    int folds = ps_json_int(cfg, "val.folds", 5), fold = ps_json_int(cfg, "val.fold", 0);
    if (folds < 2 || fold < 0 || fold >= folds) {
      free(is_val);
      return ps_error(PS_ERR_INVALID, "val.fold %d of val.folds %d", fold, folds);
    }
    int *perm = malloc((size_t)(n ? n : 1) * sizeof(int));
    ps_rng *r = ps_rng_create(12345);
    if (!perm || !r) { free(perm); free(is_val); ps_rng_free(r); return ps_error(PS_ERR_NOMEM, "out of memory"); }
    for (int i = 0; i < n; i++) perm[i] = i;
    for (int i = n - 1; i > 0; i--) {
      int k = (int)ps_rng_int(r, (uint64_t)i + 1), tmp = perm[i];
      perm[i] = perm[k];
      perm[k] = tmp;
    }
    for (int i = 0; i < n; i++)
      if (i % folds == fold) is_val[perm[i]] = true;
    free(perm);
    ps_rng_free(r);
  }
  for (int i = 0; i < n; i++) {
    if (is_val[i]) (*val_idx)[(*n_val)++] = i;
    else (*train_idx)[(*n_train)++] = i;
  }
  free(is_val);
  if (!*n_val || !*n_train)
    return ps_error(PS_ERR_INVALID, "the validation split leaves %d training and %d validation cases", *n_train, *n_val);
  return PS_OK;
}
