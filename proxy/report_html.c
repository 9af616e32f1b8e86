/* The study's self-contained HTML report (see proxyseg/report.h): the page
 * and its own sections (verdict, headline cards, best configuration, time,
 * cases, trials table); report_corr.c and report_search.c draw the rest.
 * Inline SVG and CSS, every input string escaped, no scripts. */
#include "proxyseg/report.h"
#include "report_page.h"
#include <stdlib.h>
#include <string.h>

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
    "td,th{white-space:nowrap}.tw.narrow{max-width:560px;margin-bottom:10px}.tw{margin-bottom:8px}\n"
    "ul.sub{padding-left:20px}h3{font-size:15px;margin:18px 0 8px}\n"
    ".ib{display:flex;align-items:center;gap:8px;margin:2px 0;font-size:13px}.ib .nm{width:240px;overflow:hidden;"
    "text-overflow:ellipsis}.ib .bar{height:12px;background:#3b75af;border-radius:2px}\n"
    "svg .err{stroke:#3b75af;stroke-width:1.2;stroke-opacity:.7}svg .lc{fill:none;stroke:#3b75af;stroke-opacity:.45;"
    "stroke-width:1}svg .lcw{fill:none;stroke:#f28e2b;stroke-width:2.4}\n"
    "svg .pc0{fill:none;stroke:#c0c6d0;stroke-width:1}svg .pc1{fill:none;stroke:#7fa7d0;stroke-width:1.2}"
    "svg .pc2{fill:none;stroke:#f28e2b;stroke-width:2}svg .pax{stroke:#4a5263}\n";

/* ---- helpers shared by the page's files (report_page.h) ---- */

void ps_page_fmt_dur(char *buf, size_t n, double s) {
  if (!isfinite(s)) snprintf(buf, n, "—");
  else if (s < 120) snprintf(buf, n, "%.1f s", s);
  else if (s < 7200) snprintf(buf, n, "%.1f min", s / 60);
  else snprintf(buf, n, "%.2f h", s / 3600);
}

char *ps_page_value_text(const cJSON *v) {
  if (!v || cJSON_IsNull(v)) return ps_strdup("—");
  if (cJSON_IsString(v)) return ps_strdup(v->valuestring);
  if (cJSON_IsBool(v)) return ps_strdup(cJSON_IsTrue(v) ? "true" : "false");
  if (cJSON_IsNumber(v)) return ps_strfmt("%.3g", v->valuedouble);
  char *s = cJSON_PrintUnformatted(v);
  return s ? s : ps_strdup("?");
}

void ps_page_fig_open(ps_sbuf *b) { ps_sbuf_puts(b, "<div class=\"fig\">\n"); }

void ps_page_fig_close(ps_sbuf *b, const char *caption) {
  if (caption) { ps_sbuf_puts(b, "<p>"); ps_page_esc(b, caption); ps_sbuf_puts(b, "</p>"); }
  ps_sbuf_puts(b, "</div>\n");
}

bool ps_page_usable(const ps_page_trial *r) {
  return !r->full && strcmp(r->state, "COMPLETE") == 0 && isfinite(r->value);
}

static void card(ps_sbuf *b, const char *key, const char *value, const char *detail) {
  ps_sbuf_puts(b, "<div class=\"card\"><div class=\"k\">");
  ps_page_esc(b, key);
  ps_sbuf_puts(b, "</div><div class=\"v\">");
  ps_page_esc(b, value);
  ps_sbuf_puts(b, "</div>");
  if (detail) { ps_sbuf_puts(b, "<div class=\"d\">"); ps_page_esc(b, detail); ps_sbuf_puts(b, "</div>"); }
  ps_sbuf_puts(b, "</div>\n");
}

/* ---- trials ---- */

static int cmp_trial(const void *a, const void *b) {
  const ps_page_trial *x = a, *y = b;
  if (x->full != y->full) return x->full - y->full;
  return (x->number > y->number) - (x->number < y->number);
}

