/* Conv kernels on the reference U-Net's shapes ("unet-ref": 1 input channel,
 * 16·2^s features over 4 stages, patch 64, batch 2): forward, backward-data and
 * backward-weight of the fast path, each against cblas_sgemm run at the same
 * (M, N, K) the conv issues, the same number of times, with the same threads.
 * Prints one JSON line: {"bench":"conv", ..., "results":[{shape, direction,
 * ms, gflops, sgemm_gflops, ratio}, ...]}. Times are the minimum over reps.
 * A transposed conv whose backward fuses (ps_conv_convt_fusable) gets a fourth
 * row, "backward_fused": data, weight and bias gradients in one call, against
 * the two backward directions' SGEMM peers together (unfused_ms: the two rows'
 * kernel times, without the bias gradient). Winograd convs also get each tile
 * size forced (winograd2_ms: F(2,3), winograd4_ms: F(4,3); winograd_tile: the
 * default rule's choice), timed in turn in the same repetitions.
 * --conv3 C,K,S times one 3^3 pad-1 conv (C -> K channels, S^3) instead.
 * Usage: bench_conv [--threads N] [--reps N] [--scratch-kb N] [--only SUBSTRING] [--clock wall|cpu] [--wino-only]
 *                   [--conv3 C,K,S] */
#include "proxyseg/core.h"
#include "backend/cpu/conv_kernels.h"
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Wall clock by default; --clock cpu uses process CPU time, which on a shared,
 * oversubscribed machine measures the work itself (meaningful with --threads 1). */
