/* Rank statistics: hand-checked values, bootstrap determinism, the report.json
 * `correlation` object, and (with --oracle PYTHON SCRIPT) agreement with SciPy. */
#include "testutil.h"
#include "proxyseg/json.h"
#include "proxyseg/stats.h"
#include <string.h>

static void test_hand_values(void) {
  double a[5] = {1, 2, 3, 4, 5}, b[5] = {5, 4, 3, 2, 1}, c[5] = {10, 20, 30, 40, 55};
  CHECK_NEAR(ps_spearman(a, c, 5), 1, 1e-15);
  CHECK_NEAR(ps_kendall_tau_b(a, c, 5), 1, 1e-15);
  CHECK_NEAR(ps_pearson(a, a, 5), 1, 1e-15);
  CHECK_NEAR(ps_spearman(a, b, 5), -1, 1e-15);
  CHECK_NEAR(ps_kendall_tau_b(a, b, 5), -1, 1e-15);
  CHECK_NEAR(ps_pearson(a, b, 5), -1, 1e-15);
  /* ties: ranks x = 1, 2.5, 2.5, 4 → ρ = 4.5/sqrt(4.5·5); τ-b = 5/sqrt(5·6) */
  double x[4] = {1, 2, 2, 3}, y[4] = {1, 2, 3, 4};
  CHECK_NEAR(ps_spearman(x, y, 4), 0.9486832980505138, 1e-14);
  CHECK_NEAR(ps_kendall_tau_b(x, y, 4), 0.9128709291752769, 1e-14);
  double r[4];
  ps_rank_average(x, 4, r);
  CHECK(r[0] == 1 && r[1] == 2.5 && r[2] == 2.5 && r[3] == 4, "ranks %g %g %g %g", r[0], r[1], r[2], r[3]);
  double p1[3] = {1, 2, 3}, p2[3] = {1, 3, 2};
  CHECK_NEAR(ps_pearson(p1, p2, 3), 0.5, 1e-15);
  CHECK_NEAR(ps_spearman(p1, p2, 3), 0.5, 1e-15);
  CHECK_NEAR(ps_kendall_tau_b(p1, p2, 3), 1.0 / 3.0, 1e-15);
  /* constant side: undefined, like SciPy */
  double k[3] = {2, 2, 2};
  CHECK(isnan(ps_spearman(k, p1, 3)) && isnan(ps_kendall_tau_b(k, p1, 3)) && isnan(ps_pearson(k, p1, 3)),
        "constant input must give NaN");
  CHECK(isnan(ps_spearman(p1, p2, 1)), "n=1 must give NaN");
  /* top-k and regret */
  double pr[4] = {0.9, 0.8, 0.7, 0.1}, fu[4] = {0.5, 0.9, 0.1, 0.8};
  CHECK_NEAR(ps_topk_overlap(pr, fu, 4, 2), 0.5, 0);
  CHECK_NEAR(ps_topk_overlap(pr, fu, 4, 4), 1.0, 0);
  CHECK_NEAR(ps_topk_overlap(pr, fu, 4, 1), 0.0, 0);
  CHECK_NEAR(ps_regret(pr, fu, 4), 0.4, 1e-15);
  CHECK_NEAR(ps_regret(fu, fu, 4), 0.0, 0);
}

static void make_pairs(double *x, double *y, int n, uint64_t seed, double noise) {
  ps_rng *r = ps_rng_create(seed);
  for (int i = 0; i < n; i++) {
    x[i] = ps_rng_uniform(r);
    y[i] = x[i] + ps_rng_normal(r, noise);
  }
  ps_rng_free(r);
}

