/* report.json and report.html, rebuilt from the study's files alone (journal,
 * study.json, proxy/cases.json, timing.json, external.json), so that
 * `proxyseg report --study DIR` gives the same report as the study itself. */
#include "proxyseg/study.h"
#include "proxyseg/report.h"
#include "proxyseg/stats.h"
#include <cblas.h>
#include <hdf5.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static cJSON *read_opt(const char *dir, const char *name) {
  char *p = ps_path_join(dir, name);
  cJSON *j = NULL;
  if (ps_path_exists(p) && ps_json_read(p, &j)) {
    ps_warn("%s", ps_last_error());
    j = NULL;
  }
  free(p);
  return j;
}

static double phase_seconds(ps_trial **t, int n) {
  double s = 0;
  for (int i = 0; i < n; i++) s += t[i]->seconds;
  return s;
}

static cJSON *trial_json(const ps_trial *t) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "number", t->number);
  cJSON_AddStringToObject(o, "phase", t->phase);
  cJSON_AddStringToObject(o, "state", ps_trial_state_name(t->state));
  if (isfinite(t->value)) cJSON_AddNumberToObject(o, "value", t->value);
  else cJSON_AddNullToObject(o, "value");
  cJSON_AddNumberToObject(o, "seconds", t->seconds);
  if (t->ref >= 0) cJSON_AddNumberToObject(o, "ref", t->ref);
  cJSON_AddItemToObject(o, "params", cJSON_Duplicate(t->params, 1));
  const char *reason = ps_json_str(t->extra, "reason", NULL);
  if (reason) cJSON_AddStringToObject(o, "reason", reason);
  return o;
}

/* Pairs (proxy score, full-side score) over the trials of `phase` that re-ran a proxy trial. */
static int pairs_for(ps_journal *J, const char *phase, double **px, double **fx, int **ids) {
  ps_trial **t;
  int n = ps_journal_phase(J, phase, &t), m = 0;
  *px = malloc((size_t)(n ? n : 1) * sizeof(double));
  *fx = malloc((size_t)(n ? n : 1) * sizeof(double));
  *ids = malloc((size_t)(n ? n : 1) * sizeof(int));
  for (int i = 0; i < n && *px && *fx && *ids; i++) {
    ps_trial *p = ps_journal_trial(J, t[i]->ref);
    if (!p || t[i]->state == PS_TRIAL_RUNNING) continue;
    (*px)[m] = p->state == PS_TRIAL_COMPLETE ? p->value : NAN;
    (*fx)[m] = t[i]->state == PS_TRIAL_COMPLETE ? t[i]->value : NAN; /* FAIL stays out of correlations */
    (*ids)[m++] = p->number;
  }
  free(t);
  return m;
}

static cJSON *versions(void) {
  cJSON *v = cJSON_CreateObject();
  unsigned a, b, c;
  H5get_libversion(&a, &b, &c);
  char h5[32];
  snprintf(h5, sizeof h5, "%u.%u.%u", a, b, c);
  cJSON_AddStringToObject(v, "proxyseg", PS_VERSION_STRING);
  cJSON_AddStringToObject(v, "hdf5", h5);
  cJSON_AddStringToObject(v, "cjson", cJSON_Version());
  cJSON_AddStringToObject(v, "openblas", openblas_get_config());
  return v;
}

