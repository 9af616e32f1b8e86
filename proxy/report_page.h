/* Internal to the HTML report (proxy/report_*.c): the trial rows and small
 * formatting helpers the page's files share, and the sections each file draws.
 * report_html.c assembles the page; report_corr.c the proxy-vs-full agreement;
 * report_search.c the search on the proxy. */
#ifndef PS_PROXY_REPORT_PAGE_H
#define PS_PROXY_REPORT_PAGE_H

#include "proxyseg/json.h"
#include "svg.h"
#include <math.h>
#include <stdbool.h>
#include <stdio.h>

#define PLOT_W 580
#define PLOT_H 340

/* One journal trial as the page reads it. */
typedef struct {
  int number, ref, replicate; /* ref, replicate: -1 for search trials */
  const char *state, *phase;
  double value, seconds;
  const cJSON *params;
  const cJSON *val_curve, *loss_curve; /* curve.val_dice, curve.train_loss per epoch, or NULL */
  int full; /* not a proxy search trial (re-training, replicates, factorial, comparisons) */
} ps_page_trial;

/* A number at a dotted key of o (key NULL: o itself); NaN when absent. */
static inline double ps_page_num(const cJSON *o, const char *key) {
  const cJSON *v = key ? ps_json_path(o, key) : o;
  return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}
static inline const char *ps_page_str(const cJSON *o, const char *key) {
  const cJSON *v = ps_json_path(o, key);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}
/* Element k of the array at key (ci95 bounds). */
static inline double ps_page_at(const cJSON *o, const char *key, int k) {
  return ps_page_num(cJSON_GetArrayItem(ps_json_path(o, key), k), NULL);
}
static inline void ps_page_esc(ps_sbuf *b, const char *s) { ps_sbuf_escape(b, s ? s : ""); }
/* Fixed decimals, "—" for a missing value. */
static inline void ps_page_fmt(char *buf, size_t n, double v, int digits) {
  if (!isfinite(v)) snprintf(buf, n, "—");
  else snprintf(buf, n, "%.*f", digits, v);
}

/* Seconds as "42.0 s", "12.5 min", "3.20 h". */
void ps_page_fmt_dur(char *buf, size_t n, double s);
/* Any JSON value as short display text, numbers to 3 significant digits (malloc'd). */
char *ps_page_value_text(const cJSON *v);
void ps_page_fig_open(ps_sbuf *b);
void ps_page_fig_close(ps_sbuf *b, const char *caption); /* caption escaped; NULL = none */
/* A complete proxy search trial with a finite score. */
bool ps_page_usable(const ps_page_trial *t);
/* The searched parameter names of the trials in order of first appearance,
 * once each (usable_only: trials with a finite score only); NULL on OOM. */
const char **ps_page_param_keys(const ps_page_trial *t, int n, bool usable_only, int *nk_out);

/* report_corr.c: the statistics table and the proxy-vs-full plots of
 * report.correlation and report.correlation_external, then the levers
 * (factorial, random subsets, comparison). */
void ps_page_agreement(ps_sbuf *b, const cJSON *report);
/* report_search.c: best so far, importance, parallel coordinates, RL rewards,
 * learning curves, the grid of slice plots. */
void ps_page_search(ps_sbuf *b, const ps_page_trial *t, int n, const cJSON *report);

#endif
