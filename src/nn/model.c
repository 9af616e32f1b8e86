/* The model interface: ps_net is any network family behind one vtable (the
 * U-Net family, NAS cell networks), so the trainer, checkpoints, predict, the
 * proxy shrink and the report handle them alike. The arch JSON's "family"
 * picks the builder; input checks and the (deep-supervised) loss live here. */
#include "net_internal.h"
#include <stdlib.h>
#include <string.h>

/* The family named by "family" (default "unet"); an unknown one is an error naming it. */
static ps_status family_of(const cJSON *arch, bool *cells) {
  const char *f = ps_json_str(arch, "family", "unet");
  *cells = !strcmp(f, "cells");
  if (!*cells && strcmp(f, "unet")) return ps_error(PS_ERR_INVALID, "arch: 'family' = '%s' is not one of unet, cells", f);
  return PS_OK;
}

ps_status ps_arch_resolve(const cJSON *arch, cJSON **out) {
  *out = NULL;
  bool cells;
  ps_status st = family_of(arch, &cells);
  if (st) return st;
  return cells ? ps_cellnet_arch_resolve(arch, out) : ps_unet_arch_resolve(arch, out);
}

ps_status ps_arch_shrink(const cJSON *arch, double width_factor, int depth_reduction, cJSON **out) {
  *out = NULL;
  bool cells;
  ps_status st = family_of(arch, &cells);
  if (st) return st;
  return cells ? ps_cellnet_arch_shrink(arch, width_factor, depth_reduction, out)
               : ps_unet_arch_shrink(arch, width_factor, depth_reduction, out);
}

ps_status ps_net_create(const cJSON *arch, int in_channels, int n_classes, uint64_t seed, ps_net **out) {
  *out = NULL;
  if (in_channels < 1 || n_classes < 1 || n_classes > 255)
    return ps_error(PS_ERR_INVALID, "network: in_channels %d / n_classes %d out of range", in_channels, n_classes);
  bool cells;
  ps_status st = family_of(arch, &cells);
  if (st) return st;
  ps_net *net = calloc(1, sizeof *net);
  if (!net) return ps_error(PS_ERR_NOMEM, "out of memory");
  net->cin = in_channels;
  net->ncls = n_classes;
  net->params = ps_params_create();
  net->buffers = ps_params_create();
  if (!net->params || !net->buffers) st = ps_error(PS_ERR_NOMEM, "out of memory");
  if (!st) st = cells ? ps_cellnet_build(net, arch, seed) : ps_unet_build(net, arch, seed);
  if (st) {
    ps_error_prefix(st, "network: ");
    ps_net_free(net);
    return st;
  }
  *out = net;
  return PS_OK;
}

void ps_net_free(ps_net *n) {
  if (!n) return;
  if (n->vt && n->impl) n->vt->free(n->impl);
  cJSON_Delete(n->resolved);
  ps_params_free(n->params);
  ps_params_free(n->buffers);
  ps_params_free(n->arch_params);
  free(n);
}

const char *ps_net_family(const ps_net *n) { return n->vt->family; }
const cJSON *ps_net_arch_resolved(const ps_net *n) { return n->resolved; }
ps_params *ps_net_params(ps_net *n) { return n->params; }
ps_params *ps_net_buffers(ps_net *n) { return n->buffers; }
ps_params *ps_net_arch_params(ps_net *n) { return n->arch_params; }
int ps_net_in_channels(const ps_net *n) { return n->cin; }
int ps_net_n_classes(const ps_net *n) { return n->ncls; }
int ps_net_stages(const ps_net *n) { return n->vt->stages(n->impl); }
int ps_net_max_outputs(const ps_net *n) { return n->vt->max_outputs(n->impl); }
int ps_net_patch_divisor(const ps_net *n, int axis) { return n->vt->patch_divisor(n->impl, axis); }
double ps_net_conv_macs(const ps_net *n, int64_t d, int64_t h, int64_t w) { return n->vt->conv_macs(n->impl, d, h, w); }

