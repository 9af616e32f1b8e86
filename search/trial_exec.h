/* Trial execution (internal to search/): a trial is a child process running
 * `proxyseg trial-run --dir TRIAL_DIR`, started here (local pool), by an MPI
 * worker rank (mpi_*.c) or by a `proxyseg worker` sharing the study folder. */
#ifndef PS_TRIAL_EXEC_H
#define PS_TRIAL_EXEC_H
#include "proxyseg/journal.h"
#include "proxyseg/search.h"
#include <sys/types.h>

typedef struct {
  ps_trial_state state;
  double value, seconds;
  cJSON *fields; /* result.json (or {reason}) — journaled with the end event; caller frees */
} ps_trial_outcome;

/* A child that could not even start proxyseg exits with this code: a problem of
 * the installation, not of the trial's config, so the driver stops. */
#define PS_TRIAL_EXEC_FAILED 127

ps_status ps_trial_spawn(const char *trial_dir, pid_t *pid);
/* Has the child ended? Non-blocking; past `deadline` (ps_now() seconds, 0 =
 * none) it is killed and reaped, with *timed_out set. */
bool ps_trial_poll(pid_t pid, double deadline, int *wait_status, bool *timed_out);
/* The outcome from the child's result (parsed result.json, consumed; NULL when
 * it wrote none) and how it ended. timeout: the limit it was killed at, or 0. */
void ps_trial_outcome_make(cJSON *result, int wait_status, double timeout, ps_trial_outcome *out);
/* The same, reading TRIAL_DIR/result.json. */
void ps_trial_collect(const char *trial_dir, int wait_status, double timeout, ps_trial_outcome *out);
/* Run one trial to its end in a child (for worker processes): spawn, wait
 * (killing it past `timeout` seconds, 0 = none), calling tick(ud) about every
 * 10 ms while it runs; a tick that returns false kills the child and makes this
 * return PS_ERR_INTERRUPTED. *wait_status: how it ended. */
ps_status ps_trial_run_blocking(const char *trial_dir, double timeout, bool (*tick)(void *), void *ud,
                                int *wait_status, bool *timed_out);

/* One running trial of the driver's pool. */
typedef struct {
  int number;
  double *x;       /* the algorithm's point (owned), NULL for explicit configs */
  double t_start;  /* ps_now() at dispatch */
  int attempts;    /* dispatches so far (retry_failed allows a second) */
  pid_t pid;       /* local executor */
  int rank;        /* MPI executor: the worker rank */
  double last_seen;/* MPI executor: last heartbeat */
} ps_running;

/* The pool: up to capacity trials at once on the configured executor. */
typedef struct ps_pool ps_pool;
ps_status ps_pool_create(const char *study_dir, int jobs, ps_pool **out);
void ps_pool_free(ps_pool *p);
/* How many more trials can start now. */
int ps_pool_free_slots(const ps_pool *p);
int ps_pool_running(const ps_pool *p);
/* Executor's thread share for configs left at threads=0 (0: leave as is). */
int ps_pool_thread_share(const ps_pool *p);
/* Dispatch a prepared trial (TRIAL_DIR holds config.json and job.json). */
ps_status ps_pool_start(ps_pool *p, int number, const double *x, int d);
/* Wait for the next trial to end; *done takes over its x. A trial whose worker
 * was lost is re-dispatched once under retry_failed, else it ends FAIL. */
ps_status ps_pool_wait(ps_pool *p, ps_running *done, ps_trial_outcome *out);

/* ---- the MPI side (mpi_driver.c; without MPI these refuse) ---- */
/* Worker ranks available to the driver (0: not running under MPI). */
int ps_mpi_driver_workers(void);
ps_status ps_mpi_assign(int rank, int number, const char *trial_dir, double timeout);
/* A message from a worker, if one is waiting. kind 'R': result (number, the
 * wait status, timed_out, result: parsed result.json or NULL, owned by the
 * caller); kind 'H': heartbeat of a running trial. */
typedef struct {
  char kind;
  int rank, number, wait_status;
  bool timed_out;
  cJSON *result;
} ps_mpi_msg;
bool ps_mpi_poll(ps_mpi_msg *m);
/* Rank 0: tell the worker ranks which study folder it drives, so that they
 * can see the driver die (its driver.lock goes stale) and exit. */
void ps_mpi_announce_study(const char *study_dir);
/* Ranks given up on (dead or silent) stay lost for the rest of the command. */
bool ps_mpi_rank_lost(int rank);
void ps_mpi_rank_mark_lost(int rank);
int ps_mpi_driver_live_workers(void);
#endif
