/* Trainer plugins: their dispatch (create, per-step calls, checkpoint state,
 * results) and the context calls they use (batches, validation mini-batches,
 * loss, optimiser step). The default weight step lives here too, so that a
 * plugin's own step and the default one share every line they can. */
#include "trainer_internal.h"
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define EACH_PLUGIN(T, i) for (int i = 0; i < (T)->n_plugins; i++)

ps_status ps_trainer_plugins_create(trainer *T) {
  const ps_train_job *job = T->job;
  if (job->n_plugins > PS_TRAIN_MAX_PLUGINS)
    return ps_error(PS_ERR_INVALID, "%d trainer plugins: at most %d", job->n_plugins, PS_TRAIN_MAX_PLUGINS);
  T->step_owner = -1;
  for (int i = 0; i < job->n_plugins; i++) {
    const ps_train_plugin *vt = job->plugins[i].vt;
    if (!vt || !vt->name) return ps_error(PS_ERR_INVALID, "trainer plugin %d has no name", i);
    for (int j = 0; j < i; j++)
      if (!strcmp(job->plugins[j].vt->name, vt->name)) return ps_error(PS_ERR_INVALID, "trainer plugin '%s' given twice", vt->name);
    if (vt->step) {
      if (T->step_owner >= 0)
        return ps_error(PS_ERR_INVALID, "trainer plugins '%s' and '%s' both replace the weight step",
                        job->plugins[T->step_owner].vt->name, vt->name);
      T->step_owner = i;
    }
  }
  ps_train_ctx *c = &T->ctx;
  c->config = T->cfg;
  c->net = T->net;
  c->opt = T->opt;
  c->tape = T->tape;
  c->loss = &T->lp;
  c->epochs = T->epochs;
  c->iters_per_epoch = T->iters;
  c->batch = T->batch;
  c->channels = T->channels;
  c->n_classes = T->n_classes;
  memcpy(c->patch, T->patch, sizeof c->patch);
  c->policy = T->policy;
  c->img = T->img;
  c->lab = T->lab;
  c->out_dir = job->out_dir;
  c->run = T;
  T->plugin_rng = ps_rng_create(0);
  c->rng = T->plugin_rng;
  if (!T->plugin_rng) return ps_error(PS_ERR_NOMEM, "out of memory");
  for (int i = 0; i < job->n_plugins; i++) {
    const ps_train_plugin *vt = job->plugins[i].vt;
    T->n_plugins = i + 1; /* destroy what was created, even if a later create fails */
    if (vt->create) {
      ps_status st = vt->create(job->plugins[i].opts, c, &T->pstate[i]);
      if (st) return ps_error_prefix(st, "plugin %s", vt->name);
    }
  }
  return PS_OK;
}

void ps_trainer_plugins_destroy(trainer *T) {
  EACH_PLUGIN(T, i) {
    if (T->job->plugins[i].vt->destroy) T->job->plugins[i].vt->destroy(T->pstate[i]);
    T->pstate[i] = NULL;
  }
  T->n_plugins = 0;
  ps_rng_free(T->plugin_rng);
  T->plugin_rng = NULL;
  ps_sampler_free(T->val_smp);
  T->val_smp = NULL;
  free(T->fit_idx);
  free(T->hold_idx);
}

/* Every 5th training case (by position) is held out: deterministic, and a
 * resumed run holds out the same cases. */
ps_status ps_trainer_split_holdout(trainer *T) {
  const ps_train_job *job = T->job;
  bool hold = false;
  for (int i = 0; i < job->n_plugins; i++) hold |= job->plugins[i].vt->needs_holdout;
  T->fit_idx = malloc((size_t)job->n_train * sizeof(int));
  T->hold_idx = malloc((size_t)job->n_train * sizeof(int));
  if (!T->fit_idx || !T->hold_idx) return ps_error(PS_ERR_NOMEM, "out of memory");
  T->n_fit = T->n_hold = 0;
  for (int i = 0; i < job->n_train; i++) {
    if (hold && i % 5 == 4) T->hold_idx[T->n_hold++] = job->train_idx[i];
    else T->fit_idx[T->n_fit++] = job->train_idx[i];
  }
  if (hold && T->n_hold == 0) {
    if (job->n_train < 2)
      return ps_error(PS_ERR_INVALID, "a plugin needs a held-out case: give at least 2 training cases (have %d)", job->n_train);
    T->hold_idx[T->n_hold++] = T->fit_idx[--T->n_fit]; /* fewer than 5 cases: hold out the last */
  }
  if (hold) ps_info("plugin holdout: %d training cases fit the weights, %d score the plugin's choices", T->n_fit, T->n_hold);
  return PS_OK;
}

