/* Seed noise in the proxy-vs-full correlation study (see proxyseg/stats.h):
 * replicate means and SDs, the noise ceiling (split-half reliability of the
 * full-scale ranking, Spearman-Brown corrected), bootstrap intervals that
 * resample configurations and replicates, permutation p-values, and the
 * verdict rule that turns them into one of three words. */
#include "proxyseg/stats.h"
#include "stats_internal.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SPLITS 64

void ps_replicate_stats(const double *scores, int n, int R, double *mean, double *sd) {
  for (int i = 0; i < n; i++) {
    double s = 0, s2 = 0;
    int c = 0;
    for (int r = 0; r < R; r++) {
      double v = scores[(size_t)i * R + r];
      if (!isfinite(v)) continue;
      s += v;
      c++;
    }
    double m = c ? s / c : NAN;
    for (int r = 0; r < R && c > 1; r++) {
      double v = scores[(size_t)i * R + r];
      if (isfinite(v)) s2 += (v - m) * (v - m);
    }
    if (mean) mean[i] = m;
    if (sd) sd[i] = c > 1 ? sqrt(s2 / (c - 1)) : NAN;
  }
}

/* Mean of the replicates r of row[R] with side[r] == want (NaN if any of them is missing). */
static double half_mean(const double *row, int R, const unsigned char *side, unsigned char want) {
  double s = 0;
  int c = 0;
  for (int r = 0; r < R; r++) {
    if (side[r] != want) continue;
    if (!isfinite(row[r])) return NAN;
    s += row[r];
    c++;
  }
  return s / c;
}

/* Spearman between the two halves' means over the configs where both are finite. */
static double split_rho(const double *full, int n, int R, const unsigned char *side, double *a, double *b,
                        int *used) {
  int m = 0;
  for (int i = 0; i < n; i++) {
    double x = half_mean(full + (size_t)i * R, R, side, 0), y = half_mean(full + (size_t)i * R, R, side, 1);
    if (isfinite(x) && isfinite(y)) { a[m] = x; b[m] = y; m++; }
  }
  *used = m;
  return m >= 3 ? ps_spearman(a, b, m) : NAN;
}

/* Running mean of the split-half correlations over the splits seen so far. */
typedef struct {
  const double *full;
  int n, R;
  const unsigned char *side; /* [R]: the half of each replicate in the current split */
  double *a, *b;             /* [n] scratch */
  double sum;
  int count, used;
} split_acc;

static void add_split(split_acc *s) {
  int u;
  double r = split_rho(s->full, s->n, s->R, s->side, s->a, s->b, &u);
  if (u > s->used) s->used = u; /* the same for every split: the configs with every replicate finite */
  if (isfinite(r)) { s->sum += r; s->count++; }
}

