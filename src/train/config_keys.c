/* Every key of a training config is checked when the config is resolved, at
 * every depth: a typo ("optim.momentun", "aug.gama.p", "net.stage") used to
 * train the default silently, and in a search it searched nothing. */
#include "proxyseg/augment.h"
#include "proxyseg/nn.h"
#include "proxyseg/train.h"
#include <string.h>

/* Sections whose keys are exactly the defaults' keys. */
static const char *const fixed_sections[] = {"optim", "loss", "val", "schedule_opts", NULL};

ps_status ps_train_policy_from_config(const cJSON *cfg, ps_aug_policy *pol) {
  const cJSON *aug = cJSON_GetObjectItemCaseSensitive(cfg, "aug");
  const char *preset = ps_json_str(aug, "preset", "default");
  if (!strcmp(preset, "none")) *pol = ps_aug_policy_none();
  else if (!strcmp(preset, "default")) *pol = ps_aug_policy_default();
  else return ps_error(PS_ERR_INVALID, "aug.preset '%s': expected none or default", preset);
  cJSON *rest = cJSON_Duplicate(aug, 1);
  cJSON_DeleteItemFromObjectCaseSensitive(rest, "preset");
  ps_status st = ps_aug_policy_from_json(rest, pol);
  cJSON_Delete(rest);
  return st;
}

ps_status ps_train_config_check_keys(const cJSON *cfg) {
  cJSON *defaults = ps_train_config_defaults();
  if (!defaults) return ps_error(PS_ERR_NOMEM, "out of memory");
  ps_status st = PS_OK;
  for (const cJSON *it = cfg->child; it && !st; it = it->next)
    if (!cJSON_GetObjectItemCaseSensitive(defaults, it->string))
      st = ps_error(PS_ERR_INVALID, "unknown config key '%s'", it->string);
  for (int s = 0; fixed_sections[s] && !st; s++) {
    const cJSON *sec = cJSON_GetObjectItemCaseSensitive(cfg, fixed_sections[s]);
    const cJSON *known = cJSON_GetObjectItemCaseSensitive(defaults, fixed_sections[s]);
    if (!cJSON_IsObject(sec)) {
      st = ps_error(PS_ERR_INVALID, "config key '%s' must be an object", fixed_sections[s]);
      break;
    }
    for (const cJSON *it = sec->child; it && !st; it = it->next)
      if (!cJSON_GetObjectItemCaseSensitive(known, it->string))
        st = ps_error(PS_ERR_INVALID, "unknown config key '%s.%s'", fixed_sections[s], it->string);
  }
  cJSON_Delete(defaults);
  if (st) return st;
  /* the network and augmentation parsers know their own keys */
  cJSON *arch = NULL;
  st = ps_arch_resolve(cJSON_GetObjectItemCaseSensitive(cfg, "net"), &arch);
  cJSON_Delete(arch);
  if (st) return ps_error_prefix(st, "config key 'net'");
  ps_aug_policy pol;
  st = ps_train_policy_from_config(cfg, &pol);
  if (st) return ps_error_prefix(st, "config key 'aug'");
  return PS_OK;
}
