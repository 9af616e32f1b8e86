/* Search spaces: parse/validate the space JSON, and map points x in [0,1]^d to
 * config values and back (linear or log scale, integers by equal-mass bins,
 * categoricals by floor(x*n)). Algorithms only ever see x; this file is the
 * single place where x becomes a config value. */
#include "proxyseg/search.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

void ps_space_free(ps_space *s) {
  if (!s) return;
  for (int i = 0; i < s->n; i++) {
    free(s->params[i].key);
    cJSON_Delete(s->params[i].choices);
  }
  free(s->params);
  free(s);
}

static ps_status parse_param(const cJSON *pj, const char *origin, int idx, ps_param *p) {
  if (!cJSON_IsObject(pj)) return ps_error(PS_ERR_DATA, "%s: params[%d] is not an object", origin, idx);
  const cJSON *key = cJSON_GetObjectItemCaseSensitive(pj, "key");
  if (!cJSON_IsString(key) || !key->valuestring[0])
    return ps_error(PS_ERR_DATA, "%s: params[%d] has no \"key\" string", origin, idx);
  const char *k = key->valuestring;
  p->key = ps_strdup(k);
  if (!p->key) return ps_error(PS_ERR_NOMEM, "%s: out of memory", origin);
  const char *type = ps_json_str(pj, "type", NULL);
  if (!type) return ps_error(PS_ERR_DATA, "%s: param '%s' has no \"type\" (float, int or categorical)", origin, k);
  if (!strcmp(type, "categorical")) {
    p->kind = PS_PARAM_CATEGORICAL;
    const cJSON *ch = cJSON_GetObjectItemCaseSensitive(pj, "choices");
    if (!cJSON_IsArray(ch)) return ps_error(PS_ERR_DATA, "%s: param '%s': \"choices\" must be an array", origin, k);
    p->n_choices = cJSON_GetArraySize(ch);
    if (p->n_choices < 1) return ps_error(PS_ERR_DATA, "%s: param '%s': \"choices\" is empty", origin, k);
    p->choices = cJSON_Duplicate(ch, true);
    if (!p->choices) return ps_error(PS_ERR_NOMEM, "%s: out of memory", origin);
    p->lo = 0;
    p->hi = p->n_choices - 1;
    return PS_OK;
  }
  if (!strcmp(type, "float")) p->kind = PS_PARAM_FLOAT;
  else if (!strcmp(type, "int")) p->kind = PS_PARAM_INT;
  else return ps_error(PS_ERR_DATA, "%s: param '%s': unknown type '%s' (float, int or categorical)", origin, k, type);
  const cJSON *lo = cJSON_GetObjectItemCaseSensitive(pj, "low"), *hi = cJSON_GetObjectItemCaseSensitive(pj, "high");
  if (!cJSON_IsNumber(lo) || !cJSON_IsNumber(hi))
    return ps_error(PS_ERR_DATA, "%s: param '%s': \"low\" and \"high\" must be numbers", origin, k);
  p->lo = lo->valuedouble;
  p->hi = hi->valuedouble;
  p->log = ps_json_bool(pj, "log", false);
  if (!isfinite(p->lo) || !isfinite(p->hi) || p->lo > p->hi)
    return ps_error(PS_ERR_DATA, "%s: param '%s': low %g > high %g", origin, k, p->lo, p->hi);
  if (p->log && p->lo <= 0)
    return ps_error(PS_ERR_DATA, "%s: param '%s': log scale needs low > 0 (got %g)", origin, k, p->lo);
  if (p->kind == PS_PARAM_INT && (p->lo != floor(p->lo) || p->hi != floor(p->hi)))
    return ps_error(PS_ERR_DATA, "%s: param '%s': int bounds must be integers (%g, %g)", origin, k, p->lo, p->hi);
  return PS_OK;
}

ps_status ps_space_from_json(const cJSON *j, const char *origin, ps_space **out) {
  *out = NULL;
  if (!origin) origin = "search space";
  const cJSON *arr = cJSON_IsObject(j) ? cJSON_GetObjectItemCaseSensitive(j, "params") : NULL;
  if (!cJSON_IsArray(arr)) return ps_error(PS_ERR_DATA, "%s: expected an object with a \"params\" array", origin);
  int n = cJSON_GetArraySize(arr);
  if (n < 1) return ps_error(PS_ERR_DATA, "%s: \"params\" is empty", origin);
  ps_space *s = calloc(1, sizeof *s);
  if (!s || !(s->params = calloc((size_t)n, sizeof *s->params))) {
    free(s);
    return ps_error(PS_ERR_NOMEM, "%s: out of memory", origin);
  }
  s->n = n;
  int i = 0;
  const cJSON *pj;
  cJSON_ArrayForEach(pj, arr) {
    ps_status st = parse_param(pj, origin, i, &s->params[i]);
    if (st) { ps_space_free(s); return st; }
    for (int q = 0; q < i; q++)
      if (!strcmp(s->params[q].key, s->params[i].key)) {
        ps_error(PS_ERR_DATA, "%s: param '%s' appears twice (params[%d] and params[%d])", origin, s->params[i].key, q, i);
        ps_space_free(s);
        return PS_ERR_DATA;
      }
    i++;
  }
  *out = s;
  return PS_OK;
}

