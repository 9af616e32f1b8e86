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
  double lo, hi; /* numbers: inclusive range */
} rule;

static const rule rules[] = {
    {"dataset", K_STR_OR_NULL, 0, 0},
    {"generate", K_OBJ_OR_NULL, 0, 0},
    {"generate.cases", K_INT, 4, 100000},
    {"generate.size", K_INT, 16, 1024},
    {"external", K_STR_OR_NULL, 0, 0},
    {"generate_external", K_OBJ_OR_NULL, 0, 0},
    {"space", K_SPACE, 0, 0},
    {"algo", K_STR, 0, 0},
    {"algo_opts", K_OBJ, 0, 0},
    {"trials", K_INT, 1, 100000},
    {"budget_seconds", K_NUM, 0, 1e9},
    {"jobs", K_INT, 1, 1024},
    {"seed", K_INT, 0, 2147483647.0},
    {"pruner", K_STR, 0, 0},
    {"proxy_data", K_OBJ, 0, 0},
    {"proxy_data.fraction", K_NUM, 1e-6, 1},
    {"proxy_data.method", K_STR, 0, 0},
    {"proxy_net", K_OBJ, 0, 0},
    {"proxy_net.width", K_NUM, 0.01, 1},
    {"proxy_net.depth", K_INT, 0, 8},
    {"train", K_OBJ, 0, 0},
    {"proxy_train", K_OBJ, 0, 0},
    {"full_train", K_OBJ, 0, 0},
    {"retrain", K_OBJ, 0, 0},
    {"retrain.count", K_INT, 1, 10000},
    {"retrain.replicates", K_INT, 1, 100},
    {"retrain.proxy_replicates", K_INT, 1, 100},
    {"factorial", K_BOOL, 0, 0},
    {"validate_full", K_BOOL, 0, 0},
    {"compare_proxy_data", K_OBJ_OR_NULL, 0, 0},
    {"compare_proxy_data.draws", K_INT, 1, 100},
    {"compare_proxy_data.fraction", K_NUM, 1e-6, 1},
    {"warm_start", K_BOOL, 0, 0},
    {"report", K_OBJ, 0, 0},
    {"report.topk", K_INT, 1, 1000},
    {"report.bootstrap", K_INT, 100, 1000000},
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

ps_status ps_study_config_check(const cJSON *cfg) {
  for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
    const rule *r = &rules[i];
    const cJSON *v = ps_json_path(cfg, r->path);
    if (!v) continue; /* an optional key of an optional object (e.g. compare_proxy_data.draws) */
    if (!type_ok(v, r->k))
      return ps_error(PS_ERR_INVALID, "study config: '%s' must be %s", r->path, kind_name(r->k));
    if ((r->k == K_INT || r->k == K_NUM) && (v->valuedouble < r->lo || v->valuedouble > r->hi))
      return ps_error(PS_ERR_INVALID, "study config: '%s' is %g, must be in [%g, %g]", r->path, v->valuedouble, r->lo,
                      r->hi);
  }
  return PS_OK;
}
