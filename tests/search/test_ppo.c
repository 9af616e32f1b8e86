/* The RL controller's policy math and PPO update: Beta/categorical
 * log-probabilities against GSL's densities (and the Beta density integrating
 * to 1), their derivatives and the entropy's against finite differences, the
 * PPO clipped surrogate's gradient w.r.t. the controller's parameters against
 * finite differences, ask/tell bookkeeping, and resume: save after round r (or
 * mid-round), load into a fresh algorithm, continue → the same proposals. */
#include "../../search/rl_controller.h"
#include "proxyseg/search.h"
#include "testutil.h"
#include <gsl/gsl_randist.h>
#include <string.h>

static ps_space *space_from(const char *txt) {
  cJSON *j = cJSON_Parse(txt);
  ps_space *s = NULL;
  CHECK_OK(ps_space_from_json(j, "test space", &s));
  cJSON_Delete(j);
  return s;
}

static const char *MIXED =
    "{\"params\": [{\"key\": \"lr\", \"type\": \"float\", \"low\": 1e-4, \"high\": 0.1, \"log\": true},"
    "{\"key\": \"a\", \"type\": \"float\", \"low\": 0, \"high\": 1},"
    "{\"key\": \"opt\", \"type\": \"categorical\", \"choices\": [\"sgd\", \"adam\", \"rmsprop\"]},"
    "{\"key\": \"n\", \"type\": \"int\", \"low\": 1, \"high\": 4}]}";

static double softplus(double u) { return log1p(exp(u)); }

/* Beta log-density and entropy from rl_ctrl_logp against GSL, for one key. */
static void test_beta_density(void) {
  ps_space *s = space_from("{\"params\": [{\"key\": \"a\", \"type\": \"float\", \"low\": 0, \"high\": 1}]}");
  rl_controller *c = rl_ctrl_create(s, 4, 1);
  const float outs[][2] = {{0, 0}, {1.5f, -0.7f}, {-2, 3}, {4, 4}};
  for (size_t t = 0; t < sizeof outs / sizeof outs[0]; t++) {
    double a = 1 + softplus(outs[t][0]), b = 1 + softplus(outs[t][1]);
    double worst = 0, integral = 0, ent_num = 0;
    const int n = 20000;
    for (int i = 0; i < n; i++) {
      double x = (i + 0.5) / n;
      double lp = rl_ctrl_logp(c, outs[t], &x, NULL, NULL, NULL);
      double ref = log(gsl_ran_beta_pdf(x, a, b));
      if (fabs(lp - ref) > worst) worst = fabs(lp - ref);
      integral += exp(lp) / n;
      ent_num -= exp(lp) * lp / n;
    }
    double ent, x0 = 0.3;
    rl_ctrl_logp(c, outs[t], &x0, &ent, NULL, NULL);
    CHECK(worst < 1e-9, "Beta(%g,%g) log-density differs from GSL by %g", a, b, worst);
    CHECK_NEAR(integral, 1.0, 1e-5); /* midpoint rule; α near 1 has a steep edge */
    CHECK_NEAR(ent, ent_num, 1e-5);
  }
  rl_ctrl_free(c);
  ps_space_free(s);
}

/* Derivatives of log π and of the entropy w.r.t. the step outputs, by central differences. */
static void test_output_derivatives(void) {
  ps_space *s = space_from(MIXED);
  rl_controller *c = rl_ctrl_create(s, 4, 2);
  int M = rl_ctrl_out_width(c);
  CHECK(M == 2 + 2 + 3 + 2, "output width %d", M);
  float out[9] = {0.3f, -0.4f, 1.2f, 0.1f, 0.2f, 0.5f, 0.3f, -1.0f, 2.0f}; /* probs at 4..6 sum to 1 */
  double x[4] = {0.2, 0.9, 0.5, 0.61}, dl[9], de[9], ent;
  double lp = rl_ctrl_logp(c, out, x, &ent, dl, de);
  double lp_ref = log(gsl_ran_beta_pdf(0.2, 1 + softplus(0.3), 1 + softplus(-0.4))) +
                  log(gsl_ran_beta_pdf(0.9, 1 + softplus(1.2), 1 + softplus(0.1))) + log(0.5) +
                  log(gsl_ran_beta_pdf(0.61, 1 + softplus(-1.0), 1 + softplus(2.0)));
  CHECK_NEAR(lp, lp_ref, 1e-6);
  double worst = 0;
  for (int m = 0; m < M; m++) {
    float keep = out[m];
    double h = 1e-3, ep, em;
    out[m] = keep + (float)h;
    double hp = out[m] - keep;
    double lpp = rl_ctrl_logp(c, out, x, &ep, NULL, NULL);
    out[m] = keep - (float)h;
    double hm = keep - out[m];
    double lpm = rl_ctrl_logp(c, out, x, &em, NULL, NULL);
    out[m] = keep;
    double nl = (lpp - lpm) / (hp + hm), ne = (ep - em) / (hp + hm);
    double el = fabs(nl - dl[m]) / fmax(1, fabs(nl)), ee = fabs(ne - de[m]) / fmax(1, fabs(ne));
    if (el > worst) worst = el;
    if (ee > worst) worst = ee;
  }
  fprintf(stderr, "policy d/d(out) of log-prob and entropy: max rel err %.2e\n", worst);
  CHECK(worst < 1e-4, "output derivatives off by %g", worst);
  rl_ctrl_free(c);
  ps_space_free(s);
}

