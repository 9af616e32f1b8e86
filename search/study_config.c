/* The study configuration: its defaults (every key written out in study.json)
 * and an up-front check of every key's type and range, so that a bad value is a
 * usage error naming the key before any training starts, never a crash later. */
#include "proxyseg/study.h"
#include <math.h>
#include <string.h>

static const char *study_defaults =
    "{"
    "\"dataset\": null,"
    "\"generate\": {\"cases\": 24, \"size\": 48, \"seed\": 0, \"modality\": \"CT\"},"
    "\"external\": null,"
    "\"generate_external\": null,"
    "\"space\": \"lr_aug\","
    "\"algo\": \"random\", \"algo_opts\": {},"
    "\"trials\": 12, \"budget_seconds\": 0, \"jobs\": 1, \"seed\": 0, \"pruner\": \"none\","
    "\"trial_timeout\": 0, \"heartbeat_timeout\": 60, \"retry_failed\": false, \"file_workers\": false,"
    "\"proxy_data\": {\"method\": \"kcenter\", \"fraction\": 0.5, \"keep\": \"diverse\"},"
    "\"proxy_net\": {\"width\": 0.5, \"depth\": 1},"
    "\"train\": {},"
    "\"proxy_train\": {},"
    "\"full_train\": {},"
    "\"retrain\": {\"count\": 6, \"replicates\": 2, \"proxy_replicates\": 1},"
    "\"factorial\": false,"
    "\"validate_full\": false,"
    "\"compare_proxy_data\": null,"
    "\"warm_start\": false,"
    "\"report\": {\"topk\": 3, \"bootstrap\": 2000}"
    "}";

cJSON *ps_study_config_defaults(void) { return cJSON_Parse(study_defaults); }

typedef enum { K_INT, K_NUM, K_BOOL, K_STR, K_OBJ, K_OBJ_OR_NULL, K_STR_OR_NULL, K_SPACE } kind;
typedef struct {
  const char *path;
  kind k;
  double lo, hi;       /* numbers: inclusive range */
  const char *choices; /* strings: the allowed values, '|'-separated (NULL: any) */
} rule;

static const rule rules[] = {
    {"dataset", K_STR_OR_NULL, 0, 0, NULL},
    {"generate", K_OBJ_OR_NULL, 0, 0, NULL},
    {"generate.cases", K_INT, 4, 100000, NULL},
    {"generate.size", K_INT, 16, 1024, NULL},
    {"generate.seed", K_INT, 0, 2147483647.0, NULL},
    {"generate.modality", K_STR, 0, 0, "CT|MR"},
    {"external", K_STR_OR_NULL, 0, 0, NULL},
    {"generate_external", K_OBJ_OR_NULL, 0, 0, NULL},
    {"space", K_SPACE, 0, 0, NULL},
    {"algo", K_STR, 0, 0, NULL},
    {"algo_opts", K_OBJ, 0, 0, NULL},
    {"trials", K_INT, 1, 100000, NULL},
    {"budget_seconds", K_NUM, 0, 1e9, NULL},
    {"jobs", K_INT, 1, 1024, NULL},
    {"trial_timeout", K_NUM, 0, 1e9, NULL},
    {"heartbeat_timeout", K_NUM, 0.1, 1e9, NULL},
    {"retry_failed", K_BOOL, 0, 0, NULL},
    {"file_workers", K_BOOL, 0, 0, NULL},
    {"seed", K_INT, 0, 2147483647.0, NULL},
    {"pruner", K_STR, 0, 0, "none|median"},
    {"proxy_data", K_OBJ, 0, 0, NULL},
    {"proxy_data.fraction", K_NUM, 1e-6, 1, NULL},
    {"proxy_data.method", K_STR, 0, 0, "random|mi|ncc|kcenter"},
    {"proxy_data.keep", K_STR, 0, 0, "diverse|typical"},
    {"proxy_net", K_OBJ, 0, 0, NULL},
    {"proxy_net.width", K_NUM, 0.01, 1, NULL},
    {"proxy_net.depth", K_INT, 0, 8, NULL},
    {"train", K_OBJ, 0, 0, NULL},
    {"proxy_train", K_OBJ, 0, 0, NULL},
    {"full_train", K_OBJ, 0, 0, NULL},
    {"retrain", K_OBJ, 0, 0, NULL},
    {"retrain.count", K_INT, 1, 10000, NULL},
    {"retrain.replicates", K_INT, 1, 100, NULL},
    {"retrain.proxy_replicates", K_INT, 1, 100, NULL},
    {"factorial", K_BOOL, 0, 0, NULL},
    {"validate_full", K_BOOL, 0, 0, NULL},
    {"compare_proxy_data", K_OBJ_OR_NULL, 0, 0, NULL},
    {"compare_proxy_data.draws", K_INT, 1, 100, NULL},
    {"compare_proxy_data.fraction", K_NUM, 1e-6, 1, NULL},
    {"compare_proxy_data.method", K_STR, 0, 0, "random|mi|ncc|kcenter"},
    {"compare_proxy_data.keep", K_STR, 0, 0, "diverse|typical"},
    {"compare_proxy_data.seed", K_INT, 0, 2147483647.0, NULL},
    {"warm_start", K_BOOL, 0, 0, NULL},
    {"report", K_OBJ, 0, 0, NULL},
    {"report.topk", K_INT, 1, 1000, NULL},
    {"report.bootstrap", K_INT, 100, 1000000, NULL},
};

