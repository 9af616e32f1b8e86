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
    "code{background:#eef0f4;padding:0 4px;border-radius:3px}\n"
    ".verdict{background:#fff;border:1px solid #dde1e8;border-left:6px solid #8a93a3;border-radius:8px;"
    "padding:10px 16px;margin:10px 0 16px}\n"
    ".verdict.informative{border-left-color:#2e9e44}.verdict.not_informative{border-left-color:#c62828}"
    ".verdict.inconclusive{border-left-color:#d4a017}\n"
    ".verdict .lab{font-size:21px;font-weight:700}.verdict .txt{margin:4px 0}.verdict .rule{color:#5b6475;font-size:12px}\n"
    ".plots.small{grid-template-columns:repeat(auto-fill,minmax(390px,1fr))}\n"
    "td,th{white-space:nowrap}\n"
    ".ib{display:flex;align-items:center;gap:8px;margin:2px 0;font-size:13px}.ib .nm{width:240px;overflow:hidden;"
    "text-overflow:ellipsis}.ib .bar{height:12px;background:#3b75af;border-radius:2px}\n"
    "svg .err{stroke:#3b75af;stroke-width:1.2;stroke-opacity:.7}svg .lc{fill:none;stroke:#3b75af;stroke-opacity:.45;"
    "stroke-width:1}svg .lcw{fill:none;stroke:#f28e2b;stroke-width:2.4}\n"
    "svg .pc0{fill:none;stroke:#c0c6d0;stroke-width:1}svg .pc1{fill:none;stroke:#7fa7d0;stroke-width:1.2}"
    "svg .pc2{fill:none;stroke:#f28e2b;stroke-width:2}svg .pax{stroke:#4a5263}\n";

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
  int number, ref, replicate; /* ref, replicate: -1 for search trials */
  const char *state, *phase;
  double value, seconds;
  const cJSON *params, *loss_curve; /* train loss per epoch, or NULL */
  int full; /* not a proxy search trial (re-training, replicates, factorial, comparisons) */
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
    r->phase = ps_json_str(t, "phase", "proxy");
    r->full = strcmp(r->phase, "proxy") != 0;
    r->ref = ps_json_int(t, "ref", -1);
    r->replicate = ps_json_int(t, "replicate", -1);
    r->loss_curve = ps_json_path(t, "curve.train_loss");
  }
  qsort(*out, (size_t)k, sizeof **out, cmp_trial);
  return k;
}

static int usable(const trial_row *r) {
  return !r->full && strcmp(r->state, "COMPLETE") == 0 && isfinite(r->value);
}

/* ---- sections ---- */

/* The verdict comes first: it is what the study is for. */
static void verdict_block(ps_sbuf *b, const cJSON *rep) {
  const cJSON *v = ps_json_path(rep, "verdict");
  if (!v) return;
  const char *code = str(v, "code") ? str(v, "code") : "";
  bool known = !strcmp(code, "informative") || !strcmp(code, "not_informative") || !strcmp(code, "inconclusive");
  ps_sbuf_printf(b, "<div class=\"verdict %s\"><div class=\"lab\">", known ? code : "");
  esc(b, str(v, "label"));
  ps_sbuf_puts(b, "</div><div class=\"txt\">");
  esc(b, str(v, "text"));
  ps_sbuf_puts(b, "</div>");
  if (str(v, "advice")) { ps_sbuf_puts(b, "<div class=\"txt\"><b>What to do:</b> "); esc(b, str(v, "advice")); ps_sbuf_puts(b, "</div>"); }
  ps_sbuf_puts(b, "<div class=\"rule\">Rule: ");
  esc(b, str(v, "rule"));
  ps_sbuf_puts(b, "</div></div>\n");
}

static void speed_card(ps_sbuf *b, const char *key, const cJSON *sp) {
  char v[64], d[320], a1[32], a2[32];
  double f = num(sp, "factor");
  if (isfinite(f)) snprintf(v, sizeof v, "%.1f×", f);
  else snprintf(v, sizeof v, "—");
  fmt_dur(a1, sizeof a1, num(sp, "full_seconds"));
  fmt_dur(a2, sizeof a2, num(sp, "proxy_seconds"));
  snprintf(d, sizeof d, "full %s / proxy %s — %s", a1, a2, ps_json_str(sp, "how", "how not recorded"));
  card(b, key, v, d);
}

