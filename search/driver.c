/* The search driver (see study.h): ask → config → trial process → journal →
 * tell, with up to `jobs` trials at once, resumable by replaying the journal. */
#include "proxyseg/study.h"
#include "trial_exec.h"
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

uint64_t ps_trial_seed(uint64_t study_seed, int number) { return ps_seed_derive(study_seed, (uint64_t)number) & 0x7fffffffu; }

char *ps_trial_dir(const char *study_dir, int number) { return ps_strfmt("%s/trials/%04d", study_dir, number); }

typedef struct {
  const char *study_dir, *phase, *cache_dir, *pruner, *warm_start;
  const cJSON *train_ids, *val_ids;
  bool keep_checkpoints;
  ps_journal *journal;
  ps_pool *pool;
  /* progress lines: "trial 7/12 COMPLETE 0.744 (best #9 0.781), ETA 3 min" */
  int total;          /* trials this phase will have (0: unknown, e.g. a time budget) */
  int n_ended;        /* trials of this phase ended, earlier runs included */
  int n_ended_here;   /* ... by this process, for the ETA */
  int best_trial;     /* -1: none yet */
  double best, t0;
} pool;

/* Counts the ended trials of this phase numbered lo..hi-1 and the best so far
 * (a resumed study goes on counting). */
static void progress_init(pool *P, int total, int lo, int hi) {
  P->total = total;
  P->best_trial = -1;
  P->t0 = ps_now();
  for (int i = 0; i < P->journal->n; i++) {
    const ps_trial *t = &P->journal->trials[i];
    if (strcmp(t->phase, P->phase) || t->state == PS_TRIAL_RUNNING || t->number < lo || t->number >= hi) continue;
    P->n_ended++;
    if (t->state != PS_TRIAL_FAIL && isfinite(t->value) && (P->best_trial < 0 || t->value > P->best)) {
      P->best = t->value;
      P->best_trial = t->number;
    }
  }
}

static void progress_line(pool *P, const ps_running *done, const ps_trial_outcome *out) {
  P->n_ended++;
  P->n_ended_here++;
  if (out->state != PS_TRIAL_FAIL && isfinite(out->value) && (P->best_trial < 0 || out->value > P->best)) {
    P->best = out->value;
    P->best_trial = done->number;
  }
  char of[32] = "", best[64] = "", eta[48] = "";
  if (P->total > 0) snprintf(of, sizeof of, "/%d", P->total);
  if (P->best_trial >= 0) snprintf(best, sizeof best, " (best #%d %.3f)", P->best_trial, P->best);
  int left = P->total - P->n_ended;
  if (P->total > 0 && left > 0) {
    double s = (ps_now() - P->t0) / P->n_ended_here * left; /* wall time per trial here, concurrency included */
    if (s >= 90) snprintf(eta, sizeof eta, ", ETA %.0f min", s / 60);
    else snprintf(eta, sizeof eta, ", ETA %.0f s", s);
  }
  const char *state = ps_trial_state_name(out->state);
  /* the count first (how far the phase is), then the trial's own number */
  if (out->state == PS_TRIAL_FAIL)
    ps_warn("%s %d%s: trial %d FAIL: %s%s%s", P->phase, P->n_ended, of, done->number,
            ps_json_str(out->fields, "reason", ""), best, eta);
  else
    ps_info("%s %d%s: trial %d %s %.4f in %.1f s%s%s", P->phase, P->n_ended, of, done->number, state, out->value,
            out->seconds, best, eta);
}

/* trials/NNNN/config.json (the training config) and job.json (what the child
 * needs besides it). A stale result.json from a killed run is removed. */