static const char *kind_name(kind k) {
  static const char *n[] = {"an integer", "a number", "true or false", "a string", "an object",
                            "an object or null", "a string or null", "a name, a path or an object"};
  return n[k];
}

static bool type_ok(const cJSON *v, kind k) {
  switch (k) {
  case K_INT: return cJSON_IsNumber(v) && isfinite(v->valuedouble) && v->valuedouble == floor(v->valuedouble);
  case K_NUM: return cJSON_IsNumber(v) && isfinite(v->valuedouble);
  case K_BOOL: return cJSON_IsBool(v);
  case K_STR: return cJSON_IsString(v);
  case K_OBJ: return cJSON_IsObject(v);
  case K_OBJ_OR_NULL: return cJSON_IsObject(v) || cJSON_IsNull(v);
  case K_STR_OR_NULL: return cJSON_IsString(v) || cJSON_IsNull(v);
  case K_SPACE: return cJSON_IsString(v) || cJSON_IsObject(v);
  }
  return false;
}

static const rule *rule_for(const char *path) {
  for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++)
    if (!strcmp(rules[i].path, path)) return &rules[i];
  return NULL;
}

static bool is_choice(const char *v, const char *choices) {
  size_t n = strlen(v);
  for (const char *c = choices; c; c = strchr(c, '|') ? strchr(c, '|') + 1 : NULL)
    if (!strncmp(c, v, n) && (c[n] == '|' || c[n] == 0)) return true;
  return false;
}

/* Keys inside the study's own objects must be known too: "proxy_net.widht"
 * used to shrink nothing. generate_external takes generate's keys; algo_opts
 * and the training sections are checked by their owners. */
static ps_status check_sub_keys(const cJSON *cfg) {
  static const char *const objs[] = {"generate", "generate_external", "proxy_data", "proxy_net", "retrain",
                                     "compare_proxy_data", "report", NULL};
  for (int o = 0; objs[o]; o++) {
    const cJSON *obj = cJSON_GetObjectItemCaseSensitive(cfg, objs[o]);
    if (!cJSON_IsObject(obj)) continue;
    const char *schema = strcmp(objs[o], "generate_external") ? objs[o] : "generate";
    for (const cJSON *it = obj->child; it; it = it->next) {
      char path[128];
      snprintf(path, sizeof path, "%s.%s", schema, it->string);
      if (!rule_for(path))
        return ps_error(PS_ERR_INVALID, "study config: unknown key '%s.%s'", objs[o], it->string);
    }
  }
  return PS_OK;
}

ps_status ps_study_config_check(const cJSON *cfg) {
  ps_status st = check_sub_keys(cfg);
  if (st) return st;
  for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
    const rule *r = &rules[i];
    const cJSON *v = ps_json_path(cfg, r->path);
    if (!v) continue; /* an optional key of an optional object (e.g. compare_proxy_data.draws) */
    if (!type_ok(v, r->k))
      return ps_error(PS_ERR_INVALID, "study config: '%s' must be %s", r->path, kind_name(r->k));
    if ((r->k == K_INT || r->k == K_NUM) && (v->valuedouble < r->lo || v->valuedouble > r->hi))
      return ps_error(PS_ERR_INVALID, "study config: '%s' is %g, must be in [%g, %g]", r->path, v->valuedouble, r->lo,
                      r->hi);
    if (r->choices && cJSON_IsString(v) && !is_choice(v->valuestring, r->choices))
      return ps_error(PS_ERR_INVALID, "study config: '%s' is \"%s\", must be one of %s", r->path, v->valuestring,
                      r->choices);
  }
  return PS_OK;
}
