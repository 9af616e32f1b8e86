/* NAS cell networks and SCNAS Algorithm 1: pair sampling frequencies against q
 * (chi^2 over 2e5 draws, and the test's power against a wrong q), the Gumbel
 * noise (argmax frequencies = softmax(alpha)), the edge-weight op's gradient
 * to alpha against finite differences, a small super-network's whole gradient
 * (weights and alpha) against finite differences, the genotype rule on
 * hand-set alphas, the derived network through a checkpoint, arch errors, and
 * the activation memory of two sampled ops against all eight. */
#include "proxyseg/nn.h"
#include "gradcheck.h"
#include "testutil.h"
#include <gsl/gsl_cdf.h>
#include <string.h>

#define NOPS 8
#define NPAIRS 28

/* p-value of Pearson's chi^2 of counts against probabilities p (k cells). */
static double chi2_p(const long *counts, const double *p, int k, long n) {
  double x2 = 0;
  for (int i = 0; i < k; i++) {
    double e = p[i] * (double)n;
    x2 += (counts[i] - e) * (counts[i] - e) / e;
  }
  return gsl_cdf_chisq_Q(x2, k - 1);
}

static void test_pair_sampling(void) {
  const double taus[] = {0.5, 1.0, 5.0};
  for (int ti = 0; ti < 3; ti++) {
    ps_rng *r = ps_rng_create(11 + ti);
    float alpha[NOPS] = {0.9f, -0.3f, 0.2f, 1.4f, -1.0f, 0.0f, 0.5f, -0.6f};
    double z[NOPS], q[NPAIRS], zs = 0, qs = 0;
    ps_nas_gumbel_softmax(alpha, NOPS, taus[ti], r, NULL, z);
    ps_nas_pair_probs(z, NOPS, q);
    for (int i = 0; i < NOPS; i++) zs += z[i];
    for (int i = 0; i < NPAIRS; i++) qs += q[i];
    CHECK_NEAR(zs, 1.0, 1e-12);
    CHECK_NEAR(qs, 1.0, 1e-12);
    const long N = 200000;
    long counts[NPAIRS] = {0};
    int idx[NOPS][NOPS], k = 0;
    for (int a = 0; a < NOPS; a++)
      for (int b = a + 1; b < NOPS; b++) idx[a][b] = k++;
    long bad = 0;
    for (long i = 0; i < N; i++) {
      int a, b;
      ps_nas_sample_pair(z, NOPS, r, &a, &b);
      if (a < b && a >= 0 && b < NOPS) counts[idx[a][b]]++;
      else bad++;
    }
    CHECK(bad == 0, "%ld draws were not a pair o1 < o2", bad);
    /* q may hold tiny cells at tau 0.5: pool those with expected count < 5 into one */
    long c2[NPAIRS];
    double q2[NPAIRS];
    int m = 0;
    long crest = 0;
    double qrest = 0;
    for (int i = 0; i < NPAIRS; i++) {
      if (q[i] * N >= 5) c2[m] = counts[i], q2[m++] = q[i];
      else crest += counts[i], qrest += q[i];
    }
    if (qrest > 0) c2[m] = crest, q2[m++] = qrest;
    double p = chi2_p(c2, q2, m, N);
    fprintf(stderr, "pair sampling tau %.1f: %d cells, chi^2 p = %.3f\n", taus[ti], m, p);
    CHECK(p > 1e-3, "pair frequencies differ from q at tau %g (p = %.2e)", taus[ti], p);
    /* the test has power: the same counts against uniform pair probabilities are rejected */
    double uni[NPAIRS];
    for (int i = 0; i < NPAIRS; i++) uni[i] = 1.0 / NPAIRS;
    if (ti == 0) CHECK(chi2_p(counts, uni, NPAIRS, N) < 1e-6, "chi^2 cannot tell q from uniform");
    ps_rng_free(r);
  }
}

