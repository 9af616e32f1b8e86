/* The report of a one-shot study (study_oneshot.h): the re-trained
 * configurations side by side (mean +- SD over seeds, internal and external
 * Dice), which one wins and whether by more than the seed spread, and the
 * algorithm's own view of its search. No rank correlation: a one-shot search
 * ranks nothing. Writes report.json, report.html and report.md. */
#include "study_oneshot.h"
#include "../proxy/svg.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  double v[64];
  int n;
} scores;

static void add_score(scores *s, double v) {
  if (s->n < 64 && isfinite(v)) s->v[s->n++] = v;
}

static double mean_of(const scores *s) {
  double m = 0;
  for (int i = 0; i < s->n; i++) m += s->v[i] / s->n;
  return s->n ? m : NAN;
}

static double sd_of(const scores *s) {
  if (s->n < 2) return NAN;
  double m = mean_of(s), q = 0;
  for (int i = 0; i < s->n; i++) q += (s->v[i] - m) * (s->v[i] - m);
  return sqrt(q / (s->n - 1));
}

static cJSON *num_or_null(double v) { return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull(); }

static cJSON *stats_json(const scores *s) {
  cJSON *o = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(o, "scores");
  for (int i = 0; i < s->n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(s->v[i]));
  cJSON_AddItemToObject(o, "mean", num_or_null(mean_of(s)));
  cJSON_AddItemToObject(o, "sd", num_or_null(sd_of(s)));
  cJSON_AddNumberToObject(o, "n", s->n);
  return o;
}

/* The seed SD: the within-configuration SD pooled over configurations. */
static double pooled_sd(const scores *s, int k) {
  double q = 0;
  int df = 0;
  for (int i = 0; i < k; i++)
    if (s[i].n >= 2) { q += sd_of(&s[i]) * sd_of(&s[i]) * (s[i].n - 1); df += s[i].n - 1; }
  return df ? sqrt(q / df) : NAN;
}

/* One side (internal or external): the winner, the runner-up, and whether
 * the gap exceeds the seed SD; then the result against each baseline, paired
 * by replicate (same seed). */
static cJSON *compare(const ps_oneshot_algo *a, const scores *s, const char *side, char **text) {
  int K = a->n_configs, w = -1, r = -1;
  for (int k = 0; k < K; k++)
    if (s[k].n && (w < 0 || mean_of(&s[k]) > mean_of(&s[w]))) w = k;
  for (int k = 0; k < K; k++)
    if (k != w && s[k].n && (r < 0 || mean_of(&s[k]) > mean_of(&s[r]))) r = k;
  cJSON *o = cJSON_CreateObject();
  double sd = pooled_sd(s, K);
  cJSON_AddItemToObject(o, "seed_sd", num_or_null(sd));
  *text = NULL;
  if (w < 0 || r < 0) {
    cJSON_AddNullToObject(o, "winner");
    *text = ps_strfmt("%s: fewer than two configurations have a score; no comparison.", side);
    return o;
  }
  double gap = mean_of(&s[w]) - mean_of(&s[r]);
  bool exceeds = isfinite(sd) && gap > sd;
  cJSON_AddStringToObject(o, "winner", a->ids[w]);
  cJSON_AddStringToObject(o, "runner_up", a->ids[r]);
  cJSON_AddNumberToObject(o, "gap", gap);
  cJSON_AddBoolToObject(o, "exceeds_seed_sd", exceeds);
  cJSON *vs = cJSON_AddArrayToObject(o, "result_vs_baselines");
  char paired[512];
  snprintf(paired, sizeof paired, " %s against each baseline, paired by seed:", a->labels[0]);
  for (int k = 1; k < K; k++) {
    scores d = {{0}, 0};
    int won = 0;
    for (int i = 0; i < s[0].n && i < s[k].n; i++) {
      add_score(&d, s[0].v[i] - s[k].v[i]);
      won += s[0].v[i] > s[k].v[i];
    }
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "baseline", a->ids[k]);
    cJSON_AddItemToObject(e, "mean_difference", num_or_null(mean_of(&d)));
    cJSON_AddItemToObject(e, "sd_of_paired_differences", num_or_null(sd_of(&d)));
    cJSON_AddNumberToObject(e, "result_better_in", won);
    cJSON_AddNumberToObject(e, "of_seeds", d.n);
    cJSON_AddItemToArray(vs, e);
    size_t at = strlen(paired);
    snprintf(paired + at, sizeof paired - at, "%s %s %+.4f (SD %.4f, better in %d of %d seeds)", k > 1 ? ";" : "",
             a->labels[k], mean_of(&d), sd_of(&d), won, d.n);
  }
  strncat(paired, ".", sizeof paired - strlen(paired) - 1);
  char sdtxt[48];
  if (isfinite(sd)) snprintf(sdtxt, sizeof sdtxt, "the seed SD %.4f", sd);
  else snprintf(sdtxt, sizeof sdtxt, "the seed SD (needs 2+ replicates)");
  *text = ps_strfmt("%s: %s wins, %.4f +- %.4f against %s %.4f +- %.4f (over %d seeds); the gap %.4f %s %s%s.%s",
                    side, a->labels[w], mean_of(&s[w]), sd_of(&s[w]), a->labels[r], mean_of(&s[r]), sd_of(&s[r]),
                    s[w].n, gap, exceeds ? "exceeds" : "does not exceed", sdtxt,
                    exceeds ? "" : ", so the two are not told apart by this many seeds", paired);
  return o;
}

