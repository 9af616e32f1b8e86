/* The proxy network: the one place that turns an architecture into its cheaper
 * proxy (fewer channels, fewer stages) so every caller shrinks the same way. */
#include "net_internal.h"
#include <math.h>

static int scaled(int f, double w) {
  long v = lround(f * w);
  return v < 2 ? 2 : (int)v;   /* a 1-channel stage cannot normalise meaningfully */
}

ps_status ps_unet_arch_shrink(const cJSON *arch, double width_factor, int depth_reduction, cJSON **out) {
  *out = NULL;
  if (!(width_factor > 0) || width_factor > 1e3)
    return ps_error(PS_ERR_INVALID, "arch shrink: width_factor %g must be positive", width_factor);
  if (depth_reduction < 0) return ps_error(PS_ERR_INVALID, "arch shrink: depth_reduction %d must be >= 0", depth_reduction);
  ps_arch_spec s;
  ps_status st = ps_arch_parse(arch, &s);
  if (st) return ps_error_prefix(st, "arch shrink: ");
  /* dropping the deepest stages keeps the per-stage lists aligned by simply
   * truncating them: stage i keeps its features, kernel and stride */
  int S = s.stages - depth_reduction;
  s.stages = S < 1 ? 1 : S;
  for (int i = 0; i < s.stages; i++) s.features[i] = scaled(s.features[i], width_factor);
  s.base_features = scaled(s.base_features, width_factor);
  int mx = scaled(s.max_features, width_factor);
  s.max_features = mx < s.base_features ? s.base_features : mx;
  *out = ps_arch_to_json(&s);
  return *out ? PS_OK : ps_error(PS_ERR_NOMEM, "out of memory");
}
