/* The U-Net family: builds the layer table and parameter arena from a parsed
 * architecture, runs the forward pass on the tape (conv→norm→act blocks,
 * encoder/decoder with skips, 1³ heads) and the deep-supervised loss. */
#include "net_internal.h"
#include <stdlib.h>
#include <string.h>

typedef struct {
  ps_tensor *w, *b, *gamma, *beta;     /* w [Cout, Cin, k...], b/gamma/beta [Cout] */
  float *running_mean, *running_var;   /* batch norm only: [Cout] */
  ps_conv_params cp;
} conv_unit;

typedef struct {
  int n;
  conv_unit c[PS_NET_MAX_CONVS];
  ps_tensor *skip_w;                   /* residual projection [Cout, Cin, 1,1,1] or NULL */
  ps_conv_params skip_cp;
  ps_tensor *rm_t[PS_NET_MAX_CONVS], *rv_t[PS_NET_MAX_CONVS];
} block;

typedef struct {
  ps_arch_spec a;
  int cin, ncls, n_heads;
  ps_params *params, *buffers;        /* owned by the ps_net */
  block enc[PS_NET_MAX_STAGES], dec[PS_NET_MAX_STAGES];
  ps_tensor *up_w[PS_NET_MAX_STAGES], *up_b[PS_NET_MAX_STAGES];
  ps_tensor *head_w[PS_NET_MAX_STAGES], *head_b[PS_NET_MAX_STAGES];
} unet;

static ps_tensor *add5(ps_params *p, const char *name, int64_t a, int64_t b, const int k[3]) {
  int64_t sh[5] = {a, b, k[0], k[1], k[2]};
  return ps_params_add(p, name, 5, sh);
}
static ps_tensor *add1(ps_params *p, const char *name, int64_t n) { return ps_params_add(p, name, 1, &n); }

/* Declare the parameters of a block of n convs cin→cout under prefix ("enc2"). */
static ps_status declare_block(unet *net, block *bl, const char *prefix, int n, int cin, int cout, const int k[3],
                               const int first_stride[3]) {
  const ps_arch_spec *a = &net->a;
  char name[96];
  bl->n = n;
  for (int j = 0; j < n; j++) {
    conv_unit *u = &bl->c[j];
    int ci = j == 0 ? cin : cout;
    u->cp = ps_conv_params_default();
    for (int d = 0; d < 3; d++) {
      u->cp.pad[d] = k[d] / 2;
      u->cp.stride[d] = j == 0 ? first_stride[d] : 1;
    }
    snprintf(name, sizeof name, "%s.conv%d.weight", prefix, j);
    if (!(u->w = add5(net->params, name, cout, ci, k))) return PS_ERR_INVALID;
    if (a->conv_bias) {
      snprintf(name, sizeof name, "%s.conv%d.bias", prefix, j);
      if (!(u->b = add1(net->params, name, cout))) return PS_ERR_INVALID;
    }
    if (a->norm != PS_NORM_NONE) {
      snprintf(name, sizeof name, "%s.norm%d.weight", prefix, j);
      if (!(u->gamma = add1(net->params, name, cout))) return PS_ERR_INVALID;
      snprintf(name, sizeof name, "%s.norm%d.bias", prefix, j);
      if (!(u->beta = add1(net->params, name, cout))) return PS_ERR_INVALID;
    }
    if (a->norm == PS_NORM_BATCH) {
      snprintf(name, sizeof name, "%s.norm%d.running_mean", prefix, j);
      if (!(bl->rm_t[j] = add1(net->buffers, name, cout))) return PS_ERR_INVALID;
      snprintf(name, sizeof name, "%s.norm%d.running_var", prefix, j);
      if (!(bl->rv_t[j] = add1(net->buffers, name, cout))) return PS_ERR_INVALID;
    }
  }
  bool strided = first_stride[0] != 1 || first_stride[1] != 1 || first_stride[2] != 1;
  if (a->residual && (cin != cout || strided)) {
    static const int one[3] = {1, 1, 1};
    snprintf(name, sizeof name, "%s.skip.weight", prefix);
    if (!(bl->skip_w = add5(net->params, name, cout, cin, one))) return PS_ERR_INVALID;
    bl->skip_cp = ps_conv_params_default();
    for (int d = 0; d < 3; d++) bl->skip_cp.stride[d] = first_stride[d];
  }
  return PS_OK;
}

