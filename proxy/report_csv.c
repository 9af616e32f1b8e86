/* trials.csv: one row per trial for spreadsheets and pandas — the journal's
 * fields, then one column per searched parameter (the union over trials,
 * sorted), RFC 4180 quoting, written atomically. */
#include "proxyseg/report.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct { char *s; size_t n, cap; bool oom; } sbuf;

static void put(sbuf *b, const char *s, size_t n) {
  if (b->oom) return;
  if (b->n + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + n + 1) cap *= 2;
    char *p = realloc(b->s, cap);
    if (!p) { b->oom = true; return; }
    b->s = p;
    b->cap = cap;
  }
  memcpy(b->s + b->n, s, n);
  b->n += n;
  b->s[b->n] = 0;
}

/* A field, quoted when it holds a comma, a quote or a line break (quotes doubled). */
static void field(sbuf *b, const char *s, bool first) {
  if (!first) put(b, ",", 1);
  if (!strpbrk(s, ",\"\r\n")) { put(b, s, strlen(s)); return; }
  put(b, "\"", 1);
  for (const char *p = s; *p; p++) {
    if (*p == '"') put(b, "\"\"", 2);
    else put(b, p, 1);
  }
  put(b, "\"", 1);
}

static void value(sbuf *b, const cJSON *v) {
  char num[64];
  if (cJSON_IsNumber(v) && isfinite(v->valuedouble)) {
    snprintf(num, sizeof num, "%.17g", v->valuedouble);
    field(b, num, false);
  } else if (cJSON_IsString(v)) {
    field(b, v->valuestring, false);
  } else if (cJSON_IsBool(v)) {
    field(b, cJSON_IsTrue(v) ? "true" : "false", false);
  } else {
    field(b, "", false);
  }
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

ps_status ps_report_write_trials_csv(const cJSON *trials, const char *path) {
  static const char *cols[] = {"number", "phase", "state", "value", "seconds", "ref", "replicate", "seed"};
  const int n_cols = (int)(sizeof cols / sizeof cols[0]);
  /* the parameter columns: every key any trial has, sorted */
  int n_keys = 0, cap = 0;
  char **keys = NULL;
  const cJSON *t, *p;
  cJSON_ArrayForEach(t, trials) {
    cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(t, "params")) {
      bool have = false;
      for (int i = 0; i < n_keys && !have; i++) have = !strcmp(keys[i], p->string);
      if (have) continue;
      if (n_keys == cap) {
        cap = cap ? 2 * cap : 16;
        char **k = realloc(keys, (size_t)cap * sizeof *k);
        if (!k) { free(keys); return ps_error(PS_ERR_NOMEM, "trials.csv: out of memory"); }
        keys = k;
      }
      keys[n_keys++] = p->string;
    }
  }
  if (n_keys) qsort(keys, (size_t)n_keys, sizeof *keys, cmp_str);
  sbuf b = {0};
  for (int c = 0; c < n_cols; c++) field(&b, cols[c], c == 0);
  for (int k = 0; k < n_keys; k++) field(&b, keys[k], false);
  put(&b, "\r\n", 2);
  cJSON_ArrayForEach(t, trials) {
    const cJSON *num = cJSON_GetObjectItemCaseSensitive(t, "number");
    char s[32];
    snprintf(s, sizeof s, "%d", cJSON_IsNumber(num) ? num->valueint : -1);
    field(&b, s, true);
    for (int c = 1; c < n_cols; c++) value(&b, cJSON_GetObjectItemCaseSensitive(t, cols[c]));
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(t, "params");
    for (int k = 0; k < n_keys; k++) value(&b, cJSON_GetObjectItemCaseSensitive(params, keys[k]));
    put(&b, "\r\n", 2);
  }
  free(keys);
  if (b.oom) { free(b.s); return ps_error(PS_ERR_NOMEM, "trials.csv: out of memory"); }
  ps_status st = ps_write_file_atomic(path, b.s ? b.s : "", b.n);
  free(b.s);
  if (st) return ps_error_prefix(st, "writing %s", path);
  return PS_OK;
}
