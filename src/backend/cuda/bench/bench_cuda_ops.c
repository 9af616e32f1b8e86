/* Microbenchmark of the CUDA backend on the convolutions of one unet-ref training
 * step (the network of benchmarks/bench_unet_step.c: S stages of base*2^s
 * features, 2 x conv 3^3 per block, 2^3 stride-2 transposed convs, 1^3 head):
 * per layer forward, backward-data and backward-filter through cuDNN, then the
 * instance norm + LeakyReLU kernels on the largest activation. Prints JSON lines
 * (one per layer, then a summary with the card, TF32 mode, ms and GFLOP/s).
 * The PyTorch twin: benchmarks/reference/unet_torch_cuda.py --mode convs. */
#include "backend/cuda/cuda_internal.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static ps_cuda *G;

static void die(const char *what) {
  fprintf(stderr, "bench_cuda_ops: %s: %s\n", what, ps_last_error());
  exit(1);
}
static void chk(ps_status st, const char *what) {
  if (st) die(what);
}
static float *buf(int64_t n) {
  float *p = ps_cuda_alloc(G, (size_t)n * sizeof(float));
  if (!p) die("alloc");
  chk(ps_cuda_fill(G, 0.01f, p, n), "fill");
  return p;
}

typedef struct {
  const char *kind;
  int64_t cin, cout, size; /* size: input edge */
  int k, stride;
  bool transposed, need_dx;
  int count; /* how many times a step runs this layer */
} layer;

/* time one callable: warm-up, then reps, wall time over a synchronised stream */
#define TIME_MS(reps, body)                                   \
  ({                                                          \
    body;                                                     \
    chk(ps_cuda_sync(G), "sync");                            \
    double t0_ = ps_now();                                    \
    for (int r_ = 0; r_ < (reps); r_++) { body; }             \
    chk(ps_cuda_sync(G), "sync");                            \
    1e3 * (ps_now() - t0_) / (reps);                          \
  })