ps_status ps_noise_ceiling(const double *full, int n, int R, uint64_t seed, double *ceiling, double *split_half,
                           int *n_used) {
  *ceiling = *split_half = NAN;
  if (n_used) *n_used = 0;
  if (n < 0 || R < 0) return ps_error(PS_ERR_INVALID, "stats: noise ceiling of %d configs x %d replicates", n, R);
  if (R < 2 || n < 3) return PS_OK;
  /* Balanced splits: half 0 holds floor(R/2) replicates. A split and its
   * complement give the same correlation, so with equal halves replicate 0 is
   * kept in half 1. That leaves C(R, R/2) (halved for even R) distinct splits:
   * at most 35 up to R = 8, all enumerated; from R = 9 on (126 and more) 64
   * random ones. */
  int h = R / 2;
  double distinct = 1;
  for (int j = 1; j <= h; j++) distinct = distinct * (R - h + j) / j;
  if (2 * h == R) distinct /= 2;
  bool every = distinct <= MAX_SPLITS; /* implies R <= 8: the bit masks below fit */
  double *a = malloc(2 * (size_t)n * sizeof *a);
  unsigned char *side = malloc((size_t)R);
  int *perm = every ? NULL : malloc((size_t)R * sizeof *perm);
  ps_rng *rng = every ? NULL : ps_rng_create(seed);
  if (!a || !side || (!every && (!perm || !rng))) {
    free(a); free(side); free(perm); ps_rng_free(rng);
    return ps_error(PS_ERR_NOMEM, "stats: out of memory");
  }
  split_acc acc = {full, n, R, side, a, a + n, 0, 0, 0};
  if (every) {
    for (unsigned m = 0; m < (1u << R); m++) {
      if (__builtin_popcount(m) != h || (2 * h == R && (m & 1u))) continue;
      for (int r = 0; r < R; r++) side[r] = !(m >> r & 1u);
      add_split(&acc);
    }
  } else {
    for (int s = 0; s < MAX_SPLITS; s++) {
      for (int r = 0; r < R; r++) perm[r] = r;
      for (int r = R - 1; r > 0; r--) {
        int j = (int)ps_rng_int(rng, (uint64_t)r + 1), t = perm[r];
        perm[r] = perm[j];
        perm[j] = t;
      }
      for (int r = 0; r < R; r++) side[perm[r]] = r >= h;
      add_split(&acc);
    }
  }
  free(a); free(side); free(perm); ps_rng_free(rng);
  if (n_used) *n_used = acc.used;
  if (!acc.count) return PS_OK;
  double r = acc.sum / acc.count;
  *split_half = r;
  /* Spearman-Brown from half the replicates to all of them. A negative
   * reliability means the replicates disagree more than chance: the ceiling is
   * then reported as it comes out (negative), never clipped into looking fine;
   * r = -1 would divide by zero and gives -1. */
  *ceiling = r <= -1 ? -1 : 2 * r / (1 + r);
  return PS_OK;
}

/* The finite entries of each row of x[n][w], packed to the front of their row
 * of out[n][w]; cnt[i] says how many. */
static void pack_finite(const double *x, int n, int w, double *out, int *cnt) {
  for (int i = 0; i < n; i++) {
    int c = 0;
    for (int r = 0; r < w; r++)
      if (isfinite(x[(size_t)i * w + r])) out[(size_t)i * w + c++] = x[(size_t)i * w + r];
    cnt[i] = c;
  }
}

/* Mean of c draws with replacement from v[c]; NaN when c == 0. */
static double resampled_mean(const double *v, int c, ps_rng *rng) {
  double s = 0;
  for (int t = 0; t < c; t++) s += v[ps_rng_int(rng, (uint64_t)c)];
  return c ? s / c : NAN;
}

ps_status ps_bootstrap_ci_reps(ps_stat_kind k, const double *proxy, int P, const double *full, int R, int n,
                               int n_boot, uint64_t seed, double ci[2], int *n_degenerate) {
  ci[0] = ci[1] = NAN;
  if (n_degenerate) *n_degenerate = 0;
  if (n < 0 || P < 0 || R < 0)
    return ps_error(PS_ERR_INVALID, "stats: bootstrap of %d configs x %d proxy x %d full runs", n, P, R);
  if (n < 2) return PS_OK;
  if (n_boot <= 0) n_boot = 2000;
  /* A failed run is left out, not resampled: each config's runs are drawn from
   * its finite ones, as many as it has, so the resampled mean matches the
   * point estimate's definition (the mean over the finite runs). */
  double *st = malloc((size_t)n_boot * sizeof *st), *bx = malloc(2 * (size_t)n * sizeof *bx);
  double *fp = malloc((size_t)n * (P ? P : 1) * sizeof *fp), *ff = malloc((size_t)n * (R ? R : 1) * sizeof *ff);
  int *cp = malloc(2 * (size_t)n * sizeof *cp);
  ps_rng *rng = ps_rng_create(seed);
  if (!st || !bx || !fp || !ff || !cp || !rng) {
    free(st); free(bx); free(fp); free(ff); free(cp); ps_rng_free(rng);
    return ps_error(PS_ERR_NOMEM, "stats: out of memory for a %d-resample bootstrap", n_boot);
  }
  double *by = bx + n;
  int *cf = cp + n;
  pack_finite(proxy, n, P, fp, cp);
  pack_finite(full, n, R, ff, cf);
  int m = 0, deg = 0;
  for (int b = 0; b < n_boot; b++) {
    int c = 0;
    for (int i = 0; i < n; i++) {
      int j = (int)ps_rng_int(rng, (uint64_t)n);
      double x = resampled_mean(fp + (size_t)j * P, cp[j], rng), y = resampled_mean(ff + (size_t)j * R, cf[j], rng);
      if (isfinite(x) && isfinite(y)) { bx[c] = x; by[c] = y; c++; }
    }
    double s = c >= 2 ? ps_stat_eval(k, bx, by, c) : NAN;
    if (isfinite(s)) st[m++] = s; else deg++;
  }
  if (m >= 2) {
    qsort(st, (size_t)m, sizeof *st, ps_stats_cmp_double);
    ci[0] = ps_stats_percentile_sorted(st, m, 2.5);
    ci[1] = ps_stats_percentile_sorted(st, m, 97.5);
  }
  if (n_degenerate) *n_degenerate = deg;
  free(st); free(bx); free(fp); free(ff); free(cp); ps_rng_free(rng);
  return PS_OK;
}

