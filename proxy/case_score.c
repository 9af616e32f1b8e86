/* Case scoring for proxy data (see proxyseg/proxy.h): random permutation,
 * mean pairwise similarity (normalised MI or NCC on a common 32³ foreground
 * grid, O(n²) pairs in parallel), and greedy k-center over descriptors. */
#include "case_sig.h"
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define GRID PS_PROXY_GRID
#define GRID_N (GRID * GRID * GRID)
#define MI_BINS 32

typedef struct { double v; int i; } score_idx;

static int cmp_desc(const void *a, const void *b) {
  const score_idx *x = a, *y = b;
  if (x->v > y->v) return -1;
  if (x->v < y->v) return 1;
  return (x->i > y->i) - (x->i < y->i);
}

/* ranks[i] = position of case i when sorted by key descending, ties by index. */
static ps_status rank_desc(const double *key, int n, int *ranks) {
  score_idx *t = malloc((size_t)n * sizeof *t);
  if (!t) return ps_error(PS_ERR_NOMEM, "proxy data: out of memory");
  for (int i = 0; i < n; i++) { t[i].v = key[i]; t[i].i = i; }
  qsort(t, (size_t)n, sizeof *t, cmp_desc);
  for (int r = 0; r < n; r++) ranks[t[r].i] = r;
  free(t);
  return PS_OK;
}

static ps_status score_random(int n, uint64_t seed, double *scores, int *ranks) {
  int *perm = malloc((size_t)n * sizeof *perm);
  ps_rng *r = ps_rng_create(seed);
  if (!perm || !r) { free(perm); ps_rng_free(r); return ps_error(PS_ERR_NOMEM, "proxy data: out of memory"); }
  for (int i = 0; i < n; i++) perm[i] = i;
  for (int i = n - 1; i > 0; i--) {
    int j = (int)ps_rng_int(r, (uint64_t)i + 1);
    int t = perm[i]; perm[i] = perm[j]; perm[j] = t;
  }
  for (int p = 0; p < n; p++) {
    ranks[perm[p]] = p;
    scores[perm[p]] = 1.0 - (double)p / n;
  }
  free(perm);
  ps_rng_free(r);
  return PS_OK;
}

/* Per case and channel: the foreground grid, either quantised to MI_BINS with
 * the case's own range (MI does not care about monotone intensity maps) or
 * centred and scaled to unit norm (so NCC is a dot product). */
typedef struct { uint8_t *q; float *z; } grid_set;

static void prepare_grid(const float *g, int mi, uint8_t *q, float *z) {
  if (mi) {
    float mn = g[0], mx = g[0];
    for (int i = 1; i < GRID_N; i++) { if (g[i] < mn) mn = g[i]; if (g[i] > mx) mx = g[i]; }
    double s = mx > mn ? MI_BINS / ((double)mx - mn) : 0;
    for (int i = 0; i < GRID_N; i++) {
      int b = (int)((g[i] - mn) * s);
      q[i] = (uint8_t)(b >= MI_BINS ? MI_BINS - 1 : b);
    }
  } else {
    double m = 0, ss = 0;
    for (int i = 0; i < GRID_N; i++) m += g[i];
    m /= GRID_N;
    for (int i = 0; i < GRID_N; i++) ss += (g[i] - m) * (g[i] - m);
    double inv = ss > 1e-20 ? 1 / sqrt(ss) : 0; /* a constant grid correlates with nothing */
    for (int i = 0; i < GRID_N; i++) z[i] = (float)((g[i] - m) * inv);
  }
}