static void test_bootstrap(void) {
  enum { N = 20 };
  double x[N], y[N];
  make_pairs(x, y, N, 7, 0.2);
  for (int k = 0; k < 3; k++) {
    double ci[2], ci2[2], ci3[2];
    int deg = -1;
    double v = ps_stat_eval((ps_stat_kind)k, x, y, N);
    CHECK_OK(ps_bootstrap_ci((ps_stat_kind)k, x, y, N, 2000, 42, ci, &deg));
    CHECK(ci[0] <= v && v <= ci[1], "stat %d = %g outside its CI [%g, %g]", k, v, ci[0], ci[1]);
    CHECK(ci[0] < ci[1] && ci[1] <= 1 && ci[0] >= -1, "stat %d CI [%g, %g]", k, ci[0], ci[1]);
    CHECK(deg == 0, "no degenerate resamples expected, got %d", deg);
    CHECK_OK(ps_bootstrap_ci((ps_stat_kind)k, x, y, N, 2000, 42, ci2, NULL));
    CHECK(ci[0] == ci2[0] && ci[1] == ci2[1], "same seed must give the same CI");
    CHECK_OK(ps_bootstrap_ci((ps_stat_kind)k, x, y, N, 2000, 43, ci3, NULL));
    CHECK(ci[0] != ci3[0] || ci[1] != ci3[1], "another seed should move the CI");
  }
  /* n=3 with a tie block: many resamples are constant → skipped and counted */
  double a[3] = {1, 2, 3}, b[3] = {1, 3, 2}, ci[2];
  int deg = 0;
  CHECK_OK(ps_bootstrap_ci(PS_STAT_SPEARMAN, a, b, 3, 500, 1, ci, &deg));
  CHECK(deg > 0 && deg < 500, "degenerate resamples counted: %d", deg);
}

static void test_report(void) {
  double px[6] = {0.70, 0.60, NAN, 0.50, 0.40, 0.65}, fx[6] = {0.80, 0.78, 0.9, 0.70, 0.60, 0.82};
  int ids[6] = {3, 5, 7, 9, 11, 13};
  cJSON *o = NULL;
  CHECK_OK(ps_correlation_report(px, fx, ids, 6, 2, 500, 9, &o));
  CHECK(o != NULL, "report object");
  if (!o) return;
  CHECK(ps_json_int(o, "n", -1) == 5 && ps_json_int(o, "n_dropped", -1) == 1, "n counts");
  const cJSON *pairs = ps_json_path(o, "pairs");
  CHECK(cJSON_GetArraySize(pairs) == 6, "all pairs listed");
  const cJSON *p2 = cJSON_GetArrayItem(pairs, 2);
  CHECK(ps_json_int(p2, "trial", -1) == 7 && cJSON_IsNull(cJSON_GetObjectItem(p2, "proxy_score")),
        "NaN proxy score written as null");
  double ef[5] = {0.80, 0.78, 0.70, 0.60, 0.82}, ep[5] = {0.70, 0.60, 0.50, 0.40, 0.65};
  CHECK_NEAR(ps_json_num(o, "spearman.value", -9), ps_spearman(ep, ef, 5), 1e-15);
  CHECK_NEAR(ps_json_num(o, "kendall.value", -9), ps_kendall_tau_b(ep, ef, 5), 1e-15);
  CHECK_NEAR(ps_json_num(o, "pearson.value", -9), ps_pearson(ep, ef, 5), 1e-15);
  CHECK(cJSON_GetArraySize(ps_json_path(o, "spearman.ci95")) == 2, "ci95 pair");
  CHECK_NEAR(ps_json_num(o, "topk_overlap.value", -9), 1.0, 1e-15); /* top-2 are configs 0 and 4 on both */
  CHECK(ps_json_int(o, "topk_overlap.k", -1) == 2, "k");
  CHECK_NEAR(ps_json_num(o, "regret", -9), 0.02, 1e-12);
  char *s1 = cJSON_PrintUnformatted(o);
  cJSON *o2 = NULL;
  CHECK_OK(ps_correlation_report(px, fx, ids, 6, 2, 500, 9, &o2));
  char *s2 = cJSON_PrintUnformatted(o2);
  CHECK(s1 && s2 && strcmp(s1, s2) == 0, "report is deterministic for a seed");
  free(s1); free(s2);
  cJSON_Delete(o); cJSON_Delete(o2);

  /* fewer than 3 usable pairs: null statistics with a reason */
  CHECK_OK(ps_correlation_report(px + 1, fx + 1, NULL, 2, 1, 100, 1, &o));
  CHECK(o && cJSON_IsNull(ps_json_path(o, "spearman.value")) && cJSON_IsNull(ps_json_path(o, "regret")),
        "n<3 gives nulls");
  CHECK(o && ps_json_str(o, "reason", NULL) != NULL, "n<3 gives a reason");
  cJSON_Delete(o);
  CHECK_OK(ps_correlation_report(NULL, NULL, NULL, 0, 1, 100, 1, &o));
  CHECK(o && ps_json_int(o, "n", -1) == 0, "empty report");
  cJSON_Delete(o);
}

