/* The trainer: one configuration, trained on a case subset and validated by
 * sliding window on whole validation cases. Writes an nnU-Net-style log,
 * metrics.json and checkpoint.h5; resumes from the checkpoint at an epoch
 * boundary (every step's patches come from a seed derived from (seed, epoch,
 * step), so a resumed run draws the same batches as an uninterrupted one).
 * Plugins are dispatched from train_ctx.c. Under data parallelism (dist.c)
 * every rank runs this loop on its slice of each batch; rank 0 alone
 * validates, logs and writes files, and tells the others the outcome. */
#include "trainer_internal.h"
#include "proxyseg/augment.h"
#include "proxyseg/infer.h"
#include "proxyseg/nn.h"
#include "proxyseg/sampler.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

cJSON *ps_train_read_plan(const char *cache_dir) {
  char *p = ps_path_join(cache_dir, "plan.json");
  cJSON *j = NULL;
  if (ps_json_read(p, &j)) {
    ps_warn("no preprocessing plan stored with the model: %s", ps_last_error());
    j = NULL;
  }
  free(p);
  return j;
}

void ps_train_result_free(ps_train_result *r) {
  if (!r) return;
  free(r->class_dice);
  r->class_dice = NULL;
}

/* The schedule's config in nn.h's vocabulary, from the trainer's keys. */
static cJSON *sched_config(const cJSON *cfg) {
  cJSON *s = cJSON_CreateObject();
  const cJSON *o = cJSON_GetObjectItemCaseSensitive(cfg, "schedule_opts");
  cJSON_AddStringToObject(s, "kind", ps_json_str(cfg, "schedule", "poly"));
  cJSON_AddNumberToObject(s, "power", ps_json_num(o, "exponent", 0.9));
  cJSON_AddNumberToObject(s, "step_size", ps_json_num(o, "step_size", 10));
  cJSON_AddNumberToObject(s, "gamma", ps_json_num(o, "gamma", 0.1));
  cJSON_AddNumberToObject(s, "patience", ps_json_num(o, "patience", 3));
  cJSON_AddNumberToObject(s, "factor", ps_json_num(o, "factor", 0.5));
  cJSON_AddNumberToObject(s, "min_lr", ps_json_num(o, "min_lr", 1e-6));
  cJSON_AddNumberToObject(s, "warmup_epochs", ps_json_num(o, "warmup_epochs", 0));
  cJSON_AddStringToObject(s, "mode", "max");
  return s;
}

static ps_loss_params loss_params(const cJSON *cfg) {
  ps_loss_params lp = ps_loss_params_default();
  lp.weight_ce = (float)ps_json_num(cfg, "loss.ce", 1);
  lp.weight_dice = (float)ps_json_num(cfg, "loss.dice", 1);
  lp.dice_batch = ps_json_bool(cfg, "loss.batch_dice", false);
  lp.dice_smooth = (float)ps_json_num(cfg, "loss.smooth", 1e-5);
  lp.dice_include_background = ps_json_bool(cfg, "loss.include_background", false);
  lp.ignore_label = ps_json_int(cfg, "loss.ignore_label", -1);
  return lp;
}

/* What data parallelism cannot keep equal to one process is refused
 * (PS_ERR_INVALID): a batch the ranks cannot split evenly; plugins (their own
 * steps and batches are not split); a loss that is not the mean of per-sample
 * terms (Dice pooled over the batch, ignore_label: the CE's normaliser counts
 * the batch's voxels); batch norm (statistics of the slice, not the batch). */
static ps_status dp_check(const trainer *T) {
  const int K = T->dp_size;
  if (K <= 1) return PS_OK;
  const char *why = NULL;
  if (T->batch % K)
    return ps_error(PS_ERR_INVALID, "data-parallel training: config key 'batch' (%d) must be a multiple of the %d ranks",
                    T->batch, K);
  if (T->job->n_plugins)
    return ps_error(PS_ERR_INVALID, "data-parallel training: trainer plugin '%s' does not run over several ranks yet; "
                    "run it as one process", T->job->plugins[0].vt->name);
  if (T->lp.dice_batch) why = "'loss.batch_dice' pools the Dice over the whole batch";
  else if (T->lp.ignore_label >= 0) why = "'loss.ignore_label' makes the loss a mean over the batch's counted voxels";
  else if (!strcmp(ps_json_str(T->cfg, "net.norm", "instance"), "batch")) why = "'net.norm' batch normalises over the batch";
  if (why)
    return ps_error(PS_ERR_INVALID, "data-parallel training: config key %s, which %d ranks would each compute over "
                    "their slice only; run it as one process", why, K);
  return PS_OK;
}