/* The scores of each configuration (by the trial's params "config"), replicate order = trial order. */
static void collect(const ps_oneshot_algo *a, ps_journal *J, const cJSON *external, scores *in, scores *ex,
                    scores *sec) {
  ps_trial **ft;
  int n = ps_journal_phase(J, "full", &ft);
  for (int i = 0; i < n; i++) {
    const char *id = ps_json_str(ft[i]->params, "config", "");
    int k = 0;
    while (k < a->n_configs && strcmp(a->ids[k], id)) k++;
    if (k == a->n_configs || ft[i]->state != PS_TRIAL_COMPLETE) continue;
    add_score(&in[k], ft[i]->value);
    add_score(&sec[k], ft[i]->seconds);
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(external, "trials"))
      if (ps_json_int(e, "trial", -1) == ft[i]->number) add_score(&ex[k], ps_json_num(e, "external_dice", NAN));
  }
  free(ft);
}

static void html_row_stats(ps_sbuf *b, const cJSON *st) {
  if (!st || !ps_json_int(st, "n", 0)) { ps_sbuf_puts(b, "<td class=\"n\">—</td>"); return; }
  ps_sbuf_printf(b, "<td class=\"n\">%.4f ± %.4f <span class=\"note\">(n=%d)</span></td>", ps_json_num(st, "mean", NAN),
                 ps_json_num(st, "sd", NAN), ps_json_int(st, "n", 0));
}

static const char *CSS =
    "body{font:14px/1.45 system-ui,sans-serif;color:#1d2330;background:#f5f6f8;margin:0}"
    "main{max-width:1100px;margin:0 auto;padding:20px 28px 48px}h1{font-size:22px}h2{font-size:17px;margin:26px 0 10px;"
    "border-bottom:1px solid #d8dce3}h3{font-size:15px}.sub,.note{color:#5b6475}.note{font-size:12.5px}"
    ".verdict{background:#fff;border:1px solid #dde1e8;border-left:6px solid #3b75af;border-radius:8px;padding:10px 16px}"
    "table{border-collapse:collapse;background:#fff;font-size:13px}th,td{border-bottom:1px solid #e6e9ee;padding:4px 8px;"
    "text-align:left;white-space:nowrap}th{background:#eef0f4}td.n{text-align:right;font-variant-numeric:tabular-nums}"
    "table.heat td{padding:3px 6px;font-size:12px}.tw{overflow:auto}.fig{background:#fff;border:1px solid #dde1e8;"
    "border-radius:8px;padding:6px;max-width:620px;margin:10px 0}.fig p{margin:2px 8px;color:#5b6475;font-size:12.5px}"
    "code{background:#eef0f4;padding:0 4px}svg.plot{display:block;max-width:100%;height:auto}svg .bg{fill:#fff}"
    "svg .frame{fill:none;stroke:#9aa3b2}svg .grid{stroke:#eceef2}svg .tick{stroke:#9aa3b2}"
    "svg .ticklab{font-size:11px;fill:#4a5263}svg .axlab{font-size:12px;fill:#1d2330}svg .ptitle{font-size:13px;"
    "font-weight:600;fill:#1d2330}svg .curve{fill:none;stroke:#d1495b;stroke-width:2}svg .pt{fill:#3b75af;"
    "fill-opacity:.8;stroke:#fff}svg .win{fill:#f28e2b;stroke:#1d2330}svg .leg{font-size:11px}\n";