static int collect_trials(const cJSON *trials, ps_page_trial **out) {
  int n = cJSON_IsArray(trials) ? cJSON_GetArraySize(trials) : 0, k = 0;
  *out = calloc((size_t)(n ? n : 1), sizeof **out);
  if (!*out) return -1;
  const cJSON *t;
  cJSON_ArrayForEach(t, trials) {
    if (!cJSON_IsObject(t)) continue;
    ps_page_trial *r = &(*out)[k++];
    r->number = ps_json_int(t, "number", k - 1);
    r->state = ps_json_str(t, "state", "COMPLETE");
    r->value = ps_page_num(t, "value");
    r->seconds = ps_page_num(t, "seconds");
    r->params = ps_json_path(t, "params");
    r->phase = ps_json_str(t, "phase", "proxy");
    r->full = strcmp(r->phase, "proxy") != 0;
    r->ref = ps_json_int(t, "ref", -1);
    r->replicate = ps_json_int(t, "replicate", -1);
    r->val_curve = ps_json_path(t, "curve.val_dice");
    r->loss_curve = ps_json_path(t, "curve.train_loss");
  }
  qsort(*out, (size_t)k, sizeof **out, cmp_trial);
  return k;
}

/* ---- sections ---- */

/* The verdict comes first: it is what the study is for. */
static void verdict_block(ps_sbuf *b, const cJSON *rep) {
  const cJSON *v = ps_json_path(rep, "verdict");
  if (!v) return;
  const char *code = ps_page_str(v, "code") ? ps_page_str(v, "code") : "";
  bool known = !strcmp(code, "informative") || !strcmp(code, "not_informative") || !strcmp(code, "inconclusive");
  ps_sbuf_printf(b, "<div class=\"verdict %s\"><div class=\"lab\">", known ? code : "");
  ps_page_esc(b, ps_page_str(v, "label"));
  ps_sbuf_puts(b, "</div><div class=\"txt\">");
  ps_page_esc(b, ps_page_str(v, "text"));
  ps_sbuf_puts(b, "</div>");
  if (ps_page_str(v, "advice")) { ps_sbuf_puts(b, "<div class=\"txt\"><b>What to do:</b> "); ps_page_esc(b, ps_page_str(v, "advice")); ps_sbuf_puts(b, "</div>"); }
  if (ps_page_str(v, "rule")) {
    ps_sbuf_puts(b, "<div class=\"rule\">Rule: ");
    ps_page_esc(b, ps_page_str(v, "rule"));
    ps_sbuf_puts(b, "</div>");
  }
  ps_sbuf_puts(b, "</div>\n");
}

static void speed_card(ps_sbuf *b, const char *key, const cJSON *sp) {
  char v[64], d[320], a1[32], a2[32];
  double f = ps_page_num(sp, "factor");
  if (isfinite(f)) snprintf(v, sizeof v, "%.1f×", f);
  else snprintf(v, sizeof v, "—");
  ps_page_fmt_dur(a1, sizeof a1, ps_page_num(sp, "full_seconds"));
  ps_page_fmt_dur(a2, sizeof a2, ps_page_num(sp, "proxy_seconds"));
  snprintf(d, sizeof d, "full %s / proxy %s — %s", a1, a2, ps_json_str(sp, "how", "how not recorded"));
  card(b, key, v, d);
}

/* The numbers the verdict rests on, and the two speed-ups; the full table is
 * in the agreement section (report_corr.c). */
static void headline(ps_sbuf *b, const cJSON *rep) {
  const cJSON *c = ps_json_path(rep, "correlation"), *sp = ps_json_path(rep, "speedup");
  if (!c && !sp) return;
  char v[96], d[320], lo[32], hi[32];
  ps_sbuf_puts(b, "<div class=\"cards\">\n");
  if (c) {
    const cJSON *s = ps_json_path(c, "spearman");
    ps_page_fmt(v, sizeof v, ps_page_num(s, "value"), 3);
    ps_page_fmt(lo, sizeof lo, ps_page_at(s, "ci95", 0), 2);
    ps_page_fmt(hi, sizeof hi, ps_page_at(s, "ci95", 1), 2);
    if (!isfinite(ps_page_num(s, "value")) && ps_page_str(c, "reason")) snprintf(d, sizeof d, "%s", ps_page_str(c, "reason"));
    else snprintf(d, sizeof d, "proxy vs full-scale replicate means; 95%% CI [%s, %s], p = %.3g, %d configs × %d runs",
                  lo, hi, ps_page_num(s, "p_value"), ps_json_int(c, "n", 0) - ps_json_int(c, "n_dropped", 0),
                  ps_json_int(c, "R", 1));
    card(b, "Spearman ρ", v, d);
    ps_page_fmt(v, sizeof v, ps_page_num(c, "noise_ceiling.value"), 3);
    card(b, "Noise ceiling", v, "the ρ a perfect proxy could reach, given how much full training disagrees with "
                               "itself across seeds");
  }
  if (sp) {
    speed_card(b, "Search speed-up", ps_json_path(sp, "search") ? ps_json_path(sp, "search") : sp);
    if (ps_json_path(sp, "end_to_end")) speed_card(b, "End-to-end speed-up", ps_json_path(sp, "end_to_end"));
  }
  ps_sbuf_puts(b, "</div>\n");
}