static bool g_cpu_clock = false;
static double now(void) {
  if (!g_cpu_clock) return omp_get_wtime();
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

typedef struct {
  const char *name;
  int cin, cout, size, k, stride, pad;
  bool transposed;
} shape;

static const shape shapes[] = {
    {"enc0a 1->16 k3 64^3", 1, 16, 64, 3, 1, 1, false},
    {"enc0b 16->16 k3 64^3", 16, 16, 64, 3, 1, 1, false},
    {"enc1a 16->32 k3 32^3", 16, 32, 32, 3, 1, 1, false},
    {"enc1b 32->32 k3 32^3", 32, 32, 32, 3, 1, 1, false},
    {"enc2a 32->64 k3 16^3", 32, 64, 16, 3, 1, 1, false},
    {"enc2b 64->64 k3 16^3", 64, 64, 16, 3, 1, 1, false},
    {"enc3a 64->128 k3 8^3", 64, 128, 8, 3, 1, 1, false},
    {"enc3b 128->128 k3 8^3", 128, 128, 8, 3, 1, 1, false},
    {"up3 T 128->64 k2s2 8^3", 128, 64, 8, 2, 2, 0, true},
    {"dec2 concat 128->64 k3 16^3", 128, 64, 16, 3, 1, 1, false},
    {"up2 T 64->32 k2s2 16^3", 64, 32, 16, 2, 2, 0, true},
    {"dec1 concat 64->32 k3 32^3", 64, 32, 32, 3, 1, 1, false},
    {"up1 T 32->16 k2s2 32^3", 32, 16, 32, 2, 2, 0, true},
    {"dec0 concat 32->16 k3 64^3", 32, 16, 64, 3, 1, 1, false},
    {"head 16->2 k1 64^3", 16, 2, 64, 1, 1, 0, false},
};

static float *rnd(int64_t n, unsigned *seed) {
  float *p = aligned_alloc(64, ((size_t)n * sizeof(float) + 63) & ~(size_t)63);
  if (!p) { fprintf(stderr, "bench_conv: out of memory\n"); exit(1); }
  for (int64_t i = 0; i < n; i++) p[i] = (float)rand_r(seed) / RAND_MAX - 0.5f;
  return p;
}

/* The conv geometry behind a shape: a transposed conv is described by its adjoint conv. */
static ps_conv_geom geom_of(const shape *s, int n) {
  ps_conv_geom g;
  memset(&g, 0, sizeof g);
  g.n = n;
  g.groups = 1;
  for (int i = 0; i < 3; i++) {
    g.ks[i] = s->k;
    g.stride[i] = s->stride;
    g.pad[i] = s->pad;
    g.dil[i] = 1;
    if (s->transposed) {
      g.out[i] = s->size;
      g.in[i] = (int64_t)(s->size - 1) * s->stride - 2 * s->pad + s->k;
    } else {
      g.in[i] = s->size;
      g.out[i] = ps_conv_out_size(s->size, s->k, s->stride, s->pad, 1);
    }
  }
  g.c = s->transposed ? s->cout : s->cin;
  g.k = s->transposed ? s->cin : s->cout;
  return g;
}

/* Kernel directions of the conv geometry. */
enum { FWD, BWD_DATA, BWD_WEIGHT };

static void run_kernel(int kdir, const ps_conv_geom *g, const float *x, const float *w, const float *b, float *y,
                       float *dx, float *dw, const float *dy) {
  ps_status st = PS_OK;
  if (kdir == FWD) st = ps_conv_fast_forward(g, x, w, b, y, false);
  else if (kdir == BWD_DATA) st = ps_conv_fast_backward_data(g, dy, w, dx, false);
  else st = ps_conv_fast_backward_weight(g, x, dy, dw, false);
  if (st != PS_OK) { fprintf(stderr, "bench_conv: %s\n", ps_last_error()); exit(1); }
}

int main(int argc, char **argv) {
  int threads = 2, reps = 3;
  const char *only = NULL;
  bool wino_only = false;
  const shape *table = shapes;
  int nshapes = (int)(sizeof shapes / sizeof shapes[0]);
  shape custom = {"custom", 0, 0, 0, 3, 1, 1, false};
  char custom_name[64];
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--scratch-kb") && i + 1 < argc) ps_conv_set_scratch_cap((size_t)atol(argv[++i]) << 10);
    else if (!strcmp(argv[i], "--clock") && i + 1 < argc) g_cpu_clock = !strcmp(argv[++i], "cpu");
    else if (!strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
    else if (!strcmp(argv[i], "--wino-only")) wino_only = true; /* for profiling: skip the GEMM path and SGEMM */
    else if (!strcmp(argv[i], "--conv3") && i + 1 < argc) { /* one 3^3 pad-1 conv "C,K,S" instead of unet-ref's */
      if (sscanf(argv[++i], "%d,%d,%d", &custom.cin, &custom.cout, &custom.size) != 3 || custom.cin < 1 ||
          custom.cout < 1 || custom.size < 1) {
        fprintf(stderr, "bench_conv: --conv3 wants C,K,S (channels in, out, size), got '%s'\n", argv[i]);
        return 2;
      }
      snprintf(custom_name, sizeof custom_name, "conv3 %d->%d k3 %d^3", custom.cin, custom.cout, custom.size);
      custom.name = custom_name;
      table = &custom;
      nshapes = 1;
    } else {
      fprintf(stderr, "usage: bench_conv [--threads N] [--reps N] [--scratch-kb N] [--only SUBSTRING] [--clock wall|cpu] "
                      "[--wino-only] [--conv3 C,K,S]\n");
      return 2;
    }
  }
  if (reps < 1) reps = 1;
  ps_threads_set(threads);
  const int batch = 2;
  unsigned seed = 7;
  printf("{\"bench\":\"conv\",\"net\":\"%s\",\"batch\":%d,\"threads\":%d,\"reps\":%d,\"clock\":\"%s\",\"results\":[",
         table == shapes ? "unet-ref" : "conv3", batch, threads, reps, g_cpu_clock ? "cpu" : "wall");
  double sum_conv_ms = 0, sum_sgemm_ms = 0, sum_best_ms = 0;
  bool first = true;
  for (int si = 0; si < nshapes; si++) {
    const shape *s = &table[si];
    if (only && !strstr(s->name, only)) continue;
    ps_conv_geom g = geom_of(s, batch);
    const int64_t V = g.in[0] * g.in[1] * g.in[2], P = g.out[0] * g.out[1] * g.out[2];
    const int64_t kvol = (int64_t)g.ks[0] * g.ks[1] * g.ks[2];
    float *x = rnd(g.n * g.c * V, &seed), *dx = rnd(g.n * g.c * V, &seed);
    float *y = rnd(g.n * g.k * P, &seed), *dy = rnd(g.n * g.k * P, &seed);
    float *w = rnd(g.k * g.c * kvol, &seed), *dw = rnd(g.k * g.c * kvol, &seed), *b = rnd(g.k, &seed);
    const double flops = 2.0 * g.n * g.k * g.c * kvol * P;
    ps_conv_gemm_plan pl = ps_conv_plan(&g);
    double peer_ms[3] = {0}, kernel_ms[3] = {0};
    for (int dir = 0; dir < 3; dir++) {
      /* the op's direction -> the conv kernel it runs */
      int kdir = dir;
      if (s->transposed && dir != BWD_WEIGHT) kdir = dir == FWD ? BWD_DATA : FWD;
      const char *dname = dir == FWD ? "forward" : dir == BWD_DATA ? "backward_data" : "backward_weight";
      int64_t m, nn, kk, calls = g.n * pl.slabs;
      if (kdir == BWD_DATA && !pl.no_col && ps_conv_bwd_data_as_conv(&g)) { /* runs as a forward conv */
        ps_conv_geom a = ps_conv_bwd_data_geom(&g);
        ps_conv_gemm_plan pa = ps_conv_plan(&a);
        m = pa.m; nn = pa.n; kk = pa.k;
        calls = g.n * pa.slabs;
      } else if (kdir == FWD) { m = pl.m; nn = pl.n; kk = pl.k; }
      else if (kdir == BWD_DATA) { m = pl.k; nn = pl.n; kk = pl.m; }
      else { m = pl.m; nn = pl.k; kk = pl.n; }
      if (pl.no_col) { /* (kg, P, cg) shapes */
        if (kdir == FWD) { m = g.k; nn = P; kk = g.c; }
        else if (kdir == BWD_DATA) { m = g.c; nn = P; kk = g.k; }
        else { m = g.k; nn = g.c; kk = P; }
      }
      float *A = rnd(m * kk, &seed), *B = rnd(kk * nn, &seed), *C = rnd(m * nn, &seed);
      /* warm-up (scratch, BLAS threads), then conv and its peer interleaved;
       * the minimum over reps is kept, as the machine is shared */
      run_kernel(kdir, &g, x, w, s->transposed ? NULL : b, y, dx, dw, dy);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)nn, (int)kk, 1.0f, A, (int)kk, B, (int)nn,
                  0.0f, C, (int)nn);
      const bool wino = ps_conv_wino_applicable(&g);
      double ms = 1e30, wms = 1e30, w2ms = 1e30, w4ms = 1e30, gms = 1e30;
      for (int r = 0; r < reps; r++) {
        if (wino_only && wino) goto wino_part;
        ps_conv_set_algo(PS_CONV_ALGO_GEMM);
        double t0 = now();
        run_kernel(kdir, &g, x, w, s->transposed ? NULL : b, y, dx, dw, dy);
        double t1 = now();
        for (int64_t c = 0; c < calls; c++)
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)nn, (int)kk, 1.0f, A, (int)kk, B,
                      (int)nn, 0.0f, C, (int)nn);
        double t2 = now();
        if ((t1 - t0) * 1e3 < ms) ms = (t1 - t0) * 1e3;
        if ((t2 - t1) * 1e3 / calls < gms) gms = (t2 - t1) * 1e3 / calls;
      wino_part:
        if (wino) /* the default tile rule, then each tile size forced */
          for (int a = 0; a < 3; a++) {
            ps_conv_set_algo(a == 0 ? PS_CONV_ALGO_WINOGRAD : a == 1 ? PS_CONV_ALGO_WINOGRAD2 : PS_CONV_ALGO_WINOGRAD4);
            if (r == 0) run_kernel(kdir, &g, x, w, s->transposed ? NULL : b, y, dx, dw, dy); /* warm-up */
            double t3 = now();
            run_kernel(kdir, &g, x, w, s->transposed ? NULL : b, y, dx, dw, dy);
            double t4 = now();
            double *best = a == 0 ? &wms : a == 1 ? &w2ms : &w4ms;
            if ((t4 - t3) * 1e3 < *best) *best = (t4 - t3) * 1e3;
          }
      }
      ps_conv_set_algo(PS_CONV_ALGO_AUTO);
      const double gemm_gflops = 2.0 * m * nn * kk / (gms * 1e6), gflops = flops / (ms * 1e6);
      const double best = wino && wms < ms ? wms : ms;
      peer_ms[dir] = gms * calls;
      kernel_ms[dir] = ms;
      sum_conv_ms += ms;
      sum_best_ms += best;
      sum_sgemm_ms += flops / (gemm_gflops * 1e6);
      printf("%s{\"shape\":\"%s\",\"direction\":\"%s\",\"ms\":%.3f,\"gflops\":%.2f,\"sgemm_m\":%lld,\"sgemm_n\":%lld,"
             "\"sgemm_k\":%lld,\"sgemm_calls\":%lld,\"sgemm_gflops\":%.2f,\"ratio\":%.3f",
             first ? "" : ",", s->name, dname, ms, gflops, (long long)m, (long long)nn, (long long)kk,
             (long long)calls, gemm_gflops, gflops / gemm_gflops);
      if (wino) /* effective GFLOP/s: the direct conv's FLOPs over Winograd's time */
        printf(",\"winograd_ms\":%.3f,\"winograd_eff_gflops\":%.2f,\"winograd_ratio\":%.3f,\"winograd_speedup\":%.2f,"
               "\"winograd_tile\":%d,\"winograd2_ms\":%.3f,\"winograd4_ms\":%.3f,\"f4_over_f2_speedup\":%.2f}",
               wms, flops / (wms * 1e6), flops / (wms * 1e6) / gemm_gflops, ms / wms,
               ps_conv_wino_tile(&g), w2ms, w4ms, w2ms / w4ms);
      else
        printf(",\"winograd_ms\":null}");
      fflush(stdout);
      first = false;
      free(A); free(B); free(C);
    }
    if (s->transposed && ps_conv_convt_fusable(&g) && !wino_only) {
      /* x: the big tensor (the transposed conv's dy), y: its input, dy: its dx */
      float *db = rnd(g.c, &seed);
      double fms = 1e30;
      for (int r = 0; r <= reps; r++) { /* r = 0: warm-up */
        double t0 = now();
        if (ps_conv_fast_convt_backward(&g, x, y, w, dy, false, dw, false, db, false) != PS_OK) {
          fprintf(stderr, "bench_conv: %s\n", ps_last_error());
          return 1;
        }
        double t1 = now();
        if (r > 0 && (t1 - t0) * 1e3 < fms) fms = (t1 - t0) * 1e3;
      }
      const double peer = peer_ms[BWD_DATA] + peer_ms[BWD_WEIGHT];
      printf(",{\"shape\":\"%s\",\"direction\":\"backward_fused\",\"ms\":%.3f,\"sgemm_ms\":%.3f,\"ratio\":%.3f,"
             "\"unfused_ms\":%.3f}",
             s->name, fms, peer, peer / fms, kernel_ms[BWD_DATA] + kernel_ms[BWD_WEIGHT]);
      fflush(stdout);
      free(db);
    }
    free(x); free(dx); free(y); free(dy); free(w); free(dw); free(b);
  }
  printf("],\"total_ms\":%.2f,\"total_sgemm_equiv_ms\":%.2f,\"ratio\":%.3f,\"total_best_ms\":%.2f}\n",
         sum_conv_ms, sum_sgemm_ms, sum_sgemm_ms / sum_conv_ms, sum_best_ms);
  ps_conv_scratch_release();
  return 0;
}
