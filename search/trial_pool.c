/* The driver's pool of running trials on one of three executors: local child
 * processes (--jobs K), MPI worker ranks (mpirun), or `proxyseg worker`
 * processes sharing the study folder. The pool enforces trial_timeout and turns
 * a lost worker (dead, or silent past heartbeat_timeout) into a FAIL, or into
 * one more dispatch under retry_failed. */
#include "trial_exec.h"
#include "proxyseg/study.h"
#include "study_queue.h"
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static ps_exec_opts g_exec = {0, 0, false, false};

void ps_exec_configure(const ps_exec_opts *o) { g_exec = *o; }
ps_exec_opts ps_exec_options(void) {
  ps_exec_opts o = g_exec;
  if (o.heartbeat_timeout <= 0) o.heartbeat_timeout = 60;
  return o;
}

typedef enum { EX_LOCAL, EX_MPI, EX_FILES } ex_kind;

struct ps_pool {
  char *study_dir;
  ex_kind kind;
  int jobs;               /* local and file executors: trials at once */
  int n_workers;          /* MPI: worker ranks 1..n_workers */
  bool *rank_busy;        /* MPI, index = rank */
  ps_running *run;
  int n_run, cap;
  int n_pending;          /* MPI: lost trials waiting for a free rank (rank = -1) */
  ps_exec_opts ex;
  /* scheduler overhead: from a trial's end reaching the driver to the next
   * dispatch (journal end, tell, ask, trial folder, journal start, send) */
  double t_result, lat_sum, lat_max;
  int lat_n;
};

ps_status ps_pool_create(const char *study_dir, int jobs, ps_pool **out) {
  *out = NULL;
  ps_pool *p = calloc(1, sizeof *p);
  if (!p) return ps_error(PS_ERR_NOMEM, "out of memory");
  p->study_dir = ps_strdup(study_dir);
  p->ex = ps_exec_options();
  p->jobs = jobs > 0 ? jobs : 1;
  p->n_workers = ps_mpi_driver_workers();
  p->kind = p->n_workers > 0 ? EX_MPI : p->ex.file_workers ? EX_FILES : EX_LOCAL;
  p->cap = p->kind == EX_MPI ? p->n_workers : p->jobs;
  p->run = calloc((size_t)p->cap, sizeof *p->run);
  p->rank_busy = calloc((size_t)p->n_workers + 1, sizeof *p->rank_busy);
  if (!p->study_dir || !p->run || !p->rank_busy) { ps_pool_free(p); return ps_error(PS_ERR_NOMEM, "out of memory"); }
  if (p->kind == EX_FILES)
    ps_info("file workers: up to %d trials at once are queued in %s/queue for `proxyseg worker --study %s` processes "
            "(this process runs none itself)", p->jobs, study_dir, study_dir);
  *out = p;
  return PS_OK;
}

void ps_pool_free(ps_pool *p) {
  if (!p) return;
  if (p->lat_n > 0)
    ps_info("scheduler: %d dispatches after a result, %.3f ms mean, %.3f ms max from a trial's end reaching the "
            "driver to the next trial's dispatch (%s executor)", p->lat_n, 1e3 * p->lat_sum / p->lat_n,
            1e3 * p->lat_max, p->kind == EX_MPI ? "MPI" : p->kind == EX_FILES ? "file-worker" : "local");
  for (int i = 0; i < p->n_run; i++) {
    if (p->kind == EX_LOCAL && p->run[i].pid > 0) { /* an error stopped the driver: do not leave orphans */
      kill(p->run[i].pid, SIGKILL);
      waitpid(p->run[i].pid, NULL, 0);
    }
    free(p->run[i].x);
  }
  free(p->run);
  free(p->rank_busy);
  free(p->study_dir);
  free(p);
}

static int idle_ranks(const ps_pool *p) {
  int k = 0;
  for (int r = 1; r <= p->n_workers; r++) k += !p->rank_busy[r] && !ps_mpi_rank_lost(r);
  return k;
}

int ps_pool_free_slots(const ps_pool *p) {
  if (p->kind == EX_MPI) {
    if (ps_mpi_driver_live_workers() == 0) return 1; /* so that the next dispatch says why nothing runs */
    int k = idle_ranks(p) - p->n_pending;
    return k > 0 ? k : 0;
  }
  return p->jobs - p->n_run;
}

int ps_pool_running(const ps_pool *p) { return p->n_run; }

int ps_pool_thread_share(const ps_pool *p) {
  if (p->kind != EX_LOCAL || p->jobs <= 1) return 0; /* MPI and file workers take their node's share themselves */
  int cores = (int)sysconf(_SC_NPROCESSORS_ONLN);
  return cores / p->jobs > 0 ? cores / p->jobs : 1;
}

