/* ASNG as a one-shot study algorithm (study_oneshot.h): re-train the found
 * policy (policy.json) against nnU-Net's default augmentation and none, and
 * show theta (final heat map, convergence over updates) in the report. */
#include "asng_plugin.h"
#include "study_oneshot.h"
#include "../proxy/svg.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The full side's config with its whole "aug" replaced: a baseline is the
 * preset alone, the result is the found policy alone (no user overrides mixed in). */
static ps_status asng_config(int k, const char *trial_dir, const cJSON *full_cfg, cJSON **out) {
  cJSON *aug = NULL;
  ps_status st = PS_OK;
  if (k == 0) {
    char *pp = ps_path_join(trial_dir, "policy.json");
    cJSON *pol = NULL;
    st = ps_json_read(pp, &pol);
    free(pp);
    if (st) return st;
    aug = cJSON_DetachItemFromObjectCaseSensitive(pol, "aug");
    cJSON_Delete(pol);
    if (!cJSON_IsObject(aug)) {
      cJSON_Delete(aug);
      return ps_error(PS_ERR_DATA, "%s/policy.json: no \"aug\" object", trial_dir);
    }
  } else {
    aug = cJSON_CreateObject();
    cJSON_AddStringToObject(aug, "preset", k == 1 ? "default" : "none");
  }
  *out = cJSON_Duplicate(full_cfg, 1);
  cJSON_DeleteItemFromObjectCaseSensitive(*out, "aug");
  cJSON_AddItemToObject(*out, "aug", aug);
  return st;
}

/* theta.jsonl: the last line's theta, and the convergence series (at most
 * ~400 points, evenly thinned; the last update always kept). */
static ps_status read_theta(const char *trial_dir, cJSON *sec) {
  char *p = ps_path_join(trial_dir, "theta.jsonl"), *data = NULL;
  size_t n = 0;
  ps_status st = ps_read_file(p, 0, &data, &n);
  free(p);
  if (st) return st;
  int lines = 0;
  for (size_t i = 0; i < n; i++) lines += data[i] == '\n';
  int every = lines > 400 ? (lines + 399) / 400 : 1, at = 0;
  cJSON *it = cJSON_AddArrayToObject(sec, "iteration"), *cv = cJSON_AddArrayToObject(sec, "convergence");
  cJSON *dl = cJSON_AddArrayToObject(sec, "delta"), *last = NULL;
  for (char *q = data, *e; q && *q; q = e ? e + 1 : NULL) {
    e = strchr(q, '\n');
    if (e) *e = 0;
    cJSON *j = cJSON_Parse(q);
    if (!j) continue; /* a torn last line of a killed run */
    at++;
    if ((at - 1) % every == 0 || at == lines) {
      cJSON_AddItemToArray(it, cJSON_CreateNumber(ps_json_num(j, "iteration", at)));
      cJSON_AddItemToArray(cv, cJSON_CreateNumber(ps_json_num(j, "convergence", NAN)));
      cJSON_AddItemToArray(dl, cJSON_CreateNumber(ps_json_num(j, "delta", NAN)));
    }
    cJSON_Delete(last);
    last = j;
  }
  free(data);
  cJSON_AddNumberToObject(sec, "updates", at);
  cJSON *th = cJSON_DetachItemFromObjectCaseSensitive(last, "theta");
  cJSON_Delete(last);
  if (!cJSON_IsArray(th) || cJSON_GetArraySize(th) != ps_asng_space_size()) {
    cJSON_Delete(th);
    return ps_error(PS_ERR_DATA, "%s/theta.jsonl: no final theta of %d variables", trial_dir, ps_asng_space_size());
  }
  cJSON_AddItemToObject(sec, "theta_final", th);
  return PS_OK;
}

/* theta 0 -> white, 1 -> dark blue */
static void cell_colour(double t, char *buf, size_t n) {
  double a = fmin(1, fmax(0, t));
  snprintf(buf, n, "rgb(%d,%d,%d)", (int)lround(255 - a * (255 - 31)), (int)lround(255 - a * (255 - 78)),
           (int)lround(255 - a * (255 - 140)));
}

