/* The whole study (DESIGN.md "The pipeline"): proxy data → proxy network →
 * search on the proxy → full-scale re-training of the winner and a stratified
 * sample of other configs, R seed replicates each (the noise the verdict is
 * judged against) → the full-scale winner kept in best/ → optional: the
 * proxy's two levers separated (factorial), random subsets to compare the
 * ranked one with, a full search for a measured speed-up, external validation
 * of proxy and full models → report. Every phase is journaled, so re-running
 * the same command resumes where it stopped. */
#include "proxyseg/study.h"
#include "proxyseg/dataset.h"
#include "proxyseg/nn.h"
#include "proxyseg/synth.h"
#include "proxyseg/train.h"
#include "study_oneshot.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

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
      const char *volatile_keys[] = {"trials", "budget_seconds", "jobs", "versions", "trial_timeout",
                                     "heartbeat_timeout", "retry_failed", "file_workers"};
      for (int i = 0; i < 8; i++) { cJSON_DeleteItemFromObject(a, volatile_keys[i]); cJSON_DeleteItemFromObject(b, volatile_keys[i]); }
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
  if (given) {
    /* opened now, so a wrong path is an error before the search, not after it */
    ps_dataset *d = NULL;
    ps_status st = ps_dataset_open(given, &d);
    ps_dataset_free(d);
    if (st) return ps_error_prefix(st, "study config '%s'", key);
    *dir = ps_strdup(given);
    return PS_OK;
  }
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


/* What the stages of one study share. */
typedef struct {
  cJSON *cfg;
  const char *out;
  ps_study_ctx ctx;
  cJSON *proxy_cfg, *full_cfg, *kept;
  char *dataset, *external;
  ps_space *space;              /* NULL: a one-shot algorithm that takes none */
  const ps_oneshot_algo *one;   /* the one-shot algorithm, NULL for a ranking search */
  uint64_t seed;
  int jobs, P, R;
  ps_journal *J;       /* open while chosen[] is in use */
  ps_trial **sorted, **chosen;
  int k;
} study_run;

static ps_rerun_opts rerun_opts(const study_run *S, const char *phase, int reps, const cJSON *side,
                                const cJSON *train_ids, bool keep) {
  ps_rerun_opts o = {S->out, phase, S->chosen, S->k, reps, S->jobs, side, S->seed, S->ctx.cache_dir,
                     train_ids, S->ctx.val_ids, keep};
  return o;
}

static ps_status stage_setup(study_run *S, const cJSON *user_cfg) {
  S->cfg = ps_study_config_defaults();
  const cJSON *it;
  cJSON_ArrayForEach(it, user_cfg)
    if (!cJSON_GetObjectItemCaseSensitive(S->cfg, it->string))
      return ps_error(PS_ERR_INVALID, "study config: unknown key '%s'", it->string);
  ps_json_merge(S->cfg, user_cfg);
  S->one = ps_oneshot_find(ps_json_str(S->cfg, "algo", NULL));
  /* a one-shot algorithm searches its own space unless the config names one */
  if (S->one && !cJSON_GetObjectItemCaseSensitive(user_cfg, "space"))
    cJSON_ReplaceItemInObject(S->cfg, "space", S->one->space ? cJSON_CreateString(S->one->space) : cJSON_CreateNull());
  cJSON *chk = cJSON_Duplicate(S->cfg, 1);
  if (cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(chk, "space"))) cJSON_DeleteItemFromObjectCaseSensitive(chk, "space");
  ps_status st = ps_study_config_check(chk); /* null (no space) is only ever set here */
  cJSON_Delete(chk);
  if (!st) st = ps_mkdir_p(S->out);
  if (!st) st = side_config(S->cfg, "proxy_train", &S->proxy_cfg);
  if (!st) st = side_config(S->cfg, "full_train", &S->full_cfg);
  if (!st && S->one && S->one->proxy_config) st = S->one->proxy_config(S->cfg, S->proxy_cfg);
  if (!st) st = shrink_net(S->proxy_cfg, cJSON_GetObjectItemCaseSensitive(S->cfg, "proxy_net"));
  const cJSON *space = cJSON_GetObjectItemCaseSensitive(S->cfg, "space");
  if (!st && !cJSON_IsNull(space)) st = ps_study_space(space, NULL, &S->space);
  /* a one-shot search's policies do not start from the config's values */
  if (!st && !S->one) st = ps_space_check(S->space, S->proxy_cfg);
  /* datasets before study.json: a wrong path must not leave a study behind */
  if (!st) st = ensure_dataset(S->cfg, S->out, "dataset", "generate", 'a', &S->dataset);
  if (!st && !S->dataset) st = ps_error(PS_ERR_INVALID, "study config: give 'dataset' (a folder) or 'generate'");
  if (!st) st = ensure_dataset(S->cfg, S->out, "external", "generate_external", 'b', &S->external);
  if (!st) {
    /* every default written out, the resolved sides too */
    cJSON_ReplaceItemInObject(S->cfg, "space", S->space ? ps_space_to_json(S->space) : cJSON_CreateNull());
    cJSON *resolved = cJSON_AddObjectToObject(S->cfg, "resolved");
    cJSON_AddItemToObject(resolved, "proxy_train", cJSON_Duplicate(S->proxy_cfg, 1));
    cJSON_AddItemToObject(resolved, "full_train", cJSON_Duplicate(S->full_cfg, 1));
    st = write_study_json(S->out, S->cfg);
  }
  S->seed = (uint64_t)ps_json_num(S->cfg, "seed", 0);
  S->jobs = ps_json_int(S->cfg, "jobs", 1);
  S->R = ps_json_int(S->cfg, "retrain.replicates", 2);
  S->P = ps_json_int(S->cfg, "retrain.proxy_replicates", 1);
  return st;
}

