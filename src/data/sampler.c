/* Patch sampler: picks a case and a patch centre per sample (nnU-Net
 * foreground oversampling), then resamples + augments each patch in parallel
 * with its own derived seed, so results do not depend on the thread count. */
#include "proxyseg/sampler.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct ps_sampler {
  const ps_case *cases;
  int *subset, n_subset;
  int patch[3], batch, C;
  double fg_fraction;
  bool oversample_last;
  ps_rng *rng;
  int *last_case;
  bool *last_forced;
};

ps_sampler *ps_sampler_create(const ps_case *cases, int n_cases, const int *case_subset, int n_subset,
                              const int patch[3], int batch, double fg_fraction, uint64_t seed) {
  if (!cases || n_cases <= 0 || batch <= 0 || !patch || patch[0] <= 0 || patch[1] <= 0 || patch[2] <= 0 ||
      !(fg_fraction >= 0 && fg_fraction <= 1)) {
    ps_error(PS_ERR_INVALID, "sampler: bad arguments (n_cases %d, batch %d, fg_fraction %g)", n_cases, batch, fg_fraction);
    return NULL;
  }
  if (case_subset && n_subset <= 0) { ps_error(PS_ERR_INVALID, "sampler: empty case subset"); return NULL; }
  ps_sampler *s = calloc(1, sizeof *s);
  if (!s) { ps_error(PS_ERR_NOMEM, "sampler: out of memory"); return NULL; }
  s->cases = cases;
  s->n_subset = case_subset ? n_subset : n_cases;
  s->subset = malloc((size_t)s->n_subset * sizeof(int));
  s->last_case = calloc((size_t)batch, sizeof(int));
  s->last_forced = calloc((size_t)batch, sizeof(bool));
  s->rng = ps_rng_create(seed);
  if (!s->subset || !s->last_case || !s->last_forced || !s->rng) { ps_sampler_free(s); ps_error(PS_ERR_NOMEM, "sampler: out of memory"); return NULL; }
  for (int i = 0; i < s->n_subset; i++) {
    int ci = case_subset ? case_subset[i] : i;
    if (ci < 0 || ci >= n_cases) { ps_error(PS_ERR_INVALID, "sampler: subset entry %d = case %d out of range [0, %d)", i, ci, n_cases); ps_sampler_free(s); return NULL; }
    const ps_case *c = &cases[ci];
    if (!c->image.data || c->image.d != c->label.d || c->image.h != c->label.h || c->image.w != c->label.w) {
      ps_error(PS_ERR_DATA, "sampler: case %s: image and label grids differ or are empty", c->id ? c->id : "?");
      ps_sampler_free(s); return NULL;
    }
    if (i == 0) s->C = (int)c->image.c;
    else if (c->image.c != s->C) {
      ps_error(PS_ERR_DATA, "sampler: case %s has %lld channels, expected %d", c->id ? c->id : "?", (long long)c->image.c, s->C);
      ps_sampler_free(s); return NULL;
    }
    s->subset[i] = ci;
  }
  memcpy(s->patch, patch, sizeof s->patch);
  s->batch = batch;
  s->fg_fraction = fg_fraction;
  return s;
}

void ps_sampler_free(ps_sampler *s) {
  if (!s) return;
  ps_rng_free(s->rng);
  free(s->subset);
  free(s->last_case);
  free(s->last_forced);
  free(s);
}

void ps_sampler_set_oversample_last(ps_sampler *s, bool on) { if (s) s->oversample_last = on; }
int ps_sampler_channels(const ps_sampler *s) { return s->C; }
int ps_sampler_last_case(const ps_sampler *s, int b) { return (b >= 0 && b < s->batch) ? s->last_case[b] : -1; }
bool ps_sampler_last_forced(const ps_sampler *s, int b) { return b >= 0 && b < s->batch && s->last_forced[b]; }