static ps_status build(unet *net) {
  const ps_arch_spec *a = &net->a;
  const int S = a->stages;
  static const int ones[3] = {1, 1, 1};
  char prefix[32], name[96];
  ps_status st;
  for (int s = 0; s < S; s++) {
    snprintf(prefix, sizeof prefix, "enc%d", s);
    int cin = s == 0 ? net->cin : a->features[s - 1];
    const int *fs = a->down == PS_DOWN_STRIDED ? a->stride[s] : ones;
    if ((st = declare_block(net, &net->enc[s], prefix, a->convs_enc[s], cin, a->features[s], a->kernel[s], fs)))
      return st;
  }
  for (int k = S - 2; k >= 0; k--) {
    int fk = a->features[k], fdeep = a->features[k + 1];
    if (a->up == PS_UP_TRANSPOSED) {
      snprintf(name, sizeof name, "dec%d.up.weight", k);   /* ConvTranspose3d: [Cin, Cout, s...] */
      if (!(net->up_w[k] = add5(net->params, name, fdeep, fk, a->stride[k + 1]))) return PS_ERR_INVALID;
    } else {
      snprintf(name, sizeof name, "dec%d.up.weight", k);
      if (!(net->up_w[k] = add5(net->params, name, fk, fdeep, ones))) return PS_ERR_INVALID;
    }
    snprintf(name, sizeof name, "dec%d.up.bias", k);
    if (!(net->up_b[k] = add1(net->params, name, fk))) return PS_ERR_INVALID;
    snprintf(prefix, sizeof prefix, "dec%d", k);
    if ((st = declare_block(net, &net->dec[k], prefix, a->convs_dec[k], 2 * fk, fk, a->kernel[k], ones))) return st;
  }
  net->n_heads = a->deep_supervision && S > 1 ? S - 1 : 1;
  for (int h = 0; h < net->n_heads; h++) {
    snprintf(name, sizeof name, "head%d.weight", h);
    if (!(net->head_w[h] = add5(net->params, name, net->ncls, a->features[h], ones))) return PS_ERR_INVALID;
    snprintf(name, sizeof name, "head%d.bias", h);
    if (!(net->head_b[h] = add1(net->params, name, net->ncls))) return PS_ERR_INVALID;
  }
  if ((st = ps_params_finalize(net->params)) || (st = ps_params_finalize(net->buffers))) return st;
  /* running-stat pointers are valid only after the buffers are allocated */
  block *blocks[2] = {net->enc, net->dec};
  for (int e = 0; e < 2; e++)
    for (int s = 0; s < S; s++)
      for (int j = 0; j < blocks[e][s].n; j++)
        if (blocks[e][s].rm_t[j]) {
          blocks[e][s].c[j].running_mean = blocks[e][s].rm_t[j]->data;
          blocks[e][s].c[j].running_var = blocks[e][s].rv_t[j]->data;
        }
  return PS_OK;
}

static int unet_patch_divisor(const void *impl, int axis) {
  const unet *n = impl;
  if (axis < 0 || axis > 2) return 1;
  int d = 1;
  for (int s = 0; s < n->a.stages; s++) d *= n->a.stride[s][axis];
  return d;
}

/* x [N, Cin, ...] → [N, Cout, ...] through conv→norm(→+shortcut)→act units. */
static ps_tensor *run_block(const unet *net, ps_tape *t, const block *bl, ps_tensor *x, bool training) {
  const ps_arch_spec *a = &net->a;
  ps_tensor *in = x;
  for (int j = 0; j < bl->n && x; j++) {
    const conv_unit *u = &bl->c[j];
    x = ps_conv3d(t, x, u->w, u->b, &u->cp);
    const bool shortcut = a->residual && j == bl->n - 1;
    const ps_act act = a->act == PS_ARCH_ACT_LEAKY ? PS_ACT_LEAKY_RELU : PS_ACT_RELU;
    if (x && a->norm == PS_NORM_INSTANCE && !shortcut) {
      /* norm and activation in one pass (the same values as the two ops) */
      x = ps_instance_norm_act(t, x, u->gamma, u->beta, (float)a->norm_eps, act, (float)a->leaky_slope);
      continue;
    }
    if (x && a->norm == PS_NORM_INSTANCE) x = ps_instance_norm(t, x, u->gamma, u->beta, (float)a->norm_eps);
    else if (x && a->norm == PS_NORM_BATCH)
      x = ps_batch_norm(t, x, u->gamma, u->beta, u->running_mean, u->running_var, (float)a->bn_momentum,
                        (float)a->norm_eps, training);
    if (x && shortcut) {
      ps_tensor *sc = bl->skip_w ? ps_conv3d(t, in, bl->skip_w, NULL, &bl->skip_cp) : in;
      x = sc ? ps_add(t, x, sc) : NULL;
    }
    if (x) x = a->act == PS_ARCH_ACT_LEAKY ? ps_leaky_relu(t, x, (float)a->leaky_slope) : ps_relu(t, x);
  }
  return x;
}