static void scores_plot(ps_sbuf *b, const ps_oneshot_algo *a, const scores *in, const char *title) {
  double lo = INFINITY, hi = -INFINITY;
  for (int k = 0; k < a->n_configs; k++)
    for (int i = 0; i < in[k].n; i++) { lo = fmin(lo, in[k].v[i]); hi = fmax(hi, in[k].v[i]); }
  if (!isfinite(lo)) return;
  double pad = fmax(0.01, (hi - lo) * 0.15);
  ps_svg_plot p;
  memset(&p, 0, sizeof p);
  ps_svg_axis_categories(&p.x, a->labels, a->n_configs);
  ps_svg_axis_range(&p.y, fmax(0, lo - pad), fmin(1, hi + pad));
  ps_sbuf_puts(b, "<div class=\"fig\">\n");
  ps_svg_begin(&p, b, 590, 300, title, "configuration", "Dice");
  for (int k = 0; k < a->n_configs; k++) {
    for (int i = 0; i < in[k].n; i++) {
      char tip[64];
      snprintf(tip, sizeof tip, "seed replicate %d: %.4f", i, in[k].v[i]);
      ps_svg_point(&p, k + 0.08 * (i - (in[k].n - 1) / 2.0), in[k].v[i], 4, "pt", tip);
    }
    if (in[k].n) ps_svg_point(&p, k, mean_of(&in[k]), 6, "win", "mean");
  }
  ps_svg_end(&p);
  ps_sbuf_puts(b, "<p>Blue: one seed replicate each; orange: the mean.</p></div>\n");
}

static ps_status write_html(const char *dir, const cJSON *rep, const ps_oneshot_algo *a, const scores *in,
                            const scores *ex, const char *search_html) {
  ps_sbuf b = {0};
  ps_sbuf_printf(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>proxyseg one-shot "
                     "study</title><style>%s</style></head><body><main>\n<h1>One-shot study: ", CSS);
  ps_sbuf_escape(&b, a->algo);
  ps_sbuf_puts(&b, "</h1>\n<p class=\"sub\">");
  ps_sbuf_escape(&b, dir);
  ps_sbuf_puts(&b, "</p>\n<div class=\"verdict\">");
  const cJSON *t;
  cJSON_ArrayForEach(t, ps_json_path(rep, "verdict.lines")) {
    ps_sbuf_puts(&b, "<p>");
    ps_sbuf_escape(&b, t->valuestring);
    ps_sbuf_puts(&b, "</p>");
  }
  ps_sbuf_puts(&b, "</div>\n<h2>Full-scale re-training: mean ± SD over seeds</h2>\n<table><tr><th>configuration</th>"
                   "<th>internal validation Dice</th><th>external Dice</th><th>seconds per run</th></tr>\n");
  const cJSON *row;
  cJSON_ArrayForEach(row, cJSON_GetObjectItemCaseSensitive(rep, "configurations")) {
    ps_sbuf_puts(&b, "<tr><td>");
    ps_sbuf_escape(&b, ps_json_str(row, "label", "?"));
    ps_sbuf_puts(&b, "</td>");
    html_row_stats(&b, cJSON_GetObjectItemCaseSensitive(row, "internal"));
    html_row_stats(&b, cJSON_GetObjectItemCaseSensitive(row, "external"));
    ps_sbuf_printf(&b, "<td class=\"n\">%.1f</td></tr>\n", ps_json_num(row, "seconds_mean", NAN));
  }
  ps_sbuf_printf(&b, "</table>\n<p class=\"note\">Seed SD (within-configuration SD pooled over configurations): "
                     "internal %.4f, external %.4f. Replicate r of every configuration trains with the same seed.</p>\n",
                 ps_json_num(rep, "internal.seed_sd", NAN), ps_json_num(rep, "external.seed_sd", NAN));
  scores_plot(&b, a, in, "internal validation Dice per seed");
  scores_plot(&b, a, ex, "external Dice per seed");
  if (search_html) ps_sbuf_puts(&b, search_html);
  ps_sbuf_printf(&b, "<h2>Time</h2><p>The search (one proxy trial): %.1f s. One full-scale run: %.1f s on average.</p>\n",
                 ps_json_num(rep, "timing.search_seconds", NAN), ps_json_num(rep, "timing.full_run_mean_seconds", NAN));
  ps_sbuf_puts(&b, "<p class=\"note\">Generated by proxyseg " PS_VERSION_STRING ". report.json holds every number; "
                   "trials.csv every trial.</p></main></body></html>\n");
  if (b.oom) { ps_sbuf_free(&b); return ps_error(PS_ERR_NOMEM, "report: out of memory"); }
  char *p = ps_path_join(dir, "report.html");
  ps_status st = ps_write_file_atomic(p, b.s, b.n);
  free(p);
  ps_sbuf_free(&b);
  return st;
}