static ps_status prepare_trial(pool *P, int number, int ref, const cJSON *config) {
  char *dir = ps_trial_dir(P->study_dir, number);
  ps_status st = ps_mkdir_p(dir);
  char *cfg_path = ps_path_join(dir, "config.json"), *job_path = ps_path_join(dir, "job.json");
  char *res_path = ps_path_join(dir, "result.json"), *journal_path = ps_path_join(P->study_dir, "journal.jsonl");
  if (!st) st = ps_json_write(cfg_path, config);
  if (!st) {
    cJSON *job = cJSON_CreateObject();
    cJSON_AddNumberToObject(job, "trial", number);
    cJSON_AddStringToObject(job, "phase", P->phase);
    if (ref >= 0) cJSON_AddNumberToObject(job, "ref", ref);
    cJSON_AddStringToObject(job, "cache_dir", P->cache_dir);
    cJSON_AddItemToObject(job, "train_cases", cJSON_Duplicate(P->train_ids, 1));
    cJSON_AddItemToObject(job, "val_cases", cJSON_Duplicate(P->val_ids, 1));
    cJSON_AddStringToObject(job, "pruner", P->pruner ? P->pruner : "none");
    cJSON_AddStringToObject(job, "journal", journal_path);
    if (P->warm_start) cJSON_AddStringToObject(job, "warm_start", P->warm_start);
    cJSON_AddBoolToObject(job, "keep_checkpoint", P->keep_checkpoints);
    st = ps_json_write(job_path, job);
    cJSON_Delete(job);
  }
  remove(res_path);
  free(cfg_path); free(job_path); free(res_path); free(journal_path); free(dir);
  return st;
}

/* Concurrent trials share the cores: a trial left at threads=0 ("all cores")
 * gets the executor's share, because busy-waiting OpenMP threads collapse when
 * oversubscribed (measured: 3-10x slower steps). */
static cJSON *with_thread_share(const cJSON *config, int share) {
  cJSON *c = cJSON_Duplicate(config, 1);
  if (share > 0 && ps_json_int(c, "threads", 0) == 0) ps_json_set(c, "threads", cJSON_CreateNumber(share));
  return c;
}

static ps_status launch(pool *P, int number, int ref, const cJSON *params, const double *x, int d, const cJSON *config,
                        uint64_t seed) {
  cJSON *cfg = with_thread_share(config, ps_pool_thread_share(P->pool));
  ps_status st = prepare_trial(P, number, ref, cfg);
  cJSON_Delete(cfg);
  if (!st) st = ps_journal_start(P->journal, number, P->phase, ref, params, x, d, seed);
  if (!st) st = ps_pool_start(P->pool, number, x, d);
  if (st) return st;
  if (ref >= 0) ps_info("trial %d (%s, re-training trial %d) started", number, P->phase, ref);
  else ps_info("trial %d (%s) started", number, P->phase);
  return PS_OK;
}

/* Wait for one trial; journal its end. Returns the finished slot's copy in *done. */
static ps_status reap(pool *P, ps_running *done, ps_trial_outcome *out) {
  ps_status st = ps_pool_wait(P->pool, done, out);
  if (st) return st;
  st = ps_journal_end(P->journal, done->number, out->state, out->state == PS_TRIAL_FAIL ? NAN : out->value,
                      out->seconds, out->fields);
  progress_line(P, done, out);
  return st;
}

static cJSON *config_for(const ps_space *s, const cJSON *base, const double *x, uint64_t seed, cJSON **params) {
  cJSON *cfg = cJSON_Duplicate(base, 1);
  *params = cJSON_CreateObject();
  for (int i = 0; i < s->n; i++) {
    cJSON *v = ps_space_value(s, i, x[i]);
    cJSON_AddItemToObject(*params, s->params[i].key, cJSON_Duplicate(v, 1));
    ps_json_set(cfg, s->params[i].key, v);
  }
  ps_json_set(cfg, "seed", cJSON_CreateNumber((double)seed));
  return cfg;
}

static bool same_point(const cJSON *xa, const double *x, int d) {
  if (!cJSON_IsArray(xa) || cJSON_GetArraySize(xa) != d) return false;
  for (int i = 0; i < d; i++)
    if (fabs(cJSON_GetArrayItem(xa, i)->valuedouble - x[i]) > 1e-9) return false;
  return true;
}

/* The algorithm's state (for inspection; resume replays the journal) and its
 * report data (e.g. RL's reward curve) after every told trial. */
static void save_algo_state(const ps_algo_vtable *vt, void *state, const char *study_dir, const char *phase) {
  if (vt->report) {
    cJSON *r = vt->report(state);
    char *p = ps_strfmt("%s/algo_report_%s.json", study_dir, phase);
    if (r && ps_json_write(p, r)) ps_warn("%s", ps_last_error());
    free(p);
    cJSON_Delete(r);
  }
  if (!vt->save) return;
  cJSON *j = NULL;
  if (vt->save(state, &j) || !j) return;
  char *p = ps_strfmt("%s/algo_state_%s.json", study_dir, phase);
  if (ps_json_write(p, j)) ps_warn("%s", ps_last_error());
  free(p);
  cJSON_Delete(j);
}

