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

#ifdef __cplusplus
}
#endif
#endif