ps_status ps_net_forward(ps_net *n, ps_tape *t, ps_tensor *x, bool training, ps_tensor **outs, int *n_outs) {
  *n_outs = 0;
  if (x->ndim != 5 || x->shape[1] != n->cin) {
    char b[64];
    return ps_error(PS_ERR_INVALID, "network: input %s must be [N, %d, D, H, W]", ps_shape_str(x, b, sizeof b), n->cin);
  }
  for (int ax = 0; ax < 3; ax++) {
    int div = ps_net_patch_divisor(n, ax);
    if (x->shape[2 + ax] % div != 0) {
      char b[64];
      return ps_error(PS_ERR_INVALID,
                      "network: input %s: spatial size %lld along axis %d is not divisible by %d (the product of "
                      "the strides); use a patch size that is a multiple of %d",
                      ps_shape_str(x, b, sizeof b), (long long)x->shape[2 + ax], ax, div, div);
    }
  }
  return n->vt->forward(n->impl, t, x, training, outs, n_outs);
}

void ps_net_ds_weights(int n_outs, double *w) {
  double sum = 0;
  for (int i = 0; i < n_outs; i++) {
    w[i] = (n_outs > 1 && i == n_outs - 1) ? 0.0 : 1.0 / (double)(1 << i);
    sum += w[i];
  }
  for (int i = 0; i < n_outs; i++) w[i] /= sum;
}

ps_tensor *ps_net_loss(ps_net *n, ps_tape *t, ps_tensor **outs, int n_outs, const uint8_t *labels,
                       const ps_loss_params *lp) {
  ps_loss_params dflt = ps_loss_params_default();
  if (!lp) lp = &dflt;
  if (n_outs < 1 || n_outs > PS_NET_MAX_STAGES) { ps_error(PS_ERR_INVALID, "network loss: %d outputs", n_outs); return NULL; }
  if (outs[0]->ndim != 5 || outs[0]->shape[1] != n->ncls) {
    ps_error(PS_ERR_INVALID, "network loss: outputs must be [N, %d, D, H, W]", n->ncls);
    return NULL;
  }
  double w[PS_NET_MAX_STAGES];
  ps_net_ds_weights(n_outs, w);
  const int64_t N = outs[0]->shape[0], D = outs[0]->shape[2], H = outs[0]->shape[3], W = outs[0]->shape[4];
  ps_tensor *total = NULL;
  for (int i = 0; i < n_outs; i++) {
    if (w[i] == 0) continue;
    ps_tensor *o = outs[i];
    const uint8_t *lab = labels;
    if (i > 0) {
      const int64_t d = o->shape[2], h = o->shape[3], ww = o->shape[4];
      /* nearest-downsampled labels, made on the host (a round trip on device backends) */
      ps_backend *be = ps_tape_backend(t);
      const size_t full = (size_t)(N * D * H * W), low = (size_t)(N * d * h * ww);
      const uint8_t *src = labels;
      if (!be->host_memory) {
        uint8_t *hl = ps_tape_alloc(t, full);
        if (!hl || be->to_host(be, hl, labels, full) != PS_OK) return NULL;
        src = hl;
      }
      uint8_t *l = ps_tape_alloc(t, low);
      if (!l) return NULL;
      for (int64_t b = 0; b < N; b++)
        for (int64_t z = 0; z < d; z++)
          for (int64_t y = 0; y < h; y++)
            for (int64_t x = 0; x < ww; x++) {
              int64_t sz = z * D / d, sy = y * H / h, sx = x * W / ww;
              l[((b * d + z) * h + y) * ww + x] = src[((b * D + sz) * H + sy) * W + sx];
            }
      lab = be->host_memory ? l : ps_tape_upload(t, l, low);
      if (!lab) return NULL;
    }
    ps_tensor *li = ps_dice_ce_loss(t, o, lab, lp);
    if (li && n_outs > 1) li = ps_scale(t, li, (float)w[i]);
    if (!li) return NULL;
    total = total ? ps_add(t, total, li) : li;
    if (!total) return NULL;
  }
  return total;
}

