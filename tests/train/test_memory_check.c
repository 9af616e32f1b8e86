/* The memory check's activation estimate (an evaluation pass at a small patch,
 * scaled, times TRAIN_OVER_EVAL) against the training arena actually used by a
 * forward + backward pass at the real patch: it must not be below it (or an
 * oversized config would pass) and not far above (or a fitting one would be
 * refused). Prints the measured ratio of training to evaluation arena. */
#include "proxyseg/train.h"
#include "testutil.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double arena_per_voxel(ps_net *n, int c, const int p[3], int b, bool train) {
  int64_t sh[5] = {b, c, p[0], p[1], p[2]};
  size_t v = (size_t)b * p[0] * p[1] * p[2];
  float *x = calloc(v * (size_t)c, sizeof(float));
  uint8_t *lab = calloc(v, 1);
  ps_tape *t = ps_tape_create();
  ps_tape_set_grad_enabled(t, train);
  ps_tensor *outs[8];
  int no = 0;
  ps_tensor *xt = ps_tape_wrap(t, x, 5, sh);
  ps_status st = ps_net_forward(n, t, xt, train, outs, &no);
  if (!st && train) {
    ps_tensor *l = ps_net_loss(n, t, outs, no, lab, NULL);
    st = l ? ps_tape_backward(t, l) : PS_ERR_RUNTIME;
  }
  double bytes = st ? -1 : (double)ps_tape_arena_bytes(t);
  ps_tape_free(t);
  free(x);
  free(lab);
  return bytes / (double)v;
}

int main(void) {
  const char *archs[] = {"{\"stages\":3,\"base_features\":16}", "{\"stages\":2,\"base_features\":8}",
                         "{\"stages\":4,\"base_features\":8,\"norm\":\"batch\"}",
                         /* the NAS super-network (two sampled ops per edge in training) */
                         "{\"family\":\"cells\",\"stem_features\":4,\"levels\":2}"};
  const int patches[][3] = {{32, 32, 32}, {32, 32, 32}, {32, 32, 48}, {32, 32, 32}};
  for (int i = 0; i < 4; i++) {
    cJSON *arch = cJSON_Parse(archs[i]);
    ps_net *n = NULL;
    CHECK_OK(ps_net_create(arch, 1, 3, 1, &n));
    int small[3];
    for (int a = 0; a < 3; a++) {
      int div = ps_net_patch_divisor(n, a);
      small[a] = div >= 8 ? div : ((8 + div - 1) / div) * div;
    }
    double eval_small = arena_per_voxel(n, 1, small, 1, false);
    double train_real = arena_per_voxel(n, 1, patches[i], 2, true);
    double ratio = train_real / eval_small;
    printf("%s patch %dx%dx%d batch 2: training arena %.0f B/voxel, evaluation at %dx%dx%d %.0f B/voxel: %.2fx\n",
           archs[i], patches[i][0], patches[i][1], patches[i][2], train_real, small[0], small[1], small[2], eval_small,
           ratio);
    CHECK(eval_small > 0 && train_real > 0, "both passes ran");
    CHECK(ratio <= 1.5, "the estimate (1.5x evaluation) is below the real training arena (%.2fx)", ratio);
    CHECK(ratio >= 1.5 / 3, "the estimate is more than 3x the real training arena (%.2fx): fitting configs refused", ratio);
    /* the check itself: a normal config passes, an absurd one is refused naming the estimate */
    int p512[3] = {512, 512, 512};
    CHECK_OK(ps_train_memory_check(n, 1, 3, patches[i], 2));
    CHECK(ps_train_memory_check(n, 1, 3, p512, 64) == PS_ERR_INVALID && strstr(ps_last_error(), "GiB"),
          "an absurd patch was accepted: %s", ps_last_error());
    ps_net_free(n);
    cJSON_Delete(arch);
  }
  return ps_test_done("memory_check");
}
