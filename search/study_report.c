/* report.json, report.html and trials.csv, rebuilt from the study's files
 * alone (journal, study.json, proxy/cases.json, timing.json, external.json,
 * best/best.json, trials/NNNN/metrics.json), so that `proxyseg report --study
 * DIR` gives the same report as the study itself. The statistics are noise-aware:
 * every correlation uses the configs' replicate means, beside the noise ceiling. */
#include "proxyseg/study.h"
#include "proxyseg/report.h"
#include "proxyseg/stats.h"
#include "study_grid.h"
#include "study_oneshot.h"
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

/* Learning curves from the trial's metrics.json (absent when it left none). */
static void add_curve(cJSON *o, const char *study_dir, int number) {
  char *mp = ps_strfmt("%s/trials/%04d/metrics.json", study_dir, number);
  cJSON *m = NULL;
  if (ps_path_exists(mp) && !ps_json_read(mp, &m)) {
    cJSON *c = cJSON_AddObjectToObject(o, "curve");
    cJSON_AddItemToObject(c, "val_dice", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(m, "val_dice_curve"), 1));
    cJSON_AddItemToObject(c, "train_loss", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(m, "train_loss_curve"), 1));
  } else {
    ps_clear_error();
  }
  cJSON_Delete(m);
  free(mp);
  /* the trial's seed, from its own config (the journal keeps it in the start event only) */
  char *cp = ps_strfmt("%s/trials/%04d/config.json", study_dir, number);
  cJSON *c = NULL;
  if (ps_path_exists(cp) && !ps_json_read(cp, &c) && cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(c, "seed")))
    cJSON_AddNumberToObject(o, "seed", ps_json_num(c, "seed", 0));
  else
    ps_clear_error();
  cJSON_Delete(c);
  free(cp);
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


/* Everything the report is built from. */
typedef struct {
  const char *dir;
  cJSON *study, *cases, *timing, *external, *algo_rep, *best;
  ps_journal *J;
  uint64_t seed;
  int topk, n_boot;
  ps_grid proxy, full; /* the re-trained configs: proxy runs, full-scale replicates */
} report_in;

static double sum_phase(ps_journal *J, const char *phase) {
  ps_trial **t;
  int n = ps_journal_phase(J, phase, &t);
  double s = phase_seconds(t, n);
  free(t);
  return s;
}

static int count_phase(ps_journal *J, const char *phase) {
  ps_trial **t;
  int n = ps_journal_phase(J, phase, &t);
  free(t);
  return n;
}

/* The noise-aware correlation object of a proxy grid against a full grid. */
static ps_status correlate(const report_in *R, const ps_grid *px, const ps_grid *fx, cJSON **out) {
  return ps_correlation_report_reps(px->v, px->w, fx->v, fx->w, px->ids, px->n, R->topk, R->n_boot, R->seed, out);
}

static cJSON *rho_summary(const cJSON *corr) {
  cJSON *s = cJSON_CreateObject();
  cJSON_AddItemToObject(s, "value", cJSON_Duplicate(ps_json_path(corr, "spearman.value"), 1));
  cJSON_AddItemToObject(s, "ci95", cJSON_Duplicate(ps_json_path(corr, "spearman.ci95"), 1));
  cJSON_AddItemToObject(s, "p_value", cJSON_Duplicate(ps_json_path(corr, "spearman.p_value"), 1));
  return s;
}

