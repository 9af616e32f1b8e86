/* Seed-noise statistics (proxy/noise.c): the noise ceiling and permutation
 * p-values against SciPy (--oracle), bootstrap coverage on synthetic pairs
 * with a known correlation, the verdict rule on data built to be informative,
 * uninformative and noise-dominated, and the edge cases. */
#include "proxyseg/json.h"
#include "proxyseg/stats.h"
#include "testutil.h"
#include <math.h>
#include <string.h>

/* Bivariate normal pairs with correlation rho. */
static void normal_pairs(ps_rng *r, int n, double rho, double *x, double *y) {
  for (int i = 0; i < n; i++) {
    double u1 = ps_rng_uniform(r) + 1e-12, u2 = ps_rng_uniform(r);
    double a = sqrt(-2 * log(u1)) * cos(2 * M_PI * u2), b = sqrt(-2 * log(u1)) * sin(2 * M_PI * u2);
    x[i] = a;
    y[i] = rho * a + sqrt(1 - rho * rho) * b;
  }
}

static double gauss(ps_rng *r) {
  double u1 = ps_rng_uniform(r) + 1e-12, u2 = ps_rng_uniform(r);
  return sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
}

/* The 95 % interval must cover the population Spearman correlation of a
 * bivariate normal, 6/pi asin(rho/2), in about 95 % of data sets. A percentile
 * bootstrap at n = 30 covers a little less; 200 data sets give a binomial SD
 * of 1.5 points, so [85 %, 99.5 %] passes a correct implementation and fails a
 * broken one (an interval around the wrong centre, or a degenerate width). */
static void test_coverage(void) {
  const int sets = 200, n = 30;
  const double rho = 0.6, truth = 6 / M_PI * asin(rho / 2);
  ps_rng *r = ps_rng_create(20261128);
  double x[30], y[30];
  int covered = 0;
  double width = 0;
  for (int s = 0; s < sets; s++) {
    normal_pairs(r, n, rho, x, y);
    double ci[2];
    CHECK_OK(ps_bootstrap_ci_reps(PS_STAT_SPEARMAN, x, 1, y, 1, n, 400, (uint64_t)s, ci, NULL));
    covered += ci[0] <= truth && truth <= ci[1];
    width += (ci[1] - ci[0]) / sets;
  }
  ps_rng_free(r);
  printf("bootstrap coverage of Spearman %.3f: %d/%d, mean width %.3f\n", truth, covered, sets, width);
  CHECK(covered >= 170 && covered <= 199, "coverage %d of %d outside [85%%, 99.5%%]", covered, sets);
  CHECK(width > 0.2 && width < 0.8, "mean interval width %g", width);
}

/* Resampling replicates widens the interval: noisy replicates must not look certain. */
static void test_replicates_widen(void) {
  enum { N = 12, R = 4 };
  ps_rng *r = ps_rng_create(5);
  double proxy[N], full[N * R], mean[N];
  for (int i = 0; i < N; i++) {
    double t = (double)i / N;
    proxy[i] = t + 0.05 * gauss(r);
    for (int k = 0; k < R; k++) full[i * R + k] = t + 0.3 * gauss(r);
  }
  ps_replicate_stats(full, N, R, mean, NULL);
  double ci_means[2], ci_reps[2];
  CHECK_OK(ps_bootstrap_ci(PS_STAT_SPEARMAN, proxy, mean, N, 2000, 3, ci_means, NULL));
  CHECK_OK(ps_bootstrap_ci_reps(PS_STAT_SPEARMAN, proxy, 1, full, R, N, 2000, 3, ci_reps, NULL));
  CHECK(ci_reps[1] - ci_reps[0] > ci_means[1] - ci_means[0], "replicate resampling should widen [%g,%g] vs [%g,%g]",
        ci_reps[0], ci_reps[1], ci_means[0], ci_means[1]);
  ps_rng_free(r);
}

/* One run per config is the plain pairs bootstrap, draw for draw; a failed
 * replicate is left out rather than resampled, so a grid whose second
 * replicates all failed gives that same interval again. */