/* Patch lower corner range: inside the volume when it fits, else the volume
 * stays fully inside the patch (padding split at random). */
static int64_t clamp_lo(int64_t lo, int64_t S, int P) {
  int64_t a = S - P < 0 ? S - P : 0, b = S - P > 0 ? S - P : 0;
  return lo < a ? a : lo > b ? b : lo;
}

typedef struct { int ci; double centre[3]; ps_aug_draw d; } plan;

ps_status ps_sampler_next(ps_sampler *s, const ps_aug_policy *pol, float *img, uint8_t *lab) {
  if (!s || !img) return ps_error(PS_ERR_INVALID, "sampler_next: NULL argument");
  plan *pl = malloc((size_t)s->batch * sizeof *pl);
  if (!pl) return ps_error(PS_ERR_NOMEM, "sampler: out of memory");
  /* all random draws happen here, sequentially */
  for (int b = 0; b < s->batch; b++) {
    int ci = s->subset[ps_rng_int(s->rng, (uint64_t)s->n_subset)];
    const ps_case *c = &s->cases[ci];
    const int64_t S[3] = {c->image.d, c->image.h, c->image.w};
    double u = ps_rng_uniform(s->rng); /* drawn in both modes: same stream */
    bool want_fg = s->oversample_last ? b >= (int)lround(s->batch * (1.0 - s->fg_fraction)) : u < s->fg_fraction;
    int present[256], np = 0;
    if (want_fg && c->fg_count)
      for (int k = 1; k < c->n_classes && k < 256; k++)
        if (c->fg_count[k] > 0 && c->fg_index && c->fg_index[k]) present[np++] = k;
    int64_t lo[3];
    bool forced = want_fg && np > 0;
    if (forced) {
      int k = present[ps_rng_int(s->rng, (uint64_t)np)];
      int64_t v = c->fg_index[k][ps_rng_int(s->rng, (uint64_t)c->fg_count[k])];
      int64_t pos[3] = {v / (S[1] * S[2]), (v / S[2]) % S[1], v % S[2]};
      for (int a = 0; a < 3; a++) lo[a] = clamp_lo(pos[a] - s->patch[a] / 2, S[a], s->patch[a]);
    } else {
      for (int a = 0; a < 3; a++) {
        int64_t d = S[a] - s->patch[a];
        int64_t span = d < 0 ? -d : d;
        int64_t r = (int64_t)ps_rng_int(s->rng, (uint64_t)span + 1);
        lo[a] = d < 0 ? -r : r;
      }
    }
    for (int a = 0; a < 3; a++) pl[b].centre[a] = (double)lo[a] + 0.5 * (s->patch[a] - 1);
    pl[b].ci = ci;
    ps_aug_draw_sample(pol, s->rng, &pl[b].d);
    s->last_case[b] = ci;
    s->last_forced[b] = forced;
  }
  const size_t pv = (size_t)s->patch[0] * s->patch[1] * s->patch[2];
  ps_status st = PS_OK;
#pragma omp parallel for schedule(dynamic, 1)
  for (int b = 0; b < s->batch; b++) {
    const ps_case *c = &s->cases[pl[b].ci];
    const int64_t S[3] = {c->image.d, c->image.h, c->image.w};
    float *oi = img + (size_t)b * s->C * pv;
    ps_aug_spatial(c->image.data, c->label.data, s->C, S, pl[b].centre, &pl[b].d, s->patch, oi, lab ? lab + (size_t)b * pv : NULL);
    ps_status e = ps_aug_intensity(oi, s->C, s->patch, &pl[b].d);
    if (e != PS_OK) {
#pragma omp critical
      st = e;
    }
  }
  free(pl);
  /* messages are per thread: restate the worker's failure on this one */
  if (st != PS_OK) return ps_error(st, "sampler: augmenting a %dx%dx%d patch failed (out of memory)", s->patch[0], s->patch[1], s->patch[2]);
  return PS_OK;
}
