/* Drive an algorithm against an analytic objective (no training): the ask/tell
 * loop used by tests and algorithm benchmarks. Serial: one ask, one tell. */
#include "proxyseg/search.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

ps_status ps_search_run_objective(const ps_algo_vtable *algo, const ps_space *s, const cJSON *opts, uint64_t seed,
                                  int n_evals, ps_objective_fn fn, void *ud, double *best_score, double *best_x,
                                  double *history) {
  if (!algo || !s || !fn || n_evals < 0) return ps_error(PS_ERR_INVALID, "run_objective: bad arguments");
  int d = s->n;
  void *state = NULL;
  ps_status st = algo->create(s, opts, seed, &state);
  if (st) return ps_error_prefix(st, "%s: ", algo->name);
  double *x = malloc((size_t)d * sizeof *x);
  if (!x) {
    algo->destroy(state);
    return ps_error(PS_ERR_NOMEM, "run_objective: out of memory");
  }
  double best = -INFINITY;
  for (int e = 0; e < n_evals && !st; e++) {
    st = algo->ask(state, x);
    if (st) break;
    bool failed = false;
    double y = fn(ud, x, d, &failed);
    if (!isfinite(y)) failed = true;
    if (history) history[e] = failed ? NAN : y;
    if (!failed && y > best) {
      best = y;
      if (best_x) memcpy(best_x, x, (size_t)d * sizeof *x);
    }
    st = algo->tell(state, x, failed ? 0 : y, failed);
  }
  if (best_score) *best_score = best;
  free(x);
  algo->destroy(state);
  return st;
}
