/* The ASNG augmentation search as a trainer plugin (internal to search/). */
#ifndef PS_SEARCH_ASNG_PLUGIN_H
#define PS_SEARCH_ASNG_PLUGIN_H
#include "proxyseg/train.h"

/* Options (JSON object, every key optional): lambda 2, alpha 1.5, delta_init 1,
 * levels 11, restore_optimizer false (the paper's code restores only the net
 * after a look-ahead step), theta_every 1 (θ step every k training steps). */
extern const ps_train_plugin ps_asng_plugin;

/* The paper's space: variable names in order ("scale.lo", ..., "p_gamma"). */
int ps_asng_space_size(void);
const char *ps_asng_space_name(int i);
/* Level k of variable i at `levels` levels, in the space's units (angles in degrees). */
double ps_asng_level_value(int i, int k, int levels);
/* The policy for category indices c[18] at `levels` levels (config's base policy
 * with the searched ops overwritten), and the same as training-config keys. */
void ps_asng_policy_of(const int *c, int levels, ps_aug_policy *pol);
cJSON *ps_asng_policy_config(const int *c, int levels);
#endif
