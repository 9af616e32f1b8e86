/* Categorical ASNG, as the reference's CategoricalASNG: ranking utility,
 * natural gradient (onehot - theta), its Fisher norm in closed form per row,
 * a step of Fisher length delta, theta_min range restriction, then the
 * adaptive step: s, gamma, Delta (alpha 1.5, delta_init 1, Delta_max inf). */
#include "asng.h"
#include "algo_state.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct ps_asng {
  int d, cmax, lam, N, valid_d;
  int *C;
  double alpha, delta_init, Delta, gamma;
  bool range_restriction;
  double *theta; /* [d][cmax] */
  double *s;     /* [N] accumulated normalised F^{1/2} gradient */
  int64_t updates;
  double *ngrad, *sl, *w; /* scratch */
  int *idx;
};

ps_status ps_asng_create(int d, const int *categories, int lambda, double alpha, double delta_init, bool range_restriction,
                         ps_asng **out) {
  *out = NULL;
  if (d < 1 || !categories) return ps_error(PS_ERR_INVALID, "asng: need at least one variable");
  if (lambda < 2) return ps_error(PS_ERR_INVALID, "asng: lambda = %d: need at least 2 samples per update", lambda);
  if (!(alpha > 0) || !(delta_init > 0)) return ps_error(PS_ERR_INVALID, "asng: alpha %g and delta_init %g must be > 0", alpha, delta_init);
  ps_asng *a = calloc(1, sizeof *a);
  if (!a) return ps_error(PS_ERR_NOMEM, "asng: out of memory");
  a->d = d;
  a->lam = lambda;
  a->alpha = alpha;
  a->delta_init = delta_init;
  a->Delta = 1;
  a->range_restriction = range_restriction;
  a->C = malloc((size_t)d * sizeof(int));
  if (!a->C) { ps_asng_free(a); return ps_error(PS_ERR_NOMEM, "asng: out of memory"); }
  for (int i = 0; i < d; i++) {
    if (categories[i] < 1) { ps_asng_free(a); return ps_error(PS_ERR_INVALID, "asng: variable %d has %d categories", i, categories[i]); }
    a->C[i] = categories[i];
    if (a->C[i] > a->cmax) a->cmax = a->C[i];
    a->N += a->C[i] - 1;
    a->valid_d += a->C[i] > 1;
  }
  a->theta = calloc((size_t)d * a->cmax, sizeof(double));
  a->ngrad = calloc((size_t)d * a->cmax, sizeof(double));
  a->s = calloc((size_t)(a->N ? a->N : 1), sizeof(double));
  a->sl = calloc((size_t)(a->N ? a->N : 1), sizeof(double));
  a->w = calloc((size_t)lambda, sizeof(double));
  a->idx = calloc((size_t)lambda, sizeof(int));
  if (!a->theta || !a->ngrad || !a->s || !a->sl || !a->w || !a->idx) { ps_asng_free(a); return ps_error(PS_ERR_NOMEM, "asng: out of memory"); }
  for (int i = 0; i < d; i++)
    for (int j = 0; j < a->C[i]; j++) a->theta[(size_t)i * a->cmax + j] = 1.0 / a->C[i];
  *out = a;
  return PS_OK;
}

void ps_asng_free(ps_asng *a) {
  if (!a) return;
  free(a->C);
  free(a->theta);
  free(a->s);
  free(a->ngrad);
  free(a->sl);
  free(a->w);
  free(a->idx);
  free(a);
}

int ps_asng_dim(const ps_asng *a) { return a->d; }
int ps_asng_lambda(const ps_asng *a) { return a->lam; }
int ps_asng_cmax(const ps_asng *a) { return a->cmax; }
const double *ps_asng_theta(const ps_asng *a) { return a->theta; }
double ps_asng_delta(const ps_asng *a) { return a->delta_init / a->Delta; }
int64_t ps_asng_updates(const ps_asng *a) { return a->updates; }

void ps_asng_sample(const ps_asng *a, ps_rng *r, int *c) {
  for (int i = 0; i < a->d; i++) {
    const double *th = a->theta + (size_t)i * a->cmax;
    double u = ps_rng_uniform(r), cum = 0;
    c[i] = a->C[i] - 1; /* rounding: a u above the float sum picks the last category */
    for (int j = 0; j < a->C[i]; j++) {
      if (cum <= u && u < cum + th[j]) { c[i] = j; break; }
      cum += th[j];
    }
  }
}

