/* Training one configuration: the trial runner of every search. A config is a
 * JSON object whose every key has a documented default (ps_train_config_defaults);
 * a trial is (config, case subset, network) → validation score. One-shot search
 * methods plug in through the hooks (a policy per batch, a call per epoch). */
#ifndef PROXYSEG_TRAIN_H
#define PROXYSEG_TRAIN_H

#include "proxyseg/augment.h"
#include "proxyseg/data.h"
#include "proxyseg/json.h"
#include "proxyseg/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The default configuration with every key written out (caller frees). */
cJSON *ps_train_config_defaults(void);
/* defaults ⊕ file (may be NULL) ⊕ "key=value" overrides; unknown top-level keys
 * are an error (a typo must not silently train the default). */
ps_status ps_train_config_resolve(const char *file, const char *const *sets, int n_sets, cJSON **out);
/* Check types and ranges of a resolved config; PS_ERR_INVALID names the key. */
ps_status ps_train_config_validate(const cJSON *cfg);
/* A markdown table of the keys, their defaults and meaning (for --help and docs). */
const char *ps_train_config_doc(void);

typedef struct {
  void *ud;
  /* Called before each training batch; may change the augmentation policy for it. */
  void (*before_batch)(void *ud, int epoch, int iter, ps_aug_policy *policy);
  /* Called after each training batch with its loss (one-shot methods' feedback). */
  void (*after_batch)(void *ud, int epoch, int iter, double loss);
  /* Called after each validation; return false to stop the trial (pruned). */
  bool (*after_validation)(void *ud, int epoch, double mean_dice);
} ps_train_hooks;

typedef struct {
  const cJSON *config;        /* resolved config */
  const ps_case *cases;       /* all preprocessed cases */
  int n_cases;
  const int *train_idx;       /* indices into cases used for training (proxy data subset) */
  int n_train;
  const int *val_idx;         /* indices of the validation cases */
  int n_val;
  const char *out_dir;        /* metrics.json, log.txt, checkpoint.h5 go here (created) */
  bool resume;                /* continue from out_dir/checkpoint.h5 if present */
  bool keep_checkpoint;       /* leave checkpoint.h5 behind at the end */
  const char *init_checkpoint;/* warm start: initialise weights from this checkpoint (NULL: none) */
  ps_train_hooks hooks;
  int n_classes;
  const cJSON *plan;          /* preprocessing plan, stored in the checkpoint for `predict` (may be NULL) */
} ps_train_job;

/* The plan.json of a case cache (caller frees; NULL with a warning if absent). */
cJSON *ps_train_read_plan(const char *cache_dir);

typedef struct {
  double mean_dice;           /* mean over foreground classes and validation cases */
  double *class_dice;         /* n_classes-1 values (caller frees) */
  int n_fg_classes;
  double seconds;             /* wall time of the whole run */
  double train_seconds, val_seconds;
  int epochs_done;
  bool pruned;
  double final_train_loss;
} ps_train_result;

/* Runs training; writes metrics.json, log.txt (nnU-Net style lines) and
 * checkpoint.h5. A non-finite loss returns PS_ERR_NONFINITE ("diverged"). */
ps_status ps_train_run(const ps_train_job *job, ps_train_result *res);
void ps_train_result_free(ps_train_result *r);

/* The validation split: fold k of `folds` over case indices (deterministic, seeded);
 * val.cases in the config (list of ids) overrides it. Caller frees both arrays. */
ps_status ps_train_split(const cJSON *cfg, const ps_case *cases, int n, int **train_idx, int *n_train,
                         int **val_idx, int *n_val);

/* ---- validation on whole cases (sliding window) ---- */
typedef struct {
  double mean_dice;   /* mean over foreground classes of the per-class mean over cases */
  double *class_dice; /* n_fg values */
  int n_fg;
  double loss;        /* mean cross-entropy of the predicted probabilities */
  cJSON *per_case;    /* [{id, dice: [..]}] */
} ps_val_result;

ps_status ps_validate(ps_net *net, ps_tape *tape, const cJSON *cfg, const ps_case *cases, const int *idx, int n,
                      int n_classes, ps_val_result *out);
void ps_val_result_free(ps_val_result *v);

/* The sliding-window callback over a network (also used by `proxyseg predict`). */
typedef struct {
  ps_net *net;
  ps_tape *tape;
  int channels, n_classes;
  int patch[3];
} ps_net_predictor;
ps_status ps_net_predict_patches(void *ud, const float *patches, int b, float *probs);

#ifdef __cplusplus
}
#endif
#endif
