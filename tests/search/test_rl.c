/* The RL search on analytic objectives with a known optimum (no training):
 * smooth and noisy, 2 and 8 dimensions, one space with a log-scaled key. RL
 * must get close to the optimum within the budget, and over 20 seeds its
 * best-found must beat random search with the same budget (paired one-sided
 * Wilcoxon signed-rank test, exact, p < 0.05). */
#include "proxyseg/search.h"
#include "testutil.h"
#include <stdlib.h>
#include <string.h>

#define N_SEEDS 20

typedef struct {
  const ps_space *s;
  double target[16]; /* in the units the objective is defined in (log10 for log keys) */
  double width;      /* distance (in [0,1] units) at which the score halves */
  double noise;      /* sd of additive Gaussian noise */
  ps_rng *rng;
} objective;

/* Dice-like score in (0, 1]: 1 / (1 + |z - t|^2 / (d w^2)), z the config value
 * normalised to [0,1] per key (log10 for log keys), computed from the actual
 * config values so that the log mapping is part of what is tested. */
static double score_fn(void *ud, const double *x, int d, bool *failed) {
  objective *o = ud;
  double r2 = 0;
  for (int i = 0; i < d; i++) {
    const ps_param *p = &o->s->params[i];
    cJSON *v = ps_space_value(o->s, i, x[i]);
    double z = p->log ? (log10(v->valuedouble) - log10(p->lo)) / (log10(p->hi) - log10(p->lo))
                      : (v->valuedouble - p->lo) / (p->hi - p->lo);
    cJSON_Delete(v);
    r2 += (z - o->target[i]) * (z - o->target[i]);
  }
  *failed = false;
  double y = 1.0 / (1.0 + r2 / (d * o->width * o->width));
  if (o->noise > 0) y += ps_rng_normal(o->rng, o->noise);
  return y < 1e-6 ? 1e-6 : y > 1 ? 1 : y;
}

static double true_dist(const objective *o, const double *x, int d) {
  double r2 = 0;
  for (int i = 0; i < d; i++) {
    const ps_param *p = &o->s->params[i];
    cJSON *v = ps_space_value(o->s, i, x[i]);
    double z = p->log ? (log10(v->valuedouble) - log10(p->lo)) / (log10(p->hi) - log10(p->lo))
                      : (v->valuedouble - p->lo) / (p->hi - p->lo);
    cJSON_Delete(v);
    r2 += (z - o->target[i]) * (z - o->target[i]);
  }
  return sqrt(r2);
}

/* Exact one-sided p-value of the Wilcoxon signed-rank statistic W+ for
 * differences diff[] (H1: positive shift); zeros dropped, ties get mid-ranks
 * (the null distribution is enumerated over the actual ranks). */
static double wilcoxon_greater(const double *diff, int n_in) {
  double a[64];
  int n = 0;
  for (int i = 0; i < n_in; i++)
    if (diff[i] != 0) a[n++] = diff[i];
  if (!n) return 1.0;
  int r2[64]; /* twice the mid-ranks, integers */
  for (int i = 0; i < n; i++) {
    int less = 0, eq = 0;
    for (int j = 0; j < n; j++) {
      if (fabs(a[j]) < fabs(a[i])) less++;
      else if (fabs(a[j]) == fabs(a[i])) eq++;
    }
    r2[i] = 2 * less + eq + 1;
  }
  int wplus = 0, total = 0;
  for (int i = 0; i < n; i++) {
    total += r2[i];
    if (a[i] > 0) wplus += r2[i];
  }
  double *cnt = calloc((size_t)total + 1, sizeof *cnt);
  cnt[0] = 1;
  for (int i = 0; i < n; i++)
    for (int s = total; s >= r2[i]; s--) cnt[s] += cnt[s - r2[i]];
  double p = 0, all = ldexp(1.0, n);
  for (int s = wplus; s <= total; s++) p += cnt[s];
  free(cnt);
  return p / all;
}

static ps_space *make_space(int d, bool with_log) {
  cJSON *root = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(root, "params");
  for (int i = 0; i < d; i++) {
    cJSON *p = cJSON_CreateObject();
    char key[32];
    snprintf(key, sizeof key, with_log && i == 0 ? "lr" : "p%d", i);
    cJSON_AddStringToObject(p, "key", key);
    cJSON_AddStringToObject(p, "type", "float");
    cJSON_AddNumberToObject(p, "low", with_log && i == 0 ? 1e-4 : -2);
    cJSON_AddNumberToObject(p, "high", with_log && i == 0 ? 1e-1 : 3);
    if (with_log && i == 0) cJSON_AddBoolToObject(p, "log", true);
    cJSON_AddItemToArray(arr, p);
  }
  ps_space *s = NULL;
  CHECK_OK(ps_space_from_json(root, "test space", &s));
  cJSON_Delete(root);
  return s;
}

