/* Categorical ASNG (search/asng.c): ranking utility; natural gradient and
 * Fisher norm against a direct computation (explicit Fisher matrix and a
 * linear solve); theta stays in the range restriction; on a noisy objective of
 * 18 variables x 11 levels (loss: mismatches + N(0, 0.5^2)) ASNG's argmax
 * reaches the optimum within 3000 updates (lambda 2: 6000 evaluations) and beats random search at equal evaluations over
 * 20 seeds (exact one-sided sign test); the adaptive step grows under a
 * consistent signal and shrinks under pure noise; save/load is bit-exact.
 * --oracle PYTHON SCRIPT: 80 updates (lambda 3, mixed category counts, ties of
 * both signs) replayed by asng_ref.py, a numpy transcription of the reference. */
#include "../../search/asng.h"
#include "testutil.h"
#include <string.h>

#define D 18
#define K 11
#define LAM 2
#define UPDATES 3000
#define NOISE 0.5
#define SEEDS 20

static int cats[D];

/* mismatches against the optimum, plus Gaussian noise of sd `noise` */
static double objective(const int *c, const int *opt, double noise, ps_rng *r) {
  double f = 0;
  for (int i = 0; i < D; i++) f += c[i] != opt[i];
  return f + (noise > 0 ? ps_rng_normal(r, noise) : 0);
}
static int mismatches(const int *c, const int *opt) { return (int)objective(c, opt, 0, NULL); }

static void test_utility(void) {
  double w[4];
  int idx[4];
  double f2[2] = {3, 1};
  ps_asng_utility(f2, 2, w, idx);
  CHECK(idx[0] == 1 && idx[1] == 0 && w[0] == 1 && w[1] == -1, "lambda 2: best +1, worst -1 (idx %d %d, w %g %g)", idx[0], idx[1], w[0], w[1]);
  double t2[2] = {2, 2};
  ps_asng_utility(t2, 2, w, idx);
  CHECK(w[0] == 0 && w[1] == 0, "a tie averages to 0 (w %g %g)", w[0], w[1]);
  double f4[4] = {4, 1, 3, 2};
  ps_asng_utility(f4, 4, w, idx);
  CHECK(idx[0] == 1 && idx[1] == 3 && idx[2] == 2 && idx[3] == 0 && w[0] == 1 && w[1] == 0 && w[2] == 0 && w[3] == -1,
        "lambda 4: mu = 1, sorted order");
}

/* Solve A y = b (n x n, Gaussian elimination with partial pivoting). */
static void solve(double *A, double *b, int n) {
  for (int c = 0; c < n; c++) {
    int p = c;
    for (int r = c + 1; r < n; r++) if (fabs(A[r * n + c]) > fabs(A[p * n + c])) p = r;
    for (int k = 0; k < n; k++) { double t = A[c * n + k]; A[c * n + k] = A[p * n + k]; A[p * n + k] = t; }
    double t = b[c]; b[c] = b[p]; b[p] = t;
    for (int r = c + 1; r < n; r++) {
      double m = A[r * n + c] / A[c * n + c];
      for (int k = c; k < n; k++) A[r * n + k] -= m * A[c * n + k];
      b[r] -= m * b[c];
    }
  }
  for (int c = n - 1; c >= 0; c--) {
    for (int k = c + 1; k < n; k++) b[c] -= A[c * n + k] * b[k];
    b[c] /= A[c * n + c];
  }
}

/* Fisher matrix of one categorical row in expectation parameters th[0..K-2]:
 * F = diag(1/th_j) + 1/th_K 11^T. */
static void fisher_row(const double *th, int k, double *F) {
  int n = k - 1;
  for (int a = 0; a < n; a++)
    for (int b = 0; b < n; b++) F[a * n + b] = (a == b ? 1 / th[a] : 0) + 1 / th[k - 1];
}