/* PPO's surrogate gradient w.r.t. every kind of controller parameter. */
static void test_ppo_gradient(void) {
  ps_space *s = space_from(MIXED);
  rl_controller *c = rl_ctrl_create(s, 8, 3);
  ps_params *p = rl_ctrl_params(c);
  ps_tape *t = ps_tape_create();
  ps_rng *rng = ps_rng_create(11);
  /* make the head non-trivial so the policy depends on the LSTM */
  ps_tensor *wo = ps_params_find(p, "head.weight");
  for (int64_t i = 0; i < wo->numel; i++) wo->data[i] = (float)ps_rng_uniform_range(rng, -0.8, 0.8);
  enum { K = 3 };
  double anchor[4] = {0.5, 0.5, 0.5, 0.5}, acts[K * 4], lp0[K], adv[K] = {1.2, -0.7, 0.9};
  ps_tensor *outs[K];
  /* sample the actions step by step, as the algorithm does */
  ps_tape_set_grad_enabled(t, false);
  ps_tape_reset(t);
  ps_tensor *h = NULL, *cell = NULL;
  for (int k = 0; k < K; k++) {
    CHECK_OK(rl_ctrl_step(c, t, k ? acts + (k - 1) * 4 : anchor, h, cell, &h, &cell, &outs[k]));
    rl_ctrl_sample(c, outs[k]->data, rng, acts + k * 4);
    lp0[k] = rl_ctrl_logp(c, outs[k]->data, acts + k * 4, NULL, NULL, NULL);
  }
  ps_tape_set_grad_enabled(t, true);
  /* old log-probs chosen so ratios are 1.1 (inside), 0.7 with A<0 (clipped: zero
   * gradient), 1.25 with A>0 (clipped) and away from the kinks */
  double off[K] = {-log(1.1), -log(0.7), -log(1.25)};
  for (int k = 0; k < K; k++) lp0[k] += off[k];
  adv[1] = -0.7;
  double loss;
  CHECK_OK(rl_ppo_loss(c, t, anchor, acts, K, lp0, adv, 0.2, 0.05, true, &loss));
  size_t n = ps_params_numel(p);
  float *w = ps_params_data(p), *g = malloc(n * sizeof *g);
  memcpy(g, ps_params_grad(p), n * sizeof *g);
  double worst = 0, gmax = 0;
  for (size_t i = 0; i < n; i++) gmax = fmax(gmax, fabs(g[i]));
  int probes = 0;
  for (size_t i = 0; i < n; i += (i < 40 ? 1 : 7)) { /* every kind of parameter is probed */
    float keep = w[i];
    double lpp, lpm;
    w[i] = keep + 1e-3f;
    double hp = w[i] - keep;
    CHECK_OK(rl_ppo_loss(c, t, anchor, acts, K, lp0, adv, 0.2, 0.05, false, &lpp));
    w[i] = keep - 1e-3f;
    double hm = keep - w[i];
    CHECK_OK(rl_ppo_loss(c, t, anchor, acts, K, lp0, adv, 0.2, 0.05, false, &lpm));
    w[i] = keep;
    double num = (lpp - lpm) / (hp + hm);
    double err = fabs(num - g[i]) / fmax(gmax, 1e-3);
    if (err > worst) worst = err;
    probes++;
  }
  fprintf(stderr, "PPO surrogate d/d(theta): %d of %zu params probed, max err %.2e (relative to max |g| %.3g)\n",
          probes, n, worst, gmax);
  CHECK(gmax > 1e-3, "gradient is (almost) zero: %g", gmax);
  CHECK(worst < 2e-3, "PPO gradient differs from finite differences by %g", worst);
  /* fully clipped round: every ratio outside the trust region in its advantage's direction → only the entropy term */
  double lp_far[K], adv_far[K] = {1, -1, 1};
  for (int k = 0; k < K; k++) lp_far[k] = lp0[k] - off[k] + (adv_far[k] > 0 ? -0.5 : 0.5);
  double l_a, l_b;
  CHECK_OK(rl_ppo_loss(c, t, anchor, acts, K, lp_far, adv_far, 0.2, 0.0, true, &l_a));
  double gn = 0;
  for (size_t i = 0; i < n; i++) gn += fabs(ps_params_grad(p)[i]);
  CHECK(gn == 0, "clipped surrogate still has gradient %g", gn);
  CHECK_OK(rl_ppo_loss(c, t, anchor, acts, K, lp_far, adv_far, 0.2, 0.0, false, &l_b));
  CHECK_NEAR(l_a, l_b, 1e-12);
  CHECK_NEAR(l_a, -(1.2 * 1 + 0.8 * -1 + 1.2 * 1) / K, 1e-9);
  free(g);
  ps_rng_free(rng);
  ps_tape_free(t);
  rl_ctrl_free(c);
  ps_space_free(s);
}