typedef struct {
  const char *name;
  int d;
  bool log;
  double noise, width;
  int budget;
  double max_median_dist; /* RL's best point: median distance to the optimum over seeds */
} scenario;

static void run_scenario(const scenario *sc, const cJSON *opts) {
  ps_space *s = make_space(sc->d, sc->log);
  if (!s) return;
  const ps_algo_vtable *rl = ps_algo_find("rl"), *rnd = ps_algo_find("random");
  double best_rl[N_SEEDS], best_rnd[N_SEEDS], diff[N_SEEDS], dist[N_SEEDS], x[16];
  double mean_rl = 0, mean_rnd = 0;
  for (int seed = 0; seed < N_SEEDS; seed++) {
    objective o = {.s = s, .width = sc->width, .noise = sc->noise};
    ps_rng *tr = ps_rng_create(ps_seed_derive(1000 + (uint64_t)sc->d + (sc->log ? 500 : 0), (uint64_t)seed));
    for (int i = 0; i < sc->d; i++) o.target[i] = ps_rng_uniform_range(tr, 0.15, 0.85);
    ps_rng_free(tr);
    /* both algorithms see the same noise stream; best-found is scored noise-free */
    double noisy;
    o.rng = ps_rng_create(ps_seed_derive(7, (uint64_t)seed));
    CHECK_OK(ps_search_run_objective(rl, s, opts, (uint64_t)seed, sc->budget, score_fn, &o, &noisy, x, NULL));
    dist[seed] = true_dist(&o, x, sc->d);
    best_rl[seed] = 1.0 / (1.0 + dist[seed] * dist[seed] / (sc->d * sc->width * sc->width));
    ps_rng_seed(o.rng, ps_seed_derive(7, (uint64_t)seed));
    CHECK_OK(ps_search_run_objective(rnd, s, NULL, (uint64_t)seed, sc->budget, score_fn, &o, &noisy, x, NULL));
    double dr = true_dist(&o, x, sc->d);
    best_rnd[seed] = 1.0 / (1.0 + dr * dr / (sc->d * sc->width * sc->width));
    ps_rng_free(o.rng);
    diff[seed] = best_rl[seed] - best_rnd[seed];
    mean_rl += best_rl[seed] / N_SEEDS;
    mean_rnd += best_rnd[seed] / N_SEEDS;
  }
  double sorted[N_SEEDS];
  memcpy(sorted, dist, sizeof dist);
  for (int i = 1; i < N_SEEDS; i++)
    for (int j = i; j > 0 && sorted[j] < sorted[j - 1]; j--) {
      double t = sorted[j]; sorted[j] = sorted[j - 1]; sorted[j - 1] = t;
    }
  double median = 0.5 * (sorted[N_SEEDS / 2 - 1] + sorted[N_SEEDS / 2]);
  double p = wilcoxon_greater(diff, N_SEEDS);
  int wins = 0;
  for (int i = 0; i < N_SEEDS; i++) wins += diff[i] > 0;
  fprintf(stderr, "%-22s d=%d budget=%3d  mean best (noise-free): rl %.4f  random %.4f  rl wins %2d/%d  "
          "Wilcoxon p=%.2g  rl median dist %.3f\n", sc->name, sc->d, sc->budget, mean_rl, mean_rnd, wins, N_SEEDS, p, median);
  CHECK(mean_rl > mean_rnd, "%s: mean best-found rl %.4f <= random %.4f", sc->name, mean_rl, mean_rnd);
  CHECK(p < 0.05, "%s: rl vs random not significant (p = %.3g)", sc->name, p);
  CHECK(median <= sc->max_median_dist, "%s: rl median distance to optimum %.3f > %.3f", sc->name, median, sc->max_median_dist);
  ps_space_free(s);
}

int main(void) {
  /* the Wilcoxon helper itself: all 5 differences positive → p = 1/32 */
  double d5[5] = {1, 2, 3, 4, 5}, d5n[5] = {-1, -2, -3, -4, -5};
  CHECK_NEAR(wilcoxon_greater(d5, 5), 1.0 / 32, 1e-12);
  CHECK_NEAR(wilcoxon_greater(d5n, 5), 1.0, 1e-12);

  const char *env = getenv("PS_RL_OPTS");
  cJSON *opts = env ? cJSON_Parse(env) : NULL;
  const scenario sc[] = {
      {"smooth-2d", 2, false, 0.0, 0.1, 96, 0.05},
      {"noisy-2d", 2, false, 0.03, 0.1, 96, 0.06},
      {"smooth-8d", 8, false, 0.0, 0.1, 96, 0.40},
      {"noisy-8d", 8, false, 0.03, 0.1, 96, 0.40},
      {"log-lr-2d", 2, true, 0.0, 0.1, 96, 0.05},
  };
  for (size_t i = 0; i < sizeof sc / sizeof sc[0]; i++) run_scenario(&sc[i], opts);
  cJSON_Delete(opts);
  return ps_test_done("test_rl");
}
