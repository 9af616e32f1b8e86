/* The report's view of the search on the proxy: best so far, parameter
 * importance, parallel coordinates, the RL reward curve, learning curves, and
 * the slice plots as one grid of small multiples sorted by importance. */
#include "report_page.h"
#include <stdlib.h>
#include <string.h>

static void best_so_far(ps_sbuf *b, const ps_page_trial *t, int n) {
  int m = 0, failed = 0;
  for (int i = 0; i < n; i++) {
    if (ps_page_usable(&t[i])) m++;
    else if (!t[i].full && strcmp(t[i].state, "FAIL") == 0) failed++;
  }
  if (m < 1) return;
  double *x = malloc(3 * (size_t)m * sizeof *x);
  if (!x) { b->oom = 1; return; }
  double *y = x + m, *best = x + 2 * m;
  int k = 0;
  for (int i = 0; i < n; i++)
    if (ps_page_usable(&t[i])) {
      x[k] = t[i].number; y[k] = t[i].value;
      best[k] = k && best[k - 1] > y[k] ? best[k - 1] : y[k];
      k++;
    }
  ps_svg_plot p = {0};
  ps_svg_axis_fit(&p.x, x, m, 0);
  ps_svg_axis_fit(&p.y, y, m, 0);
  p.x.integer = 1;
  char title[128], tip[96];
  snprintf(title, sizeof title, "Proxy search: best so far (%d complete trials)", m);
  ps_page_fig_open(b);
  ps_svg_begin(&p, b, PLOT_W, PLOT_H, title, "trial number", "proxy score (validation Dice)");
  ps_svg_polyline(&p, x, best, m, 1, "curve"); /* under the points, which carry the tooltips */
  for (int i = 0; i < m; i++) {
    snprintf(tip, sizeof tip, "trial %.0f: %.4f", x[i], y[i]);
    ps_svg_point(&p, x[i], y[i], 3.5, "pt", tip);
  }
  ps_svg_legend(&p, 0, 'o', "pt", "trial score");
  ps_svg_legend(&p, 1, '-', "curve", "best so far");
  ps_svg_end(&p);
  char cap[128];
  snprintf(cap, sizeof cap, "%d failed trial%s not shown (kept out of the ranking).", failed, failed == 1 ? "" : "s");
  ps_page_fig_close(b, failed ? cap : NULL);
  free(x);
}

#define MAX_CAT 40
/* slice plots are small multiples: three or four to a row */
#define SLICE_W 400
#define SLICE_H 270

static void slice_plot(ps_sbuf *b, const ps_page_trial *t, int n, const char *key) {
  int m = 0, numeric = 1;
  for (int i = 0; i < n; i++) {
    if (!ps_page_usable(&t[i])) continue;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(t[i].params, key);
    if (!v) continue;
    m++;
    if (!cJSON_IsNumber(v)) numeric = 0;
  }
  if (m < 1) return;
  double *x = malloc(2 * (size_t)m * sizeof *x);
  char **txt = calloc((size_t)m, sizeof *txt);
  const char *cat[MAX_CAT + 1];
  int ncat = 0;
  if (!x || !txt) { free(x); free(txt); b->oom = 1; return; }
  double *y = x + m;
  int k = 0, bi = -1;
  for (int i = 0; i < n; i++) {
    if (!ps_page_usable(&t[i])) continue;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(t[i].params, key);
    if (!v) continue;
    y[k] = t[i].value;
    if (numeric) x[k] = v->valuedouble;
    else {
      txt[k] = ps_page_value_text(v);
      int c = 0;
      while (c < ncat && strcmp(cat[c], txt[k]) != 0) c++;
      if (c == ncat) {
        if (ncat < MAX_CAT) cat[ncat++] = txt[k];
        else { c = MAX_CAT; cat[MAX_CAT] = "(other)"; if (ncat == MAX_CAT) ncat++; }
      }
      x[k] = c;
    }
    if (bi < 0 || y[k] > y[bi]) bi = k;
    k++;
  }
  ps_svg_plot p = {0};
  if (numeric) {
    ps_svg_axis_fit(&p.x, x, m, 1);
    int whole = 1;
    for (int i = 0; i < m; i++) whole &= x[i] == floor(x[i]);
    p.x.integer = whole;
  } else ps_svg_axis_categories(&p.x, cat, ncat);
  ps_svg_axis_fit(&p.y, y, m, 0);
  char title[160], tip[256];
  snprintf(title, sizeof title, "Slice: %.48s", key);
  ps_page_fig_open(b);
  ps_svg_begin(&p, b, SLICE_W, SLICE_H, title, key, "proxy score (Dice)");
  for (int i = 0; i < m; i++) {
    if (numeric) snprintf(tip, sizeof tip, "%.60s = %.6g: %.4f", key, x[i], y[i]);
    else snprintf(tip, sizeof tip, "%.60s = %.120s: %.4f", key, txt[i], y[i]);
    ps_svg_point(&p, x[i], y[i], i == bi ? 6 : 4, i == bi ? "win" : "pt", tip);
  }
  ps_svg_end(&p);
  ps_page_fig_close(b, NULL);
  for (int i = 0; i < m; i++) free(txt[i]);
  free(txt);
  free(x);
}