/* The full-scale winner, and the proxy's own winner under its own label. */
static void best_section(ps_sbuf *b, const cJSON *rep) {
  const cJSON *best = ps_json_path(rep, "best"), *w = ps_json_path(rep, "proxy_winner");
  if (!best && !w) return;
  ps_sbuf_puts(b, "<h2>Best configuration at full scale</h2>\n");
  if (best) {
    const cJSON *cfg = ps_json_path(best, "params");
    char m[32], sd[32], p[32];
    int tr = ps_json_int(best, "trial", 0);
    ps_page_fmt(m, sizeof m, ps_page_num(best, "full_mean"), 4);
    ps_page_fmt(sd, sizeof sd, ps_page_num(best, "full_sd"), 4);
    ps_page_fmt(p, sizeof p, ps_page_num(best, "proxy_score"), 4);
    ps_sbuf_printf(b, "<p class=\"sub\">The configuration of proxy trial <a href=\"#trial-%d\">%d</a>: full-scale "
                      "Dice <b>%s ± %s</b> (mean ± SD over %d runs with different seeds); on the proxy %s.",
                   tr, tr, m, sd, cJSON_GetArraySize(ps_json_path(best, "full_scores")), p);
    if (ps_page_str(best, "predict_command")) {
      ps_sbuf_puts(b, "<br>Use it: <code>");
      ps_page_esc(b, ps_page_str(best, "predict_command"));
      ps_sbuf_puts(b, "</code>");
    }
    ps_sbuf_puts(b, "</p>\n");
    if (cJSON_IsObject(cfg) && cfg->child) {
      ps_sbuf_puts(b, "<div class=\"tw narrow\"><table><tr><th>searched parameter</th><th>value</th></tr>\n");
      const cJSON *e;
      cJSON_ArrayForEach(e, cfg) {
        char *t = ps_page_value_text(e);
        ps_sbuf_puts(b, "<tr><td>");
        ps_page_esc(b, e->string);
        ps_sbuf_puts(b, "</td><td>");
        ps_page_esc(b, t);
        ps_sbuf_puts(b, "</td></tr>\n");
        free(t);
      }
      ps_sbuf_puts(b, "</table></div>\n");
    }
  }
  if (w) {
    char p[32], f[32];
    int tr = ps_json_int(w, "trial", 0);
    ps_page_fmt(p, sizeof p, ps_page_num(w, "proxy_score"), 4);
    ps_page_fmt(f, sizeof f, ps_page_num(w, "full_mean"), 4);
    ps_sbuf_printf(b, "<p class=\"sub\"><b>The proxy's winner</b> (best proxy score), trial <a href=\"#trial-%d\">%d</a>: "
                      "proxy Dice %s; ", tr, tr, p);
    if (isfinite(ps_page_num(w, "full_rank")))
      ps_sbuf_printf(b, "at full scale %s, rank %d of %d%s.</p>\n", f, ps_json_int(w, "full_rank", 0),
                     ps_json_int(w, "of", 0), best && ps_json_int(best, "trial", -1) == tr ? " (the same configuration)" : "");
    else
      ps_sbuf_puts(b, "not re-trained at full scale.</p>\n");
  }
}