static ps_status stage_proxy_search(study_run *S, ps_phase_opts *po) {
  po->study_dir = S->out;
  po->phase = "proxy";
  po->space = S->space;
  po->algo = ps_json_str(S->cfg, "algo", "random");
  po->algo_opts = cJSON_GetObjectItemCaseSensitive(S->cfg, "algo_opts");
  po->n_trials = ps_json_int(S->cfg, "trials", 12);
  po->budget_seconds = ps_json_num(S->cfg, "budget_seconds", 0);
  po->jobs = S->jobs;
  po->seed = S->seed;
  po->base_config = S->proxy_cfg;
  po->cache_dir = S->ctx.cache_dir;
  po->train_ids = S->kept;
  po->val_ids = S->ctx.val_ids;
  po->pruner = ps_json_str(S->cfg, "pruner", "none");
  po->keep_checkpoints = S->external != NULL; /* proxy models are scored externally too */
  char *wck = NULL;
  ps_status st = PS_OK;
  if (ps_json_bool(S->cfg, "warm_start", false))
    st = ps_study_warm_start(S->out, S->proxy_cfg, S->ctx.cache_dir, S->kept, S->ctx.val_ids, &wck);
  po->warm_start = wck;
  if (!st) ps_info("proxy search: %s, %d trials, network width x%.2f depth -%d", po->algo, po->n_trials,
                   ps_json_num(S->cfg, "proxy_net.width", 1), ps_json_int(S->cfg, "proxy_net.depth", 0));
  if (!st) st = ps_search_phase(po);
  free(wck);
  po->warm_start = NULL;
  return st;
}

/* The proxy's winner plus count-1 others spread evenly over the proxy ranking. */
static ps_status stage_choose(study_run *S) {
  char *jpath = ps_path_join(S->out, "journal.jsonl");
  ps_status st = ps_journal_open(jpath, &S->J);
  free(jpath);
  if (st) return st;
  int m = completed_sorted(S->J, "proxy", &S->sorted);
  if (m == 0) return ps_error(PS_ERR_RUNTIME, "no proxy trial completed; nothing to re-train (see trials/*/log.txt)");
  int count = ps_json_int(S->cfg, "retrain.count", 6);
  if (count > m) count = m;
  S->chosen = calloc((size_t)count, sizeof *S->chosen);
  if (!S->chosen) return ps_error(PS_ERR_NOMEM, "out of memory");
  S->chosen[0] = S->sorted[0];
  for (int i = 1; i < count; i++) S->chosen[i] = S->sorted[(int)lround((double)i * (m - 1) / (count - 1))];
  S->k = count;
  return PS_OK;
}

