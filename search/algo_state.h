/* Internal helpers for algorithms' save/load: raw bytes (RNG state, float
 * arrays) as hex strings in JSON, so that a resumed search is bit-identical. */
#ifndef PS_SEARCH_ALGO_STATE_H
#define PS_SEARCH_ALGO_STATE_H
#include "proxyseg/json.h"
#include <stdlib.h>
#include <string.h>

static inline cJSON *ps_algo_hex(const void *buf, size_t n) {
  static const char digits[] = "0123456789abcdef";
  char *s = malloc(2 * n + 1);
  if (!s) return NULL;
  const unsigned char *b = buf;
  for (size_t i = 0; i < n; i++) {
    s[2 * i] = digits[b[i] >> 4];
    s[2 * i + 1] = digits[b[i] & 15];
  }
  s[2 * n] = 0;
  cJSON *j = cJSON_CreateString(s);
  free(s);
  return j;
}

static inline int ps_algo_hexval(char c) {
  return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Decode exactly n bytes; false if the string is missing or has another length. */
static inline bool ps_algo_unhex(const cJSON *j, void *buf, size_t n) {
  if (!cJSON_IsString(j) || strlen(j->valuestring) != 2 * n) return false;
  unsigned char *b = buf;
  for (size_t i = 0; i < n; i++) {
    int hi = ps_algo_hexval(j->valuestring[2 * i]), lo = ps_algo_hexval(j->valuestring[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    b[i] = (unsigned char)(hi << 4 | lo);
  }
  return true;
}

static inline cJSON *ps_algo_rng_save(const ps_rng *r) {
  size_t n = ps_rng_state_size(r);
  void *buf = malloc(n ? n : 1);
  if (!buf) return NULL;
  ps_rng_state_save(r, buf);
  cJSON *j = ps_algo_hex(buf, n);
  free(buf);
  return j;
}

static inline ps_status ps_algo_rng_load(ps_rng *r, const cJSON *j, const char *who) {
  size_t n = ps_rng_state_size(r);
  void *buf = malloc(n ? n : 1);
  if (!buf) return ps_error(PS_ERR_NOMEM, "%s: out of memory", who);
  ps_status st = ps_algo_unhex(j, buf, n) ? ps_rng_state_load(r, buf, n)
                                          : ps_error(PS_ERR_DATA, "%s: saved state has no valid \"rng\" (%zu bytes hex)", who, n);
  free(buf);
  return st;
}
#endif
