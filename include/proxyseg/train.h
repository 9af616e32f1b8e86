/* Training one configuration: the trial runner of every search. A config is a
 * JSON object whose every key has a documented default (ps_train_config_defaults);
 * a trial is (config, case subset, network) → validation score. One-shot search
 * methods (ASNG, Gumbel NAS) and the pruner are trainer plugins (below). */
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
/* Every key at every depth known (fixed sections against the defaults, net and
 * aug by their own parsers); PS_ERR_INVALID names the first unknown key. */
ps_status ps_train_config_check_keys(const cJSON *cfg);
/* The augmentation policy of a config: aug.preset, then aug.<op>.* overrides. */
ps_status ps_train_policy_from_config(const cJSON *cfg, ps_aug_policy *pol);
/* Refuses (PS_ERR_INVALID, with the estimate) a configuration whose training
 * would not fit in ps_memory_available(): activations measured by one small
 * evaluation pass and scaled to batch x patch, plus gradients and optimiser state. */
ps_status ps_train_memory_check(ps_net *net, int channels, int n_classes, const int patch[3], int batch);
/* A markdown table of the keys, their defaults and meaning (for --help and docs). */
const char *ps_train_config_doc(void);

/* ---- trainer plugins ----
 * A plugin sees the run through a context and is called at fixed points; every
 * call returns ps_status (non-OK stops the run with that error). Plugins
 * compose: they are called in list order. Per step:
 *   ctx.policy = config's policy; before_step (each plugin; may change ctx.policy)
 *   if a plugin has `step`: it does the weight update itself (at most one per run)
 *   else: batch with ctx.policy → forward → backward → ps_train_ctx_apply_step
 *   after_step (each plugin; ctx.loss_value holds the step's loss)
 * ps_train_ctx_apply_step averages the gradients over the data-parallel ranks
 * (dist.c; nothing with one rank), clips them, then calls every plugin's
 * before_optim_step (ctx.lookahead says whether the step is a look-ahead that
 * will be undone), then steps the optimiser. Plugins are refused under data
 * parallelism (PS_ERR_INVALID) for now.
 * After each validation: after_validation (set *stop to end the run: pruned).
 * At each checkpoint: save_state (its JSON goes into the checkpoint's training
 * state under "plugins"/<name>); on resume: load_state with it. At the end of a
 * run that was not stopped by an error: result (writes the plugin's files into
 * ctx.out_dir). destroy always. Any hook may be NULL. */
typedef struct ps_train_ctx ps_train_ctx;
struct ps_trainer_run;
struct ps_train_ctx {
  const cJSON *config;         /* resolved training config */
  ps_net *net;
  ps_optim *opt;
  ps_tape *tape;
  const ps_loss_params *loss;
  /* The plugins' random stream: seeded from (seed, epoch) at each epoch start,
   * so a run resumed at an epoch boundary draws what an uninterrupted one did. */
  ps_rng *rng;
  int epoch, iter, epochs, iters_per_epoch;
  float lr;                    /* this epoch's learning rate */
  int batch, channels, n_classes, patch[3];
  ps_aug_policy policy;        /* this step's policy: before_step may change it */
  float *img;                  /* [B, C, pd, ph, pw] the step's training batch (a step plugin may use it as scratch) */
  uint8_t *lab;                /* [B, pd, ph, pw] */
  double loss_value;           /* the step's training loss (set by the trainer or the step plugin) */
  bool lookahead;              /* true while a plugin takes a step it will undo */
  const char *out_dir;
  struct ps_trainer_run *run;  /* the trainer's own (opaque) */
};

typedef struct ps_train_plugin {
  const char *name;            /* key of its state in the checkpoint; unique within a run */
  /* true: training patches come from 4/5 of the training cases, and
   * ps_train_ctx_val_batch draws from the held-out 1/5 (every 5th case). */
  bool needs_holdout;
  ps_status (*create)(const cJSON *opts, ps_train_ctx *ctx, void **state);
  ps_status (*before_step)(void *state, ps_train_ctx *ctx);
  ps_status (*step)(void *state, ps_train_ctx *ctx);
  ps_status (*before_optim_step)(void *state, ps_train_ctx *ctx);
  ps_status (*after_step)(void *state, ps_train_ctx *ctx);
  ps_status (*after_validation)(void *state, ps_train_ctx *ctx, double mean_dice, bool *stop);
  ps_status (*save_state)(void *state, cJSON **out);      /* *out NULL: nothing to keep */
  ps_status (*load_state)(void *state, const cJSON *in);  /* in NULL: the checkpoint had none */
  ps_status (*result)(void *state, ps_train_ctx *ctx);
  void (*destroy)(void *state);
} ps_train_plugin;

