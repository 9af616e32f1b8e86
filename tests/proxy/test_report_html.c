/* The HTML report: a complete self-contained page with the expected plots from
 * a hand-made report.json, journal trials and cases.json; hostile strings
 * (script tags, quotes) in names and values come out escaped; trials.csv read
 * back by Python's csv module. */
#include "testutil.h"
#include "proxyseg/json.h"
#include "proxyseg/report.h"
#include "proxyseg/stats.h"
#include <string.h>

static int count(const char *hay, const char *needle) {
  int n = 0;
  for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) n++;
  return n;
}

static int count_ci(const char *hay, const char *needle) {
  char *low = ps_strdup(hay);
  for (char *p = low; *p; p++) *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
  int n = count(low, needle);
  free(low);
  return n;
}

static cJSON *make_trials(void) {
  cJSON *a = cJSON_CreateArray();
  static const double lr[8] = {1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.05};
  static const char *opt[8] = {"sgd", "adam", "<script>alert(1)</script>", "sgd", "adam", "adam", "sgd", "adam"};
  for (int i = 0; i < 10; i++) {
    cJSON *t = cJSON_CreateObject();
    cJSON_AddNumberToObject(t, "number", i);
    cJSON_AddStringToObject(t, "state", i == 7 ? "FAIL" : "COMPLETE");
    cJSON *p = cJSON_AddObjectToObject(t, "params");
    cJSON_AddNumberToObject(p, "lr", lr[i % 8]);
    cJSON_AddStringToObject(p, "optimizer", opt[i % 8]);
    if (i == 7) cJSON_AddNullToObject(t, "value");
    else cJSON_AddNumberToObject(t, "value", 0.5 + 0.04 * i - (i == 4 ? 0.2 : 0));
    cJSON_AddStringToObject(t, "phase", i < 8 ? "proxy" : "full");
    cJSON_AddNumberToObject(t, "seconds", 30 + i);
    cJSON_AddItemToArray(a, t);
  }
  return a;
}

static cJSON *make_report(int npairs) {
  double px[6] = {0.61, 0.55, 0.70, 0.52, 0.66, 0.58}, fx[6] = {0.80, 0.74, 0.83, 0.71, 0.85, 0.79};
  int ids[6] = {0, 1, 2, 3, 5, 6};
  cJSON *r = cJSON_CreateObject(), *corr = NULL;
  ps_correlation_report(px, fx, ids, npairs, 2, 500, 3, &corr);
  cJSON_AddItemToObject(r, "correlation", corr);
  cJSON_AddStringToObject(r, "study", "hippo \"<b>bold</b>\" & co");
  cJSON_AddStringToObject(r, "algorithm", "rl");
  cJSON_AddNumberToObject(r, "seed", 7);
  cJSON *sp = cJSON_AddObjectToObject(r, "speedup");
  cJSON_AddNumberToObject(sp, "proxy_seconds", 620);
  cJSON_AddNumberToObject(sp, "full_seconds", 5100);
  cJSON_AddNumberToObject(sp, "factor", 5100.0 / 620);
  cJSON_AddStringToObject(sp, "how", "estimated from measured per-trial times");
  cJSON *tm = cJSON_AddObjectToObject(r, "timing");
  cJSON_AddNumberToObject(tm, "preprocessing", 40);
  cJSON_AddNumberToObject(tm, "proxy_search", 620);
  cJSON_AddNumberToObject(tm, "full_retraining", 900);
  cJSON_AddNumberToObject(tm, "other", 12);
  cJSON *best = cJSON_AddObjectToObject(r, "best");
  cJSON_AddNumberToObject(best, "trial", 5);
  cJSON_AddNumberToObject(best, "proxy_score", 0.66);
  cJSON_AddNumberToObject(best, "full_score", 0.85);
  cJSON *cfg = cJSON_AddObjectToObject(best, "config");
  cJSON_AddNumberToObject(cfg, "lr", 0.03);
  cJSON_AddStringToObject(cfg, "</td><script>x</script>", "<img src=x onerror=alert(2)>");
  cJSON_AddItemToObject(r, "proxy", cJSON_Parse("{\"data\":{\"method\":\"kcenter\",\"fraction\":0.25},"
                                                "\"network\":{\"width\":0.25,\"depth\":0.75}}"));
  cJSON *rw = cJSON_AddArrayToObject(cJSON_AddObjectToObject(r, "algorithm_data"), "rewards");
  for (int i = 0; i < 50; i++) cJSON_AddItemToArray(rw, cJSON_CreateNumber(0.4 + 0.005 * i + 0.02 * ((i * 7) % 5)));
  return r;
}

