/* Rank statistics for the correlation study (see proxyseg/stats.h): the
 * correlations follow SciPy's definitions exactly (average ranks, tau-b), so
 * the oracle test can hold them to 1e-9; intervals are percentile bootstraps. */
#include "proxyseg/stats.h"
#include "stats_internal.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct { double v; int i; } ps_vi;

static int cmp_vi(const void *a, const void *b) {
  const ps_vi *x = a, *y = b;
  if (x->v < y->v) return -1;
  if (x->v > y->v) return 1;
  return (x->i > y->i) - (x->i < y->i);
}

void ps_rank_average(const double *x, int n, double *ranks) {
  if (n <= 0) return;
  ps_vi *t = malloc((size_t)n * sizeof *t);
  if (!t) { for (int i = 0; i < n; i++) ranks[i] = NAN; return; }
  for (int i = 0; i < n; i++) { t[i].v = x[i]; t[i].i = i; }
  qsort(t, (size_t)n, sizeof *t, cmp_vi);
  for (int a = 0; a < n;) {
    int b = a + 1;
    while (b < n && t[b].v == t[a].v) b++;
    double r = 0.5 * (double)(a + 1 + b); /* mean of ranks a+1..b */
    for (int k = a; k < b; k++) ranks[t[k].i] = r;
    a = b;
  }
  free(t);
}

double ps_pearson(const double *x, const double *y, int n) {
  if (n < 2) return NAN;
  double mx = 0, my = 0;
  for (int i = 0; i < n; i++) { mx += x[i]; my += y[i]; }
  mx /= n; my /= n;
  double sxy = 0, sxx = 0, syy = 0;
  for (int i = 0; i < n; i++) {
    double dx = x[i] - mx, dy = y[i] - my;
    sxy += dx * dy; sxx += dx * dx; syy += dy * dy;
  }
  /* exact ties leave sxx exactly 0; tiny rounding residue counts as a constant too */
  if (sxx <= 1e-300 || syy <= 1e-300) return NAN;
  double r = sxy / sqrt(sxx * syy);
  return r > 1 ? 1 : r < -1 ? -1 : r;
}

double ps_spearman(const double *x, const double *y, int n) {
  if (n < 2) return NAN;
  double *rx = malloc(2 * (size_t)n * sizeof *rx);
  if (!rx) return NAN;
  double *ry = rx + n;
  ps_rank_average(x, n, rx);
  ps_rank_average(y, n, ry);
  double r = ps_pearson(rx, ry, n);
  free(rx);
  return r;
}

/* O(n²): the study has tens of configs, and the direct count is easy to trust. */
double ps_kendall_tau_b(const double *x, const double *y, int n) {
  if (n < 2) return NAN;
  double conc = 0, disc = 0, tx = 0, ty = 0; /* tx: pairs tied in x only or both */
  double n0 = 0.5 * (double)n * (double)(n - 1);
  for (int i = 0; i < n; i++)
    for (int j = i + 1; j < n; j++) {
      double dx = x[i] - x[j], dy = y[i] - y[j];
      if (dx == 0) tx++;
      if (dy == 0) ty++;
      if (dx == 0 || dy == 0) continue;
      if ((dx > 0) == (dy > 0)) conc++; else disc++;
    }
  double den = (n0 - tx) * (n0 - ty);
  if (den <= 0) return NAN;
  double t = (conc - disc) / sqrt(den);
  return t > 1 ? 1 : t < -1 ? -1 : t;
}

double ps_stat_eval(ps_stat_kind k, const double *x, const double *y, int n) {
  switch (k) {
  case PS_STAT_SPEARMAN: return ps_spearman(x, y, n);
  case PS_STAT_KENDALL: return ps_kendall_tau_b(x, y, n);
  case PS_STAT_PEARSON: return ps_pearson(x, y, n);
  }
  return NAN;
}

int ps_stats_cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

double ps_stats_percentile_sorted(const double *v, int m, double q) {
  if (m <= 0) return NAN;
  double pos = q / 100.0 * (m - 1);
  int lo = (int)floor(pos);
  if (lo >= m - 1) return v[m - 1];
  double f = pos - lo;
  return v[lo] + f * (v[lo + 1] - v[lo]);
}

/* One bootstrap run of a statistic or of the difference of two (paired):
 * y2 == NULL → stat(x, y); else stat(x, y) − stat(x2, y) on the same resample. */