/* Slice plots as one grid of small multiples, most important parameter first,
 * at most MAX_SLICES (the rest are in the trials table and trials.csv). */
#define MAX_SLICES 12
static void slices(ps_sbuf *b, const ps_page_trial *t, int n, const cJSON *importance) {
  int nk = 0;
  const char **keys = ps_page_param_keys(t, n, true, &nk);
  if (!keys) { b->oom = 1; return; }
  const char **order = calloc((size_t)(nk ? nk : 1), sizeof *order);
  if (!order) { free(keys); b->oom = 1; return; }
  int no = 0;
  const cJSON *e;
  cJSON_ArrayForEach(e, importance) {
    const char *k = ps_page_str(e, "param");
    for (int j = 0; k && j < nk; j++)
      if (keys[j] && !strcmp(keys[j], k)) { order[no++] = keys[j]; keys[j] = NULL; }
  }
  for (int j = 0; j < nk; j++) if (keys[j]) order[no++] = keys[j];
  if (no) {
    ps_sbuf_printf(b, "<h3>Slices%s</h3>\n<div class=\"plots small\">\n",
                   importance ? " (most important parameter first)" : "");
    for (int j = 0; j < no && j < MAX_SLICES; j++) slice_plot(b, t, n, order[j]);
    ps_sbuf_puts(b, "</div>\n");
    if (no > MAX_SLICES)
      ps_sbuf_printf(b, "<p class=\"note\">%d more parameters: see the trials table and trials.csv.</p>\n", no - MAX_SLICES);
  }
  free(order);
  free(keys);
}

/* |Spearman| (or the correlation ratio for choices) of each parameter with the proxy score. */
static void importance_bars(ps_sbuf *b, const cJSON *importance) {
  int n = cJSON_GetArraySize(importance);
  if (n < 1) return;
  ps_sbuf_puts(b, "<div class=\"fig\"><p><b>Parameter importance</b>: |Spearman ρ| with the proxy score over the "
                  "search trials (choices: correlation ratio)</p>\n");
  const cJSON *e;
  int k = 0;
  cJSON_ArrayForEach(e, importance) {
    if (k++ >= 20) break;
    double v = ps_page_num(e, "value");
    ps_sbuf_puts(b, "<div class=\"ib\"><span class=\"nm\">");
    ps_page_esc(b, ps_page_str(e, "param"));
    ps_sbuf_printf(b, "</span><span class=\"bar\" style=\"width:%.0fpx\"></span><span>%.2f</span></div>\n",
                   isfinite(v) ? 4 + 300 * v : 0.0, isfinite(v) ? v : 0.0);
  }
  ps_sbuf_puts(b, "</div>\n");
}

/* Parallel coordinates of the most important numeric parameters and the
 * score: one line per search trial, the best third highlighted. */
