/* JSON files and dotted-key access over cJSON; errors name the file and key. */
#include "proxyseg/json.h"
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

ps_status ps_json_read(const char *path, cJSON **out) {
  *out = NULL;
  char *buf;
  size_t n;
  ps_status st = ps_read_file(path, 256u << 20, &buf, &n);
  if (st) return st;
  const char *end = NULL;
  cJSON *j = cJSON_ParseWithOpts(buf, &end, 1);
  if (!j) {
    size_t off = end ? (size_t)(end - buf) : 0;
    int line = 1;
    for (size_t i = 0; i < off && i < n; i++) line += buf[i] == '\n';
    free(buf);
    return ps_error(PS_ERR_DATA, "%s: invalid JSON near line %d (byte %zu)", path, line, off);
  }
  free(buf);
  *out = j;
  return PS_OK;
}

/* Length of the valid UTF-8 sequence at s, 0 if it is not one (overlongs,
 * surrogates and code points beyond U+10FFFF included). */
static int utf8_len(const unsigned char *s) {
  if (s[0] < 0x80) return 1;
  int n = s[0] >= 0xc2 && s[0] <= 0xdf ? 2 : s[0] >= 0xe0 && s[0] <= 0xef ? 3 : s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : 0;
  for (int i = 1; i < n; i++)
    if ((s[i] & 0xc0) != 0x80) return 0;
  if (n == 3 && ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0))) return 0;
  if (n == 4 && ((s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90))) return 0;
  return n;
}

void ps_utf8_sanitize(char *s) {
  for (unsigned char *p = (unsigned char *)s; *p;) {
    int n = utf8_len(p);
    if (n) p += n;
    else *p++ = '?';
  }
}

char *ps_json_print(const cJSON *j, bool formatted) {
  char *s = formatted ? cJSON_Print(j) : cJSON_PrintUnformatted(j);
  if (s) ps_utf8_sanitize(s); /* file names need not be UTF-8; JSON must be */
  return s;
}

ps_status ps_json_write(const char *path, const cJSON *j) {
  char *s = ps_json_print(j, true);
  if (!s) return ps_error(PS_ERR_NOMEM, "%s: cannot serialise JSON", path);
  size_t n = strlen(s);
  char *t = realloc(s, n + 2);
  if (!t) { free(s); return ps_error(PS_ERR_NOMEM, "out of memory"); }
  t[n] = '\n';
  t[n + 1] = 0;
  ps_status st = ps_write_file_atomic(path, t, n + 1);
  free(t);
  return st;
}

const cJSON *ps_json_path(const cJSON *obj, const char *dotted) {
  if (!obj || !dotted) return NULL;
  char key[256];
  const char *p = dotted;
  const cJSON *cur = obj;
  while (cur && *p) {
    const char *dot = strchr(p, '.');
    size_t len = dot ? (size_t)(dot - p) : strlen(p);
    if (len >= sizeof key) return NULL;
    memcpy(key, p, len);
    key[len] = 0;
    /* a whole remaining dotted key may also be stored flat ("aug.gamma.p") */
    const cJSON *flat = cJSON_GetObjectItemCaseSensitive(cur, p);
    if (flat) return flat;
    cur = cJSON_IsObject(cur) ? cJSON_GetObjectItemCaseSensitive(cur, key) : NULL;
    p = dot ? dot + 1 : p + len;
  }
  return cur;
}

double ps_json_num(const cJSON *obj, const char *dotted, double dflt) {
  const cJSON *v = ps_json_path(obj, dotted);
  if (cJSON_IsNumber(v)) return v->valuedouble;
  if (cJSON_IsBool(v)) return cJSON_IsTrue(v) ? 1.0 : 0.0;
  return dflt;
}

int ps_json_int(const cJSON *obj, const char *dotted, int dflt) {
  const cJSON *v = ps_json_path(obj, dotted);
  if (!cJSON_IsNumber(v) || isnan(v->valuedouble)) return dflt;
  /* clamped: casting a double beyond int's range is undefined behaviour (UBSan
   * found 1e300 label ids and folds); range checks then name the key */
  double x = v->valuedouble;
  return x >= 2147483647.0 ? INT_MAX : x <= -2147483648.0 ? INT_MIN : (int)x;
}

bool ps_json_bool(const cJSON *obj, const char *dotted, bool dflt) {
  const cJSON *v = ps_json_path(obj, dotted);
  if (cJSON_IsBool(v)) return cJSON_IsTrue(v);
  if (cJSON_IsNumber(v)) return v->valuedouble != 0;
  return dflt;
}

const char *ps_json_str(const cJSON *obj, const char *dotted, const char *dflt) {
  const cJSON *v = ps_json_path(obj, dotted);
  return cJSON_IsString(v) ? v->valuestring : dflt;
}

ps_status ps_json_set(cJSON *obj, const char *dotted, cJSON *item) {
  if (!cJSON_IsObject(obj)) { cJSON_Delete(item); return ps_error(PS_ERR_INVALID, "cannot set '%s': not an object", dotted); }
  const char *dot = strchr(dotted, '.');
  if (!dot) {
    if (cJSON_GetObjectItemCaseSensitive(obj, dotted)) cJSON_ReplaceItemInObjectCaseSensitive(obj, dotted, item);
    else cJSON_AddItemToObject(obj, dotted, item);
    return PS_OK;
  }
  char key[256];
  size_t len = (size_t)(dot - dotted);
  if (len >= sizeof key) { cJSON_Delete(item); return ps_error(PS_ERR_INVALID, "key too long: %s", dotted); }
  memcpy(key, dotted, len);
  key[len] = 0;
  cJSON *child = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!child) child = cJSON_AddObjectToObject(obj, key);
  else if (!cJSON_IsObject(child)) {
    cJSON_Delete(item);
    return ps_error(PS_ERR_INVALID, "cannot set '%s': '%s' is not an object", dotted, key);
  }
  return ps_json_set(child, dot + 1, item);
}

ps_status ps_json_set_from_string(cJSON *obj, const char *dotted, const char *value) {
  cJSON *item = cJSON_Parse(value);
  if (!item) item = cJSON_CreateString(value);
  if (!item) return ps_error(PS_ERR_NOMEM, "out of memory");
  return ps_json_set(obj, dotted, item);
}

void ps_json_merge(cJSON *dst, const cJSON *src) {
  const cJSON *it;
  cJSON_ArrayForEach(it, src) {
    cJSON *d = cJSON_GetObjectItemCaseSensitive(dst, it->string);
    if (d && cJSON_IsObject(d) && cJSON_IsObject(it)) ps_json_merge(d, it);
    else if (d) cJSON_ReplaceItemInObjectCaseSensitive(dst, it->string, cJSON_Duplicate(it, 1));
    else cJSON_AddItemToObject(dst, it->string, cJSON_Duplicate(it, 1));
  }
}
