/* Internal to src/nn's network files: the model interface every network
 * family implements (model.c dispatches through it), the U-Net's parsed
 * architecture (net_arch.c, net_unet.c, net_shrink.c) and the shared init. */
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

/* ---- the model interface ----
 * A family fills net->vt/impl/resolved and declares its tensors in
 * net->params (weights), net->buffers (running stats) and, for search
 * super-networks, net->arch_params (architecture logits); cin/ncls are set
 * before the build. Input checks (shape, patch divisor) are done once in
 * model.c, so forward only sees valid inputs. */
typedef struct {
  const char *family;
  /* x [N, Cin, D, H, W] → outs[0] [N, K, D, H, W] (+ lower-resolution heads) */
  ps_status (*forward)(void *impl, ps_tape *t, ps_tensor *x, bool training, ps_tensor **outs, int *n_outs);
  int (*patch_divisor)(const void *impl, int axis);
  int (*max_outputs)(const void *impl);
  int (*stages)(const void *impl);       /* resolution levels, the input's included */
  double (*conv_macs)(const void *impl, int64_t d, int64_t h, int64_t w);
  void (*free)(void *impl);
} ps_model_vt;

struct ps_net {
  const ps_model_vt *vt;
  void *impl;
  cJSON *resolved;
  int cin, ncls;
  ps_params *params, *buffers, *arch_params;   /* arch_params NULL unless a super-network */
};

/* The families' builders (called by ps_net_create with the arch's "family"). */
ps_status ps_unet_build(ps_net *net, const cJSON *arch, uint64_t seed);
ps_status ps_cellnet_build(ps_net *net, const cJSON *arch, uint64_t seed);
/* The families' resolve and shrink (ps_arch_resolve / ps_arch_shrink dispatch). */
ps_status ps_unet_arch_resolve(const cJSON *arch, cJSON **out);
ps_status ps_cellnet_arch_resolve(const cJSON *arch, cJSON **out);
ps_status ps_cellnet_arch_shrink(const cJSON *arch, double width_factor, int depth_reduction, cJSON **out);
ps_status ps_unet_arch_shrink(const cJSON *arch, double width_factor, int depth_reduction, cJSON **out);

/* Kaiming-normal init (nnU-Net's InitWeights_He) of every conv weight in the
 * arena, zero biases, unit norm scales; running_var = 1. */
void ps_net_init_params(ps_params *p, ps_params *buffers, double leaky_slope, uint64_t seed);
#endif