static cJSON *make_cases(void) {
  cJSON *c = cJSON_Parse("{\"method\":\"kcenter\",\"keep\":null,\"fraction\":0.25,\"count\":2,\"cases\":["
                         "{\"id\":\"case_a\",\"score\":2.5,\"rank\":1,\"kept\":true},"
                         "{\"id\":\"<script>case_b</script>\",\"score\":3.1,\"rank\":0,\"kept\":true},"
                         "{\"id\":\"case_c\",\"score\":0.4,\"rank\":3,\"kept\":false},"
                         "{\"id\":\"case_d\",\"score\":1.2,\"rank\":2,\"kept\":false}],"
                         "\"kept\":[\"<script>case_b</script>\",\"case_a\"]}");
  return c;
}

/* The <svg> element whose aria-label starts with `label` (malloc'd), or NULL. */
static char *svg_with(const char *html, const char *label) {
  char *key = ps_strfmt("aria-label=\"%s", label);
  const char *at = strstr(html, key), *s = NULL, *e;
  free(key);
  if (!at) return NULL;
  for (const char *p = html; (p = strstr(p, "<svg")) && p < at; p++) s = p;
  e = s ? strstr(s, "</svg>") : NULL;
  if (!e) return NULL;
  char *out = malloc((size_t)(e - s) + 7);
  memcpy(out, s, (size_t)(e - s) + 6);
  out[e - s + 6] = 0;
  return out;
}

/* Every <svg> opens with a <title> (screen readers, hover). */
static int svgs_without_title(const char *html) {
  int bad = 0;
  for (const char *p = strstr(html, "<svg"); p; p = strstr(p + 1, "<svg")) {
    const char *gt = strchr(p, '>');
    if (!gt || strncmp(gt + 1 + strspn(gt + 1, " \n"), "<title>", 7) != 0) bad++;
  }
  return bad;
}

static cJSON *num_array(const double *v, int n) {
  cJSON *a = cJSON_CreateArray();
  for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
  return a;
}

enum { NC = 6, P = 2, R = 3, NSEARCH = 12, NPARAM = 41 };
static const int conf_trial[NC] = {0, 2, 4, 6, 8, 10};

/* A search trial's params: 39 numbered ones, a learning rate that needs
 * rounding, and one named like markup. */
static cJSON *params_of(int i) {
  cJSON *pa = cJSON_CreateObject();
  cJSON_AddNumberToObject(pa, "lr", 0.000123456 * (i + 1));
  cJSON_AddStringToObject(pa, "<script>", i % 2 ? "a" : "b");
  for (int k = 0; k < NPARAM - 2; k++) {
    char key[16];
    snprintf(key, sizeof key, "p%d", k);
    cJSON_AddNumberToObject(pa, key, (i * 7 + k) % 5);
  }
  return pa;
}

static cJSON *trial(int number, const char *phase, int ref, int rep, double value, int params_of_trial, int epochs) {
  cJSON *t = cJSON_CreateObject();
  cJSON_AddNumberToObject(t, "number", number);
  cJSON_AddStringToObject(t, "phase", phase);
  cJSON_AddStringToObject(t, "state", "COMPLETE");
  cJSON_AddNumberToObject(t, "value", value);
  cJSON_AddNumberToObject(t, "seconds", 10 + number);
  if (ref >= 0) { cJSON_AddNumberToObject(t, "ref", ref); cJSON_AddNumberToObject(t, "replicate", rep); }
  cJSON_AddItemToObject(t, "params", params_of(params_of_trial));
  double vd[8], tl[8];
  for (int e = 0; e < epochs; e++) { vd[e] = value * (e + 1) / epochs; tl[e] = 1.0 / (e + 1); }
  cJSON *c = cJSON_AddObjectToObject(t, "curve");
  cJSON_AddItemToObject(c, "val_dice", num_array(vd, epochs));
  cJSON_AddItemToObject(c, "train_loss", num_array(tl, epochs));
  return t;
}