/* Hand a trial to the executor (a first dispatch or a retry). */
static ps_status dispatch(ps_pool *p, ps_running *r) {
  char *dir = ps_trial_dir(p->study_dir, r->number);
  ps_status st = PS_OK;
  r->t_start = r->last_seen = ps_now();
  r->attempts++;
  r->pid = -1;
  r->rank = -1;
  if (p->kind == EX_LOCAL) {
    st = ps_trial_spawn(dir, &r->pid);
  } else if (p->kind == EX_FILES) {
    st = ps_queue_post(p->study_dir, r->number, p->ex.trial_timeout);
  } else if (ps_mpi_driver_live_workers() == 0) {
    st = ps_error(PS_ERR_RUNTIME, "every MPI worker rank is lost; the trials left RUNNING are re-run when the study "
                                  "is run again");
  } else {
    for (int k = 1; k <= p->n_workers && r->rank < 0; k++)
      if (!p->rank_busy[k] && !ps_mpi_rank_lost(k)) r->rank = k;
    if (r->rank < 0) p->n_pending++; /* dispatched when a rank frees up */
    else {
      st = ps_mpi_assign(r->rank, r->number, dir, p->ex.trial_timeout);
      if (!st) p->rank_busy[r->rank] = true;
    }
  }
  free(dir);
  return st;
}

ps_status ps_pool_start(ps_pool *p, int number, const double *x, int d) {
  if (p->n_run == p->cap) return ps_error(PS_ERR_RUNTIME, "trial pool full (internal error)");
  ps_running *r = &p->run[p->n_run];
  memset(r, 0, sizeof *r);
  r->number = number;
  if (x) {
    r->x = malloc((size_t)(d ? d : 1) * sizeof(double));
    if (!r->x) return ps_error(PS_ERR_NOMEM, "out of memory");
    memcpy(r->x, x, (size_t)d * sizeof(double));
  }
  ps_status st = dispatch(p, r);
  if (st) { free(r->x); return st; }
  p->n_run++;
  if (p->t_result > 0) {
    double lat = ps_now() - p->t_result;
    p->lat_sum += lat;
    p->lat_n++;
    if (lat > p->lat_max) p->lat_max = lat;
    p->t_result = 0;
  }
  return PS_OK;
}

static void finish(ps_pool *p, int k, ps_running *done) {
  *done = p->run[k];
  if (p->kind == EX_MPI && done->rank > 0) p->rank_busy[done->rank] = false;
  p->run[k] = p->run[--p->n_run];
}

/* A trial whose worker is gone: once more under retry_failed, else FAIL. */
static bool lost(ps_pool *p, int k, const char *why, ps_running *done, ps_trial_outcome *out, ps_status *st) {
  ps_running *r = &p->run[k];
  if (p->kind == EX_MPI && r->rank > 0) p->rank_busy[r->rank] = false;
  if (p->ex.retry_failed && r->attempts < 2) {
    ps_warn("trial %d: %s; running it once more (retry_failed)", r->number, why);
    *st = dispatch(p, r);
    return *st != PS_OK;
  }
  finish(p, k, done);
  memset(out, 0, sizeof *out);
  out->state = PS_TRIAL_FAIL;
  out->seconds = ps_now() - done->t_start;
  out->fields = cJSON_CreateObject();
  cJSON_AddStringToObject(out->fields, "reason", why);
  if (done->attempts > 1) cJSON_AddNumberToObject(out->fields, "attempts", done->attempts);
  return true;
}

static int find_rank(const ps_pool *p, int rank, int number) {
  for (int i = 0; i < p->n_run; i++)
    if (p->run[i].rank == rank && p->run[i].number == number) return i;
  return -1;
}

/* A trial process that exited PS_TRIAL_EXIT_MACHINE met a full disk or an I/O
 * error: the machine's failure, not the configuration's. It stays RUNNING in
 * the journal and the search stops, so a resume runs it again. */
static bool machine_failed(int ws, int number, ps_status *st) {
  if (!WIFEXITED(ws) || WEXITSTATUS(ws) != PS_TRIAL_EXIT_MACHINE) return false;
  *st = ps_error(PS_ERR_IO, "trial %d: the machine failed (a full disk or an I/O error; its stderr.txt says which); "
                 "the trial stays RUNNING and runs again when the study is resumed", number);
  return true;
}

