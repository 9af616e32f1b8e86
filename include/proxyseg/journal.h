/* The study journal: journal.jsonl, one JSON object a line, appended with
 * fsync. Trial states follow Optuna (RUNNING, COMPLETE, PRUNED, FAIL). Loading
 * folds the events into one record per trial; a torn last line (a crash during
 * the write) or any corrupt line is skipped with a warning. */
#ifndef PROXYSEG_JOURNAL_H
#define PROXYSEG_JOURNAL_H

#include "proxyseg/json.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { PS_TRIAL_RUNNING, PS_TRIAL_COMPLETE, PS_TRIAL_PRUNED, PS_TRIAL_FAIL } ps_trial_state;

/* Exit code of a trial process that failed because of the machine — a full
 * disk, an I/O error — not because of its configuration (EX_TEMPFAIL). The
 * driver leaves such a trial RUNNING, so a resumed study runs it again. */
#define PS_TRIAL_EXIT_MACHINE 75
const char *ps_trial_state_name(ps_trial_state s);
bool ps_trial_state_parse(const char *s, ps_trial_state *out);

typedef struct {
  int number;                /* unique within the study */
  char phase[16];            /* "proxy", "full", "full_validate", ... */
  ps_trial_state state;
  double value;              /* validation score (mean Dice); NAN unless COMPLETE/PRUNED */
  double seconds;            /* wall time of the trial */
  int ref;                   /* for re-training: the proxy trial it re-runs (-1 none) */
  cJSON *params;             /* searched keys → values */
  cJSON *x;                  /* the algorithm's point in [0,1]^d (array), may be NULL */
  cJSON *extra;              /* the end event's other fields (metrics, reason, ...) */
  cJSON *intermediate;       /* array of [step, value] reported during training */
} ps_trial;

/* Start and end events in file order: replaying them (ask on start, tell on end)
 * rebuilds a deterministic algorithm's state exactly, even when trials ran
 * concurrently and finished out of order. */
typedef struct {
  int trial;
  bool is_end;
} ps_journal_event;

typedef struct {
  char *path;
  ps_trial *trials;
  int n, cap;
  ps_journal_event *events;
  int n_events, cap_events;
  int skipped_lines;
} ps_journal;

/* Open (creating the file if absent) and load every event. */
ps_status ps_journal_open(const char *path, ps_journal **out);
void ps_journal_free(ps_journal *j);
/* Append events (each written with fsync before returning). `fields` is an
 * object merged into the event (not consumed). */
ps_status ps_journal_start(ps_journal *j, int number, const char *phase, int ref, const cJSON *params,
                           const double *x, int d, uint64_t seed);
ps_status ps_journal_intermediate(ps_journal *j, int number, int step, double value);
ps_status ps_journal_end(ps_journal *j, int number, ps_trial_state state, double value, double seconds,
                         const cJSON *fields);
/* Lookup by number (NULL if absent); next free number. */
ps_trial *ps_journal_trial(ps_journal *j, int number);
int ps_journal_next_number(const ps_journal *j);
/* Trials of one phase in number order (pointers into j; caller frees the array). */
int ps_journal_phase(ps_journal *j, const char *phase, ps_trial ***out);

/* ---- lock files of a study folder (study_lock.c) ----
 * A lock file names its holder (role, pid, host, process start time) and holds
 * a heartbeat that a thread refreshes every heartbeat_seconds (0: 5 s). A lock
 * whose holder is dead is taken over: on the same host when its process is
 * gone, on any host when the heartbeat is older than stale_seconds. */
#define PS_LOCK_STALE_SECONDS 60.0
typedef struct ps_study_lock ps_study_lock;
ps_status ps_study_lock_acquire(const char *path, const char *role, double stale_seconds, double heartbeat_seconds,
                                ps_study_lock **out);
/* Stop the heartbeat and remove the file if it is still ours. NULL ok. */
void ps_study_lock_release(ps_study_lock *l);
/* Whether another process took the lock over (this one stalled too long). */
bool ps_study_lock_lost(const ps_study_lock *l);
/* Whether a live process holds the lock at path. */
bool ps_study_lock_held(const char *path, double stale_seconds);
/* STUDY/driver.lock: one driver per study folder; a second one is refused with
 * PS_ERR_RUNTIME and a message naming the holder. */
ps_status ps_study_lock_driver(const char *study_dir, ps_study_lock **out);
/* A `proxyseg worker`'s step: claim one trial a driver queued in the study
 * folder (STUDY/queue/), run it to its end, leave its outcome for the driver.
 * *ran says whether one was queued; *number which. */
ps_status ps_study_worker_step(const char *study_dir, double heartbeat_timeout, bool *ran, int *number);

#ifdef __cplusplus
}
#endif
#endif