void ps_asng_mle(const ps_asng *a, int *c) {
  for (int i = 0; i < a->d; i++) {
    const double *th = a->theta + (size_t)i * a->cmax;
    c[i] = 0;
    for (int j = 1; j < a->C[i]; j++)
      if (th[j] > th[c[i]]) c[i] = j;
  }
}

double ps_asng_convergence(const ps_asng *a) {
  double sum = 0;
  for (int i = 0; i < a->d; i++) {
    const double *th = a->theta + (size_t)i * a->cmax;
    double m = 0;
    for (int j = 0; j < a->C[i]; j++) m = th[j] > m ? th[j] : m;
    sum += m;
  }
  return sum / a->d;
}

void ps_asng_utility(const double *f, int lam, double *w, int *idx) {
  for (int k = 0; k < lam; k++) idx[k] = k;
  for (int k = 1; k < lam; k++) { /* stable insertion sort: lam is small */
    int v = idx[k], j = k - 1;
    while (j >= 0 && f[idx[j]] > f[v]) { idx[j + 1] = idx[j]; j--; }
    idx[j + 1] = v;
  }
  int mu = (int)ceil(lam * 0.25);
  for (int k = 0; k < lam; k++) w[k] = k < mu ? 1.0 / mu : k >= lam - mu ? -1.0 / mu : 0;
  /* ties: average the utilities over each block of equal losses */
  for (int k = 0; k < lam;) {
    int e = k + 1;
    while (e < lam && fabs(f[idx[e]] - f[idx[e - 1]]) < 1e-14 * fabs(f[idx[e - 1]])) e++;
    if (e - k > 1) {
      double m = 0;
      for (int t = k; t < e; t++) m += w[t];
      for (int t = k; t < e; t++) w[t] = m / (e - k);
    }
    k = e;
  }
}

void ps_asng_natural_gradient(const ps_asng *a, const int *samples, const double *w, const int *idx, double *ngrad) {
  double mw = 0;
  for (int k = 0; k < a->lam; k++) mw += w[k] / a->lam;
  memset(ngrad, 0, (size_t)a->d * a->cmax * sizeof(double));
  for (int k = 0; k < a->lam; k++) {
    const int *x = samples + (size_t)idx[k] * a->d;
    double u = (w[k] - mw) / a->lam;
    for (int i = 0; i < a->d; i++)
      for (int j = 0; j < a->C[i]; j++) {
        size_t o = (size_t)i * a->cmax + j;
        ngrad[o] += u * ((x[i] == j ? 1.0 : 0.0) - a->theta[o]);
      }
  }
}

double ps_asng_fisher_norm(const ps_asng *a, const double *ngrad, double *s) {
  double sum2 = 0;
  int n = 0;
  for (int i = 0; i < a->d; i++) {
    int K = a->C[i];
    if (K < 2) continue;
    const double *th = a->theta + (size_t)i * a->cmax, *g = ngrad + (size_t)i * a->cmax;
    double gs = 0, thK = th[K - 1];
    for (int j = 0; j < K - 1; j++) gs += g[j];
    for (int j = 0; j < K - 1; j++) {
      double v = g[j] / sqrt(th[j]) + sqrt(th[j]) * gs / (thK + sqrt(thK));
      if (s) s[n] = v;
      n++;
      sum2 += v * v;
    }
  }
  return sqrt(sum2);
}

/* Keep every theta_ij >= theta_min and rows summing to 1 (the reference's clipping). */
static void clip(ps_asng *a) {
  for (int i = 0; i < a->d; i++) {
    int ci = a->C[i];
    double *th = a->theta + (size_t)i * a->cmax;
    double tmin = a->range_restriction && ci > 1 ? 1.0 / (a->valid_d * (ci - 1)) : 0;
    if (tmin * ci >= 1) { /* one variable: the restriction leaves only the uniform row */
      for (int j = 0; j < ci; j++) th[j] = 1.0 / ci;
      continue;
    }
    double S = 0;
    for (int j = 0; j < ci; j++) { if (th[j] < tmin) th[j] = tmin; S += th[j]; }
    double tmp = S - tmin * ci;
    if (tmp > 0)
      for (int j = 0; j < ci; j++) th[j] -= (S - 1) * (th[j] - tmin) / tmp;
    S = 0;
    for (int j = 0; j < ci; j++) S += th[j];
    for (int j = 0; j < ci; j++) th[j] /= S;
  }
}