/* Gumbel-max: argmax of (alpha + eps) is distributed as softmax(alpha), whatever tau. */
static void test_gumbel_noise(void) {
  ps_rng *r = ps_rng_create(5);
  float alpha[NOPS] = {1.0f, 0.0f, -0.5f, 0.3f, 2.0f, -1.0f, 0.1f, 0.7f};
  double p[NOPS], s = 0;
  for (int o = 0; o < NOPS; o++) s += (p[o] = exp(alpha[o]));
  for (int o = 0; o < NOPS; o++) p[o] /= s;
  long counts[NOPS] = {0};
  const long N = 100000;
  for (long i = 0; i < N; i++) {
    double z[NOPS];
    ps_nas_gumbel_softmax(alpha, NOPS, 0.7, r, NULL, z);
    int a = 0;
    for (int o = 1; o < NOPS; o++) if (z[o] > z[a]) a = o;
    counts[a]++;
  }
  double pv = chi2_p(counts, p, NOPS, N);
  fprintf(stderr, "gumbel argmax vs softmax(alpha): chi^2 p = %.3f\n", pv);
  CHECK(pv > 1e-3, "Gumbel-max frequencies differ from softmax(alpha) (p = %.2e)", pv);
  ps_rng_free(r);
}

/* ---- the edge-weights op ---- */
typedef struct { double eps[4 * NOPS]; uint8_t sel[4 * NOPS]; double tau; } ew_case;
static const uint8_t emit[NOPS] = {1, 1, 1, 1, 1, 1, 1, 0};

static ps_tensor *ew_build(ps_tape *t, ps_tensor **leaves, void *ud) {
  ew_case *c = ud;
  return ps_nas_edge_weights(t, leaves[0], c->eps, c->tau, c->sel, emit);
}

static void test_edge_weights(void) {
  ps_rng *r = ps_rng_create(3);
  ps_tensor *alpha = ps_gc_leaf(2, (int64_t[]){4, NOPS}, true, r);
  ew_case c = {.tau = 0.7};
  float a0[NOPS];
  for (int i = 0; i < 4 * NOPS; i++) c.eps[i] = -log(-log(ps_rng_uniform_range(r, 1e-6, 1)));
  /* edge 0: a pair, 1: a pair with zero, 2: all eight, 3: a pair sampled as Algorithm 1 does */
  c.sel[0 * NOPS + 1] = c.sel[0 * NOPS + 4] = 1;
  c.sel[1 * NOPS + 2] = c.sel[1 * NOPS + 7] = 1;
  memset(c.sel + 2 * NOPS, 1, NOPS);
  double z[NOPS];
  for (int o = 0; o < NOPS; o++) a0[o] = alpha->data[3 * NOPS + o];
  ps_nas_gumbel_softmax(a0, NOPS, c.tau, NULL, NULL, z);
  /* with eps given explicitly: recompute z with that noise */
  double mx = -1e9, s = 0;
  for (int o = 0; o < NOPS; o++) mx = fmax(mx, (a0[o] + c.eps[3 * NOPS + o]) / c.tau);
  for (int o = 0; o < NOPS; o++) s += (z[o] = exp((a0[o] + c.eps[3 * NOPS + o]) / c.tau - mx));
  for (int o = 0; o < NOPS; o++) z[o] /= s;
  int o1, o2;
  ps_nas_sample_pair(z, NOPS, r, &o1, &o2);
  c.sel[3 * NOPS + o1] = c.sel[3 * NOPS + o2] = 1;
  /* values: Algorithm 1's renormalised weights */
  ps_tape *t = ps_tape_create_on(ps_backend_get("cpu-ref"));
  ps_tensor *w = ps_nas_edge_weights(t, alpha, c.eps, c.tau, c.sel, emit);
  CHECK(w != NULL, "edge weights: %s", ps_last_error());
  int m_expect = 2 + 1 + 7 + (o2 == 7 ? 1 : 2);
  CHECK(w && w->numel == m_expect, "edge weights: %lld outputs, expected %d", (long long)(w ? w->numel : -1), m_expect);
  if (w && w->numel == m_expect) {
    int last = 2 + 1 + 7;
    CHECK_NEAR(w->data[last], z[o1] / (z[o1] + z[o2]), 1e-6);
    if (o2 != 7) CHECK_NEAR(w->data[last] + w->data[last + 1], 1.0, 1e-6);
    double sa = 0;
    for (int i = 3; i < 10; i++) sa += w->data[i];
    CHECK(sa < 1.0 && sa > 0.0, "all-ops edge: non-zero ops' weights sum %g (< 1: zero holds the rest)", sa);
  }
  ps_tape_free(t);
  double err = ps_gradcheck("nas_edge_weights d/dalpha", ew_build, 1, &alpha, &c, 1e-3, 64, 9);
  CHECK(err < 1e-2, "edge weights gradient rel err %.2e", err);
  ps_gc_leaf_free(alpha);
  ps_rng_free(r);
}

