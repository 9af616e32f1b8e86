/* Categorical ASNG (Akimoto et al., ICML 2019): a distribution over d
 * categorical variables in expectation parameters theta, updated by the
 * ranking-based natural gradient with a fixed Fisher length delta and an
 * adaptive step (Delta); see ../shared/reference/asng.md. Minimises losses.
 * Internal to search/ (the ASNG trainer plugin and the tests use it). */
#ifndef PS_SEARCH_ASNG_H
#define PS_SEARCH_ASNG_H
#include "proxyseg/json.h"

typedef struct ps_asng ps_asng;

/* categories[d] (each >= 1); lambda >= 2 samples per update; alpha 1.5 and
 * delta_init 1 in the paper; range_restriction: theta >= 1/(valid_d (C_i - 1)). */
ps_status ps_asng_create(int d, const int *categories, int lambda, double alpha, double delta_init,
                         bool range_restriction, ps_asng **out);
void ps_asng_free(ps_asng *a);
int ps_asng_dim(const ps_asng *a);
int ps_asng_lambda(const ps_asng *a);
int ps_asng_cmax(const ps_asng *a);
/* theta [d][cmax] row-major, zero beyond each row's C_i. */
const double *ps_asng_theta(const ps_asng *a);
/* One draw: c[d] category indices (as the reference: u ~ U[0,1) per row against the cumulative theta). */
void ps_asng_sample(const ps_asng *a, ps_rng *r, int *c);
/* argmax theta per row (first on ties). */
void ps_asng_mle(const ps_asng *a, int *c);
/* samples [lambda][d] category indices, losses [lambda] (lower is better).
 * Skips (returns PS_OK, *updated false) when all utilities are equal. */
ps_status ps_asng_update(ps_asng *a, const int *samples, const double *losses, bool *updated);
/* Current step size delta = delta_init / Delta, and the Delta accumulator. */
double ps_asng_delta(const ps_asng *a);
/* Mean over variables of max_j theta_ij (1 at a one-hot distribution). */
double ps_asng_convergence(const ps_asng *a);
int64_t ps_asng_updates(const ps_asng *a);

/* The pieces, exposed for tests. utility: w[k] aligned with the sorted order
 * idx (idx[0] = best); best ceil(lam/4) get +1/mu, worst ceil(lam/4) -1/mu,
 * ties averaged. natural_gradient: ngrad [d][cmax] = mean_k (w_k - mean w)
 * (onehot(samples[idx[k]]) - theta). fisher_norm: ||F^{1/2} ngrad|| over the
 * N = sum (C_i - 1) free parameters; s (optional, [N]) receives F^{1/2} ngrad. */
void ps_asng_utility(const double *losses, int lam, double *w, int *idx);
void ps_asng_natural_gradient(const ps_asng *a, const int *samples, const double *w, const int *idx, double *ngrad);
double ps_asng_fisher_norm(const ps_asng *a, const double *ngrad, double *s);
/* The whole state (theta, s, gamma, Delta, counters) bit-exact as hex. */
cJSON *ps_asng_save(const ps_asng *a);
ps_status ps_asng_load(ps_asng *a, const cJSON *j);
#endif