static ps_status stage_retrain(study_run *S) {
  bool ext = S->external != NULL;
  ps_status st = PS_OK;
  if (S->P > 1) {
    ps_info("proxy replicates: %d more run(s) of each of the %d chosen configurations on the proxy", S->P - 1, S->k);
    ps_rerun_opts o = rerun_opts(S, "proxy_rep", S->P - 1, S->proxy_cfg, S->kept, ext);
    st = ps_study_rerun(&o);
  }
  if (!st) {
    ps_info("re-training %d configurations at full scale, %d seed replicate(s) each (the proxy's winner, trial %d, "
            "and %d others)", S->k, S->R, S->chosen[0]->number, S->k - 1);
    ps_rerun_opts o = rerun_opts(S, "full", S->R, S->full_cfg, S->ctx.train_ids, true);
    st = ps_study_rerun(&o);
  }
  if (!st) st = ps_study_keep_best(S->out);
  return st;
}

/* A one-shot search ranks nothing: its result and the algorithm's baselines
 * are re-trained at full scale, R seed replicates each (study_oneshot.c). */
static ps_status stage_oneshot(study_run *S) {
  int search;
  ps_status st = ps_oneshot_search_trial(S->out, &search);
  if (st) return st;
  ps_oneshot_retrain_opts o = {S->one, S->out, search, S->R, S->jobs, S->full_cfg, S->seed, S->ctx.cache_dir,
                               S->ctx.train_ids, S->ctx.val_ids};
  st = ps_oneshot_retrain(&o);
  if (!st) st = ps_study_keep_best(S->out);
  return st;
}

/* The proxy's two levers separated (the proxy paper's table): proxy data with
 * the full network, and the proxy network with all the data. */
static ps_status stage_factorial(study_run *S) {
  if (!ps_json_bool(S->cfg, "factorial", false)) return PS_OK;
  cJSON *data_only = cJSON_Duplicate(S->full_cfg, 1), *net_only = cJSON_Duplicate(S->proxy_cfg, 1);
  /* each cell keeps the schedule of its network's side: only the data (or only the network) changes */
  ps_info("factorial: the %d configurations with proxy data only, then with the proxy network only", S->k);
  ps_rerun_opts o = rerun_opts(S, "factorial_data", S->P, data_only, S->kept, false);
  ps_status st = ps_study_rerun(&o);
  if (!st) {
    o = rerun_opts(S, "factorial_net", S->P, net_only, S->ctx.train_ids, false);
    st = ps_study_rerun(&o);
  }
  cJSON_Delete(data_only);
  cJSON_Delete(net_only);
  return st;
}

/* The ranked subset against other subsets of the same size: a random subset's
 * result is itself a random variable, so random draws come several at a time. */
static ps_status stage_compare(study_run *S) {
  const cJSON *cmp = cJSON_GetObjectItemCaseSensitive(S->cfg, "compare_proxy_data");
  if (!cJSON_IsObject(cmp)) return PS_OK;
  const char *method = ps_json_str(cmp, "method", "random");
  int draws = ps_json_int(cmp, "draws", strcmp(method, "random") ? 1 : 3);
  ps_status st = PS_OK;
  for (int d = 1; d <= draws && !st; d++) {
    cJSON *opts = cJSON_Duplicate(cmp, 1), *kept2 = NULL;
    if (!cJSON_GetObjectItemCaseSensitive(opts, "fraction"))
      ps_json_set(opts, "fraction", cJSON_CreateNumber(ps_json_num(S->cfg, "proxy_data.fraction", 0.5)));
    /* draws from compare_proxy_data.seed when given (it was silently ignored), else the study's seed */
    uint64_t base = cJSON_GetObjectItemCaseSensitive(cmp, "seed") ? (uint64_t)ps_json_num(cmp, "seed", 0) : S->seed;
    ps_json_set(opts, "seed", cJSON_CreateNumber((double)(ps_seed_derive(base, 1000 + (uint64_t)d) & 0x7fffffff)));
    char *file = ps_strfmt("%s/proxy/cases_compare_%d.json", S->out, d);
    char phase[24];
    snprintf(phase, sizeof phase, "compare_%d", d);
    st = ps_study_proxy_data(&S->ctx, opts, file, &kept2);
    if (!st) {
      ps_info("comparison %d/%d: the %d configurations on a '%s' subset", d, draws, S->k, method);
      ps_rerun_opts o = rerun_opts(S, phase, 1, S->proxy_cfg, kept2, false);
      st = ps_study_rerun(&o);
    }
    free(file);
    cJSON_Delete(opts);
    cJSON_Delete(kept2);
  }
  return st;
}

