/* Training steps of the SCNAS cell super-network (forward, Dice+CE loss,
 * backward, Adam on the weights) with Algorithm 1's two sampled ops per edge
 * ("pair") or every op on every edge (DARTS-style, "all") on the same cells and
 * patch: the memory saving the paper claims, measured. Run each mode in its own
 * process (peak RSS is per process); benchmarks/nas_memory.sh runs both.
 * Prints one JSON line: sampling, ms_per_step (median), activation_mb (the
 * tape arena's high-water mark: forward activations and saved buffers),
 * peak_rss_mb, param_mb, the machine. */
#include "proxyseg/nn.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static void cpu_model(char *buf, size_t n) {
  snprintf(buf, n, "unknown");
  FILE *f = fopen("/proc/cpuinfo", "r");
  char line[512];
  while (f && fgets(line, sizeof line, f))
    if (!strncmp(line, "model name", 10)) {
      char *c = strchr(line, ':');
      if (c) {
        snprintf(buf, n, "%s", c + 2);
        buf[strcspn(buf, "\n")] = 0;
      }
      break;
    }
  if (f) fclose(f);
}

int main(int argc, char **argv) {
  int stem = 8, levels = 3, nodes = 4, patch = 32, batch = 1, threads = 2, steps = 5, warmup = 1;
  const char *sampling = "pair";
  for (int i = 1; i + 1 < argc; i += 2) {
    const char *k = argv[i];
    int v = atoi(argv[i + 1]);
    if (!strcmp(k, "--sampling")) sampling = argv[i + 1];
    else if (!strcmp(k, "--stem")) stem = v;
    else if (!strcmp(k, "--levels")) levels = v;
    else if (!strcmp(k, "--nodes")) nodes = v;
    else if (!strcmp(k, "--patch")) patch = v;
    else if (!strcmp(k, "--batch")) batch = v;
    else if (!strcmp(k, "--threads")) threads = v;
    else if (!strcmp(k, "--steps")) steps = v;
    else if (!strcmp(k, "--warmup")) warmup = v;
    else {
      fprintf(stderr, "usage: %s [--sampling pair|all] [--stem 8] [--levels 3] [--nodes 4] [--patch 32] [--batch 1] "
                      "[--threads 2] [--steps 5] [--warmup 1]\n", argv[0]);
      return 2;
    }
  }
  if (steps < 1 || steps > 1000) { fprintf(stderr, "bench_nas_step: --steps 1..1000\n"); return 2; }
  ps_threads_set(threads);
  ps_log_set_level(PS_LOG_WARN);
  char js[256];
  snprintf(js, sizeof js, "{\"family\":\"cells\",\"stem_features\":%d,\"levels\":%d,\"nodes\":%d,\"sampling\":\"%s\"}",
           stem, levels, nodes, sampling);
  cJSON *arch = cJSON_Parse(js);
  ps_net *net = NULL;
  if (ps_net_create(arch, 1, 2, 1, &net)) {
    fprintf(stderr, "bench_nas_step: %s\n", ps_last_error());
    return 1;
  }
  cJSON_Delete(arch);
  ps_rng *r = ps_rng_create(2);
  ps_net_nas_set_sampling(net, 1.0, r);
  ps_optim *opt = ps_optim_create("adam", ps_net_params(net), NULL);
  ps_tape *t = ps_tape_create();
  const int64_t vox = (int64_t)patch * patch * patch * batch;
  float *x = malloc((size_t)vox * sizeof(float));
  uint8_t *lab = malloc((size_t)vox);
  for (int64_t i = 0; i < vox; i++) x[i] = (float)ps_rng_normal(r, 1), lab[i] = x[i] > 0.5f;
  const int64_t sh[5] = {batch, 1, patch, patch, patch};
  double *ms = malloc((size_t)steps * sizeof(double));
  for (int s = 0; s < warmup + steps; s++) {
    double t0 = ps_now();
    ps_tape_reset(t);
    ps_params_zero_grad(ps_net_params(net));
    ps_tensor *outs[2];
    int no;
    ps_tensor *l = NULL;
    if (!ps_net_forward(net, t, ps_tape_wrap(t, x, 5, sh), true, outs, &no)) l = ps_net_loss(net, t, outs, no, lab, NULL);
    if (!l || ps_tape_backward(t, l) || ps_optim_step(opt, 1e-3f)) {
      fprintf(stderr, "bench_nas_step: %s\n", ps_last_error());
      return 1;
    }
    if (s >= warmup) ms[s - warmup] = (ps_now() - t0) * 1e3;
  }
  qsort(ms, (size_t)steps, sizeof *ms, cmp_d);
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  char cpu[256];
  cpu_model(cpu, sizeof cpu);
  printf("{\"bench\":\"nas_step\",\"sampling\":\"%s\",\"stem\":%d,\"levels\":%d,\"nodes\":%d,\"patch\":%d,\"batch\":%d,"
         "\"threads\":%d,\"steps\":%d,\"ms_per_step\":%.1f,\"activation_mb\":%.1f,\"peak_rss_mb\":%.1f,\"param_mb\":%.2f,"
         "\"cpu\":\"%s\"}\n",
         sampling, stem, levels, nodes, patch, batch, threads, steps, ms[steps / 2], ps_tape_arena_bytes(t) / 1048576.0,
         ru.ru_maxrss / 1024.0, ps_params_numel(ps_net_params(net)) * 4.0 / 1048576.0, cpu);
  free(ms);
  free(x);
  free(lab);
  ps_tape_free(t);
  ps_optim_free(opt);
  ps_rng_free(r);
  ps_net_free(net);
  return 0;
}
