/* The report's answer to "does the proxy rank configurations like full
 * training?": the statistics table, proxy-vs-full scatters with seed-noise bars
 * (internal and external set side by side), rank plots, and the proxy's levers
 * (data/network factorial, the ranked subset among random subsets). */
#include "report_page.h"
#include "proxyseg/stats.h"
#include <stdlib.h>
#include <string.h>

/* ---- the statistics table ---- */

/* value, 95% CI and one-sided p of one statistic as three cells */
static void stat_cells(ps_sbuf *b, const cJSON *s) {
  char v[32], lo[32], hi[32];
  ps_page_fmt(v, sizeof v, ps_page_num(s, "value"), 3);
  ps_page_fmt(lo, sizeof lo, ps_page_at(s, "ci95", 0), 2);
  ps_page_fmt(hi, sizeof hi, ps_page_at(s, "ci95", 1), 2);
  ps_sbuf_printf(b, "<td class=\"n\">%s</td><td>", v);
  if (isfinite(ps_page_at(s, "ci95", 0))) ps_sbuf_printf(b, "[%s, %s]", lo, hi);
  ps_sbuf_puts(b, "</td><td class=\"n\">");
  double p = ps_page_num(s, "p_value");
  if (isfinite(p)) ps_sbuf_printf(b, "%.3g%s", p, cJSON_IsTrue(ps_json_path(s, "p_exact")) ? " (exact)" : "");
  ps_sbuf_puts(b, "</td>");
}

/* A value cell plus two empty ones, for rows without interval or p. */
static void plain_cells(ps_sbuf *b, double v, int digits, const char *detail) {
  char s[32];
  ps_page_fmt(s, sizeof s, v, digits);
  ps_sbuf_printf(b, "<td class=\"n\">%s</td><td>", s);
  ps_page_esc(b, detail);
  ps_sbuf_puts(b, "</td><td></td>");
}

/* One row per statistic; one column group per set (internal, external). */
static void stats_table(ps_sbuf *b, const cJSON *const *c, const char *const *where, int nc) {
  ps_sbuf_puts(b, "<div class=\"tw\"><table class=\"stats\">\n<tr><th rowspan=\"2\">statistic</th>");
  for (int j = 0; j < nc; j++) {
    ps_sbuf_puts(b, "<th colspan=\"3\">");
    ps_page_esc(b, where[j]);
    ps_sbuf_printf(b, " (%d configs × %d full-scale runs)</th>",
                   ps_json_int(c[j], "n", 0) - ps_json_int(c[j], "n_dropped", 0), ps_json_int(c[j], "R", 1));
  }
  ps_sbuf_puts(b, "</tr>\n<tr>");
  for (int j = 0; j < nc; j++) ps_sbuf_puts(b, "<th>value</th><th>95% CI</th><th>p (one-sided)</th>");
  ps_sbuf_puts(b, "</tr>\n");
  static const char *keys[3] = {"spearman", "kendall", "pearson"};
  static const char *names[3] = {"Spearman ρ", "Kendall τ-b", "Pearson r"};
  for (int k = 0; k < 3; k++) {
    ps_sbuf_printf(b, "<tr><td>%s</td>", names[k]);
    for (int j = 0; j < nc; j++) stat_cells(b, ps_json_path(c[j], keys[k]));
    ps_sbuf_puts(b, "</tr>\n");
  }
  char d[96];
  ps_sbuf_puts(b, "<tr><td>noise ceiling</td>");
  for (int j = 0; j < nc; j++) {
    double sh = ps_page_num(c[j], "noise_ceiling.split_half");
    if (isfinite(sh)) snprintf(d, sizeof d, "split-half ρ %.3f", sh);
    else d[0] = 0;
    plain_cells(b, ps_page_num(c[j], "noise_ceiling.value"), 3, d);
  }
  ps_sbuf_puts(b, "</tr>\n<tr><td>seed SD (pooled within configs)</td>");
  for (int j = 0; j < nc; j++) plain_cells(b, ps_page_num(c[j], "noise.pooled_sd"), 4, NULL);
  ps_sbuf_puts(b, "</tr>\n<tr><td>between-config SD</td>");
  for (int j = 0; j < nc; j++) {
    double r = ps_page_num(c[j], "noise.ratio");
    if (isfinite(r)) snprintf(d, sizeof d, "seed SD / between = %.2f", r);
    else d[0] = 0;
    plain_cells(b, ps_page_num(c[j], "noise.between_sd"), 4, d);
  }
  ps_sbuf_puts(b, "</tr>\n<tr><td>top-k overlap</td>");
  for (int j = 0; j < nc; j++) {
    snprintf(d, sizeof d, "k = %d", ps_json_int(c[j], "topk_overlap.k", 0));
    plain_cells(b, ps_page_num(c[j], "topk_overlap.value"), 2, d);
  }
  ps_sbuf_puts(b, "</tr>\n<tr><td>regret</td>");
  for (int j = 0; j < nc; j++) plain_cells(b, ps_page_num(c[j], "regret"), 4, "best full mean − proxy winner's");
  ps_sbuf_puts(b, "</tr>\n</table></div>\n");
  for (int j = 0; j < nc; j++)
    if (ps_page_str(c[j], "reason")) {
      ps_sbuf_puts(b, "<p class=\"note\">");
      ps_page_esc(b, where[j]);
      ps_sbuf_puts(b, ": ");
      ps_page_esc(b, ps_page_str(c[j], "reason"));
      ps_sbuf_puts(b, "</p>\n");
    }
  ps_sbuf_puts(b, "<p class=\"note\">Statistics on the replicate means. CIs: percentile bootstrap over configurations "
                  "and, within each, its runs. p: permutation test of the pairing (exact over all orderings up to 9 "
                  "configurations). The noise ceiling is the ρ a perfect proxy could expect given the seed noise "
                  "(split-half, Spearman–Brown corrected).</p>\n");
}

