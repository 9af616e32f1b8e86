/* Re-running chosen configurations on another side of the study (full scale
 * with seed replicates, proxy replicates, the factorial cells, other subsets),
 * and keeping the full-scale winner's model in STUDY/best/ for `predict`. */
#include "proxyseg/study.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

ps_status ps_study_rerun(const ps_rerun_opts *o) {
  if (o->k <= 0 || o->reps <= 0) return PS_OK;
  int first;
  ps_status st = ps_study_phase_first_number(o->study_dir, o->phase, &first);
  if (st) return st;
  int n = o->k * o->reps;
  const cJSON **cfgs = calloc((size_t)n, sizeof *cfgs), **params = calloc((size_t)n, sizeof *params);
  int *refs = calloc((size_t)n, sizeof *refs);
  if (!cfgs || !params || !refs) { free(cfgs); free(params); free(refs); return ps_error(PS_ERR_NOMEM, "out of memory"); }
  /* replicate-major: a study stopped half-way already has one score per config */
  for (int r = 0; r < o->reps; r++)
    for (int i = 0; i < o->k; i++) {
      int j = r * o->k + i;
      cJSON *c = cJSON_Duplicate(o->side_config, 1);
      const cJSON *it;
      cJSON_ArrayForEach(it, o->src[i]->params) ps_json_set(c, it->string, cJSON_Duplicate(it, 1));
      ps_json_set(c, "seed", cJSON_CreateNumber((double)ps_trial_seed(o->seed, first + j)));
      cfgs[j] = c;
      params[j] = o->src[i]->params;
      refs[j] = o->src[i]->number;
    }
  st = ps_run_configs(o->study_dir, o->phase, first, cfgs, refs, params, n, o->jobs, o->cache_dir, o->train_ids,
                      o->val_ids, o->keep_checkpoints);
  for (int j = 0; j < n; j++) cJSON_Delete((cJSON *)cfgs[j]);
  free(cfgs);
  free(params);
  free(refs);
  return st;
}

static ps_status copy_file(const char *from, const char *to) {
  char *data = NULL;
  size_t n = 0;
  ps_status st = ps_read_file(from, (size_t)1 << 34, &data, &n);
  if (!st) st = ps_write_file_atomic(to, data, n);
  free(data);
  return st;
}

/* Runs of the same configuration: the same proxy trial re-trained, or, in a
 * one-shot study (no proxy ranking), the same params "config" (result or baseline). */
static bool same_config(const ps_trial *a, const ps_trial *b) {
  const char *ca = ps_json_str(a->params, "config", NULL), *cb = ps_json_str(b->params, "config", NULL);
  if (ca || cb) return ca && cb && !strcmp(ca, cb);
  return a->ref == b->ref;
}

ps_status ps_study_keep_best(const char *study_dir) {
  char *jp = ps_path_join(study_dir, "journal.jsonl");
  ps_journal *J = NULL;
  ps_status st = ps_journal_open(jp, &J);
  free(jp);
  if (st) return st;
  ps_trial **ft;
  int n = ps_journal_phase(J, "full", &ft);
  /* the config with the best replicate mean (COMPLETE replicates only) */
  ps_trial *best = NULL; /* the first COMPLETE run of the winning configuration */
  int best_cnt = 0;
  double best_mean = -INFINITY;
  for (int i = 0; i < n; i++) {
    if (ft[i]->state != PS_TRIAL_COMPLETE) continue;
    int cnt = 0;
    bool seen = false;
    for (int j = 0; j < i && !seen; j++) seen = same_config(ft[j], ft[i]) && ft[j]->state == PS_TRIAL_COMPLETE;
    if (seen) continue;
    double s = 0;
    for (int j = i; j < n; j++)
      if (same_config(ft[j], ft[i]) && ft[j]->state == PS_TRIAL_COMPLETE) { s += ft[j]->value; cnt++; }
    if (s / cnt > best_mean) { best_mean = s / cnt; best = ft[i]; best_cnt = cnt; }
  }
  int best_ref = best ? best->ref : -1;
  /* its model: the replicate with the best validation score that left a checkpoint */
  ps_trial *pick = NULL;
  for (int i = 0; best && i < n; i++) {
    if (!same_config(ft[i], best) || ft[i]->state != PS_TRIAL_COMPLETE) continue;
    char *ck = ps_strfmt("%s/trials/%04d/checkpoint.h5", study_dir, ft[i]->number);
    if (ps_path_exists(ck) && (!pick || ft[i]->value > pick->value)) pick = ft[i];
    free(ck);
  }
  const char *config = best ? ps_json_str(best->params, "config", NULL) : NULL;
  if (!best) st = ps_error(PS_ERR_RUNTIME, "no full-scale trial completed; no best model to keep");
  else if (!pick && config) st = ps_error(PS_ERR_RUNTIME, "the full-scale winner ('%s') left no checkpoint", config);
  else if (!pick) st = ps_error(PS_ERR_RUNTIME, "the full-scale winner (proxy trial %d) left no checkpoint", best_ref);
  char *dir = ps_path_join(study_dir, "best");
  if (!st) st = ps_mkdir_p(dir);
  const char *files[2] = {"checkpoint.h5", "config.json"};
  for (int f = 0; f < 2 && !st; f++) {
    char *from = ps_strfmt("%s/trials/%04d/%s", study_dir, pick->number, files[f]);
    char *to = ps_path_join(dir, files[f]);
    st = copy_file(from, to);
    free(from);
    free(to);
  }
  if (!st) {
    cJSON *b = cJSON_CreateObject();
    cJSON_AddNumberToObject(b, "ref", best_ref);
    if (config) cJSON_AddStringToObject(b, "config", config);
    cJSON_AddNumberToObject(b, "trial", pick->number);
    cJSON_AddNumberToObject(b, "replicates", best_cnt);
    cJSON_AddNumberToObject(b, "full_mean", best_mean);
    cJSON_AddNumberToObject(b, "model_score", pick->value);
    cJSON_AddItemToObject(b, "params", cJSON_Duplicate(pick->params, 1));
    char *p = ps_path_join(dir, "best.json");
    st = ps_json_write(p, b);
    free(p);
    cJSON_Delete(b);
  }
  if (!st && config)
    ps_info("best at full scale: configuration '%s' (mean Dice %.4f over %d replicates), model in %s/", config,
            best_mean, best_cnt, dir);
  else if (!st)
    ps_info("best at full scale: the config of proxy trial %d (mean Dice %.4f over %d replicates), model in %s/",
            best_ref, best_mean, best_cnt, dir);
  free(dir);
  free(ft);
  ps_journal_free(J);
  return st;
}
