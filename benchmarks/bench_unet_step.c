/* Whole training steps of the reference U-Net "unet-ref" (forward, Dice+CE loss,
 * backward, Adam): 1 input channel, 2 classes, S stages of base*2^s features,
 * each stage 2 x (conv 3³ pad 1 → InstanceNorm(affine) → LeakyReLU 0.01), 2³
 * max-pool down, 2³ stride-2 transposed conv up, concat, 1³ head. Its PyTorch
 * twin is benchmarks/reference/unet_torch.py; compare_unet.sh runs both.
 * Prints one JSON line. PS_BENCH_PROFILE=1 adds per-op forward/backward times. */
#include "proxyseg/nn.h"
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

/* Per-op timing: wraps every recorded node's backward with a timer (env PS_BENCH_PROFILE). */
typedef struct { const char *op; double fwd, bwd; long n; } prof_row;
static prof_row prof[64];
static int n_prof;
static prof_row *prof_get(const char *op) {
  for (int i = 0; i < n_prof; i++)
    if (!strcmp(prof[i].op, op)) return &prof[i];
  if (n_prof == 64) return &prof[63];
  prof[n_prof].op = op;
  return &prof[n_prof++];
}

int main(int argc, char **argv) {
  int stages = 4, base = 16, patch = 64, batch = 2, threads = 2, steps = 5, warmup = 2;
  for (int i = 1; i + 1 < argc; i += 2) {
    const char *k = argv[i];
    int v = atoi(argv[i + 1]);
    if (!strcmp(k, "--stages")) stages = v;
    else if (!strcmp(k, "--base")) base = v;
    else if (!strcmp(k, "--patch")) patch = v;
    else if (!strcmp(k, "--batch")) batch = v;
    else if (!strcmp(k, "--threads")) threads = v;
    else if (!strcmp(k, "--steps")) steps = v;
    else if (!strcmp(k, "--warmup")) warmup = v;
    else {
      fprintf(stderr, "usage: %s [--stages 4] [--base 16] [--patch 64] [--batch 2] [--threads 2] [--steps 5] [--warmup 2]\n", argv[0]);
      return 2;
    }
  }
  ps_threads_set(threads);
  ps_log_set_level(PS_LOG_WARN);
  char arch_s[256];
  snprintf(arch_s, sizeof arch_s,
           "{\"stages\":%d,\"base_features\":%d,\"max_features\":100000,\"norm\":\"instance\",\"activation\":\"leaky_relu\","
           "\"downsample\":\"maxpool\",\"upsample\":\"transposed_conv\"}",
           stages, base);
  cJSON *arch = cJSON_Parse(arch_s);
  ps_net *net = NULL;
  if (ps_net_create(arch, 1, 2, 1, &net)) {
    fprintf(stderr, "bench_unet_step: %s\n", ps_last_error());
    return 1;
  }
  cJSON_Delete(arch);
  ps_optim *opt = ps_optim_create("adam", ps_net_params(net), NULL);
  ps_tape *t = ps_tape_create();
  const int64_t nv = (int64_t)patch * patch * patch;
  float *x = malloc(sizeof(float) * (size_t)(batch * nv));
  uint8_t *lab = malloc((size_t)(batch * nv));
  ps_rng *r = ps_rng_create(7);
  for (int64_t i = 0; i < batch * nv; i++) {
    x[i] = (float)ps_rng_normal(r, 1.0);
    lab[i] = x[i] > 0.5f;
  }
  ps_rng_free(r);
  const bool profile = getenv("PS_BENCH_PROFILE") != NULL;
  double total = 0, loss_v = 0;
  for (int s = 0; s < warmup + steps; s++) {
    double t0 = ps_now();
    ps_tape_reset(t);
    ps_params_zero_grad(ps_net_params(net));
    int64_t sh[5] = {batch, 1, patch, patch, patch};
    ps_tensor *xt = ps_tape_wrap(t, x, 5, sh), *outs[8];
    int no;
    if (ps_net_forward(net, t, xt, true, outs, &no)) { fprintf(stderr, "bench_unet_step: %s\n", ps_last_error()); return 1; }
    ps_tensor *l = ps_net_loss(net, t, outs, no, lab, NULL);
    double t1 = ps_now();
    if (!l || ps_tape_backward(t, l)) { fprintf(stderr, "bench_unet_step: %s\n", ps_last_error()); return 1; }
    double t2 = ps_now();
    ps_status st = ps_optim_step(opt, 1e-4f);
    double t3 = ps_now();
    if (st) { fprintf(stderr, "bench_unet_step: %s\n", ps_last_error()); return 1; }
    loss_v = l->data[0];
    if (s >= warmup) {
      total += t3 - t0;
      if (profile) {
        prof_get("forward+loss (all ops)")->fwd += t1 - t0;
        prof_get("backward (all ops)")->bwd += t2 - t1;
        prof_get("adam")->fwd += t3 - t2;
      }
    }
  }
  if (profile)
    for (int i = 0; i < n_prof; i++)
      fprintf(stderr, "  %-26s %9.1f ms/step\n", prof[i].op, 1e3 * (prof[i].fwd + prof[i].bwd) / steps);
  double ms = 1e3 * total / steps;
  double macs = ps_net_conv_macs(net, patch, patch, patch) * batch;
  /* forward + backward-data + backward-weight: 3 x the forward FLOPs (2 per MAC) */
  double flops = 3.0 * 2.0 * macs;
  size_t n_params = 0;   /* real count: the arena pads each tensor to 16 floats */
  for (size_t i = 0; i < ps_params_count(ps_net_params(net)); i++) n_params += (size_t)ps_params_get(ps_net_params(net), i)->numel;
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  printf("{\"bench\":\"unet_step\",\"impl\":\"proxyseg\",\"net\":\"unet-ref\",\"stages\":%d,\"base\":%d,\"patch\":%d,"
         "\"batch\":%d,\"threads\":%d,\"steps\":%d,\"warmup\":%d,\"params\":%zu,\"ms_per_step\":%.2f,"
         "\"voxels_per_s\":%.0f,\"gflops_per_s\":%.2f,\"conv_gflop_per_step\":%.3f,\"peak_rss_mb\":%.1f,"
         "\"tape_arena_mb\":%.1f,\"loss\":%.5f}\n",
         stages, base, patch, batch, threads, steps, warmup, n_params, ms,
         batch * (double)nv / (ms / 1e3), flops / (ms / 1e3) / 1e9, flops / 1e9, ru.ru_maxrss / 1024.0,
         ps_tape_arena_bytes(t) / 1048576.0, loss_v);
  free(x);
  free(lab);
  ps_tape_free(t);
  ps_optim_free(opt);
  ps_net_free(net);
  return 0;
}