/* ---- plots ---- */

typedef struct {
  int m, win, truth; /* points; the proxy's winner; the best at full scale */
  double *x, *y, *ex, *ey;
  int *id;
} pairs_t;

static void pairs_free(pairs_t *p) { free(p->x); free(p->id); }

/* The configurations with both scores. 0 when none (or OOM, flagged on b). */
static int pairs_read(ps_sbuf *b, const cJSON *c, pairs_t *P) {
  memset(P, 0, sizeof *P);
  const cJSON *pairs = ps_json_path(c, "pairs"), *p;
  int n = cJSON_GetArraySize(pairs);
  if (n < 1) return 0;
  P->x = malloc(4 * (size_t)n * sizeof *P->x);
  P->id = malloc((size_t)n * sizeof *P->id);
  if (!P->x || !P->id) { pairs_free(P); b->oom = 1; return 0; }
  P->y = P->x + n; P->ex = P->x + 2 * n; P->ey = P->x + 3 * n;
  int m = 0;
  cJSON_ArrayForEach(p, pairs) {
    double a = ps_page_num(p, "proxy_score"), f = ps_page_num(p, "full_score");
    if (!isfinite(a) || !isfinite(f)) continue;
    P->x[m] = a; P->y[m] = f;
    P->ex[m] = ps_page_num(p, "proxy_sd"); P->ey[m] = ps_page_num(p, "full_sd");
    P->id[m] = ps_json_int(p, "trial", m);
    m++;
  }
  P->m = m;
  P->win = P->truth = -1;
  for (int i = 0; i < m; i++) {
    if (P->win < 0 || P->x[i] > P->x[P->win]) P->win = i;
    if (P->truth < 0 || P->y[i] > P->y[P->truth]) P->truth = i;
  }
  if (!m) pairs_free(P);
  return m;
}

/* Score space: replicate means with ±1 SD bars. No y = x line: the proxy and
 * full scale are different scales, so distance from a diagonal means nothing. */
