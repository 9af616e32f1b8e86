/* Rank statistics for the proxy-vs-full correlation study: Spearman, Kendall
 * tau-b and Pearson with percentile-bootstrap 95 % intervals, top-k overlap,
 * regret, and a paired comparison of two proxies. Scores are "higher is better"
 * (validation Dice). All functions are pure; randomness only via the seed. */
#ifndef PROXYSEG_STATS_H
#define PROXYSEG_STATS_H

#include <cjson/cJSON.h>
#include "proxyseg/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Ranks 1..n with ties given their average rank (like scipy.stats.rankdata). */
void ps_rank_average(const double *x, int n, double *ranks /* [n] */);

/* Correlations of x[n], y[n]. NaN when n < 2 or either side has zero variance
 * (all values tied), as SciPy does. Inputs must be finite. */
double ps_pearson(const double *x, const double *y, int n);
double ps_spearman(const double *x, const double *y, int n);      /* Pearson of average ranks */
double ps_kendall_tau_b(const double *x, const double *y, int n); /* tie-corrected tau-b */

typedef enum { PS_STAT_SPEARMAN = 0, PS_STAT_KENDALL, PS_STAT_PEARSON } ps_stat_kind;
double ps_stat_eval(ps_stat_kind k, const double *x, const double *y, int n);

/* Percentile bootstrap over pairs: n_boot resamples of n pairs with
 * replacement (ps_rng seeded with `seed`). Resamples whose statistic is NaN
 * (zero variance) are skipped and counted in *n_degenerate. ci[0..1] = 2.5 and
 * 97.5 percentiles (linear interpolation, numpy's default); NaN when fewer
 * than 2 resamples are valid. */
ps_status ps_bootstrap_ci(ps_stat_kind k, const double *x, const double *y, int n,
                          int n_boot, uint64_t seed, double ci[2], int *n_degenerate);

/* |top-k by proxy ∩ top-k by full| / k; k is clamped to [1, n]. Ties are
 * broken by index (the earlier config wins). NaN when n < 1. */
double ps_topk_overlap(const double *proxy, const double *full, int n, int k);

/* max(full) − full[argmax(proxy)]: what trusting the proxy's winner costs
 * (0 = the proxy found the best config). Proxy ties: the earliest index. */
double ps_regret(const double *proxy, const double *full, int n);

/* The `correlation` object of report.json (DESIGN.md):
 *   {n, n_dropped, pairs:[{trial, proxy_score, full_score}],
 *    spearman:{value, ci95:[lo,hi], n_boot, n_degenerate}, kendall:{...},
 *    pearson:{...}, topk_overlap:{k, value}, regret, reason?}
 * trial_ids may be NULL (then 0..n-1). Pairs with a non-finite score are
 * listed (null score) but left out of every statistic; with fewer than 3
 * finite pairs every statistic is null and `reason` says why. n_boot <= 0
 * means 2000. A NaN correlation (no variance) is written as null. */
ps_status ps_correlation_report(const double *proxy, const double *full, const int *trial_ids,
                                int n, int topk, int n_boot, uint64_t seed, cJSON **out);

/* Which of two proxies (scores proxy_a[n], proxy_b[n] of the same configs)
 * preserves the full ranking better: {rho_a, rho_b, diff (= rho_a − rho_b),
 * ci95 (paired bootstrap: same resampled configs for both), n_boot,
 * n_degenerate, better: "a" | "b" | "undecided" (CI contains 0)}. */
ps_status ps_compare_proxies(const double *proxy_a, const double *proxy_b, const double *full,
                             int n, int n_boot, uint64_t seed, cJSON **out);

#ifdef __cplusplus
}
#endif
#endif