/* x [N, Cin, D, H, W] (checked by the caller) → outs[0] [N, K, D, H, W] (+ deep-supervision heads) */
static ps_status unet_forward(void *impl, ps_tape *t, ps_tensor *x, bool training, ps_tensor **outs, int *n_outs) {
  unet *n = impl;
  const ps_arch_spec *a = &n->a;
  const int S = a->stages;
  ps_tensor *skips[PS_NET_MAX_STAGES];
  ps_tensor *h = x;
  for (int s = 0; s < S; s++) {
    if (s > 0 && a->down == PS_DOWN_MAXPOOL) {
      ps_pool_params pp;
      memset(&pp, 0, sizeof pp);
      for (int d = 0; d < 3; d++) pp.kernel[d] = pp.stride[d] = a->stride[s][d];
      h = ps_max_pool3d(t, h, &pp);
      if (!h) return ps_error_prefix(PS_ERR_RUNTIME, "network enc%d pool: ", s);
    }
    h = run_block(n, t, &n->enc[s], h, training);
    if (!h) return ps_error_prefix(PS_ERR_RUNTIME, "network enc%d: ", s);
    skips[s] = h;
  }
  ps_tensor *dec_out[PS_NET_MAX_STAGES] = {0};
  dec_out[S - 1] = h;
  for (int k = S - 2; k >= 0; k--) {
    if (a->up == PS_UP_TRANSPOSED) {
      ps_conv_params cp = ps_conv_params_default();
      for (int d = 0; d < 3; d++) cp.stride[d] = a->stride[k + 1][d];
      h = ps_conv_transpose3d_cat(t, h, n->up_w[k], n->up_b[k], &cp, skips[k]); /* up, then concat */
      if (!h) return ps_error_prefix(PS_ERR_RUNTIME, "network dec%d up: ", k);
    } else {
      ps_conv_params cp = ps_conv_params_default();
      ps_tensor *up = ps_upsample3d(t, h, skips[k]->shape + 2, PS_UPSAMPLE_TRILINEAR);
      if (up) up = ps_conv3d(t, up, n->up_w[k], n->up_b[k], &cp);
      if (!up) return ps_error_prefix(PS_ERR_RUNTIME, "network dec%d up: ", k);
      ps_tensor *cat[2] = {up, skips[k]};
      h = ps_concat(t, 2, cat);
    }
    if (h) h = run_block(n, t, &n->dec[k], h, training);
    if (!h) return ps_error_prefix(PS_ERR_RUNTIME, "network dec%d: ", k);
    dec_out[k] = h;
  }
  ps_conv_params one = ps_conv_params_default();
  for (int i = 0; i < n->n_heads; i++) {
    outs[i] = ps_conv3d(t, dec_out[i], n->head_w[i], n->head_b[i], &one);
    if (!outs[i]) return ps_error_prefix(PS_ERR_RUNTIME, "network head%d: ", i);
  }
  *n_outs = n->n_heads;
  return PS_OK;
}

static double unet_conv_macs(const void *impl, int64_t d, int64_t h, int64_t w) {
  const unet *n = impl;
  const ps_arch_spec *a = &n->a;
  int64_t sz[PS_NET_MAX_STAGES][3];
  int64_t cur[3] = {d, h, w};
  double macs = 0;
  for (int s = 0; s < a->stages; s++) {
    for (int x = 0; x < 3; x++) cur[x] /= a->stride[s][x];
    memcpy(sz[s], cur, sizeof cur);
    double vox = (double)cur[0] * cur[1] * cur[2];
    for (int j = 0; j < n->enc[s].n; j++) macs += vox * (double)n->enc[s].c[j].w->numel;
    if (n->enc[s].skip_w) macs += vox * (double)n->enc[s].skip_w->numel;
  }
  for (int k = a->stages - 2; k >= 0; k--) {
    double vox = (double)sz[k][0] * sz[k][1] * sz[k][2];
    double deep = (double)sz[k + 1][0] * sz[k + 1][1] * sz[k + 1][2];
    /* transposed conv with kernel = stride: each input voxel touches the whole kernel */
    macs += (a->up == PS_UP_TRANSPOSED ? deep : vox) * (double)n->up_w[k]->numel;
    for (int j = 0; j < n->dec[k].n; j++) macs += vox * (double)n->dec[k].c[j].w->numel;
    if (n->dec[k].skip_w) macs += vox * (double)n->dec[k].skip_w->numel;
  }
  for (int i = 0; i < n->n_heads; i++) macs += (double)sz[i][0] * sz[i][1] * sz[i][2] * (double)n->head_w[i]->numel;
  return macs;
}

static int unet_max_outputs(const void *impl) { return ((const unet *)impl)->n_heads; }
static int unet_stages(const void *impl) { return ((const unet *)impl)->a.stages; }
static void unet_free(void *impl) { free(impl); }

static const ps_model_vt unet_vt = {"unet", unet_forward, unet_patch_divisor, unet_max_outputs, unet_stages,
                                    unet_conv_macs, unet_free};

ps_status ps_unet_build(ps_net *net, const cJSON *arch, uint64_t seed) {
  unet *u = calloc(1, sizeof *u);
  if (!u) return ps_error(PS_ERR_NOMEM, "out of memory");
  ps_status st = ps_arch_parse(arch, &u->a);
  if (st) { free(u); return st; }
  net->vt = &unet_vt;
  net->impl = u;
  u->cin = net->cin;
  u->ncls = net->ncls;
  u->params = net->params;
  u->buffers = net->buffers;
  net->resolved = ps_arch_to_json(&u->a);
  if (!net->resolved) return ps_error(PS_ERR_NOMEM, "out of memory");
  if ((st = build(u))) return st;
  ps_net_init_params(net->params, net->buffers, u->a.leaky_slope, seed);
  return PS_OK;
}