static void headline(ps_sbuf *b, const cJSON *rep) {
  const cJSON *c = ps_json_path(rep, "correlation");
  char v[96], d[256], lo[32], hi[32], pv[32];
  ps_sbuf_puts(b, "<div class=\"cards\">\n");
  static const char *keys[3] = {"spearman", "kendall", "pearson"};
  static const char *names[3] = {"Spearman ρ", "Kendall τ-b", "Pearson r"};
  int n = ps_json_int(c, "n", 0) - ps_json_int(c, "n_dropped", 0), R = ps_json_int(c, "R", 1);
  for (int k = 0; k < 3; k++) {
    const cJSON *s = ps_json_path(c, keys[k]);
    fmt(v, sizeof v, num(s, "value"), 3);
    const cJSON *ci = ps_json_path(s, "ci95");
    fmt(lo, sizeof lo, num(cJSON_GetArrayItem(ci, 0), NULL), 2);
    fmt(hi, sizeof hi, num(cJSON_GetArrayItem(ci, 1), NULL), 2);
    snprintf(pv, sizeof pv, "%.3g", num(s, "p_value"));
    if (k == 0 && !isfinite(num(s, "value")) && str(c, "reason")) snprintf(d, sizeof d, "%s", str(c, "reason"));
    else snprintf(d, sizeof d, "95%% CI [%s, %s], p = %s, %d configs × %d replicates", lo, hi, pv, n, R);
    card(b, names[k], v, d);
    if (k == 0) {
      fmt(v, sizeof v, num(c, "noise_ceiling.value"), 3);
      char ps[32], bs[32];
      fmt(ps, sizeof ps, num(c, "noise.pooled_sd"), 3);
      fmt(bs, sizeof bs, num(c, "noise.between_sd"), 3);
      snprintf(d, sizeof d, "how well full training agrees with itself (split-half, Spearman–Brown); seed SD %s vs "
                            "between-config SD %s", ps, bs);
      card(b, "Noise ceiling", v, d);
    }
  }
  const cJSON *tk = ps_json_path(c, "topk_overlap");
  fmt(v, sizeof v, num(tk, "value"), 2);
  snprintf(d, sizeof d, "share of the full top-%d that the proxy also ranks top-%d", ps_json_int(tk, "k", 0),
           ps_json_int(tk, "k", 0));
  card(b, "Top-k overlap", v, d);
  fmt(v, sizeof v, num(c, "regret"), 4);
  card(b, "Regret", v, "best full score − full score of the proxy's winner (replicate means)");
  speed_card(b, "Search speed-up", ps_json_path(rep, "speedup.search") ? ps_json_path(rep, "speedup.search")
                                                                         : ps_json_path(rep, "speedup"));
  if (ps_json_path(rep, "speedup.end_to_end")) speed_card(b, "End-to-end speed-up", ps_json_path(rep, "speedup.end_to_end"));
  ps_sbuf_puts(b, "</div>\n");

  /* the full-scale winner, and the proxy's own winner under its own label */
  const cJSON *best = ps_json_path(rep, "best");
  if (best) {
    const cJSON *cfg = ps_json_path(best, "params");
    char m[32], sd[32], p[32];
    fmt(m, sizeof m, num(best, "full_mean"), 4);
    fmt(sd, sizeof sd, num(best, "full_sd"), 4);
    fmt(p, sizeof p, num(best, "proxy_score"), 4);
    ps_sbuf_printf(b, "<h2>Best configuration at full scale</h2>\n<p class=\"sub\">the config of proxy trial "
                      "<a href=\"#trial-%d\">%d</a> — full-scale Dice <b>%s ± %s</b> over %d replicates (proxy %s)",
                   ps_json_int(best, "trial", 0), ps_json_int(best, "trial", 0), m, sd,
                   cJSON_GetArraySize(ps_json_path(best, "full_scores")), p);
    if (str(best, "predict_command")) { ps_sbuf_puts(b, "<br>use it: <code>"); esc(b, str(best, "predict_command")); ps_sbuf_puts(b, "</code>"); }
    ps_sbuf_puts(b, "</p>\n");
    if (cJSON_IsObject(cfg) && cfg->child) {
      ps_sbuf_puts(b, "<table><tr><th>parameter</th><th>value</th></tr>\n");
      const cJSON *e;
      cJSON_ArrayForEach(e, cfg) {
        char *t = cJSON_IsNumber(e) ? ps_strfmt("%.3g", e->valuedouble) : value_text(e);
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
  const cJSON *w = ps_json_path(rep, "proxy_winner");
  if (w) {
    char p[32], f[32];
    fmt(p, sizeof p, num(w, "proxy_score"), 4);
    fmt(f, sizeof f, num(w, "full_mean"), 4);
    ps_sbuf_printf(b, "<p class=\"sub\">The proxy's winner, trial <a href=\"#trial-%d\">%d</a>: proxy Dice %s; ",
                   ps_json_int(w, "trial", 0), ps_json_int(w, "trial", 0), p);
    if (isfinite(num(w, "full_rank")))
      ps_sbuf_printf(b, "at full scale %s, rank %d of %d.</p>\n", f, ps_json_int(w, "full_rank", 0), ps_json_int(w, "of", 0));
    else
      ps_sbuf_puts(b, "not re-trained at full scale.</p>\n");
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
  if (pn) ps_sbuf_printf(b, " · network width ×%.3g, %.3g stage(s) fewer", num(pn, "width"), num(pn, "depth"));
  if (cJSON_IsNumber(ps_json_path(rep, "seed"))) ps_sbuf_printf(b, " · seed %.0f", num(rep, "seed"));
  const char *ver = str(rep, "version");
  if (!ver) ver = str(rep, "versions.proxyseg");
  if (ver) { ps_sbuf_puts(b, " · proxyseg "); esc(b, ver); }
  ps_sbuf_puts(b, "</p>\n");
}

static void scatter_plots(ps_sbuf *b, const cJSON *c, const char *where) {
  const cJSON *pairs = ps_json_path(c, "pairs");
  int n = cJSON_GetArraySize(pairs), m = 0;
  if (n < 1) return;
  double *x = malloc(6 * (size_t)n * sizeof *x);
  int *id = malloc((size_t)n * sizeof *id);
  if (!x || !id) { free(x); free(id); b->oom = 1; return; }
  double *y = x + n, *rx = x + 2 * n, *ry = x + 3 * n, *ex = x + 4 * n, *ey = x + 5 * n;
  const cJSON *p;
  cJSON_ArrayForEach(p, pairs) {
    double a = num(p, "proxy_score"), f = num(p, "full_score");
    if (!isfinite(a) || !isfinite(f)) continue;
    x[m] = a; y[m] = f; ex[m] = num(p, "proxy_sd"); ey[m] = num(p, "full_sd"); id[m] = ps_json_int(p, "trial", m); m++;
  }
  if (m < 1) { free(x); free(id); return; }
  int win = -1, truth = -1;
  for (int i = 0; i < m; i++) {
    if (win < 0 || x[i] > x[win]) win = i;
    if (truth < 0 || y[i] > y[truth]) truth = i;
  }
  char title[200], tip[160], rho[32], ceil[32];
  fmt(rho, sizeof rho, num(c, "spearman.value"), 3);
  fmt(ceil, sizeof ceil, num(c, "noise_ceiling.value"), 2);
  /* score space: replicate means with ±1 SD bars; no y = x line, the two scales differ */
  ps_svg_plot pl = {0};
  double *lo = malloc(2 * (size_t)m * sizeof *lo);
  if (!lo) { free(x); free(id); b->oom = 1; return; }
  double *hi = lo + m;
  for (int i = 0; i < m; i++) { lo[i] = y[i] - (isfinite(ey[i]) ? ey[i] : 0); hi[i] = y[i] + (isfinite(ey[i]) ? ey[i] : 0); }
  double yr[2] = {INFINITY, -INFINITY};
  for (int i = 0; i < m; i++) { yr[0] = fmin(yr[0], lo[i]); yr[1] = fmax(yr[1], hi[i]); }
  ps_svg_axis_fit(&pl.x, x, m, 0);
  ps_svg_axis_fit(&pl.y, yr, 2, 0);
  snprintf(title, sizeof title, "%s: proxy vs full (ρ = %s, noise ceiling %s, n = %d)", where, rho, ceil, m);
  fig_open(b);
  ps_svg_begin(&pl, b, PLOT_W, PLOT_H, title, "proxy score (validation Dice)", "full score, replicate mean ± SD");
  for (int i = 0; i < m; i++) {
    if (isfinite(ey[i])) ps_svg_line(&pl, x[i], lo[i], x[i], hi[i], "err");
    if (isfinite(ex[i])) ps_svg_line(&pl, x[i] - ex[i], y[i], x[i] + ex[i], y[i], "err");
  }
  for (int i = 0; i < m; i++) {
    snprintf(tip, sizeof tip, "trial %d: proxy %.4f, full %.4f ± %.4f", id[i], x[i], y[i], isfinite(ey[i]) ? ey[i] : 0.0);
    ps_svg_point(&pl, x[i], y[i], i == win ? 7 : 5, i == win ? "win" : "pt", tip);
  }
  if (truth >= 0) ps_svg_point(&pl, x[truth], y[truth], 10, "truth", "best at full scale");
  ps_svg_legend(&pl, 0, 'o', "pt", "configuration");
  ps_svg_legend(&pl, 1, 'o', "win", "proxy's winner");
  ps_svg_legend(&pl, 2, 'o', "truth", "best at full scale");
  ps_svg_legend(&pl, 3, '-', "err", "± SD over seeds");
  ps_svg_end(&pl);
  free(lo);
  fig_close(b, "Each point is one configuration trained on the proxy and again at full scale with several seeds; "
               "bars show the seed noise. The noise ceiling is the highest ρ a perfect proxy could expect.");

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
    snprintf(title, sizeof title, "%s: rank agreement (ρ = %s, τ-b = %s)", where, rho, kt);
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

/* Slice plots as one grid of small multiples, most important parameter first,
 * at most MAX_SLICES (the rest are in the trials table and trials.csv). */
#define MAX_SLICES 12
static void slices(ps_sbuf *b, const trial_row *t, int n, const cJSON *importance) {
  int nk = 0;
  const char **keys = param_keys(t, n, true, &nk);
  if (!keys) { b->oom = 1; return; }
  const char **order = calloc((size_t)(nk ? nk : 1), sizeof *order);
  if (!order) { free(keys); b->oom = 1; return; }
  int no = 0;
  const cJSON *e;
  cJSON_ArrayForEach(e, importance) {
    const char *k = str(e, "param");
    for (int j = 0; k && j < nk; j++)
      if (keys[j] && !strcmp(keys[j], k)) { order[no++] = keys[j]; keys[j] = NULL; }
  }
  for (int j = 0; j < nk; j++) if (keys[j]) order[no++] = keys[j];
  if (no) {
    ps_sbuf_printf(b, "</div>\n<h3>Slices%s</h3>\n<div class=\"plots small\">\n",
                   importance ? " (most important parameter first)" : "");
    for (int j = 0; j < no && j < MAX_SLICES; j++) slice_plot(b, t, n, order[j]);
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
    double v = num(e, "value");
    ps_sbuf_puts(b, "<div class=\"ib\"><span class=\"nm\">");
    esc(b, str(e, "param"));
    ps_sbuf_printf(b, "</span><span class=\"bar\" style=\"width:%.0fpx\"></span><span>%.2f</span></div>\n",
                   isfinite(v) ? 4 + 300 * v : 0.0, isfinite(v) ? v : 0.0);
  }
  ps_sbuf_puts(b, "</div>\n");
}

/* Parallel coordinates of the most important parameters and the score: one
 * line per search trial, the best third highlighted. */
static void parallel_coords(ps_sbuf *b, const trial_row *t, int n, const cJSON *importance) {
  enum { MAXD = 6 };
  const char *keys[MAXD];
  int d = 0;
  const cJSON *e;
  cJSON_ArrayForEach(e, importance) if (d < MAXD - 1 && str(e, "param")) keys[d++] = str(e, "param");
  int m = 0;
  for (int i = 0; i < n; i++) m += usable(&t[i]);
  if (d < 1 || m < 3) return;
  double lo[MAXD], hi[MAXD];
  bool lg[MAXD];
  for (int j = 0; j <= d; j++) { lo[j] = INFINITY; hi[j] = -INFINITY; lg[j] = false; }
  for (int pass = 0; pass < 2; pass++)
    for (int i = 0; i < n; i++) {
      if (!usable(&t[i])) continue;
      for (int j = 0; j <= d; j++) {
        double v = j < d ? num(cJSON_GetObjectItemCaseSensitive(t[i].params, keys[j]), NULL) : t[i].value;
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
  for (int i = 0; i < n; i++) if (usable(&t[i])) sc[k++] = t[i].value;
  for (int a = 1; a < m; a++) for (int c = a; c > 0 && sc[c - 1] > sc[c]; c--) { double x = sc[c]; sc[c] = sc[c - 1]; sc[c - 1] = x; }
  double t1 = sc[m / 3], t2 = sc[2 * m / 3];
  free(sc);
  const int W = PLOT_W, H = PLOT_H, ml = 40, mr = 40, mt = 36, mb = 56;
  double step = (double)(W - ml - mr) / d;
  fig_open(b);
  ps_sbuf_printf(b, "<svg class=\"plot\" viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" role=\"img\">"
                    "<title>Parallel coordinates</title><rect class=\"bg\" width=\"%d\" height=\"%d\"/>"
                    "<text class=\"ptitle\" x=\"%d\" y=\"20\">Parallel coordinates: top parameters and the proxy score</text>\n",
                 W, H, W, H, W, H, ml);
  for (int cls = 0; cls < 3; cls++)
    for (int i = 0; i < n; i++) {
      if (!usable(&t[i])) continue;
      int c = t[i].value >= t2 ? 2 : t[i].value >= t1 ? 1 : 0;
      if (c != cls) continue;
      ps_sbuf_printf(b, "<polyline class=\"pc%d\" points=\"", c);
      for (int j = 0; j <= d; j++) {
        double v = j < d ? num(cJSON_GetObjectItemCaseSensitive(t[i].params, keys[j]), NULL) : t[i].value;
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
    esc(b, j < d ? keys[j] : "proxy score");
    ps_sbuf_printf(b, "%s</text>", j < d && lg[j] ? " (log)" : "");
    char l[32], h[32];
    snprintf(l, sizeof l, "%.3g", lg[j] ? pow(10, lo[j]) : lo[j]);
    snprintf(h, sizeof h, "%.3g", lg[j] ? pow(10, hi[j]) : hi[j]);
    ps_sbuf_printf(b, "<text class=\"ticklab\" text-anchor=\"middle\" x=\"%.1f\" y=\"%d\">%s</text>", x, H - mb + 30, l);
    ps_sbuf_printf(b, "<text class=\"ticklab\" text-anchor=\"middle\" x=\"%.1f\" y=\"%d\">%s</text>\n", x, mt - 4, h);
  }
  ps_sbuf_puts(b, "</svg>\n");
  fig_close(b, "Orange: the best third of the search trials by proxy score; light blue: the middle third.");
}

/* Training loss per epoch: the full-scale runs (the winner's highlighted) and the proxy search trials. */
static void learning_curves(ps_sbuf *b, const trial_row *t, int n, int best_ref) {
  for (int side = 0; side < 2; side++) {
    int m = 0, len = 0;
    for (int i = 0; i < n; i++) {
      bool pick = side == 0 ? !strcmp(t[i].phase, "full") : !t[i].full;
      int l = cJSON_GetArraySize(t[i].loss_curve);
      if (pick && l > 1) { m++; if (l > len) len = l; }
    }
    if (m < 1) continue;
    double *x = malloc(2 * (size_t)len * sizeof *x), yr[2] = {INFINITY, -INFINITY}, xr[2] = {1, len};
    if (!x) { b->oom = 1; return; }
    double *y = x + len;
    for (int i = 0; i < n; i++) {
      bool pick = side == 0 ? !strcmp(t[i].phase, "full") : !t[i].full;
      const cJSON *e;
      if (pick) cJSON_ArrayForEach(e, t[i].loss_curve) if (cJSON_IsNumber(e) && isfinite(e->valuedouble)) {
        yr[0] = fmin(yr[0], e->valuedouble);
        yr[1] = fmax(yr[1], e->valuedouble);
      }
    }
    ps_svg_plot p = {0};
    ps_svg_axis_fit(&p.x, xr, 2, 0);
    ps_svg_axis_fit(&p.y, yr, 2, 0);
    p.x.integer = 1;
    fig_open(b);
    ps_svg_begin(&p, b, PLOT_W, PLOT_H, side == 0 ? "Learning curves at full scale" : "Learning curves of the proxy search",
                 "epoch", "training loss");
    for (int pass = 0; pass < 2; pass++)
      for (int i = 0; i < n; i++) {
        bool pick = side == 0 ? !strcmp(t[i].phase, "full") : !t[i].full;
        bool w = (side == 0 ? t[i].ref : t[i].number) == best_ref;
        if (!pick || w != (pass == 1)) continue;
        int k = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, t[i].loss_curve) { x[k] = k + 1; y[k] = cJSON_IsNumber(e) ? e->valuedouble : NAN; k++; }
        ps_svg_polyline(&p, x, y, k, 0, w ? "lcw" : "lc");
      }
    ps_svg_legend(&p, 0, '-', "lc", side == 0 ? "one replicate" : "one trial");
    ps_svg_legend(&p, 1, '-', "lcw", "best configuration at full scale");
    ps_svg_end(&p);
    fig_close(b, NULL);
    free(x);
  }
}

/* The proxy's two levers (factorial) and the ranked subset against others. */
static void levers(ps_sbuf *b, const cJSON *rep) {
  const cJSON *rows = ps_json_path(rep, "factorial.rows"), *rs = ps_json_path(rep, "random_subsets");
  const cJSON *cmp = ps_json_path(rep, "comparison");
  if (!rows && !rs && !cmp) return;
  ps_sbuf_puts(b, "<h2>The proxy's levers</h2>\n");
  if (rows) {
    ps_sbuf_puts(b, "<table><tr><th>proxy</th><th>speed-up per run</th><th>Spearman ρ with full scale</th><th>95% CI</th>"
                    "<th>p</th><th>configs</th></tr>\n");
    const cJSON *r;
    cJSON_ArrayForEach(r, rows) {
      char sp[32], rho[32], lo[32], hi[32];
      fmt(sp, sizeof sp, num(r, "speedup"), 2);
      fmt(rho, sizeof rho, num(r, "spearman.value"), 3);
      fmt(lo, sizeof lo, num(cJSON_GetArrayItem(ps_json_path(r, "spearman.ci95"), 0), NULL), 2);
      fmt(hi, sizeof hi, num(cJSON_GetArrayItem(ps_json_path(r, "spearman.ci95"), 1), NULL), 2);
      ps_sbuf_puts(b, "<tr><td>");
      esc(b, str(r, "name"));
      ps_sbuf_printf(b, "</td><td class=\"n\">%s×</td><td class=\"n\">%s</td><td>[%s, %s]</td><td class=\"n\">%.3g</td>"
                        "<td class=\"n\">%d</td></tr>\n", sp, rho, lo, hi, num(r, "spearman.p_value"), ps_json_int(r, "n", 0));
    }
    ps_sbuf_puts(b, "</table>\n<p class=\"note\">");
    esc(b, str(rep, "factorial.how"));
    ps_sbuf_puts(b, "</p>\n");
  }
  if (rs) {
    ps_sbuf_puts(b, "<p>Ranked subset (");
    esc(b, str(rs, "ranked_method"));
    ps_sbuf_printf(b, ") ρ = %.3f ranks <b>%d of %d</b> against subsets of the same size drawn by '", num(rs, "ranked_rho"),
                   ps_json_int(rs, "rank", 0), ps_json_int(rs, "of", 0));
    esc(b, str(rs, "method"));
    ps_sbuf_puts(b, "': ρ = ");
    const cJSON *e;
    int k = 0;
    cJSON_ArrayForEach(e, ps_json_path(rs, "random_rhos")) ps_sbuf_printf(b, "%s%.3f", k++ ? ", " : "", num(e, NULL));
    ps_sbuf_puts(b, ".</p>\n");
  }
  if (cmp) {
    ps_sbuf_printf(b, "<p class=\"note\">Paired bootstrap, the same configs for both subsets: ρ difference %.3f, 95%% CI "
                      "[%.3f, %.3f], better: ", num(cmp, "diff"), num(cJSON_GetArrayItem(ps_json_path(cmp, "ci95"), 0), NULL),
                   num(cJSON_GetArrayItem(ps_json_path(cmp, "ci95"), 1), NULL));
    esc(b, str(cmp, "better"));
    ps_sbuf_puts(b, ".</p>\n");
  }
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
  ps_sbuf_printf(b, "<h2>All trials (%d)</h2>\n<p class=\"note\">ref: the proxy trial whose configuration a "
                    "re-training runs; replicate: which of its seeds. The same rows are in trials.csv.</p>\n"
                    "<div class=\"tw\"><table>\n<tr><th>#</th><th>phase</th><th>state</th>"
                    "<th>score</th><th>time</th><th>ref</th><th>rep</th>", n);
  for (int j = 0; j < nk; j++) { ps_sbuf_puts(b, "<th>"); esc(b, keys[j]); ps_sbuf_puts(b, "</th>"); }
  ps_sbuf_puts(b, "</tr>\n");
  for (int i = 0; i < n; i++) {
    char v[32], s[32];
    fmt(v, sizeof v, t[i].value, 4);
    fmt_dur(s, sizeof s, t[i].seconds);
    ps_sbuf_printf(b, "<tr id=\"trial-%d\"><td class=\"n\">%d</td><td>", t[i].number, t[i].number);
    esc(b, t[i].phase);
    ps_sbuf_puts(b, "</td><td class=\"");
    /* the state doubles as a CSS class only when it is one of Optuna's */
    const char *st = t[i].state;
    int known = !strcmp(st, "COMPLETE") || !strcmp(st, "PRUNED") || !strcmp(st, "FAIL") || !strcmp(st, "RUNNING");
    ps_sbuf_puts(b, known ? st : "");
    ps_sbuf_puts(b, "\">");
    esc(b, st);
    ps_sbuf_printf(b, "</td><td class=\"n\">%s</td><td class=\"n\">%s</td>", v, s);
    if (t[i].ref >= 0) ps_sbuf_printf(b, "<td class=\"n\"><a href=\"#trial-%d\">%d</a></td>", t[i].ref, t[i].ref);
    else ps_sbuf_puts(b, "<td></td>");
    if (t[i].replicate >= 0) ps_sbuf_printf(b, "<td class=\"n\">%d</td>", t[i].replicate);
    else ps_sbuf_puts(b, "<td></td>");
    for (int j = 0; j < nk; j++) {
      const cJSON *pv = cJSON_GetObjectItemCaseSensitive(t[i].params, keys[j]);
      char *txt = cJSON_IsNumber(pv) ? ps_strfmt("%.3g", pv->valuedouble) : value_text(pv);
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
  verdict_block(&b, report);
  setup_line(&b, report, cases);
  headline(&b, report);
  ps_sbuf_puts(&b, "<h2>Does the proxy rank configurations like full training?</h2>\n<div class=\"plots\">\n");
  scatter_plots(&b, ps_json_path(report, "correlation"), "Internal validation");
  scatter_plots(&b, ps_json_path(report, "correlation_external"), "External set");
  ps_sbuf_puts(&b, "</div>\n");
  levers(&b, report);
  ps_sbuf_puts(&b, "<h2>Search on the proxy</h2>\n<div class=\"plots\">\n");
  best_so_far(&b, t, nt);
  importance_bars(&b, ps_json_path(report, "importance"));
  parallel_coords(&b, t, nt, ps_json_path(report, "importance"));
  reward_plot(&b, report);
  learning_curves(&b, t, nt, ps_json_int(report, "best.trial", -1));
  slices(&b, t, nt, ps_json_path(report, "importance"));
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