/* 2·I(A;B) / (H(A) + H(B)) in [0, 1]: raw MI would favour high-entropy images. */
static double nmi(const uint8_t *a, const uint8_t *b) {
  int joint[MI_BINS * MI_BINS] = {0}, ha[MI_BINS] = {0}, hb[MI_BINS] = {0};
  for (int i = 0; i < GRID_N; i++) joint[a[i] * MI_BINS + b[i]]++;
  for (int i = 0; i < MI_BINS; i++)
    for (int j = 0; j < MI_BINS; j++) { ha[i] += joint[i * MI_BINS + j]; hb[j] += joint[i * MI_BINS + j]; }
  double hA = 0, hB = 0, hAB = 0, inv = 1.0 / GRID_N;
  for (int i = 0; i < MI_BINS; i++) {
    if (ha[i]) hA -= ha[i] * inv * log(ha[i] * inv);
    if (hb[i]) hB -= hb[i] * inv * log(hb[i] * inv);
  }
  for (int k = 0; k < MI_BINS * MI_BINS; k++)
    if (joint[k]) hAB -= joint[k] * inv * log(joint[k] * inv);
  if (hA + hB <= 1e-12) return 1; /* two constant grids are indistinguishable */
  return 2 * (hA + hB - hAB) / (hA + hB);
}

static double ncc(const float *a, const float *b) {
  double s = 0;
  for (int i = 0; i < GRID_N; i++) s += (double)a[i] * b[i];
  return s;
}

static ps_status score_similarity(ps_proxy_sig *const *sigs, int n, int mi, int nt, double *scores) {
  int C = ps_proxy_sig_channels(sigs[0]);
  size_t per = (size_t)C * GRID_N;
  uint8_t *q = mi ? malloc((size_t)n * per) : NULL;
  float *z = mi ? NULL : malloc((size_t)n * per * sizeof(float));
  double *sim = calloc((size_t)n * n, sizeof *sim);
  if ((mi && !q) || (!mi && !z) || !sim) {
    free(q); free(z); free(sim);
    return ps_error(PS_ERR_NOMEM, "proxy data: out of memory for %d cases' similarity grids", n);
  }
#pragma omp parallel num_threads(nt)
  {
#pragma omp for schedule(dynamic)
    for (int k = 0; k < n * C; k++) {
      int i = k / C, ch = k % C;
      prepare_grid(ps_proxy_sig_grid(sigs[i], ch), mi, mi ? q + i * per + (size_t)ch * GRID_N : NULL,
                   mi ? NULL : z + i * per + (size_t)ch * GRID_N);
    }
    /* each (i, j) pair is written by exactly one iteration: no races, same result for any thread count */
#pragma omp for schedule(dynamic)
    for (int i = 0; i < n; i++)
      for (int j = i + 1; j < n; j++) {
        double s = 0;
        for (int ch = 0; ch < C; ch++)
          s += mi ? nmi(q + i * per + (size_t)ch * GRID_N, q + j * per + (size_t)ch * GRID_N)
                  : ncc(z + i * per + (size_t)ch * GRID_N, z + j * per + (size_t)ch * GRID_N);
        sim[(size_t)i * n + j] = sim[(size_t)j * n + i] = s / C;
      }
  }
  for (int i = 0; i < n; i++) {
    double s = 0;
    for (int j = 0; j < n; j++) if (j != i) s += sim[(size_t)i * n + j];
    scores[i] = n > 1 ? s / (n - 1) : 0;
  }
  free(q); free(z); free(sim);
  return PS_OK;
}

/* Common histogram range for the descriptors: the widest 1st..99th
 * percentile span of channel 0 over the cases. */
static void intensity_range(ps_proxy_sig *const *sigs, int n, double *lo, double *hi) {
  *lo = INFINITY; *hi = -INFINITY;
  for (int i = 0; i < n; i++) {
    double p1, p99;
    ps_proxy_sig_range(sigs[i], &p1, &p99);
    if (p1 < *lo) *lo = p1;
    if (p99 > *hi) *hi = p99;
  }
  if (!isfinite(*lo) || !isfinite(*hi)) { *lo = 0; *hi = 1; }
  if (!(*hi > *lo)) *hi = *lo + 1;
}

/* Size of the feature group that descriptor entry f belongs to. */
static int group_size(int f) {
  const int H = PS_PROXY_HIST_BINS;
  if (f < 2 * H) return H;                 /* foreground / image histograms */
  if (f >= 2 * H + 1 && f <= 2 * H + 3) return 3; /* box extents */
  return 1;                                /* volume, elongation, surface-to-volume */
}

