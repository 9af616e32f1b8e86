/* Internal to the U-Net builder files (net_arch.c, net_unet.c, net_init.c,
 * net_shrink.c): the parsed architecture and the network's layer table. */
#ifndef PS_NET_INTERNAL_H
#define PS_NET_INTERNAL_H
#include "proxyseg/nn.h"

#define PS_NET_MAX_STAGES 8
#define PS_NET_MAX_CONVS 8

enum { PS_NORM_NONE, PS_NORM_INSTANCE, PS_NORM_BATCH };
enum { PS_ARCH_ACT_RELU, PS_ARCH_ACT_LEAKY };
enum { PS_DOWN_MAXPOOL, PS_DOWN_STRIDED };
enum { PS_UP_TRANSPOSED, PS_UP_TRILINEAR };

typedef struct {
  int stages;
  int base_features, max_features;
  double feature_multiplier;
  int features[PS_NET_MAX_STAGES];
  int convs_enc[PS_NET_MAX_STAGES], convs_dec[PS_NET_MAX_STAGES]; /* dec: stages-1 used */
  int kernel[PS_NET_MAX_STAGES][3], stride[PS_NET_MAX_STAGES][3];
  int norm, act, down, up;
  double leaky_slope, norm_eps, bn_momentum;
  bool conv_bias, residual, deep_supervision;
} ps_arch_spec;

/* Parse with defaults and validate; errors name the key. */
ps_status ps_arch_parse(const cJSON *arch, ps_arch_spec *s);
/* Every field written out (the resolved form). */
cJSON *ps_arch_to_json(const ps_arch_spec *s);

/* Kaiming-normal init (nnU-Net's InitWeights_He) of every conv weight in the
 * arena, zero biases, unit norm scales; running_var = 1. */
void ps_net_init_params(ps_params *p, ps_params *buffers, double leaky_slope, uint64_t seed);
#endif