/* Known answer for the estimator: a loss that charges every op 1 except op 3
 * (0). Plain gradient steps on alpha through Algorithm 1's sampled, renormalised
 * pair weights must make op 3 the most likely, whatever the noise. */
static void test_known_answer(void) {
  ps_rng *r = ps_rng_create(21);
  ps_tape *t = ps_tape_create_on(ps_backend_get("cpu-ref"));
  float a[NOPS] = {0}, g[NOPS];
  ps_tensor alpha = {.data = a, .grad = g, .shape = {1, NOPS}, .ndim = 2, .numel = NOPS, .requires_grad = true,
                     .producer = -1, .backend = ps_backend_get("cpu-ref")};
  static const uint8_t all[NOPS] = {1, 1, 1, 1, 1, 1, 1, 1};
  const int steps = 400;
  for (int s = 0; s < steps; s++) {
    double tau = 5.0 - 4.5 * s / (steps - 1), z[NOPS], eps[NOPS];
    uint8_t sel[NOPS] = {0};
    ps_nas_gumbel_softmax(a, NOPS, tau, r, eps, z);
    int o1, o2;
    ps_nas_sample_pair(z, NOPS, r, &o1, &o2);
    sel[o1] = sel[o2] = 1;
    ps_tape_reset(t);
    memset(g, 0, sizeof g);
    ps_tensor *w = ps_nas_edge_weights(t, &alpha, eps, tau, sel, all);
    float cost[2] = {o1 == 3 ? 0.f : 1.f, o2 == 3 ? 0.f : 1.f};
    if (!w || ps_tape_backward_seed(t, w, cost)) { CHECK(0, "known answer step %d: %s", s, ps_last_error()); break; }
    for (int o = 0; o < NOPS; o++) a[o] -= 0.5f * g[o];
  }
  int best = 0;
  for (int o = 1; o < NOPS; o++) if (a[o] > a[best]) best = o;
  double z[NOPS];
  ps_nas_gumbel_softmax(a, NOPS, 1.0, NULL, NULL, z);
  fprintf(stderr, "known answer: argmax alpha = op %d, softmax %.3f\n", best, z[best]);
  CHECK(best == 3 && z[3] > 0.5, "known answer: op %d (p %.3f) instead of op 3 (p %.3f)", best, z[best], z[3]);
  ps_tape_free(t);
  ps_rng_free(r);
}

/* ---- a small super-network's whole gradient ---- */
#define SMALL "{\"family\":\"cells\",\"stem_features\":2,\"levels\":1,\"nodes\":2,\"leaky_slope\":0.1}"

