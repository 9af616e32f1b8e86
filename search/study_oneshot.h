/* One-shot algorithms inside a study (private to search/). A one-shot search
 * (ASNG, Gumbel NAS) is one journaled proxy trial whose folder holds a result;
 * the study then re-trains at full scale that result and the baselines it must
 * beat, R seed replicates each, and reports them side by side (no proxy
 * ranking exists, so no rank correlation). An algorithm plugs in with one
 * descriptor, listed in study_oneshot.c's table. */
#ifndef PS_STUDY_ONESHOT_H
#define PS_STUDY_ONESHOT_H

#include "proxyseg/study.h"

#define PS_ONESHOT_MAX_CONFIGS 6

typedef struct ps_oneshot_algo {
  const char *algo;           /* the study's "algo" value, e.g. "asng" */
  const char *space;          /* the study's default space (a shipped name), NULL: the algorithm takes none */
  /* The configurations re-trained, in report order: [0] the search's result,
   * then the baselines. Each has a short id (journal params "config") and a label. */
  int n_configs;
  const char *ids[PS_ONESHOT_MAX_CONFIGS];
  const char *labels[PS_ONESHOT_MAX_CONFIGS];
  /* The full-scale training config of configuration k: full_cfg with the
   * result (k = 0, read from the search trial's folder trial_dir) or baseline
   * k applied. *out is a new object, validated by the caller. */
  ps_status (*config)(int k, const char *trial_dir, const cJSON *full_cfg, cJSON **out);
  /* Optional: adjusts the proxy side's training config before the proxy shrink
   * (gumbel-nas: its cell super-network in place of the U-Net). */
  ps_status (*proxy_config)(const cJSON *study_cfg, cJSON *proxy_cfg);
  /* Optional: what the report shows of the search itself (ASNG: final theta,
   * its convergence). *section goes into report.json under "search";
   * *html (malloc'd, may be NULL) is a fragment placed in report.html. */
  ps_status (*report)(const char *trial_dir, cJSON **section, char **html);
} ps_oneshot_algo;

/* The descriptor of a one-shot algorithm, NULL for ranking searches. */
const ps_oneshot_algo *ps_oneshot_find(const char *algo);

/* The re-training phase ("full"): n_configs x reps trials, replicate-major
 * (trial first + r*n_configs + k is replicate r of configuration k), replicate
 * r of every configuration with the same seed, so the comparison is paired.
 * Journal params {"config": id}; ref = the search trial for the result.
 * Resumable: trials that ended in an earlier run are not repeated. */
typedef struct {
  const ps_oneshot_algo *algo;
  const char *study_dir;
  int search_trial;            /* the proxy trial that ran the one-shot search */
  int reps, jobs;
  const cJSON *full_cfg;
  uint64_t seed;
  const char *cache_dir;
  const cJSON *train_ids, *val_ids;
} ps_oneshot_retrain_opts;
ps_status ps_oneshot_retrain(const ps_oneshot_retrain_opts *o);

/* The number of the study's one-shot search trial (phase "proxy"); error when
 * it did not complete. */
ps_status ps_oneshot_search_trial(const char *study_dir, int *number);

/* report.json, report.html and report.md of a one-shot study (study.json's
 * object, its open journal); trials.csv is written by the caller. */
ps_status ps_oneshot_report(const char *study_dir, const cJSON *study, ps_journal *J, const ps_oneshot_algo *a,
                            cJSON **headline);

/* The descriptors (asng_oneshot.c, ...). */
extern const ps_oneshot_algo ps_asng_oneshot;
extern const ps_oneshot_algo ps_gumbel_oneshot;   /* gumbel_nas_oneshot.c */

#endif