static void trainer_free(trainer *T) {
  ps_trainer_plugins_destroy(T);
  ps_optim_free(T->opt); /* first: its buffers belong to the net's parameter arena */
  ps_net_free(T->net);
  ps_sched_free(T->sched);
  ps_tape_free(T->tape);
  free(T->img);
  free(T->lab);
  cJSON_Delete(T->hist_train);
  cJSON_Delete(T->hist_val);
  cJSON_Delete(T->hist_dice);
  cJSON_Delete(T->hist_lr);
  cJSON_Delete(T->hist_time);
}

static ps_status trainer_setup(trainer *T, const ps_train_job *job) {
  const cJSON *cfg = job->config;
  T->job = job;
  T->cfg = cfg;
  T->n_classes = job->n_classes;
  T->channels = (int)job->cases[0].image.c;
  T->batch = ps_json_int(cfg, "batch", 2);
  T->iters = ps_json_int(cfg, "iters_per_epoch", 20);
  T->epochs = ps_json_int(cfg, "epochs", 8);
  const cJSON *p = cJSON_GetObjectItemCaseSensitive(cfg, "patch");
  for (int i = 0; i < 3; i++) T->patch[i] = cJSON_GetArrayItem(p, i)->valueint;
  T->lp = loss_params(cfg);
  T->best_dice = -1;
  T->dp_rank = ps_dist_rank();
  T->dp_size = ps_dist_size();
  ps_status st = dp_check(T);
  if (st) return st;
  T->fwd_batch = T->batch / T->dp_size;
  uint64_t seed = (uint64_t)ps_json_num(cfg, "seed", 0);
  st = ps_train_policy_from_config(cfg, &T->policy);
  if (st) return st;
  st = ps_net_create(cJSON_GetObjectItemCaseSensitive(cfg, "net"), T->channels, T->n_classes, seed, &T->net);
  /* parameters that cannot be allocated are the configuration's fault (net.kernel_sizes=99: 45 GB) */
  if (st == PS_ERR_NOMEM) return ps_error_prefix(PS_ERR_INVALID, "config key 'net' asks for too much memory");
  if (st) return st;
  for (int a = 0; a < 3; a++) {
    int div = ps_net_patch_divisor(T->net, a);
    if (T->patch[a] % div)
      return ps_error(PS_ERR_INVALID, "patch size %d (axis %d) is not a multiple of the network's total stride %d",
                      T->patch[a], a, div);
  }
  st = ps_train_memory_check(T->net, T->channels, T->n_classes, T->patch, T->fwd_batch); /* memory_check.c */
  if (st) return st;
  T->opt = ps_optim_create(ps_json_str(cfg, "optimizer", "sgd"), ps_net_params(T->net),
                           cJSON_GetObjectItemCaseSensitive(cfg, "optim"));
  if (!T->opt) return PS_ERR_INVALID;
  cJSON *sc = sched_config(cfg);
  st = ps_sched_create(sc, ps_json_num(cfg, "lr", 0.01), T->epochs, &T->sched);
  cJSON_Delete(sc);
  if (st) return st;
  T->tape = ps_tape_create();
  size_t pv = (size_t)T->patch[0] * T->patch[1] * T->patch[2];
  T->img = malloc((size_t)T->batch * T->channels * pv * sizeof(float));
  T->lab = malloc((size_t)T->batch * pv);
  T->hist_train = cJSON_CreateArray();
  T->hist_val = cJSON_CreateArray();
  T->hist_dice = cJSON_CreateArray();
  T->hist_lr = cJSON_CreateArray();
  T->hist_time = cJSON_CreateArray();
  if (!T->tape || !T->img || !T->lab) return ps_error(PS_ERR_NOMEM, "out of memory");
  if (job->init_checkpoint) {
    st = ps_checkpoint_load(job->init_checkpoint, T->net, NULL, NULL, NULL);
    if (st) return ps_error_prefix(st, "warm start");
    ps_info("initialised weights from %s", job->init_checkpoint);
  }
  return PS_OK;
}

