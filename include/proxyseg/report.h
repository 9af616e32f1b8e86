/* The study's HTML report (STUDY/report.html): one self-contained page — inline
 * SVG and CSS, no scripts, no external assets — built from report.json, the
 * journal's trials and proxy/cases.json. All text from the inputs is escaped. */
#ifndef PROXYSEG_REPORT_H
#define PROXYSEG_REPORT_H

#include <cjson/cJSON.h>
#include "proxyseg/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Inputs (every part optional; a missing part leaves its section out or says
 * "not available"):
 *  report  report.json: correlation (ps_correlation_report's object), speedup
 *          {proxy_seconds, full_seconds, factor, how}, timing {name: seconds}
 *          (e.g. preprocessing, proxy_data, proxy_search, full_retraining,
 *          other), best {trial, config|params, proxy_score, full_score},
 *          proxy {data {method, fraction, cases|count}, network {width, depth}},
 *          algorithm, study|name, dataset, seed, version|versions,
 *          algorithm_data {rewards: [numbers]} (RL reward curve).
 *  trials  array of journal trial objects {number, state (COMPLETE, PRUNED,
 *          FAIL, RUNNING), params {key: value}, value, phase ("proxy" | "full";
 *          absent = proxy), seconds, ...}; NULL = none.
 *  cases   proxy/cases.json (ps_proxy_select's result) or NULL.
 * Plots, in order, each one <svg>: proxy-vs-full scores, proxy-vs-full ranks
 * (both when the correlation has >= 1 pair), best-so-far over proxy trials
 * (>= 1 complete proxy trial), one slice plot per searched parameter, the time
 * breakdown (when speedup or timing has seconds), case scores (when cases has
 * cases), the RL reward curve (when algorithm_data.rewards has numbers).
 * Scores are "higher is better". *html is malloc'd; the caller frees it. */
ps_status ps_report_html_string(const cJSON *report, const cJSON *trials, const cJSON *cases, char **html);

/* The same page written atomically to `path`. */
ps_status ps_report_write_html(const cJSON *report, const cJSON *trials, const cJSON *cases, const char *path);

/* trials.csv (proxy/report_csv.c): one row per trial of `trials` (the array
 * above): number, phase, state, value, seconds, ref, replicate, seed, then one
 * column per parameter key (union over trials, sorted); RFC 4180 quoting,
 * CRLF line ends; empty fields for absent or non-finite values. Atomic write. */
ps_status ps_report_write_trials_csv(const cJSON *trials, const char *path);

#ifdef __cplusplus
}
#endif
#endif
