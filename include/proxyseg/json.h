/* JSON helpers over cJSON: read/write files (atomically), typed getters with
 * defaults and clear errors naming the file and key. */
#ifndef PROXYSEG_JSON_H
#define PROXYSEG_JSON_H

#include <cjson/cJSON.h>
#include "proxyseg/core.h"

/* Parse a JSON file; errors (PS_ERR_IO / PS_ERR_DATA) name the file and position. */
ps_status ps_json_read(const char *path, cJSON **out);
/* Write pretty-printed JSON atomically. */
/* cJSON_Print(Unformatted) with every byte that is not valid UTF-8 replaced by
 * '?': file names on Linux are bytes, JSON strings must be UTF-8. Caller frees. */
char *ps_json_print(const cJSON *j, bool formatted);
void ps_utf8_sanitize(char *s);
ps_status ps_json_write(const char *path, const cJSON *j);
/* Getters: return the default when the key is absent; dotted paths ("net.stages") descend objects. */
const cJSON *ps_json_path(const cJSON *obj, const char *dotted);
double ps_json_num(const cJSON *obj, const char *dotted, double dflt);
int ps_json_int(const cJSON *obj, const char *dotted, int dflt);
bool ps_json_bool(const cJSON *obj, const char *dotted, bool dflt);
const char *ps_json_str(const cJSON *obj, const char *dotted, const char *dflt);
/* Set a dotted key, creating intermediate objects; value parsed as JSON if it
 * parses (numbers, true/false, arrays), else stored as a string ("--set k=v"). */
ps_status ps_json_set_from_string(cJSON *obj, const char *dotted, const char *value);
ps_status ps_json_set(cJSON *obj, const char *dotted, cJSON *item); /* takes ownership */
/* Recursively copy keys of `src` over `dst` (objects merged, other values replaced). */
void ps_json_merge(cJSON *dst, const cJSON *src);

#endif