static ps_status score_kcenter(ps_proxy_sig *const *sigs, int n, double *scores, int *ranks) {
  enum { L = PS_PROXY_DESC_LEN };
  double *d = malloc((size_t)n * L * sizeof *d), *mind = malloc((size_t)n * sizeof *mind);
  char *chosen = calloc((size_t)n, 1);
  if (!d || !mind || !chosen) { free(d); free(mind); free(chosen); return ps_error(PS_ERR_NOMEM, "proxy data: out of memory"); }
  double lo, hi;
  intensity_range(sigs, n, &lo, &hi);
  for (int i = 0; i < n; i++) ps_proxy_descriptor(sigs[i], lo, hi, d + (size_t)i * L, L);
  /* standardise each feature; then weight groups (two histograms, volume,
   * extents, elongation, surface) equally, so 16 histogram bins do not
   * outvote the single shape numbers */
  for (int f = 0; f < L; f++) {
    double m = 0, s = 0;
    for (int i = 0; i < n; i++) m += d[(size_t)i * L + f];
    m /= n;
    for (int i = 0; i < n; i++) s += (d[(size_t)i * L + f] - m) * (d[(size_t)i * L + f] - m);
    s = sqrt(s / n);
    double w = s > 1e-12 ? 1 / (s * sqrt((double)group_size(f))) : 0;
    for (int i = 0; i < n; i++) d[(size_t)i * L + f] = (d[(size_t)i * L + f] - m) * w;
  }
  /* after standardisation the mean is the origin: start at the smallest norm */
  int first = 0;
  double best = INFINITY;
  for (int i = 0; i < n; i++) {
    double s = 0;
    for (int f = 0; f < L; f++) s += d[(size_t)i * L + f] * d[(size_t)i * L + f];
    if (s < best - 1e-12) { best = s; first = i; }
  }
  for (int i = 0; i < n; i++) mind[i] = INFINITY;
  int cur = first;
  for (int p = 0; p < n; p++) {
    chosen[cur] = 1;
    ranks[cur] = p;
    scores[cur] = p ? mind[cur] : 0;
    int next = -1;
    double far = -1;
    for (int i = 0; i < n; i++) {
      if (chosen[i]) continue;
      double s = 0;
      for (int f = 0; f < L; f++) {
        double t = d[(size_t)i * L + f] - d[(size_t)cur * L + f];
        s += t * t;
      }
      s = sqrt(s);
      if (s < mind[i]) mind[i] = s;
      if (mind[i] > far + 1e-12) { far = mind[i]; next = i; }
    }
    if (p == 0) scores[cur] = far > 0 ? far : 0; /* coverage radius of {first} */
    if (next < 0) break;
    cur = next;
  }
  free(d); free(mind); free(chosen);
  return PS_OK;
}

/* Validates and defaults method and keep. */
static ps_status check_method(int n, const char **method, const char **keep) {
  if (n < 1) return ps_error(PS_ERR_INVALID, "proxy data: no cases to score");
  if (!*method) *method = "random";
  if (!*keep) *keep = "diverse";
  if (strcmp(*keep, "typical") != 0 && strcmp(*keep, "diverse") != 0)
    return ps_error(PS_ERR_INVALID, "proxy data: keep must be \"diverse\" or \"typical\", not \"%s\"", *keep);
  if (strcmp(*method, "random") != 0 && strcmp(*method, "mi") != 0 && strcmp(*method, "ncc") != 0 &&
      strcmp(*method, "kcenter") != 0)
    return ps_error(PS_ERR_INVALID, "proxy data: unknown method \"%s\" (random, mi, ncc, kcenter)", *method);
  return PS_OK;
}