/* One look at every running trial; true when one ended (or an error stopped us). */
static bool poll_once(ps_pool *p, ps_running *done, ps_trial_outcome *out, ps_status *st) {
  double now = ps_now();
  if (p->kind == EX_LOCAL) {
    for (int k = 0; k < p->n_run; k++) {
      ps_running *r = &p->run[k];
      int ws = 0;
      bool timed_out = false;
      double deadline = p->ex.trial_timeout > 0 ? r->t_start + p->ex.trial_timeout : 0;
      if (!ps_trial_poll(r->pid, deadline, &ws, &timed_out)) continue;
      finish(p, k, done);
      if (!timed_out && WIFEXITED(ws) && WEXITSTATUS(ws) == PS_TRIAL_EXEC_FAILED) { /* left RUNNING: re-run on resume */
        *st = ps_error(PS_ERR_RUNTIME, "trial %d: the trial process could not start proxyseg (was the binary removed?)",
                       done->number);
        return true;
      }
      if (!timed_out && machine_failed(ws, done->number, st)) return true;
      char *dir = ps_trial_dir(p->study_dir, done->number);
      ps_trial_collect(dir, ws, timed_out ? p->ex.trial_timeout : 0, out);
      free(dir);
      return true;
    }
    return false;
  }
  if (p->kind == EX_FILES) {
    for (int k = 0; k < p->n_run; k++) {
      ps_running *r = &p->run[k];
      int ws = 0;
      bool timed_out = false;
      char why[256];
      int s = ps_queue_check(p->study_dir, r->number, p->ex.heartbeat_timeout, &ws, &timed_out, why, sizeof why);
      if (s == 0) continue;
      if (s < 0) return lost(p, k, why, done, out, st);
      finish(p, k, done);
      if (!timed_out && machine_failed(ws, done->number, st)) return true;
      char *dir = ps_trial_dir(p->study_dir, done->number);
      ps_trial_collect(dir, ws, timed_out ? p->ex.trial_timeout : 0, out);
      free(dir);
      cJSON_AddStringToObject(out->fields, "worker", why); /* ps_queue_check puts the worker's name there */
      if (done->attempts > 1) cJSON_AddNumberToObject(out->fields, "attempts", done->attempts);
      return true;
    }
    return false;
  }
  /* MPI: lost trials waiting for a rank go first */
  for (int k = 0; k < p->n_run && p->n_pending > 0; k++) {
    ps_running *r = &p->run[k];
    if (r->rank >= 0) continue;
    for (int q = 1; q <= p->n_workers && r->rank < 0; q++)
      if (!p->rank_busy[q] && !ps_mpi_rank_lost(q)) r->rank = q;
    if (r->rank < 0) break;
    p->n_pending--;
    char *dir = ps_trial_dir(p->study_dir, r->number);
    *st = ps_mpi_assign(r->rank, r->number, dir, p->ex.trial_timeout);
    free(dir);
    if (*st) return true;
    p->rank_busy[r->rank] = true;
    r->t_start = r->last_seen = now;
  }
  ps_mpi_msg m;
  while (ps_mpi_poll(&m)) {
    int k = find_rank(p, m.rank, m.number);
    if (k < 0) { cJSON_Delete(m.result); continue; } /* from a rank already given up on */
    if (m.kind == 'H') { p->run[k].last_seen = now; continue; }
    finish(p, k, done);
    if (!m.timed_out && machine_failed(m.wait_status, done->number, st)) { cJSON_Delete(m.result); return true; }
    ps_trial_outcome_make(m.result, m.wait_status, m.timed_out ? p->ex.trial_timeout : 0, out);
    cJSON_AddNumberToObject(out->fields, "rank", m.rank);
    if (done->attempts > 1) cJSON_AddNumberToObject(out->fields, "attempts", done->attempts);
    return true;
  }
  for (int k = 0; k < p->n_run; k++) {
    ps_running *r = &p->run[k];
    if (r->rank < 0 || now - r->last_seen <= p->ex.heartbeat_timeout) continue;
    char why[256];
    snprintf(why, sizeof why, "worker rank %d lost: no heartbeat for %.0f s (heartbeat_timeout)", r->rank,
             now - r->last_seen);
    ps_mpi_rank_mark_lost(r->rank);
    ps_warn("%s; it gets no more trials (%d worker ranks left)", why, ps_mpi_driver_live_workers());
    if (lost(p, k, why, done, out, st)) return true;
  }
  if (p->n_run > 0 && ps_mpi_driver_live_workers() == 0) {
    *st = ps_error(PS_ERR_RUNTIME, "every MPI worker rank is lost; the trials left RUNNING are re-run when the "
                                   "study is run again");
    return true;
  }
  return false;
}

ps_status ps_pool_wait(ps_pool *p, ps_running *done, ps_trial_outcome *out) {
  memset(out, 0, sizeof *out);
  memset(done, 0, sizeof *done);
  if (p->n_run == 0) return ps_error(PS_ERR_RUNTIME, "no trial is running (internal error)");
  for (;;) {
    ps_status st = PS_OK;
    if (poll_once(p, done, out, &st)) {
      p->t_result = ps_now();
      return st;
    }
    /* 1 ms: the latency between a result and the next assignment stays far
     * below any trial's length, and the idle driver uses no measurable CPU */
    struct timespec ts = {0, 1000 * 1000};
    nanosleep(&ts, NULL);
  }
}