/* Next lexicographic permutation of p[n]; false after the last. */
static bool next_perm(int *p, int n) {
  int i = n - 2;
  while (i >= 0 && p[i] >= p[i + 1]) i--;
  if (i < 0) return false;
  int j = n - 1;
  while (p[j] <= p[i]) j--;
  int t = p[i]; p[i] = p[j]; p[j] = t;
  for (int a = i + 1, b = n - 1; a < b; a++, b--) { t = p[a]; p[a] = p[b]; p[b] = t; }
  return true;
}

double ps_permutation_p(ps_stat_kind k, const double *x, const double *y, int n, int n_resamples, uint64_t seed,
                        bool *exact) {
  if (exact) *exact = false;
  if (n < 3) return NAN;
  double obs = ps_stat_eval(k, x, y, n);
  if (!isfinite(obs)) return NAN;
  /* Statistics equal up to rounding count as ">=" (a permuted sum adds in
   * another order). SciPy allows 100 machine epsilons relative to |obs|; this
   * allows 1e-12, and absolutely near 0, where a relative tolerance vanishes and
   * a zero statistic could miss its own ties. */
  double tol = 1e-12 * fmax(1.0, fabs(obs));
  int *p = malloc((size_t)n * sizeof *p);
  double *yp = malloc((size_t)n * sizeof *yp);
  double *rk = k == PS_STAT_SPEARMAN ? malloc(2 * (size_t)n * sizeof *rk) : NULL;
  if (!p || !yp || (k == PS_STAT_SPEARMAN && !rk)) { free(p); free(yp); free(rk); return NAN; }
  if (rk) {
    /* Spearman is Pearson of ranks (ps_spearman computes it so), and the ranks
     * of a permuted y are the permuted ranks: rank once, not n! times. */
    ps_rank_average(x, n, rk);
    ps_rank_average(y, n, rk + n);
    x = rk;
    y = rk + n;
    k = PS_STAT_PEARSON;
  }
  for (int i = 0; i < n; i++) p[i] = i;
  double ge = 0, total = 0, pval;
  if (n <= 9) {
    do {
      for (int i = 0; i < n; i++) yp[i] = y[p[i]];
      double s = ps_stat_eval(k, x, yp, n);
      total++;
      if (isfinite(s) && s >= obs - tol) ge++;
    } while (next_perm(p, n));
    pval = ge / total;
    if (exact) *exact = true;
  } else {
    if (n_resamples <= 0) n_resamples = 20000;
    ps_rng *rng = ps_rng_create(seed);
    if (!rng) { free(p); free(yp); free(rk); return NAN; }
    for (int b = 0; b < n_resamples; b++) {
      for (int i = n - 1; i > 0; i--) {
        int j = (int)ps_rng_int(rng, (uint64_t)i + 1), t = p[i];
        p[i] = p[j];
        p[j] = t;
      }
      for (int i = 0; i < n; i++) yp[i] = y[p[i]];
      double s = ps_stat_eval(k, x, yp, n);
      if (isfinite(s) && s >= obs - tol) ge++;
    }
    ps_rng_free(rng);
    pval = (ge + 1) / (n_resamples + 1.0);
  }
  free(p);
  free(yp);
  free(rk);
  return pval;
}

