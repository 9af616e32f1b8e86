/* `search --algo gumbel-nas`: one-shot, as ASNG. The whole search is one trial
 * that trains the cell super-network with the Gumbel-NAS plugin (named in the
 * trial's plugins.json); its folder keeps genotype.json, genotype.svg,
 * alpha_history.json and the super-network (checkpoint.h5), and a killed
 * search's re-run resumes the trial from its checkpoint. */
#include "proxyseg/gumbel_nas.h"
#include <stdlib.h>
#include <string.h>

/* The trainer's keys the search sets (weights: Adam; LR on plateau). */
static ps_status search_config(const cJSON *cfg, const cJSON *opts, cJSON **out) {
  const cJSON *net = cJSON_GetObjectItemCaseSensitive(cfg, "net");
  if (strcmp(ps_json_str(net, "family", "unet"), "cells") || cJSON_GetObjectItemCaseSensitive(net, "genotype"))
    return ps_error(PS_ERR_INVALID, "gumbel-nas: the network must be a cell super-network (net.family=cells, no genotype)");
  cJSON *c = cJSON_Duplicate(cfg, 1);
  if (!c) return ps_error(PS_ERR_NOMEM, "out of memory");
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

ps_status ps_gumbel_search_phase(const ps_phase_opts *o) {
  if (o->space && o->space->n)
    return ps_error(PS_ERR_INVALID, "--algo gumbel-nas searches the cell space of the network (net.*); --space does not apply");
  if (o->warm_start) return ps_error(PS_ERR_INVALID, "--algo gumbel-nas trains one super-network from scratch: --warm-start does not apply");
  if (cJSON_GetArraySize(o->train_ids) < 2)
    return ps_error(PS_ERR_DATA, "gumbel-nas: needs at least 2 training cases (4:1 weights/alpha split)");
  cJSON *cfg = NULL, *popts = o->algo_opts ? cJSON_Duplicate(o->algo_opts, 1) : cJSON_CreateObject();
  /* "net": the study's super-network (gumbel_nas_oneshot.c), already in base_config */
  const char *mine[] = {"weights_lr", "weights_beta1", "weights_beta2", "net"};
  for (int i = 0; i < 4; i++) cJSON_DeleteItemFromObjectCaseSensitive(popts, mine[i]);
  int number = 0;
  ps_status st = search_config(o->base_config, o->algo_opts, &cfg);
  if (!st) st = ps_study_phase_first_number(o->study_dir, o->phase, &number);
  char *dir = st ? NULL : ps_trial_dir(o->study_dir, number), *pp = dir ? ps_path_join(dir, "plugins.json") : NULL;
  if (!st) st = ps_mkdir_p(dir);
  if (!st) {
    cJSON *pl = cJSON_CreateArray(), *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "name", "gumbel-nas");
    cJSON_AddItemToObject(e, "opts", popts);
    popts = NULL;
    cJSON_AddItemToArray(pl, e);
    st = ps_json_write(pp, pl);
    cJSON_Delete(pl);
  }
  if (!st) {
    ps_json_set(cfg, "seed", cJSON_CreateNumber((double)ps_trial_seed(o->seed, number)));
    const cJSON *cs[1] = {cfg};
    ps_info("gumbel-nas: one-shot cell search in trial %d (%s)", number, dir);
    st = ps_run_configs(o->study_dir, o->phase, number, cs, NULL, NULL, 1, 1, o->cache_dir, o->train_ids, o->val_ids, true);
  }
  cJSON_Delete(cfg);
  cJSON_Delete(popts);
  free(pp);
  free(dir);
  return st;
}
