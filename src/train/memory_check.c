/* Would this configuration fit in memory? Asked before the first step, so that
 * `--set patch=[512,512,512]` is refused with an estimate (exit 2; a search
 * trial is FAIL at once) instead of growing to gigabytes and dying. The
 * activation memory of any model family is measured, not modelled: one
 * evaluation forward pass at a small patch gives bytes per voxel, scaled to
 * the batch and patch, times a factor for what training adds on top of the
 * arena (gradients, op scratch, libraries). */
#include "proxyseg/train.h"
#include <stdlib.h>

/* The training arena per voxel equals the evaluation arena's (0.98-1.01x,
 * test_memory_check); a whole training step's peak RSS was 1.45x its arena
 * (bench_unet_step, unet-ref 64^3 batch 2: 696 vs 481 MB). The NAS super-network
 * agrees: training arena 1.00x evaluation (test_memory_check), and its search
 * step's peak RSS 434 MB against 1.5 x 282 MB arena + 24 MB of weights, grads
 * and moments = 447 MB (nas_memory.sh, patch 32, stem 8). */
#define TRAIN_OVER_EVAL 1.5

ps_status ps_train_memory_check(ps_net *net, int channels, int n_classes, const int patch[3], int batch) {
  (void)n_classes;
  int64_t p0[3];
  double vox0 = 1, vox = (double)batch;
  for (int a = 0; a < 3; a++) {
    int div = ps_net_patch_divisor(net, a);
    p0[a] = div >= 8 ? div : ((8 + div - 1) / div) * div;
    vox0 *= (double)p0[a];
    vox *= patch[a];
  }
  int64_t shape[5] = {1, channels, p0[0], p0[1], p0[2]};
  float *x = calloc((size_t)vox0 * (size_t)channels, sizeof(float));
  ps_tape *t = ps_tape_create();
  if (!x || !t) {
    free(x);
    ps_tape_free(t);
    return ps_error(PS_ERR_NOMEM, "memory check: out of memory");
  }
  ps_tape_set_grad_enabled(t, false);
  ps_tensor *outs[8];
  int n_outs = 0;
  ps_tensor *xt = ps_tape_wrap(t, x, 5, shape);
  ps_status st = xt ? ps_net_forward(net, t, xt, false, outs, &n_outs) : PS_ERR_NOMEM;
  double per_voxel = (double)ps_tape_arena_bytes(t) / vox0;
  ps_tape_free(t);
  free(x);
  if (st) return ps_error_prefix(st, "memory check");
  double act = per_voxel * vox * TRAIN_OVER_EVAL;
  /* gradients and two optimiser moments are still to come beside the weights */
  double par = (double)ps_params_numel(ps_net_params(net)) * sizeof(float) * 3;
  double need = act + par, avail = (double)ps_memory_available();
  if (need <= avail) return PS_OK;
  return ps_error(PS_ERR_INVALID,
                  "this configuration needs about %.1f GiB (activations %.1f GiB for batch %d of %dx%dx%d, gradients "
                  "and optimiser state %.1f GiB), more than the %.1f GiB this process may use: use a smaller patch, "
                  "batch or network",
                  need / 1073741824.0, act / 1073741824.0, batch, patch[0], patch[1], patch[2], par / 1073741824.0,
                  avail / 1073741824.0);
}