/* A study with every part: replicates on both sides, an external set, the
 * factorial, random subsets, both speed-ups, curves, 41 searched parameters. */
static void make_full_study(cJSON **rep_out, cJSON **trials_out) {
  double proxy[NC * P], full[NC * R], ext[NC * R];
  for (int i = 0; i < NC; i++) {
    for (int r = 0; r < P; r++) proxy[i * P + r] = 0.50 + 0.03 * i + 0.01 * r;
    for (int r = 0; r < R; r++) {
      full[i * R + r] = 0.70 + 0.02 * ((i * 5) % NC) + 0.004 * r;
      ext[i * R + r] = 0.60 + 0.01 * i + 0.003 * r;
    }
  }
  cJSON *rep = cJSON_CreateObject(), *corr = NULL, *cext = NULL;
  CHECK_OK(ps_correlation_report_reps(proxy, P, full, R, conf_trial, NC, 3, 400, 5, &corr));
  CHECK_OK(ps_correlation_report_reps(proxy, P, ext, R, conf_trial, NC, 3, 400, 6, &cext));
  cJSON_AddItemToObject(rep, "verdict", cJSON_Duplicate(ps_json_path(corr, "verdict"), 1));
  cJSON_AddItemToObject(rep, "correlation", corr);
  cJSON_AddItemToObject(rep, "correlation_external", cext);
  cJSON_AddItemToObject(rep, "factorial", cJSON_Parse(
      "{\"how\": \"FACTORIAL-HOW\", \"rows\": ["
      "{\"name\": \"data only\", \"speedup\": 4.1, \"spearman\": {\"value\": 0.7, \"ci95\": [0.1, 0.9]}, \"n\": 6},"
      "{\"name\": \"network only\", \"speedup\": 2.2, \"spearman\": {\"value\": 0.5, \"ci95\": [-0.2, 0.9]}, \"n\": 6},"
      "{\"name\": \"both\", \"speedup\": 9.3, \"spearman\": {\"value\": 0.6, \"ci95\": [0.0, 0.9]}, \"n\": 6}]}"));
  cJSON_AddItemToObject(rep, "random_subsets", cJSON_Parse(
      "{\"ranked_method\": \"kcenter\", \"method\": \"random\", \"ranked_rho\": 0.8,"
      " \"random_rhos\": [0.1, 0.4, 0.4, 0.6, -0.2], \"rank\": 1, \"of\": 6}"));
  cJSON_AddItemToObject(rep, "speedup", cJSON_Parse(
      "{\"search\": {\"proxy_seconds\": 600, \"full_seconds\": 6000, \"factor\": 10, \"how\": \"measured\","
      "  \"detail\": \"SEARCH-DETAIL\"},"
      " \"end_to_end\": {\"proxy_seconds\": 4935, \"full_seconds\": 6030, \"factor\": 1.22,"
      "  \"how\": \"estimated from measured per-trial times\", \"detail\": \"E2E-DETAIL\","
      "  \"parts\": {\"preprocessing\": 30, \"proxy_data\": 5, \"warm_start\": 0, \"proxy_search\": 600,"
      "   \"proxy_replicates\": 300, \"full_retraining\": 4000}},"
      " \"proxy_seconds\": 600, \"full_seconds\": 6000, \"factor\": 10, \"how\": \"measured\"}"));
  cJSON *best = cJSON_AddObjectToObject(rep, "best");
  cJSON_AddNumberToObject(best, "trial", 4);
  cJSON *bp = cJSON_AddObjectToObject(best, "params");
  cJSON_AddNumberToObject(bp, "lr", 0.000123456 * 5);
  cJSON_AddStringToObject(bp, "<script>", "<img src=x onerror=alert(1)>");
  cJSON_AddNumberToObject(best, "full_mean", 0.7812);
  cJSON_AddNumberToObject(best, "full_sd", 0.0043);
  cJSON_AddItemToObject(best, "full_scores", num_array(full + 2 * R, R));
  cJSON_AddNumberToObject(best, "proxy_score", 0.565);
  cJSON_AddStringToObject(best, "checkpoint", "best/checkpoint.h5");
  cJSON_AddStringToObject(best, "predict_command", "proxyseg predict --model 'S/best/checkpoint.h5' --in <dir>");
  cJSON_AddItemToObject(rep, "proxy_winner", cJSON_Parse(
      "{\"trial\": 10, \"params\": {}, \"proxy_score\": 0.66, \"full_mean\": 0.75, \"full_rank\": 2, \"of\": 6}"));
  cJSON_AddItemToObject(rep, "importance", cJSON_Parse(
      "[{\"param\": \"p7\", \"value\": 0.9}, {\"param\": \"<script>\", \"value\": 0.6}, {\"param\": \"p3\", \"value\": 0.5}]"));
  cJSON_AddItemToObject(rep, "proxy", cJSON_Parse("{\"data\": {\"method\": \"kcenter\", \"fraction\": 0.25, \"cases\": 5,"
                                                  " \"of\": 20}, \"network\": {\"width\": 0.5, \"depth\": 1}}"));
  double rw[30];
  for (int i = 0; i < 30; i++) rw[i] = 0.4 + 0.01 * i;
  cJSON_AddItemToObject(cJSON_AddObjectToObject(rep, "algorithm_data"), "rewards", num_array(rw, 30));
  cJSON_AddStringToObject(rep, "algorithm", "rl");

  cJSON *trials = cJSON_CreateArray();
  int number = 0;
  for (int i = 0; i < NSEARCH; i++) cJSON_AddItemToArray(trials, trial(number++, "proxy", -1, -1, 0.4 + 0.02 * i, i, 5));
  for (int i = 0; i < NC; i++)
    for (int r = 0; r < R; r++)
      cJSON_AddItemToArray(trials, trial(number++, "full", conf_trial[i], r, full[i * R + r], conf_trial[i], 7));
  for (int i = 0; i < NC; i++)
    cJSON_AddItemToArray(trials, trial(number++, "proxy_rep", conf_trial[i], 1, proxy[i * P + 1], conf_trial[i], 5));
  *rep_out = rep;
  *trials_out = trials;
}