static void test_bootstrap_failed_runs(void) {
  enum { N = 10 };
  ps_rng *r = ps_rng_create(11);
  double proxy[N], full1[N], full2[N * 2];
  normal_pairs(r, N, 0.5, proxy, full1);
  ps_rng_free(r);
  for (int i = 0; i < N; i++) { full2[2 * i] = full1[i]; full2[2 * i + 1] = NAN; }
  double pairs[2], reps1[2], reps2[2];
  int d1 = -1, d2 = -1;
  CHECK_OK(ps_bootstrap_ci(PS_STAT_SPEARMAN, proxy, full1, N, 500, 9, pairs, NULL));
  CHECK_OK(ps_bootstrap_ci_reps(PS_STAT_SPEARMAN, proxy, 1, full1, 1, N, 500, 9, reps1, &d1));
  CHECK_OK(ps_bootstrap_ci_reps(PS_STAT_SPEARMAN, proxy, 1, full2, 2, N, 500, 9, reps2, &d2));
  CHECK(reps1[0] == pairs[0] && reps1[1] == pairs[1], "P = R = 1: [%g, %g] vs pairs [%g, %g]", reps1[0], reps1[1],
        pairs[0], pairs[1]);
  CHECK(reps2[0] == pairs[0] && reps2[1] == pairs[1], "failed replicates resampled: [%g, %g] vs [%g, %g]", reps2[0],
        reps2[1], pairs[0], pairs[1]);
  CHECK(d1 == 0 && d2 == 0, "degenerate resamples %d %d", d1, d2);
  double ci[2];
  CHECK(ps_bootstrap_ci_reps(PS_STAT_SPEARMAN, proxy, -1, full1, 1, N, 10, 1, ci, NULL) == PS_ERR_INVALID,
        "negative P refused");
}

/* proxy[n], full[n*R] from a truth, replicate noise and a proxy that tracks the truth or not. */
static const char *verdict_of(double spread, double noise, bool proxy_tracks, uint64_t seed, cJSON **keep) {
  enum { N = 8, R = 3 };
  ps_rng *r = ps_rng_create(seed);
  double proxy[N], full[N * R];
  for (int i = 0; i < N; i++) {
    double t = spread * i / (N - 1);
    proxy[i] = proxy_tracks ? t + 0.01 * gauss(r) : ps_rng_uniform(r);
    for (int k = 0; k < R; k++) full[i * R + k] = 0.5 + t + noise * gauss(r);
  }
  ps_rng_free(r);
  cJSON *o = NULL;
  CHECK_OK(ps_correlation_report_reps(proxy, 1, full, R, NULL, N, 3, 1000, seed, &o));
  static char code[32];
  snprintf(code, sizeof code, "%s", ps_json_str(o, "verdict.code", "?"));
  printf("verdict: %s (ceiling %.2f)\n", ps_json_str(o, "verdict.text", "?"), ps_json_num(o, "noise_ceiling.value", NAN));
  if (keep) *keep = o; else cJSON_Delete(o);
  return code;
}

