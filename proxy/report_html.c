/* The study's self-contained HTML report (see proxyseg/report.h): headline
 * numbers, proxy-vs-full plots, search progress, parameter slices, time
 * breakdown, case ranking and tables — inline SVG and CSS, every input string
 * escaped, no scripts. */
#include "proxyseg/report.h"
#include "proxyseg/json.h"
#include "proxyseg/stats.h"
#include "svg.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PLOT_W 580
#define PLOT_H 340

static const char *CSS =
    "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;color:#1d2330;"
    "background:#f5f6f8;margin:0}\n"
    "main{max-width:1240px;margin:0 auto;padding:20px 28px 48px}\n"
    "h1{font-size:22px;margin:8px 0 2px}h2{font-size:17px;margin:28px 0 10px;border-bottom:1px solid #d8dce3;"
    "padding-bottom:4px}\n"
    ".sub{color:#5b6475;margin:0 0 14px}.note{color:#5b6475;font-size:12.5px}\n"
    ".cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(185px,1fr));gap:12px}\n"
    ".card{background:#fff;border:1px solid #dde1e8;border-radius:8px;padding:10px 14px}\n"
    ".card .k{color:#5b6475;font-size:12.5px;font-weight:600}\n"
    ".card .v{font-size:24px;font-weight:600;margin:2px 0}.card .d{color:#5b6475;font-size:12.5px}\n"
    ".plots{display:grid;grid-template-columns:repeat(auto-fill,minmax(590px,1fr));gap:14px}\n"
    ".fig{background:#fff;border:1px solid #dde1e8;border-radius:8px;padding:6px}\n"
    ".fig p{margin:2px 8px 6px;color:#5b6475;font-size:12.5px}\n"
    "svg.plot{display:block;max-width:100%;height:auto;font-family:inherit}\n"
    "svg .bg{fill:#fff}svg .frame{fill:none;stroke:#9aa3b2}svg .grid{stroke:#eceef2}svg .tick{stroke:#9aa3b2}\n"
    "svg .ticklab{font-size:11px;fill:#4a5263}svg .axlab{font-size:12px;fill:#1d2330}\n"
    "svg .ptitle{font-size:13px;font-weight:600;fill:#1d2330}\n"
    "svg .pt{fill:#3b75af;fill-opacity:.75;stroke:#fff;stroke-width:.8}\n"
    "svg .ptf{fill:#c0c6d0}svg .win{fill:#f28e2b;stroke:#1d2330;stroke-width:1.2}\n"
    "svg .truth{fill:none;stroke:#2e9e44;stroke-width:2}\n"
    "svg .ident{stroke:#8a93a3;stroke-dasharray:5 4;stroke-width:1.2}\n"
    "svg .curve{fill:none;stroke:#d1495b;stroke-width:2}svg .avg{fill:none;stroke:#1d2330;stroke-width:1.8}\n"
    "svg .bar{fill:#3b75af}svg .bark{fill:#2e9e44}svg .barn{fill:#c0c6d0}\n"
    "svg .barlab{font-size:11px;fill:#1d2330}svg .leg{font-size:11px;fill:#1d2330}\n"
    "table{border-collapse:collapse;background:#fff;font-size:13px;width:100%}\n"
    "th,td{border-bottom:1px solid #e6e9ee;padding:4px 8px;text-align:left;vertical-align:top}\n"
    "th{background:#eef0f4;position:sticky;top:0}td.n{text-align:right;font-variant-numeric:tabular-nums}\n"
    "tr:nth-child(even) td{background:#fafbfc}\n"
    ".COMPLETE{color:#2e7d32}.PRUNED{color:#8a6d00}.FAIL{color:#c62828}.RUNNING{color:#1565c0}\n"
    ".tw{max-height:560px;overflow:auto;border:1px solid #dde1e8;border-radius:8px}\n"
    "details summary{cursor:pointer;color:#3b75af;margin:6px 0}\n"
    "code{background:#eef0f4;padding:0 4px;border-radius:3px}\n";

/* ---- small helpers ---- */