static void test_compare(void) {
  enum { N = 30 };
  double good[N], full[N], bad[N];
  make_pairs(full, good, N, 3, 0.03);
  ps_rng *r = ps_rng_create(5);
  for (int i = 0; i < N; i++) bad[i] = ps_rng_uniform(r);
  ps_rng_free(r);
  cJSON *o = NULL;
  CHECK_OK(ps_compare_proxies(good, bad, full, N, 1000, 11, &o));
  CHECK(o && strcmp(ps_json_str(o, "better", ""), "a") == 0, "the accurate proxy wins: %s",
        o ? ps_json_str(o, "better", "?") : "?");
  CHECK(o && ps_json_num(o, "diff", 0) > 0.5, "diff %g", o ? ps_json_num(o, "diff", 0) : 0);
  cJSON_Delete(o);
  CHECK_OK(ps_compare_proxies(bad, good, full, N, 1000, 11, &o));
  CHECK(o && strcmp(ps_json_str(o, "better", ""), "b") == 0, "swapped order");
  cJSON_Delete(o);
  CHECK_OK(ps_compare_proxies(good, good, full, N, 200, 11, &o));
  CHECK(o && strcmp(ps_json_str(o, "better", ""), "undecided") == 0, "identical proxies tie");
  cJSON_Delete(o);
}

static double *num_array(const cJSON *a, int *n) {
  *n = cJSON_GetArraySize(a);
  double *v = malloc((size_t)(*n ? *n : 1) * sizeof *v);
  int i = 0;
  const cJSON *e;
  cJSON_ArrayForEach(e, a) v[i++] = e->valuedouble;
  return v;
}

static int oracle(const char *py, const char *script) {
  if (!ps_test_python_with("scipy,numpy"))
    PS_SKIP("SciPy oracle: %s cannot import scipy and numpy", py);
  char *dir = ps_test_tmpdir("stats_scipy");
  char *path = ps_path_join(dir, "cases.json");
  int rc = ps_test_sh("'%s' '%s' '%s' 20261122", py, script, path);
  CHECK(rc == 0, "stats_scipy.py failed (exit %d)", rc);
  cJSON *root = NULL;
  CHECK_OK(ps_json_read(path, &root));
  int ncases = 0;
  const cJSON *c;
  static const char *names[3] = {"spearman", "kendall", "pearson"};
  cJSON_ArrayForEach(c, ps_json_path(root, "cases")) {
    int n, n2;
    double *x = num_array(cJSON_GetObjectItem(c, "x"), &n), *y = num_array(cJSON_GetObjectItem(c, "y"), &n2);
    for (int k = 0; k < 3; k++) {
      const cJSON *e = cJSON_GetObjectItem(c, names[k]);
      double got = ps_stat_eval((ps_stat_kind)k, x, y, n);
      if (cJSON_IsNull(e)) CHECK(isnan(got), "case %d %s: SciPy nan, we %g", ncases, names[k], got);
      else CHECK(fabs(got - e->valuedouble) <= 1e-9, "case %d (n=%d) %s: SciPy %.15g, we %.15g",
                 ncases, n, names[k], e->valuedouble, got);
    }
    free(x); free(y);
    ncases++;
  }
  CHECK(ncases >= 30, "oracle cases read: %d", ncases);
  cJSON_Delete(root);
  free(path); free(dir);
  return ps_test_done("test_stats_scipy");
}

int main(int argc, char **argv) {
  if (argc == 4 && strcmp(argv[1], "--oracle") == 0) {
    setenv("PS_PYTHON", argv[2], 0);
    return oracle(argv[2], argv[3]);
  }
  test_hand_values();
  test_bootstrap();
  test_report();
  test_compare();
  return ps_test_done("test_stats");
}
