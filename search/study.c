/* The whole study (DESIGN.md "The pipeline"): proxy data → proxy network →
 * search on the proxy → full-scale re-training of the winner and a stratified
 * sample of other configs → (optional) full search for a measured speed-up,
 * a second proxy subset for comparison, external validation → report. Every
 * phase is journaled, so re-running the same command resumes where it stopped. */
#include "proxyseg/study.h"
#include "proxyseg/nn.h"
#include "proxyseg/synth.h"
#include "proxyseg/train.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *study_defaults =
    "{"
    "\"dataset\": null,"
    "\"generate\": {\"cases\": 24, \"size\": 48, \"seed\": 0, \"modality\": \"CT\"},"
    "\"external\": null,"
    "\"generate_external\": null,"
    "\"space\": \"lr_aug\","
    "\"algo\": \"random\", \"algo_opts\": {},"
    "\"trials\": 12, \"budget_seconds\": 0, \"jobs\": 1, \"seed\": 0, \"pruner\": \"none\","
    "\"proxy_data\": {\"method\": \"kcenter\", \"fraction\": 0.5, \"keep\": \"diverse\"},"
    "\"proxy_net\": {\"width\": 0.5, \"depth\": 1},"
    "\"train\": {},"
    "\"proxy_train\": {},"
    "\"full_train\": {},"
    "\"retrain\": {\"count\": 6},"
    "\"validate_full\": false,"
    "\"compare_proxy_data\": null,"
    "\"warm_start\": false"
    "}";

cJSON *ps_study_config_defaults(void) { return cJSON_Parse(study_defaults); }

/* The training config of one side (proxy or full): defaults ⊕ train ⊕ side overrides. */
static ps_status side_config(const cJSON *study, const char *side_key, cJSON **out) {
  cJSON *cfg = ps_train_config_defaults();
  ps_json_merge(cfg, cJSON_GetObjectItemCaseSensitive(study, "train"));
  ps_json_merge(cfg, cJSON_GetObjectItemCaseSensitive(study, side_key));
  ps_status st = ps_train_config_validate(cfg);
  if (st) { cJSON_Delete(cfg); return ps_error_prefix(st, "study config '%s'", side_key); }
  *out = cfg;
  return PS_OK;
}

/* The proxy side's network: the one shrinking function of the engine. */
static ps_status shrink_net(cJSON *cfg, const cJSON *proxy_net) {
  cJSON *small = NULL;
  ps_status st = ps_arch_shrink(cJSON_GetObjectItemCaseSensitive(cfg, "net"), ps_json_num(proxy_net, "width", 1),
                                ps_json_int(proxy_net, "depth", 0), &small);
  if (st) return st;
  ps_json_set(cfg, "net", small);
  return PS_OK;
}

/* Completed trials of a phase, sorted by score (descending). */
static int completed_sorted(ps_journal *J, const char *phase, ps_trial ***out) {
  ps_trial **all;
  int n = ps_journal_phase(J, phase, &all), m = 0;
  for (int i = 0; i < n; i++)
    if (all[i]->state == PS_TRIAL_COMPLETE && isfinite(all[i]->value)) all[m++] = all[i];
  for (int a = 1; a < m; a++)
    for (int b = a; b > 0 && all[b - 1]->value < all[b]->value; b--) {
      ps_trial *t = all[b];
      all[b] = all[b - 1];
      all[b - 1] = t;
    }
  *out = all;
  return m;
}

/* The proxy's winner plus count-1 others spread evenly over the proxy ranking. */
static int choose_retrain(ps_trial **sorted, int m, int count, ps_trial **chosen) {
  if (count > m) count = m;
  if (count <= 0) return 0;
  chosen[0] = sorted[0];
  for (int i = 1; i < count; i++) {
    int r = (int)lround((double)i * (m - 1) / (count - 1));
    chosen[i] = sorted[r];
  }
  return count;
}