static void setup_line(ps_sbuf *b, const cJSON *rep, const cJSON *cases) {
  const cJSON *pd = ps_json_path(rep, "proxy.data"), *pn = ps_json_path(rep, "proxy.network");
  ps_sbuf_puts(b, "<p class=\"sub\">");
  const char *items[][2] = {{"study", ps_page_str(rep, "study") ? ps_page_str(rep, "study") : ps_page_str(rep, "name")},
                            {"dataset", ps_page_str(rep, "dataset")},
                            {"algorithm", ps_page_str(rep, "algorithm")},
                            {"proxy data", ps_page_str(pd, "method") ? ps_page_str(pd, "method") : ps_page_str(cases, "method")}};
  int first = 1;
  for (size_t i = 0; i < sizeof items / sizeof *items; i++) {
    if (!items[i][1]) continue;
    ps_sbuf_puts(b, first ? "" : " · ");
    ps_page_esc(b, items[i][0]);
    ps_sbuf_puts(b, " <b>");
    ps_page_esc(b, items[i][1]);
    ps_sbuf_puts(b, "</b>");
    first = 0;
  }
  double fr = ps_page_num(pd, "fraction");
  if (!isfinite(fr)) fr = ps_page_num(cases, "fraction");
  if (isfinite(fr)) ps_sbuf_printf(b, " · %.0f%% of the cases", 100 * fr);
  if (pn) ps_sbuf_printf(b, " · network width ×%.3g, %.3g stage(s) fewer", ps_page_num(pn, "width"), ps_page_num(pn, "depth"));
  if (cJSON_IsNumber(ps_json_path(rep, "seed"))) ps_sbuf_printf(b, " · seed %.0f", ps_page_num(rep, "seed"));
  const char *ver = ps_page_str(rep, "version");
  if (!ver) ver = ps_page_str(rep, "versions.proxyseg");
  if (ver) { ps_sbuf_puts(b, " · proxyseg "); ps_page_esc(b, ver); }
  ps_sbuf_puts(b, "</p>\n");
}

/* The searched parameter names of the trials, in order of first appearance,
 * once each (usable_only: only trials with a finite score). NULL on OOM. */
