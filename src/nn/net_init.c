/* Weight initialisation for the network builders: Kaiming-normal (He) for conv
 * and transposed-conv weights as nnU-Net's InitWeights_He(1e-2), zero biases,
 * unit norm scales, running variance 1 — all drawn in declaration order from
 * one seeded ps_rng, so a seed fixes the whole network. */
#include "net_internal.h"
#include <math.h>
#include <string.h>

static bool ends_with(const char *s, const char *suf) {
  size_t a = strlen(s), b = strlen(suf);
  return a >= b && !strcmp(s + a - b, suf);
}

void ps_net_init_params(ps_params *p, ps_params *buffers, double leaky_slope, uint64_t seed) {
  ps_rng *rng = ps_rng_create(seed);
  /* PyTorch's kaiming_normal_(a=slope, mode='fan_in'): fan_in = numel / shape[0] for both
   * Conv3d [Cout, Cin, k..] and ConvTranspose3d [Cin, Cout, k..] weights */
  const double gain = sqrt(2.0 / (1.0 + leaky_slope * leaky_slope));
  for (size_t i = 0; i < ps_params_count(p); i++) {
    ps_tensor *x = ps_params_get(p, i);
    if (x->ndim >= 2 && ends_with(x->name, ".weight")) {
      double fan_in = (double)x->numel / (double)x->shape[0];
      double std = gain / sqrt(fan_in);
      for (int64_t k = 0; k < x->numel; k++) x->data[k] = (float)(rng ? ps_rng_normal(rng, std) : 0.0);
    } else if (x->ndim == 1 && ends_with(x->name, ".weight")) {
      for (int64_t k = 0; k < x->numel; k++) x->data[k] = 1.0f;   /* norm scale */
    } else {
      memset(x->data, 0, (size_t)x->numel * sizeof(float));
    }
  }
  for (size_t i = 0; buffers && i < ps_params_count(buffers); i++) {
    ps_tensor *x = ps_params_get(buffers, i);
    float v = ends_with(x->name, "running_var") ? 1.0f : 0.0f;
    for (int64_t k = 0; k < x->numel; k++) x->data[k] = v;
  }
  ps_rng_free(rng);
}