/* Re-run the given proxy trials' params on another side (full scale, or another subset). */
static ps_status rerun_trials(const char *study_dir, const char *phase, ps_trial **src, int k, const cJSON *side_cfg,
                              uint64_t seed, ps_study_ctx *ctx, const cJSON *train_ids, bool keep_ckpt, int jobs) {
  int first;
  ps_status st = ps_study_phase_first_number(study_dir, phase, &first);
  if (st) return st;
  const cJSON **cfgs = calloc((size_t)k + 1, sizeof *cfgs), **params = calloc((size_t)k + 1, sizeof *params);
  int *refs = calloc((size_t)k + 1, sizeof *refs);
  if (!cfgs || !params || !refs) { free(cfgs); free(params); free(refs); return ps_error(PS_ERR_NOMEM, "out of memory"); }
  for (int i = 0; i < k; i++) {
    cJSON *c = cJSON_Duplicate(side_cfg, 1);
    const cJSON *it;
    cJSON_ArrayForEach(it, src[i]->params) ps_json_set(c, it->string, cJSON_Duplicate(it, 1));
    ps_json_set(c, "seed", cJSON_CreateNumber((double)ps_trial_seed(seed, first + i)));
    cfgs[i] = c;
    params[i] = src[i]->params;
    refs[i] = src[i]->number;
  }
  st = ps_run_configs(study_dir, phase, first, cfgs, refs, params, k, jobs, ctx->cache_dir, train_ids, ctx->val_ids, keep_ckpt);
  for (int i = 0; i < k; i++) cJSON_Delete((cJSON *)cfgs[i]);
  free(cfgs);
  free(params);
  free(refs);
  return st;
}

/* study.json: the resolved configuration. An existing one must agree, or the
 * folder belongs to another study. */
static ps_status write_study_json(const char *out_dir, const cJSON *cfg) {
  char *p = ps_path_join(out_dir, "study.json");
  ps_status st = PS_OK;
  if (ps_path_exists(p)) {
    cJSON *old = NULL;
    st = ps_json_read(p, &old);
    if (!st) {
      cJSON *a = cJSON_Duplicate(old, 1), *b = cJSON_Duplicate(cfg, 1);
      /* the budget may grow between runs; everything else must match */
      const char *volatile_keys[] = {"trials", "budget_seconds", "jobs", "versions"};
      for (int i = 0; i < 4; i++) { cJSON_DeleteItemFromObject(a, volatile_keys[i]); cJSON_DeleteItemFromObject(b, volatile_keys[i]); }
      if (!cJSON_Compare(a, b, 1))
        st = ps_error(PS_ERR_INVALID, "%s: this folder holds a study with another configuration; use a new --out folder", p);
      cJSON_Delete(a);
      cJSON_Delete(b);
    }
    cJSON_Delete(old);
  }
  if (!st) st = ps_json_write(p, cfg);
  free(p);
  return st;
}

static ps_status ensure_dataset(cJSON *cfg, const char *out_dir, const char *key, const char *gen_key, char site,
                                char **dir) {
  *dir = NULL;
  const char *given = ps_json_str(cfg, key, NULL);
  if (given) { *dir = ps_strdup(given); return PS_OK; }
  const cJSON *gen = cJSON_GetObjectItemCaseSensitive(cfg, gen_key);
  if (!cJSON_IsObject(gen)) return PS_OK;
  ps_synth_opts o;
  ps_synth_opts_default(&o);
  o.cases = ps_json_int(gen, "cases", o.cases);
  o.size = ps_json_int(gen, "size", o.size);
  o.seed = (uint64_t)ps_json_num(gen, "seed", (double)o.seed) + (site == 'b' ? 1000 : 0);
  o.site = site;
  o.modality = ps_json_str(gen, "modality", "CT");
  *dir = ps_strfmt("%s/dataset%s", out_dir, site == 'b' ? "_site_b" : "");
  char *dj = ps_path_join(*dir, "dataset.json");
  ps_status st = PS_OK;
  if (!ps_path_exists(dj)) {
    ps_info("generating a synthetic task (%d cases of %d^3, site %c) in %s", o.cases, o.size, site, *dir);
    st = ps_synth_generate(&o, *dir);
  }
  free(dj);
  return st;
}

