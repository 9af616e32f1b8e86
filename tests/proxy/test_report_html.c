/* The HTML report: a complete self-contained page with the expected plots from
 * a hand-made report.json, journal trials and cases.json; hostile strings
 * (script tags, quotes) in names and values come out escaped. */
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

/* The verdict before any plot; 41 searched parameters give at most 12 slice plots. */
static void test_verdict_and_grid(void) {
  cJSON *rep = cJSON_Parse("{\"verdict\": {\"label\": \"informative\", \"code\": \"informative\", "
                           "\"text\": \"informative: Spearman rho 0.81\", \"advice\": null, \"rule\": \"the rule\"},"
                           "\"importance\": [{\"param\": \"p7\", \"value\": 0.9}, {\"param\": \"p3\", \"value\": 0.5}]}");
  cJSON *trials = cJSON_CreateArray();
  for (int i = 0; i < 6; i++) {
    cJSON *t = cJSON_CreateObject(), *pa = cJSON_AddObjectToObject(t, "params");
    cJSON_AddNumberToObject(t, "number", i);
    cJSON_AddStringToObject(t, "phase", "proxy");
    cJSON_AddStringToObject(t, "state", "COMPLETE");
    cJSON_AddNumberToObject(t, "value", 0.1 * i);
    for (int k = 0; k < 41; k++) {
      char key[16];
      snprintf(key, sizeof key, "p%d", k);
      cJSON_AddNumberToObject(pa, key, (i * 7 + k) % 5);
    }
    cJSON_AddItemToArray(trials, t);
  }
  char *html = NULL;
  CHECK_OK(ps_report_html_string(rep, trials, NULL, &html));
  if (html) {
    const char *v = strstr(html, "class=\"verdict informative\""), *svg = strstr(html, "<svg");
    CHECK(v && (!svg || v < svg), "the verdict comes before the first plot");
    CHECK(count(html, "aria-label=\"Slice: ") == 12, "slice plots: %d, want 12 of 41", count(html, "aria-label=\"Slice: "));
    const char *s7 = strstr(html, "Slice: p7"), *s3 = strstr(html, "Slice: p3"), *s0 = strstr(html, "Slice: p0<");
    CHECK(s7 && s3 && s7 < s3 && (!s0 || s3 < s0), "slices sorted by importance");
    CHECK(count(html, "29 more parameters") == 1, "the page says where the other parameters are");
  }
  free(html);
  cJSON_Delete(rep);
  cJSON_Delete(trials);
}

/* trials.csv read back by Python's csv module: quotes, commas and line breaks survive. */
static void test_csv(void) {
  cJSON *trials = cJSON_Parse("[{\"number\": 0, \"phase\": \"proxy\", \"state\": \"COMPLETE\", \"value\": 0.5, "
                              "\"params\": {\"lr\": 0.001, \"note\": \"a,b \\\"q\\\"\\nline\"}},"
                              "{\"number\": 1, \"phase\": \"full\", \"state\": \"FAIL\", \"value\": null, \"ref\": 0,"
                              " \"replicate\": 1, \"params\": {\"lr\": 0.001}}]");
  CHECK(trials != NULL, "csv fixture parses");
  char *dir = ps_test_tmpdir("report_csv");
  char *path = ps_path_join(dir, "trials.csv");
  CHECK_OK(ps_report_write_trials_csv(trials, path));
  if (ps_test_python_with("csv")) {
    int rc = ps_test_sh("/usr/bin/python3 -c \"import csv,sys; r=list(csv.DictReader(open(sys.argv[1], newline=''))); "
                        "assert len(r)==2, r; assert r[0]['note']=='a,b \\\"q\\\"\\nline', r[0]; "
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
  test_verdict_and_grid();
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
    /* 2 correlation plots + best-so-far + 2 slices (lr, optimizer) + RL rewards + time + cases */
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
    CHECK(count(html, "8.2×") == 1, "speed-up factor in the headline");
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