static cJSON *training_state(trainer *T, int epoch) {
  cJSON *s = cJSON_CreateObject();
  cJSON_AddNumberToObject(s, "epoch", epoch);
  cJSON_AddNumberToObject(s, "best_dice", T->best_dice);
  cJSON_AddItemToObject(s, "train_loss", cJSON_Duplicate(T->hist_train, 1));
  cJSON_AddItemToObject(s, "val_loss", cJSON_Duplicate(T->hist_val, 1));
  cJSON_AddItemToObject(s, "val_dice", cJSON_Duplicate(T->hist_dice, 1));
  cJSON_AddItemToObject(s, "lr", cJSON_Duplicate(T->hist_lr, 1));
  cJSON_AddItemToObject(s, "epoch_seconds", cJSON_Duplicate(T->hist_time, 1));
  cJSON_AddItemToObject(s, "sched", ps_sched_state(T->sched));
  /* what `proxyseg predict` needs besides the weights */
  cJSON_AddItemToObject(s, "config", cJSON_Duplicate(T->cfg, 1));
  if (T->job->plan) cJSON_AddItemToObject(s, "plan", cJSON_Duplicate(T->job->plan, 1));
  if (T->n_plugins) {
    cJSON *p = ps_trainer_plugins_save((trainer *)T);
    if (!p) { cJSON_Delete(s); return NULL; }
    cJSON_AddItemToObject(s, "plugins", p);
  }
  return s;
}

static ps_status resume_from(trainer *T, const char *ckpt) {
  cJSON *state = NULL;
  ps_status st = ps_checkpoint_load(ckpt, T->net, T->opt, &state, NULL);
  if (st) return ps_error_prefix(st, "resume");
  T->start_epoch = ps_json_int(state, "epoch", -1) + 1;
  T->best_dice = ps_json_num(state, "best_dice", -1);
#define TAKE(field, key)                                                      \
  cJSON_Delete(T->field);                                                     \
  T->field = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(state, key), 1); \
  if (!T->field) T->field = cJSON_CreateArray();
  TAKE(hist_train, "train_loss");
  TAKE(hist_val, "val_loss");
  TAKE(hist_dice, "val_dice");
  TAKE(hist_lr, "lr");
  TAKE(hist_time, "epoch_seconds");
#undef TAKE
  const cJSON *sch = cJSON_GetObjectItemCaseSensitive(state, "sched");
  if (sch) st = ps_sched_load_state(T->sched, sch);
  if (!st) st = ps_trainer_plugins_load(T, cJSON_GetObjectItemCaseSensitive(state, "plugins"));
  cJSON_Delete(state);
  ps_info("resuming from %s at epoch %d", ckpt, T->start_epoch);
  return st;
}

static ps_status write_metrics(const trainer *T, const char *dir, const ps_val_result *v, const ps_train_result *res) {
  cJSON *m = cJSON_CreateObject();
  cJSON_AddNumberToObject(m, "mean_dice", v->mean_dice);
  cJSON *cd = cJSON_AddArrayToObject(m, "class_dice");
  for (int k = 0; k < v->n_fg; k++) cJSON_AddItemToArray(cd, cJSON_CreateNumber(v->class_dice[k]));
  cJSON_AddItemToObject(m, "per_case", cJSON_Duplicate(v->per_case, 1));
  cJSON_AddNumberToObject(m, "val_loss", v->loss);
  cJSON_AddItemToObject(m, "train_loss_curve", cJSON_Duplicate(T->hist_train, 1));
  cJSON_AddItemToObject(m, "val_loss_curve", cJSON_Duplicate(T->hist_val, 1));
  cJSON_AddItemToObject(m, "val_dice_curve", cJSON_Duplicate(T->hist_dice, 1));
  cJSON_AddItemToObject(m, "lr_curve", cJSON_Duplicate(T->hist_lr, 1));
  cJSON_AddItemToObject(m, "epoch_seconds", cJSON_Duplicate(T->hist_time, 1));
  cJSON_AddNumberToObject(m, "epochs_done", res->epochs_done);
  cJSON_AddBoolToObject(m, "pruned", res->pruned);
  cJSON_AddNumberToObject(m, "seconds", res->seconds);
  cJSON_AddNumberToObject(m, "train_seconds", res->train_seconds);
  cJSON_AddNumberToObject(m, "val_seconds", res->val_seconds);
  if (T->dp_size > 1) {
    cJSON *dp = cJSON_AddObjectToObject(m, "data_parallel");
    cJSON_AddNumberToObject(dp, "ranks", T->dp_size);
    cJSON_AddNumberToObject(dp, "batch_per_rank", T->fwd_batch);
    cJSON_AddNumberToObject(dp, "allreduce_seconds", ps_dist_comm_seconds()); /* rank 0's, this run (not before a resume) */
  }
  cJSON *split = cJSON_AddObjectToObject(m, "split");
  cJSON *tr = cJSON_AddArrayToObject(split, "train"), *va = cJSON_AddArrayToObject(split, "val");
  for (int i = 0; i < T->job->n_train; i++) cJSON_AddItemToArray(tr, cJSON_CreateString(T->job->cases[T->job->train_idx[i]].id));
  for (int i = 0; i < T->job->n_val; i++) cJSON_AddItemToArray(va, cJSON_CreateString(T->job->cases[T->job->val_idx[i]].id));
  cJSON_AddNumberToObject(split, "fold", ps_json_int(T->cfg, "val.fold", 0));
  cJSON_AddNumberToObject(split, "folds", ps_json_int(T->cfg, "val.folds", 5));
  char *path = ps_path_join(dir, "metrics.json");
  ps_status st = ps_json_write(path, m);
  free(path);
  cJSON_Delete(m);
  return st;
}