static void md_stats(ps_sbuf *b, const cJSON *st) {
  if (!st || !ps_json_int(st, "n", 0)) ps_sbuf_puts(b, " — |");
  else ps_sbuf_printf(b, " %.4f ± %.4f (n=%d) |", ps_json_num(st, "mean", NAN), ps_json_num(st, "sd", NAN), ps_json_int(st, "n", 0));
}

static ps_status write_md(const char *dir, const cJSON *rep) {
  ps_sbuf b = {0};
  ps_sbuf_printf(&b, "# One-shot study: %s\n\n", ps_json_str(rep, "algorithm", "?"));
  const cJSON *t;
  cJSON_ArrayForEach(t, ps_json_path(rep, "verdict.lines")) ps_sbuf_printf(&b, "%s\n\n", t->valuestring);
  ps_sbuf_puts(&b, "| configuration | internal Dice (mean ± SD) | external Dice (mean ± SD) | s/run |\n|---|---|---|---|\n");
  const cJSON *row;
  cJSON_ArrayForEach(row, cJSON_GetObjectItemCaseSensitive(rep, "configurations")) {
    ps_sbuf_printf(&b, "| %s |", ps_json_str(row, "label", "?"));
    md_stats(&b, cJSON_GetObjectItemCaseSensitive(row, "internal"));
    md_stats(&b, cJSON_GetObjectItemCaseSensitive(row, "external"));
    ps_sbuf_printf(&b, " %.1f |\n", ps_json_num(row, "seconds_mean", NAN));
  }
  ps_sbuf_printf(&b, "\nSeed SD (pooled within-configuration): internal %.4f, external %.4f.\n"
                     "The search: %.1f s (one proxy trial); one full-scale run: %.1f s on average.\n",
                 ps_json_num(rep, "internal.seed_sd", NAN), ps_json_num(rep, "external.seed_sd", NAN),
                 ps_json_num(rep, "timing.search_seconds", NAN), ps_json_num(rep, "timing.full_run_mean_seconds", NAN));
  if (b.oom) { ps_sbuf_free(&b); return ps_error(PS_ERR_NOMEM, "report: out of memory"); }
  char *p = ps_path_join(dir, "report.md");
  ps_status st = ps_write_file_atomic(p, b.s, b.n);
  free(p);
  ps_sbuf_free(&b);
  return st;
}