static void test_verdicts(void) {
  int inf = 0, uninf = 0, noisy = 0;
  for (uint64_t s = 1; s <= 5; s++) {
    inf += !strcmp(verdict_of(0.4, 0.01, true, s, NULL), "informative");
    /* a proxy independent of the truth: p < 0.05 by chance in about 1 of 20 */
    uninf += !strcmp(verdict_of(0.4, 0.01, false, s + 100, NULL), "not_informative");
    /* equal configs: the split-half ceiling of 8 configs is itself noisy and
     * crosses 0.5 by chance now and then (1 of these 5 seeds) */
    noisy += !strcmp(verdict_of(0.0, 0.1, true, s + 200, NULL), "inconclusive");
  }
  CHECK(inf == 5, "informative data: %d of 5 informative", inf);
  CHECK(uninf >= 4, "a random proxy: %d of 5 not informative", uninf);
  CHECK(noisy >= 4, "equal configs under seed noise: %d of 5 inconclusive", noisy);
  /* the rule's thresholds, directly */
  double ci_pos[2] = {0.2, 0.9}, ci_zero[2] = {-0.1, 0.9};
  CHECK(ps_verdict_decide(0.49, 0.9, ci_pos, 0.001) == PS_VERDICT_INCONCLUSIVE, "ceiling below 0.5");
  CHECK(ps_verdict_decide(NAN, 0.9, ci_pos, 0.001) == PS_VERDICT_INCONCLUSIVE, "ceiling not measured");
  CHECK(ps_verdict_decide(0.9, 0.7, ci_pos, 0.01) == PS_VERDICT_INFORMATIVE, "all three conditions");
  CHECK(ps_verdict_decide(0.9, 0.7, ci_zero, 0.01) == PS_VERDICT_INFORMATIVE, "the exact test decides, not the interval");
  CHECK(ps_verdict_decide(0.9, -0.2, ci_zero, 0.01) == PS_VERDICT_NOT_INFORMATIVE, "a negative rho is never informative");
  CHECK(ps_verdict_decide(0.9, 0.7, ci_pos, 0.06) == PS_VERDICT_NOT_INFORMATIVE, "p above 0.05");
  CHECK(strstr(ps_verdict_rule_text(), "0.5") && strstr(ps_verdict_rule_text(), "0.05"), "the rule names its thresholds");
}