static void test_gradient_and_norm(void) {
  int cs[5] = {11, 3, 2, 5, 1};
  ps_asng *a = NULL;
  CHECK_OK(ps_asng_create(5, cs, 4, 1.5, 1.0, true, &a));
  if (!a) return;
  ps_rng *r = ps_rng_create(3);
  int smp[4 * 5];
  double f[4];
  for (int u = 0; u < 30; u++) { /* move theta away from uniform */
    for (int k = 0; k < 4; k++) { ps_asng_sample(a, r, smp + k * 5); f[k] = smp[k * 5] + 0.3 * smp[k * 5 + 1] + ps_rng_normal(r, 0.1); }
    CHECK_OK(ps_asng_update(a, smp, f, NULL));
  }
  for (int k = 0; k < 4; k++) { ps_asng_sample(a, r, smp + k * 5); f[k] = ps_rng_uniform(r); }
  double w[4];
  int idx[4];
  ps_asng_utility(f, 4, w, idx);
  int cm = ps_asng_cmax(a);
  double *ng = calloc((size_t)5 * cm, sizeof(double)), *direct = calloc((size_t)5 * cm, sizeof(double));
  ps_asng_natural_gradient(a, smp, w, idx, ng);
  const double *th = ps_asng_theta(a);
  double mw = (w[0] + w[1] + w[2] + w[3]) / 4, max_err = 0, fisher2 = 0;
  for (int i = 0; i < 5; i++) {
    int k = cs[i], n = k - 1;
    if (n < 1) continue;
    const double *t = th + i * cm;
    double F[100], Fc[100], b[10];
    for (int s = 0; s < 4; s++) {
      const int *x = smp + idx[s] * 5;
      /* vanilla gradient of log p(x) wrt th_j (j < K): x_j/th_j - x_K/th_K; natural = F^-1 of it */
      for (int j = 0; j < n; j++) b[j] = (x[i] == j) / t[j] - (x[i] == k - 1) / t[k - 1];
      fisher_row(t, k, F);
      solve(F, b, n);
      for (int j = 0; j < n; j++) direct[i * cm + j] += (w[s] - mw) / 4 * b[j];
    }
    for (int j = 0; j < n; j++) max_err = fmax(max_err, fabs(direct[i * cm + j] - ng[i * cm + j]));
    /* the dependent last component is minus the sum of the others */
    double sum = 0;
    for (int j = 0; j < k; j++) sum += ng[i * cm + j];
    max_err = fmax(max_err, fabs(sum));
    fisher_row(t, k, Fc);
    for (int p = 0; p < n; p++)
      for (int q = 0; q < n; q++) fisher2 += ng[i * cm + p] * Fc[p * n + q] * ng[i * cm + q];
  }
  CHECK(max_err < 1e-12, "natural gradient = F^-1 grad log p (direct solve): max error %.3g", max_err);
  double s[64];
  double norm = ps_asng_fisher_norm(a, ng, s);
  CHECK_NEAR(norm, sqrt(fisher2), 1e-12 * sqrt(fisher2) + 1e-15);
  double s2 = 0;
  for (int j = 0; j < 10 + 2 + 1 + 4; j++) s2 += s[j] * s[j];
  CHECK_NEAR(sqrt(s2), norm, 1e-12);
  free(ng);
  free(direct);
  ps_rng_free(r);
  ps_asng_free(a);
}

/* One ASNG run: returns the argmax's mismatches after `updates` updates and
 * the first update at which the argmax was the optimum (-1: never). */
static int run_asng(uint64_t seed, int updates, double noise, int *first_opt, double *delta_trace, bool *clip_ok, int lam) {
  ps_rng *r = ps_rng_create(seed);
  int opt[D], smp[64 * D], mle[D];
  for (int i = 0; i < D; i++) opt[i] = (int)ps_rng_int(r, K);
  ps_asng *a = NULL;
  if (ps_asng_create(D, cats, lam, 1.5, 1.0, true, &a)) { ps_rng_free(r); return D; }
  *first_opt = -1;
  const double tmin = 1.0 / (D * (K - 1));
  for (int u = 0; u < updates; u++) {
    double f[64];
    for (int k = 0; k < lam; k++) { ps_asng_sample(a, r, smp + k * D); f[k] = objective(smp + k * D, opt, noise, r); }
    ps_asng_update(a, smp, f, NULL);
    if (delta_trace) delta_trace[u] = ps_asng_delta(a);
    ps_asng_mle(a, mle);
    if (*first_opt < 0 && mismatches(mle, opt) == 0) *first_opt = u + 1;
    const double *th = ps_asng_theta(a);
    for (int i = 0; clip_ok && i < D; i++) {
      double sum = 0;
      for (int j = 0; j < K; j++) { sum += th[i * K + j]; if (th[i * K + j] < tmin - 1e-12) *clip_ok = false; }
      if (fabs(sum - 1) > 1e-9) *clip_ok = false;
    }
  }
  ps_asng_mle(a, mle);
  int m = mismatches(mle, opt);
  ps_asng_free(a);
  ps_rng_free(r);
  return m;
}

