/* Child-process trials (internal to search/). */
#ifndef PS_TRIAL_EXEC_H
#define PS_TRIAL_EXEC_H
#include "proxyseg/journal.h"
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
ps_status ps_trial_collect(const char *trial_dir, int wait_status, ps_trial_outcome *out);

/* A pool of running trials (driver.c). */
typedef struct {
  pid_t pid;
  int number;
  double *x;
} ps_running;
#endif
