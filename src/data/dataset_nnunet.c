/* nnU-Net's conventions for naming datasets and splits: a dataset given as an
 * id ("4", "Dataset004", "Dataset004_Hippocampus") is found under $nnUNet_raw,
 * and a splits_final.json (beside dataset.json or in
 * $nnUNet_preprocessed/DatasetXXX_Name/) fixes the validation fold. */
#include "proxyseg/dataset.h"
#include "proxyseg/json.h"

#include <ctype.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

/* "4", "004", "Dataset004", "Dataset004_Name" -> 4 (name part in *name, may be NULL); -1 if not an id. */
static int parse_id(const char *s, const char **name) {
  *name = NULL;
  if (!strncmp(s, "Dataset", 7)) s += 7;
  const char *p = s;
  while (isdigit((unsigned char)*p)) p++;
  if (p == s || p - s > 3) return -1;
  if (*p == '_' && p[1]) *name = p + 1;
  else if (*p) return -1;
  return atoi(s);
}

ps_status ps_dataset_resolve(const char *spec, char **out) {
  *out = NULL;
  if (!spec || !*spec) return ps_error(PS_ERR_INVALID, "empty dataset name");
  if (ps_path_exists(spec) || strchr(spec, '/')) { *out = ps_strdup(spec); return *out ? PS_OK : ps_error(PS_ERR_NOMEM, "out of memory"); }
  const char *name;
  int id = parse_id(spec, &name);
  if (id < 0) { *out = ps_strdup(spec); return *out ? PS_OK : ps_error(PS_ERR_NOMEM, "out of memory"); } /* the open names it */
  const char *raw = getenv("nnUNet_raw");
  if (!raw || !*raw)
    return ps_error(PS_ERR_DATA, "dataset '%s': no such folder, and $nnUNet_raw is not set (nnU-Net dataset ids are "
                    "resolved under it)", spec);
  DIR *dp = opendir(raw);
  if (!dp) return ps_error(PS_ERR_DATA, "dataset '%s': $nnUNet_raw (%s) cannot be listed", spec, raw);
  char prefix[32], *found = NULL;
  snprintf(prefix, sizeof prefix, "Dataset%03d_", id);
  int n_found = 0;
  struct dirent *e;
  ps_status st = PS_OK;
  while ((e = readdir(dp))) {
    if (strncmp(e->d_name, prefix, strlen(prefix))) continue;
    if (name && strcmp(e->d_name + strlen(prefix), name)) continue;
    char *p = ps_path_join(raw, e->d_name);
    if (!ps_is_dir(p)) { free(p); continue; }
    if (n_found++) {
      st = ps_error(PS_ERR_DATA, "dataset '%s': both %s and %s in $nnUNet_raw; name the one to use", spec, found, p);
      free(p);
      break;
    }
    found = p;
  }
  closedir(dp);
  if (!st && !found)
    st = ps_error(PS_ERR_DATA, "dataset '%s': no %s%s folder in $nnUNet_raw (%s)", spec, prefix, name ? name : "*", raw);
  if (st) { free(found); return st; }
  *out = found;
  return PS_OK;
}

ps_status ps_dataset_splits_file(const char *spec, char **path) {
  *path = NULL;
  char *dir = NULL;
  ps_status st = ps_dataset_resolve(spec, &dir);
  if (st) return st;
  char *p = ps_path_join(dir, "splits_final.json");
  if (!ps_path_exists(p)) {
    free(p);
    p = NULL;
    const char *pre = getenv("nnUNet_preprocessed");
    char *base = strrchr(dir, '/');
    while (base && !base[1] && base > dir) { *base = 0; base = strrchr(dir, '/'); } /* trailing slashes */
    if (pre && *pre) {
      p = ps_strfmt("%s/%s/splits_final.json", pre, base ? base + 1 : dir);
      if (p && !ps_path_exists(p)) { free(p); p = NULL; }
    }
  }
  free(dir);
  *path = p;
  return PS_OK;
}

ps_status ps_dataset_split_fold(const char *splits_path, int fold, cJSON **val_ids) {
  *val_ids = NULL;
  cJSON *j = NULL;
  ps_status st = ps_json_read(splits_path, &j);
  if (st) return st;
  int n = cJSON_IsArray(j) ? cJSON_GetArraySize(j) : -1;
  const cJSON *f = n > 0 ? cJSON_GetArrayItem(j, fold) : NULL, *val = cJSON_GetObjectItemCaseSensitive(f, "val"), *it;
  if (n <= 0) st = ps_error(PS_ERR_DATA, "%s: expected a list of folds [{\"train\": [...], \"val\": [...]}, ...]", splits_path);
  else if (fold < 0 || fold >= n) st = ps_error(PS_ERR_DATA, "%s: fold %d asked, the file has folds 0..%d", splits_path, fold, n - 1);
  else if (!cJSON_IsArray(val) || !cJSON_GetArraySize(val))
    st = ps_error(PS_ERR_DATA, "%s: fold %d has no \"val\" list of case ids", splits_path, fold);
  else
    cJSON_ArrayForEach(it, val) if (!cJSON_IsString(it)) { st = ps_error(PS_ERR_DATA, "%s: fold %d: a \"val\" entry is not a case id", splits_path, fold); break; }
  if (!st) *val_ids = cJSON_Duplicate(val, 1);
  cJSON_Delete(j);
  return st;
}

ps_status ps_dataset_apply_splits(const char *spec, cJSON *train_cfg) {
  const cJSON *cases = ps_json_path(train_cfg, "val.cases");
  if (cases && !cJSON_IsNull(cases)) return PS_OK; /* an explicit list wins */
  char *path = NULL;
  ps_status st = ps_dataset_splits_file(spec, &path);
  if (st || !path) return st;
  int fold = ps_json_int(train_cfg, "val.fold", 0);
  cJSON *val = NULL;
  st = ps_dataset_split_fold(path, fold, &val);
  if (!st) {
    cJSON *v = cJSON_GetObjectItemCaseSensitive(train_cfg, "val");
    if (!cJSON_IsObject(v)) { cJSON_DeleteItemFromObjectCaseSensitive(train_cfg, "val"); v = cJSON_AddObjectToObject(train_cfg, "val"); }
    cJSON_DeleteItemFromObjectCaseSensitive(v, "cases");
    ps_info("validation split: fold %d of %s (%d cases)", fold, path, cJSON_GetArraySize(val));
    cJSON_AddItemToObject(v, "cases", val);
  }
  free(path);
  return st;
}