static double net_loss(ps_net *n, ps_tape *t, ps_rng *r, uint64_t seed, ps_tensor *x, const float *rr, bool backward) {
  ps_rng_seed(r, seed);   /* the same sampled ops and noise for every evaluation */
  ps_tape_reset(t);
  ps_tensor *outs[2];
  int no;
  if (ps_net_forward(n, t, x, true, outs, &no)) return NAN;
  double s = 0;
  for (int64_t i = 0; i < outs[0]->numel; i++) s += (double)rr[i] * outs[0]->data[i];
  if (backward && ps_tape_backward_seed(t, outs[0], rr)) return NAN;
  return s;
}

/* Central differences at h and h/2: where they disagree the loss has a kink
 * (a LeakyReLU or max-pool switch) within h and the probe is left out; at most
 * a few may be. */
static double fd_at(ps_net *n, ps_tape *t, ps_rng *r, ps_tensor *x, const float *rr, float *d, size_t i, double h) {
  float keep = d[i];
  d[i] = keep + (float)h;
  double lp = net_loss(n, t, r, 99, x, rr, false);
  d[i] = keep - (float)h;
  double lm = net_loss(n, t, r, 99, x, rr, false);
  d[i] = keep;
  return (lp - lm) / (2 * h);
}

static void fd_check(const char *what, ps_net *n, ps_tape *t, ps_rng *r, ps_tensor *x, const float *rr, ps_params *p,
                     double h, ps_rng *pick) {
  float *d = ps_params_data(p), *g = ps_params_grad(p);
  size_t N = ps_params_numel(p);
  double worst = 0, scale = 1e-3;
  int probes = 0, nonzero = 0, kinks = 0;
  for (int k = 0; k < 80; k++) {
    size_t i = (size_t)ps_rng_int(pick, N);
    double num = fd_at(n, t, r, x, rr, d, i, h), num2 = fd_at(n, t, r, x, rr, d, i, h / 2);
    if (fabs(num - num2) > 1e-2 * fmax(1e-2, fabs(num))) { kinks++; continue; }
    scale = fmax(scale, fabs(num));
    worst = fmax(worst, fabs(num - g[i]));
    probes++;
    nonzero += fabs(num) > 1e-4;
  }
  fprintf(stderr, "cell net %s: %d probes (%d non-zero, %d at kinks left out), max rel err %.2e\n", what, probes,
          nonzero, kinks, worst / scale);
  CHECK(worst / scale < 1e-2, "cell net %s gradient: rel err %.2e", what, worst / scale);
  CHECK(nonzero >= 5, "cell net %s: only %d probed gradients are non-zero", what, nonzero);
  CHECK(kinks <= 8, "cell net %s: %d of 80 probes at kinks", what, kinks);
}