ps_status ps_asng_update(ps_asng *a, const int *samples, const double *losses, bool *updated) {
  if (updated) *updated = false;
  for (int k = 0; k < a->lam; k++)
    if (!isfinite(losses[k])) return ps_error(PS_ERR_NONFINITE, "asng: loss %d of the update is %g", k, losses[k]);
  double delta = a->delta_init / a->Delta, beta = delta / sqrt((double)(a->N ? a->N : 1));
  ps_asng_utility(losses, a->lam, a->w, a->idx);
  double mw = 0, var = 0;
  for (int k = 0; k < a->lam; k++) mw += a->w[k] / a->lam;
  for (int k = 0; k < a->lam; k++) var += (a->w[k] - mw) * (a->w[k] - mw);
  if (var == 0) return PS_OK;
  ps_asng_natural_gradient(a, samples, a->w, a->idx, a->ngrad);
  bool any = false;
  for (size_t o = 0; o < (size_t)a->d * a->cmax; o++) any |= fabs(a->ngrad[o]) >= 1e-18;
  if (!any) return PS_OK;
  double pnorm = ps_asng_fisher_norm(a, a->ngrad, a->sl);
  for (size_t o = 0; o < (size_t)a->d * a->cmax; o++) a->theta[o] += delta * a->ngrad[o] / pnorm;
  clip(a);
  double s2 = 0, c = sqrt(beta * (2 - beta));
  for (int n = 0; n < a->N; n++) {
    a->s[n] = (1 - beta) * a->s[n] + c * a->sl[n] / pnorm;
    s2 += a->s[n] * a->s[n];
  }
  a->gamma = (1 - beta) * (1 - beta) * a->gamma + beta * (2 - beta);
  a->Delta *= exp(beta * (a->gamma - s2 / a->alpha));
  a->updates++;
  if (updated) *updated = true;
  return PS_OK;
}

cJSON *ps_asng_save(const ps_asng *a) {
  cJSON *j = cJSON_CreateObject();
  cJSON_AddNumberToObject(j, "d", a->d);
  cJSON_AddNumberToObject(j, "cmax", a->cmax);
  cJSON_AddNumberToObject(j, "lambda", a->lam);
  cJSON_AddNumberToObject(j, "updates", (double)a->updates);
  cJSON_AddItemToObject(j, "theta", ps_algo_hex(a->theta, (size_t)a->d * a->cmax * sizeof(double)));
  cJSON_AddItemToObject(j, "s", ps_algo_hex(a->s, (size_t)a->N * sizeof(double)));
  cJSON_AddItemToObject(j, "gamma", ps_algo_hex(&a->gamma, sizeof(double)));
  cJSON_AddItemToObject(j, "Delta", ps_algo_hex(&a->Delta, sizeof(double)));
  return j;
}

ps_status ps_asng_load(ps_asng *a, const cJSON *j) {
  if (ps_json_int(j, "d", -1) != a->d || ps_json_int(j, "cmax", -1) != a->cmax || ps_json_int(j, "lambda", -1) != a->lam)
    return ps_error(PS_ERR_DATA, "asng state: saved for d=%d, cmax=%d, lambda=%d; this run has %d, %d, %d",
                    ps_json_int(j, "d", -1), ps_json_int(j, "cmax", -1), ps_json_int(j, "lambda", -1), a->d, a->cmax, a->lam);
  if (!ps_algo_unhex(cJSON_GetObjectItemCaseSensitive(j, "theta"), a->theta, (size_t)a->d * a->cmax * sizeof(double)) ||
      !ps_algo_unhex(cJSON_GetObjectItemCaseSensitive(j, "s"), a->s, (size_t)a->N * sizeof(double)) ||
      !ps_algo_unhex(cJSON_GetObjectItemCaseSensitive(j, "gamma"), &a->gamma, sizeof(double)) ||
      !ps_algo_unhex(cJSON_GetObjectItemCaseSensitive(j, "Delta"), &a->Delta, sizeof(double)))
    return ps_error(PS_ERR_DATA, "asng state: theta, s, gamma or Delta missing or of the wrong size");
  a->updates = (int64_t)ps_json_num(j, "updates", 0);
  return PS_OK;
}
