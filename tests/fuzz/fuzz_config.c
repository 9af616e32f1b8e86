/* libFuzzer target: arbitrary bytes as a study config, a search space and a
 * training config — the three JSON files a user writes — through the same
 * parsing and checking the commands do. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxyseg/search.h"
#include "proxyseg/study.h"
#include "proxyseg/train.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = malloc(size + 1);
  if (!text) return 0;
  memcpy(text, data, size);
  text[size] = 0;
  cJSON *user = cJSON_Parse(text);
  free(text);
  if (!user) return 0;
  /* study config: defaults merged with the user's object, then checked */
  if (cJSON_IsObject(user)) {
    cJSON *cfg = ps_study_config_defaults();
    ps_json_merge(cfg, user);
    (void)ps_study_config_check(cfg);
    cJSON_Delete(cfg);
  }
  /* search space, checked against the default training config */
  ps_space *sp = NULL;
  if (ps_space_from_json(user, "fuzz", &sp) == PS_OK) {
    cJSON *base = ps_train_config_defaults();
    (void)ps_space_check(sp, base);
    cJSON_Delete(base);
    ps_space_free(sp);
  }
  /* training config: defaults merged, validated at every depth */
  if (cJSON_IsObject(user)) {
    cJSON *cfg = ps_train_config_defaults();
    ps_json_merge(cfg, user);
    (void)ps_train_config_validate(cfg);
    cJSON_Delete(cfg);
  }
  cJSON_Delete(user);
  return 0;
}