static void test_net_gradient(void) {
  cJSON *arch = cJSON_Parse(SMALL);
  ps_net *n = NULL;
  CHECK_OK(ps_net_create(arch, 1, 2, 4, &n));
  cJSON_Delete(arch);
  if (!n) return;
  CHECK(!strcmp(ps_net_family(n), "cells"), "family %s", ps_net_family(n));
  CHECK(ps_net_arch_params(n) && ps_params_count(ps_net_arch_params(n)) == 4, "four alpha tensors");
  CHECK(ps_net_patch_divisor(n, 0) == 2, "divisor %d", ps_net_patch_divisor(n, 0));
  ps_rng *r = ps_rng_create(1), *pick = ps_rng_create(2);
  /* alphas away from 0 so the weights differ; tau 2 keeps both sampled ops weighty */
  float *a = ps_params_data(ps_net_arch_params(n));
  for (size_t i = 0; i < ps_params_numel(ps_net_arch_params(n)); i++) a[i] = (float)ps_rng_normal(pick, 0.5);
  CHECK_OK(ps_net_nas_set_sampling(n, 2.0, r));
  ps_tape *t = ps_tape_create_on(ps_backend_get("cpu-ref"));
  const int64_t sh[5] = {1, 1, 6, 4, 4};
  float xd[96], rr[2 * 96];
  for (int i = 0; i < 96; i++) xd[i] = (float)ps_rng_normal(pick, 1.0);
  for (int i = 0; i < 2 * 96; i++) rr[i] = (float)ps_rng_uniform_range(pick, -1, 1);
  ps_tensor *x = ps_tape_wrap(t, xd, 5, sh);
  ps_params_zero_grad(ps_net_params(n));
  ps_params_zero_grad(ps_net_arch_params(n));
  /* x is wrapped once; reset keeps caller memory, so re-wrap after each reset */
  ps_rng_seed(r, 99);
  ps_tape_reset(t);
  x = ps_tape_wrap(t, xd, 5, sh);
  ps_tensor *outs[2];
  int no;
  CHECK_OK(ps_net_forward(n, t, x, true, outs, &no));
  CHECK(no == 1 && outs[0]->shape[1] == 2 && outs[0]->shape[2] == 6, "output shape");
  CHECK_OK(ps_tape_backward_seed(t, outs[0], rr));
  /* the FD loop rewraps x on each reset: net_loss takes a wrapper made on a fresh tape */
  ps_tape *t2 = ps_tape_create_on(ps_backend_get("cpu-ref"));
  ps_tensor xs = *x;
  xs.requires_grad = false;
  xs.producer = -1;
  fd_check("weights", n, t2, r, &xs, rr, ps_net_params(n), 1e-3, pick);
  fd_check("alpha", n, t2, r, &xs, rr, ps_net_arch_params(n), 1e-3, pick);
  ps_tape_free(t2);
  ps_tape_free(t);
  ps_rng_free(r);
  ps_rng_free(pick);
  ps_net_free(n);
}