static void parallel_coords(ps_sbuf *b, const ps_page_trial *t, int n, const cJSON *importance) {
  enum { MAXD = 6 };
  const char *keys[MAXD];
  int d = 0;
  const cJSON *e;
  int m = 0;
  for (int i = 0; i < n; i++) m += ps_page_usable(&t[i]);
  /* numeric parameters only: a choice has no order to draw an axis along */
  cJSON_ArrayForEach(e, importance) {
    const char *k = ps_page_str(e, "param");
    bool numeric = k != NULL;
    for (int i = 0; i < n && numeric; i++) {
      const cJSON *v = ps_page_usable(&t[i]) ? cJSON_GetObjectItemCaseSensitive(t[i].params, k) : NULL;
      numeric = !v || cJSON_IsNumber(v);
    }
    if (numeric && d < MAXD - 1) keys[d++] = k;
  }
  if (d < 1 || m < 3) return;
  double lo[MAXD], hi[MAXD];
  bool lg[MAXD];
  for (int j = 0; j <= d; j++) { lo[j] = INFINITY; hi[j] = -INFINITY; lg[j] = false; }
  for (int pass = 0; pass < 2; pass++)
    for (int i = 0; i < n; i++) {
      if (!ps_page_usable(&t[i])) continue;
      for (int j = 0; j <= d; j++) {
        double v = j < d ? ps_page_num(cJSON_GetObjectItemCaseSensitive(t[i].params, keys[j]), NULL) : t[i].value;
        if (!isfinite(v)) continue;
        if (pass == 1 && lg[j]) v = log10(v);
        if (pass == 0 || lg[j]) { lo[j] = fmin(lo[j], v); hi[j] = fmax(hi[j], v); }
      }
      if (pass == 0 && i == n - 1)
        for (int j = 0; j < d; j++)
          if (lo[j] > 0 && hi[j] / lo[j] >= 100) { lg[j] = true; lo[j] = INFINITY; hi[j] = -INFINITY; }
    }
  /* score thresholds: the best third and the middle third */
  double *sc = malloc((size_t)m * sizeof *sc);
  if (!sc) { b->oom = 1; return; }
  int k = 0;
  for (int i = 0; i < n; i++) if (ps_page_usable(&t[i])) sc[k++] = t[i].value;
  for (int a = 1; a < m; a++) for (int c = a; c > 0 && sc[c - 1] > sc[c]; c--) { double x = sc[c]; sc[c] = sc[c - 1]; sc[c - 1] = x; }
  double t1 = sc[m / 3], t2 = sc[2 * m / 3];
  free(sc);
  const int W = PLOT_W, H = PLOT_H, ml = 40, mr = 40, mt = 36, mb = 56;
  double step = (double)(W - ml - mr) / d;
  ps_page_fig_open(b);
  ps_sbuf_printf(b, "<svg class=\"plot\" viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" role=\"img\">"
                    "<title>Parallel coordinates</title><rect class=\"bg\" width=\"%d\" height=\"%d\"/>"
                    "<text class=\"ptitle\" x=\"%d\" y=\"20\">Parallel coordinates: top parameters and the proxy score</text>\n",
                 W, H, W, H, W, H, ml);
  for (int cls = 0; cls < 3; cls++)
    for (int i = 0; i < n; i++) {
      if (!ps_page_usable(&t[i])) continue;
      int c = t[i].value >= t2 ? 2 : t[i].value >= t1 ? 1 : 0;
      if (c != cls) continue;
      ps_sbuf_printf(b, "<polyline class=\"pc%d\" points=\"", c);
      for (int j = 0; j <= d; j++) {
        double v = j < d ? ps_page_num(cJSON_GetObjectItemCaseSensitive(t[i].params, keys[j]), NULL) : t[i].value;
        if (!isfinite(v)) continue;
        if (lg[j]) v = log10(v);
        double f = hi[j] > lo[j] ? (v - lo[j]) / (hi[j] - lo[j]) : 0.5;
        ps_sbuf_printf(b, "%.1f,%.1f ", ml + j * step, H - mb - f * (H - mt - mb));
      }
      ps_sbuf_printf(b, "\"><title>trial %d: %.4f</title></polyline>\n", t[i].number, t[i].value);
    }
  for (int j = 0; j <= d; j++) {
    double x = ml + j * step;
    ps_sbuf_printf(b, "<line class=\"pax\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>", x, mt, x, H - mb);
    ps_sbuf_printf(b, "<text class=\"ticklab\" text-anchor=\"middle\" x=\"%.1f\" y=\"%d\">", x, H - mb + 16);
    ps_page_esc(b, j < d ? keys[j] : "proxy score");
    ps_sbuf_printf(b, "%s</text>", j < d && lg[j] ? " (log)" : "");
    char l[32], h[32];
    snprintf(l, sizeof l, "%.3g", lg[j] ? pow(10, lo[j]) : lo[j]);
    snprintf(h, sizeof h, "%.3g", lg[j] ? pow(10, hi[j]) : hi[j]);
    ps_sbuf_printf(b, "<text class=\"ticklab\" text-anchor=\"middle\" x=\"%.1f\" y=\"%d\">%s</text>", x, H - mb + 30, l);
    ps_sbuf_printf(b, "<text class=\"ticklab\" text-anchor=\"middle\" x=\"%.1f\" y=\"%d\">%s</text>\n", x, mt - 4, h);
  }
  ps_sbuf_puts(b, "</svg>\n");
  ps_page_fig_close(b, "Orange: the best third of the search trials by proxy score; light blue: the middle third.");
}