static void test_full_study(void) {
  cJSON *rep = NULL, *trials = NULL;
  make_full_study(&rep, &trials);
  /* written to a file like a study does, and left there to look at */
  char *dir = ps_test_tmpdir("report_full"), *path = ps_path_join(dir, "report.html"), *html = NULL;
  size_t len = 0;
  CHECK_OK(ps_report_write_html(rep, trials, NULL, path));
  CHECK_OK(ps_read_file(path, 0, &html, &len));
  free(path);
  free(dir);
  if (!html) { cJSON_Delete(rep); cJSON_Delete(trials); return; }
  const char *v = strstr(html, "class=\"verdict "), *svg = strstr(html, "<svg");
  CHECK(v && svg && v < svg, "the verdict comes before the first plot");
  CHECK(v && v < strstr(html, "<h2>"), "the verdict comes before every section");
  CHECK(count(html, "<svg") == count(html, "</svg>"), "every svg closed");
  CHECK(svgs_without_title(html) == 0, "%d svg elements without a <title>", svgs_without_title(html));

  /* the scatters: replicate means with seed-noise bars, and no diagonal */
  const char *where[2] = {"Internal validation: proxy vs full scale", "External set: proxy vs full scale"};
  for (int k = 0; k < 2; k++) {
    char *sc = svg_with(html, where[k]);
    CHECK(sc != NULL, "%s: plotted", where[k]);
    if (!sc) continue;
    CHECK(count(sc, "class=\"ident\"") == 0, "%s: no y = x line", where[k]);
    CHECK(count(sc, "<line class=\"") == count(sc, "<line class=\"grid\"") + count(sc, "<line class=\"tick\"") +
                                             count(sc, "<line class=\"err\""),
          "%s: the only lines are grid, ticks and error bars", where[k]);
    /* P = 2 and R = 3: a vertical and a horizontal bar per config, one legend line */
    CHECK(count(sc, "<line class=\"err\"") == 2 * NC + 1, "%s: error bars %d, want %d", where[k],
          count(sc, "<line class=\"err\""), 2 * NC + 1);
    free(sc);
  }
  const char *ext = strstr(html, where[1]), *irank = strstr(html, "Internal validation: rank agreement");
  CHECK(ext && irank && ext < irank, "internal and external scatters side by side, ranks after");
  CHECK(count(html, "noise ceiling ") >= 2 && count(html, "Spearman ρ = ") >= 2, "captions carry ρ and the ceiling");

  /* the statistics table, the factorial, the random subsets */
  CHECK(count(html, "<td>Kendall τ-b</td>") == 1 && count(html, "<td>Pearson r</td>") == 1, "one stats table");
  CHECK(count(html, "<th colspan=\"3\">External set") == 1, "the table has an external column group");
  CHECK(count(html, "between-config SD") >= 1 && count(html, "seed SD (pooled") == 1, "seed vs between-config SD");
  CHECK(count(html, "(exact)") >= 6, "exact permutation p-values marked, %d", count(html, "(exact)"));
  CHECK(count(html, "<td>data only</td>") == 1 && count(html, "<td>network only</td>") == 1 &&
        count(html, "<td>both</td>") == 1 && count(html, "FACTORIAL-HOW") == 1, "the factorial 2x2");
  char *rs = svg_with(html, "Ranked subset among 5 random subsets: rank 1 of 6");
  CHECK(rs && count(rs, "<circle class=\"ptf\"") == 5 + 1 && count(rs, "<circle class=\"win\"") == 1 + 1,
        "random subsets: 5 dots and the ranked one marked");
  free(rs);

  /* speed-up: both figures with their how, and the time parts that took time */
  CHECK(count(html, "SEARCH-DETAIL") == 1 && count(html, "E2E-DETAIL") == 1, "both speed-ups explained");
  char *tb = svg_with(html, "Where the time went");
  CHECK(tb && count(tb, ">proxy replicates<") == 1 && count(tb, "warm start") == 0,
        "time breakdown from end_to_end.parts, empty parts left out");
  free(tb);

  /* best configuration and the proxy's winner */
  CHECK(count(html, "0.7812 ± 0.0043") == 1, "full-scale mean ± SD");
  CHECK(count(html, "--in &lt;dir&gt;") == 1, "predict command, escaped");
  CHECK(count(html, "The proxy&#39;s winner") + count(html, "The proxy's winner") == 1 && count(html, "rank 2 of 6") == 1,
        "the proxy's winner under its own label with its full-scale rank");

  /* search: importance, parallel coordinates, curves, slices */
  CHECK(count(html, "Parameter importance") == 1, "importance bars");
  CHECK(count(html, "<title>Parallel coordinates</title>") == 1, "parallel coordinates");
  char *lc = svg_with(html, "Learning curves at full scale");
  CHECK(lc && count(lc, "validation Dice") == 1, "full-scale curves of validation Dice");
  CHECK(lc && count(lc, "class=\"lcw\"") == R + 1 && count(lc, "class=\"lc\"") == (NC - 1) * R + 1,
        "one thin line per full-scale run, the winner's %d highlighted", R);
  free(lc);
  char *lp = svg_with(html, "Learning curves of the proxy search");
  CHECK(lp && count(lp, "<polyline") == NSEARCH, "one curve per proxy search trial");
  free(lp);
  CHECK(count(html, "aria-label=\"Slice: ") == 12, "slice plots: %d, want 12 of %d", count(html, "aria-label=\"Slice: "),
        NPARAM);
  const char *s7 = strstr(html, "aria-label=\"Slice: p7\""), *ss = strstr(html, "aria-label=\"Slice: &lt;script&gt;\""),
             *s3 = strstr(html, "aria-label=\"Slice: p3\""), *s0 = strstr(html, "aria-label=\"Slice: p0\"");
  CHECK(s7 && ss && s3 && s7 < ss && ss < s3 && (!s0 || s3 < s0), "slices sorted by importance");
  CHECK(count(html, "29 more parameters") == 1, "the page says where the other parameters are");

  /* trials table */
  int nt = cJSON_GetArraySize(trials);
  CHECK(count(html, "<tr id=\"trial-") == nt, "one row per trial: %d of %d", count(html, "<tr id=\"trial-"), nt);
  CHECK(count(html, "<td class=\"n\"><a href=\"#trial-4\">4</a></td>") == R + 1, "re-trainings link to their proxy trial");
  const char *table = strstr(html, "<h2>All trials");
  CHECK(table && count(table, "<td>0.000123</td>") >= 1 && count(table, "0.000123456") == 0,
        "params in the table to 3 significant digits");
  CHECK(count(html, "<th>number</th><th>phase</th><th>state</th><th>value</th><th>seconds</th><th>ref</th>"
                    "<th>replicate</th>") == 1, "the trials table's columns");
  CHECK(strstr(html, "td,th{white-space:nowrap}") && strstr(html, ".tw{max-height:560px;overflow:auto"),
        "cells never wrap; the table scrolls");

  /* everything escaped */
  CHECK(count_ci(html, "<script") == 0 && count_ci(html, "<img") == 0, "no markup from the inputs survives");
  CHECK(count(html, "<th>&lt;script&gt;</th>") == 1, "the parameter named <script> shown escaped");
  free(html);
  cJSON_Delete(rep);
  cJSON_Delete(trials);
}

