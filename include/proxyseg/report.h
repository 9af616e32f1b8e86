/* The study's HTML report (STUDY/report.html): one self-contained page — inline
 * SVG and CSS, no scripts, no external assets — built from report.json, the
 * journal's trials and proxy/cases.json; all text from the inputs is escaped.
 * And trials.csv, one row per trial. */
#ifndef PROXYSEG_REPORT_H
#define PROXYSEG_REPORT_H

#include <cjson/cJSON.h>
#include "proxyseg/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Inputs (every part optional; a missing part leaves its section out):
 *  report  report.json as docs/report.md describes it: verdict, correlation and
 *          correlation_external (ps_correlation_report_reps' objects), factorial,
 *          random_subsets, comparison, speedup {search, end_to_end {parts}, ...},
 *          best, proxy_winner, importance, proxy, timing, algorithm,
 *          algorithm_data {rewards}, seed, study, versions. NULL = none.
 *  trials  array of journal trials {number, phase ("proxy" = search; absent =
 *          proxy), state (COMPLETE, PRUNED, FAIL, RUNNING), value, seconds,
 *          ref and replicate (re-trainings), params {key: value},
 *          curve {val_dice: [per validation], train_loss: [per epoch]}}; NULL = none.
 *  cases   proxy/cases.json (ps_proxy_select's result) or NULL.
 * The page, in order: the verdict (before any plot), setup and headline cards,
 * the statistics table, proxy-vs-full scatters of replicate means with seed-noise
 * bars and no y = x line (internal and external side by side), rank plots, the
 * factorial table and the random-subsets dot plot, speed-up with the time per
 * part, the best configuration and the proxy's winner, the search (best so far,
 * importance, parallel coordinates, RL rewards, learning curves, at most 12
 * slice plots sorted by importance), case ranking, the trials table. Every
 * <svg> has a <title>. Scores are "higher is better". *html is malloc'd; the
 * caller frees it. */
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
