/* Helpers shared by the rank statistics (stats.c) and the seed-noise
 * statistics (noise.c); private to proxy/. */
#ifndef PS_PROXY_STATS_INTERNAL_H
#define PS_PROXY_STATS_INTERNAL_H

/* qsort comparator for doubles, ascending. */
int ps_stats_cmp_double(const void *a, const void *b);
/* numpy.percentile's default (linear interpolation) on sorted v[m], m >= 1. */
double ps_stats_percentile_sorted(const double *v, int m, double q);

#endif