static double obj(const double *x, int d) {
  double r2 = 0;
  for (int i = 0; i < d; i++) r2 += (x[i] - 0.3) * (x[i] - 0.3);
  return 1.0 / (1.0 + 20 * r2);
}

/* Drive `n` asks/tells: tells in reverse order within blocks of K, every 7th
 * trial failed; record the proposals. */
static void drive(const ps_algo_vtable *a, void *st, int d, int K, int from, int n, double *rec) {
  for (int b = from; b < from + n; b += K) {
    double xs[16][8];
    int m = b + K <= from + n ? K : from + n - b;
    for (int k = 0; k < m; k++) {
      CHECK_OK(a->ask(st, xs[k]));
      memcpy(rec + (size_t)(b + k) * d, xs[k], (size_t)d * sizeof(double));
    }
    for (int k = m - 1; k >= 0; k--) CHECK_OK(a->tell(st, xs[k], obj(xs[k], d), (b + k) % 7 == 6));
  }
}

static void test_resume(void) {
  ps_space *s = space_from(MIXED);
  const ps_algo_vtable *a = ps_algo_find("rl");
  CHECK(a != NULL, "rl not registered");
  if (!a) return;
  int d = s->n, K = 4, R = 8, n = R * K;
  cJSON *opts = cJSON_Parse("{\"k\": 4, \"ppo_epochs\": 3, \"hidden\": 16}");
  double *ref = calloc((size_t)n * d, sizeof(double)), *got = calloc((size_t)n * d, sizeof(double));
  void *st = NULL;
  CHECK_OK(a->create(s, opts, 42, &st));
  drive(a, st, d, K, 0, n, ref);
  cJSON *rep = a->report(st);
  cJSON *rounds = cJSON_GetObjectItem(rep, "rounds"), *trials = cJSON_GetObjectItem(rep, "trials");
  CHECK(cJSON_GetArraySize(rounds) == R, "report has %d rounds, expected %d", cJSON_GetArraySize(rounds), R);
  CHECK(cJSON_GetArraySize(trials) == n, "report has %d trials, expected %d", cJSON_GetArraySize(trials), n);
  CHECK(cJSON_GetObjectItem(cJSON_GetArrayItem(rounds, 0), "baseline") != NULL, "rounds lack a baseline");
  CHECK(cJSON_GetObjectItem(cJSON_GetArrayItem(rounds, 0), "mean_reward") != NULL, "rounds lack mean_reward");
  cJSON_Delete(rep);
  a->destroy(st);
  /* the policy must change its proposals: rounds differ */
  CHECK(memcmp(ref, ref + (size_t)K * d, (size_t)K * d * sizeof(double)) != 0, "rounds 0 and 1 are identical");

  /* save at a round boundary (after round 3) and mid-round (after 2 asks of round 5 with 1 tell) */
  for (int mode = 0; mode < 2; mode++) {
    memset(got, 0, (size_t)n * d * sizeof(double));
    CHECK_OK(a->create(s, opts, 42, &st));
    int cut = 3 * K;
    drive(a, st, d, K, 0, cut, got);
    double pending[2][8];
    if (mode == 1) {
      for (int k = 0; k < 2; k++) {
        CHECK_OK(a->ask(st, pending[k]));
        memcpy(got + (size_t)(cut + k) * d, pending[k], (size_t)d * sizeof(double));
      }
      CHECK_OK(a->tell(st, pending[1], obj(pending[1], d), (cut + 1) % 7 == 6)); /* tells in another order than the reference */
    }
    cJSON *saved = NULL;
    CHECK_OK(a->save(st, &saved));
    char *txt = cJSON_PrintUnformatted(saved); /* through text, as the journal stores it */
    cJSON_Delete(saved);
    a->destroy(st);
    saved = cJSON_Parse(txt);
    free(txt);
    CHECK_OK(a->create(s, opts, 999, &st)); /* a fresh algorithm, even with another seed */
    CHECK_OK(a->load(st, saved));
    cJSON_Delete(saved);
    if (mode == 0) {
      drive(a, st, d, K, cut, n - cut, got);
    } else {
      /* finish the interrupted block exactly as the uninterrupted run did (reverse tells) */
      double xs[2][8];
      for (int k = 0; k < 2; k++) {
        CHECK_OK(a->ask(st, xs[k]));
        memcpy(got + (size_t)(cut + 2 + k) * d, xs[k], (size_t)d * sizeof(double));
      }
      CHECK_OK(a->tell(st, xs[1], obj(xs[1], d), (cut + 3) % 7 == 6));
      CHECK_OK(a->tell(st, xs[0], obj(xs[0], d), (cut + 2) % 7 == 6));
      CHECK_OK(a->tell(st, pending[0], obj(pending[0], d), (cut + 0) % 7 == 6));
      drive(a, st, d, K, cut + K, n - cut - K, got);
    }
    CHECK(memcmp(ref, got, (size_t)n * d * sizeof(double)) == 0, "resume (%s) changed the proposals",
          mode ? "mid-round" : "after a round");
    a->destroy(st);
  }
  free(ref);
  free(got);
  cJSON_Delete(opts);
  ps_space_free(s);
}