/* The proxy paper's table on the user's task: data only, network only, both. */
static ps_status add_factorial(const report_in *R, const cJSON *main_corr, cJSON *rep) {
  if (!count_phase(R->J, "factorial_data") && !count_phase(R->J, "factorial_net")) return PS_OK;
  double full_s = ps_grid_mean_seconds(&R->full);
  cJSON *f = cJSON_AddObjectToObject(rep, "factorial"), *rows = cJSON_AddArrayToObject(f, "rows");
  cJSON_AddStringToObject(f, "how", "speed-up: mean seconds of a full-scale run over the mean seconds of a run in the "
                                    "cell; rho: Spearman of the cell's scores with the full-scale replicate means");
  const char *names[] = {"data only", "network only"}, *phases[] = {"factorial_data", "factorial_net"};
  ps_status st = PS_OK;
  for (int c = 0; c < 2 && !st; c++) {
    ps_grid g;
    cJSON *corr = NULL;
    st = ps_grid_like(&R->full, &g);
    if (!st) st = ps_grid_add_phase(&g, R->J, phases[c], false);
    if (!st && g.w > 0) st = correlate(R, &g, &R->full, &corr);
    if (!st && corr) {
      cJSON *row = cJSON_CreateObject();
      cJSON_AddStringToObject(row, "name", names[c]);
      cJSON_AddNumberToObject(row, "speedup", full_s / ps_grid_mean_seconds(&g));
      cJSON_AddItemToObject(row, "spearman", rho_summary(corr));
      cJSON_AddNumberToObject(row, "n", ps_json_num(corr, "n", 0) - ps_json_num(corr, "n_dropped", 0));
      cJSON_AddItemToArray(rows, row);
    }
    cJSON_Delete(corr);
    ps_grid_free(&g);
  }
  cJSON *both = cJSON_CreateObject();
  cJSON_AddStringToObject(both, "name", "both");
  cJSON_AddNumberToObject(both, "speedup", full_s / ps_grid_mean_seconds(&R->proxy));
  cJSON_AddItemToObject(both, "spearman", rho_summary(main_corr));
  cJSON_AddNumberToObject(both, "n", ps_json_num(main_corr, "n", 0) - ps_json_num(main_corr, "n_dropped", 0));
  cJSON_AddItemToArray(rows, both);
  return st;
}

/* The paired test of the ranked subset against the first other subset: the
 * same resampled configs for both (ps_compare_proxies), on the replicate means. */
static ps_status add_paired(const report_in *R, const ps_grid *a, const ps_grid *b, cJSON *rep) {
  int n = R->full.n;
  double *x = malloc((size_t)(n ? n : 1) * 3 * sizeof *x);
  if (!x) return ps_error(PS_ERR_NOMEM, "out of memory");
  int m = 0;
  for (int i = 0; i < n; i++) {
    ps_grid_mean(a, i, &x[m], NULL);
    ps_grid_mean(b, i, &x[n + m], NULL);
    ps_grid_mean(&R->full, i, &x[2 * n + m], NULL);
    if (isfinite(x[m]) && isfinite(x[n + m]) && isfinite(x[2 * n + m])) m++;
  }
  cJSON *cmp = NULL;
  ps_status st = m >= 3 ? ps_compare_proxies(x, x + n, x + 2 * n, m, R->n_boot, R->seed, &cmp) : PS_OK;
  if (!st && cmp) {
    cJSON *c2 = read_opt(R->dir, "proxy/cases_compare_1.json");
    cJSON_AddStringToObject(cmp, "a", ps_json_str(R->cases, "method", "?"));
    cJSON_AddStringToObject(cmp, "b", ps_json_str(c2, "method", "?"));
    cJSON_Delete(c2);
    cJSON_AddItemToObject(rep, "comparison", cmp);
  }
  free(x);
  return st;
}

/* Where the ranked subset's rho stands among other (random) subsets of the same
 * size. The ranked side uses its search trial only, as each draw has one run. */