const char **ps_page_param_keys(const ps_page_trial *t, int n, bool usable_only, int *nk_out) {
  const char **keys = NULL;
  int nk = 0, cap = 0;
  for (int i = 0; i < n; i++) {
    if ((usable_only && !ps_page_usable(&t[i])) || !cJSON_IsObject(t[i].params)) continue;
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

/* One speed-up figure as a sentence: factor, the two sides, how, in detail. */
static void speed_line(ps_sbuf *b, const char *name, const cJSON *sp) {
  if (!sp) return;
  char f[32], a1[32], a2[32];
  ps_page_fmt(f, sizeof f, ps_page_num(sp, "factor"), 1);
  ps_page_fmt_dur(a1, sizeof a1, ps_page_num(sp, "full_seconds"));
  ps_page_fmt_dur(a2, sizeof a2, ps_page_num(sp, "proxy_seconds"));
  ps_sbuf_printf(b, "<li><b>%s: %s×</b> (full scale %s, proxy %s) — ", name, f, a1, a2);
  ps_page_esc(b, ps_json_str(sp, "how", "how not recorded"));
  if (ps_page_str(sp, "detail")) { ps_sbuf_puts(b, ": "); ps_page_esc(b, ps_page_str(sp, "detail")); }
  ps_sbuf_puts(b, ".</li>\n");
}

/* The two speed-ups with how each was obtained, and where the time went:
 * timing (seconds per part of the study), else speedup.end_to_end.parts. */
static void speedup_section(ps_sbuf *b, const cJSON *rep) {
  static const char *known[][2] = {{"preprocessing", "preprocessing"}, {"proxy_data", "proxy data"},
                                   {"warm_start", "warm start"}, {"proxy_search", "proxy search"},
                                   {"proxy_replicates", "proxy replicates"}, {"full_retraining", "full re-training"},
                                   {"full_search", "full search"}, {"other", "other"}};
  const cJSON *sp = ps_json_path(rep, "speedup"), *tm = ps_json_path(rep, "timing"), *e;
  if (!tm) tm = ps_json_path(sp, "end_to_end.parts");
  const char *lab[16];
  double sec[16];
  int n = 0;
  cJSON_ArrayForEach(e, tm) {
    /* parts that took no time (a step the study skipped) would only clutter the axis */
    if (n >= 16 || !cJSON_IsNumber(e) || !(e->valuedouble > 0) || !e->string || !strcmp(e->string, "total")) continue;
    lab[n] = e->string;
    for (size_t k = 0; k < sizeof known / sizeof *known; k++)
      if (!strcmp(e->string, known[k][0])) lab[n] = known[k][1];
    sec[n++] = e->valuedouble;
  }
  if (!sp && !n) return;
  ps_sbuf_puts(b, "<h2>Speed-up</h2>\n");
  if (sp) {
    ps_sbuf_puts(b, "<ul class=\"sub\">\n");
    speed_line(b, "Search", ps_json_path(sp, "search") ? ps_json_path(sp, "search") : sp);
    speed_line(b, "End to end", ps_json_path(sp, "end_to_end"));
    ps_sbuf_puts(b, "</ul>\n");
  }
  if (!n) return;
  double mx = 0, total = 0;
  for (int i = 0; i < n; i++) { mx = fmax(mx, sec[i]); total += sec[i]; }
  double unit = mx >= 7200 ? 3600 : mx >= 120 ? 60 : 1;
  ps_svg_plot p = {0};
  ps_svg_axis_categories(&p.x, lab, n);
  ps_svg_axis_range(&p.y, 0, mx / unit * 1.15);
  char title[96], ylab[64], v[48], pct[64];
  ps_page_fmt_dur(v, sizeof v, total);
  snprintf(title, sizeof title, "Where the time went (total %s)", v);
  snprintf(ylab, sizeof ylab, "wall-clock %s", unit == 3600 ? "hours" : unit == 60 ? "minutes" : "seconds");
  ps_sbuf_puts(b, "<div class=\"plots\">\n");
  ps_page_fig_open(b);
  ps_svg_begin(&p, b, PLOT_W, PLOT_H, title, NULL, ylab);
  for (int i = 0; i < n; i++) {
    ps_page_fmt_dur(v, sizeof v, sec[i]);
    ps_svg_bar(&p, i, 0.6, 0, sec[i] / unit, "bar", v);
    snprintf(pct, sizeof pct, "%s (%.0f%%)", v, 100 * sec[i] / total);
    ps_svg_text(&p, i, sec[i] / unit + mx / unit * 0.03, "middle", "barlab", pct);
  }
  ps_svg_end(&p);
  ps_page_fig_close(b, "Sums of trial wall times per part of the study, so concurrent trials flatter neither side.");
  ps_sbuf_puts(b, "</div>\n");
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
    sc[i] = ps_page_num(c, "score");
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
  ps_page_fig_open(b);
  ps_svg_begin(&p, b, PLOT_W, n <= 40 && n > 6 ? PLOT_H + 40 : PLOT_H, title, n <= 40 ? NULL : "rank (0 = kept first)",
               "case score");
  for (int k = 0; k < n; k++) {
    snprintf(tip, sizeof tip, "%.120s: score %.4g, rank %d%s", ids[k], sc[k], rk[k], kept[k] ? ", kept" : "");
    ps_svg_bar(&p, rk[k], 0.7, 0, isfinite(sc[k]) ? sc[k] : 0, kept[k] ? "bark" : "barn", tip);
  }
  ps_svg_legend(&p, 0, 'o', "bark", "kept (proxy data)");
  ps_svg_legend(&p, 1, 'o', "barn", "left out");
  ps_svg_end(&p);
  ps_page_fig_close(b, "Bars in rank order; the method's score of each case (hover for the case id).");
  free(sc); free(rk); free(kept); free(ids); free(cat);
}

static void trials_table(ps_sbuf *b, const ps_page_trial *t, int n) {
  if (n < 1) return;
  int nk = 0;
  const char **keys = ps_page_param_keys(t, n, false, &nk);
  if (!keys) { b->oom = 1; return; }
  ps_sbuf_printf(b, "<h2>All trials (%d)</h2>\n<p class=\"note\">value: validation Dice; ref: the proxy trial whose "
                    "configuration a re-training runs; replicate: which of its seeded runs; searched parameters to 3 "
                    "significant digits. The same rows, unrounded, are in trials.csv.</p>\n"
                    "<div class=\"tw\"><table>\n<tr><th>number</th><th>phase</th><th>state</th>"
                    "<th>value</th><th>seconds</th><th>ref</th><th>replicate</th>", n);
  for (int j = 0; j < nk; j++) { ps_sbuf_puts(b, "<th>"); ps_page_esc(b, keys[j]); ps_sbuf_puts(b, "</th>"); }
  ps_sbuf_puts(b, "</tr>\n");
  for (int i = 0; i < n; i++) {
    char v[32], s[32];
    ps_page_fmt(v, sizeof v, t[i].value, 4);
    ps_page_fmt(s, sizeof s, t[i].seconds, 1);
    ps_sbuf_printf(b, "<tr id=\"trial-%d\"><td class=\"n\">%d</td><td>", t[i].number, t[i].number);
    ps_page_esc(b, t[i].phase);
    ps_sbuf_puts(b, "</td><td class=\"");
    /* the state doubles as a CSS class only when it is one of Optuna's */
    const char *st = t[i].state;
    int known = !strcmp(st, "COMPLETE") || !strcmp(st, "PRUNED") || !strcmp(st, "FAIL") || !strcmp(st, "RUNNING");
    ps_sbuf_puts(b, known ? st : "");
    ps_sbuf_puts(b, "\">");
    ps_page_esc(b, st);
    ps_sbuf_printf(b, "</td><td class=\"n\">%s</td><td class=\"n\">%s</td>", v, s);
    if (t[i].ref >= 0) ps_sbuf_printf(b, "<td class=\"n\"><a href=\"#trial-%d\">%d</a></td>", t[i].ref, t[i].ref);
    else ps_sbuf_puts(b, "<td></td>");
    if (t[i].replicate >= 0) ps_sbuf_printf(b, "<td class=\"n\">%d</td>", t[i].replicate);
    else ps_sbuf_puts(b, "<td></td>");
    for (int j = 0; j < nk; j++) {
      const cJSON *pv = cJSON_GetObjectItemCaseSensitive(t[i].params, keys[j]);
      char *txt = ps_page_value_text(pv);
      ps_sbuf_puts(b, "<td>");
      ps_page_esc(b, txt);
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
      ps_page_fmt(v, sizeof v, ps_page_num(c, "score"), 4);
      ps_sbuf_printf(b, "<tr><td class=\"n\">%d</td><td>", r);
      ps_page_esc(b, ps_json_str(c, "id", "?"));
      ps_sbuf_printf(b, "</td><td class=\"n\">%s</td><td>%s</td></tr>\n", v, ps_json_bool(c, "kept", false) ? "✓" : "");
    }
  ps_sbuf_puts(b, "</table></div></details>\n");
}

ps_status ps_report_html_string(const cJSON *report, const cJSON *trials, const cJSON *cases, char **html) {
  *html = NULL;
  ps_sbuf b = {0};
  ps_page_trial *t = NULL;
  int nt = collect_trials(trials, &t);
  if (nt < 0) return ps_error(PS_ERR_NOMEM, "report: out of memory");
  const char *name = ps_page_str(report, "study") ? ps_page_str(report, "study") : ps_page_str(report, "name");
  char ts[40];
  ps_timestamp_iso(ts, sizeof ts);
  ps_sbuf_puts(&b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                   "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>proxyseg report");
  if (name) { ps_sbuf_puts(&b, " — "); ps_page_esc(&b, name); }
  ps_sbuf_printf(&b, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<main>\n", CSS);
  ps_sbuf_puts(&b, "<h1>Proxy study report");
  if (name) { ps_sbuf_puts(&b, ": "); ps_page_esc(&b, name); }
  ps_sbuf_puts(&b, "</h1>\n");
  verdict_block(&b, report);
  setup_line(&b, report, cases);
  headline(&b, report);
  /* the order of the questions a reader asks: does the proxy work, what does
   * it save, what should I use, how did the search go, what was run */
  ps_page_agreement(&b, report);
  speedup_section(&b, report);
  best_section(&b, report);
  ps_page_search(&b, t, nt, report);
  if (cJSON_GetArraySize(ps_json_path(cases, "cases")) > 0) {
    ps_sbuf_puts(&b, "<h2>Proxy data</h2>\n<div class=\"plots\">\n");
    case_plot(&b, cases);
    ps_sbuf_puts(&b, "</div>\n");
    cases_table(&b, cases);
  }
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
