/* One level of threading: OpenMP in our loops; OpenBLAS (the OpenMP build)
 * gets the same count and is never called from inside our parallel regions. */
#include "proxyseg/core.h"
#include <omp.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#define PS_SET_FTZ_DAZ() _mm_setcsr(_mm_getcsr() | 0x8040) /* flush-to-zero | denormals-are-zero */
#else
#define PS_SET_FTZ_DAZ() ((void)0)
#endif

extern void openblas_set_num_threads(int);

static int g_threads = 0;

void ps_threads_set(int n) {
  if (n <= 0) n = (int)sysconf(_SC_NPROCESSORS_ONLN);
  if (n < 1) n = 1;
  g_threads = n;
  omp_set_num_threads(n);
  openblas_set_num_threads(n);
  /* Denormal floats (weights and gradients decaying towards zero) are ~100x
   * slower on x86; training does not need them. MXCSR is per thread, so set it
   * in every thread of the pool, which OpenBLAS's OpenMP build shares. */
  PS_SET_FTZ_DAZ();
#pragma omp parallel num_threads(n)
  PS_SET_FTZ_DAZ();
}

int ps_threads_get(void) { return g_threads > 0 ? g_threads : omp_get_max_threads(); }
