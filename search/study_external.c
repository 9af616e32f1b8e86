/* External validation (as in the proxy-data paper): every re-trained
 * configuration's models — its proxy model(s) and its full-scale replicates —
 * are also scored on another dataset (e.g. a --site b synthetic task),
 * preprocessed with the training data's plan so that intensities are
 * normalised alike; the report correlates proxy and full there too. */
#include "proxyseg/study.h"
#include "proxyseg/cache.h"
#include "proxyseg/nn.h"
#include "proxyseg/train.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

ps_status ps_study_external(const char *study_dir, const char *dataset_dir, ps_study_ctx *ctx) {
  char *cache = ps_path_join(study_dir, "preprocessed_external");
  char *plan_path = ps_path_join(ctx->cache_dir, "plan.json");
  cJSON *plan = NULL, *how = cJSON_CreateObject();
  ps_status st = ps_json_read(plan_path, &plan);
  free(plan_path);
  /* how the training data was preprocessed applies; its case and file lists do not */
  const char *keys[] = {"target_spacing", "interp_image", "interp_label", "crop_nonzero", "normalization"};
  for (int i = 0; !st && i < 5; i++) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(plan, keys[i]);
    if (v) cJSON_AddItemToObject(how, keys[i], cJSON_Duplicate(v, 1));
  }
  if (!st) st = ps_cache_build(dataset_dir, cache, how, 0);
  cJSON_Delete(plan);
  cJSON_Delete(how);
  ps_case *cases = NULL;
  int n = 0, n_classes = 0;
  if (!st) st = ps_study_load_cases(NULL, cache, 0, &cases, &n, &n_classes);
  char *jpath = ps_path_join(study_dir, "journal.jsonl");
  ps_journal *J = NULL;
  if (!st) st = ps_journal_open(jpath, &J);
  free(jpath);
  cJSON *out = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(out, "trials");
  cJSON_AddStringToObject(out, "dataset", dataset_dir);
  cJSON_AddNumberToObject(out, "cases", n);
  int *all = malloc((size_t)(n ? n : 1) * sizeof(int));
  for (int i = 0; all && i < n; i++) all[i] = i;
  /* the proxy trials that were re-trained, their proxy replicates, the full-scale replicates */
  ps_trial **ft = NULL, **pt = NULL, **rt = NULL;
  int n_ft = st ? 0 : ps_journal_phase(J, "full", &ft);
  int n_pt = st ? 0 : ps_journal_phase(J, "proxy", &pt);
  int n_rt = st ? 0 : ps_journal_phase(J, "proxy_rep", &rt);
  int n_sel = 0;
  ps_trial **sel = malloc((size_t)(n_ft + n_pt + n_rt + 1) * sizeof *sel);
  if (!sel && !st) st = ps_error(PS_ERR_NOMEM, "out of memory");
  for (int i = 0; sel && i < n_pt; i++) {
    bool retrained = false;
    for (int j = 0; j < n_ft && !retrained; j++) retrained = ft[j]->ref == pt[i]->number;
    /* a one-shot search trial (trained under a plugin) holds the search's network, not a model of a config */
    char *pl = ps_strfmt("%s/trials/%04d/plugins.json", study_dir, pt[i]->number);
    if (retrained && !ps_path_exists(pl)) sel[n_sel++] = pt[i];
    free(pl);
  }
  for (int i = 0; sel && i < n_rt; i++) sel[n_sel++] = rt[i];
  for (int i = 0; sel && i < n_ft; i++) sel[n_sel++] = ft[i];
  for (int i = 0; i < n_sel && !st; i++) {
    ps_trial *t = sel[i];
    if (t->state != PS_TRIAL_COMPLETE) continue;
    char *ck = ps_strfmt("%s/trials/%04d/checkpoint.h5", study_dir, t->number);
    char *cp = ps_strfmt("%s/trials/%04d/config.json", study_dir, t->number);
    if (!ps_path_exists(ck)) {
      ps_warn("external validation: trial %d left no checkpoint; not scored", t->number);
      free(ck);
      free(cp);
      continue;
    }
    ps_net *net = NULL;
    cJSON *cfg = NULL;
    ps_tape *tape = ps_tape_create();
    ps_val_result v = {0};
    st = ps_checkpoint_load_net(ck, &net);
    if (!st) st = ps_json_read(cp, &cfg);
    if (!st) st = ps_validate(net, tape, cfg, cases, all, n, n_classes, &v);
    if (!st) {
      cJSON *o = cJSON_CreateObject();
      cJSON_AddNumberToObject(o, "trial", t->number);
      cJSON_AddStringToObject(o, "phase", t->phase);
      cJSON_AddNumberToObject(o, "ref", t->ref >= 0 ? t->ref : t->number);
      cJSON_AddNumberToObject(o, "internal_dice", t->value);
      cJSON_AddNumberToObject(o, "external_dice", v.mean_dice);
      cJSON_AddItemToArray(arr, o);
      ps_info("external validation: trial %d (%s) Dice %.4f (internal %.4f)", t->number, t->phase, v.mean_dice, t->value);
    }
    ps_val_result_free(&v);
    ps_tape_free(tape);
    ps_net_free(net);
    cJSON_Delete(cfg);
    free(ck);
    free(cp);
  }
  if (!st) {
    char *p = ps_path_join(study_dir, "external.json");
    st = ps_json_write(p, out);
    free(p);
  }
  free(ft);
  free(pt);
  free(rt);
  free(sel);
  free(all);
  cJSON_Delete(out);
  ps_journal_free(J);
  ps_study_free_cases(cases, n);
  free(cache);
  return st;
}
