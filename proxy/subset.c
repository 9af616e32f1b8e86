/* Proxy-data subset selection: rank the cases with a scoring method and keep
 * the best ones; the result is the content of STUDY/proxy/cases.json. */
#include "proxyseg/proxy.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ps_proxy_data_opts_default(ps_proxy_data_opts *o) {
  memset(o, 0, sizeof *o);
  o->method = "random";
  o->keep = "diverse";
  o->fraction = 0.1;
}

int ps_proxy_subset_size(const ps_proxy_data_opts *o, int n) {
  if (n < 1) return 0;
  long k = o->count > 0 ? o->count : lround(o->fraction * n);
  return k < 1 ? 1 : k > n ? n : (int)k;
}

/* Score with either cases or signatures, then write cases.json's content. */
static ps_status select_common(const ps_case *cases, ps_proxy_sig *const *sigs, const char *const *ids, int n,
                               const ps_proxy_data_opts *o, cJSON **result, uint8_t *kept_mask) {
  *result = NULL;
  if (!o) return ps_error(PS_ERR_INVALID, "proxy data: no options");
  if (o->count <= 0 && !(o->fraction > 0 && o->fraction <= 1))
    return ps_error(PS_ERR_INVALID, "proxy data: fraction must be in (0, 1], got %g", o->fraction);
  if (n < 1) return ps_error(PS_ERR_INVALID, "proxy data: no cases to select from");
  double *scores = malloc((size_t)n * sizeof *scores);
  int *ranks = malloc((size_t)n * sizeof *ranks), *by_rank = malloc((size_t)n * sizeof *by_rank);
  if (!scores || !ranks || !by_rank) {
    free(scores); free(ranks); free(by_rank);
    return ps_error(PS_ERR_NOMEM, "proxy data: out of memory");
  }
  const char *method = o->method ? o->method : "random", *keep = o->keep ? o->keep : "diverse";
  ps_status st = cases ? ps_proxy_score_cases(cases, n, method, keep, o->seed, o->threads, scores, ranks)
                       : ps_proxy_score_sigs(sigs, n, method, keep, o->seed, o->threads, scores, ranks);
  if (st != PS_OK) { free(scores); free(ranks); free(by_rank); return st; }
  int k = ps_proxy_subset_size(o, n);
  for (int i = 0; i < n; i++) by_rank[ranks[i]] = i;
  cJSON *r = cJSON_CreateObject();
  cJSON_AddStringToObject(r, "method", method);
  if (strcmp(method, "mi") == 0 || strcmp(method, "ncc") == 0) cJSON_AddStringToObject(r, "keep", keep);
  else cJSON_AddNullToObject(r, "keep");
  /* the request as given (count wins over fraction), and what it came to */
  cJSON_AddNumberToObject(r, "fraction", o->count > 0 ? (double)k / n : o->fraction);
  cJSON_AddNumberToObject(r, "kept_fraction", (double)k / n);
  cJSON_AddNumberToObject(r, "count", k);
  cJSON_AddNumberToObject(r, "seed", (double)o->seed);
  cJSON_AddNumberToObject(r, "n_cases", n);
  cJSON *arr = cJSON_AddArrayToObject(r, "cases");
  char idbuf[32];
  for (int i = 0; i < n; i++) {
    const char *id = cases ? cases[i].id : ids ? ids[i] : NULL;
    if (!id) { snprintf(idbuf, sizeof idbuf, "case_%d", i); id = idbuf; }
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "id", id);
    if (isfinite(scores[i])) cJSON_AddNumberToObject(c, "score", scores[i]);
    else cJSON_AddNullToObject(c, "score");
    cJSON_AddNumberToObject(c, "rank", ranks[i]);
    cJSON_AddBoolToObject(c, "kept", ranks[i] < k);
    cJSON_AddItemToArray(arr, c);
    if (kept_mask) kept_mask[i] = ranks[i] < k;
  }
  cJSON *kept = cJSON_AddArrayToObject(r, "kept");
  for (int p = 0; p < k; p++)
    cJSON_AddItemToArray(kept, cJSON_CreateString(
        cJSON_GetObjectItem(cJSON_GetArrayItem(arr, by_rank[p]), "id")->valuestring));
  free(scores); free(ranks); free(by_rank);
  *result = r;
  return PS_OK;
}

ps_status ps_proxy_select_mask(const ps_case *cases, int n, const ps_proxy_data_opts *o,
                               cJSON **result, uint8_t *kept_mask) {
  if (!cases) { *result = NULL; return ps_error(PS_ERR_INVALID, "proxy data: no cases to select from"); }
  return select_common(cases, NULL, NULL, n, o, result, kept_mask);
}

ps_status ps_proxy_select_sigs(ps_proxy_sig *const *sigs, const char *const *ids, int n,
                               const ps_proxy_data_opts *o, cJSON **result, uint8_t *kept_mask) {
  return select_common(NULL, sigs, ids, n, o, result, kept_mask);
}

ps_status ps_proxy_select(const ps_case *cases, int n, const ps_proxy_data_opts *o, cJSON **result) {
  return ps_proxy_select_mask(cases, n, o, result, NULL);
}
