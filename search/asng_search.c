/* `search --algo asng`: one-shot. The whole search is one trial that trains
 * the (proxy) network with the ASNG plugin; its folder keeps policy.json,
 * asng.json, theta.jsonl and the trained network (checkpoint.h5). */
#include "asng_plugin.h"
#include "proxyseg/study.h"
#include <stdlib.h>
#include <string.h>

ps_status ps_asng_search_phase(const ps_phase_opts *o) {
  if (o->space && o->space->n != ps_asng_space_size())
    return ps_error(PS_ERR_INVALID, "--algo asng searches the paper's augmentation space (--space asng, %d variables); this space has %d",
                    ps_asng_space_size(), o->space->n);
  if (o->warm_start) return ps_error(PS_ERR_INVALID, "--algo asng trains one network from scratch: --warm-start does not apply");
  int number;
  ps_status st = ps_study_phase_first_number(o->study_dir, o->phase, &number);
  if (st) return st;
  char *dir = ps_trial_dir(o->study_dir, number), *pp = ps_path_join(dir, "plugins.json");
  st = ps_mkdir_p(dir);
  cJSON *pl = cJSON_CreateArray(), *e = cJSON_CreateObject();
  cJSON_AddStringToObject(e, "name", "asng");
  cJSON_AddItemToObject(e, "opts", o->algo_opts ? cJSON_Duplicate(o->algo_opts, 1) : cJSON_CreateObject());
  cJSON_AddItemToArray(pl, e);
  if (!st) st = ps_json_write(pp, pl);
  cJSON_Delete(pl);
  cJSON *cfg = cJSON_Duplicate(o->base_config, 1);
  ps_json_set(cfg, "seed", cJSON_CreateNumber((double)ps_trial_seed(o->seed, number)));
  const cJSON *cs[1] = {cfg};
  if (!st) ps_info("asng: one-shot search in trial %d (%s)", number, dir);
  if (!st) st = ps_run_configs(o->study_dir, o->phase, number, cs, NULL, NULL, 1, 1, o->cache_dir, o->train_ids, o->val_ids, true);
  cJSON_Delete(cfg);
  free(pp);
  free(dir);
  return st;
}