static void test_edges(void) {
  double proxy[4] = {0.1, 0.2, 0.3, 0.4}, full1[4] = {0.1, 0.3, 0.2, 0.4};
  cJSON *o = NULL;
  /* one replicate: noise not measured, so the verdict cannot be more than inconclusive */
  CHECK_OK(ps_correlation_report_reps(proxy, 1, full1, 1, NULL, 4, 2, 200, 1, &o));
  CHECK(cJSON_IsNull(ps_json_path(o, "noise_ceiling.value")), "R = 1: no ceiling");
  CHECK(!strcmp(ps_json_str(o, "verdict.code", ""), "inconclusive"), "R = 1 verdict %s", ps_json_str(o, "verdict.code", ""));
  cJSON_Delete(o);
  /* fewer than 3 usable configs: statistics null, reason given */
  double p2[2] = {0.1, 0.2}, f2[4] = {0.1, 0.2, 0.3, NAN};
  CHECK_OK(ps_correlation_report_reps(p2, 1, f2, 2, NULL, 2, 2, 200, 1, &o));
  CHECK(cJSON_IsNull(ps_json_path(o, "spearman.value")) && ps_json_str(o, "reason", NULL), "n = 2");
  cJSON_Delete(o);
  /* a failed replicate: left out of its mean, its config kept */
  double px[4] = {0.1, 0.2, 0.3, 0.4}, fx[8] = {0.1, 0.12, 0.2, NAN, 0.3, 0.31, 0.4, 0.42};
  double mean[4], sd[4];
  ps_replicate_stats(fx, 4, 2, mean, sd);
  CHECK_NEAR(mean[1], 0.2, 1e-15);
  CHECK(isnan(sd[1]), "one finite replicate: SD undefined");
  CHECK_OK(ps_correlation_report_reps(px, 1, fx, 2, NULL, 4, 2, 200, 1, &o));
  CHECK(ps_json_int(o, "n_dropped", -1) == 0, "config with one failed replicate kept");
  CHECK_NEAR(ps_json_num(o, "spearman.value", NAN), 1.0, 1e-12);
  cJSON_Delete(o);
  /* replicates that reverse each other: r = -1 reported as a ceiling of -1, not clipped */
  double rev[8] = {1, 4, 2, 3, 3, 2, 4, 1}, ceil, sh;
  int used;
  CHECK_OK(ps_noise_ceiling(rev, 4, 2, 1, &ceil, &sh, &used));
  CHECK(sh == -1 && ceil == -1 && used == 4, "reversed replicates: split-half %g, ceiling %g, used %d", sh, ceil, used);
  /* a config with a failed replicate is left out of the ceiling; 3 left still measure it */
  double part[8] = {1, 1.1, 2, 2.1, 3, NAN, 4, 4.2};
  CHECK_OK(ps_noise_ceiling(part, 4, 2, 1, &ceil, &sh, &used));
  CHECK(used == 3 && sh == 1 && ceil == 1, "failed replicate: used %d, split-half %g", used, sh);
  /* all tied: no correlation, no crash */
  double tied[4] = {0.5, 0.5, 0.5, 0.5}, tied8[8] = {0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5};
  CHECK_OK(ps_correlation_report_reps(proxy, 1, tied8, 2, NULL, 4, 2, 200, 1, &o));
  CHECK(cJSON_IsNull(ps_json_path(o, "spearman.value")) && cJSON_IsNull(ps_json_path(o, "noise_ceiling.value")),
        "tied full scores: rho and ceiling null");
  CHECK(!strcmp(ps_json_str(o, "verdict.code", ""), "inconclusive"), "tied full verdict %s", ps_json_str(o, "verdict.code", ""));
  CHECK(strstr(ps_json_str(o, "verdict.text", ""), "all tied") && !strstr(ps_json_str(o, "verdict.text", "nan"), "nan"),
        "tied full text: %s", ps_json_str(o, "verdict.text", ""));
  CHECK(ps_json_num(o, "noise.pooled_sd", NAN) == 0 && cJSON_IsNull(ps_json_path(o, "noise.ratio")), "tied: no noise");
  cJSON_Delete(o);
  CHECK_OK(ps_correlation_report_reps(tied, 1, fx, 2, NULL, 4, 2, 200, 1, &o));
  CHECK(!strstr(ps_json_str(o, "verdict.text", "nan"), "nan"), "tied proxy text: %s", ps_json_str(o, "verdict.text", ""));
  CHECK(!strcmp(ps_json_str(o, "verdict.code", ""), "not_informative") || !strcmp(ps_json_str(o, "verdict.code", ""), "inconclusive"),
        "a constant proxy is never informative");
  cJSON_Delete(o);
  CHECK(ps_correlation_report_reps(proxy, 1, full1, -2, NULL, 4, 2, 200, 1, &o) == PS_ERR_INVALID && !o, "negative R refused");
  CHECK(isnan(ps_permutation_p(PS_STAT_SPEARMAN, tied, proxy, 4, 100, 1, NULL)), "tied x: p undefined");
  /* a perfect ranking of 5 configs: exact p = 1/120 */
  bool exact = false;
  double x5[5] = {1, 2, 3, 4, 5}, y5[5] = {0.1, 0.3, 0.35, 0.6, 0.9};
  CHECK_NEAR(ps_permutation_p(PS_STAT_SPEARMAN, x5, y5, 5, 0, 1, &exact), 1.0 / 120, 1e-15);
  CHECK(exact, "n = 5 is exact");
  /* importance: a parameter that decides the score, and one that does not */
  double X[10 * 2], s[10];
  for (int i = 0; i < 10; i++) { X[2 * i] = i; X[2 * i + 1] = (i * 7) % 10; s[i] = i * i; }
  double imp[2];
  ps_param_importance(X, 10, 2, s, imp);
  CHECK_NEAR(imp[0], 1.0, 1e-12);
  CHECK(imp[1] < 0.5, "unrelated parameter importance %g", imp[1]);
}

static double *num_array(const cJSON *a, int *n) {
  *n = cJSON_GetArraySize(a);
  double *v = malloc((size_t)(*n ? *n : 1) * sizeof *v);
  int i = 0;
  const cJSON *e;
  cJSON_ArrayForEach(e, a) v[i++] = cJSON_IsNumber(e) ? e->valuedouble : NAN;
  return v;
}