/* ---- genotype: the rule on hand-set alphas, the derived net, a checkpoint round trip ---- */
static void test_genotype(const char *dir) {
  cJSON *arch = cJSON_Parse("{\"family\":\"cells\",\"stem_features\":4,\"levels\":2}");
  ps_net *n = NULL;
  CHECK_OK(ps_net_create(arch, 1, 3, 4, &n));
  cJSON_Delete(arch);
  if (!n) return;
  ps_params *ap = ps_net_arch_params(n);
  ps_tensor *ar = ps_params_find(ap, "alpha.reduction");
  CHECK(ar && ar->shape[0] == 14 && ar->shape[1] == NOPS, "alpha.reduction is [14, 8]");
  memset(ps_params_data(ap), 0, ps_params_numel(ap) * sizeof(float));
  /* reduction node 0 (edges 0, 1): edge 1 prefers dil r3; node 2 (edges 5..8): zero is the
   * strongest everywhere except edge 7 (max pool) and edge 5 (conv, weaker): the rule skips
   * zero, so edge 5 -> conv, edge 7 -> max pool, and both are kept */
  float *a = ar->data;
  a[1 * NOPS + 2] = 3;
  a[0 * NOPS + 6] = 1;
  for (int e = 5; e <= 8; e++) a[e * NOPS + 7] = 5;
  a[5 * NOPS + 0] = 2;
  a[7 * NOPS + 4] = 4;
  cJSON *g = NULL;
  CHECK_OK(ps_net_nas_genotype(n, &g));
  const cJSON *red = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(g, "genotype"), "reduction");
  const cJSON *n0 = cJSON_GetArrayItem(red, 0), *n2 = cJSON_GetArrayItem(red, 2);
  CHECK(cJSON_GetArraySize(n0) == 2 && cJSON_GetArraySize(n2) == 2, "two edges kept per node");
  const char *op1 = NULL, *op5 = NULL, *op7 = NULL;
  const cJSON *e;
  cJSON_ArrayForEach(e, n0) if (ps_json_int(e, "from", -1) == 1) op1 = ps_json_str(e, "op", "");
  cJSON_ArrayForEach(e, n2) {
    if (ps_json_int(e, "from", -1) == 0) op5 = ps_json_str(e, "op", "");
    if (ps_json_int(e, "from", -1) == 2) op7 = ps_json_str(e, "op", "");
  }
  CHECK(op1 && !strcmp(op1, "dil_sep_conv_3x3x3_r3"), "reduction node 0 from input 1: %s", op1 ? op1 : "(missing)");
  CHECK(op5 && !strcmp(op5, "conv_3x3x3"), "reduction node 2 from input 0: %s", op5 ? op5 : "(missing)");
  CHECK(op7 && !strcmp(op7, "max_pool_3x3x3"), "reduction node 2 from node 0: %s", op7 ? op7 : "(missing)");
  CHECK(cJSON_GetObjectItemCaseSensitive(g, "sampling") == NULL, "the derived arch has no sampling key");
  /* the derived network: fewer parameters, no alpha, a checkpoint round trip */
  ps_net *d = NULL;
  CHECK_OK(ps_net_create(g, 1, 3, 8, &d));
  if (d) {
    CHECK(ps_net_arch_params(d) == NULL, "derived network has no alpha");
    CHECK(ps_params_numel(ps_net_params(d)) < ps_params_numel(ps_net_params(n)) / 2, "derived %zu vs super %zu params",
          ps_params_numel(ps_net_params(d)), ps_params_numel(ps_net_params(n)));
    CHECK(ps_net_conv_macs(d, 16, 16, 16) > 0, "MACs");
    char *path = ps_path_join(dir, "derived.h5");
    CHECK_OK(ps_checkpoint_save(path, d, NULL, NULL, NULL));
    ps_net *back = NULL;
    CHECK_OK(ps_checkpoint_load_net(path, &back));
    if (back) {
      CHECK(cJSON_Compare(ps_net_arch_resolved(back), ps_net_arch_resolved(d), true), "stored genotype");
      ps_tape *t = ps_tape_create();
      float xd[2 * 8 * 8 * 8];
      ps_rng *r = ps_rng_create(7);
      for (int i = 0; i < 1024; i++) xd[i] = (float)ps_rng_normal(r, 1);
      const int64_t sh[5] = {2, 1, 8, 8, 8};
      ps_tensor *o1[2], *o2[2];
      int no;
      CHECK_OK(ps_net_forward(d, t, ps_tape_wrap(t, xd, 5, sh), false, o1, &no));
      ps_tensor *keep = ps_tape_tensor_like(t, o1[0]);
      memcpy(keep->data, o1[0]->data, (size_t)keep->numel * sizeof(float));
      CHECK_OK(ps_net_forward(back, t, ps_tape_wrap(t, xd, 5, sh), false, o2, &no));
      CHECK(ps_test_max_rel_err(o2[0]->data, keep->data, (size_t)keep->numel, 1e-6) == 0, "reloaded net differs");
      ps_rng_free(r);
      ps_tape_free(t);
      ps_net_free(back);
    }
    /* super-network checkpoints keep alpha */
    char *sp = ps_path_join(dir, "super.h5");
    CHECK_OK(ps_checkpoint_save(sp, n, NULL, NULL, NULL));
    ps_net *sb = NULL;
    CHECK_OK(ps_checkpoint_load_net(sp, &sb));
    CHECK(sb && !memcmp(ps_params_data(ps_net_arch_params(sb)), ps_params_data(ap), ps_params_numel(ap) * sizeof(float)),
          "alpha survives the checkpoint");
    ps_net_free(sb);
    free(sp);
    free(path);
    ps_net_free(d);
  }
  cJSON_Delete(g);
  ps_net_free(n);
}

