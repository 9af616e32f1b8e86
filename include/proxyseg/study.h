/* Searches and studies. A search phase asks an algorithm for points, turns each
 * into a training config, runs it as a trial in a child process (a crash or a
 * divergence fails the trial, never the study), journals it, and tells the
 * algorithm the score. Re-running the same command resumes: the journal is
 * replayed into the algorithm (ask on each start, tell on each end, in file
 * order), trials left RUNNING by a killed process are re-run, nothing counts
 * twice. A study chains: proxy data → proxy network → search on the proxy →
 * full-scale re-training → correlation report. */
#ifndef PROXYSEG_STUDY_H
#define PROXYSEG_STUDY_H

#include "proxyseg/journal.h"
#include "proxyseg/search.h"
#include "proxyseg/data.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- cases ---- */
/* Preprocess `dataset_dir` into `cache_dir` (rebuilt only when the plan or the
 * files changed) and load every case. */
ps_status ps_study_load_cases(const char *dataset_dir, const char *cache_dir, int threads, ps_case **cases,
                              int *n, int *n_classes);
void ps_study_free_cases(ps_case *cases, int n);
/* Indices of the cases named in a JSON array of ids (error names a missing id). */
ps_status ps_study_case_indices(const ps_case *cases, int n, const cJSON *ids, int **idx, int *n_idx);

/* ---- the shared context of a study's phases ---- */
typedef struct {
  ps_case *cases;
  int n, n_classes;
  char *cache_dir;
  cJSON *train_ids, *val_ids; /* the fixed split */
} ps_study_ctx;

ps_status ps_study_ctx_open(const char *dataset_dir, const char *study_dir, const cJSON *train_cfg, ps_study_ctx *c);
void ps_study_ctx_close(ps_study_ctx *c);
/* Score the training cases and keep a subset; writes STUDY/proxy/cases.json (or `out_file`). */
ps_status ps_study_proxy_data(ps_study_ctx *c, const cJSON *opts, const char *out_file, cJSON **kept_ids);
/* Resolve a search space given by name (shipped under search/spaces), path or inline object. */
ps_status ps_study_space(const cJSON *spec, const char *base_dir, ps_space **out);
/* The resolved study configuration's defaults. */
cJSON *ps_study_config_defaults(void);
/* Check every known key's type and range (PS_ERR_INVALID naming the key). */
ps_status ps_study_config_check(const cJSON *cfg);
/* Score the kept full-scale models (phase "full") on an external dataset;
 * writes STUDY/external.json. */
ps_status ps_study_external(const char *study_dir, const char *dataset_dir, ps_study_ctx *ctx);

/* ---- one search phase ---- */
typedef struct {
  const char *study_dir;
  const char *phase;            /* "proxy", "full_search", ... (trials of other phases are ignored) */
  const ps_space *space;
  const char *algo;             /* registry name */
  const cJSON *algo_opts;
  int n_trials;                 /* trials of this phase in total (across resumes) */
  double budget_seconds;        /* 0: none; stop asking once this invocation ran that long */
  int jobs;                     /* trials run concurrently (child processes) */
  uint64_t seed;                /* algorithm seed; trial seeds derive from it */
  const cJSON *base_config;     /* resolved training config; searched keys are written over it */
  const char *cache_dir;        /* preprocessed cases */
  const cJSON *train_ids;       /* case ids trained on */
  const cJSON *val_ids;         /* case ids validated on */
  const char *pruner;           /* "none" | "median" */
  const char *warm_start;       /* checkpoint every trial starts from, or NULL */
  bool keep_checkpoints;
} ps_phase_opts;

ps_status ps_search_phase(const ps_phase_opts *o);

/* Run explicit configurations (no algorithm) as trials of a phase, e.g. the
 * full-scale re-training of chosen proxy trials: configs[i] is a full training
 * config, refs[i] the proxy trial it re-trains. Resumable like a search. */
ps_status ps_run_configs(const char *study_dir, const char *phase, int first_number, const cJSON *const *configs,
                         const int *refs, const cJSON *const *params, int n, int jobs, const char *cache_dir,
                         const cJSON *train_ids, const cJSON *val_ids, bool keep_checkpoints);

/* The child side of a trial: `proxyseg trial-run --dir TRIAL_DIR` reads job.json
 * and config.json there, trains, and writes result.json. */
ps_status ps_trial_child(const char *trial_dir);

/* The number of a phase's first trial when the journal has one (a resumed
 * phase keeps its numbers), else the next free number. */
ps_status ps_study_phase_first_number(const char *study_dir, const char *phase, int *first);

/* Warm start (Yang et al. 2019): train one model without augmentation once
 * (phase "warm_start", journaled, reused on resume); every trial then
 * fine-tunes from its checkpoint, returned in *ckpt (caller frees). */
ps_status ps_study_warm_start(const char *study_dir, const cJSON *config, const char *cache_dir,
                              const cJSON *train_ids, const cJSON *val_ids, char **ckpt);

/* ---- re-running chosen configurations (study_retrain.c) ---- */
/* Re-run the params of the proxy trials src[0..k) on another side (full scale,
 * proxy replicates, a factorial cell, another subset): `reps` runs each, numbered
 * replicate-major from the phase's first number (trial first + r*k + i is
 * replicate r of src[i]), each with its own seed. Resumable like a search. */
typedef struct {
  const char *study_dir, *phase;
  ps_trial *const *src;
  int k, reps, jobs;
  const cJSON *side_config;     /* training config of the side; src params are written over it */
  uint64_t seed;
  const char *cache_dir;
  const cJSON *train_ids, *val_ids;
  bool keep_checkpoints;
} ps_rerun_opts;
ps_status ps_study_rerun(const ps_rerun_opts *o);

/* The full-scale winner by replicate mean: copy its best replicate's checkpoint
 * and config to STUDY/best/ (checkpoint.h5, config.json, best.json). */
ps_status ps_study_keep_best(const char *study_dir);

/* ---- the whole study ---- */
ps_status ps_study_run(const cJSON *study_cfg, const char *out_dir);
/* Rebuild report.json and report.html from the journal and study.json. */
ps_status ps_study_report(const char *study_dir, cJSON **headline);

/* A trial's seed: derived from the study seed and the trial number, kept to 31
 * bits so that it survives JSON (doubles) and reads well in logs. */
uint64_t ps_trial_seed(uint64_t study_seed, int number);

/* Trial folder "STUDY/trials/NNNN" (caller frees). */
char *ps_trial_dir(const char *study_dir, int number);

#ifdef __cplusplus
}
#endif
#endif