typedef struct {
  const ps_train_plugin *vt;
  const cJSON *opts;           /* the plugin's options (may be NULL); borrowed for the run */
} ps_train_plugin_use;

/* The step's patches (the same cases and centres every call within one step)
 * augmented with pol (NULL: none). img [B, C, pd, ph, pw], lab [B, pd, ph, pw].
 * Calls with different policies use the same random numbers (paired draws). */
ps_status ps_train_ctx_batch(ps_train_ctx *c, const ps_aug_policy *pol, float *img, uint8_t *lab);
/* The next validation mini-batch from the held-out cases, not augmented
 * (PS_ERR_INVALID unless a plugin of the run has needs_holdout). */
ps_status ps_train_ctx_val_batch(ps_train_ctx *c, float *img, uint8_t *lab);
/* Forward img [B, C, pd, ph, pw] and the loss against lab. backward: the
 * parameter gradients ACCUMULATE (+=) the loss's gradient (zero them first
 * yourself); otherwise no tape is kept and the net runs in inference mode.
 * A non-finite loss is PS_ERR_NONFINITE ("diverged: ..."). */
ps_status ps_train_ctx_loss(ps_train_ctx *c, const float *img, const uint8_t *lab, bool backward, double *loss);
/* Clip, run the plugins' before_optim_step, step the optimiser at c->lr. */
ps_status ps_train_ctx_apply_step(ps_train_ctx *c);

/* ---- weight snapshots for look-ahead steps ----
 * A copy of the network's parameters and buffers (norm statistics) and, when
 * with_optim, the optimiser's state buffers (SGD momentum, Adam moments) and
 * step count. Restoring a snapshot taken without the optimiser leaves the
 * moments as the look-ahead steps left them (what the ASNG paper's code does:
 * it restores the state_dict of the net only). */
typedef struct ps_weight_snapshot ps_weight_snapshot;
ps_status ps_weight_snapshot_take(ps_net *net, ps_optim *opt_or_null, ps_weight_snapshot **out);
/* Copy back into the same net (and optimiser, if it was taken with one). */
void ps_weight_snapshot_restore(const ps_weight_snapshot *s, ps_net *net, ps_optim *opt_or_null);
void ps_weight_snapshot_free(ps_weight_snapshot *s);

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
  const ps_train_plugin_use *plugins; /* called in this order (may be NULL) */
  int n_plugins;
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

/* ---- data-parallel training over MPI ranks (dist.c) ----
 * Under `mpirun -n K proxyseg train` every rank draws the same global batch
 * (config `batch`, which K must divide) and trains on its slice of batch/K
 * samples; the parameter gradients are averaged by one MPI_Allreduce per step
 * before clipping; rank 0 alone validates, logs and writes files. Without
 * ps_dist_init (or built without MPI) there is one rank and nothing changes. */
ps_status ps_dist_init(void);          /* MPI_Init; PS_ERR_UNSUPPORTED when built without MPI */
void ps_dist_finalize(void);
int ps_dist_rank(void);                /* 0 with one rank */
int ps_dist_size(void);                /* 1 before ps_dist_init */
int ps_dist_local_ranks(void);         /* ranks on this node (1 before ps_dist_init) */
/* Threads for one of ranks_on_node busy processes: OMP_NUM_THREADS if set,
 * else the node's cores / ranks_on_node, capped at this process's affinity. */
int ps_dist_thread_share(int ranks_on_node);
/* Whether every rank succeeded (one collective): a failed rank keeps its error,
 * the others get PS_ERR_RUNTIME naming `what`. Every rank must call it. */
ps_status ps_dist_all_ok(ps_status local, const char *what);

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