static void score_scatter(ps_sbuf *b, const cJSON *c, const char *where) {
  pairs_t P;
  int m = pairs_read(b, c, &P);
  if (!m) return;
  double yr[2] = {INFINITY, -INFINITY}, xr[2] = {INFINITY, -INFINITY};
  for (int i = 0; i < m; i++) {
    double sy = isfinite(P.ey[i]) ? P.ey[i] : 0, sx = isfinite(P.ex[i]) ? P.ex[i] : 0;
    yr[0] = fmin(yr[0], P.y[i] - sy); yr[1] = fmax(yr[1], P.y[i] + sy);
    xr[0] = fmin(xr[0], P.x[i] - sx); xr[1] = fmax(xr[1], P.x[i] + sx);
  }
  ps_svg_plot pl = {0};
  ps_svg_axis_fit(&pl.x, xr, 2, 0);
  ps_svg_axis_fit(&pl.y, yr, 2, 0);
  char title[160], tip[160];
  snprintf(title, sizeof title, "%s: proxy vs full scale (%d configurations)", where, m);
  ps_page_fig_open(b);
  ps_svg_begin(&pl, b, PLOT_W, PLOT_H, title, "proxy score (validation Dice)", "full score, replicate mean ± SD");
  bool hbars = false;
  for (int i = 0; i < m; i++) {
    if (isfinite(P.ey[i])) ps_svg_line(&pl, P.x[i], P.y[i] - P.ey[i], P.x[i], P.y[i] + P.ey[i], "err");
    if (isfinite(P.ex[i])) { ps_svg_line(&pl, P.x[i] - P.ex[i], P.y[i], P.x[i] + P.ex[i], P.y[i], "err"); hbars = true; }
  }
  for (int i = 0; i < m; i++) {
    snprintf(tip, sizeof tip, "trial %d: proxy %.4f, full %.4f ± %.4f", P.id[i], P.x[i], P.y[i],
             isfinite(P.ey[i]) ? P.ey[i] : 0.0);
    ps_svg_point(&pl, P.x[i], P.y[i], i == P.win ? 7 : 5, i == P.win ? "win" : "pt", tip);
  }
  ps_svg_point(&pl, P.x[P.truth], P.y[P.truth], 10, "truth", "best at full scale");
  ps_svg_legend(&pl, 0, 'o', "pt", "configuration");
  ps_svg_legend(&pl, 1, 'o', "win", "proxy's winner");
  ps_svg_legend(&pl, 2, 'o', "truth", "best at full scale");
  ps_svg_legend(&pl, 3, '-', "err", "± SD over seeds");
  ps_svg_end(&pl);
  /* the caption carries the numbers the plot is read against */
  char rho[32], lo[32], hi[32], ceil[32], cap[512];
  ps_page_fmt(rho, sizeof rho, ps_page_num(c, "spearman.value"), 3);
  ps_page_fmt(lo, sizeof lo, ps_page_at(c, "spearman.ci95", 0), 2);
  ps_page_fmt(hi, sizeof hi, ps_page_at(c, "spearman.ci95", 1), 2);
  ps_page_fmt(ceil, sizeof ceil, ps_page_num(c, "noise_ceiling.value"), 3);
  snprintf(cap, sizeof cap, "Spearman ρ = %s, 95%% CI [%s, %s]; noise ceiling %s. Each point is one configuration: "
           "its proxy score against the mean of its %d full-scale runs; vertical bars: SD over those seeds%s.",
           rho, lo, hi, ceil, ps_json_int(c, "R", 1),
           hbars ? "; horizontal bars: SD over its proxy runs" : "");
  ps_page_fig_close(b, cap);
  pairs_free(&P);
}

