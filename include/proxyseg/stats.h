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

/* ---- seed noise (proxy/noise.c) ----
 * Replicate grids are row-major: x[i*R + r] is run r of config i; NaN marks a
 * failed or missing run (left out of means, SDs and resamples). */

/* Per-config mean and sample SD (n-1) over the finite runs; NaN mean when none, NaN SD when fewer than 2. */
void ps_replicate_stats(const double *scores, int n, int R, double *mean /* [n] or NULL */, double *sd /* [n] or NULL */);

/* The noise ceiling: how well the full-scale ranking agrees with itself. r is
 * Spearman between the means of two halves of the replicates (R == 2: rep 0 vs
 * rep 1), averaged over every balanced split (up to R = 8; from R = 9 on, 64
 * random ones drawn from `seed`), over the configs with every replicate finite
 * (*n_used of them); ceiling = 2r / (1 + r) (Spearman-Brown, half the
 * replicates to all). Negative r is reported as it comes (a negative ceiling),
 * r = -1 as -1. NaN when R < 2, *n_used < 3 or the half means are all tied.
 * Negative n or R: PS_ERR_INVALID. */
ps_status ps_noise_ceiling(const double *full, int n, int R, uint64_t seed, double *ceiling, double *split_half,
                           int *n_used);

/* Percentile-bootstrap 95 % interval of stat(proxy means, full means) that
 * resamples configurations and, within each drawn config, its P proxy and R
 * full runs (all with replacement; a config's failed runs are left out and its
 * finite ones drawn, as many as it has). n_boot <= 0: 2000. With P = R = 1 it
 * is ps_bootstrap_ci draw for draw. Negative n, P or R: PS_ERR_INVALID. */
ps_status ps_bootstrap_ci_reps(ps_stat_kind k, const double *proxy, int P, const double *full, int R, int n,
                               int n_boot, uint64_t seed, double ci[2], int *n_degenerate);

/* One-sided permutation p-value (alternative: the proxy agrees with full
 * better than chance) of stat(x, y) over pairings: exact over all n!
 * permutations when n <= 9 (*exact = true), else n_resamples random ones with
 * p = (count + 1) / (n_resamples + 1), as scipy.stats.permutation_test. NaN
 * when n < 3 or the statistic is undefined. */
double ps_permutation_p(ps_stat_kind k, const double *x, const double *y, int n, int n_resamples, uint64_t seed,
                        bool *exact);

/* The verdict rule (README "The verdict"; ps_verdict_rule_text says it in words):
 * inconclusive when the ceiling is NaN or below PS_VERDICT_MIN_CEILING; else
 * informative when rho > 0 and p < PS_VERDICT_ALPHA; else not informative.
 * rho_ci is reported beside and not used: a percentile bootstrap is badly
 * calibrated at the 5-10 configurations a study re-trains. */
#define PS_VERDICT_MIN_CEILING 0.5
#define PS_VERDICT_ALPHA 0.05
typedef enum { PS_VERDICT_INFORMATIVE = 0, PS_VERDICT_NOT_INFORMATIVE, PS_VERDICT_INCONCLUSIVE } ps_verdict;
ps_verdict ps_verdict_decide(double ceiling, double rho, const double rho_ci[2], double p);
const char *ps_verdict_label(ps_verdict v);
const char *ps_verdict_rule_text(void);

/* report.json's `correlation` with replicates: {n, n_dropped, P, R, pairs:[{trial,
 * proxy_score, proxy_sd, proxy_scores, full_score, full_sd, full_scores}],
 * spearman|kendall|pearson:{value, ci95, n_boot, n_degenerate, p_value, p_exact},
 * noise_ceiling:{value, split_half, n, R, method}, noise:{pooled_sd, between_sd,
 * ratio}, topk_overlap:{k, value}, regret, verdict:{label, code, text, advice,
 * rule, relative}, reason?}. Scores are replicate means; a config without a
 * finite mean on either side is listed but left out. trial_ids may be NULL. */
ps_status ps_correlation_report_reps(const double *proxy, int P, const double *full, int R, const int *trial_ids,
                                     int n, int topk, int n_boot, uint64_t seed, cJSON **out);

/* |Spearman| of each of d parameters (x row-major [n][d], NaN skipped pairwise) with score[n]; NaN when < 3 pairs. */
void ps_param_importance(const double *x, int n, int d, const double *score, double *imp /* [d] */);

#ifdef __cplusplus
}
#endif
#endif