ps_verdict ps_verdict_decide(double ceiling, double rho, const double rho_ci[2], double p) {
  if (!isfinite(ceiling) || ceiling < PS_VERDICT_MIN_CEILING) return PS_VERDICT_INCONCLUSIVE;
  /* The exact permutation test decides: it is calibrated at the handful of
   * configurations a study re-trains, where a percentile bootstrap of rho is
   * not (its interval is reported beside, not used as a gate). */
  (void)rho_ci;
  if (isfinite(rho) && rho > 0 && isfinite(p) && p < PS_VERDICT_ALPHA) return PS_VERDICT_INFORMATIVE;
  return PS_VERDICT_NOT_INFORMATIVE;
}

const char *ps_verdict_label(ps_verdict v) {
  switch (v) {
  case PS_VERDICT_INFORMATIVE: return "informative";
  case PS_VERDICT_NOT_INFORMATIVE: return "not informative";
  default: return "inconclusive — full-scale differences are within seed noise";
  }
}

static const char *verdict_code(ps_verdict v) {
  return v == PS_VERDICT_INFORMATIVE ? "informative" : v == PS_VERDICT_NOT_INFORMATIVE ? "not_informative" : "inconclusive";
}

const char *ps_verdict_rule_text(void) {
  return "inconclusive when the noise ceiling (split-half Spearman of the full-scale replicates, Spearman-Brown "
         "corrected) is below 0.5 or cannot be measured; otherwise informative when Spearman rho of proxy against "
         "the full-scale replicate means is above 0 with a one-sided permutation p-value (exact up to 9 "
         "configurations) below 0.05; otherwise not informative";
}

void ps_param_importance(const double *x, int n, int d, const double *score, double *imp) {
  double *a = malloc(2 * (size_t)(n ? n : 1) * sizeof *a);
  for (int j = 0; j < d; j++) {
    imp[j] = NAN;
    if (!a) continue;
    int m = 0;
    for (int i = 0; i < n; i++) {
      double v = x[(size_t)i * d + j];
      if (isfinite(v) && isfinite(score[i])) { a[m] = v; a[n + m] = score[i]; m++; }
    }
    if (m >= 3) imp[j] = fabs(ps_spearman(a, a + n, m));
  }
  free(a);
}

/* printf of a finite v, "undefined" (all scores tied, or too few) otherwise. */
static void fmt_num(char *buf, size_t len, const char *fmt, double v) {
  if (isfinite(v)) snprintf(buf, len, fmt, v);
  else snprintf(buf, len, "undefined");
}

static cJSON *num_or_null(double v) { return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull(); }

static cJSON *row_array(const double *row, int w) {
  cJSON *a = cJSON_CreateArray();
  for (int r = 0; r < w; r++) cJSON_AddItemToArray(a, num_or_null(row[r]));
  return a;
}

