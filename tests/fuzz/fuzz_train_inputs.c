/* libFuzzer target: the other inputs `train` and `predict` read, chosen by the
 * first byte ('0'..'4'), the rest being the input:
 *   '0' `--set key=value` arguments, one a line, resolved as `train --set` does
 *   '1' an arch (genotype.json, `train --arch`): resolved as `--set net=...`
 *   '2' an augmentation policy (the "aug" section of a config, policy.json)
 *   '3' a preprocessing plan (plan.json of a cache or a checkpoint)
 *   '4' an nnU-Net splits_final.json, every fold looked up
 * then through the same checks the commands do. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_tmp.h"
#include "proxyseg/dataset.h"
#include "proxyseg/nn.h"
#include "proxyseg/preprocess.h"
#include "proxyseg/train.h"

#define MAX_SETS 64

/* The resolved config's derived views: the policy and the architecture. */
static void use_config(cJSON *cfg) {
  ps_aug_policy pol;
  (void)ps_train_policy_from_config(cfg, &pol);
  cJSON *arch = NULL;
  if (ps_arch_resolve(cJSON_GetObjectItemCaseSensitive(cfg, "net"), &arch) == PS_OK) cJSON_Delete(arch);
  cJSON_Delete(cfg);
}

static void sets(char *text) {
  const char *v[MAX_SETS];
  int n = 0;
  for (char *s = text, *e; s && n < MAX_SETS; s = e ? e + 1 : NULL) {
    e = strchr(s, '\n');
    if (e) *e = 0;
    v[n++] = s;
  }
  cJSON *cfg = NULL;
  if (ps_train_config_resolve(NULL, v, n, &cfg) == PS_OK) use_config(cfg);
}

static void arch(const char *text) {
  cJSON *a = cJSON_Parse(text);
  if (!cJSON_IsObject(a)) { cJSON_Delete(a); return; }
  char *js = cJSON_PrintUnformatted(a);
  cJSON_Delete(a);
  char *set = js ? ps_strfmt("net=%s", js) : NULL;
  free(js);
  const char *v[1] = {set};
  cJSON *cfg = NULL;
  if (set && ps_train_config_resolve(NULL, v, 1, &cfg) == PS_OK) use_config(cfg);
  free(set);
}

static void policy(const char *text) {
  cJSON *aug = cJSON_Parse(text);
  if (!aug) return;
  cJSON *cfg = ps_train_config_defaults();
  cJSON_ReplaceItemInObjectCaseSensitive(cfg, "aug", aug);
  if (ps_train_config_validate(cfg) == PS_OK) {
    ps_aug_policy pol;
    (void)ps_train_policy_from_config(cfg, &pol);
  }
  cJSON_Delete(cfg);
}

static void plan(const char *text) {
  cJSON *j = cJSON_Parse(text);
  ps_plan p;
  if (j) (void)ps_plan_from_json(j, &p);
  cJSON_Delete(j);
}

static void splits(const char *text, size_t n) {
  static char path[256];
  if (!path[0]) ps_fuzz_tmp_path(path, sizeof path, "ps_fuzz_splits", ".json");
  if (ps_fuzz_write(path, (const unsigned char *)text, n)) return;
  for (int fold = 0; fold < 6; fold++) {
    cJSON *ids = NULL;
    if (ps_dataset_split_fold(path, fold, &ids) != PS_OK) break;
    cJSON_Delete(ids);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  char *text = malloc(size);
  if (!text) return 0;
  memcpy(text, data + 1, size - 1);
  text[size - 1] = 0;
  switch ((unsigned char)(data[0] - '0') % 5) {
  case 0: sets(text); break;
  case 1: arch(text); break;
  case 2: policy(text); break;
  case 3: plan(text); break;
  default: splits(text, size - 1); break;
  }
  free(text);
  return 0;
}