static void test_arch_errors(void) {
  const char *bad[] = {
      "{\"family\":\"cellz\"}",
      "{\"family\":\"cells\",\"stages\":3}",
      "{\"family\":\"cells\",\"levels\":9}",
      "{\"family\":\"cells\",\"sampling\":\"three\"}",
      "{\"family\":\"cells\",\"nodes\":1,\"genotype\":{\"reduction\":[[{\"from\":0,\"op\":\"zero\"}]],"
      "\"encoder_normal\":[[{\"from\":0,\"op\":\"identity\"}]],\"expansion\":[[{\"from\":0,\"op\":\"identity\"}]],"
      "\"decoder_normal\":[[{\"from\":0,\"op\":\"identity\"}]]}}",
      "{\"family\":\"cells\",\"nodes\":1,\"genotype\":{\"reduction\":[[{\"from\":2,\"op\":\"identity\"}]]}}",
  };
  const char *want[] = {"family", "stages", "levels", "sampling", "zero", "from"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    cJSON *a = cJSON_Parse(bad[i]);
    ps_net *n = NULL;
    ps_status st = ps_net_create(a, 1, 2, 0, &n);
    CHECK(st == PS_ERR_INVALID && !n && strstr(ps_last_error(), want[i]), "bad arch %zu: %s", i, ps_last_error());
    ps_net_free(n);
    cJSON_Delete(a);
  }
  /* shrink: width and levels, genotype kept */
  cJSON *a = cJSON_Parse("{\"family\":\"cells\",\"stem_features\":48,\"levels\":3}"), *s = NULL;
  CHECK_OK(ps_arch_shrink(a, 0.25, 1, &s));
  CHECK(ps_json_int(s, "stem_features", 0) == 12 && ps_json_int(s, "levels", 0) == 2, "shrunk cells arch");
  cJSON_Delete(s);
  cJSON_Delete(a);
}

/* Two sampled ops per edge against all eight on the same cells and patch: the
 * activation arena's high-water mark (bytes, deterministic) of one training step. */
static size_t step_bytes(const char *sampling) {
  char js[160];
  snprintf(js, sizeof js, "{\"family\":\"cells\",\"stem_features\":4,\"levels\":2,\"sampling\":\"%s\"}", sampling);
  cJSON *arch = cJSON_Parse(js);
  ps_net *n = NULL;
  ps_net_create(arch, 1, 2, 1, &n);
  cJSON_Delete(arch);
  if (!n) return 0;
  ps_rng *r = ps_rng_create(3);
  ps_net_nas_set_sampling(n, 1.0, r);
  ps_tape *t = ps_tape_create();
  static float xd[16 * 16 * 16];
  static uint8_t lab[16 * 16 * 16];
  for (int i = 0; i < 4096; i++) xd[i] = (float)ps_rng_normal(r, 1), lab[i] = xd[i] > 0;
  const int64_t sh[5] = {1, 1, 16, 16, 16};
  ps_tensor *outs[2];
  int no;
  size_t bytes = 0;
  if (!ps_net_forward(n, t, ps_tape_wrap(t, xd, 5, sh), true, outs, &no)) {
    ps_tensor *l = ps_net_loss(n, t, outs, no, lab, NULL);
    if (l && !ps_tape_backward(t, l)) bytes = ps_tape_arena_bytes(t);
  }
  ps_tape_free(t);
  ps_rng_free(r);
  ps_net_free(n);
  return bytes;
}

static void test_memory(void) {
  size_t pair = step_bytes("pair"), all = step_bytes("all");
  fprintf(stderr, "activation arena: pair %zu bytes, all %zu bytes (%.2fx)\n", pair, all, all ? (double)pair / all : 0);
  CHECK(pair > 0 && all > 0, "both steps ran: %s", ps_last_error());
  CHECK(pair < 0.5 * all, "two sampled ops use %zu bytes, all eight %zu", pair, all);
}

int main(void) {
  char *dir = ps_test_tmpdir("nas_cells");
  test_pair_sampling();
  test_gumbel_noise();
  test_edge_weights();
  test_known_answer();
  test_net_gradient();
  test_genotype(dir);
  test_arch_errors();
  test_memory();
  free(dir);
  return ps_test_done("test_nas_cells");
}