static ps_status add_subsets(const report_in *R, cJSON *rep) {
  if (!count_phase(R->J, "compare_1")) return PS_OK;
  ps_grid first, other;
  cJSON *corr = NULL;
  ps_status st = ps_grid_like(&R->full, &first);
  if (!st) st = ps_grid_like(&R->full, &other);
  if (!st) st = ps_grid_add_phase(&first, R->J, "proxy", true);
  if (!st) st = ps_grid_add_phase(&other, R->J, "compare_1", false);
  if (!st) st = correlate(R, &first, &R->full, &corr);
  if (!st) st = add_paired(R, &first, &other, rep);
  ps_grid_free(&first);
  ps_grid_free(&other);
  if (st) return st;
  double ranked = ps_json_num(corr, "spearman.value", NAN);
  cJSON_Delete(corr);
  cJSON *o = cJSON_AddObjectToObject(rep, "random_subsets");
  cJSON_AddStringToObject(o, "ranked_method", ps_json_str(R->cases, "method", "?"));
  cJSON_AddNumberToObject(o, "ranked_rho", ranked);
  cJSON *rhos = cJSON_AddArrayToObject(o, "random_rhos");
  int beaten_by = 0, of = 0;
  for (int d = 1; !st; d++) {
    char phase[24], name[48];
    snprintf(phase, sizeof phase, "compare_%d", d);
    if (!count_phase(R->J, phase)) break;
    if (d == 1) {
      snprintf(name, sizeof name, "proxy/cases_compare_%d.json", d);
      cJSON *c = read_opt(R->dir, name);
      cJSON_AddStringToObject(o, "method", ps_json_str(c, "method", "random"));
      cJSON_Delete(c);
    }
    ps_grid g;
    st = ps_grid_like(&R->full, &g);
    if (!st) st = ps_grid_add_phase(&g, R->J, phase, false);
    if (!st) st = correlate(R, &g, &R->full, &corr);
    double r = ps_json_num(corr, "spearman.value", NAN);
    cJSON_AddItemToArray(rhos, cJSON_CreateNumber(r));
    if (isfinite(r)) { of++; beaten_by += r >= ranked; }
    cJSON_Delete(corr);
    corr = NULL;
    ps_grid_free(&g);
  }
  cJSON_AddNumberToObject(o, "rank", 1 + beaten_by);
  cJSON_AddNumberToObject(o, "of", of + 1);
  return st;
}

static ps_status add_external(const report_in *R, cJSON *rep) {
  if (!R->external) return PS_OK;
  cJSON_AddItemToObject(rep, "external", cJSON_Duplicate(R->external, 1));
  ps_grid px, fx;
  cJSON *corr = NULL;
  ps_status st = ps_grid_like(&R->full, &px);
  if (!st) st = ps_grid_like(&R->full, &fx);
  if (!st) st = ps_grid_add_external(&px, R->external, "proxy");
  if (!st) st = ps_grid_add_external(&px, R->external, "proxy_rep");
  if (!st) st = ps_grid_add_external(&fx, R->external, "full");
  if (!st && px.w > 0 && fx.w > 0) st = correlate(R, &px, &fx, &corr);
  if (corr) cJSON_AddItemToObject(rep, "correlation_external", corr);
  ps_grid_free(&px);
  ps_grid_free(&fx);
  return st;
}

/* Two figures, each saying how it was obtained: the search alone, and the
 * whole study against the full search it replaces. */
static void add_speedup(const report_in *R, cJSON *rep) {
  ps_journal *J = R->J;
  int n_pt = count_phase(J, "proxy"), n_fs = count_phase(J, "full_search");
  double pd = ps_json_num(R->cases, "seconds", 0), prep = ps_json_num(R->timing, "preprocessing_seconds", 0);
  double proxy_search = sum_phase(J, "proxy") + pd, full_search = NAN;
  const char *how = "not available", *detail = "no full-scale run finished";
  if (n_fs >= n_pt && n_pt > 0) {
    full_search = sum_phase(J, "full_search");
    how = "measured";
    detail = "the same search run at full scale (validate_full)";
  } else if (isfinite(ps_grid_mean_seconds(&R->full))) {
    full_search = ps_grid_mean_seconds(&R->full) * n_pt;
    how = "estimated from measured per-trial times";
    detail = "the mean seconds of a full-scale re-training run times the number of proxy trials";
  }
  cJSON *sp = cJSON_AddObjectToObject(rep, "speedup");
  cJSON *s = cJSON_AddObjectToObject(sp, "search");
  cJSON_AddNumberToObject(s, "proxy_seconds", proxy_search);
  cJSON_AddNumberToObject(s, "full_seconds", full_search);
  cJSON_AddNumberToObject(s, "factor", full_search / proxy_search);
  cJSON_AddStringToObject(s, "how", how);
  cJSON_AddStringToObject(s, "detail", detail);
  cJSON_AddNumberToObject(s, "proxy_trials", n_pt);
  cJSON *e = cJSON_AddObjectToObject(sp, "end_to_end");
  cJSON *parts = cJSON_CreateObject();
  cJSON_AddNumberToObject(parts, "preprocessing", prep);
  cJSON_AddNumberToObject(parts, "proxy_data", pd);
  cJSON_AddNumberToObject(parts, "warm_start", sum_phase(J, "warm_start"));
  cJSON_AddNumberToObject(parts, "proxy_search", sum_phase(J, "proxy"));
  cJSON_AddNumberToObject(parts, "proxy_replicates", sum_phase(J, "proxy_rep"));
  cJSON_AddNumberToObject(parts, "full_retraining", sum_phase(J, "full"));
  double total = 0;
  const cJSON *it;
  cJSON_ArrayForEach(it, parts) total += it->valuedouble;
  cJSON_AddNumberToObject(e, "proxy_seconds", total);
  cJSON_AddNumberToObject(e, "full_seconds", prep + full_search);
  cJSON_AddNumberToObject(e, "factor", (prep + full_search) / total);
  cJSON_AddStringToObject(e, "how", how);
  cJSON_AddStringToObject(e, "detail", "the whole study (preprocessing, case scoring, warm start, proxy search, proxy "
                                    "replicates, full-scale re-training with replicates) against preprocessing plus "
                                    "the full search; analysis extras (factorial, comparison subsets, external "
                                    "scoring) excluded; sums of trial wall times");
  cJSON_AddItemToObject(e, "parts", parts);
  /* the DESIGN contract's top-level keys: the search figure */
  cJSON_AddNumberToObject(sp, "proxy_seconds", proxy_search);
  cJSON_AddNumberToObject(sp, "full_seconds", full_search);
  cJSON_AddNumberToObject(sp, "factor", full_search / proxy_search);
  cJSON_AddStringToObject(sp, "how", how);
  cJSON *tm = cJSON_AddObjectToObject(rep, "timing");
  cJSON_ArrayForEach(it, parts) cJSON_AddNumberToObject(tm, it->string, it->valuedouble);
  if (n_fs) cJSON_AddNumberToObject(tm, "full_search", sum_phase(J, "full_search"));
}