/* The end of an epoch on rank 0 (the only rank with one under data
 * parallelism): validation when due, the schedule's and the plugins' view of
 * it, the epoch's time and the checkpoint. o gets what the other ranks need. */
static ps_status epoch_end(trainer *T, int epoch, double te, const char *ckpt, ps_val_result *v, ps_train_result *res,
                           ps_dist_outcome *o) {
  const cJSON *cfg = T->cfg;
  bool last = epoch == T->epochs - 1;
  ps_status st;
  if ((epoch + 1) % ps_json_int(cfg, "val.every", 2) == 0 || last) {
    double tv = ps_now();
    ps_val_result_free(v);
    st = ps_validate(T->net, T->tape, cfg, T->job->cases, T->job->val_idx, T->job->n_val, T->n_classes, v);
    if (st) return st;
    res->val_seconds += ps_now() - tv;
    cJSON_AddItemToArray(T->hist_val, cJSON_CreateNumber(v->loss));
    cJSON_AddItemToArray(T->hist_dice, cJSON_CreateNumber(v->mean_dice));
    char dice_s[512] = "";
    for (int k = 0; k < v->n_fg && strlen(dice_s) < 480; k++)
      snprintf(dice_s + strlen(dice_s), sizeof dice_s - strlen(dice_s), "%s%.4f", k ? ", " : "", v->class_dice[k]);
    ps_info("val_loss %.4f", v->loss);
    ps_info("Validation Dice, whole cases by sliding window [%s]", dice_s); /* nnU-Net says "Pseudo dice" for patch Dice */
    if (v->mean_dice > T->best_dice) {
      T->best_dice = v->mean_dice;
      ps_info("New best validation Dice: %.4f", v->mean_dice);
    }
    ps_lr_observe(T->sched, v->mean_dice);
    o->validated = true;
    o->dice = v->mean_dice;
    /* before the checkpoint, so the plugins' saved state includes this call */
    st = ps_trainer_after_validation(T, v->mean_dice, &o->stop);
    if (st) return st;
  }
  double ep_s = ps_now() - te;
  cJSON_AddItemToArray(T->hist_time, cJSON_CreateNumber(ep_s));
  ps_info("Epoch time: %.2f s", ep_s);
  int ck_every = ps_json_int(cfg, "checkpoint_every", 1);
  if (ck_every > 0 && ((epoch + 1) % ck_every == 0 || last)) {
    cJSON *state = training_state(T, epoch);
    st = state ? ps_checkpoint_save(ckpt, T->net, T->opt, state, NULL) : PS_ERR_RUNTIME;
    cJSON_Delete(state);
    if (st) return st;
  }
  return PS_OK;
}

