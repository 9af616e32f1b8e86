/* Intensity normalisation per channel, as nnU-Net: z-score (over the nonzero
 * mask when asked, zero outside it) or CT (clip to dataset foreground
 * percentiles, then z-score with the dataset's foreground mean/std). */
#include "proxyseg/preprocess.h"
#include <math.h>
#include <stdlib.h>

double ps_percentile_sorted(const float *s, size_t n, double q) {
  if (n == 0) return 0;
  double pos = q / 100.0 * (double)(n - 1);
  if (pos <= 0) return s[0];
  if (pos >= (double)(n - 1)) return s[n - 1];
  size_t i = (size_t)floor(pos);
  double f = pos - (double)i;
  return s[i] + f * ((double)s[i + 1] - s[i]);
}

ps_status ps_normalize_channel(ps_volume *v, int64_t c, const ps_norm_params *p, const uint8_t *mask) {
  if (c < 0 || c >= v->c) return ps_error(PS_ERR_INVALID, "normalize: channel %lld of %lld", (long long)c, (long long)v->c);
  size_t n = (size_t)(v->d * v->h * v->w);
  float *x = v->data + c * n;
  if (p->scheme == PS_NORM_NONE) return PS_OK;
  if (p->scheme == PS_NORM_CT) {
    double sd = p->std > 1e-8 ? p->std : 1e-8;
    for (size_t i = 0; i < n; i++) {
      double t = x[i];
      t = t < p->clip_lo ? p->clip_lo : t > p->clip_hi ? p->clip_hi : t;
      x[i] = (float)((t - p->mean) / sd);
    }
    return PS_OK;
  }
  bool use_mask = p->nonzero_mask && mask;
  double s = 0, s2 = 0;
  size_t m = 0;
  for (size_t i = 0; i < n; i++)
    if (!use_mask || mask[i]) { s += x[i]; m++; }
  if (m == 0) { use_mask = false; m = n; for (size_t i = 0; i < n; i++) s += x[i]; }
  double mean = s / (double)m;
  for (size_t i = 0; i < n; i++)
    if (!use_mask || mask[i]) s2 += (x[i] - mean) * (x[i] - mean);
  double sd = sqrt(s2 / (double)m);
  if (sd < 1e-8) sd = 1e-8;
  for (size_t i = 0; i < n; i++) x[i] = (!use_mask || mask[i]) ? (float)((x[i] - mean) / sd) : 0.0f;
  return PS_OK;
}