/* The full-scale winner (by replicate mean) and, under its own label, the proxy's winner. */
static void add_best(const report_in *R, cJSON *rep) {
  ps_trial **pt;
  int n_pt = ps_journal_phase(R->J, "proxy", &pt);
  ps_trial *win = NULL;
  for (int i = 0; i < n_pt; i++)
    if (pt[i]->state == PS_TRIAL_COMPLETE && (!win || pt[i]->value > win->value)) win = pt[i];
  free(pt);
  /* full-scale rank of each config by replicate mean (1 = best) */
  int n = R->full.n;
  double *mean = calloc((size_t)(n ? n : 1), sizeof *mean);
  for (int i = 0; mean && i < n; i++) ps_grid_mean(&R->full, i, &mean[i], NULL);
  if (R->best) {
    int ref = ps_json_int(R->best, "ref", -1);
    ps_trial *t = ps_journal_trial(R->J, ref);
    cJSON *b = cJSON_AddObjectToObject(rep, "best");
    cJSON_AddNumberToObject(b, "trial", ref);
    cJSON_AddItemToObject(b, "params", cJSON_Duplicate(t ? t->params : NULL, 1));
    cJSON *scores = cJSON_CreateArray();
    double s = 0, s2 = 0;
    int c = 0;
    for (int i = 0; i < n; i++)
      if (R->full.ids[i] == ref)
        for (int r = 0; r < R->full.w; r++) {
          double v = R->full.v[i * R->full.w + r];
          if (!isfinite(v)) continue;
          cJSON_AddItemToArray(scores, cJSON_CreateNumber(v));
          s += v; s2 += v * v; c++;
        }
    cJSON_AddNumberToObject(b, "full_mean", c ? s / c : NAN);
    cJSON_AddNumberToObject(b, "full_sd", c > 1 ? sqrt(fmax(0, (s2 - s * s / c) / (c - 1))) : NAN);
    cJSON_AddItemToObject(b, "full_scores", scores);
    if (t) cJSON_AddNumberToObject(b, "proxy_score", t->value);
    cJSON_AddNumberToObject(b, "model_trial", ps_json_int(R->best, "trial", -1));
    cJSON_AddStringToObject(b, "checkpoint", "best/checkpoint.h5");
    cJSON_AddStringToObject(b, "config", "best/config.json");
    char *cmd = ps_strfmt("proxyseg predict --model %s/best/checkpoint.h5 --input IMAGES --out PREDICTIONS", R->dir);
    cJSON_AddStringToObject(b, "predict_command", cmd);
    free(cmd);
  }
  if (win) {
    cJSON *w = cJSON_AddObjectToObject(rep, "proxy_winner");
    cJSON_AddNumberToObject(w, "trial", win->number);
    cJSON_AddItemToObject(w, "params", cJSON_Duplicate(win->params, 1));
    cJSON_AddNumberToObject(w, "proxy_score", win->value);
    double m = NAN;
    int rank = 0;
    for (int i = 0; mean && i < n; i++)
      if (R->full.ids[i] == win->number) {
        m = mean[i];
        rank = 1;
        for (int j = 0; j < n; j++) rank += isfinite(mean[j]) && mean[j] > m;
      }
    cJSON_AddNumberToObject(w, "full_mean", m);
    if (rank) cJSON_AddNumberToObject(w, "full_rank", rank);
    else cJSON_AddNullToObject(w, "full_rank");
    cJSON_AddNumberToObject(w, "of", n);
  }
  free(mean);
}

