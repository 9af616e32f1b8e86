/* Scores of the re-trained configurations, gathered from the journal into
 * config × replicate grids (the input of the noise-aware statistics): the
 * proxy side (search trial + proxy replicates), the full side (seed
 * replicates), a factorial cell or a comparison subset, internal or external. */
#include "study_grid.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

void ps_grid_free(ps_grid *g) {
  if (!g) return;
  free(g->ids);
  free(g->v);
  free(g->sec);
  memset(g, 0, sizeof *g);
}

static int index_of(const ps_grid *g, int id) {
  for (int i = 0; i < g->n; i++)
    if (g->ids[i] == id) return i;
  return -1;
}

ps_status ps_grid_configs(ps_journal *J, ps_grid *g) {
  memset(g, 0, sizeof *g);
  ps_trial **ft;
  int n = ps_journal_phase(J, "full", &ft);
  g->ids = malloc((size_t)(n ? n : 1) * sizeof *g->ids);
  if (!g->ids) { free(ft); return ps_error(PS_ERR_NOMEM, "out of memory"); }
  for (int i = 0; i < n; i++)
    if (ft[i]->ref >= 0 && index_of(g, ft[i]->ref) < 0) g->ids[g->n++] = ft[i]->ref;
  free(ft);
  return PS_OK;
}

/* Grow g to `width` columns per config (NaN-filled) keeping what is there. */
static ps_status widen(ps_grid *g, int width) {
  if (width <= g->w) return PS_OK;
  double *v = malloc((size_t)(g->n ? g->n : 1) * width * sizeof *v);
  double *s = malloc((size_t)(g->n ? g->n : 1) * width * sizeof *s);
  if (!v || !s) { free(v); free(s); return ps_error(PS_ERR_NOMEM, "out of memory"); }
  for (int i = 0; i < g->n; i++)
    for (int r = 0; r < width; r++) {
      v[i * width + r] = r < g->w ? g->v[i * g->w + r] : NAN;
      s[i * width + r] = r < g->w ? g->sec[i * g->w + r] : NAN;
    }
  free(g->v);
  free(g->sec);
  g->v = v;
  g->sec = s;
  g->w = width;
  return PS_OK;
}

/* Put `value` (NaN unless COMPLETE) in the first free column of config `id`. */
static ps_status put(ps_grid *g, int id, double value, double seconds) {
  int i = index_of(g, id);
  if (i < 0) return PS_OK;
  int r = 0;
  while (r < g->w && !isnan(g->sec[i * g->w + r])) r++;
  if (r == g->w) {
    ps_status st = widen(g, g->w + 1);
    if (st) return st;
  }
  g->v[i * g->w + r] = value;
  g->sec[i * g->w + r] = seconds;
  return PS_OK;
}

ps_status ps_grid_add_phase(ps_grid *g, ps_journal *J, const char *phase, bool by_number) {
  ps_trial **t;
  int n = ps_journal_phase(J, phase, &t);
  ps_status st = PS_OK;
  for (int i = 0; i < n && !st; i++) {
    if (t[i]->state == PS_TRIAL_RUNNING) continue; /* unfinished: no score yet */
    int id = by_number ? t[i]->number : t[i]->ref;
    st = put(g, id, t[i]->state == PS_TRIAL_COMPLETE ? t[i]->value : NAN, t[i]->seconds);
  }
  free(t);
  return st;
}

ps_status ps_grid_add_external(ps_grid *g, const cJSON *external, const char *phase) {
  const cJSON *arr = cJSON_GetObjectItemCaseSensitive(external, "trials"), *o;
  ps_status st = PS_OK;
  cJSON_ArrayForEach(o, arr) {
    if (st) break;
    if (strcmp(ps_json_str(o, "phase", "full"), phase)) continue;
    st = put(g, ps_json_int(o, "ref", -1), ps_json_num(o, "external_dice", NAN), 0);
  }
  return st;
}

ps_status ps_grid_like(const ps_grid *src, ps_grid *g) {
  memset(g, 0, sizeof *g);
  g->ids = malloc((size_t)(src->n ? src->n : 1) * sizeof *g->ids);
  if (!g->ids) return ps_error(PS_ERR_NOMEM, "out of memory");
  memcpy(g->ids, src->ids, (size_t)src->n * sizeof *g->ids);
  g->n = src->n;
  return PS_OK;
}

double ps_grid_mean_seconds(const ps_grid *g) {
  double s = 0;
  int c = 0;
  for (int i = 0; i < g->n * g->w; i++)
    if (!isnan(g->sec[i]) && g->sec[i] > 0) { s += g->sec[i]; c++; }
  return c ? s / c : NAN;
}

void ps_grid_mean(const ps_grid *g, int i, double *mean, int *count) {
  double s = 0;
  int c = 0;
  for (int r = 0; r < g->w; r++)
    if (isfinite(g->v[i * g->w + r])) { s += g->v[i * g->w + r]; c++; }
  *mean = c ? s / c : NAN;
  if (count) *count = c;
}
