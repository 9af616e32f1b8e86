/* The child side of a trial: load the cases, train the config, report
 * intermediate scores to the journal (for pruning) and the outcome to
 * result.json. Divergence is FAIL with reason "diverged", pruning is PRUNED. */
#include "proxyseg/study.h"
#include "asng_plugin.h"
#include "proxyseg/gumbel_nas.h"
#include "proxyseg/train.h"
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
  const char *journal_path;
  const char *phase;
  int number;
  bool median;
} prune_ctx;

/* The pruner plugin's options are the job.json object itself (journal, phase,
 * trial, pruner); it keeps no state of its own: the journal holds it. */
static ps_status prune_create(const cJSON *job, ps_train_ctx *ctx, void **state) {
  (void)ctx;
  prune_ctx *c = calloc(1, sizeof *c);
  if (!c) return ps_error(PS_ERR_NOMEM, "out of memory");
  c->journal_path = ps_json_str(job, "journal", "");
  c->phase = ps_json_str(job, "phase", "proxy");
  c->number = ps_json_int(job, "trial", 0);
  c->median = !strcmp(ps_json_str(job, "pruner", "none"), "median");
  *state = c;
  return PS_OK;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Median pruning (Optuna's MedianPruner): stop when this trial's score at an
 * epoch is below the median of finished trials' scores at the same epoch;
 * needs at least 3 finished trials with a value there. */
static ps_status prune_after_validation(void *ud, ps_train_ctx *ctx, double dice, bool *stop) {
  prune_ctx *c = ud;
  int epoch = ctx->epoch;
  ps_journal *J = NULL;
  if (ps_journal_open(c->journal_path, &J)) return PS_OK; /* no journal (a lone trial): nothing to compare with */
  ps_journal_intermediate(J, c->number, epoch, dice);
  bool keep = true;
  if (c->median) {
    double *vals = malloc((size_t)(J->n ? J->n : 1) * sizeof(double));
    int m = 0;
    for (int i = 0; vals && i < J->n; i++) {
      ps_trial *t = &J->trials[i];
      if (t->number == c->number || strcmp(t->phase, c->phase) || t->state != PS_TRIAL_COMPLETE) continue;
      const cJSON *it;
      cJSON_ArrayForEach(it, t->intermediate) {
        if ((int)cJSON_GetArrayItem(it, 0)->valuedouble == epoch) vals[m++] = cJSON_GetArrayItem(it, 1)->valuedouble;
      }
    }
    if (m >= 3) {
      qsort(vals, (size_t)m, sizeof(double), cmp_double);
      double med = m % 2 ? vals[m / 2] : 0.5 * (vals[m / 2 - 1] + vals[m / 2]);
      if (dice < med) {
        ps_info("pruning: Dice %.4f < median %.4f of %d finished trials at epoch %d", dice, med, m, epoch);
        keep = false;
      }
    }
    free(vals);
  }
  ps_journal_free(J);
  *stop = !keep;
  return PS_OK;
}

static const ps_train_plugin prune_plugin = {
    .name = "pruner", .create = prune_create, .after_validation = prune_after_validation, .destroy = free};

static ps_status write_result(const char *dir, const char *state, double value, const ps_train_result *r,
                              const char *reason) {
  cJSON *j = cJSON_CreateObject();
  cJSON_AddStringToObject(j, "state", state);
  if (isfinite(value)) cJSON_AddNumberToObject(j, "value", value);
  else cJSON_AddNullToObject(j, "value");
  cJSON_AddNumberToObject(j, "seconds", r->seconds);
  cJSON_AddNumberToObject(j, "train_seconds", r->train_seconds);
  cJSON_AddNumberToObject(j, "val_seconds", r->val_seconds);
  cJSON_AddNumberToObject(j, "epochs_done", r->epochs_done);
  if (r->class_dice) {
    cJSON *cd = cJSON_AddArrayToObject(j, "class_dice");
    for (int k = 0; k < r->n_fg_classes; k++) cJSON_AddItemToArray(cd, cJSON_CreateNumber(r->class_dice[k]));
  }
  if (reason) cJSON_AddStringToObject(j, "reason", reason);
  char *p = ps_path_join(dir, "result.json");
  ps_status st = ps_json_write(p, j);
  free(p);
  cJSON_Delete(j);
  return st;
}

/* A failed trial is FAIL with its reason, unless the machine failed (a full
 * disk, an I/O error: ps_error_machine): then no result is written, and the
 * trial process exits PS_TRIAL_EXIT_MACHINE so the trial stays re-runnable.
 * An input it may not read is the trial's failure, not the machine's. */
static void fail_result(const char *dir, ps_status st, const ps_train_result *res) {
  if (st == PS_ERR_IO && ps_error_machine()) return;
  char reason[1024];
  snprintf(reason, sizeof reason, "%s", ps_last_error());
  write_result(dir, "FAIL", NAN, res, reason);
}

/* Test hooks for the kill -9 tests. With PS_TEST_HOLD_TRIAL=N, trial N stops
 * before training, says so in TRIAL_DIR/held, and waits to be killed; a re-run
 * finds `held` and goes on. A kill then always lands mid-trial, however fast
 * the machine (the tests used to race the trial and skip when it won). With
 * PS_TEST_STOP_TRIAL=N, trial N writes TRIAL_DIR/stopped and stops itself
 * (SIGSTOP): the test decides when it finishes, e.g. after its driver died. */
static void test_hold(const char *dir, int number) {
  const char *s = getenv("PS_TEST_STOP_TRIAL");
  if (s && atoi(s) == number) {
    char *p = ps_path_join(dir, "stopped");
    ps_write_file_atomic(p, "stopped\n", 8);
    free(p);
    raise(SIGSTOP);
  }
  const char *h = getenv("PS_TEST_HOLD_TRIAL");
  if (!h || atoi(h) != number) return;
  char *p = ps_path_join(dir, "held");
  bool again = ps_path_exists(p);
  if (!again) ps_write_file_atomic(p, "held\n", 5);
  free(p);
  if (!again)
    for (;;) pause();
}

ps_status ps_trial_child(const char *dir) {
  char *job_path = ps_path_join(dir, "job.json"), *cfg_path = ps_path_join(dir, "config.json");
  cJSON *job = NULL, *cfg = NULL;
  ps_case *cases = NULL;
  int n = 0, n_classes = 0, *tr = NULL, *va = NULL, n_tr = 0, n_va = 0;
  ps_train_result res;
  memset(&res, 0, sizeof res);
  ps_status st = ps_json_read(job_path, &job);
  if (!st) st = ps_json_read(cfg_path, &cfg);
  if (!st) st = ps_train_config_validate(cfg);
  if (!st) st = ps_study_load_cases(NULL, ps_json_str(job, "cache_dir", ""), ps_json_int(cfg, "threads", 0), &cases, &n, &n_classes);
  if (!st) st = ps_study_case_indices(cases, n, cJSON_GetObjectItemCaseSensitive(job, "train_cases"), &tr, &n_tr);
  if (!st) st = ps_study_case_indices(cases, n, cJSON_GetObjectItemCaseSensitive(job, "val_cases"), &va, &n_va);
  if (!st) test_hold(dir, ps_json_int(job, "trial", -1));
  if (!st) {
    /* one-shot searches name their plugin in plugins.json ([{name, opts}]); such a trial resumes from its checkpoint */
    ps_train_plugin_use plugins[4] = {{&prune_plugin, job}};
    int n_plugins = 1;
    char *pp = ps_path_join(dir, "plugins.json");
    cJSON *pj = NULL;
    if (ps_path_exists(pp)) st = ps_json_read(pp, &pj);
    const cJSON *it;
    cJSON_ArrayForEach(it, pj) {
      const char *name = ps_json_str(it, "name", "");
      if (!strcmp(name, "asng") && n_plugins < 4) plugins[n_plugins++] = (ps_train_plugin_use){&ps_asng_plugin, cJSON_GetObjectItemCaseSensitive(it, "opts")};
      else if (!strcmp(name, "gumbel-nas") && n_plugins < 4)
        plugins[n_plugins++] = (ps_train_plugin_use){&ps_gumbel_nas_plugin, cJSON_GetObjectItemCaseSensitive(it, "opts")};
      else if (!st) st = ps_error(PS_ERR_INVALID, "%s: unknown trainer plugin '%s' (known: asng, gumbel-nas)", pp, name);
    }
    free(pp);
    ps_train_job tj = {0};
    tj.config = cfg;
    tj.cases = cases;
    tj.n_cases = n;
    tj.train_idx = tr;
    tj.n_train = n_tr;
    tj.val_idx = va;
    tj.n_val = n_va;
    tj.out_dir = dir;
    tj.keep_checkpoint = ps_json_bool(job, "keep_checkpoint", false);
    tj.init_checkpoint = ps_json_str(job, "warm_start", NULL);
    tj.plugins = plugins;
    tj.n_plugins = n_plugins;
    tj.resume = n_plugins > 1;
    tj.n_classes = n_classes;
    cJSON *plan = ps_train_read_plan(ps_json_str(job, "cache_dir", ""));
    tj.plan = plan;
    if (!st) st = ps_train_run(&tj, &res);
    cJSON_Delete(plan);
    cJSON_Delete(pj);
    if (st == PS_OK) st = write_result(dir, res.pruned ? "PRUNED" : "COMPLETE", res.mean_dice, &res, NULL);
    else if (st == PS_ERR_NONFINITE) { /* the message starts with "diverged: ..." and says where */
      char reason[1024];
      snprintf(reason, sizeof reason, "%s", ps_last_error());
      st = write_result(dir, "FAIL", NAN, &res, strncmp(reason, "diverged", 8) ? "diverged" : reason);
    }
    else fail_result(dir, st, &res);
  } else {
    fail_result(dir, st, &res);
  }
  ps_train_result_free(&res);
  free(tr);
  free(va);
  ps_study_free_cases(cases, n);
  cJSON_Delete(job);
  cJSON_Delete(cfg);
  free(job_path);
  free(cfg_path);
  return st;
}
