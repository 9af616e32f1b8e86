/* Trials shared through the study folder (see study_queue.h): the file-lock
 * pattern of Optuna's JournalFileStorage, with heartbeats, so that Slurm array
 * jobs on a shared filesystem can add workers to a running study. */
#include "study_queue.h"
#include "trial_exec.h"
#include "proxyseg/study.h"
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *queue_path(const char *study_dir, int number) { return ps_strfmt("%s/queue/%04d.json", study_dir, number); }

static char *trial_file(const char *study_dir, int number, const char *name) {
  char *dir = ps_trial_dir(study_dir, number), *p = ps_path_join(dir, name);
  free(dir);
  return p;
}

ps_status ps_queue_post(const char *study_dir, int number, double trial_timeout) {
  char *qdir = ps_path_join(study_dir, "queue"), *q = queue_path(study_dir, number);
  char *done = trial_file(study_dir, number, "done.json");
  remove(done); /* from an attempt whose worker was lost */
  ps_status st = ps_mkdir_p(qdir);
  if (!st) {
    char buf[128];
    int n = snprintf(buf, sizeof buf, "{\"trial\": %d, \"trial_timeout\": %.17g}\n", number, trial_timeout);
    st = ps_write_file_atomic(q, buf, (size_t)n);
  }
  free(qdir); free(q); free(done);
  return st;
}

static bool read_done(const char *path, int *ws, bool *timed_out, char *who, size_t who_n) {
  cJSON *j = NULL;
  if (!ps_path_exists(path) || ps_json_read(path, &j)) return false;
  *ws = ps_json_int(j, "wait_status", 1 << 8);
  *timed_out = ps_json_bool(j, "timed_out", false);
  snprintf(who, who_n, "%s", ps_json_str(j, "worker", "?"));
  cJSON_Delete(j);
  return true;
}

int ps_queue_check(const char *study_dir, int number, double heartbeat_timeout, int *wait_status, bool *timed_out,
                   char *why, size_t why_n) {
  char *done = trial_file(study_dir, number, "done.json"), *claim = trial_file(study_dir, number, "claim.lock");
  char *q = queue_path(study_dir, number);
  int r = 0;
  if (read_done(done, wait_status, timed_out, why, why_n)) r = 1;
  else if (ps_path_exists(claim) ? !ps_study_lock_held(claim, heartbeat_timeout) : !ps_path_exists(q)) {
    /* no live claim and not queued: the worker died (or released its claim just now: look once more) */
    if (read_done(done, wait_status, timed_out, why, why_n)) r = 1;
    else {
      snprintf(why, why_n, "its worker was lost (claim %s: holder dead or no heartbeat for %.0f s)", claim,
               heartbeat_timeout);
      remove(q);
      remove(claim);
      r = -1;
    }
  }
  free(done); free(claim); free(q);
  return r;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Queued trial numbers, lowest first. */
static int list_queue(const char *study_dir, int **out) {
  char *qdir = ps_path_join(study_dir, "queue");
  DIR *d = opendir(qdir);
  free(qdir);
  *out = NULL;
  if (!d) return 0;
  char **names = NULL;
  int n = 0, cap = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    size_t len = strlen(e->d_name);
    if (len < 6 || strcmp(e->d_name + len - 5, ".json") || e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    if (n == cap) {
      cap = cap ? 2 * cap : 16;
      char **nn = realloc(names, (size_t)cap * sizeof *nn);
      if (!nn) break;
      names = nn;
    }
    names[n++] = ps_strdup(e->d_name);
  }
  closedir(d);
  qsort(names, (size_t)n, sizeof *names, cmp_str);
  *out = calloc((size_t)(n ? n : 1), sizeof **out);
  for (int i = 0; i < n; i++) {
    if (*out) (*out)[i] = atoi(names[i]);
    free(names[i]);
  }
  free(names);
  return *out ? n : 0;
}

ps_status ps_study_worker_step(const char *study_dir, double heartbeat_timeout, bool *ran, int *number) {
  *ran = false;
  int *nums, n = list_queue(study_dir, &nums);
  ps_status st = PS_OK;
  for (int i = 0; i < n && !*ran && !st; i++) {
    char *claim_path = trial_file(study_dir, nums[i], "claim.lock"), *q = queue_path(study_dir, nums[i]);
    ps_study_lock *claim = NULL;
    /* a live claim means another worker has it: the refusal is the normal case */
    if (ps_study_lock_acquire(claim_path, "worker", heartbeat_timeout, heartbeat_timeout / 4, &claim) == PS_OK) {
      cJSON *job = NULL;
      if (ps_path_exists(q) && ps_json_read(q, &job) == PS_OK) { /* still queued: nobody ran it meanwhile */
        double timeout = ps_json_num(job, "trial_timeout", 0);
        remove(q);
        *ran = true;
        *number = nums[i];
        char *dir = ps_trial_dir(study_dir, nums[i]), *done = trial_file(study_dir, nums[i], "done.json");
        int ws = 0;
        bool timed_out = false;
        st = ps_trial_run_blocking(dir, timeout, NULL, NULL, &ws, &timed_out);
        if (st) ws = 1 << 8; /* could not start the trial: the driver sees "exited with code 1" */
        char buf[512], host[256];
        if (gethostname(host, sizeof host)) snprintf(host, sizeof host, "?");
        host[sizeof host - 1] = 0;
        int len = snprintf(buf, sizeof buf, "{\"wait_status\": %d, \"timed_out\": %s, \"worker\": \"pid %ld on %s\"}\n",
                           ws, timed_out ? "true" : "false", (long)getpid(), host);
        ps_status wst = ps_write_file_atomic(done, buf, (size_t)len);
        if (!st) st = wst;
        free(dir);
        free(done);
      }
      cJSON_Delete(job);
      ps_study_lock_release(claim);
    }
    free(claim_path);
    free(q);
  }
  free(nums);
  return st;
}