/* Random search, same budget: the best sample by its (noisy) score; returns its true mismatches. */
static int run_random(uint64_t seed, int evals, double noise) {
  ps_rng *r = ps_rng_create(seed);
  int opt[D], c[D], best[D];
  for (int i = 0; i < D; i++) opt[i] = (int)ps_rng_int(r, K);
  double bf = INFINITY;
  ps_rng *rs = ps_rng_create(ps_seed_derive(seed, 99));
  for (int e = 0; e < evals; e++) {
    for (int i = 0; i < D; i++) c[i] = (int)ps_rng_int(rs, K);
    double f = objective(c, opt, noise, r);
    if (f < bf) { bf = f; memcpy(best, c, sizeof c); }
  }
  ps_rng_free(r);
  ps_rng_free(rs);
  return mismatches(best, opt);
}

static void test_optimum_and_random(void) {
  int wins = 0, reached = 0, worst_first = 0, rnd_sum = 0;
  bool clip_ok = true;
  for (int s = 0; s < SEEDS; s++) {
    int first;
    int m = run_asng(1000 + s, UPDATES, NOISE, &first, NULL, &clip_ok, LAM);
    int mr = run_random(1000 + s, UPDATES * LAM, NOISE);
    reached += m == 0;
    if (first > worst_first) worst_first = first;
    wins += m < mr;
    rnd_sum += mr;
  }
  /* exact one-sided sign test: P(Binomial(20, 1/2) >= wins) */
  double p = 0, c = 1;
  for (int k = 0; k <= SEEDS; k++) {
    if (k) c = c * (SEEDS - k + 1) / k;
    if (k >= wins) p += c / (double)(1 << SEEDS);
  }
  fprintf(stderr, "asng 18x11, noise sd %.1f: optimum reached in %d/%d seeds (last at update %d); "
          "wins vs random search at %d evaluations %d/%d (random: %.1f mismatches on average), sign test p = %.2g\n",
          NOISE, reached, SEEDS, worst_first, UPDATES * LAM, wins, SEEDS, rnd_sum / (double)SEEDS, p);
  CHECK(reached == SEEDS, "the argmax is the optimum after %d updates in every seed (%d/%d)", UPDATES, reached, SEEDS);
  CHECK(p < 0.01, "ASNG beats random search at equal evaluations: sign test p = %.3g (wins %d/%d)", p, wins, SEEDS);
  CHECK(clip_ok, "theta stays >= theta_min = 1/(d (K-1)) with rows summing to 1");
}

/* The step size follows the signal: with lambda 32 samples per update on the
 * noiseless objective the ranked direction is consistent and delta grows; with
 * losses that ignore the sample it shrinks (5 seeds each). */
static void test_adaptive_step(void) {
  double tr[200];
  int first;
  for (int s = 0; s < 5; s++) {
    run_asng(50 + s, 40, 0.0, &first, tr, NULL, 32);
    CHECK(tr[39] > 2, "seed %d: delta grows under a consistent signal: %.3f after 40 updates (init 1)", s, tr[39]);
    if (!s) fprintf(stderr, "delta under a consistent signal (lambda 32): %.3f after 40 updates\n", tr[39]);
  }
  ps_rng *r = NULL;
  ps_asng *a = NULL;
  int smp[LAM * D];
  for (int s = 0; s < 5; s++) {
    ps_asng_free(a);
    ps_rng_free(r);
    r = ps_rng_create(80 + s);
    a = NULL;
    CHECK_OK(ps_asng_create(D, cats, LAM, 1.5, 1.0, true, &a));
    for (int u = 0; u < 200; u++) {
      double f[LAM];
      for (int k = 0; k < LAM; k++) { ps_asng_sample(a, r, smp + k * D); f[k] = ps_rng_normal(r, 1); }
      ps_asng_update(a, smp, f, NULL);
    }
    CHECK(ps_asng_delta(a) < 0.5, "seed %d: delta shrinks under pure noise: %.3f after 200 updates (init 1)", s, ps_asng_delta(a));
    if (!s) fprintf(stderr, "delta under pure noise (lambda 2): %.3f after 200 updates\n", ps_asng_delta(a));
  }
  /* save/load: a copy continues bit-identically */
  cJSON *j = ps_asng_save(a);
  ps_asng *b = NULL;
  CHECK_OK(ps_asng_create(D, cats, LAM, 1.5, 1.0, true, &b));
  CHECK_OK(ps_asng_load(b, j));
  ps_rng *r2 = ps_rng_create(9), *r3 = ps_rng_create(9);
  for (int u = 0; u < 10; u++) {
    double f[LAM];
    for (int k = 0; k < LAM; k++) { ps_asng_sample(a, r2, smp + k * D); f[k] = ps_rng_uniform(r2); }
    ps_asng_update(a, smp, f, NULL);
    for (int k = 0; k < LAM; k++) { ps_asng_sample(b, r3, smp + k * D); f[k] = ps_rng_uniform(r3); }
    ps_asng_update(b, smp, f, NULL);
  }
  CHECK(!memcmp(ps_asng_theta(a), ps_asng_theta(b), D * K * sizeof(double)) && ps_asng_delta(a) == ps_asng_delta(b),
        "a loaded state continues bit-identically");
  int bad[3] = {11, 11, 11};
  ps_asng *c = NULL;
  CHECK_OK(ps_asng_create(3, bad, LAM, 1.5, 1.0, true, &c));
  CHECK(ps_asng_load(c, j) == PS_ERR_DATA, "a state of another shape is refused: %s", ps_last_error());
  ps_asng_free(c);
  ps_asng *d = NULL; /* a second handle: a refused create must not leak the first */
  CHECK(ps_asng_create(3, bad, 1, 1.5, 1.0, true, &d) == PS_ERR_INVALID, "lambda 1 is refused");
  ps_asng_free(d);
  cJSON_Delete(j);
  ps_rng_free(r);
  ps_rng_free(r2);
  ps_rng_free(r3);
  ps_asng_free(a);
  ps_asng_free(b);
}

