/* Study context: preprocess + load cases once, fix the validation split, pick
 * the proxy data subset among the training cases (never the validation ones). */
#include "proxyseg/study.h"
#include "proxyseg/dataset.h"
#include "proxyseg/proxy.h"
#include "proxyseg/train.h"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef PS_SPACES_DIR
#define PS_SPACES_DIR "search/spaces"
#endif
#ifndef PS_SPACES_REL /* the installed spaces, relative to the binary's folder */
#define PS_SPACES_REL "../share/proxyseg/spaces"
#endif

ps_status ps_study_ctx_open(const char *dataset_dir, const char *study_dir, const cJSON *train_cfg, ps_study_ctx *c) {
  memset(c, 0, sizeof *c);
  c->cache_dir = ps_path_join(study_dir, "preprocessed");
  ps_status st = ps_study_load_cases(dataset_dir, c->cache_dir, ps_json_int(train_cfg, "threads", 0), &c->cases, &c->n,
                                     &c->n_classes);
  if (st) return st;
  int *tr = NULL, *va = NULL, n_tr, n_va;
  /* nnU-Net's splits_final.json, when the dataset has one, is the split */
  cJSON *cfg = cJSON_Duplicate(train_cfg, 1);
  if (dataset_dir) st = ps_dataset_apply_splits(dataset_dir, cfg);
  if (!st) st = ps_train_split(cfg, c->cases, c->n, &tr, &n_tr, &va, &n_va);
  cJSON_Delete(cfg);
  if (!st) {
    c->train_ids = cJSON_CreateArray();
    c->val_ids = cJSON_CreateArray();
    for (int i = 0; i < n_tr; i++) cJSON_AddItemToArray(c->train_ids, cJSON_CreateString(c->cases[tr[i]].id));
    for (int i = 0; i < n_va; i++) cJSON_AddItemToArray(c->val_ids, cJSON_CreateString(c->cases[va[i]].id));
  }
  free(tr);
  free(va);
  return st;
}

void ps_study_ctx_close(ps_study_ctx *c) {
  ps_study_free_cases(c->cases, c->n);
  free(c->cache_dir);
  cJSON_Delete(c->train_ids);
  cJSON_Delete(c->val_ids);
  memset(c, 0, sizeof *c);
}

ps_status ps_study_proxy_data(ps_study_ctx *c, const cJSON *opts, const char *out_file, cJSON **kept_ids) {
  *kept_ids = NULL;
  int *tr, n_tr;
  ps_status st = ps_study_case_indices(c->cases, c->n, c->train_ids, &tr, &n_tr);
  if (st) return st;
  /* score only the training cases: the validation cases must not steer the subset */
  ps_case *sub = malloc((size_t)n_tr * sizeof *sub);
  if (!sub) { free(tr); return ps_error(PS_ERR_NOMEM, "out of memory"); }
  for (int i = 0; i < n_tr; i++) sub[i] = c->cases[tr[i]];
  ps_proxy_data_opts o;
  ps_proxy_data_opts_default(&o);
  o.method = ps_json_str(opts, "method", "kcenter");
  o.keep = ps_json_str(opts, "keep", "diverse");
  o.fraction = ps_json_num(opts, "fraction", 0.5);
  o.count = ps_json_int(opts, "count", 0);
  o.seed = (uint64_t)ps_json_num(opts, "seed", 0);
  cJSON *res = NULL;
  double t0 = ps_now();
  st = ps_proxy_select(sub, n_tr, &o, &res);
  free(sub);
  free(tr);
  if (st) return st;
  cJSON_AddNumberToObject(res, "seconds", ps_now() - t0);
  char *dir = ps_strdup(out_file);
  char *slash = strrchr(dir, '/');
  if (slash) { *slash = 0; st = ps_mkdir_p(dir); }
  free(dir);
  if (!st) st = ps_json_write(out_file, res);
  if (!st) *kept_ids = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(res, "kept"), 1);
  cJSON_Delete(res);
  return st;
}

/* The shipped spaces of an installed proxyseg: <prefix>/share/proxyseg/spaces
 * beside <prefix>/bin/proxyseg (found from the running binary, so a moved
 * prefix works); NULL when not installed (then the source tree's are used). */
static char *installed_spaces_dir(void) {
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) return NULL;
  exe[n] = 0;
  char *slash = strrchr(exe, '/');
  if (!slash) return NULL;
  *slash = 0;
  char *dir = ps_strfmt("%s/%s", exe, PS_SPACES_REL);
  if (dir && !ps_is_dir(dir)) { free(dir); dir = NULL; }
  return dir;
}

ps_status ps_study_space(const cJSON *spec, const char *base_dir, ps_space **out) {
  if (cJSON_IsObject(spec)) return ps_space_from_json(spec, "study config 'space'", out);
  if (!cJSON_IsString(spec)) return ps_error(PS_ERR_INVALID, "'space' must be a name, a path or an object");
  const char *s = spec->valuestring;
  char *inst = installed_spaces_dir();
  const char *shipped = inst ? inst : PS_SPACES_DIR;
  char *cands[3] = {ps_strdup(s), base_dir ? ps_path_join(base_dir, s) : NULL, ps_strfmt("%s/%s.json", shipped, s)};
  ps_status st = PS_ERR_INVALID;
  bool found = false;
  for (int i = 0; i < 3 && !found; i++)
    if (cands[i] && ps_path_exists(cands[i]) && !ps_is_dir(cands[i])) { found = true; st = ps_space_load(cands[i], out); }
  for (int i = 0; i < 3; i++) free(cands[i]);
  if (!found) st = ps_error(PS_ERR_INVALID, "search space '%s' not found (a path, or one of the shipped names in %s)", s, shipped);
  free(inst);
  return st;
}