/* Correlation ratio eta of a categorical parameter with the score's ranks: the
 * share of rank variance explained by the choice, sqrt(SS_between / SS_total),
 * in [0, 1] like |Spearman| (to which it reduces for two equal-sized groups). */
static double eta_ranks(const char *const *cat, const double *y, int m) {
  double *r = malloc((size_t)m * sizeof *r);
  if (!r) return NAN;
  ps_rank_average(y, m, r);
  double mean = 0, ss_tot = 0, ss_between = 0;
  for (int i = 0; i < m; i++) mean += r[i] / m;
  for (int i = 0; i < m; i++) ss_tot += (r[i] - mean) * (r[i] - mean);
  for (int i = 0; i < m; i++) {
    bool first = true;
    for (int j = 0; j < i && first; j++) first = strcmp(cat[j], cat[i]) != 0;
    if (!first) continue;
    double s = 0;
    int c = 0;
    for (int j = i; j < m; j++)
      if (!strcmp(cat[j], cat[i])) { s += r[j]; c++; }
    ss_between += c * (s / c - mean) * (s / c - mean);
  }
  free(r);
  return ss_tot > 0 ? sqrt(ss_between / ss_tot) : NAN;
}

/* Importance of each searched parameter for the proxy score over the completed
 * proxy trials: |Spearman| for numbers, the correlation ratio for choices; sorted descending. */
static void add_importance(const report_in *R, cJSON *rep) {
  ps_trial **pt;
  int n = ps_journal_phase(R->J, "proxy", &pt), m = 0;
  ps_trial **ok = malloc((size_t)(n ? n : 1) * sizeof *ok);
  for (int i = 0; ok && i < n; i++)
    if (pt[i]->state == PS_TRIAL_COMPLETE && isfinite(pt[i]->value)) ok[m++] = pt[i];
  cJSON *keys = cJSON_CreateArray();
  for (int i = 0; i < m; i++) {
    const cJSON *it;
    cJSON_ArrayForEach(it, ok[i]->params) {
      bool have = false;
      const cJSON *k;
      cJSON_ArrayForEach(k, keys) have = have || !strcmp(k->valuestring, it->string);
      if (!have) cJSON_AddItemToArray(keys, cJSON_CreateString(it->string));
    }
  }
  int d = cJSON_GetArraySize(keys);
  double *x = malloc((size_t)(m ? m : 1) * sizeof *x), *y = malloc((size_t)(m ? m : 1) * sizeof *y);
  double *imp = malloc((size_t)(d ? d : 1) * sizeof *imp);
  const char **cat = malloc((size_t)(m ? m : 1) * sizeof *cat);
  if (ok && x && y && imp && cat && d > 0 && m >= 3) {
    for (int i = 0; i < m; i++) y[i] = ok[i]->value;
    for (int j = 0; j < d; j++) {
      const char *key = cJSON_GetArrayItem(keys, j)->valuestring;
      bool categorical = false;
      for (int i = 0; i < m; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(ok[i]->params, key);
        categorical = categorical || cJSON_IsString(v);
        x[i] = cJSON_IsNumber(v) ? v->valuedouble : cJSON_IsBool(v) ? cJSON_IsTrue(v) : NAN;
        cat[i] = cJSON_IsString(v) ? v->valuestring : "";
      }
      if (categorical) imp[j] = eta_ranks(cat, y, m);
      else ps_param_importance(x, m, 1, y, &imp[j]);
    }
    cJSON *arr = cJSON_AddArrayToObject(rep, "importance");
    for (int a = 0; a < d; a++) {
      int best = -1;
      for (int j = 0; j < d; j++)
        if (isfinite(imp[j]) && (best < 0 || imp[j] > imp[best])) best = j;
      if (best < 0) break;
      cJSON *o = cJSON_CreateObject();
      cJSON_AddStringToObject(o, "param", cJSON_GetArrayItem(keys, best)->valuestring);
      cJSON_AddNumberToObject(o, "value", imp[best]);
      cJSON_AddItemToArray(arr, o);
      imp[best] = NAN;
    }
  }
  free(x); free(y); free(imp); free(cat); free(ok);
  free(pt);
  cJSON_Delete(keys);
}

