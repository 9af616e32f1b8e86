/* One level of threading: OpenMP in our loops; OpenBLAS (the OpenMP build)
 * gets the same count and is never called from inside our parallel regions. */
#include "proxyseg/core.h"
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#define PS_SET_FTZ_DAZ() _mm_setcsr(_mm_getcsr() | 0x8040) /* flush-to-zero | denormals-are-zero */
#else
#define PS_SET_FTZ_DAZ() ((void)0)
#endif

extern void openblas_set_num_threads(int);
extern char *openblas_get_corename(void);

/* OpenBLAS's DYNAMIC_ARCH build picks its kernels from the CPU's family and
 * model; a CPU newer than the library, or a VM that hides the model, gets the
 * generic "Prescott" (SSE3) kernels — measured 2.3x slower U-Net steps on an
 * AVX-512 Xeon VM (578 vs 257 ms). The choice is made when the library loads,
 * so the remedy is to name the kernels in OPENBLAS_CORETYPE and re-execute the
 * program before main. Runs in every program that links the core; a user's own
 * OPENBLAS_CORETYPE, or PS_BLAS_CORE=keep, leaves the library's choice alone. */
#if defined(__x86_64__) && defined(__linux__)
__attribute__((constructor)) static void blas_core_fix(void) {
  if (getenv("OPENBLAS_CORETYPE") || getenv("PS_BLAS_CORE")) return;
  const char *core = openblas_get_corename();
  if (!core || (strcasecmp(core, "prescott") && strcasecmp(core, "core2") && strcasecmp(core, "nehalem"))) return;
  __builtin_cpu_init();
  const char *want = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") ? "SkylakeX"
                     : __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")      ? "Haswell"
                                                                                            : NULL;
  if (!want) return;
  /* argv from /proc/self/cmdline: NUL-separated arguments */
  static char buf[1 << 16];
  FILE *f = fopen("/proc/self/cmdline", "rb");
  if (!f) return;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  int full = !feof(f);
  fclose(f);
  if (n == 0 || full) return;
  buf[n] = 0;
  static char *argv[1024];
  int argc = 0;
  for (size_t i = 0; i < n && argc < 1023; i += strlen(buf + i) + 1) argv[argc++] = buf + i;
  argv[argc] = NULL;
  setenv("OPENBLAS_CORETYPE", want, 1);
  execv("/proc/self/exe", argv);
  /* exec failed: carry on with the library's kernels, slower but correct */
}
#endif

static int g_threads = 0;

int ps_blas_buffers_reserve(int n); /* blas_memory.c */

ps_status ps_threads_set(int n) {
  if (n <= 0) n = (int)sysconf(_SC_NPROCESSORS_ONLN);
  if (n < 1) n = 1;
  n = ps_blas_buffers_reserve(n);
  if (n == 0) return PS_ERR_NOMEM; /* the message is set */
  g_threads = n;
  omp_set_num_threads(n);
  openblas_set_num_threads(n);
  /* Denormal floats (weights and gradients decaying towards zero) are ~100x
   * slower on x86; training does not need them. MXCSR is per thread, so set it
   * in every thread of the pool, which OpenBLAS's OpenMP build shares. */
  PS_SET_FTZ_DAZ();
#pragma omp parallel num_threads(n)
  PS_SET_FTZ_DAZ();
  return PS_OK;
}

int ps_threads_get(void) { return g_threads > 0 ? g_threads : omp_get_max_threads(); }