ps_status ps_proxy_score_sigs(ps_proxy_sig *const *sigs, int n, const char *method, const char *keep,
                              uint64_t seed, int threads, double *scores, int *ranks) {
  ps_status st = check_method(n, &method, &keep);
  if (st != PS_OK) return st;
  int typical = strcmp(keep, "typical") == 0, is_random = strcmp(method, "random") == 0;
  int is_sim = strcmp(method, "mi") == 0 || strcmp(method, "ncc") == 0;
  if (!is_random && !sigs) return ps_error(PS_ERR_INVALID, "proxy data: no case signatures to score");
  for (int i = 0; !is_random && i < n; i++) {
    if (!sigs[i]) return ps_error(PS_ERR_INVALID, "proxy data: case %d has no signature", i);
    if (ps_proxy_sig_channels(sigs[i]) != ps_proxy_sig_channels(sigs[0]))
      return ps_error(PS_ERR_DATA, "proxy data: case %d has %d channels, case 0 has %d", i,
                      ps_proxy_sig_channels(sigs[i]), ps_proxy_sig_channels(sigs[0]));
  }
  int nt = threads > 0 ? threads : ps_threads_get();
  if (nt < 1) nt = 1;
  double *sc = malloc((size_t)n * sizeof *sc);
  int *rk = malloc((size_t)n * sizeof *rk);
  if (!sc || !rk) { free(sc); free(rk); return ps_error(PS_ERR_NOMEM, "proxy data: out of memory"); }
  if (is_random) st = score_random(n, seed, sc, rk);
  else if (is_sim) {
    st = score_similarity(sigs, n, method[0] == 'm', nt, sc);
    if (st == PS_OK) {
      double *key = malloc((size_t)n * sizeof *key);
      if (!key) st = ps_error(PS_ERR_NOMEM, "proxy data: out of memory");
      else {
        for (int i = 0; i < n; i++) key[i] = typical ? sc[i] : -sc[i];
        st = rank_desc(key, n, rk);
        free(key);
      }
    }
  } else st = score_kcenter(sigs, n, sc, rk);
  if (st == PS_OK) {
    if (scores) memcpy(scores, sc, (size_t)n * sizeof *sc);
    if (ranks) memcpy(ranks, rk, (size_t)n * sizeof *rk);
  }
  free(sc); free(rk);
  return st;
}

/* Signatures of all cases (in parallel: each is independent); NULL on error. */
static ps_proxy_sig **sigs_of_cases(const ps_case *cases, int n, int threads, ps_status *st) {
  ps_proxy_sig **sigs = calloc((size_t)n, sizeof *sigs);
  if (!sigs) { *st = ps_error(PS_ERR_NOMEM, "proxy data: out of memory"); return NULL; }
  int bad = -1, nt = threads > 0 ? threads : ps_threads_get();
  ps_status first = PS_OK;
#pragma omp parallel for schedule(dynamic) num_threads(nt > 0 ? nt : 1)
  for (int i = 0; i < n; i++) {
    ps_status s = ps_proxy_sig_create(&cases[i], &sigs[i]);
    if (s != PS_OK) {
#pragma omp critical(ps_proxy_sig_err)
      if (bad < 0 || i < bad) { bad = i; first = s; }
    }
  }
  if (bad >= 0) {
    /* the message is thread-local: say again which case failed, from this thread */
    for (int i = 0; i < n; i++) ps_proxy_sig_free(sigs[i]);
    free(sigs);
    const ps_case *c = &cases[bad];
    *st = first == PS_ERR_NOMEM ? ps_error(first, "proxy data: out of memory for case %s's signature", c->id ? c->id : "?")
                                : ps_error(first, "proxy data: case %s: image and label grids differ or are empty",
                                           c->id ? c->id : "?");
    return NULL;
  }
  *st = PS_OK;
  return sigs;
}

ps_status ps_proxy_score_cases(const ps_case *cases, int n, const char *method, const char *keep,
                               uint64_t seed, int threads, double *scores, int *ranks) {
  ps_status st = check_method(n, &method, &keep);
  if (st != PS_OK) return st;
  if (!cases) return ps_error(PS_ERR_INVALID, "proxy data: no cases to score");
  if (strcmp(method, "random") == 0) /* needs nothing from the images */
    return ps_proxy_score_sigs(NULL, n, method, keep, seed, threads, scores, ranks);
  ps_proxy_sig **sigs = sigs_of_cases(cases, n, threads, &st);
  if (!sigs) return st;
  st = ps_proxy_score_sigs(sigs, n, method, keep, seed, threads, scores, ranks);
  for (int i = 0; i < n; i++) ps_proxy_sig_free(sigs[i]);
  free(sigs);
  return st;
}