static ps_status bootstrap(ps_stat_kind k, const double *x, const double *x2, const double *y, int n,
                           int n_boot, uint64_t seed, double ci[2], int *n_degenerate) {
  ci[0] = ci[1] = NAN;
  if (n_degenerate) *n_degenerate = 0;
  if (n < 2) return PS_OK;
  if (n_boot <= 0) n_boot = 2000;
  double *stats = malloc((size_t)n_boot * sizeof *stats);
  double *buf = malloc(3 * (size_t)n * sizeof *buf);
  ps_rng *rng = ps_rng_create(seed);
  if (!stats || !buf || !rng) {
    free(stats); free(buf); ps_rng_free(rng);
    return ps_error(PS_ERR_NOMEM, "stats: out of memory for a %d-resample bootstrap", n_boot);
  }
  double *bx = buf, *by = buf + n, *bx2 = buf + 2 * (size_t)n;
  int m = 0, deg = 0;
  for (int b = 0; b < n_boot; b++) {
    for (int i = 0; i < n; i++) {
      int j = (int)ps_rng_int(rng, (uint64_t)n);
      bx[i] = x[j]; by[i] = y[j];
      if (x2) bx2[i] = x2[j];
    }
    double s = ps_stat_eval(k, bx, by, n);
    if (x2) s -= ps_stat_eval(k, bx2, by, n);
    if (isfinite(s)) stats[m++] = s; else deg++;
  }
  if (m >= 2) {
    qsort(stats, (size_t)m, sizeof *stats, ps_stats_cmp_double);
    ci[0] = ps_stats_percentile_sorted(stats, m, 2.5);
    ci[1] = ps_stats_percentile_sorted(stats, m, 97.5);
  }
  if (n_degenerate) *n_degenerate = deg;
  free(stats); free(buf); ps_rng_free(rng);
  return PS_OK;
}

ps_status ps_bootstrap_ci(ps_stat_kind k, const double *x, const double *y, int n,
                          int n_boot, uint64_t seed, double ci[2], int *n_degenerate) {
  return bootstrap(k, x, NULL, y, n, n_boot, seed, ci, n_degenerate);
}

/* Indices of x sorted best-first (descending value, ties by index). */
static int *order_desc(const double *x, int n) {
  ps_vi *t = malloc((size_t)n * sizeof *t);
  int *o = malloc((size_t)n * sizeof *o);
  if (!t || !o) { free(t); free(o); return NULL; }
  for (int i = 0; i < n; i++) { t[i].v = -x[i]; t[i].i = i; }
  qsort(t, (size_t)n, sizeof *t, cmp_vi);
  for (int i = 0; i < n; i++) o[i] = t[i].i;
  free(t);
  return o;
}

double ps_topk_overlap(const double *proxy, const double *full, int n, int k) {
  if (n < 1) return NAN;
  if (k < 1) k = 1;
  if (k > n) k = n;
  int *op = order_desc(proxy, n), *of = order_desc(full, n);
  char *inp = calloc((size_t)n, 1);
  double r = NAN;
  if (op && of && inp) {
    int hit = 0;
    for (int i = 0; i < k; i++) inp[op[i]] = 1;
    for (int i = 0; i < k; i++) hit += inp[of[i]];
    r = (double)hit / k;
  }
  free(op); free(of); free(inp);
  return r;
}

double ps_regret(const double *proxy, const double *full, int n) {
  if (n < 1) return NAN;
  int bp = 0;
  double bf = full[0];
  for (int i = 1; i < n; i++) {
    if (proxy[i] > proxy[bp]) bp = i;
    if (full[i] > bf) bf = full[i];
  }
  return bf - full[bp];
}

static cJSON *num_or_null(double v) {
  return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();
}

static cJSON *stat_object(ps_stat_kind k, const double *x, const double *y, int n, int n_boot,
                          uint64_t seed, ps_status *st) {
  cJSON *o = cJSON_CreateObject();
  double ci[2];
  int deg = 0;
  *st = ps_bootstrap_ci(k, x, y, n, n_boot, seed, ci, &deg);
  cJSON_AddItemToObject(o, "value", num_or_null(ps_stat_eval(k, x, y, n)));
  cJSON *a = cJSON_AddArrayToObject(o, "ci95");
  cJSON_AddItemToArray(a, num_or_null(ci[0]));
  cJSON_AddItemToArray(a, num_or_null(ci[1]));
  cJSON_AddNumberToObject(o, "n_boot", n_boot);
  cJSON_AddNumberToObject(o, "n_degenerate", deg);
  return o;
}

static cJSON *null_stat(void) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNullToObject(o, "value");
  cJSON_AddNullToObject(o, "ci95");
  return o;
}