static double num(const cJSON *o, const char *key) {
  const cJSON *v = key ? ps_json_path(o, key) : o;
  return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static const char *str(const cJSON *o, const char *key) {
  const cJSON *v = ps_json_path(o, key);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void fmt(char *buf, size_t n, double v, int digits) {
  if (!isfinite(v)) snprintf(buf, n, "—");
  else snprintf(buf, n, "%.*f", digits, v);
}

/* Seconds as "42 s", "12.5 min", "3.2 h". */
static void fmt_dur(char *buf, size_t n, double s) {
  if (!isfinite(s)) snprintf(buf, n, "—");
  else if (s < 120) snprintf(buf, n, "%.1f s", s);
  else if (s < 7200) snprintf(buf, n, "%.1f min", s / 60);
  else snprintf(buf, n, "%.2f h", s / 3600);
}

/* Any JSON value as short display text (malloc'd). */
static char *value_text(const cJSON *v) {
  if (!v || cJSON_IsNull(v)) return ps_strdup("—");
  if (cJSON_IsString(v)) return ps_strdup(v->valuestring);
  if (cJSON_IsBool(v)) return ps_strdup(cJSON_IsTrue(v) ? "true" : "false");
  if (cJSON_IsNumber(v)) return ps_strfmt("%.6g", v->valuedouble);
  char *s = cJSON_PrintUnformatted(v);
  return s ? s : ps_strdup("?");
}

static void esc(ps_sbuf *b, const char *s) { ps_sbuf_escape(b, s ? s : ""); }

static void card(ps_sbuf *b, const char *key, const char *value, const char *detail) {
  ps_sbuf_puts(b, "<div class=\"card\"><div class=\"k\">");
  esc(b, key);
  ps_sbuf_puts(b, "</div><div class=\"v\">");
  esc(b, value);
  ps_sbuf_puts(b, "</div>");
  if (detail) { ps_sbuf_puts(b, "<div class=\"d\">"); esc(b, detail); ps_sbuf_puts(b, "</div>"); }
  ps_sbuf_puts(b, "</div>\n");
}

static void fig_open(ps_sbuf *b) { ps_sbuf_puts(b, "<div class=\"fig\">\n"); }
static void fig_close(ps_sbuf *b, const char *caption) {
  if (caption) { ps_sbuf_puts(b, "<p>"); esc(b, caption); ps_sbuf_puts(b, "</p>"); }
  ps_sbuf_puts(b, "</div>\n");
}

/* ---- trials ---- */

typedef struct {
  int number;
  const char *state;
  double value, seconds;
  const cJSON *params;
  int full; /* phase "full" */
} trial_row;

static int cmp_trial(const void *a, const void *b) {
  const trial_row *x = a, *y = b;
  if (x->full != y->full) return x->full - y->full;
  return (x->number > y->number) - (x->number < y->number);
}

static int collect_trials(const cJSON *trials, trial_row **out) {
  int n = cJSON_IsArray(trials) ? cJSON_GetArraySize(trials) : 0, k = 0;
  *out = calloc((size_t)(n ? n : 1), sizeof **out);
  if (!*out) return -1;
  const cJSON *t;
  cJSON_ArrayForEach(t, trials) {
    if (!cJSON_IsObject(t)) continue;
    trial_row *r = &(*out)[k++];
    r->number = ps_json_int(t, "number", k - 1);
    r->state = ps_json_str(t, "state", "COMPLETE");
    r->value = num(t, "value");
    r->seconds = num(t, "seconds");
    r->params = ps_json_path(t, "params");
    const char *ph = ps_json_str(t, "phase", "proxy");
    r->full = strcmp(ph, "full") == 0;
  }
  qsort(*out, (size_t)k, sizeof **out, cmp_trial);
  return k;
}

static int usable(const trial_row *r) {
  return !r->full && strcmp(r->state, "COMPLETE") == 0 && isfinite(r->value);
}

/* ---- sections ---- */

static void headline(ps_sbuf *b, const cJSON *rep) {
  const cJSON *c = ps_json_path(rep, "correlation");
  char v[96], d[256], lo[32], hi[32];
  ps_sbuf_puts(b, "<div class=\"cards\">\n");
  static const char *keys[3] = {"spearman", "kendall", "pearson"};
  static const char *names[3] = {"Spearman ρ", "Kendall τ-b", "Pearson r"};
  int n = ps_json_int(c, "n", 0);
  for (int k = 0; k < 3; k++) {
    const cJSON *s = ps_json_path(c, keys[k]);
    fmt(v, sizeof v, num(s, "value"), 3);
    const cJSON *ci = ps_json_path(s, "ci95");
    fmt(lo, sizeof lo, num(cJSON_GetArrayItem(ci, 0), NULL), 2);
    fmt(hi, sizeof hi, num(cJSON_GetArrayItem(ci, 1), NULL), 2);
    if (k == 0 && !isfinite(num(s, "value")) && str(c, "reason")) snprintf(d, sizeof d, "%s", str(c, "reason"));
    else snprintf(d, sizeof d, "95%% bootstrap CI [%s, %s], %d configs", lo, hi, n);
    card(b, names[k], v, d);
  }
  const cJSON *tk = ps_json_path(c, "topk_overlap");
  fmt(v, sizeof v, num(tk, "value"), 2);
  snprintf(d, sizeof d, "share of the full top-%d that the proxy also ranks top-%d", ps_json_int(tk, "k", 0),
           ps_json_int(tk, "k", 0));
  card(b, "Top-k overlap", v, d);
  fmt(v, sizeof v, num(c, "regret"), 4);
  card(b, "Regret", v, "best full score − full score of the proxy's winner");
  const cJSON *sp = ps_json_path(rep, "speedup");
  double f = num(sp, "factor");
  if (isfinite(f)) snprintf(v, sizeof v, "%.1f×", f);
  else snprintf(v, sizeof v, "—");
  char a1[32], a2[32];
  fmt_dur(a1, sizeof a1, num(sp, "full_seconds"));
  fmt_dur(a2, sizeof a2, num(sp, "proxy_seconds"));
  snprintf(d, sizeof d, "full %s / proxy %s — %s", a1, a2, ps_json_str(sp, "how", "how not recorded"));
  card(b, "Speed-up", v, d);
  ps_sbuf_puts(b, "</div>\n");

  /* the winner and the proxy setup */
  const cJSON *best = ps_json_path(rep, "best");
  if (best) {
    /* the searched parameters say what won; the whole config is in report.json */
    const cJSON *cfg = ps_json_path(best, "params");
    if (!cJSON_IsObject(cfg) || !cfg->child) cfg = ps_json_path(best, "config");
    char p[32], q[32];
    fmt(p, sizeof p, num(best, "proxy_score"), 4);
    fmt(q, sizeof q, num(best, "full_score"), 4);
    ps_sbuf_printf(b, "<h2>Best configuration</h2>\n<p class=\"sub\">");
    if (cJSON_IsNumber(ps_json_path(best, "trial"))) ps_sbuf_printf(b, "trial %d — ", ps_json_int(best, "trial", 0));
    ps_sbuf_printf(b, "proxy score <b>%s</b>, full score <b>%s</b></p>\n", p, q);
    if (cJSON_IsObject(cfg) && cfg->child) {
      ps_sbuf_puts(b, "<table><tr><th>parameter</th><th>value</th></tr>\n");
      const cJSON *e;
      cJSON_ArrayForEach(e, cfg) {
        char *t = value_text(e);
        ps_sbuf_puts(b, "<tr><td>");
        esc(b, e->string);
        ps_sbuf_puts(b, "</td><td>");
        esc(b, t);
        ps_sbuf_puts(b, "</td></tr>\n");
        free(t);
      }
      ps_sbuf_puts(b, "</table>\n");
    }
  }
}

static void setup_line(ps_sbuf *b, const cJSON *rep, const cJSON *cases) {
  const cJSON *pd = ps_json_path(rep, "proxy.data"), *pn = ps_json_path(rep, "proxy.network");
  ps_sbuf_puts(b, "<p class=\"sub\">");
  const char *items[][2] = {{"study", str(rep, "study") ? str(rep, "study") : str(rep, "name")},
                            {"dataset", str(rep, "dataset")},
                            {"algorithm", str(rep, "algorithm")},
                            {"proxy data", str(pd, "method") ? str(pd, "method") : str(cases, "method")}};
  int first = 1;
  for (size_t i = 0; i < sizeof items / sizeof *items; i++) {
    if (!items[i][1]) continue;
    ps_sbuf_puts(b, first ? "" : " · ");
    esc(b, items[i][0]);
    ps_sbuf_puts(b, " <b>");
    esc(b, items[i][1]);
    ps_sbuf_puts(b, "</b>");
    first = 0;
  }
  double fr = num(pd, "fraction");
  if (!isfinite(fr)) fr = num(cases, "fraction");
  if (isfinite(fr)) ps_sbuf_printf(b, " · %.0f%% of the cases", 100 * fr);
  if (pn) ps_sbuf_printf(b, " · network width ×%.3g, depth ×%.3g", num(pn, "width"), num(pn, "depth"));
  if (cJSON_IsNumber(ps_json_path(rep, "seed"))) ps_sbuf_printf(b, " · seed %.0f", num(rep, "seed"));
  const char *ver = str(rep, "version");
  if (!ver) ver = str(rep, "versions.proxyseg");
  if (ver) { ps_sbuf_puts(b, " · proxyseg "); esc(b, ver); }
  ps_sbuf_puts(b, "</p>\n");
}

static void scatter_plots(ps_sbuf *b, const cJSON *rep) {
  const cJSON *c = ps_json_path(rep, "correlation"), *pairs = ps_json_path(c, "pairs");
  int n = cJSON_GetArraySize(pairs), m = 0;
  if (n < 1) return;
  double *x = malloc(4 * (size_t)n * sizeof *x);
  int *id = malloc((size_t)n * sizeof *id);
  if (!x || !id) { free(x); free(id); b->oom = 1; return; }
  double *y = x + n, *rx = x + 2 * n, *ry = x + 3 * n;
  const cJSON *p;
  cJSON_ArrayForEach(p, pairs) {
    double a = num(p, "proxy_score"), f = num(p, "full_score");
    if (!isfinite(a) || !isfinite(f)) continue;
    x[m] = a; y[m] = f; id[m] = ps_json_int(p, "trial", m); m++;
  }
  int win = -1, truth = -1;
  for (int i = 0; i < m; i++) {
    if (win < 0 || x[i] > x[win]) win = i;
    if (truth < 0 || y[i] > y[truth]) truth = i;
  }
  char title[160], tip[160], rho[32];
  fmt(rho, sizeof rho, num(c, "spearman.value"), 3);
  /* score space */
  ps_svg_plot pl = {0};
  double both[2];
  ps_svg_axis_fit(&pl.x, x, m, 0);
  ps_svg_axis_fit(&pl.y, y, m, 0);
  snprintf(title, sizeof title, "Proxy vs full score (Spearman ρ = %s, n = %d)", rho, m);
  fig_open(b);
  ps_svg_begin(&pl, b, PLOT_W, PLOT_H, title, "proxy score (validation Dice)", "full score (validation Dice)");
  both[0] = fmax(pl.x.lo, pl.y.lo);
  both[1] = fmin(pl.x.hi, pl.y.hi);
  if (both[1] > both[0]) ps_svg_line(&pl, both[0], both[0], both[1], both[1], "ident");
  for (int i = 0; i < m; i++) {
    snprintf(tip, sizeof tip, "trial %d: proxy %.4f, full %.4f", id[i], x[i], y[i]);
    ps_svg_point(&pl, x[i], y[i], i == win ? 7 : 5, i == win ? "win" : "pt", tip);
  }
  if (truth >= 0) ps_svg_point(&pl, x[truth], y[truth], 10, "truth", "best at full scale");
  ps_svg_legend(&pl, 0, 'o', "pt", "configuration");
  ps_svg_legend(&pl, 1, 'o', "win", "proxy's winner");
  ps_svg_legend(&pl, 2, 'o', "truth", "best at full scale");
  if (both[1] > both[0]) ps_svg_legend(&pl, 3, '-', "ident", "y = x");
  ps_svg_end(&pl);
  fig_close(b, "Each point is one configuration trained on the proxy and again at full scale.");

  /* rank space: 1 = best */
  if (m >= 1) {
    double *nx = malloc(2 * (size_t)m * sizeof *nx);
    if (!nx) { b->oom = 1; free(x); free(id); return; }
    double *ny = nx + m;
    for (int i = 0; i < m; i++) { nx[i] = -x[i]; ny[i] = -y[i]; }
    /* average ranks of the negated scores: rank 1 = highest score */
    ps_rank_average(nx, m, rx);
    ps_rank_average(ny, m, ry);
    free(nx);
    ps_svg_plot pr = {0};
    ps_svg_axis_range(&pr.x, 0.5, m + 0.5);
    ps_svg_axis_range(&pr.y, 0.5, m + 0.5);
    pr.x.integer = pr.y.integer = 1;
    char kt[32];
    fmt(kt, sizeof kt, num(c, "kendall.value"), 3);
    snprintf(title, sizeof title, "Rank agreement (ρ = %s, τ-b = %s)", rho, kt);
    fig_open(b);
    ps_svg_begin(&pr, b, PLOT_W, PLOT_H, title, "rank on the proxy (1 = best)", "rank at full scale (1 = best)");
    ps_svg_line(&pr, 0.5, 0.5, m + 0.5, m + 0.5, "ident");
    for (int i = 0; i < m; i++) {
      snprintf(tip, sizeof tip, "trial %d: proxy rank %g, full rank %g", id[i], rx[i], ry[i]);
      ps_svg_point(&pr, rx[i], ry[i], i == win ? 7 : 5, i == win ? "win" : "pt", tip);
    }
    ps_svg_legend(&pr, 0, '-', "ident", "perfect agreement");
    ps_svg_legend(&pr, 1, 'o', "win", "proxy's winner");
    ps_svg_end(&pr);
    fig_close(b, "Points on the dashed line are ranked the same by the proxy and by full training.");
  }
  free(x);
  free(id);
}

static void best_so_far(ps_sbuf *b, const trial_row *t, int n) {
  int m = 0, failed = 0;
  for (int i = 0; i < n; i++) {
    if (usable(&t[i])) m++;
    else if (!t[i].full && strcmp(t[i].state, "FAIL") == 0) failed++;
  }
  if (m < 1) return;
  double *x = malloc(3 * (size_t)m * sizeof *x);
  if (!x) { b->oom = 1; return; }
  double *y = x + m, *best = x + 2 * m;
  int k = 0;
  for (int i = 0; i < n; i++)
    if (usable(&t[i])) {
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
  fig_open(b);
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
  fig_close(b, failed ? cap : NULL);
  free(x);
}

#define MAX_CAT 40

static void slice_plot(ps_sbuf *b, const trial_row *t, int n, const char *key) {
  int m = 0, numeric = 1;
  for (int i = 0; i < n; i++) {
    if (!usable(&t[i])) continue;
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
    if (!usable(&t[i])) continue;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(t[i].params, key);
    if (!v) continue;
    y[k] = t[i].value;
    if (numeric) x[k] = v->valuedouble;
    else {
      txt[k] = value_text(v);
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
  snprintf(title, sizeof title, "Slice: %.100s", key);
  fig_open(b);
  ps_svg_begin(&p, b, PLOT_W, PLOT_H, title, key, "proxy score (validation Dice)");
  for (int i = 0; i < m; i++) {
    if (numeric) snprintf(tip, sizeof tip, "%.60s = %.6g: %.4f", key, x[i], y[i]);
    else snprintf(tip, sizeof tip, "%.60s = %.120s: %.4f", key, txt[i], y[i]);
    ps_svg_point(&p, x[i], y[i], i == bi ? 6 : 4, i == bi ? "win" : "pt", tip);
  }
  ps_svg_end(&p);
  fig_close(b, NULL);
  for (int i = 0; i < m; i++) free(txt[i]);
  free(txt);
  free(x);
}

/* The searched parameter names of the trials, in order of first appearance,
 * once each (usable_only: only trials with a finite score). NULL on OOM. */
static const char **param_keys(const trial_row *t, int n, bool usable_only, int *nk_out) {
  const char **keys = NULL;
  int nk = 0, cap = 0;
  for (int i = 0; i < n; i++) {
    if ((usable_only && !usable(&t[i])) || !cJSON_IsObject(t[i].params)) continue;
    const cJSON *e;
    cJSON_ArrayForEach(e, t[i].params) {
      int j = 0;
      while (j < nk && strcmp(keys[j], e->string) != 0) j++;
      if (j < nk) continue;
      if (nk == cap) {
        cap = cap ? 2 * cap : 16;
        const char **k2 = realloc(keys, (size_t)cap * sizeof *keys);
        if (!k2) { free(keys); return NULL; }
        keys = k2;
      }
      keys[nk++] = e->string;
    }
  }
  *nk_out = nk;
  if (!keys) keys = calloc(1, sizeof *keys); /* distinguish "none" from OOM */
  return keys;
}

static void slices(ps_sbuf *b, const trial_row *t, int n) {
  int nk = 0;
  const char **keys = param_keys(t, n, true, &nk);
  if (!keys) { b->oom = 1; return; }
  for (int j = 0; j < nk; j++) slice_plot(b, t, n, keys[j]);
  free(keys);
}

static void time_breakdown(ps_sbuf *b, const cJSON *rep) {
  static const char *known[][2] = {{"preprocessing", "preprocessing"}, {"preprocess", "preprocessing"},
                                   {"proxy_data", "proxy data"}, {"proxy_search", "proxy search"},
                                   {"full_retraining", "full re-training"}, {"full_retrain", "full re-training"},
                                   {"full", "full re-training"}, {"other", "other"}};
  const char *lab[16];
  double sec[16];
  int n = 0;
  const cJSON *tm = ps_json_path(rep, "timing"), *e;
  cJSON_ArrayForEach(e, tm) {
    if (n >= 16 || !cJSON_IsNumber(e) || !e->string || strcmp(e->string, "total") == 0) continue;
    const char *l = e->string;
    for (size_t k = 0; k < sizeof known / sizeof *known; k++)
      if (strcmp(l, known[k][0]) == 0) l = known[k][1];
    lab[n] = l;
    sec[n] = e->valuedouble;
    n++;
  }
  if (n == 0) {
    const cJSON *sp = ps_json_path(rep, "speedup");
    if (isfinite(num(sp, "proxy_seconds"))) { lab[n] = "proxy search"; sec[n++] = num(sp, "proxy_seconds"); }
    if (isfinite(num(sp, "full_seconds"))) { lab[n] = "full-scale equivalent"; sec[n++] = num(sp, "full_seconds"); }
  }
  if (n == 0) return;
  double mx = 0, total = 0;
  for (int i = 0; i < n; i++) { if (sec[i] > mx) mx = sec[i]; total += sec[i]; }
  double unit = mx >= 7200 ? 3600 : mx >= 120 ? 60 : 1;
  const char *un = unit == 3600 ? "hours" : unit == 60 ? "minutes" : "seconds";
  ps_svg_plot p = {0};
  ps_svg_axis_categories(&p.x, lab, n);
  ps_svg_axis_range(&p.y, 0, mx / unit * 1.15 > 0 ? mx / unit * 1.15 : 1);
  char title[96], ylab[64], v[48];
  char tot[32];
  fmt_dur(tot, sizeof tot, total);
  snprintf(title, sizeof title, "Where the time went (total %s)", tot);
  snprintf(ylab, sizeof ylab, "wall-clock %s", un);
  fig_open(b);
  ps_svg_begin(&p, b, PLOT_W, PLOT_H, title, NULL, ylab);
  for (int i = 0; i < n; i++) {
    fmt_dur(v, sizeof v, sec[i]);
    ps_svg_bar(&p, i, 0.6, 0, sec[i] / unit, "bar", v);
    char pct[64];
    snprintf(pct, sizeof pct, "%s (%.0f%%)", v, total > 0 ? 100 * sec[i] / total : 0);
    ps_svg_text(&p, i, sec[i] / unit + mx / unit * 0.03, "middle", "barlab", pct);
  }
  ps_svg_end(&p);
  const char *how = ps_json_str(rep, "speedup.how", NULL);
  char cap[200];
  snprintf(cap, sizeof cap, "Speed-up %s.", how ? how : "not recorded");
  fig_close(b, how ? cap : NULL);
}

static void case_plot(ps_sbuf *b, const cJSON *cases) {
  const cJSON *arr = ps_json_path(cases, "cases");
  int n = cJSON_GetArraySize(arr);
  if (n < 1) return;
  double *sc = malloc((size_t)n * sizeof *sc);
  int *rk = malloc((size_t)n * sizeof *rk), *kept = malloc((size_t)n * sizeof *kept);
  const char **ids = malloc((size_t)n * sizeof *ids), **cat = malloc((size_t)n * sizeof *cat);
  if (!sc || !rk || !kept || !ids || !cat) { free(sc); free(rk); free(kept); free(ids); free(cat); b->oom = 1; return; }
  int i = 0, nk = 0;
  const cJSON *c;
  cJSON_ArrayForEach(c, arr) {
    sc[i] = num(c, "score");
    rk[i] = ps_json_int(c, "rank", i);
    if (rk[i] < 0 || rk[i] >= n) rk[i] = i;
    kept[i] = ps_json_bool(c, "kept", false);
    nk += kept[i];
    ids[i] = ps_json_str(c, "id", "?");
    i++;
  }
  for (int k = 0; k < n; k++) cat[k] = "?";
  for (int k = 0; k < n; k++) cat[rk[k]] = ids[k];
  ps_svg_plot p = {0};
  if (n <= 40) ps_svg_axis_categories(&p.x, cat, n);
  else {
    ps_svg_axis_range(&p.x, -0.6, n - 0.4);
    p.x.integer = 1;
  }
  double lo = 0, hi = 0;
  for (int k = 0; k < n; k++)
    if (isfinite(sc[k])) { lo = fmin(lo, sc[k]); hi = fmax(hi, sc[k]); }
  ps_svg_axis_range(&p.y, lo, hi > lo ? hi + 0.05 * (hi - lo) : lo + 1);
  char title[160], tip[200];
  const char *method = ps_json_str(cases, "method", "?"), *keep = ps_json_str(cases, "keep", NULL);
  snprintf(title, sizeof title, "Case ranking: %.20s%s%.20s — %d of %d kept", method, keep ? ", keep " : "",
           keep ? keep : "", nk, n);
  fig_open(b);
  ps_svg_begin(&p, b, PLOT_W, n <= 40 && n > 6 ? PLOT_H + 40 : PLOT_H, title, n <= 40 ? NULL : "rank (0 = kept first)",
               "case score");
  for (int k = 0; k < n; k++) {
    snprintf(tip, sizeof tip, "%.120s: score %.4g, rank %d%s", ids[k], sc[k], rk[k], kept[k] ? ", kept" : "");
    ps_svg_bar(&p, rk[k], 0.7, 0, isfinite(sc[k]) ? sc[k] : 0, kept[k] ? "bark" : "barn", tip);
  }
  ps_svg_legend(&p, 0, 'o', "bark", "kept (proxy data)");
  ps_svg_legend(&p, 1, 'o', "barn", "left out");
  ps_svg_end(&p);
  fig_close(b, "Bars in rank order; the method's score of each case (hover for the case id).");
  free(sc); free(rk); free(kept); free(ids); free(cat);
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
  fig_open(b);
  ps_svg_begin(&p, b, PLOT_W, PLOT_H, "RL controller reward", "episode", "reward");
  for (int i = 0; i < n; i++) ps_svg_point(&p, x[i], y[i], 2.5, "pt", NULL);
  ps_svg_polyline(&p, x, avg, n, 0, "avg");
  ps_svg_legend(&p, 0, 'o', "pt", "reward");
  ps_svg_legend(&p, 1, '-', "avg", lab);
  ps_svg_end(&p);
  fig_close(b, NULL);
  free(x);
}

static void trials_table(ps_sbuf *b, const trial_row *t, int n) {
  int nk = 0;
  const char **keys = param_keys(t, n, false, &nk);
  if (!keys) { b->oom = 1; return; }
  ps_sbuf_printf(b, "<h2>All trials (%d)</h2>\n<div class=\"tw\"><table>\n<tr><th>#</th><th>phase</th><th>state</th>"
                    "<th>score</th><th>time</th>", n);
  for (int j = 0; j < nk; j++) { ps_sbuf_puts(b, "<th>"); esc(b, keys[j]); ps_sbuf_puts(b, "</th>"); }
  ps_sbuf_puts(b, "</tr>\n");
  for (int i = 0; i < n; i++) {
    char v[32], s[32];
    fmt(v, sizeof v, t[i].value, 4);
    fmt_dur(s, sizeof s, t[i].seconds);
    ps_sbuf_printf(b, "<tr><td class=\"n\">%d</td><td>%s</td><td class=\"", t[i].number, t[i].full ? "full" : "proxy");
    /* the state doubles as a CSS class only when it is one of Optuna's */
    const char *st = t[i].state;
    int known = !strcmp(st, "COMPLETE") || !strcmp(st, "PRUNED") || !strcmp(st, "FAIL") || !strcmp(st, "RUNNING");
    ps_sbuf_puts(b, known ? st : "");
    ps_sbuf_puts(b, "\">");
    esc(b, st);
    ps_sbuf_printf(b, "</td><td class=\"n\">%s</td><td class=\"n\">%s</td>", v, s);
    for (int j = 0; j < nk; j++) {
      char *txt = value_text(cJSON_GetObjectItemCaseSensitive(t[i].params, keys[j]));
      ps_sbuf_puts(b, "<td>");
      esc(b, txt);
      ps_sbuf_puts(b, "</td>");
      free(txt);
    }
    ps_sbuf_puts(b, "</tr>\n");
  }
  ps_sbuf_puts(b, "</table></div>\n");
  free(keys);
}

static void cases_table(ps_sbuf *b, const cJSON *cases) {
  const cJSON *arr = ps_json_path(cases, "cases"), *c;
  int n = cJSON_GetArraySize(arr);
  if (n < 1) return;
  ps_sbuf_printf(b, "<details><summary>Case scores (%d cases)</summary><div class=\"tw\"><table>\n"
                    "<tr><th>rank</th><th>case</th><th>score</th><th>kept</th></tr>\n", n);
  /* rank order reads best */
  for (int r = 0; r < n; r++)
    cJSON_ArrayForEach(c, arr) {
      if (ps_json_int(c, "rank", -1) != r) continue;
      char v[32];
      fmt(v, sizeof v, num(c, "score"), 4);
      ps_sbuf_printf(b, "<tr><td class=\"n\">%d</td><td>", r);
      esc(b, ps_json_str(c, "id", "?"));
      ps_sbuf_printf(b, "</td><td class=\"n\">%s</td><td>%s</td></tr>\n", v, ps_json_bool(c, "kept", false) ? "✓" : "");
    }
  ps_sbuf_puts(b, "</table></div></details>\n");
}

ps_status ps_report_html_string(const cJSON *report, const cJSON *trials, const cJSON *cases, char **html) {
  *html = NULL;
  ps_sbuf b = {0};
  trial_row *t = NULL;
  int nt = collect_trials(trials, &t);
  if (nt < 0) return ps_error(PS_ERR_NOMEM, "report: out of memory");
  const char *name = str(report, "study") ? str(report, "study") : str(report, "name");
  char ts[40];
  ps_timestamp_iso(ts, sizeof ts);
  ps_sbuf_puts(&b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                   "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>proxyseg report");
  if (name) { ps_sbuf_puts(&b, " — "); esc(&b, name); }
  ps_sbuf_printf(&b, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<main>\n", CSS);
  ps_sbuf_puts(&b, "<h1>Proxy study report");
  if (name) { ps_sbuf_puts(&b, ": "); esc(&b, name); }
  ps_sbuf_puts(&b, "</h1>\n");
  setup_line(&b, report, cases);
  headline(&b, report);
  ps_sbuf_puts(&b, "<h2>Does the proxy rank configurations like full training?</h2>\n<div class=\"plots\">\n");
  scatter_plots(&b, report);
  ps_sbuf_puts(&b, "</div>\n<h2>Search on the proxy</h2>\n<div class=\"plots\">\n");
  best_so_far(&b, t, nt);
  slices(&b, t, nt);
  reward_plot(&b, report);
  ps_sbuf_puts(&b, "</div>\n<h2>Time and data</h2>\n<div class=\"plots\">\n");
  time_breakdown(&b, report);
  case_plot(&b, cases);
  ps_sbuf_puts(&b, "</div>\n");
  cases_table(&b, cases);
  trials_table(&b, t, nt);
  ps_sbuf_printf(&b, "<p class=\"note\">Generated %s by proxyseg %s. Scores are validation Dice (higher is better); "
                     "intervals are percentile bootstrap over configurations.</p>\n</main>\n</body>\n</html>\n",
                 ts, PS_VERSION_STRING);
  free(t);
  if (b.oom) { ps_sbuf_free(&b); return ps_error(PS_ERR_NOMEM, "report: out of memory while building the page"); }
  *html = b.s;
  return PS_OK;
}

ps_status ps_report_write_html(const cJSON *report, const cJSON *trials, const cJSON *cases, const char *path) {
  char *html = NULL;
  ps_status st = ps_report_html_string(report, trials, cases, &html);
  if (st != PS_OK) return st;
  st = ps_write_file_atomic(path, html, strlen(html));
  free(html);
  if (st != PS_OK) return ps_error_prefix(st, "report: writing %s", path);
  return PS_OK;
}