ps_status ps_oneshot_report(const char *dir, const cJSON *study, ps_journal *J, const ps_oneshot_algo *a,
                            cJSON **headline) {
  int K = a->n_configs, search = -1;
  ps_trial **pt;
  int n_pt = ps_journal_phase(J, "proxy", &pt);
  double search_s = n_pt ? pt[n_pt - 1]->seconds : NAN;
  if (n_pt) search = pt[n_pt - 1]->number;
  free(pt);
  char *ep = ps_path_join(dir, "external.json");
  cJSON *external = NULL;
  if (ps_path_exists(ep) && ps_json_read(ep, &external)) { ps_warn("%s", ps_last_error()); external = NULL; }
  free(ep);
  scores in[PS_ONESHOT_MAX_CONFIGS] = {0}, ex[PS_ONESHOT_MAX_CONFIGS] = {0}, sec[PS_ONESHOT_MAX_CONFIGS] = {0};
  collect(a, J, external, in, ex, sec);
  cJSON *rep = cJSON_CreateObject(), *verdict = cJSON_AddObjectToObject(rep, "verdict");
  cJSON_AddStringToObject(rep, "kind", "oneshot");
  cJSON_AddStringToObject(rep, "study", dir);
  cJSON_AddStringToObject(rep, "algorithm", a->algo);
  cJSON_AddNumberToObject(rep, "seed", ps_json_num(study, "seed", 0));
  cJSON_AddNumberToObject(rep, "search_trial", search);
  cJSON *rows = cJSON_AddArrayToObject(rep, "configurations");
  scores all_sec = {{0}, 0};
  for (int k = 0; k < K; k++) {
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "id", a->ids[k]);
    cJSON_AddStringToObject(r, "label", a->labels[k]);
    cJSON_AddBoolToObject(r, "is_result", k == 0);
    cJSON_AddItemToObject(r, "internal", stats_json(&in[k]));
    cJSON_AddItemToObject(r, "external", external ? stats_json(&ex[k]) : cJSON_CreateNull());
    cJSON_AddItemToObject(r, "seconds_mean", num_or_null(mean_of(&sec[k])));
    cJSON_AddItemToArray(rows, r);
    for (int i = 0; i < sec[k].n; i++) add_score(&all_sec, sec[k].v[i]);
  }
  char *t_in = NULL, *t_ex = NULL;
  cJSON_AddItemToObject(rep, "internal", compare(a, in, "internal validation", &t_in));
  if (external) cJSON_AddItemToObject(rep, "external", compare(a, ex, "external set", &t_ex));
  const char *w = ps_json_str(cJSON_GetObjectItemCaseSensitive(rep, "internal"), "winner", NULL);
  bool won = w && !strcmp(w, a->ids[0]);
  cJSON_AddStringToObject(verdict, "label", !w ? "incomplete" : won ? "result_wins" : "baseline_wins");
  bool clear = ps_json_bool(cJSON_GetObjectItemCaseSensitive(rep, "internal"), "exceeds_seed_sd", false);
  char *text = NULL;
  if (!w) text = ps_strfmt("Not enough full-scale runs finished to compare.");
  else if (won) text = ps_strfmt("%s wins on internal validation%s.", a->labels[0], clear ? ", by more than the seed SD" : ", but by less than the seed SD");
  else {
    int k = 0;
    while (strcmp(a->ids[k], w)) k++;
    text = ps_strfmt("%s does not win on internal validation: %s is best.", a->labels[0], a->labels[k]);
  }
  cJSON_AddStringToObject(verdict, "text", text);
  cJSON *lines = cJSON_AddArrayToObject(verdict, "lines");
  cJSON_AddItemToArray(lines, cJSON_CreateString(text));
  if (t_in) cJSON_AddItemToArray(lines, cJSON_CreateString(t_in));
  if (t_ex) cJSON_AddItemToArray(lines, cJSON_CreateString(t_ex));
  free(text);
  free(t_in);
  free(t_ex);
  cJSON *tm = cJSON_AddObjectToObject(rep, "timing");
  cJSON_AddItemToObject(tm, "search_seconds", num_or_null(search_s));
  cJSON_AddItemToObject(tm, "full_run_mean_seconds", num_or_null(mean_of(&all_sec)));
  cJSON_AddStringToObject(tm, "how", "sums of trial wall times: the search is one proxy trial (proxy data, proxy "
                                     "network); a full run is one re-training at full scale");
  /* the search itself, as the algorithm shows it */
  cJSON *sec_json = NULL;
  char *search_html = NULL;
  ps_status st = PS_OK;
  if (a->report && search >= 0) {
    char *td = ps_trial_dir(dir, search);
    st = a->report(td, &sec_json, &search_html);
    free(td);
    if (st) {
      ps_warn("report: the search's own section is missing: %s", ps_last_error());
      st = PS_OK;
    }
  }
  if (sec_json) cJSON_AddItemToObject(rep, "search", sec_json);
  char *rb = ps_path_join(dir, "best/best.json");
  cJSON *best = NULL;
  if (ps_path_exists(rb) && !ps_json_read(rb, &best)) cJSON_AddItemToObject(rep, "best", best);
  else ps_clear_error();
  free(rb);
  char *rp = ps_path_join(dir, "report.json");
  st = ps_json_write(rp, rep);
  free(rp);
  if (!st) st = write_html(dir, rep, a, in, ex, search_html);
  if (!st) st = write_md(dir, rep);
  if (!st && headline) *headline = cJSON_Duplicate(rep, 1);
  free(search_html);
  cJSON_Delete(rep);
  cJSON_Delete(external);
  return st;
}