/* A driver keeping `jobs` > K trials running: it asks again whenever one ends
 * (ends come in a scrambled order), so later rounds are opened before earlier
 * ones are complete. Every trial is a policy sample (none "external"), rounds
 * are updated in order, and saving/loading at step `cut` changes nothing. */
static void pipeline(const ps_algo_vtable *a, const ps_space *s, const cJSON *opts, int n, int cut, double *rec) {
  enum { JOBS = 6 };
  int d = s->n, asked = 0;
  double run[JOBS][8];
  void *st = NULL;
  CHECK_OK(a->create(s, opts, 7, &st));
  for (int j = 0; j < JOBS; j++, asked++) {
    CHECK_OK(a->ask(st, run[j]));
    memcpy(rec + (size_t)asked * d, run[j], (size_t)d * sizeof(double));
  }
  for (int step = 0; asked < n; step++) {
    if (step == cut) {
      cJSON *saved = NULL;
      CHECK_OK(a->save(st, &saved));
      a->destroy(st);
      CHECK_OK(a->create(s, opts, 1234, &st));
      CHECK_OK(a->load(st, saved));
      cJSON_Delete(saved);
    }
    int j = (step * 5 + 3) % JOBS; /* which running trial ends */
    CHECK_OK(a->tell(st, run[j], obj(run[j], d), step % 9 == 4));
    CHECK_OK(a->ask(st, run[j]));
    memcpy(rec + (size_t)asked++ * d, run[j], (size_t)d * sizeof(double));
  }
  cJSON *rep = a->report(st);
  int n_rounds = cJSON_GetArraySize(cJSON_GetObjectItem(rep, "rounds")), ext = 0;
  const cJSON *tr;
  cJSON_ArrayForEach(tr, cJSON_GetObjectItem(rep, "trials")) ext += !strcmp(ps_json_str(tr, "kind", ""), "external");
  CHECK(ext == 0, "%d trials not matched to a proposal", ext);
  CHECK(n_rounds >= (n - JOBS) / 4 - 2, "only %d updates for %d trials", n_rounds, n - JOBS);
  int prev = -1, ordered = 1;
  cJSON_ArrayForEach(tr, cJSON_GetObjectItem(rep, "rounds")) {
    ordered &= ps_json_int(tr, "round", -1) == prev + 1;
    prev = ps_json_int(tr, "round", -1);
  }
  CHECK(ordered, "rounds not updated in order");
  cJSON_Delete(rep);
  a->destroy(st);
}