ps_status ps_trainer_epoch_begin(trainer *T, int epoch, float lr) {
  uint64_t seed = (uint64_t)ps_json_num(T->cfg, "seed", 0);
  T->ctx.epoch = epoch;
  T->ctx.lr = lr;
  ps_rng_seed(T->plugin_rng, ps_seed_derive(seed, 2000 + (uint64_t)epoch));
  if (T->n_hold > 0) {
    ps_sampler_free(T->val_smp);
    T->val_smp = ps_sampler_create(T->job->cases, T->job->n_cases, T->hold_idx, T->n_hold, T->patch, T->batch,
                                   T->fg_fraction, ps_seed_derive(seed, 3000 + (uint64_t)epoch));
    if (!T->val_smp) return PS_ERR_NOMEM;
  }
  return PS_OK;
}

ps_status ps_train_ctx_batch(ps_train_ctx *c, const ps_aug_policy *pol, float *img, uint8_t *lab) {
  trainer *T = c->run;
  /* a sampler per call from the step's seed: every call in a step picks the
   * same cases and centres and consumes the same random numbers */
  ps_sampler *s = ps_sampler_create(T->job->cases, T->job->n_cases, T->fit_idx, T->n_fit, T->patch, T->batch,
                                    T->fg_fraction, T->step_seed);
  if (!s) return PS_ERR_NOMEM;
  ps_status st = ps_sampler_next(s, pol, img, lab);
  ps_sampler_free(s);
  return st;
}

ps_status ps_train_ctx_val_batch(ps_train_ctx *c, float *img, uint8_t *lab) {
  trainer *T = c->run;
  if (!T->val_smp) return ps_error(PS_ERR_INVALID, "validation mini-batches need a plugin with needs_holdout");
  return ps_sampler_next(T->val_smp, NULL, img, lab);
}

ps_status ps_train_ctx_loss(ps_train_ctx *c, const float *img, const uint8_t *lab, bool backward, double *loss) {
  trainer *T = c->run;
  ps_tape_reset(T->tape);
  ps_tape_set_grad_enabled(T->tape, backward);
  /* fwd_batch: the batch, or this rank's slice of it under data parallelism */
  int64_t shape[5] = {T->fwd_batch, T->channels, T->patch[0], T->patch[1], T->patch[2]};
  ps_tensor *x = ps_tape_wrap(T->tape, (float *)img, 5, shape);
  ps_tensor *outs[8];
  int n_outs = 0;
  ps_status st = x ? ps_net_forward(T->net, T->tape, x, backward, outs, &n_outs)
                   : ps_error_prefix(PS_ERR_NOMEM, "training batch");
  ps_tensor *l = st ? NULL : ps_net_loss(T->net, T->tape, outs, n_outs, lab, &T->lp);
  if (!st && !l) st = PS_ERR_RUNTIME;
  if (!st) {
    *loss = l->data[0];
    if (!isfinite(*loss))
      st = ps_error(PS_ERR_NONFINITE, "diverged: the training loss is %g at epoch %d, iteration %d", *loss, c->epoch, c->iter);
  }
  if (!st && backward) st = ps_tape_backward(T->tape, l);
  ps_tape_set_grad_enabled(T->tape, true);
  return st;
}

ps_status ps_train_ctx_apply_step(ps_train_ctx *c) {
  trainer *T = c->run;
  /* before the clip: the norm that is clipped must be the global gradient's */
  ps_status ast = ps_dist_allreduce_grads(ps_net_params(T->net));
  if (ast) return ast;
  double clip = ps_json_num(T->cfg, "grad_clip", 12);
  float norm = ps_clip_grad_norm(ps_net_params(T->net), (float)clip);
  if (!isfinite(norm))
    return ps_error(PS_ERR_NONFINITE, "diverged: the gradient norm is %g at epoch %d, iteration %d", norm, c->epoch, c->iter);
  EACH_PLUGIN(T, i) {
    const ps_train_plugin *vt = T->job->plugins[i].vt;
    if (vt->before_optim_step) {
      ps_status st = vt->before_optim_step(T->pstate[i], c);
      if (st) return st;
    }
  }
  ps_status st = ps_optim_step(T->opt, c->lr);
  if (st == PS_ERR_NONFINITE) return ps_error(st, "diverged: non-finite gradient at epoch %d, iteration %d", c->epoch, c->iter);
  return st;
}

