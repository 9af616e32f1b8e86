/* Oracle: the same U-Net in PyTorch. For several architectures we save the
 * network with ps_checkpoint_save, the parameter gradients as a second
 * checkpoint, and the input, labels, logits and loss as raw files; then
 * unet_torch_check.py rebuilds the nn.Module from the stored arch, loads the
 * weights with h5py and compares logits, loss and every gradient (rel < 1e-3). */
#include "proxyseg/nn.h"
#include "testutil.h"
#include <string.h>

#ifndef PS_UNET_TORCH_SCRIPT
#define PS_UNET_TORCH_SCRIPT "unet_torch_check.py"
#endif

static const char *archs[] = {
    "{\"stages\":3,\"base_features\":4}",
    "{\"stages\":2,\"base_features\":2}",
    "{\"stages\":3,\"base_features\":3,\"norm\":\"batch\",\"activation\":\"relu\",\"downsample\":\"strided_conv\","
    "\"upsample\":\"trilinear_conv\",\"residual\":true,\"deep_supervision\":true}",
    "{\"stages\":4,\"base_features\":4,\"deep_supervision\":true,\"strides\":[1,[1,2,2],2,2],\"kernel_sizes\":[[1,3,3],3,3,3]}",
    "{\"stages\":3,\"base_features\":4,\"norm\":\"none\",\"conv_bias\":true}",
};

static int write_raw(const char *dir, const char *name, const void *p, size_t n) {
  char *path = ps_path_join(dir, name);
  ps_status st = ps_write_file_atomic(path, p, n);
  free(path);
  return st == PS_OK;
}

int main(void) {
  const char *py = ps_test_python_with("torch,numpy,h5py");
  if (!py) PS_SKIP("unet oracle: /usr/bin/python3 (or $PS_PYTHON) cannot import torch, numpy and h5py");
  const char *script = PS_UNET_TORCH_SCRIPT;
  for (size_t a = 0; a < sizeof archs / sizeof *archs; a++) {
    char name[32];
    snprintf(name, sizeof name, "unet_torch_%zu", a);
    char *dir = ps_test_tmpdir(name);
    cJSON *arch = cJSON_Parse(archs[a]);
    ps_net *n = NULL;
    CHECK_OK(ps_net_create(arch, 2, 3, 100 + a, &n));
    cJSON_Delete(arch);
    if (!n) continue;
    ps_params *p = ps_net_params(n);
    /* random biases / norm scales so that no gradient is trivially zero */
    ps_rng *r = ps_rng_create(5 + a);
    for (size_t i = 0; i < ps_params_count(p); i++) {
      ps_tensor *w = ps_params_get(p, i);
      if (w->ndim == 1)
        for (int64_t k = 0; k < w->numel; k++) w->data[k] += (float)ps_rng_uniform_range(r, -0.3, 0.3);
    }
    const int64_t N = 2, C = 2, D = 16, H = 16, W = 16, nv = N * D * H * W;
    int64_t sh[5] = {N, C, D, H, W};
    float *x = malloc(sizeof(float) * (size_t)(nv * C));
    uint8_t *lab = malloc((size_t)nv);
    for (int64_t i = 0; i < nv * C; i++) x[i] = (float)ps_rng_normal(r, 1.0);
    for (int64_t b = 0; b < N; b++)
      for (int64_t z = 0; z < D; z++)
        for (int64_t y = 0; y < H; y++)
          for (int64_t xx = 0; xx < W; xx++) {
            double d2 = (z - 7.5) * (z - 7.5) + (y - 6.0 - b) * (y - 6.0 - b) + (xx - 8.0) * (xx - 8.0);
            lab[((b * D + z) * H + y) * W + xx] = d2 < 16 ? 2 : (d2 < 30 ? 1 : 0);
          }
    char *ckpt = ps_path_join(dir, "net.h5");
    CHECK_OK(ps_checkpoint_save(ckpt, n, NULL, NULL, NULL));
    ps_tape *t = ps_tape_create();
    ps_params_zero_grad(p);
    ps_tensor *xt = ps_tape_wrap(t, x, 5, sh), *outs[8];
    int no = 0;
    CHECK_OK(ps_net_forward(n, t, xt, true, outs, &no));
    ps_tensor *loss = no ? ps_net_loss(n, t, outs, no, lab, NULL) : NULL;
    CHECK(loss != NULL, "loss: %s", ps_last_error());
    if (loss) {
      CHECK_OK(ps_tape_backward(t, loss));
      CHECK(write_raw(dir, "x.f32", x, sizeof(float) * (size_t)(nv * C)), "x");
      CHECK(write_raw(dir, "labels.u8", lab, (size_t)nv), "labels");
      CHECK(write_raw(dir, "logits.f32", outs[0]->data, sizeof(float) * (size_t)outs[0]->numel), "logits");
      CHECK(write_raw(dir, "loss.f32", loss->data, sizeof(float)), "loss");
      /* gradients, stored as the parameters of a second checkpoint */
      memcpy(ps_params_data(p), ps_params_grad(p), ps_params_numel(p) * sizeof(float));
      char *gpath = ps_path_join(dir, "grads.h5");
      CHECK_OK(ps_checkpoint_save(gpath, n, NULL, NULL, NULL));
      free(gpath);
      int rc = ps_test_sh("'%s' '%s' '%s' %lld %lld %lld %lld", py, script, dir, (long long)N, (long long)D,
                          (long long)H, (long long)W);
      CHECK(rc == 0, "arch %s: PyTorch disagrees (rc %d, see above)", archs[a], rc);
    }
    ps_tape_free(t);
    free(ckpt);
    free(x);
    free(lab);
    ps_rng_free(r);
    ps_net_free(n);
    free(dir);
  }
  return ps_test_done("test_unet_torch");
}