/* Only trials (no report.json parts): the search plots and the table, no empty sections. */
static void test_minimal(void) {
  cJSON *trials = cJSON_CreateArray();
  for (int i = 0; i < 5; i++) {
    cJSON *t = cJSON_CreateObject(), *pa = cJSON_AddObjectToObject(t, "params");
    cJSON_AddNumberToObject(t, "number", i);
    cJSON_AddStringToObject(t, "state", "COMPLETE");
    cJSON_AddNumberToObject(t, "value", 0.1 * i);
    cJSON_AddNumberToObject(pa, "lr", 1e-3 * (i + 1));
    cJSON_AddItemToArray(trials, t);
  }
  const cJSON *reports[2] = {NULL, NULL};
  cJSON *empty = cJSON_CreateObject();
  reports[1] = empty;
  for (int k = 0; k < 2; k++) {
    char *html = NULL;
    CHECK_OK(ps_report_html_string(reports[k], trials, NULL, &html));
    if (!html) continue;
    CHECK(strstr(html, "</html>") && count(html, "<svg") == count(html, "</svg>"), "a complete page");
    CHECK(count(html, "aria-label=\"Proxy search: best so far") == 1 && count(html, "aria-label=\"Slice: lr\"") == 1,
          "best so far and the slice of lr");
    CHECK(count(html, "<tr id=\"trial-") == 5, "the trials table");
    CHECK(!strstr(html, "class=\"verdict") && !strstr(html, "Does the proxy rank") && !strstr(html, "<h2>Speed-up") &&
              !strstr(html, "<h2>Best configuration") && !strstr(html, "class=\"cards\""),
          "no sections for parts the report does not have");
    free(html);
  }
  cJSON_Delete(empty);
  cJSON_Delete(trials);
}