/* A JSON array of n rows of R numbers as a row-major grid. */
static double *grid_of(const cJSON *rows, int *n, int *R) {
  *n = cJSON_GetArraySize(rows);
  *R = cJSON_GetArraySize(cJSON_GetArrayItem(rows, 0));
  double *g = malloc((size_t)(*n ? *n : 1) * (*R ? *R : 1) * sizeof *g);
  int i = 0, w;
  const cJSON *row;
  cJSON_ArrayForEach(row, rows) {
    double *v = num_array(row, &w);
    memcpy(g + (size_t)i++ * *R, v, (size_t)*R * sizeof *v);
    free(v);
  }
  return g;
}

static int oracle(const char *py, const char *script) {
  if (!ps_test_python_with("scipy,numpy")) PS_SKIP("SciPy oracle: %s cannot import scipy and numpy", py);
  char *dir = ps_test_tmpdir("noise_scipy");
  char *path = ps_path_join(dir, "cases.json");
  int rc = ps_test_sh("'%s' '%s' '%s' 20261128", py, script, path);
  CHECK(rc == 0, "noise_scipy.py failed (exit %d)", rc);
  cJSON *root = NULL;
  CHECK_OK(ps_json_read(path, &root));
  int nc = 0, np = 0;
  const cJSON *c;
  /* every split enumerated (R <= 5): the same numbers; 64 sampled splits (R = 10, 40): within 0.035 */
  static const char *lists[2] = {"ceiling", "ceiling_sampled"};
  for (int l = 0; l < 2; l++)
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(root, lists[l])) {
      int n, R;
      double *full = grid_of(cJSON_GetObjectItem(c, "full"), &n, &R), ceil, sh;
      int used;
      double tol = l ? 0.035 : 1e-12;
      CHECK_OK(ps_noise_ceiling(full, n, R, 1, &ceil, &sh, &used));
      CHECK(fabs(sh - ps_json_num(c, "split_half", NAN)) <= tol,
            "%s case %d (n=%d R=%d): split-half %.15g, SciPy %.15g", lists[l], nc, n, R, sh,
            ps_json_num(c, "split_half", NAN));
      CHECK(fabs(ceil - ps_json_num(c, "ceiling", NAN)) <= tol, "%s case %d: %.15g vs %.15g", lists[l], nc, ceil,
            ps_json_num(c, "ceiling", NAN));
      CHECK(used == n, "configs used %d of %d", used, n);
      free(full);
      nc++;
    }
  static const char *names[3] = {"spearman", "kendall", "pearson"};
  cJSON_ArrayForEach(c, cJSON_GetObjectItem(root, "permutation")) {
    int n, n2;
    double *x = num_array(cJSON_GetObjectItem(c, "x"), &n), *y = num_array(cJSON_GetObjectItem(c, "y"), &n2);
    bool want_exact = cJSON_IsTrue(cJSON_GetObjectItem(c, "exact"));
    for (int k = 0; k < 3; k++) {
      bool exact = false;
      double p = ps_permutation_p((ps_stat_kind)k, x, y, n, 20000, 99, &exact), ref = ps_json_num(c, names[k], NAN);
      CHECK(exact == want_exact, "n=%d exactness", n);
      /* exact: the same enumeration; sampled: two Monte Carlo estimates, SD about 0.0035 each at p = 0.5 */
      double tol = want_exact ? 1e-12 : 0.02;
      CHECK(fabs(p - ref) <= tol, "permutation n=%d %s: we %.12g, SciPy %.12g", n, names[k], p, ref);
    }
    free(x);
    free(y);
    np++;
  }
  CHECK(nc == 14 && np == 5, "oracle cases read: %d ceilings, %d permutation sets", nc, np);
  cJSON_Delete(root);
  free(path);
  free(dir);
  return ps_test_done("test_noise_scipy");
}

int main(int argc, char **argv) {
  if (argc == 4 && strcmp(argv[1], "--oracle") == 0) return oracle(argv[2], argv[3]);
  test_coverage();
  test_replicates_widen();
  test_bootstrap_failed_runs();
  test_verdicts();
  test_edges();
  return ps_test_done("test_noise");
}