static void add_proxy_and_states(const report_in *R, cJSON *rep) {
  cJSON *proxy = cJSON_AddObjectToObject(rep, "proxy");
  cJSON *pd = cJSON_AddObjectToObject(proxy, "data");
  cJSON_AddStringToObject(pd, "method", ps_json_str(R->cases, "method", ps_json_str(R->study, "proxy_data.method", "?")));
  cJSON_AddNumberToObject(pd, "fraction", ps_json_num(R->cases, "fraction", ps_json_num(R->study, "proxy_data.fraction", NAN)));
  cJSON_AddNumberToObject(pd, "cases", ps_json_num(R->cases, "count", 0));
  cJSON_AddNumberToObject(pd, "of", ps_json_num(R->cases, "n_cases", 0));
  cJSON *pn = cJSON_AddObjectToObject(proxy, "network");
  cJSON_AddNumberToObject(pn, "width", ps_json_num(R->study, "proxy_net.width", 1));
  cJSON_AddNumberToObject(pn, "depth", ps_json_num(R->study, "proxy_net.depth", 0));
  cJSON *counts = cJSON_AddObjectToObject(rep, "trial_states");
  for (int s = 0; s < 4; s++) {
    int c = 0;
    for (int i = 0; i < R->J->n; i++) c += (int)R->J->trials[i].state == s;
    cJSON_AddNumberToObject(counts, ps_trial_state_name((ps_trial_state)s), c);
  }
  if (R->algo_rep) {
    cJSON *ad = cJSON_Duplicate(R->algo_rep, 1);
    /* the page plots algorithm_data.rewards: one reward per told trial (RL) */
    const cJSON *tr = cJSON_GetObjectItemCaseSensitive(R->algo_rep, "trials");
    if (cJSON_IsArray(tr) && !cJSON_GetObjectItemCaseSensitive(ad, "rewards")) {
      cJSON *rw = cJSON_AddArrayToObject(ad, "rewards");
      const cJSON *t;
      cJSON_ArrayForEach(t, tr) cJSON_AddItemToArray(rw, cJSON_CreateNumber(ps_json_num(t, "reward", 0)));
    }
    cJSON_AddItemToObject(rep, "algorithm_data", ad);
  }
}

/* Every trial with its replicate index (order among its config's runs in the phase) and learning curve. */
static cJSON *trials_json(const report_in *R) {
  cJSON *trials = cJSON_CreateArray();
  for (int i = 0; i < R->J->n; i++) {
    const ps_trial *t = &R->J->trials[i];
    cJSON *o = trial_json(t);
    if (t->ref >= 0) {
      int rep = 0;
      for (int j = 0; j < i; j++)
        rep += R->J->trials[j].ref == t->ref && !strcmp(R->J->trials[j].phase, t->phase);
      cJSON_AddNumberToObject(o, "replicate", rep + (!strcmp(t->phase, "proxy_rep") ? 1 : 0));
    }
    add_curve(o, R->dir, t->number);
    cJSON_AddItemToArray(trials, o);
  }
  return trials;
}

static void report_in_free(report_in *R) {
  cJSON_Delete(R->study);
  cJSON_Delete(R->cases);
  cJSON_Delete(R->timing);
  cJSON_Delete(R->external);
  cJSON_Delete(R->algo_rep);
  cJSON_Delete(R->best);
  ps_grid_free(&R->proxy);
  ps_grid_free(&R->full);
  ps_journal_free(R->J);
}