/* trials.csv read back by Python's csv module: quotes, commas and line breaks survive. */
static void test_csv(void) {
  cJSON *trials = cJSON_Parse("[{\"number\": 0, \"phase\": \"proxy\", \"state\": \"COMPLETE\", \"value\": 0.5, "
                              "\"seed\": 12345, \"params\": {\"lr\": 0.001, \"note\": \"a,b \\\"q\\\"\\nline\"}},"
                              "{\"number\": 1, \"phase\": \"full\", \"state\": \"FAIL\", \"value\": null, \"ref\": 0,"
                              " \"replicate\": 1, \"params\": {\"lr\": 0.001}}]");
  CHECK(trials != NULL, "csv fixture parses");
  char *dir = ps_test_tmpdir("report_csv");
  char *path = ps_path_join(dir, "trials.csv");
  CHECK_OK(ps_report_write_trials_csv(trials, path));
  if (ps_test_python_with("csv")) {
    int rc = ps_test_sh("/usr/bin/python3 -c \"import csv,sys; r=list(csv.DictReader(open(sys.argv[1], newline=''))); "
                        "assert len(r)==2, r; assert r[0]['seed']=='12345', r[0]; assert r[0]['note']=='a,b \\\"q\\\"\\nline', r[0]; "
                        "assert r[1]['ref']=='0' and r[1]['replicate']=='1' and r[1]['value']=='' and r[1]['note']=='', r[1]; "
                        "assert list(r[0])[:8]==['number','phase','state','value','seconds','ref','replicate','seed']\" '%s'", path);
    CHECK(rc == 0, "python's csv module reads trials.csv back (exit %d)", rc);
  } else {
    printf("SKIPPED (part): /usr/bin/python3 not available to read trials.csv back\n");
  }
  free(path);
  free(dir);
  cJSON_Delete(trials);
}