/* Rank space (1 = best): here both axes are ranks, so the diagonal is agreement. */
static void rank_plot(ps_sbuf *b, const cJSON *c, const char *where) {
  pairs_t P;
  int m = pairs_read(b, c, &P);
  if (!m) return;
  double *buf = malloc(4 * (size_t)m * sizeof *buf);
  if (!buf) { pairs_free(&P); b->oom = 1; return; }
  double *nx = buf, *ny = buf + m, *rx = buf + 2 * m, *ry = buf + 3 * m;
  for (int i = 0; i < m; i++) { nx[i] = -P.x[i]; ny[i] = -P.y[i]; }
  ps_rank_average(nx, m, rx); /* average ranks of the negated scores: rank 1 = highest */
  ps_rank_average(ny, m, ry);
  ps_svg_plot pr = {0};
  ps_svg_axis_range(&pr.x, 0.5, m + 0.5);
  ps_svg_axis_range(&pr.y, 0.5, m + 0.5);
  pr.x.integer = pr.y.integer = 1;
  char title[160], tip[160], kt[32];
  ps_page_fmt(kt, sizeof kt, ps_page_num(c, "kendall.value"), 3);
  snprintf(title, sizeof title, "%s: rank agreement (τ-b = %s)", where, kt);
  ps_page_fig_open(b);
  ps_svg_begin(&pr, b, PLOT_W, PLOT_H, title, "rank on the proxy (1 = best)", "rank at full scale (1 = best)");
  ps_svg_line(&pr, 0.5, 0.5, m + 0.5, m + 0.5, "ident");
  for (int i = 0; i < m; i++) {
    snprintf(tip, sizeof tip, "trial %d: proxy rank %g, full rank %g", P.id[i], rx[i], ry[i]);
    ps_svg_point(&pr, rx[i], ry[i], i == P.win ? 7 : 5, i == P.win ? "win" : "pt", tip);
  }
  ps_svg_legend(&pr, 0, '-', "ident", "same rank");
  ps_svg_legend(&pr, 1, 'o', "win", "proxy's winner");
  ps_svg_end(&pr);
  ps_page_fig_close(b, "Ranks of the replicate means; points on the dashed line are ranked the same by the proxy "
                       "and by full training.");
  free(buf);
  pairs_free(&P);
}

/* The ranked subset's ρ among the ρs of random subsets of the same size. */
static void random_subsets_plot(ps_sbuf *b, const cJSON *rs) {
  const cJSON *arr = ps_json_path(rs, "random_rhos"), *e;
  double ranked = ps_page_num(rs, "ranked_rho");
  int n = 0;
  cJSON_ArrayForEach(e, arr) n += isfinite(ps_page_num(e, NULL));
  if (n < 1 && !isfinite(ranked)) return;
  double *x = malloc((size_t)(n + 1) * sizeof *x);
  if (!x) { b->oom = 1; return; }
  int k = 0;
  cJSON_ArrayForEach(e, arr) if (isfinite(ps_page_num(e, NULL))) x[k++] = ps_page_num(e, NULL);
  if (isfinite(ranked)) x[k++] = ranked;
  const char *rm = ps_page_str(rs, "ranked_method") ? ps_page_str(rs, "ranked_method") : "ranked";
  const char *mm = ps_page_str(rs, "method") ? ps_page_str(rs, "method") : "random";
  const char *cat[2] = {mm, rm};
  ps_svg_plot p = {0};
  ps_svg_axis_fit(&p.x, x, k, 0);
  ps_svg_axis_categories(&p.y, cat, 2);
  p.ml = 110;
  char title[160], tip[96];
  snprintf(title, sizeof title, "Ranked subset among %d random subsets: rank %d of %d", n, ps_json_int(rs, "rank", 0),
           ps_json_int(rs, "of", n + 1));
  ps_page_fig_open(b);
  ps_svg_begin(&p, b, PLOT_W, 190, title, "Spearman ρ of the proxy with full scale", NULL);
  for (int i = 0; i < n; i++) {
    snprintf(tip, sizeof tip, "random subset %d: ρ = %.3f", i + 1, x[i]);
    /* a small deterministic jitter keeps equal ρs apart */
    ps_svg_point(&p, x[i], 0.18 * ((i % 5) - 2) / 2.0, 4.5, "ptf", tip);
  }
  if (isfinite(ranked)) {
    snprintf(tip, sizeof tip, "ranked subset: ρ = %.3f", ranked);
    ps_svg_line(&p, ranked, -0.5, ranked, 1.5, "ident");
    ps_svg_point(&p, ranked, 1, 7, "win", tip);
  }
  ps_svg_legend(&p, 0, 'o', "ptf", "random subset");
  ps_svg_legend(&p, 1, 'o', "win", "ranked subset");
  ps_svg_end(&p);
  ps_page_fig_close(b, "Rank 1 means the ranked subset's proxy agreed with full scale better than every random "
                       "subset of the same size.");
  free(x);
}

