/* The trainer's state, shared by the loop (trainer.c) and the plugin-facing
 * context calls (train_ctx.c). Internal to src/train. */
#ifndef PS_TRAINER_INTERNAL_H
#define PS_TRAINER_INTERNAL_H
#include "proxyseg/train.h"
#include "proxyseg/sampler.h"

#define PS_TRAIN_MAX_PLUGINS 8

typedef struct ps_trainer_run {
  const ps_train_job *job;
  const cJSON *cfg;
  ps_net *net;
  ps_optim *opt;
  ps_sched *sched;
  ps_tape *tape;
  ps_aug_policy policy;
  ps_loss_params lp;
  int patch[3], batch, iters, epochs, n_classes, channels;
  float *img;
  uint8_t *lab;
  cJSON *hist_train, *hist_val, *hist_dice, *hist_lr, *hist_time;
  int start_epoch;
  double best_dice;
  /* plugins */
  ps_train_ctx ctx;
  ps_rng *plugin_rng;
  void *pstate[PS_TRAIN_MAX_PLUGINS];
  int n_plugins, step_owner;     /* step_owner: index of the plugin with `step`, -1: none */
  /* the cases patches come from; with a holdout: 4/5 of train_idx, the rest in hold_idx */
  int *fit_idx, n_fit, *hold_idx, n_hold;
  ps_sampler *val_smp;           /* held-out mini-batches, re-seeded per epoch */
  uint64_t step_seed;            /* seeds ps_train_ctx_batch's sampler for this step */
  double fg_fraction;
  /* data parallelism (dist.c): this rank trains on samples [dp_rank*fwd_batch, +fwd_batch) of each batch */
  int dp_rank, dp_size, fwd_batch;
} trainer;

/* train_ctx.c */
ps_status ps_trainer_plugins_create(trainer *T);
void ps_trainer_plugins_destroy(trainer *T);
ps_status ps_trainer_split_holdout(trainer *T);
/* per epoch: plugin RNG and validation sampler re-seeded from (seed, epoch) */
ps_status ps_trainer_epoch_begin(trainer *T, int epoch, float lr);
ps_status ps_trainer_step(trainer *T, int it, double *loss);
ps_status ps_trainer_after_validation(trainer *T, double dice, bool *stop);
cJSON *ps_trainer_plugins_save(trainer *T);          /* {name: state} or NULL on error */
ps_status ps_trainer_plugins_load(trainer *T, const cJSON *plugins);
ps_status ps_trainer_plugins_result(trainer *T);

/* dist.c, the trainer's side: each call is collective (every rank calls it)
 * and the one-rank identity without MPI */
typedef struct {
  ps_status status; /* rank 0's validation and checkpoint */
  double dice;      /* rank 0's validation Dice */
  bool validated, stop;
} ps_dist_outcome;
/* the ranks' mean loss (equal slices: the global batch's mean), or the failure of any rank */
ps_status ps_dist_mean_loss(ps_status local, double *loss, const char *what);
ps_status ps_dist_allreduce_grads(ps_params *p);   /* in place: the mean over ranks */
ps_status ps_dist_bcast_params(ps_params *p);      /* rank 0's values everywhere */
ps_status ps_dist_bcast_outcome(ps_dist_outcome *o); /* rank 0's to the others; returns its status */
ps_status ps_dist_same_int(int v, const char *what); /* PS_ERR_DATA unless every rank has v */
double ps_dist_comm_seconds(void);                  /* spent in ps_dist_allreduce_grads */
#endif
