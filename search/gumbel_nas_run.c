/* `proxyseg search --algo gumbel-nas`: one training run of the cell
 * super-network with the Gumbel-NAS plugin in STUDY/trials/0000, the search's
 * training settings, resumable from its checkpoint. */
#include "proxyseg/gumbel_nas.h"
#include <stdlib.h>
#include <string.h>

/* The trainer's keys the search sets (weights: Adam; LR on plateau). */
static ps_status search_config(const cJSON *cfg, const cJSON *opts, cJSON **out) {
  cJSON *c = cJSON_Duplicate(cfg, 1);
  if (!c) return ps_error(PS_ERR_NOMEM, "out of memory");
  const char *fam = ps_json_str(c, "net.family", "unet");
  if (strcmp(fam, "cells") || cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(c, "net"), "genotype")) {
    cJSON_Delete(c);
    return ps_error(PS_ERR_INVALID, "gumbel-nas: the network must be a cell super-network (net.family=cells, no genotype)");
  }
  cJSON_ReplaceItemInObjectCaseSensitive(c, "optimizer", cJSON_CreateString("adam"));
  cJSON_ReplaceItemInObjectCaseSensitive(c, "lr", cJSON_CreateNumber(ps_json_num(opts, "weights_lr", 1e-3)));
  cJSON *hp = cJSON_CreateObject();
  cJSON_AddNumberToObject(hp, "beta1", ps_json_num(opts, "weights_beta1", 0.9));
  cJSON_AddNumberToObject(hp, "beta2", ps_json_num(opts, "weights_beta2", 0.999));
  cJSON_ReplaceItemInObjectCaseSensitive(c, "optim", hp);
  cJSON_ReplaceItemInObjectCaseSensitive(c, "schedule", cJSON_CreateString("plateau"));
  ps_status st = ps_json_set(c, "schedule_opts.factor", cJSON_CreateNumber(0.1));
  if (!st) st = ps_json_set(c, "schedule_opts.patience", cJSON_CreateNumber(20));
  if (!st) st = ps_train_config_validate(c);
  if (st) { cJSON_Delete(c); return st; }
  *out = c;
  return PS_OK;
}

ps_status ps_gumbel_nas_search(const char *study_dir, const cJSON *cfg, const ps_study_ctx *ctx, const cJSON *train_ids,
                               const cJSON *opts, cJSON **summary) {
  *summary = NULL;
  cJSON *c = NULL, *popts = opts ? cJSON_Duplicate(opts, 1) : cJSON_CreateObject();
  const char *mine[] = {"weights_lr", "weights_beta1", "weights_beta2"};
  for (int i = 0; i < 3; i++) cJSON_DeleteItemFromObjectCaseSensitive(popts, mine[i]);
  int *tr = NULL, *va = NULL, n_tr = 0, n_va = 0;
  ps_status st = search_config(cfg, opts, &c);
  if (!st) st = ps_study_case_indices(ctx->cases, ctx->n, train_ids, &tr, &n_tr);
  if (!st) st = ps_study_case_indices(ctx->cases, ctx->n, ctx->val_ids, &va, &n_va);
  if (!st && n_tr < 2) st = ps_error(PS_ERR_DATA, "gumbel-nas: needs at least 2 training cases (4:1 weights/alpha split)");
  char *dir = ps_path_join(study_dir, "trials/0000");
  if (!st) st = ps_mkdir_p(dir);
  if (!st) {
    char *p = ps_path_join(dir, "config.json");
    st = ps_json_write(p, c);
    free(p);
  }
  ps_train_result res = {0};
  if (!st) {
    ps_train_plugin_use use = {&ps_gumbel_nas_plugin, popts};
    ps_train_job job = {0};
    job.config = c;
    job.cases = ctx->cases;
    job.n_cases = ctx->n;
    job.train_idx = tr;
    job.n_train = n_tr;
    job.val_idx = va;
    job.n_val = n_va;
    job.out_dir = dir;
    job.resume = true;   /* a killed search continues from its last checkpoint */
    job.keep_checkpoint = true;
    job.plugins = &use;
    job.n_plugins = 1;
    job.n_classes = ctx->n_classes;
    job.plan = NULL;
    st = ps_train_run(&job, &res);
  }
  if (!st) {
    cJSON *s = cJSON_CreateObject();
    char *g = ps_path_join(dir, "genotype.json"), *h = ps_path_join(dir, "alpha_history.json");
    cJSON_AddStringToObject(s, "algo", "gumbel-nas");
    cJSON_AddStringToObject(s, "genotype", g);
    cJSON_AddStringToObject(s, "alpha_history", h);
    cJSON_AddNumberToObject(s, "supernet_mean_dice", res.mean_dice);
    cJSON_AddNumberToObject(s, "seconds", res.seconds);
    free(g);
    free(h);
    *summary = s;
  }
  ps_train_result_free(&res);
  free(dir);
  free(tr);
  free(va);
  cJSON_Delete(c);
  cJSON_Delete(popts);
  return st;
}