int main(int argc, char **argv) {
  int stages = 4, base = 32, patch = 128, batch = 2, reps = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    int v = atoi(argv[i + 1]);
    if (!strcmp(argv[i], "--stages")) stages = v;
    else if (!strcmp(argv[i], "--base")) base = v;
    else if (!strcmp(argv[i], "--patch")) patch = v;
    else if (!strcmp(argv[i], "--batch")) batch = v;
    else if (!strcmp(argv[i], "--reps")) reps = v;
    else {
      fprintf(stderr, "usage: %s [--stages 4] [--base 32] [--patch 128] [--batch 2] [--reps 5]\n", argv[0]);
      return 2;
    }
  }
  if (ps_cuda_device_count() <= 0) {
    printf("{\"bench\":\"cuda_ops\",\"skipped\":\"no CUDA device visible\"}\n");
    return 77;
  }
  chk(ps_cuda_create(0, &G), "context");
  layer L[64];
  int nl = 0;
  int64_t f[8];
  for (int s = 0; s < stages; s++) f[s] = (int64_t)base << s;
  for (int s = 0; s < stages; s++) {
    const int64_t sz = patch >> s;
    L[nl++] = (layer){"enc_conv1", s ? f[s - 1] : 1, f[s], sz, 3, 1, false, s > 0, 1};
    L[nl++] = (layer){"enc_conv2", f[s], f[s], sz, 3, 1, false, true, 1};
  }
  for (int k = stages - 2; k >= 0; k--) {
    const int64_t sz = patch >> k;
    L[nl++] = (layer){"up_convT", f[k + 1], f[k], sz / 2, 2, 2, true, true, 1};
    L[nl++] = (layer){"dec_conv1", 2 * f[k], f[k], sz, 3, 1, false, true, 1};
    L[nl++] = (layer){"dec_conv2", f[k], f[k], sz, 3, 1, false, true, 1};
  }
  L[nl++] = (layer){"head", f[0], 2, patch, 1, 1, false, true, 1};

  double tot_ms = 0, tot_flop = 0;
  for (int i = 0; i < nl; i++) {
    const layer *l = &L[i];
    const int64_t N = batch, in = l->size, out = l->transposed ? in * 2 : in;
    const int64_t vin = in * in * in, vout = out * out * out, kv = (int64_t)l->k * l->k * l->k;
    /* the adjoint geometry for the transposed conv: its input is the layer's output */
    ps_cuda_conv_geom g;
    memset(&g, 0, sizeof g);
    g.n = N;
    g.groups = 1;
    g.c = l->transposed ? l->cout : l->cin;
    g.k = l->transposed ? l->cin : l->cout;
    for (int d = 0; d < 3; d++) {
      g.ks[d] = l->k;
      g.stride[d] = l->stride;
      g.pad[d] = l->k == 3 ? 1 : 0;
      g.dil[d] = 1;
      g.in[d] = l->transposed ? out : in;
      g.out[d] = l->transposed ? in : out;
    }
    float *x = buf(N * l->cin * vin), *y = buf(N * l->cout * vout), *w = buf(l->cin * l->cout * kv);
    float *gx = buf(N * l->cin * vin), *gw = buf(l->cin * l->cout * kv), *gy = buf(N * l->cout * vout);
    double fwd, bd = 0, bw;
    if (!l->transposed) {
      fwd = TIME_MS(reps, chk(ps_cuda_conv_forward(G, &g, x, w, NULL, y, false), l->kind));
      if (l->need_dx) bd = TIME_MS(reps, chk(ps_cuda_conv_backward_data(G, &g, gy, w, gx, false), l->kind));
      bw = TIME_MS(reps, chk(ps_cuda_conv_backward_weight(G, &g, x, gy, gw, false), l->kind));
    } else {
      fwd = TIME_MS(reps, chk(ps_cuda_conv_backward_data(G, &g, x, w, y, false), l->kind));
      bd = TIME_MS(reps, chk(ps_cuda_conv_forward(G, &g, gy, w, NULL, gx, false), l->kind));
      bw = TIME_MS(reps, chk(ps_cuda_conv_backward_weight(G, &g, gy, x, gw, false), l->kind));
    }
    /* MACs of one pass: output voxels x cout x cin x kernel (transposed: input voxels) */
    const double macs = (double)N * (l->transposed ? vin : vout) * l->cin * l->cout * kv;
    const double flop = 2 * macs * (l->need_dx ? 3 : 2), ms = fwd + bd + bw;
    tot_ms += ms * l->count;
    tot_flop += flop * l->count;
    printf("{\"bench\":\"cuda_conv_layer\",\"layer\":\"%s\",\"cin\":%lld,\"cout\":%lld,\"size\":%lld,\"k\":%d,"
           "\"fwd_ms\":%.3f,\"bwd_data_ms\":%.3f,\"bwd_filter_ms\":%.3f,\"gflops_per_s\":%.1f}\n",
           l->kind, (long long)l->cin, (long long)l->cout, (long long)in, l->k, fwd, bd, bw, flop / (ms * 1e6));
    void *all[] = {x, y, w, gx, gw, gy};
    for (int k = 0; k < 6; k++) ps_cuda_release(G, all[k]);
    fflush(stdout);
  }
  /* the non-conv work of the largest block: instance norm + LeakyReLU forward and backward */
  const int64_t C = base, S = (int64_t)patch * patch * patch, n = batch * C * S;
  float *x = buf(n), *y = buf(n), *dy = buf(n), *dx = buf(n), *gam = buf(C), *bet = buf(C), *gg = buf(C), *gb = buf(C);
  float *mean = buf(batch * C), *rstd = buf(batch * C);
  ps_cuda_norm_geom ng = {.N = batch, .C = C, .S = S, .per_sample = true};
  const double norm_f = TIME_MS(reps, {
    chk(ps_cuda_norm_stats(G, &ng, x, 1e-5f, mean, rstd, NULL), "norm");
    chk(ps_cuda_norm_apply(G, &ng, x, mean, rstd, gam, bet, y), "norm");
    chk(ps_cuda_act_forward(G, PS_CUDA_LEAKY, 0.01f, y, y, n), "leaky");
  });
  const double norm_b = TIME_MS(reps, {
    chk(ps_cuda_act_backward(G, PS_CUDA_LEAKY, 0.01f, y, y, dy, dx, n, false), "leaky");
    chk(ps_cuda_norm_backward(G, &ng, x, mean, rstd, gam, dx, true, dx, false, gg, false, gb, false), "norm");
  });
  /* bytes the ideal fused versions move: fwd read x twice + write y; bwd read x, y, dy, write dx */
  printf("{\"bench\":\"cuda_norm_act\",\"shape\":[%d,%lld,%d,%d,%d],\"fwd_ms\":%.3f,\"bwd_ms\":%.3f,"
         "\"fwd_gb_per_s\":%.1f,\"bwd_gb_per_s\":%.1f}\n",
         batch, (long long)C, patch, patch, patch, norm_f, norm_b, 3.0 * n * 4 / (norm_f * 1e6), 4.0 * n * 4 / (norm_b * 1e6));
  size_t plans, ws, mallocs, held, peak;
  ps_cuda_conv_stats(G, &plans, &ws);
  ps_cuda_mem_stats(G, &mallocs, &held, &peak);
  printf("{\"bench\":\"cuda_ops\",\"impl\":\"proxyseg-cuda\",\"device\":\"%s\",\"sm\":%d,\"tf32\":%s,\"conv_algo\":\"%s\","
         "\"stages\":%d,\"base\":%d,\"patch\":%d,\"batch\":%d,\"reps\":%d,\"conv_ms_per_step\":%.2f,"
         "\"conv_gflop_per_step\":%.2f,\"conv_gflops_per_s\":%.1f,\"norm_act_ms_largest_block\":%.3f,"
         "\"conv_plans\":%zu,\"workspace_mb\":%.1f,\"cuda_mallocs\":%zu,\"device_mb_held\":%.1f}\n",
         ps_cuda_device_name(G), ps_cuda_device_cc(G), ps_cuda_get_tf32(G) ? "true" : "false",
         getenv("PS_CUDA_CONV_ALGO") ? getenv("PS_CUDA_CONV_ALGO") : "find", stages, base, patch, batch, reps, tot_ms,
         tot_flop / 1e9, tot_flop / (tot_ms * 1e6), norm_f + norm_b, plans, ws / 1048576.0, mallocs, held / 1048576.0);
  ps_cuda_free(G);
  return 0;
}
