/* Search spaces and the search-algorithm interface. An algorithm sees trials
 * only as points x in [0,1]^d (one coordinate per searched key; the space maps
 * them to config values, log scale where asked, categorical by floor(x*n)) and
 * the scores they got. Ask/tell: several asks may be outstanding at once, so a
 * driver can run trials concurrently. Higher scores are better; a failed trial
 * is told with failed=true and ranks worst. */
#ifndef PROXYSEG_SEARCH_H
#define PROXYSEG_SEARCH_H

#include "proxyseg/core.h"
#include "proxyseg/json.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { PS_PARAM_FLOAT, PS_PARAM_INT, PS_PARAM_CATEGORICAL } ps_param_kind;

typedef struct {
  char *key;              /* config key, dotted ("lr", "aug.gamma.p") */
  ps_param_kind kind;
  double lo, hi;          /* float/int bounds (inclusive) */
  bool log;               /* sample on a log scale */
  int n_choices;          /* categorical */
  cJSON *choices;         /* categorical: JSON array of values */
} ps_param;

typedef struct {
  int n;
  ps_param *params;
} ps_space;

/* Space JSON: {"params": [{"key": "lr", "type": "float", "low": 1e-4, "high": 1e-1, "log": true},
 *                         {"key": "net.stages", "type": "int", "low": 3, "high": 5},
 *                         {"key": "optimizer", "type": "categorical", "choices": ["sgd", "adam"]}]} */
ps_status ps_space_load(const char *path, ps_space **out);
ps_status ps_space_from_json(const cJSON *j, const char *origin, ps_space **out);
void ps_space_free(ps_space *s);
cJSON *ps_space_to_json(const ps_space *s);
/* Map x in [0,1]^d to a JSON value for param i (clamped). */
cJSON *ps_space_value(const ps_space *s, int i, double x);
/* Inverse map (for resuming from a journal and for warm starts). */
double ps_space_unit(const ps_space *s, int i, const cJSON *value);
/* Write every searched key of x into config (dotted keys). */
ps_status ps_space_apply(const ps_space *s, const double *x, cJSON *config);
/* Every param names a key of the training config `base` and each of its values
 * (both ends, every choice) makes a valid config; PS_ERR_INVALID names it. */
ps_status ps_space_check(const ps_space *s, const cJSON *base);

/* ---- algorithms ---- */
typedef struct ps_algo ps_algo;
typedef struct {
  const char *name;
  /* opts: algorithm options (JSON object, may be NULL). */
  ps_status (*create)(const ps_space *s, const cJSON *opts, uint64_t seed, void **state);
  /* Propose the next point x[d]. */
  ps_status (*ask)(void *state, double *x);
  /* Report a result for a point returned by ask (in any order). */
  ps_status (*tell)(void *state, const double *x, double score, bool failed);
  /* Serialise the whole state (weights, optimiser, RNG) for resume; NULL ok if stateless. */
  ps_status (*save)(void *state, cJSON **out);
  ps_status (*load)(void *state, const cJSON *in);
  /* Extra per-algorithm data for the report (e.g. RL's reward curve); may be NULL. */
  cJSON *(*report)(void *state);
  void (*destroy)(void *state);
} ps_algo_vtable;

/* The registry: "random", "rl", ... NULL if unknown. */
const ps_algo_vtable *ps_algo_find(const char *name);
const char *ps_algo_names(void); /* "random, rl, ..." for messages */

/* Run an algorithm against an objective callback (no training): used by tests
 * and to evaluate algorithms on analytic problems. Returns the best score and
 * point found within n_evals evaluations; history (optional, n_evals doubles)
 * receives each evaluation's score. */
typedef double (*ps_objective_fn)(void *ud, const double *x, int d, bool *failed);
ps_status ps_search_run_objective(const ps_algo_vtable *algo, const ps_space *s, const cJSON *opts,
                                  uint64_t seed, int n_evals, ps_objective_fn fn, void *ud,
                                  double *best_score, double *best_x, double *history);

/* ---- how trials are executed (trial_pool.c, mpi_*.c, study_worker.c) ----
 * Process-wide, like MPI itself: set once by the command (study config keys or
 * search options of the same names) before the first phase runs. */
typedef struct {
  double trial_timeout;     /* seconds of wall time a trial may run; 0: no limit. A trial past it is FAIL ("trial_timeout: ...") */
  double heartbeat_timeout; /* an MPI worker rank or `proxyseg worker` silent this long is lost (0: 60 s) */
  bool retry_failed;        /* a trial whose worker was lost (died, hung) is run once more before it is FAIL */
  bool file_workers;        /* trials are queued in the study folder for `proxyseg worker` processes */
} ps_exec_opts;
void ps_exec_configure(const ps_exec_opts *o);
ps_exec_opts ps_exec_options(void);

/* ---- MPI (mpi_env.c) ----
 * Under mpirun/srun with more than one rank, rank 0 is the driver and the other
 * ranks run trials (ps_mpi_worker_main). ps_mpi_launched says whether the
 * process was started by an MPI launcher with more than one rank (from the
 * launcher's environment, before any MPI call). */
bool ps_mpi_launched(void);
bool ps_mpi_available(void); /* built with MPI */
/* MPI_Init; *rank and *size of the world. Without MPI: PS_ERR_UNSUPPORTED. */
ps_status ps_mpi_init(int *rank, int *size);
void ps_mpi_finalize(void);
/* A worker rank's life: take trials from rank 0 until told to stop. */
ps_status ps_mpi_worker_main(void);
/* Rank 0: tell every worker rank to stop (at the end of the command). */
void ps_mpi_driver_stop(void);

#ifdef __cplusplus
}
#endif
#endif