static void test_pipeline_resume(void) {
  ps_space *s = space_from(MIXED);
  const ps_algo_vtable *a = ps_algo_find("rl");
  cJSON *opts = cJSON_Parse("{\"k\": 4, \"hidden\": 16}");
  int n = 60, d = s->n;
  double *ref = calloc((size_t)n * d, sizeof(double)), *got = calloc((size_t)n * d, sizeof(double));
  pipeline(a, s, opts, n, -1, ref);
  pipeline(a, s, opts, n, 23, got);
  CHECK(memcmp(ref, got, (size_t)n * d * sizeof(double)) == 0, "pipelined resume changed the proposals");
  free(ref);
  free(got);
  cJSON_Delete(opts);
  ps_space_free(s);
}

/* More workers than K: extra proposals, out-of-order tells, unknown points, failures, bad state. */
static void test_bookkeeping(void) {
  ps_space *s = space_from(MIXED);
  const ps_algo_vtable *a = ps_algo_find("rl");
  void *st = NULL;
  cJSON *opts = cJSON_Parse("{\"k\": 3}");
  CHECK_OK(a->create(s, opts, 5, &st));
  double xs[5][8];
  for (int k = 0; k < 5; k++) {
    CHECK_OK(a->ask(st, xs[k]));
    for (int i = 0; i < s->n; i++) CHECK(xs[k][i] > 0 && xs[k][i] < 1, "x out of (0,1): %g", xs[k][i]);
  }
  double ext[4] = {0.1, 0.1, 0.1, 0.1};
  CHECK_OK(a->tell(st, ext, 0.5, false)); /* a warm-start point */
  CHECK_OK(a->tell(st, xs[4], 0.2, false)); /* from round 1, opened early */
  CHECK_OK(a->tell(st, xs[2], 0.0, true));
  CHECK_OK(a->tell(st, xs[0], 0.3, false));
  cJSON *rep = a->report(st);
  CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(rep, "rounds")) == 0, "update before K policy tells");
  cJSON_Delete(rep);
  CHECK_OK(a->tell(st, xs[1], 0.4, false));
  rep = a->report(st);
  CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(rep, "rounds")) == 1, "no update after K tells");
  /* the failed trial got the worst reward seen (0.2): mean (0.3 + 0.4 + 0.2) / 3 */
  CHECK_NEAR(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(rep, "rounds"), 0), "mean_reward")->valuedouble,
             0.3, 1e-12);
  CHECK_NEAR(cJSON_GetObjectItem(rep, "best")->valuedouble, 0.5, 1e-12);
  cJSON_Delete(rep);
  cJSON *bad = cJSON_Parse("{\"algo\": \"rl\", \"d\": 4, \"k\": 3, \"hidden\": 32, \"n_handed\": 0, \"n_told\": 0, \"weights\": \"00\"}");
  CHECK(a->load(st, bad) == PS_ERR_DATA, "malformed state accepted");
  cJSON_Delete(bad);
  a->destroy(st);
  cJSON_Delete(opts);
  opts = cJSON_Parse("{\"kk\": 3}");
  CHECK(a->create(s, opts, 5, &st) == PS_ERR_INVALID, "unknown option accepted");
  fprintf(stderr, "expected error: %s\n", ps_last_error());
  cJSON_Delete(opts);
  opts = cJSON_Parse("{\"k\": 0}");
  CHECK(a->create(s, opts, 5, &st) == PS_ERR_INVALID, "k = 0 accepted");
  cJSON_Delete(opts);
  ps_space_free(s);
}

int main(void) {
  test_beta_density();
  test_output_derivatives();
  test_ppo_gradient();
  test_resume();
  test_pipeline_resume();
  test_bookkeeping();
  CHECK(ps_algo_find("random") && ps_algo_find("rl") && !ps_algo_find("nope"), "registry");
  CHECK(strstr(ps_algo_names(), "random") && strstr(ps_algo_names(), "rl"), "names: %s", ps_algo_names());
  return ps_test_done("test_ppo");
}
