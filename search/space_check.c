/* A search space is checked against the training config before any trial
 * runs: every param's key must name a config key (a typo searched nothing
 * before, "lr.sub" was dropped silently) and the values it can take — both
 * ends of a range, every choice — must make a valid config. */
#include "proxyseg/search.h"
#include "proxyseg/train.h"

static ps_status check_value(const ps_param *p, const cJSON *base, double x) {
  cJSON *cfg = cJSON_Duplicate(base, 1);
  cJSON *v = ps_space_value(&(ps_space){1, (ps_param *)p}, 0, x);
  if (!cfg || !v) {
    cJSON_Delete(cfg);
    cJSON_Delete(v);
    return ps_error(PS_ERR_NOMEM, "out of memory");
  }
  char *vs = cJSON_PrintUnformatted(v);
  ps_status st = ps_json_set(cfg, p->key, v);
  if (!st) st = ps_train_config_validate(cfg);
  if (st) st = ps_error_prefix(PS_ERR_INVALID, "search space: param '%s' = %s", p->key, vs ? vs : "?");
  cJSON_free(vs);
  cJSON_Delete(cfg);
  return st;
}

ps_status ps_space_check(const ps_space *s, const cJSON *base) {
  if (!base) return PS_OK;
  for (int i = 0; i < s->n; i++) {
    const ps_param *p = &s->params[i];
    /* unknown keys are found by the config's own check, at every depth */
    int n = p->kind == PS_PARAM_CATEGORICAL ? p->n_choices : 2;
    for (int k = 0; k < n; k++) {
      /* the unit value that selects choice k, or either end of a range */
      double x = p->kind == PS_PARAM_CATEGORICAL ? (k + 0.5) / n : (double)k;
      ps_status st = check_value(p, base, x);
      if (st) return st;
    }
  }
  return PS_OK;
}
