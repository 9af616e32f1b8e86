/* The one-shot study path (study_oneshot.h): which algorithms are one-shot,
 * and the full-scale re-training of the search's result against its
 * baselines, paired by seed, resumable through the journal. */
#include "study_oneshot.h"
#include "proxyseg/train.h"
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

/* Every one-shot algorithm a study knows; add a descriptor here to plug one in. */
static const ps_oneshot_algo *const algos[] = {&ps_asng_oneshot, &ps_gumbel_oneshot};

const ps_oneshot_algo *ps_oneshot_find(const char *algo) {
  for (size_t i = 0; algo && i < sizeof algos / sizeof *algos; i++)
    if (!strcmp(algos[i]->algo, algo)) return algos[i];
  return NULL;
}

ps_status ps_oneshot_search_trial(const char *study_dir, int *number) {
  char *jp = ps_path_join(study_dir, "journal.jsonl");
  ps_journal *J = NULL;
  ps_status st = ps_journal_open(jp, &J);
  free(jp);
  if (st) return st;
  ps_trial **t;
  int n = ps_journal_phase(J, "proxy", &t);
  if (n == 0) st = ps_error(PS_ERR_RUNTIME, "%s: the one-shot search left no trial in the journal", study_dir);
  else if (t[n - 1]->state != PS_TRIAL_COMPLETE)
    st = ps_error(PS_ERR_RUNTIME, "the one-shot search (trial %d) ended %s: nothing to re-train (see %s/trials/%04d/log.txt)",
                  t[n - 1]->number, ps_trial_state_name(t[n - 1]->state), study_dir, t[n - 1]->number);
  else *number = t[n - 1]->number;
  free(t);
  ps_journal_free(J);
  return st;
}

ps_status ps_oneshot_retrain(const ps_oneshot_retrain_opts *o) {
  const ps_oneshot_algo *a = o->algo;
  int K = a->n_configs, first;
  ps_status st = ps_study_phase_first_number(o->study_dir, "full", &first);
  if (st) return st;
  char *tdir = ps_trial_dir(o->study_dir, o->search_trial);
  cJSON *base[PS_ONESHOT_MAX_CONFIGS] = {0}, *params[PS_ONESHOT_MAX_CONFIGS] = {0};
  for (int k = 0; k < K && !st; k++) {
    st = a->config(k, tdir, o->full_cfg, &base[k]);
    if (!st) st = ps_train_config_validate(base[k]);
    if (st) st = ps_error_prefix(st, "%s: the '%s' configuration", a->algo, a->ids[k]);
    params[k] = cJSON_CreateObject();
    cJSON_AddStringToObject(params[k], "config", a->ids[k]);
  }
  int n = K * o->reps;
  const cJSON **cfgs = calloc((size_t)n, sizeof *cfgs), **pp = calloc((size_t)n, sizeof *pp);
  int *refs = calloc((size_t)n, sizeof *refs);
  if (!st && (!cfgs || !pp || !refs)) st = ps_error(PS_ERR_NOMEM, "out of memory");
  for (int r = 0; !st && r < o->reps; r++) {
    /* replicate r: one seed for every configuration (a paired comparison) */
    uint64_t seed = ps_trial_seed(o->seed, first + r * K);
    for (int k = 0; k < K; k++) {
      int j = r * K + k;
      cJSON *c = cJSON_Duplicate(base[k], 1);
      ps_json_set(c, "seed", cJSON_CreateNumber((double)seed));
      cfgs[j] = c;
      pp[j] = params[k];
      refs[j] = k == 0 ? o->search_trial : -1;
    }
  }
  if (!st) {
    char names[512] = "";
    for (int k = 0; k < K; k++)
      snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", k ? ", " : "", a->labels[k]);
    ps_info("re-training at full scale: %s; %d seed replicate(s) each, one seed per replicate for all", names, o->reps);
    st = ps_run_configs(o->study_dir, "full", first, cfgs, refs, pp, n, o->jobs, o->cache_dir, o->train_ids,
                        o->val_ids, true);
  }
  for (int j = 0; cfgs && j < n; j++) cJSON_Delete((cJSON *)cfgs[j]);
  for (int k = 0; k < K; k++) { cJSON_Delete(base[k]); cJSON_Delete(params[k]); }
  free(cfgs);
  free(pp);
  free(refs);
  free(tdir);
  return st;
}