ps_status ps_asng_search_phase(const ps_phase_opts *o); /* asng_search.c: one-shot, one trial */
ps_status ps_gumbel_search_phase(const ps_phase_opts *o); /* gumbel_nas_run.c: one-shot, one trial */

ps_status ps_search_phase(const ps_phase_opts *o) {
  if (o->algo && !strcmp(o->algo, "asng")) return ps_asng_search_phase(o);
  if (o->algo && !strcmp(o->algo, "gumbel-nas")) return ps_gumbel_search_phase(o);
  const ps_algo_vtable *vt = ps_algo_find(o->algo);
  if (!vt) return ps_error(PS_ERR_INVALID, "unknown search algorithm '%s' (known: %s)", o->algo, ps_algo_names());
  int d = o->space->n;
  ps_status st = ps_space_check(o->space, o->base_config);
  if (st) return st;
  char *jpath = ps_path_join(o->study_dir, "journal.jsonl");
  ps_journal *J = NULL;
  st = ps_journal_open(jpath, &J);
  free(jpath);
  if (st) return st;
  void *algo = NULL;
  st = vt->create(o->space, o->algo_opts, o->seed, &algo);
  if (st) { ps_journal_free(J); return st; }
  pool P = {o->study_dir, o->phase, o->cache_dir, o->pruner, o->warm_start, o->train_ids, o->val_ids,
            o->keep_checkpoints, J, NULL, 0, 0, 0, -1, 0, 0};
  progress_init(&P, o->budget_seconds > 0 ? 0 : o->n_trials, 0, INT_MAX);
  st = ps_pool_create(o->study_dir, o->jobs, &P.pool);
  /* replay: ask once per started trial, tell once per ended one, in file order */
  int cap = ps_journal_next_number(J) + 1;
  double *xs = calloc((size_t)cap * (d ? d : 1), sizeof(double));
  bool *asked = calloc((size_t)cap, sizeof(bool));
  int *rerun = calloc((size_t)cap, sizeof(int));
  int n_rerun = 0, n_started = 0;
  if (!st && (!xs || !asked || !rerun)) st = ps_error(PS_ERR_NOMEM, "out of memory");
  if (st) goto done;
  for (int e = 0; e < J->n_events && !st; e++) {
    ps_trial *t = ps_journal_trial(J, J->events[e].trial);
    if (!t || strcmp(t->phase, o->phase)) continue;
    double *x = xs + (size_t)t->number * d;
    if (!J->events[e].is_end) {
      if (asked[t->number]) continue; /* a re-run of a trial the algorithm already proposed */
      if ((st = vt->ask(algo, x))) break;
      if (!same_point(t->x, x, d)) {
        st = ps_error(PS_ERR_INVALID, "%s: trial %d in the journal is not what the algorithm proposes now; "
                      "was the search space, the algorithm or the seed changed? Use a new study folder.", o->study_dir, t->number);
        break;
      }
      asked[t->number] = true;
      n_started++;
    } else {
      st = vt->tell(algo, x, t->value, t->state == PS_TRIAL_FAIL);
    }
  }
  if (st) goto done;
  for (int i = 0; i < J->n; i++)
    if (!strcmp(J->trials[i].phase, o->phase) && J->trials[i].state == PS_TRIAL_RUNNING) rerun[n_rerun++] = J->trials[i].number;
  if (n_started) ps_info("resuming %s search: %d trials journaled, %d to re-run", o->phase, n_started, n_rerun);
  double t0 = ps_now();
  int next_number = ps_journal_next_number(J);
  double *x = malloc((size_t)(d ? d : 1) * sizeof(double));
  if (!x) { st = ps_error(PS_ERR_NOMEM, "out of memory"); goto done; }
  for (;;) {
    bool budget_left = !(o->budget_seconds > 0 && ps_now() - t0 >= o->budget_seconds);
    while (!st && ps_pool_free_slots(P.pool) > 0 && (n_rerun > 0 || (n_started < o->n_trials && budget_left))) {
      int number;
      if (n_rerun > 0) {
        number = rerun[--n_rerun];
        memcpy(x, xs + (size_t)number * d, (size_t)d * sizeof(double));
      } else {
        if ((st = vt->ask(algo, x))) break;
        number = next_number++;
        n_started++;
      }
      uint64_t seed = ps_trial_seed(o->seed, number);
      cJSON *params;
      cJSON *cfg = config_for(o->space, o->base_config, x, seed, &params);
      st = launch(&P, number, -1, params, x, d, cfg, seed);
      cJSON_Delete(cfg);
      cJSON_Delete(params);
    }
    if (st || ps_pool_running(P.pool) == 0) break;
    ps_running done;
    ps_trial_outcome out;
    st = reap(&P, &done, &out);
    if (!st) st = vt->tell(algo, done.x, out.value, out.state == PS_TRIAL_FAIL);
    cJSON_Delete(out.fields);
    free(done.x);
    if (!st) save_algo_state(vt, algo, o->study_dir, o->phase);
  }
  free(x);
done:
  ps_pool_free(P.pool);
  free(xs);
  free(asked);
  free(rerun);
  vt->destroy(algo);
  ps_journal_free(J);
  return st;
}

