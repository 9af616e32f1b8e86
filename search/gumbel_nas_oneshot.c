/* Gumbel NAS as a one-shot study algorithm (study_oneshot.h): the proxy trial
 * searches the cell super-network; the study re-trains the derived genotype,
 * widened to the U-Net baseline's conv MACs (the paper's equal-FLOPs rule),
 * against that U-Net at full scale, and the report draws the derived cells. */
#include "proxyseg/gumbel_nas.h"
#include "proxyseg/nn.h"
#include "study_oneshot.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The search network replaces a U-Net on the proxy side: the paper's cell space
 * (nn.h's defaults) with as many down-samplings as the U-Net (so the patch stays
 * valid), algo_opts.net on top; the proxy shrink then narrows its stem. */
static ps_status gn_proxy_config(const cJSON *study_cfg, cJSON *proxy_cfg) {
  const cJSON *net = cJSON_GetObjectItemCaseSensitive(proxy_cfg, "net");
  const cJSON *user = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(study_cfg, "algo_opts"), "net");
  if (user && !cJSON_IsObject(user)) return ps_error(PS_ERR_INVALID, "study config: algo_opts.net must be an object");
  cJSON *cells = cJSON_CreateObject();
  cJSON_AddStringToObject(cells, "family", "cells");
  if (!strcmp(ps_json_str(net, "family", "unet"), "unet")) {
    int stages = ps_json_int(net, "stages", 4);
    cJSON_AddNumberToObject(cells, "levels", stages > 1 ? stages - 1 : 1);
  }
  ps_json_merge(cells, user);
  cJSON_DeleteItemFromObjectCaseSensitive(cells, "genotype");
  cJSON *resolved = NULL;
  ps_status st = ps_arch_resolve(cells, &resolved);
  cJSON_Delete(cells);
  if (st) return ps_error_prefix(st, "study config algo_opts.net (the gumbel-nas super-network): ");
  cJSON_ReplaceItemInObjectCaseSensitive(proxy_cfg, "net", resolved);
  return PS_OK;
}

static ps_status net_macs(const cJSON *arch, const cJSON *patch, double *macs) {
  ps_net *n = NULL;
  ps_status st = ps_net_create(arch, 1, 2, 1, &n);
  if (st) return st;
  *macs = ps_net_conv_macs(n, (int64_t)cJSON_GetArrayItem(patch, 0)->valuedouble,
                           (int64_t)cJSON_GetArrayItem(patch, 1)->valuedouble,
                           (int64_t)cJSON_GetArrayItem(patch, 2)->valuedouble);
  ps_net_free(n);
  return PS_OK;
}

/* k 0: the genotype at the stem width whose conv MACs (one input channel, the
 * full side's patch) are closest to the baseline's; k 1: the full side as
 * configured (the U-Net baseline). */
static ps_status gn_config(int k, const char *trial_dir, const cJSON *full_cfg, cJSON **out) {
  *out = cJSON_Duplicate(full_cfg, 1);
  if (k == 1) return PS_OK;
  char *gp = ps_path_join(trial_dir, "genotype.json");
  cJSON *geno = NULL;
  ps_status st = ps_json_read(gp, &geno);
  free(gp);
  const cJSON *patch = cJSON_GetObjectItemCaseSensitive(full_cfg, "patch");
  double target = 0, m = 0, best_m = 0;
  if (!st) st = net_macs(cJSON_GetObjectItemCaseSensitive(full_cfg, "net"), patch, &target);
  int best = 0;
  /* MACs grow with the stem (about quadratically): stop at the first width past the target */
  for (int stem = 2; !st && stem <= 1024; stem++) {
    cJSON_ReplaceItemInObjectCaseSensitive(geno, "stem_features", cJSON_CreateNumber(stem));
    if ((st = net_macs(geno, patch, &m))) break;
    if (!best || fabs(m - target) < fabs(best_m - target)) best = stem, best_m = m;
    if (m > target) break;
  }
  if (!st) {
    cJSON_ReplaceItemInObjectCaseSensitive(geno, "stem_features", cJSON_CreateNumber(best));
    ps_info("gumbel-nas: the derived cells re-train at stem %d: %.3g conv MACs per sample against the baseline's "
            "%.3g (%+.1f %%)", best, best_m, target, 100 * (best_m / target - 1));
    cJSON_ReplaceItemInObjectCaseSensitive(*out, "net", geno);
    geno = NULL;
  }
  cJSON_Delete(geno);
  if (st) { cJSON_Delete(*out); *out = NULL; }
  return st;
}

/* report.json "search": the genotype and the final softmax(alpha); report.html: genotype.svg inline. */
static ps_status gn_report(const char *trial_dir, cJSON **section, char **html) {
  *section = NULL;
  *html = NULL;
  char *gp = ps_path_join(trial_dir, "genotype.json"), *hp = ps_path_join(trial_dir, "alpha_history.json");
  char *sp = ps_path_join(trial_dir, "genotype.svg"), *svg = NULL;
  cJSON *geno = NULL, *hist = NULL;
  size_t n = 0;
  ps_status st = ps_json_read(gp, &geno);
  if (!st) st = ps_json_read(hp, &hist);
  if (!st) st = ps_read_file(sp, 0, &svg, &n);
  free(gp);
  free(hp);
  free(sp);
  if (st) { cJSON_Delete(geno); cJSON_Delete(hist); free(svg); return st; }
  cJSON *sec = cJSON_CreateObject();
  cJSON_AddItemToObject(sec, "genotype", geno);
  cJSON_AddItemToObject(sec, "op_order", cJSON_DetachItemFromObjectCaseSensitive(hist, "op_order"));
  cJSON *ep = cJSON_GetObjectItemCaseSensitive(hist, "epochs");
  int ne = cJSON_GetArraySize(ep);
  cJSON_AddNumberToObject(sec, "epochs", ne);
  if (ne > 0) cJSON_AddItemToObject(sec, "alpha_final", cJSON_DetachItemFromObjectCaseSensitive(cJSON_GetArrayItem(ep, ne - 1), "probs"));
  cJSON_Delete(hist);
  const char *xml = strstr(svg, "<svg");
  *html = ps_strfmt("<h2>The search: derived cells</h2>\n<p class=\"sub\">The genotype of the search trial "
                    "(<code>genotype.json</code>; per node the kept incoming edges and their operation, DARTS's "
                    "rule), re-trained from scratch at the width that matches the baseline's conv MACs.</p>\n"
                    "<div class=\"fig\">%s</div>\n", xml ? xml : "");
  free(svg);
  *section = sec;
  return *html ? PS_OK : ps_error(PS_ERR_NOMEM, "out of memory");
}

const ps_oneshot_algo ps_gumbel_oneshot = {
    .algo = "gumbel-nas",
    .space = NULL,
    .n_configs = 2,
    .ids = {"gumbel-nas", "unet"},
    .labels = {"derived cells (Gumbel NAS)", "U-Net baseline"},
    .proxy_config = gn_proxy_config,
    .config = gn_config,
    .report = gn_report,
};