/* timing.json: what is not in the journal. Preprocessing is kept from the run
 * that did it (a resumed run finds the cache and takes a moment). */
static ps_status write_timing(const study_run *S, double t_prep, double wall) {
  char *tp = ps_path_join(S->out, "timing.json");
  cJSON *old = NULL, *timing = cJSON_CreateObject();
  if (ps_path_exists(tp) && ps_json_read(tp, &old)) old = NULL;
  double prev = ps_json_num(old, "preprocessing_seconds", 0);
  cJSON_AddNumberToObject(timing, "preprocessing_seconds", prev > t_prep ? prev : t_prep);
  cJSON_AddNumberToObject(timing, "study_wall_seconds_this_run", wall);
  ps_status st = ps_json_write(tp, timing);
  free(tp);
  cJSON_Delete(timing);
  cJSON_Delete(old);
  return st;
}

ps_status ps_study_run(const cJSON *user_cfg, const char *out_dir) {
  double t_start = ps_now();
  study_run S;
  memset(&S, 0, sizeof S);
  S.out = out_dir;
  ps_study_lock *lock = NULL;
  ps_status st = ps_study_lock_driver(out_dir, &lock);
  if (!st) st = stage_setup(&S, user_cfg);
  if (!st) {
    ps_exec_opts ex = {ps_json_num(S.cfg, "trial_timeout", 0), ps_json_num(S.cfg, "heartbeat_timeout", 60),
                       ps_json_bool(S.cfg, "retry_failed", false), ps_json_bool(S.cfg, "file_workers", false)};
    ps_exec_configure(&ex);
  }
  double t_prep = ps_now();
  if (!st) st = ps_study_ctx_open(S.dataset, out_dir, S.full_cfg, &S.ctx);
  t_prep = ps_now() - t_prep;
  char *cases_json = ps_path_join(out_dir, "proxy/cases.json");
  if (!st) st = ps_study_proxy_data(&S.ctx, cJSON_GetObjectItemCaseSensitive(S.cfg, "proxy_data"), cases_json, &S.kept);
  free(cases_json);
  if (!st) ps_info("proxy data: %d of %d training cases kept (%s)", cJSON_GetArraySize(S.kept),
                   cJSON_GetArraySize(S.ctx.train_ids), ps_json_str(S.cfg, "proxy_data.method", "?"));
  ps_phase_opts po = {0};
  if (!st) st = stage_proxy_search(&S, &po);
  if (!st && S.one) st = stage_oneshot(&S);
  if (!st && !S.one) st = stage_choose(&S);
  if (!st && !S.one) st = stage_retrain(&S);
  if (!st && !S.one) st = stage_factorial(&S);
  if (!st && !S.one) st = stage_compare(&S);
  if (!st && !S.one && ps_json_bool(S.cfg, "validate_full", false)) {
    /* measured speed-up: the same search at full scale */
    ps_phase_opts fo = po;
    fo.phase = "full_search";
    fo.base_config = S.full_cfg;
    fo.train_ids = S.ctx.train_ids;
    fo.keep_checkpoints = false;
    ps_info("validate_full: running the same search at full scale");
    st = ps_search_phase(&fo);
  }
  if (!st && S.external) st = ps_study_external(out_dir, S.external, &S.ctx);
  if (!st) st = write_timing(&S, t_prep, ps_now() - t_start);
  if (!st) st = ps_study_report(out_dir, NULL);
  free(S.sorted);
  free(S.chosen);
  ps_journal_free(S.J);
  free(S.dataset);
  free(S.external);
  cJSON_Delete(S.kept);
  cJSON_Delete(S.proxy_cfg);
  cJSON_Delete(S.full_cfg);
  ps_space_free(S.space);
  ps_study_ctx_close(&S.ctx);
  cJSON_Delete(S.cfg);
  ps_study_lock_release(lock);
  return st;
}