ps_status ps_trainer_step(trainer *T, int it, double *loss) {
  ps_train_ctx *c = &T->ctx;
  c->iter = it;
  c->policy = T->policy;
  c->loss_value = NAN;
  c->lookahead = false;
  T->step_seed = ps_seed_derive(ps_seed_derive((uint64_t)ps_json_num(T->cfg, "seed", 0), 1000 + (uint64_t)c->epoch), (uint64_t)it);
  ps_status st = PS_OK;
  EACH_PLUGIN(T, i) {
    const ps_train_plugin *vt = T->job->plugins[i].vt;
    if (!st && vt->before_step) st = vt->before_step(T->pstate[i], c);
  }
  if (st) return st;
  if (T->step_owner >= 0) {
    st = T->job->plugins[T->step_owner].vt->step(T->pstate[T->step_owner], c);
    if (!st && !isfinite(c->loss_value))
      st = ps_error(PS_ERR_NONFINITE, "diverged: the training loss is %g at epoch %d, iteration %d", c->loss_value, c->epoch, it);
  } else {
    /* every rank draws the whole batch (one random stream: K ranks see the
     * samples one rank would) and trains on its slice */
    st = ps_train_ctx_batch(c, &c->policy, T->img, T->lab);
    const size_t pv = (size_t)T->patch[0] * T->patch[1] * T->patch[2], first = (size_t)T->dp_rank * T->fwd_batch;
    if (!st) {
      ps_params_zero_grad(ps_net_params(T->net));
      st = ps_train_ctx_loss(c, T->img + first * T->channels * pv, T->lab + first * pv, true, &c->loss_value);
    }
    if (T->dp_size > 1) {
      char what[96];
      snprintf(what, sizeof what, "at epoch %d, iteration %d", c->epoch, it);
      st = ps_dist_mean_loss(st, &c->loss_value, what);
    }
    if (!st) st = ps_train_ctx_apply_step(c);
  }
  EACH_PLUGIN(T, i) {
    const ps_train_plugin *vt = T->job->plugins[i].vt;
    if (!st && vt->after_step) st = vt->after_step(T->pstate[i], c);
  }
  *loss = c->loss_value;
  return st;
}

ps_status ps_trainer_after_validation(trainer *T, double dice, bool *stop) {
  *stop = false;
  EACH_PLUGIN(T, i) {
    const ps_train_plugin *vt = T->job->plugins[i].vt;
    bool s = false;
    if (vt->after_validation) {
      ps_status st = vt->after_validation(T->pstate[i], &T->ctx, dice, &s);
      if (st) return ps_error_prefix(st, "plugin %s", vt->name);
    }
    *stop |= s;
  }
  return PS_OK;
}

cJSON *ps_trainer_plugins_save(trainer *T) {
  cJSON *all = cJSON_CreateObject();
  EACH_PLUGIN(T, i) {
    const ps_train_plugin *vt = T->job->plugins[i].vt;
    cJSON *s = NULL;
    ps_status st = vt->save_state ? vt->save_state(T->pstate[i], &s) : PS_OK;
    if (st) {
      ps_error_prefix(st, "plugin %s: saving its state", vt->name);
      cJSON_Delete(all);
      return NULL;
    }
    if (s) cJSON_AddItemToObject(all, vt->name, s);
  }
  return all;
}

ps_status ps_trainer_plugins_load(trainer *T, const cJSON *plugins) {
  EACH_PLUGIN(T, i) {
    const ps_train_plugin *vt = T->job->plugins[i].vt;
    if (!vt->load_state) continue;
    ps_status st = vt->load_state(T->pstate[i], cJSON_GetObjectItemCaseSensitive(plugins, vt->name));
    if (st) return ps_error_prefix(st, "plugin %s: resuming", vt->name);
  }
  return PS_OK;
}

ps_status ps_trainer_plugins_result(trainer *T) {
  EACH_PLUGIN(T, i) {
    const ps_train_plugin *vt = T->job->plugins[i].vt;
    if (!vt->result) continue;
    ps_status st = vt->result(T->pstate[i], &T->ctx);
    if (st) return ps_error_prefix(st, "plugin %s", vt->name);
  }
  return PS_OK;
}