ps_status ps_space_load(const char *path, ps_space **out) {
  *out = NULL;
  cJSON *j = NULL;
  ps_status st = ps_json_read(path, &j);
  if (st) return st;
  st = ps_space_from_json(j, path, out);
  cJSON_Delete(j);
  return st;
}

cJSON *ps_space_to_json(const ps_space *s) {
  cJSON *root = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(root, "params");
  for (int i = 0; i < s->n; i++) {
    const ps_param *p = &s->params[i];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "key", p->key);
    if (p->kind == PS_PARAM_CATEGORICAL) {
      cJSON_AddStringToObject(o, "type", "categorical");
      cJSON_AddItemToObject(o, "choices", cJSON_Duplicate(p->choices, true));
    } else {
      cJSON_AddStringToObject(o, "type", p->kind == PS_PARAM_INT ? "int" : "float");
      cJSON_AddNumberToObject(o, "low", p->lo);
      cJSON_AddNumberToObject(o, "high", p->hi);
      if (p->log) cJSON_AddBoolToObject(o, "log", true);
    }
    cJSON_AddItemToArray(arr, o);
  }
  return root;
}

static double clamp01(double x) { return !(x > 0) ? 0 : x > 1 ? 1 : x; }

/* Integers: non-log ranges use n equal bins of x (every value equally likely
 * under uniform x); log ranges round the log-scaled real value. */
static double int_value(const ps_param *p, double x) {
  double v;
  if (p->log) v = round(exp(log(p->lo) + x * (log(p->hi) - log(p->lo))));
  else v = p->lo + floor(x * (p->hi - p->lo + 1));
  return v < p->lo ? p->lo : v > p->hi ? p->hi : v;
}

cJSON *ps_space_value(const ps_space *s, int i, double x) {
  if (!s || i < 0 || i >= s->n) return NULL;
  const ps_param *p = &s->params[i];
  x = clamp01(x);
  switch (p->kind) {
  case PS_PARAM_CATEGORICAL: {
    int c = (int)floor(x * p->n_choices);
    if (c >= p->n_choices) c = p->n_choices - 1;
    return cJSON_Duplicate(cJSON_GetArrayItem(p->choices, c), true);
  }
  case PS_PARAM_INT: return cJSON_CreateNumber(int_value(p, x));
  default: {
    double v = p->log ? exp(log(p->lo) + x * (log(p->hi) - log(p->lo))) : p->lo + x * (p->hi - p->lo);
    return cJSON_CreateNumber(v < p->lo ? p->lo : v > p->hi ? p->hi : v);
  }
  }
}

/* Returns NAN (with the error set) for a value that is not in the space. */
double ps_space_unit(const ps_space *s, int i, const cJSON *value) {
  if (!s || i < 0 || i >= s->n || !value) {
    ps_error(PS_ERR_INVALID, "ps_space_unit: bad parameter index %d", i);
    return NAN;
  }
  const ps_param *p = &s->params[i];
  if (p->kind == PS_PARAM_CATEGORICAL) {
    for (int c = 0; c < p->n_choices; c++)
      if (cJSON_Compare(cJSON_GetArrayItem(p->choices, c), value, true)) return (c + 0.5) / p->n_choices;
    char *txt = cJSON_PrintUnformatted(value);
    ps_error(PS_ERR_DATA, "param '%s': value %s is not one of its choices", p->key, txt ? txt : "?");
    free(txt);
    return NAN;
  }
  if (!cJSON_IsNumber(value)) {
    ps_error(PS_ERR_DATA, "param '%s': expected a number", p->key);
    return NAN;
  }
  double v = value->valuedouble;
  if (p->hi == p->lo) return 0.5;
  if (p->kind == PS_PARAM_INT && !p->log) return clamp01((round(v) - p->lo + 0.5) / (p->hi - p->lo + 1));
  if (p->log) {
    if (!(v > 0)) {
      ps_error(PS_ERR_DATA, "param '%s': value %g is not positive on a log scale", p->key, v);
      return NAN;
    }
    return clamp01((log(v) - log(p->lo)) / (log(p->hi) - log(p->lo)));
  }
  return clamp01((v - p->lo) / (p->hi - p->lo));
}

ps_status ps_space_apply(const ps_space *s, const double *x, cJSON *config) {
  for (int i = 0; i < s->n; i++) {
    cJSON *v = ps_space_value(s, i, x[i]);
    if (!v) return ps_error(PS_ERR_NOMEM, "search space: out of memory");
    ps_status st = ps_json_set(config, s->params[i].key, v);
    if (st) return ps_error_prefix(st, "applying param '%s': ", s->params[i].key);
  }
  return PS_OK;
}