static void heat_map(ps_sbuf *b, const cJSON *sec) {
  const cJSON *th = cJSON_GetObjectItemCaseSensitive(sec, "theta_final");
  int L = cJSON_GetArraySize(cJSON_GetArrayItem(th, 0));
  ps_sbuf_puts(b, "<h3>Final theta: probability of each level (rows: the 18 variables; the chosen level boxed)</h3>\n"
                  "<div class=\"tw\"><table class=\"heat\"><tr><th>variable</th>");
  for (int k = 0; k < L; k++) ps_sbuf_printf(b, "<th>%d</th>", k);
  ps_sbuf_puts(b, "</tr>\n");
  for (int i = 0; i < cJSON_GetArraySize(th); i++) {
    const cJSON *row = cJSON_GetArrayItem(th, i);
    int best = 0;
    for (int k = 1; k < L; k++)
      if (cJSON_GetArrayItem(row, k)->valuedouble > cJSON_GetArrayItem(row, best)->valuedouble) best = k;
    ps_sbuf_printf(b, "<tr><td>%s</td>", ps_asng_space_name(i));
    for (int k = 0; k < L; k++) {
      double t = cJSON_GetArrayItem(row, k)->valuedouble;
      char col[32];
      cell_colour(t, col, sizeof col);
      ps_sbuf_printf(b, "<td class=\"n\" style=\"background:%s;color:%s;%s\" title=\"level %d = %.4g: theta %.3f\">%.2f</td>",
                     col, t > 0.55 ? "#fff" : "#1d2330", k == best ? "outline:2px solid #f28e2b;outline-offset:-2px" : "",
                     k, ps_asng_level_value(i, k, L), t, t);
    }
    ps_sbuf_puts(b, "</tr>\n");
  }
  ps_sbuf_puts(b, "</table></div>\n<p class=\"note\">Level k of a variable is lo + (hi - lo) k / (levels - 1) in "
                  "its range (search/spaces/asng.json; angles in degrees here). Hover a cell for its value.</p>\n");
}

static void convergence_plot(ps_sbuf *b, const cJSON *sec) {
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(sec, "iteration"), *cv = cJSON_GetObjectItemCaseSensitive(sec, "convergence");
  int n = cJSON_GetArraySize(it);
  if (n < 1) return;
  double *x = malloc((size_t)n * sizeof *x), *y = malloc((size_t)n * sizeof *y);
  if (!x || !y) { free(x); free(y); b->oom = 1; return; }
  for (int i = 0; i < n; i++) {
    x[i] = cJSON_GetArrayItem(it, i)->valuedouble;
    y[i] = cJSON_GetArrayItem(cv, i)->valuedouble;
  }
  ps_svg_plot p;
  memset(&p, 0, sizeof p);
  ps_svg_axis_fit(&p.x, x, n, 0);
  ps_svg_axis_range(&p.y, 0, 1);
  ps_sbuf_puts(b, "<div class=\"fig\">\n");
  ps_svg_begin(&p, b, 590, 300, "theta's convergence over updates", "ASNG update", "mean over variables of max theta");
  ps_svg_polyline(&p, x, y, n, 0, "curve");
  ps_svg_end(&p);
  ps_sbuf_puts(b, "<p>1 means every variable is one-hot (converged); 1/levels is the uniform start.</p></div>\n");
  free(x);
  free(y);
}

static ps_status asng_report(const char *trial_dir, cJSON **section, char **html) {
  cJSON *sec = cJSON_CreateObject();
  *section = NULL;
  *html = NULL;
  cJSON *vars = cJSON_AddArrayToObject(sec, "variables");
  for (int i = 0; i < ps_asng_space_size(); i++) cJSON_AddItemToArray(vars, cJSON_CreateString(ps_asng_space_name(i)));
  ps_status st = read_theta(trial_dir, sec);
  char *ip = ps_path_join(trial_dir, "asng.json"), *pp = ps_path_join(trial_dir, "policy.json");
  cJSON *info = NULL, *pol = NULL;
  if (!st) st = ps_json_read(ip, &info);
  if (!st) st = ps_json_read(pp, &pol);
  free(ip);
  free(pp);
  if (!st) {
    cJSON_AddItemToObject(sec, "final_levels", cJSON_DetachItemFromObjectCaseSensitive(info, "levels"));
    cJSON_AddNumberToObject(sec, "final_convergence", ps_json_num(info, "convergence", NAN));
    cJSON_AddNumberToObject(sec, "final_delta", ps_json_num(info, "delta", NAN));
    cJSON_AddItemToObject(sec, "policy", pol);
    pol = NULL;
  }
  cJSON_Delete(info);
  cJSON_Delete(pol);
  if (st) { cJSON_Delete(sec); return st; }
  ps_sbuf b = {0};
  ps_sbuf_printf(&b, "<h2>The search: ASNG's theta</h2>\n<p class=\"sub\">%d updates; final convergence %.3f, step "
                     "size %.3g. The found policy (argmax theta) is <code>policy.json</code> of the search trial.</p>\n",
                 ps_json_int(sec, "updates", 0), ps_json_num(sec, "final_convergence", NAN),
                 ps_json_num(sec, "final_delta", NAN));
  heat_map(&b, sec);
  convergence_plot(&b, sec);
  if (b.oom) { ps_sbuf_free(&b); cJSON_Delete(sec); return ps_error(PS_ERR_NOMEM, "out of memory"); }
  *section = sec;
  *html = b.s;
  return PS_OK;
}

const ps_oneshot_algo ps_asng_oneshot = {
    .algo = "asng",
    .space = "asng",
    .n_configs = 3,
    .ids = {"asng", "default", "none"},
    .labels = {"ASNG policy", "default augmentation", "no augmentation"},
    .config = asng_config,
    .report = asng_report,
};