ps_status ps_run_configs(const char *study_dir, const char *phase, int first_number, const cJSON *const *configs,
                         const int *refs, const cJSON *const *params, int n, int jobs, const char *cache_dir,
                         const cJSON *train_ids, const cJSON *val_ids, bool keep_checkpoints) {
  char *jpath = ps_path_join(study_dir, "journal.jsonl");
  ps_journal *J = NULL;
  ps_status st = ps_journal_open(jpath, &J);
  free(jpath);
  if (st) return st;
  pool P = {study_dir, phase, cache_dir, "none", NULL, train_ids, val_ids, keep_checkpoints, J, NULL, 0, 0, 0, -1, 0, 0};
  progress_init(&P, n, first_number, first_number + n);
  st = ps_pool_create(study_dir, jobs, &P.pool);
  if (st) { ps_journal_free(J); return st; }
  int i = 0;
  for (;;) {
    while (!st && ps_pool_free_slots(P.pool) > 0 && i < n) {
      int number = first_number + i;
      ps_trial *t = ps_journal_trial(J, number);
      if (t && t->state != PS_TRIAL_RUNNING) { i++; continue; } /* already done in an earlier run */
      st = launch(&P, number, refs ? refs[i] : -1, params ? params[i] : NULL, NULL, 0, configs[i],
                  (uint64_t)ps_json_num(configs[i], "seed", 0));
      i++;
    }
    if (st || ps_pool_running(P.pool) == 0) break;
    ps_running done;
    ps_trial_outcome out;
    st = reap(&P, &done, &out);
    cJSON_Delete(out.fields);
    free(done.x);
  }
  ps_pool_free(P.pool);
  ps_journal_free(J);
  return st;
}

ps_status ps_study_warm_start(const char *study_dir, const cJSON *config, const char *cache_dir,
                              const cJSON *train_ids, const cJSON *val_ids, char **ckpt) {
  *ckpt = NULL;
  int number;
  ps_status st = ps_study_phase_first_number(study_dir, "warm_start", &number);
  if (st) return st;
  cJSON *c = cJSON_Duplicate(config, 1);
  ps_json_set_from_string(c, "aug.preset", "none");
  const cJSON *cs[1] = {c};
  ps_info("warm start: pre-training one model without augmentation (trial %d)", number);
  st = ps_run_configs(study_dir, "warm_start", number, cs, NULL, NULL, 1, 1, cache_dir, train_ids, val_ids, true);
  cJSON_Delete(c);
  *ckpt = ps_strfmt("%s/trials/%04d/checkpoint.h5", study_dir, number);
  if (!st && !ps_path_exists(*ckpt))
    st = ps_error(PS_ERR_RUNTIME, "warm-start training failed: see %s/trials/%04d/log.txt", study_dir, number);
  return st;
}

ps_status ps_study_phase_first_number(const char *study_dir, const char *phase, int *first) {
  char *jp = ps_path_join(study_dir, "journal.jsonl");
  ps_journal *J;
  ps_status st = ps_journal_open(jp, &J);
  free(jp);
  if (st) return st;
  ps_trial **have;
  int n = ps_journal_phase(J, phase, &have);
  *first = n ? have[0]->number : ps_journal_next_number(J);
  free(have);
  ps_journal_free(J);
  return PS_OK;
}