int main(void) {
  test_full_study();
  test_minimal();
  test_csv();
  cJSON *rep = make_report(6), *trials = make_trials(), *cases = make_cases();
  CHECK(rep && trials && cases, "fixtures");
  char *dir = ps_test_tmpdir("report_html");
  char *path = ps_path_join(dir, "report.html");
  CHECK_OK(ps_report_write_html(rep, trials, cases, path));
  char *html = NULL;
  size_t n = 0;
  CHECK_OK(ps_read_file(path, 0, &html, &n));
  if (html) {
    CHECK(strncmp(html, "<!DOCTYPE html>", 15) == 0, "starts with the doctype");
    CHECK(n > 20 && strcmp(html + n - 8, "</html>\n") == 0, "ends with </html>");
    CHECK(count(html, "<body>") == 1 && count(html, "</body>") == 1, "one body");
    /* 2 correlation plots + time + best-so-far + RL rewards + 2 slices (lr, optimizer) + cases */
    CHECK(count(html, "<svg") == 8, "svg elements: %d, want 8", count(html, "<svg"));
    CHECK(count(html, "</svg>") == 8, "closed svg elements: %d", count(html, "</svg>"));
    CHECK(count_ci(html, "<script") == 0, "no script tag may survive");
    CHECK(count_ci(html, "<img") == 0, "no injected img tag");
    CHECK(count(html, "&lt;script&gt;alert(1)&lt;/script&gt;") >= 2, "hostile param value shown escaped (table + slice)");
    CHECK(count(html, "&lt;script&gt;case_b&lt;/script&gt;") >= 1, "hostile case id escaped");
    CHECK(count(html, "hippo &quot;&lt;b&gt;bold&lt;/b&gt;&quot; &amp; co") >= 2, "study name escaped in title and h1");
    CHECK(count(html, "<b>bold</b>") == 0, "no raw markup from the study name");
    /* self-contained: no external resources */
    CHECK(count_ci(html, "<link") == 0 && count_ci(html, "href=\"http") == 0 && count_ci(html, "href=\"//") == 0 &&
          count_ci(html, "url(http") == 0 && count(html, "href=\"") == count(html, "href=\"#trial-"),
          "no external assets; links only to trials on the page");
    CHECK(count(html, "y = x") == 0, "no y = x line between two different scales");
    CHECK(count(html, "log scale") == 1, "lr spans decades: one log axis");
    CHECK(count(html, "8.2×") == 2, "speed-up factor in the headline and the speed-up section");
    CHECK(count(html, "estimated from measured per-trial times") >= 1, "how the speed-up was obtained");
    CHECK(count(html, "class=\"win\"") >= 2, "the proxy's winner highlighted");
    CHECK(count(html, "<tr id=\"trial-") == 10, "one table row per trial");
    CHECK(count(html, "<tr><td class=\"n\">") == 4, "one table row per case");
    CHECK(count(html, "Spearman ρ") >= 1, "headline names Spearman");
  }
  free(html);

  /* n < 3 pairs: the reason instead of numbers, no crash; no trials, no cases */
  cJSON *rep2 = make_report(2);
  char *h2 = NULL;
  CHECK_OK(ps_report_html_string(rep2, NULL, NULL, &h2));
  if (h2) {
    CHECK(strstr(h2, "need 3") != NULL, "the reason for missing correlations is shown");
    CHECK(count(h2, "<svg") == 2 + 1 + 1, "2 scatter + time + rewards, got %d", count(h2, "<svg"));
    CHECK(strstr(h2, "</html>") != NULL, "complete page");
  }
  free(h2);
  /* nothing at all: still a valid page */
  cJSON *empty = cJSON_CreateObject();
  CHECK_OK(ps_report_html_string(empty, NULL, NULL, &h2));
  CHECK(h2 && count(h2, "<svg") == 0 && strstr(h2, "</html>"), "empty report");
  free(h2);
  /* unwritable destination is an error, not a crash */
  ps_status st = ps_report_write_html(empty, NULL, NULL, "/nonexistent-dir/x/report.html");
  CHECK(st != PS_OK && strstr(ps_last_error(), "report.html"), "error names the file: %s", ps_last_error());

  cJSON_Delete(rep); cJSON_Delete(rep2); cJSON_Delete(empty); cJSON_Delete(trials); cJSON_Delete(cases);
  free(path); free(dir);
  return ps_test_done("test_report_html");
}