ps_status ps_study_report(const char *study_dir, cJSON **headline) {
  if (headline) *headline = NULL;
  report_in R;
  memset(&R, 0, sizeof R);
  R.dir = study_dir;
  R.study = read_opt(study_dir, "study.json");
  if (!R.study) return ps_error(PS_ERR_DATA, "%s: no study.json (not a study folder?)", study_dir);
  char *jpath = ps_path_join(study_dir, "journal.jsonl");
  ps_status st = ps_journal_open(jpath, &R.J);
  free(jpath);
  if (st) { report_in_free(&R); return st; }
  const ps_oneshot_algo *one = ps_oneshot_find(ps_json_str(R.study, "algo", NULL));
  if (one) {
    /* a one-shot search ranks nothing: its report compares the re-trained configurations */
    st = ps_oneshot_report(study_dir, R.study, R.J, one, headline);
    cJSON *trials = st ? NULL : trials_json(&R);
    if (!st) {
      char *cp = ps_path_join(study_dir, "trials.csv");
      st = ps_report_write_trials_csv(trials, cp);
      free(cp);
    }
    cJSON_Delete(trials);
    report_in_free(&R);
    return st;
  }
  R.cases = read_opt(study_dir, "proxy/cases.json");
  R.timing = read_opt(study_dir, "timing.json");
  R.external = read_opt(study_dir, "external.json");
  R.algo_rep = read_opt(study_dir, "algo_report_proxy.json");
  R.best = read_opt(study_dir, "best/best.json");
  R.seed = (uint64_t)ps_json_num(R.study, "seed", 0);
  R.topk = ps_json_int(R.study, "report.topk", 3);
  R.n_boot = ps_json_int(R.study, "report.bootstrap", 2000);
  /* the re-trained configs: proxy side = search trial + proxy replicates; full side = seed replicates */
  st = ps_grid_configs(R.J, &R.proxy);
  if (!st) st = ps_grid_like(&R.proxy, &R.full);
  if (!st) st = ps_grid_add_phase(&R.proxy, R.J, "proxy", true);
  if (!st) st = ps_grid_add_phase(&R.proxy, R.J, "proxy_rep", false);
  if (!st) st = ps_grid_add_phase(&R.full, R.J, "full", false);
  cJSON *rep = cJSON_CreateObject(), *corr = NULL;
  if (!st) st = correlate(&R, &R.proxy, &R.full, &corr);
  if (!st) {
    /* the verdict first: it is what the study is for */
    cJSON_AddItemToObject(rep, "verdict", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(corr, "verdict"), 1));
    cJSON_AddStringToObject(rep, "study", study_dir);
    cJSON_AddStringToObject(rep, "algorithm", ps_json_str(R.study, "algo", "random"));
    cJSON_AddNumberToObject(rep, "seed", (double)R.seed);
    cJSON_AddItemToObject(rep, "versions", versions());
    cJSON_AddItemToObject(rep, "correlation", corr);
    st = add_external(&R, rep);
  } else {
    cJSON_Delete(corr);
    corr = NULL;
  }
  if (!st) st = add_factorial(&R, corr, rep);
  if (!st) st = add_subsets(&R, rep);
  if (!st) {
    add_speedup(&R, rep);
    add_best(&R, rep);
    add_importance(&R, rep);
    add_proxy_and_states(&R, rep);
  }
  cJSON *trials = st ? NULL : trials_json(&R);
  if (!st) {
    char *rp = ps_path_join(study_dir, "report.json");
    st = ps_json_write(rp, rep);
    free(rp);
  }
  if (!st) {
    char *hp = ps_path_join(study_dir, "report.html");
    st = ps_report_write_html(rep, trials, R.cases, hp);
    free(hp);
  }
  if (!st) {
    char *cp = ps_path_join(study_dir, "trials.csv");
    st = ps_report_write_trials_csv(trials, cp);
    free(cp);
  }
  if (!st && headline) *headline = cJSON_Duplicate(rep, 1);
  cJSON_Delete(trials);
  cJSON_Delete(rep);
  report_in_free(&R);
  return st;
}