ps_status ps_train_run(const ps_train_job *job, ps_train_result *res) {
  memset(res, 0, sizeof *res);
  res->mean_dice = NAN;
  double t0 = ps_now();
  if (job->n_train < 1 || job->n_val < 1) return ps_error(PS_ERR_INVALID, "training needs at least one training and one validation case");
  ps_status st = ps_mkdir_p(job->out_dir);
  if (st) return st;
  const bool writer = ps_dist_rank() == 0; /* the rank that logs and writes files */
  char *log_path = ps_path_join(job->out_dir, "log.txt");
  char *ckpt = ps_path_join(job->out_dir, "checkpoint.h5");
  FILE *logf = writer ? fopen(log_path, job->resume ? "a" : "w") : NULL;
  if (logf) ps_log_set_file(logf);
  int threads = ps_json_int(job->config, "threads", 0);
  trainer T;
  memset(&T, 0, sizeof T);
  ps_val_result v;
  memset(&v, 0, sizeof v);
  v.mean_dice = NAN;
  st = ps_threads_set(threads);
  if (!st) st = trainer_setup(&T, job);
  T.fg_fraction = ps_json_num(job->config, "fg_fraction", 0.33);
  if (!st) st = ps_trainer_split_holdout(&T);
  if (!st) st = ps_trainer_plugins_create(&T);
  if (!st && job->resume && ps_path_exists(ckpt)) st = resume_from(&T, ckpt);
  /* every rank must start from the same epoch and weights: the checkpoint must
   * be on a filesystem that every rank sees */
  st = ps_dist_all_ok(st, "setting up the training");
  if (!st) st = ps_dist_same_int(T.start_epoch, "the epoch to resume from (is OUT/checkpoint.h5 seen by every rank?)");
  if (!st) st = ps_dist_bcast_params(ps_net_params(T.net));
  if (st) goto done;
  {
    char *cfg_s = cJSON_PrintUnformatted(job->config);
    ps_info("config: %s", cfg_s);
    free(cfg_s);
    ps_info("training cases: %d, validation cases: %d, parameters: %zu, threads: %d", job->n_train, job->n_val,
            ps_params_numel(ps_net_params(T.net)), ps_threads_get());
    if (T.dp_size > 1)
      ps_info("data parallel: %d ranks, %d of each batch of %d samples per rank", T.dp_size, T.fwd_batch, T.batch);
  }
  double dice = NAN; /* the latest validation Dice (rank 0's, on every rank) */
  for (int epoch = T.start_epoch; epoch < T.epochs; epoch++) {
    double te = ps_now();
    float lr = (float)ps_lr_at(T.sched, epoch);
    ps_info("%s", "");
    ps_info("Epoch %d", epoch);
    ps_info("Current learning rate: %.5g", lr);
    st = ps_trainer_epoch_begin(&T, epoch, lr);
    double sum = 0;
    for (int it = 0; it < T.iters && !st; it++) {
      double l = 0;
      st = ps_trainer_step(&T, it, &l);
      sum += l;
    }
    if (st) goto done;
    double train_loss = sum / T.iters;
    res->train_seconds += ps_now() - te;
    res->final_train_loss = train_loss;
    cJSON_AddItemToArray(T.hist_train, cJSON_CreateNumber(train_loss));
    cJSON_AddItemToArray(T.hist_lr, cJSON_CreateNumber(lr));
    ps_info("train_loss %.4f", train_loss);
    ps_dist_outcome o = {PS_OK, NAN, false, false};
    if (writer) o.status = epoch_end(&T, epoch, te, ckpt, &v, res, &o);
    st = ps_dist_bcast_outcome(&o);
    if (st) goto done;
    if (o.validated) dice = o.dice;
    if (!writer && o.validated) ps_lr_observe(T.sched, o.dice); /* the LR schedule on every rank */
    res->epochs_done = epoch + 1;
    if (o.stop) {
      ps_info("trial pruned after epoch %d (validation Dice %.4f)", epoch, o.dice);
      res->pruned = true;
      break;
    }
  }
  {
    ps_dist_outcome fin = {PS_OK, dice, true, false};
    if (writer && !v.class_dice) { /* resumed after the last epoch: validate once more */
      fin.status = ps_validate(T.net, T.tape, job->config, job->cases, job->val_idx, job->n_val, T.n_classes, &v);
      fin.dice = v.mean_dice;
    }
    st = ps_dist_bcast_outcome(&fin);
    if (st) goto done;
    dice = fin.dice;
  }
  res->mean_dice = dice;
  res->n_fg_classes = v.n_fg; /* 0 on the ranks that did not validate */
  res->class_dice = malloc((size_t)(v.n_fg ? v.n_fg : 1) * sizeof(double));
  if (res->class_dice && v.n_fg) memcpy(res->class_dice, v.class_dice, (size_t)v.n_fg * sizeof(double));
  res->seconds = ps_now() - t0;
  st = ps_trainer_plugins_result(&T);
  if (T.dp_size > 1)
    ps_info("data parallel: the gradient all-reduce took %.3f s of %.3f s of training steps (%.1f%%)",
            ps_dist_comm_seconds(), res->train_seconds, 100 * ps_dist_comm_seconds() / res->train_seconds);
  if (!st && writer) st = write_metrics(&T, job->out_dir, &v, res);
  if (!st && writer && !job->keep_checkpoint) unlink(ckpt);
  ps_info("done: mean validation Dice %.4f in %.1f s", res->mean_dice, res->seconds);
done:
  if (st) ps_log(PS_LOG_ERROR, "%s", ps_last_error());
  res->seconds = ps_now() - t0;
  ps_val_result_free(&v);
  trainer_free(&T);
  ps_log_set_file(NULL);
  if (logf) fclose(logf);
  free(log_path);
  free(ckpt);
  return st;
}
