/* Random search: every coordinate uniform in [0,1], from one seeded RNG. The
 * baseline every other algorithm is compared against. */
#include "algo_state.h"
#include "proxyseg/search.h"
#include <math.h>

typedef struct {
  int d;
  ps_rng *rng;
  int n_asked, n_told, n_failed;
  double best;
} random_state;

static ps_status rnd_create(const ps_space *s, const cJSON *opts, uint64_t seed, void **state) {
  (void)opts;
  random_state *r = calloc(1, sizeof *r);
  if (!r || !(r->rng = ps_rng_create(seed))) {
    free(r);
    return ps_error(PS_ERR_NOMEM, "random search: out of memory");
  }
  r->d = s->n;
  r->best = -INFINITY;
  *state = r;
  return PS_OK;
}

static ps_status rnd_ask(void *state, double *x) {
  random_state *r = state;
  for (int i = 0; i < r->d; i++) x[i] = ps_rng_uniform(r->rng);
  r->n_asked++;
  return PS_OK;
}

static ps_status rnd_tell(void *state, const double *x, double score, bool failed) {
  (void)x;
  random_state *r = state;
  r->n_told++;
  if (failed) r->n_failed++;
  else if (score > r->best) r->best = score;
  return PS_OK;
}

static ps_status rnd_save(void *state, cJSON **out) {
  random_state *r = state;
  cJSON *j = cJSON_CreateObject();
  cJSON_AddStringToObject(j, "algo", "random");
  cJSON_AddNumberToObject(j, "d", r->d);
  cJSON_AddNumberToObject(j, "n_asked", r->n_asked);
  cJSON_AddNumberToObject(j, "n_told", r->n_told);
  cJSON_AddNumberToObject(j, "n_failed", r->n_failed);
  if (isfinite(r->best)) cJSON_AddNumberToObject(j, "best", r->best);
  cJSON_AddItemToObject(j, "rng", ps_algo_rng_save(r->rng));
  *out = j;
  return PS_OK;
}

static ps_status rnd_load(void *state, const cJSON *in) {
  random_state *r = state;
  if (ps_json_int(in, "d", -1) != r->d)
    return ps_error(PS_ERR_DATA, "random search: saved state is for %d dimensions, the space has %d", ps_json_int(in, "d", -1), r->d);
  ps_status st = ps_algo_rng_load(r->rng, cJSON_GetObjectItemCaseSensitive(in, "rng"), "random search");
  if (st) return st;
  r->n_asked = ps_json_int(in, "n_asked", 0);
  r->n_told = ps_json_int(in, "n_told", 0);
  r->n_failed = ps_json_int(in, "n_failed", 0);
  r->best = ps_json_num(in, "best", -INFINITY);
  return PS_OK;
}

static cJSON *rnd_report(void *state) {
  random_state *r = state;
  cJSON *j = cJSON_CreateObject();
  cJSON_AddNumberToObject(j, "n_told", r->n_told);
  cJSON_AddNumberToObject(j, "n_failed", r->n_failed);
  if (isfinite(r->best)) cJSON_AddNumberToObject(j, "best", r->best);
  return j;
}

static void rnd_destroy(void *state) {
  random_state *r = state;
  if (!r) return;
  ps_rng_free(r->rng);
  free(r);
}

const ps_algo_vtable ps_algo_random = {"random", rnd_create, rnd_ask, rnd_tell, rnd_save, rnd_load, rnd_report, rnd_destroy};