ps_status ps_correlation_report(const double *proxy, const double *full, const int *trial_ids,
                                int n, int topk, int n_boot, uint64_t seed, cJSON **out) {
  *out = NULL;
  if (n < 0 || (n > 0 && (!proxy || !full)))
    return ps_error(PS_ERR_INVALID, "stats: correlation report needs proxy and full scores (n=%d)", n);
  if (n_boot <= 0) n_boot = 2000;
  double *px = malloc(((size_t)n + 1) * sizeof *px), *fx = malloc(((size_t)n + 1) * sizeof *fx);
  cJSON *o = cJSON_CreateObject();
  if (!px || !fx || !o) {
    free(px); free(fx); cJSON_Delete(o);
    return ps_error(PS_ERR_NOMEM, "stats: out of memory");
  }
  int m = 0;
  cJSON *pairs = cJSON_CreateArray();
  for (int i = 0; i < n; i++) {
    cJSON *p = cJSON_CreateObject();
    cJSON_AddNumberToObject(p, "trial", trial_ids ? trial_ids[i] : i);
    cJSON_AddItemToObject(p, "proxy_score", num_or_null(proxy[i]));
    cJSON_AddItemToObject(p, "full_score", num_or_null(full[i]));
    cJSON_AddItemToArray(pairs, p);
    if (isfinite(proxy[i]) && isfinite(full[i])) { px[m] = proxy[i]; fx[m] = full[i]; m++; }
  }
  cJSON_AddNumberToObject(o, "n", m);
  cJSON_AddNumberToObject(o, "n_dropped", n - m);
  cJSON_AddItemToObject(o, "pairs", pairs);
  ps_status st = PS_OK;
  if (m < 3) {
    cJSON_AddItemToObject(o, "spearman", null_stat());
    cJSON_AddItemToObject(o, "kendall", null_stat());
    cJSON_AddItemToObject(o, "pearson", null_stat());
    cJSON *tk = cJSON_AddObjectToObject(o, "topk_overlap");
    cJSON_AddNumberToObject(tk, "k", topk);
    cJSON_AddNullToObject(tk, "value");
    cJSON_AddNullToObject(o, "regret");
    char reason[96];
    snprintf(reason, sizeof reason, "only %d config%s with finite proxy and full scores (need 3)",
             m, m == 1 ? "" : "s");
    cJSON_AddStringToObject(o, "reason", reason);
  } else {
    static const char *names[3] = {"spearman", "kendall", "pearson"};
    for (int k = 0; k < 3 && st == PS_OK; k++)
      /* each statistic gets its own stream so adding one never shifts another's CI */
      cJSON_AddItemToObject(o, names[k], stat_object((ps_stat_kind)k, px, fx, m, n_boot,
                                                     ps_seed_derive(seed, (uint64_t)k), &st));
    int k = topk < 1 ? 1 : topk > m ? m : topk;
    cJSON *tk = cJSON_AddObjectToObject(o, "topk_overlap");
    cJSON_AddNumberToObject(tk, "k", k);
    cJSON_AddItemToObject(tk, "value", num_or_null(ps_topk_overlap(px, fx, m, k)));
    cJSON_AddItemToObject(o, "regret", num_or_null(ps_regret(px, fx, m)));
  }
  free(px); free(fx);
  if (st != PS_OK) { cJSON_Delete(o); return st; }
  *out = o;
  return PS_OK;
}

ps_status ps_compare_proxies(const double *proxy_a, const double *proxy_b, const double *full,
                             int n, int n_boot, uint64_t seed, cJSON **out) {
  *out = NULL;
  if (n < 0 || (n > 0 && (!proxy_a || !proxy_b || !full)))
    return ps_error(PS_ERR_INVALID, "stats: proxy comparison needs two proxy score vectors and the full scores");
  if (n_boot <= 0) n_boot = 2000;
  double ra = ps_spearman(proxy_a, full, n), rb = ps_spearman(proxy_b, full, n);
  double ci[2] = {NAN, NAN};
  int deg = 0;
  if (n >= 3) {
    ps_status st = bootstrap(PS_STAT_SPEARMAN, proxy_a, proxy_b, full, n, n_boot, seed, ci, &deg);
    if (st != PS_OK) return st;
  }
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "n", n);
  cJSON_AddItemToObject(o, "rho_a", num_or_null(ra));
  cJSON_AddItemToObject(o, "rho_b", num_or_null(rb));
  cJSON_AddItemToObject(o, "diff", num_or_null(ra - rb));
  cJSON *a = cJSON_AddArrayToObject(o, "ci95");
  cJSON_AddItemToArray(a, num_or_null(ci[0]));
  cJSON_AddItemToArray(a, num_or_null(ci[1]));
  cJSON_AddNumberToObject(o, "n_boot", n_boot);
  cJSON_AddNumberToObject(o, "n_degenerate", deg);
  const char *better = "undecided";
  if (isfinite(ci[0]) && ci[0] > 0) better = "a";
  else if (isfinite(ci[1]) && ci[1] < 0) better = "b";
  cJSON_AddStringToObject(o, "better", better);
  if (n < 3) cJSON_AddStringToObject(o, "reason", "fewer than 3 configs with both scores");
  *out = o;
  return PS_OK;
}