/* The proxy's two levers (factorial) and the ranked subset against others. */
static void levers(ps_sbuf *b, const cJSON *rep) {
  const cJSON *rows = ps_json_path(rep, "factorial.rows"), *rs = ps_json_path(rep, "random_subsets");
  const cJSON *cmp = ps_json_path(rep, "comparison");
  if (!rows && !rs && !cmp) return;
  ps_sbuf_puts(b, "<h2>The proxy's levers</h2>\n");
  if (rows) {
    ps_sbuf_puts(b, "<div class=\"tw\"><table><tr><th>proxy</th><th>speed-up per run</th><th>Spearman ρ with full "
                    "scale</th><th>95% CI</th><th>p</th><th>configs</th></tr>\n");
    const cJSON *r;
    cJSON_ArrayForEach(r, rows) {
      char sp[32];
      ps_page_fmt(sp, sizeof sp, ps_page_num(r, "speedup"), 2);
      ps_sbuf_puts(b, "<tr><td>");
      ps_page_esc(b, ps_page_str(r, "name"));
      ps_sbuf_printf(b, "</td><td class=\"n\">%s×</td>", sp);
      stat_cells(b, ps_json_path(r, "spearman"));
      ps_sbuf_printf(b, "<td class=\"n\">%d</td></tr>\n", ps_json_int(r, "n", 0));
    }
    ps_sbuf_puts(b, "</table></div>\n<p class=\"note\">");
    ps_page_esc(b, ps_page_str(rep, "factorial.how"));
    ps_sbuf_puts(b, "</p>\n");
  }
  if (rs) {
    ps_sbuf_puts(b, "<div class=\"plots\">\n");
    random_subsets_plot(b, rs);
    ps_sbuf_puts(b, "</div>\n");
  }
  if (cmp) {
    ps_sbuf_printf(b, "<p class=\"note\">Paired bootstrap, the same configs for both subsets: ρ difference %.3f, 95%% CI "
                      "[%.3f, %.3f], better: ", ps_page_num(cmp, "diff"), ps_page_at(cmp, "ci95", 0),
                   ps_page_at(cmp, "ci95", 1));
    ps_page_esc(b, ps_page_str(cmp, "better"));
    ps_sbuf_puts(b, ".</p>\n");
  }
}

void ps_page_agreement(ps_sbuf *b, const cJSON *rep) {
  const cJSON *c[2];
  const char *where[2];
  int nc = 0;
  if (ps_json_path(rep, "correlation")) { c[nc] = ps_json_path(rep, "correlation"); where[nc++] = "Internal validation"; }
  if (ps_json_path(rep, "correlation_external")) { c[nc] = ps_json_path(rep, "correlation_external"); where[nc++] = "External set"; }
  if (nc) {
    ps_sbuf_puts(b, "<h2>Does the proxy rank configurations like full training?</h2>\n");
    stats_table(b, c, where, nc);
    /* internal and external next to each other, scores first, then ranks */
    ps_sbuf_puts(b, "<div class=\"plots\">\n");
    for (int j = 0; j < nc; j++) score_scatter(b, c[j], where[j]);
    for (int j = 0; j < nc; j++) rank_plot(b, c[j], where[j]);
    ps_sbuf_puts(b, "</div>\n");
  }
  levers(b, rep);
}