/* The epoch (1-based) of each of the n_val validations of a run of n_ep epochs.
 * The trainer validates every s epochs and after the last one; s is not in the
 * curve, so take the smallest s that gives n_val validations (exact when
 * validating every epoch, the common case; within one interval otherwise).
 * Without a training curve the validations are numbered 1, 2, ... */
static void val_epochs(int n_val, int n_ep, double *x) {
  int s = 0;
  for (int c = 1; n_ep > n_val && c <= n_ep && !s; c++) {
    int k = 0;
    for (int e = 0; e < n_ep; e++) k += (e + 1) % c == 0 || e == n_ep - 1;
    if (k == n_val) s = c;
  }
  for (int k = 0; k < n_val; k++) x[k] = s ? (k == n_val - 1 ? n_ep : (k + 1) * s) : k + 1;
}

/* Which runs a learning-curve plot shows: side 0 the full-scale replicates,
 * side 1 the proxy search trials. */
static bool curve_pick(const ps_page_trial *t, int side) { return side == 0 ? !strcmp(t->phase, "full") : !t->full; }

/* Validation Dice per epoch (training loss where no run has a validation
 * curve): the full-scale runs and the proxy search trials, thin lines, the
 * best configuration at full scale highlighted on both. */
static void learning_curves(ps_sbuf *b, const ps_page_trial *t, int n, int best_ref) {
  for (int side = 0; side < 2; side++) {
    int m_val = 0, m_loss = 0, len = 0;
    for (int i = 0; i < n; i++) {
      if (!curve_pick(&t[i], side)) continue;
      int lv = cJSON_GetArraySize(t[i].val_curve), ll = cJSON_GetArraySize(t[i].loss_curve);
      m_val += lv > 1;
      m_loss += ll > 1;
      if (lv > len) len = lv;
      if (ll > len) len = ll;
    }
    bool dice = m_val > 0;
    if (!dice && m_loss < 1) continue;
    double *x = malloc(2 * (size_t)len * sizeof *x), yr[2] = {INFINITY, -INFINITY}, xr[2] = {1, 1};
    if (!x) { b->oom = 1; return; }
    double *y = x + len;
    for (int i = 0; i < n; i++) {
      if (!curve_pick(&t[i], side)) continue;
      const cJSON *cv = dice ? t[i].val_curve : t[i].loss_curve, *e;
      int ep = cJSON_GetArraySize(t[i].loss_curve);
      xr[1] = fmax(xr[1], ep > cJSON_GetArraySize(cv) ? ep : cJSON_GetArraySize(cv));
      cJSON_ArrayForEach(e, cv) if (cJSON_IsNumber(e) && isfinite(e->valuedouble)) {
        yr[0] = fmin(yr[0], e->valuedouble);
        yr[1] = fmax(yr[1], e->valuedouble);
      }
    }
    ps_svg_plot p = {0};
    ps_svg_axis_fit(&p.x, xr, 2, 0);
    ps_svg_axis_fit(&p.y, yr, 2, 0);
    p.x.integer = 1;
    ps_page_fig_open(b);
    ps_svg_begin(&p, b, PLOT_W, PLOT_H, side == 0 ? "Learning curves at full scale" : "Learning curves of the proxy search",
                 "epoch", dice ? "validation Dice" : "training loss");
    for (int pass = 0; pass < 2; pass++) /* the highlighted run last, on top */
      for (int i = 0; i < n; i++) {
        bool w = (side == 0 ? t[i].ref : t[i].number) == best_ref;
        if (!curve_pick(&t[i], side) || w != (pass == 1)) continue;
        const cJSON *cv = dice ? t[i].val_curve : t[i].loss_curve, *e;
        int k = 0, nv = cJSON_GetArraySize(cv);
        if (nv < 1) continue;
        cJSON_ArrayForEach(e, cv) { y[k] = cJSON_IsNumber(e) ? e->valuedouble : NAN; k++; }
        if (dice) val_epochs(nv, cJSON_GetArraySize(t[i].loss_curve), x);
        else for (k = 0; k < nv; k++) x[k] = k + 1;
        ps_svg_polyline(&p, x, y, nv, 0, w ? "lcw" : "lc");
      }
    ps_svg_legend(&p, 0, '-', "lc", side == 0 ? "one full-scale run" : "one trial");
    ps_svg_legend(&p, 1, '-', "lcw", "best configuration at full scale");
    ps_svg_end(&p);
    ps_page_fig_close(b, NULL);
    free(x);
  }
}

