/* Whole training steps of the reference U-Net "unet-ref" (forward, Dice+CE loss,
 * backward, Adam): 1 input channel, 2 classes, S stages of base*2^s features,
 * each stage 2 x (conv 3³ pad 1 → InstanceNorm(affine) → LeakyReLU 0.01), 2³
 * max-pool down, 2³ stride-2 transposed conv up, concat, 1³ head. Its PyTorch
 * twin is benchmarks/reference/unet_torch.py; compare_unet.sh runs both.
 * Prints one JSON line: ms_per_step (mean), min_ms_per_step (the fastest step:
 * on a shared machine, the least disturbed one), voxels_per_s, gflops_per_s (conv FLOPs),
 * peak_rss_mb, and op_ms, the step's time by op kind (forward ops and backward
 * nodes timed on the tape; optimizer = the Adam step; other = the rest), with
 * non_conv_share = 1 - (conv + conv_transposed) / ms_per_step. --backend picks
 * the backend (default: the default backend, "cpu"). */
#include "proxyseg/nn.h"
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>

/* Process CPU seconds (all threads): on a shared, oversubscribed machine this
 * measures the work rather than the wait (meaningful with --threads 1). */
static double cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

int main(int argc, char **argv) {
  int stages = 4, base = 16, patch = 64, batch = 2, threads = 2, steps = 5, warmup = 2;
  const char *backend = NULL;
  for (int i = 1; i + 1 < argc; i += 2) {
    const char *k = argv[i];
    int v = atoi(argv[i + 1]);
    if (!strcmp(k, "--backend") || !strcmp(k, "--device")) backend = argv[i + 1];
    else if (!strcmp(k, "--stages")) stages = v;
    else if (!strcmp(k, "--base")) base = v;
    else if (!strcmp(k, "--patch")) patch = v;
    else if (!strcmp(k, "--batch")) batch = v;
    else if (!strcmp(k, "--threads")) threads = v;
    else if (!strcmp(k, "--steps")) steps = v;
    else if (!strcmp(k, "--warmup")) warmup = v;
    else {
      fprintf(stderr, "usage: %s [--stages 4] [--base 16] [--patch 64] [--batch 2] [--threads 2] [--steps 5] [--warmup 2] [--backend cpu]\n", argv[0]);
      return 2;
    }
  }
  ps_threads_set(threads);
  ps_log_set_level(PS_LOG_WARN);
  ps_backend *be = ps_backend_get(backend);
  if (!be) {
    fprintf(stderr, "bench_unet_step: %s\n", ps_last_error());
    return 2;
  }
  if (!be->host_memory) {
    fprintf(stderr, "bench_unet_step: backend %s keeps tensors off the host; this benchmark feeds host arrays\n", be->name);
    return 2;
  }
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
  ps_tape *t = ps_tape_create_on(be);
  ps_tape_profile_enable(t, true);
  const int64_t nv = (int64_t)patch * patch * patch;
  float *x = malloc(sizeof(float) * (size_t)(batch * nv));
  uint8_t *lab = malloc((size_t)(batch * nv));
  ps_rng *r = ps_rng_create(7);
  for (int64_t i = 0; i < batch * nv; i++) {
    x[i] = (float)ps_rng_normal(r, 1.0);
    lab[i] = x[i] > 0.5f;
  }
  ps_rng_free(r);
  double total = 0, loss_v = 0, opt_s = 0, cpu_total = 0, min_step = 1e30; /* min: the least disturbed step */
  for (int s = 0; s < warmup + steps; s++) {
    if (s == warmup) ps_tape_profile_reset(t);
    double t0 = ps_now(), c0 = cpu_now();
    ps_tape_reset(t);
    ps_params_zero_grad(ps_net_params(net));
    int64_t sh[5] = {batch, 1, patch, patch, patch};
    ps_tensor *xt = ps_tape_wrap(t, x, 5, sh), *outs[8];
    int no;
    if (ps_net_forward(net, t, xt, true, outs, &no)) { fprintf(stderr, "bench_unet_step: %s\n", ps_last_error()); return 1; }
    ps_tensor *l = ps_net_loss(net, t, outs, no, lab, NULL);
    if (!l || ps_tape_backward(t, l)) { fprintf(stderr, "bench_unet_step: %s\n", ps_last_error()); return 1; }
    double t2 = ps_now();
    ps_status st = ps_optim_step(opt, 1e-4f);
    double t3 = ps_now();
    if (st) { fprintf(stderr, "bench_unet_step: %s\n", ps_last_error()); return 1; }
    loss_v = l->data[0];
    if (s >= warmup) {
      if (t3 - t0 < min_step) min_step = t3 - t0;
      total += t3 - t0;
      cpu_total += cpu_now() - c0;
      opt_s += t3 - t2;
    }
  }
  double ms = 1e3 * total / steps;
  /* per-op-kind breakdown, ms per step */
  const double *pk = ps_tape_profile_ms(t);
  double kind_ms[PS_OPK_COUNT], accounted = 0;
  for (int k = 0; k < PS_OPK_COUNT; k++) kind_ms[k] = pk[k] / steps;
  kind_ms[PS_OPK_OPTIMIZER] += 1e3 * opt_s / steps;
  for (int k = 0; k < PS_OPK_COUNT; k++) accounted += k == PS_OPK_OTHER ? 0 : kind_ms[k];
  kind_ms[PS_OPK_OTHER] = ms - accounted; /* tape bookkeeping, allocation, untimed ops */
  char op_json[1024];
  size_t o = (size_t)snprintf(op_json, sizeof op_json, "{");
  for (int k = 0; k < PS_OPK_COUNT && o < sizeof op_json; k++)
    o += (size_t)snprintf(op_json + o, sizeof op_json - o, "%s\"%s\":%.2f", k ? "," : "", ps_op_kind_name((ps_op_kind)k),
                          kind_ms[k]);
  if (o < sizeof op_json) snprintf(op_json + o, sizeof op_json - o, "}");
  const double non_conv = 1.0 - (kind_ms[PS_OPK_CONV] + kind_ms[PS_OPK_CONV_TRANSPOSED]) / ms;
  double macs = ps_net_conv_macs(net, patch, patch, patch) * batch;
  /* forward + backward-data + backward-weight: 3 x the forward FLOPs (2 per MAC) */
  double flops = 3.0 * 2.0 * macs;
  size_t n_params = 0;   /* real count: the arena pads each tensor to 16 floats */
  for (size_t i = 0; i < ps_params_count(ps_net_params(net)); i++) n_params += (size_t)ps_params_get(ps_net_params(net), i)->numel;
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  printf("{\"bench\":\"unet_step\",\"impl\":\"proxyseg\",\"net\":\"unet-ref\",\"stages\":%d,\"base\":%d,\"patch\":%d,"
         "\"batch\":%d,\"threads\":%d,\"steps\":%d,\"warmup\":%d,\"params\":%zu,\"ms_per_step\":%.2f,\"min_ms_per_step\":%.2f,"
         "\"voxels_per_s\":%.0f,\"gflops_per_s\":%.2f,\"conv_gflop_per_step\":%.3f,\"peak_rss_mb\":%.1f,"
         "\"tape_arena_mb\":%.1f,\"cpu_ms_per_step\":%.2f,\"loss\":%.5f,\"backend\":\"%s\",\"non_conv_share\":%.3f,\"op_ms\":%s}\n",
         stages, base, patch, batch, threads, steps, warmup, n_params, ms, 1e3 * min_step,
         batch * (double)nv / (ms / 1e3), flops / (ms / 1e3) / 1e9, flops / 1e9, ru.ru_maxrss / 1024.0,
         ps_tape_arena_bytes(t) / 1048576.0, 1e3 * cpu_total / steps, loss_v, be->name, non_conv, op_json);
  free(x);
  free(lab);
  ps_tape_free(t);
  ps_optim_free(opt);
  ps_net_free(net);
  return 0;
}