static int oracle(const char *py, const char *script) {
  char *dir = ps_test_tmpdir("asng_oracle");
  char *dump = ps_path_join(dir, "dump.txt"), *out = ps_path_join(dir, "out.txt");
  if (ps_test_sh("'%s' -c 'import numpy' 2>/dev/null", py) != 0) PS_SKIP("%s cannot import numpy: the reference oracle needs it", py);
  FILE *f = fopen(dump, "w");
  int cs[5] = {11, 3, 2, 5, 4}, smp[3 * 5];
  fprintf(f, "H 5 3");
  for (int i = 0; i < 5; i++) fprintf(f, " %d", cs[i]);
  fprintf(f, "\n");
  ps_asng *a = NULL;
  CHECK_OK(ps_asng_create(5, cs, 3, 1.5, 1.0, true, &a));
  ps_rng *r = ps_rng_create(5);
  for (int u = 0; u < 80; u++) {
    double l[3];
    for (int k = 0; k < 3; k++) {
      ps_asng_sample(a, r, smp + k * 5);
      l[k] = smp[k * 5] + 0.5 * smp[k * 5 + 1] - 3 + ps_rng_normal(r, 0.5);
    }
    if (u % 7 == 0) l[1] = l[0]; /* exact ties, negative losses included */
    fprintf(f, "S");
    for (int k = 0; k < 15; k++) fprintf(f, " %d", smp[k]);
    fprintf(f, " F %.17g %.17g %.17g\n", l[0], l[1], l[2]);
    CHECK_OK(ps_asng_update(a, smp, l, NULL));
  }
  fprintf(f, "T");
  for (int i = 0; i < 5 * 11; i++) fprintf(f, " %.17g", ps_asng_theta(a)[i]);
  fprintf(f, "\nDELTA %.17g\n", ps_asng_delta(a));
  fclose(f);
  CHECK(ps_test_sh("'%s' '%s' '%s' > '%s'", py, script, dump, out) == 0, "the oracle script ran");
  double diff = 1, dc = 0, dr = -1;
  FILE *o = fopen(out, "r");
  if (o) {
    if (fscanf(o, "max_theta_diff %lf delta_c %lf delta_ref %lf", &diff, &dc, &dr) != 3) diff = 1;
    fclose(o);
  }
  fprintf(stderr, "asng vs reference transcription: max |theta diff| %.3g, delta %.17g vs %.17g\n", diff, dc, dr);
  CHECK(diff < 1e-12, "theta after 80 updates equals the reference's: max diff %.3g", diff);
  CHECK(fabs(dc - dr) < 1e-12 * dr, "step size equals the reference's: %.17g vs %.17g", dc, dr);
  ps_asng_free(a);
  ps_rng_free(r);
  free(dump); free(out); free(dir);
  return ps_test_done("test_asng --oracle");
}

int main(int argc, char **argv) {
  for (int i = 0; i < D; i++) cats[i] = K;
  if (argc == 4 && !strcmp(argv[1], "--oracle")) return oracle(argv[2], argv[3]);
  test_utility();
  test_gradient_and_norm();
  test_optimum_and_random();
  test_adaptive_step();
  return ps_test_done("test_asng");
}
