/* Proxy data: score and rank the training cases, keep a subset (the "proxy
 * data" of a study, written to STUDY/proxy/cases.json). Methods:
 *   random   seeded random permutation (the baseline)
 *   mi, ncc  mean similarity of a case to all others — normalised mutual
 *            information (32-bin joint histogram) or normalised
 *            cross-correlation — on the label's foreground bounding box (plus a
 *            margin) resampled trilinearly to a common 32³ grid;
 *            keep "diverse" = least similar first, "typical" = most similar first
 *   kcenter  greedy k-center over standardised per-case descriptors (intensity
 *            histograms of foreground and image, foreground volume, bounding-box
 *            extents and elongation, surface-to-volume); starts at the case
 *            closest to the mean, then always the case farthest from the chosen set
 * Cases are ps_case (proxyseg/data.h): image [C,D,H,W] float, label [D,H,W]
 * uint8 on the same grid. All cases must have the same channel count. */
#ifndef PROXYSEG_PROXY_H
#define PROXYSEG_PROXY_H

#include <cjson/cJSON.h>
#include "proxyseg/core.h"
#include "proxyseg/data.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  const char *method;  /* "random" | "mi" | "ncc" | "kcenter" */
  const char *keep;    /* "diverse" | "typical" (mi, ncc); NULL = "diverse"; ignored otherwise */
  double fraction;     /* subset size = round(fraction * n), clamped to [1, n]; used when count <= 0 */
  int count;           /* > 0: exact subset size (clamped to n) */
  uint64_t seed;       /* random: the permutation; others: unused (deterministic) */
  int threads;         /* OpenMP threads for the pair similarities; <= 0: ps_threads_get() */
} ps_proxy_data_opts;

/* method "random", keep "diverse", fraction 0.1, count 0, seed 0, threads 0. */
void ps_proxy_data_opts_default(ps_proxy_data_opts *o);

/* Score every case and rank them. scores[n]: the method's score (random:
 * 1 − position/n in the seeded permutation; mi/ncc: mean similarity to the others; kcenter: the distance
 * to the already-chosen set when the case was picked, the first pick gets its
 * largest distance to any other case). ranks[n]: 0 = kept first; ties are
 * broken by case index, so the result is deterministic (random: per seed).
 * scores or ranks may be NULL when not wanted. n >= 1. */
ps_status ps_proxy_score_cases(const ps_case *cases, int n, const char *method, const char *keep,
                               uint64_t seed, int threads, double *scores, int *ranks);

/* Subset size for n cases under o: count if > 0, else round(fraction*n); clamped to [1, n]. */
int ps_proxy_subset_size(const ps_proxy_data_opts *o, int n);

/* Score, rank and keep the best `ps_proxy_subset_size` cases. *result (caller
 * frees with cJSON_Delete) is the content of proxy/cases.json:
 *   {method, keep (null unless mi/ncc), fraction (as requested; count/n when
 *    count was given), kept_fraction (count/n), count (the subset size), seed,
 *    n_cases, cases: [{id, score, rank, kept}] (input order),
 *    kept: [ids] (rank order)}
 * A case without an id is named "case_<index>".
 * kept_mask (may be NULL) receives 1 for kept cases, 0 otherwise. */
ps_status ps_proxy_select(const ps_case *cases, int n, const ps_proxy_data_opts *o, cJSON **result);
ps_status ps_proxy_select_mask(const ps_case *cases, int n, const ps_proxy_data_opts *o,
                               cJSON **result, uint8_t *kept_mask /* [n] or NULL */);

/* ---- streaming: per-case signatures (proxy/case_features.c) ----
 * A signature holds everything the scorers need from one case (~(C+1)·128 KiB:
 * the 32³ foreground-box grids of every channel, a 32³ grid of the whole
 * image, the foreground mask on the box grid, intensity percentiles and shape
 * numbers), so a caller can load one case at a time, summarise it, free it,
 * and score hundreds of cases without holding their volumes.
 * ps_proxy_score_cases / ps_proxy_select are exactly these calls on all cases. */
typedef struct ps_proxy_sig ps_proxy_sig;
ps_status ps_proxy_sig_create(const ps_case *c, ps_proxy_sig **out);
void ps_proxy_sig_free(ps_proxy_sig *s); /* NULL ok */
ps_status ps_proxy_score_sigs(ps_proxy_sig *const *sigs, int n, const char *method, const char *keep,
                              uint64_t seed, int threads, double *scores, int *ranks);
/* ps_proxy_score_sigs: as ps_proxy_score_cases; sigs may be NULL for "random".
 * ps_proxy_select_sigs: as ps_proxy_select_mask; ids[n] are the case ids for
 * the JSON (ids NULL or an entry NULL: "case_<index>"). */
ps_status ps_proxy_select_sigs(ps_proxy_sig *const *sigs, const char *const *ids, int n,
                               const ps_proxy_data_opts *o, cJSON **result, uint8_t *kept_mask);

/* ---- building blocks, exposed for tests and tools ---- */

/* Foreground bounding box of the label (label > 0) grown by a margin of
 * max(2 voxels, 10 % of the box extent) per side and clipped to the image;
 * the whole image when there is no foreground. lo/hi are inclusive [D,H,W]. */
void ps_proxy_fg_box(const ps_case *c, int64_t lo[3], int64_t hi[3]);

/* Trilinear resampling of channel `ch` inside box lo..hi (inclusive) onto a
 * g×g×g grid (g <= 64); the grid's cells tile the box exactly (cell-centred
 * sampling, edge voxels clamped). out: [g][g][g]. */
void ps_proxy_resample_box(const ps_case *c, int ch, const int64_t lo[3], const int64_t hi[3],
                           int g, float *out);

/* Per-case descriptor for k-center, before standardisation, in this order:
 * normalised histogram (PS_PROXY_HIST_BINS bins over [lo, hi], values outside
 * clamped into the end bins) of channel 0 inside the foreground (on the
 * signature's box grid), the same over the whole image (its 32³ grid),
 * log(1 + foreground volume in mm³), the foreground box's extents in mm along
 * D, H, W, elongation (longest / shortest extent), and surface-to-volume
 * (boundary voxels / foreground voxels, 6-neighbourhood, full resolution).
 * [lo, hi] must be the same for all cases (ps_proxy_sig_range over them).
 * Returns the length, or -1 when cap is too small. */
int ps_proxy_descriptor(const ps_proxy_sig *s, double lo, double hi, double *d, int cap);
/* 1st and 99th percentile of channel 0 (on a strided sample of the image). */
void ps_proxy_sig_range(const ps_proxy_sig *s, double *p1, double *p99);
#define PS_PROXY_HIST_BINS 16
#define PS_PROXY_DESC_LEN (2 * PS_PROXY_HIST_BINS + 6)
#define PS_PROXY_GRID 32

#ifdef __cplusplus
}
#endif
#endif