ps_status ps_correlation_report_reps(const double *proxy, int P, const double *full, int R, const int *trial_ids,
                                     int n, int topk, int n_boot, uint64_t seed, cJSON **out) {
  *out = NULL;
  if (n < 0 || P < 0 || R < 0)
    return ps_error(PS_ERR_INVALID, "stats: correlation of %d configs x %d proxy x %d full runs", n, P, R);
  if (n_boot <= 0) n_boot = 2000;
  size_t nn = (size_t)(n ? n : 1);
  double *pm = malloc(nn * sizeof *pm), *psd = malloc(nn * sizeof *psd), *fm = malloc(nn * sizeof *fm),
         *fsd = malloc(nn * sizeof *fsd), *cx = malloc(nn * sizeof *cx), *cy = malloc(nn * sizeof *cy);
  double *cp = malloc(nn * (size_t)(P > 0 ? P : 1) * sizeof *cp), *cf = malloc(nn * (size_t)(R > 0 ? R : 1) * sizeof *cf);
  if (!pm || !psd || !fm || !fsd || !cx || !cy || !cp || !cf) {
    free(pm); free(psd); free(fm); free(fsd); free(cx); free(cy); free(cp); free(cf);
    return ps_error(PS_ERR_NOMEM, "stats: out of memory");
  }
  ps_replicate_stats(proxy, n, P, pm, psd);
  ps_replicate_stats(full, n, R, fm, fsd);
  cJSON *o = cJSON_CreateObject(), *pairs = cJSON_CreateArray();
  int m = 0;
  for (int i = 0; i < n; i++) {
    cJSON *pr = cJSON_CreateObject();
    cJSON_AddNumberToObject(pr, "trial", trial_ids ? trial_ids[i] : i);
    cJSON_AddItemToObject(pr, "proxy_score", num_or_null(pm[i]));
    cJSON_AddItemToObject(pr, "proxy_sd", num_or_null(psd[i]));
    cJSON_AddItemToObject(pr, "proxy_scores", row_array(proxy + (size_t)i * P, P));
    cJSON_AddItemToObject(pr, "full_score", num_or_null(fm[i]));
    cJSON_AddItemToObject(pr, "full_sd", num_or_null(fsd[i]));
    cJSON_AddItemToObject(pr, "full_scores", row_array(full + (size_t)i * R, R));
    cJSON_AddItemToArray(pairs, pr);
    if (!isfinite(pm[i]) || !isfinite(fm[i])) continue; /* listed, kept out of the statistics */
    cx[m] = pm[i];
    cy[m] = fm[i];
    memcpy(cp + (size_t)m * P, proxy + (size_t)i * P, (size_t)P * sizeof *cp);
    memcpy(cf + (size_t)m * R, full + (size_t)i * R, (size_t)R * sizeof *cf);
    m++;
  }
  cJSON_AddNumberToObject(o, "n", n);
  cJSON_AddNumberToObject(o, "n_dropped", n - m);
  cJSON_AddNumberToObject(o, "P", P);
  cJSON_AddNumberToObject(o, "R", R);
  cJSON_AddItemToObject(o, "pairs", pairs);
  ps_status st = PS_OK;
  const char *names[3] = {"spearman", "kendall", "pearson"};
  double rho = NAN, rho_ci[2] = {NAN, NAN}, rho_p = NAN;
  for (int k = 0; k < 3 && !st; k++) {
    cJSON *s = cJSON_AddObjectToObject(o, names[k]);
    double v = m >= 3 ? ps_stat_eval((ps_stat_kind)k, cx, cy, m) : NAN, ci[2] = {NAN, NAN};
    int deg = 0;
    bool exact = false;
    if (m >= 3) st = ps_bootstrap_ci_reps((ps_stat_kind)k, cp, P, cf, R, m, n_boot, seed + (uint64_t)k, ci, &deg);
    double p = m >= 3 ? ps_permutation_p((ps_stat_kind)k, cx, cy, m, 20000, seed + 10 + (uint64_t)k, &exact) : NAN;
    cJSON_AddItemToObject(s, "value", num_or_null(v));
    cJSON *c = cJSON_AddArrayToObject(s, "ci95");
    cJSON_AddItemToArray(c, num_or_null(ci[0]));
    cJSON_AddItemToArray(c, num_or_null(ci[1]));
    cJSON_AddNumberToObject(s, "n_boot", n_boot);
    cJSON_AddNumberToObject(s, "n_degenerate", deg);
    cJSON_AddItemToObject(s, "p_value", num_or_null(p));
    cJSON_AddBoolToObject(s, "p_exact", exact);
    if (k == 0) { rho = v; rho_ci[0] = ci[0]; rho_ci[1] = ci[1]; rho_p = p; }
  }
  /* the noise ceiling, over the configs kept in the statistics */
  double ceiling = NAN, sh = NAN;
  int used = 0;
  if (!st) st = ps_noise_ceiling(cf, m, R, seed + 20, &ceiling, &sh, &used);
  cJSON *nc = cJSON_AddObjectToObject(o, "noise_ceiling");
  cJSON_AddItemToObject(nc, "value", num_or_null(ceiling));
  cJSON_AddItemToObject(nc, "split_half", num_or_null(sh));
  cJSON_AddNumberToObject(nc, "n", used);
  cJSON_AddNumberToObject(nc, "R", R);
  cJSON_AddStringToObject(nc, "method", "split-half Spearman, Spearman-Brown corrected to R replicates");
  /* seed noise beside the spread of the configurations */
  double within = 0, mean_of_means = 0, between = 0;
  int wc = 0;
  for (int i = 0; i < m; i++) {
    double sd;
    ps_replicate_stats(cf + (size_t)i * R, 1, R, NULL, &sd);
    if (isfinite(sd)) { within += sd * sd; wc++; }
    mean_of_means += cy[i] / m;
  }
  for (int i = 0; i < m; i++) between += (cy[i] - mean_of_means) * (cy[i] - mean_of_means);
  double pooled = wc ? sqrt(within / wc) : NAN, bsd = m > 1 ? sqrt(between / (m - 1)) : NAN;
  cJSON *ns = cJSON_AddObjectToObject(o, "noise");
  cJSON_AddItemToObject(ns, "pooled_sd", num_or_null(pooled));
  cJSON_AddItemToObject(ns, "between_sd", num_or_null(bsd));
  cJSON_AddItemToObject(ns, "ratio", num_or_null(bsd / pooled));
  cJSON *tk = cJSON_AddObjectToObject(o, "topk_overlap");
  int kk = topk < 1 ? 1 : topk > m ? m : topk;
  cJSON_AddNumberToObject(tk, "k", kk);
  cJSON_AddItemToObject(tk, "value", num_or_null(m >= 1 ? ps_topk_overlap(cx, cy, m, kk) : NAN));
  cJSON_AddItemToObject(o, "regret", num_or_null(m >= 1 ? ps_regret(cx, cy, m) : NAN));
  if (m < 3) cJSON_AddStringToObject(o, "reason", "fewer than 3 configurations have both a proxy and a full-scale score");
  /* the verdict */
  ps_verdict v = ps_verdict_decide(ceiling, rho, rho_ci, rho_p);
  cJSON *vd = cJSON_AddObjectToObject(o, "verdict");
  cJSON_AddStringToObject(vd, "label", ps_verdict_label(v));
  cJSON_AddStringToObject(vd, "code", verdict_code(v));
  char text[400], rs[24], lo[24], hi[24], ps[24], cs[24];
  fmt_num(rs, sizeof rs, "%.2f", rho);
  fmt_num(lo, sizeof lo, "%.2f", rho_ci[0]);
  fmt_num(hi, sizeof hi, "%.2f", rho_ci[1]);
  fmt_num(ps, sizeof ps, "%.3g", rho_p);
  fmt_num(cs, sizeof cs, "%.2f", ceiling);
  if (m < 3)
    snprintf(text, sizeof text, "%s: fewer than 3 configurations were trained at both scales", ps_verdict_label(v));
  else if (!isfinite(ceiling))
    snprintf(text, sizeof text, "%s: Spearman rho %s over %d configs, but the seed noise was not measured (%s)",
             ps_verdict_label(v), rs, m,
             R < 2 ? "one replicate per configuration"
                   : used < 3 ? "fewer than 3 configs have every replicate" : "the replicate means are all tied");
  else
    snprintf(text, sizeof text, "%s: Spearman rho %s [%s, %s], p = %s, against a noise ceiling of %s (%d configs x %d replicates)",
             ps_verdict_label(v), rs, lo, hi, ps, cs, m, R);
  cJSON_AddStringToObject(vd, "text", text);
  if (v == PS_VERDICT_INCONCLUSIVE)
    cJSON_AddStringToObject(vd, "advice", "train longer, widen the space, or re-train more configurations (or more replicates)");
  else
    cJSON_AddNullToObject(vd, "advice");
  cJSON_AddStringToObject(vd, "rule", ps_verdict_rule_text());
  cJSON_AddItemToObject(vd, "relative", num_or_null(isfinite(ceiling) && ceiling > 0 ? rho / ceiling : NAN));
  free(pm); free(psd); free(fm); free(fsd); free(cx); free(cy); free(cp); free(cf);
  if (st) { cJSON_Delete(o); return st; }
  *out = o;
  return PS_OK;
}