ps_status ps_study_run(const cJSON *user_cfg, const char *out_dir) {
  double t_start = ps_now();
  cJSON *cfg = ps_study_config_defaults();
  const cJSON *it;
  cJSON_ArrayForEach(it, user_cfg) {
    if (!cJSON_GetObjectItemCaseSensitive(cfg, it->string)) {
      cJSON_Delete(cfg);
      return ps_error(PS_ERR_INVALID, "study config: unknown key '%s'", it->string);
    }
  }
  ps_json_merge(cfg, user_cfg);
  ps_status st = ps_mkdir_p(out_dir);
  char *dataset = NULL, *external = NULL;
  cJSON *proxy_cfg = NULL, *full_cfg = NULL, *kept = NULL;
  ps_space *space = NULL;
  ps_study_ctx ctx;
  memset(&ctx, 0, sizeof ctx);
  if (!st) st = side_config(cfg, "proxy_train", &proxy_cfg);
  if (!st) st = side_config(cfg, "full_train", &full_cfg);
  if (!st) st = shrink_net(proxy_cfg, cJSON_GetObjectItemCaseSensitive(cfg, "proxy_net"));
  if (!st) st = ps_study_space(cJSON_GetObjectItemCaseSensitive(cfg, "space"), NULL, &space);
  if (!st) {
    /* every default written out, the resolved sides too */
    cJSON_ReplaceItemInObject(cfg, "space", ps_space_to_json(space));
    cJSON *resolved = cJSON_AddObjectToObject(cfg, "resolved");
    cJSON_AddItemToObject(resolved, "proxy_train", cJSON_Duplicate(proxy_cfg, 1));
    cJSON_AddItemToObject(resolved, "full_train", cJSON_Duplicate(full_cfg, 1));
    st = write_study_json(out_dir, cfg);
  }
  if (!st) st = ensure_dataset(cfg, out_dir, "dataset", "generate", 'a', &dataset);
  if (!st && !dataset) st = ps_error(PS_ERR_INVALID, "study config: give 'dataset' (a folder) or 'generate'");
  if (!st) st = ensure_dataset(cfg, out_dir, "external", "generate_external", 'b', &external);
  double t_prep = ps_now();
  if (!st) st = ps_study_ctx_open(dataset, out_dir, full_cfg, &ctx);
  t_prep = ps_now() - t_prep;
  uint64_t seed = (uint64_t)ps_json_num(cfg, "seed", 0);
  int jobs = ps_json_int(cfg, "jobs", 1);
  char *cases_json = ps_path_join(out_dir, "proxy/cases.json");
  double t_pd = ps_now();
  if (!st) st = ps_study_proxy_data(&ctx, cJSON_GetObjectItemCaseSensitive(cfg, "proxy_data"), cases_json, &kept);
  t_pd = ps_now() - t_pd;
  if (!st) ps_info("proxy data: %d of %d training cases kept (%s)", cJSON_GetArraySize(kept),
                   cJSON_GetArraySize(ctx.train_ids), ps_json_str(cfg, "proxy_data.method", "?"));
  ps_phase_opts po = {0};
  if (!st) {
    po.study_dir = out_dir;
    po.phase = "proxy";
    po.space = space;
    po.algo = ps_json_str(cfg, "algo", "random");
    po.algo_opts = cJSON_GetObjectItemCaseSensitive(cfg, "algo_opts");
    po.n_trials = ps_json_int(cfg, "trials", 12);
    po.budget_seconds = ps_json_num(cfg, "budget_seconds", 0);
    po.jobs = jobs;
    po.seed = seed;
    po.base_config = proxy_cfg;
    po.cache_dir = ctx.cache_dir;
    po.train_ids = kept;
    po.val_ids = ctx.val_ids;
    po.pruner = ps_json_str(cfg, "pruner", "none");
    char *wck = NULL;
    if (ps_json_bool(cfg, "warm_start", false))
      st = ps_study_warm_start(out_dir, proxy_cfg, ctx.cache_dir, kept, ctx.val_ids, &wck);
    po.warm_start = wck;
    if (!st) ps_info("proxy search: %s, %d trials, network width x%.2f depth -%d", po.algo, po.n_trials,
            ps_json_num(cfg, "proxy_net.width", 1), ps_json_int(cfg, "proxy_net.depth", 0));
    if (!st) st = ps_search_phase(&po);
    free(wck);
    po.warm_start = NULL;
  }
  /* full-scale re-training of the winner and a stratified sample */
  char *jpath = ps_path_join(out_dir, "journal.jsonl");
  ps_journal *J = NULL;
  if (!st) st = ps_journal_open(jpath, &J);
  if (!st) {
    ps_trial **sorted;
    int m = completed_sorted(J, "proxy", &sorted);
    int count = ps_json_int(cfg, "retrain.count", 6);
    ps_trial **chosen = calloc((size_t)(count > 0 ? count : 1), sizeof *chosen);
    int k = chosen ? choose_retrain(sorted, m, count, chosen) : 0;
    if (m == 0) st = ps_error(PS_ERR_RUNTIME, "no proxy trial completed; nothing to re-train (see trials/*/log.txt)");
    if (!st) {
      ps_info("re-training %d configurations at full scale (the proxy's winner, trial %d, and %d others)", k, chosen[0]->number, k - 1);
      st = rerun_trials(out_dir, "full", chosen, k, full_cfg, seed, &ctx, ctx.train_ids, external != NULL, jobs);
    }
    /* comparison mode: the same configs on another proxy subset */
    const cJSON *cmp = cJSON_GetObjectItemCaseSensitive(cfg, "compare_proxy_data");
    if (!st && cJSON_IsObject(cmp)) {
      cJSON *kept2 = NULL;
      char *cases2 = ps_path_join(out_dir, "proxy/cases_compare.json");
      st = ps_study_proxy_data(&ctx, cmp, cases2, &kept2);
      free(cases2);
      if (!st) {
        ps_info("comparison: re-running the %d configs on the '%s' subset", k, ps_json_str(cmp, "method", "?"));
        st = rerun_trials(out_dir, "proxy_compare", chosen, k, proxy_cfg, seed, &ctx, kept2, false, jobs);
      }
      cJSON_Delete(kept2);
    }
    free(sorted);
    free(chosen);
  }
  ps_journal_free(J);
  J = NULL;
  /* measured speed-up: the same search at full scale */
  if (!st && ps_json_bool(cfg, "validate_full", false)) {
    ps_phase_opts fo = po;
    fo.phase = "full_search";
    fo.base_config = full_cfg;
    fo.train_ids = ctx.train_ids;
    ps_info("validate_full: running the same search at full scale");
    st = ps_search_phase(&fo);
  }
  /* external validation of the full-scale models */
  if (!st && external) st = ps_study_external(out_dir, external, &ctx);
  if (!st) {
    cJSON *timing = cJSON_CreateObject();
    cJSON_AddNumberToObject(timing, "preprocessing_seconds", t_prep);
    cJSON_AddNumberToObject(timing, "proxy_data_seconds", t_pd);
    cJSON_AddNumberToObject(timing, "study_wall_seconds_this_run", ps_now() - t_start);
    char *tp = ps_path_join(out_dir, "timing.json");
    st = ps_json_write(tp, timing);
    free(tp);
    cJSON_Delete(timing);
  }
  if (!st) st = ps_study_report(out_dir, NULL);
  free(jpath);
  free(cases_json);
  free(dataset);
  free(external);
  cJSON_Delete(kept);
  cJSON_Delete(proxy_cfg);
  cJSON_Delete(full_cfg);
  ps_space_free(space);
  ps_study_ctx_close(&ctx);
  cJSON_Delete(cfg);
  return st;
}