static void reward_plot(ps_sbuf *b, const cJSON *rep) {
  const cJSON *r = ps_json_path(rep, "algorithm_data.rewards"), *e;
  int n = 0;
  cJSON_ArrayForEach(e, r) n += cJSON_IsNumber(e);
  if (n < 1) return;
  double *x = malloc(3 * (size_t)n * sizeof *x);
  if (!x) { b->oom = 1; return; }
  double *y = x + n, *avg = x + 2 * n;
  int k = 0;
  cJSON_ArrayForEach(e, r) if (cJSON_IsNumber(e)) { x[k] = k; y[k] = e->valuedouble; k++; }
  int w = n / 10 < 3 ? (n >= 9 ? 3 : 1) : n / 10 > 50 ? 50 : n / 10;
  double s = 0;
  for (int i = 0; i < n; i++) {
    s += y[i];
    if (i >= w) s -= y[i - w];
    avg[i] = s / (i + 1 < w ? i + 1 : w);
  }
  ps_svg_plot p = {0};
  ps_svg_axis_fit(&p.x, x, n, 0);
  ps_svg_axis_fit(&p.y, y, n, 0);
  p.x.integer = 1;
  char lab[64];
  snprintf(lab, sizeof lab, "moving average (%d)", w);
  ps_page_fig_open(b);
  ps_svg_begin(&p, b, PLOT_W, PLOT_H, "RL controller reward", "episode", "reward");
  for (int i = 0; i < n; i++) ps_svg_point(&p, x[i], y[i], 2.5, "pt", NULL);
  ps_svg_polyline(&p, x, avg, n, 0, "avg");
  ps_svg_legend(&p, 0, 'o', "pt", "reward");
  ps_svg_legend(&p, 1, '-', "avg", lab);
  ps_svg_end(&p);
  ps_page_fig_close(b, NULL);
  free(x);
}


void ps_page_search(ps_sbuf *b, const ps_page_trial *t, int n, const cJSON *rep) {
  const cJSON *imp = ps_json_path(rep, "importance");
  int np = 0;
  for (int i = 0; i < n; i++) np += !t[i].full;
  if (!np && !imp && !ps_json_path(rep, "algorithm_data.rewards")) return;
  ps_sbuf_puts(b, "<h2>Search on the proxy</h2>\n<div class=\"plots\">\n");
  best_so_far(b, t, n);
  importance_bars(b, imp);
  parallel_coords(b, t, n, imp);
  reward_plot(b, rep);
  learning_curves(b, t, n, ps_json_int(rep, "best.trial", -1));
  ps_sbuf_puts(b, "</div>\n");
  slices(b, t, n, imp);
}