ps_status ps_study_report(const char *study_dir, cJSON **headline) {
  if (headline) *headline = NULL;
  cJSON *study = read_opt(study_dir, "study.json");
  if (!study) return ps_error(PS_ERR_DATA, "%s: no study.json (not a study folder?)", study_dir);
  char *jpath = ps_path_join(study_dir, "journal.jsonl");
  ps_journal *J = NULL;
  ps_status st = ps_journal_open(jpath, &J);
  free(jpath);
  if (st) { cJSON_Delete(study); return st; }
  cJSON *cases = read_opt(study_dir, "proxy/cases.json"), *timing = read_opt(study_dir, "timing.json");
  cJSON *external = read_opt(study_dir, "external.json"), *algo_rep = read_opt(study_dir, "algo_report_proxy.json");
  cJSON *rep = cJSON_CreateObject();
  uint64_t seed = (uint64_t)ps_json_num(study, "seed", 0);
  cJSON_AddStringToObject(rep, "study", study_dir);
  cJSON_AddStringToObject(rep, "algorithm", ps_json_str(study, "algo", "random"));
  cJSON_AddNumberToObject(rep, "seed", (double)seed);
  cJSON_AddItemToObject(rep, "versions", versions());
  /* correlation over the configs trained at both scales */
  double *px, *fx;
  int *ids;
  int n = pairs_for(J, "full", &px, &fx, &ids);
  cJSON *corr = NULL;
  int k = ps_json_int(study, "report.topk", 3);
  st = ps_correlation_report(px, fx, ids, n, k, 2000, seed, &corr);
  if (!st) cJSON_AddItemToObject(rep, "correlation", corr);
  /* comparison mode: the same configs on a second subset */
  if (!st) {
    double *qx, *qf;
    int *qids;
    int m = pairs_for(J, "proxy_compare", &qx, &qf, &qids);
    if (m > 0) {
      /* align the second proxy's scores with the pairs above by proxy trial id */
      double *b = malloc((size_t)(n ? n : 1) * sizeof(double));
      for (int i = 0; b && i < n; i++) {
        b[i] = NAN;
        for (int j = 0; j < m; j++)
          if (qids[j] == ids[i]) b[i] = qf[j];
      }
      cJSON *cmp = NULL;
      if (b && !ps_compare_proxies(px, b, fx, n, 2000, seed, &cmp)) {
        cJSON *cases2 = read_opt(study_dir, "proxy/cases_compare.json");
        cJSON_AddStringToObject(cmp, "a", ps_json_str(cases, "method", "?"));
        cJSON_AddStringToObject(cmp, "b", ps_json_str(cases2, "method", "?"));
        cJSON_Delete(cases2);
        cJSON_AddItemToObject(rep, "comparison", cmp);
      }
      free(b);
    }
    free(qx); free(qf); free(qids);
  }
  /* speed-up: proxy side (proxy data + proxy search) against the full search */
  ps_trial **pt, **ft, **fs;
  int n_pt = ps_journal_phase(J, "proxy", &pt), n_ft = ps_journal_phase(J, "full", &ft),
      n_fs = ps_journal_phase(J, "full_search", &fs);
  double proxy_s = phase_seconds(pt, n_pt) + ps_json_num(cases, "seconds", 0);
  cJSON *sp = cJSON_AddObjectToObject(rep, "speedup");
  double full_s = NAN;
  if (n_fs >= n_pt && n_pt > 0) {
    full_s = phase_seconds(fs, n_fs);
    cJSON_AddStringToObject(sp, "how", "measured");
  } else if (n_ft > 0) {
    full_s = phase_seconds(ft, n_ft) / n_ft * n_pt;
    cJSON_AddStringToObject(sp, "how", "estimated from measured per-trial times");
    cJSON_AddNumberToObject(sp, "full_seconds_per_trial", phase_seconds(ft, n_ft) / n_ft);
  }
  cJSON_AddNumberToObject(sp, "proxy_seconds", proxy_s);
  cJSON_AddNumberToObject(sp, "proxy_trials", n_pt);
  if (isfinite(full_s)) {
    cJSON_AddNumberToObject(sp, "full_seconds", full_s);
    cJSON_AddNumberToObject(sp, "factor", proxy_s > 0 ? full_s / proxy_s : 0);
  } else {
    cJSON_AddNullToObject(sp, "full_seconds");
    cJSON_AddNullToObject(sp, "factor");
  }
  cJSON *tm = cJSON_AddObjectToObject(rep, "timing");
  cJSON_AddNumberToObject(tm, "preprocessing", ps_json_num(timing, "preprocessing_seconds", 0));
  cJSON_AddNumberToObject(tm, "proxy_data", ps_json_num(cases, "seconds", 0));
  cJSON_AddNumberToObject(tm, "proxy_search", phase_seconds(pt, n_pt));
  cJSON_AddNumberToObject(tm, "full_retraining", phase_seconds(ft, n_ft));
  if (n_fs) cJSON_AddNumberToObject(tm, "full_search", phase_seconds(fs, n_fs));
  /* best: the proxy's winner and how it did at full scale */
  ps_trial *win = NULL;
  for (int i = 0; i < n_pt; i++)
    if (pt[i]->state == PS_TRIAL_COMPLETE && (!win || pt[i]->value > win->value)) win = pt[i];
  if (win) {
    cJSON *best = cJSON_AddObjectToObject(rep, "best");
    cJSON_AddNumberToObject(best, "trial", win->number);
    cJSON_AddItemToObject(best, "params", cJSON_Duplicate(win->params, 1));
    cJSON_AddNumberToObject(best, "proxy_score", win->value);
    for (int i = 0; i < n_ft; i++)
      if (ft[i]->ref == win->number && ft[i]->state == PS_TRIAL_COMPLETE) cJSON_AddNumberToObject(best, "full_score", ft[i]->value);
    char *cp = ps_strfmt("%s/trials/%04d/config.json", study_dir, win->number);
    cJSON *wcfg = NULL;
    if (ps_path_exists(cp) && !ps_json_read(cp, &wcfg)) cJSON_AddItemToObject(best, "config", wcfg);
    free(cp);
  }
  cJSON *proxy = cJSON_AddObjectToObject(rep, "proxy");
  cJSON *pd = cJSON_AddObjectToObject(proxy, "data");
  cJSON_AddStringToObject(pd, "method", ps_json_str(cases, "method", ps_json_str(study, "proxy_data.method", "?")));
  cJSON_AddNumberToObject(pd, "fraction", ps_json_num(cases, "fraction", ps_json_num(study, "proxy_data.fraction", NAN)));
  cJSON_AddNumberToObject(pd, "cases", ps_json_num(cases, "count", 0));
  cJSON_AddNumberToObject(pd, "of", ps_json_num(cases, "n_cases", 0));
  cJSON *pn = cJSON_AddObjectToObject(proxy, "network");
  cJSON_AddNumberToObject(pn, "width", ps_json_num(study, "proxy_net.width", 1));
  cJSON_AddNumberToObject(pn, "depth", ps_json_num(study, "proxy_net.depth", 0));
  cJSON *counts = cJSON_AddObjectToObject(rep, "trial_states");
  for (int s = 0; s < 4; s++) {
    int c = 0;
    for (int i = 0; i < J->n; i++) c += (int)J->trials[i].state == s;
    cJSON_AddNumberToObject(counts, ps_trial_state_name((ps_trial_state)s), c);
  }
  if (external) cJSON_AddItemToObject(rep, "external", cJSON_Duplicate(external, 1));
  if (algo_rep) {
    cJSON *ad = cJSON_Duplicate(algo_rep, 1);
    /* the page plots algorithm_data.rewards: one reward per told trial (RL) */
    const cJSON *tr = cJSON_GetObjectItemCaseSensitive(algo_rep, "trials");
    if (cJSON_IsArray(tr) && !cJSON_GetObjectItemCaseSensitive(ad, "rewards")) {
      cJSON *rw = cJSON_AddArrayToObject(ad, "rewards");
      const cJSON *t;
      cJSON_ArrayForEach(t, tr) cJSON_AddItemToArray(rw, cJSON_CreateNumber(ps_json_num(t, "reward", 0)));
    }
    cJSON_AddItemToObject(rep, "algorithm_data", ad);
  }
  cJSON *trials = cJSON_CreateArray();
  for (int i = 0; i < J->n; i++) cJSON_AddItemToArray(trials, trial_json(&J->trials[i]));
  if (!st) {
    char *rp = ps_path_join(study_dir, "report.json");
    st = ps_json_write(rp, rep);
    free(rp);
  }
  if (!st) {
    char *hp = ps_path_join(study_dir, "report.html");
    st = ps_report_write_html(rep, trials, cases, hp);
    free(hp);
  }
  if (!st && headline) {
    cJSON *h = cJSON_CreateObject();
    cJSON_AddItemToObject(h, "spearman", cJSON_Duplicate(ps_json_path(rep, "correlation.spearman"), 1));
    cJSON_AddItemToObject(h, "speedup", cJSON_Duplicate(sp, 1));
    cJSON *best = cJSON_Duplicate(ps_json_path(rep, "best"), 1);
    cJSON_DeleteItemFromObject(best, "config"); /* the headline names the searched params only */
    cJSON_AddItemToObject(h, "best", best);
    *headline = h;
  }
  free(px); free(fx); free(ids);
  free(pt); free(ft); free(fs);
  cJSON_Delete(trials);
  cJSON_Delete(rep);
  cJSON_Delete(study);
  cJSON_Delete(cases);
  cJSON_Delete(timing);
  cJSON_Delete(external);
  cJSON_Delete(algo_rep);
  ps_journal_free(J);
  return st;
}
