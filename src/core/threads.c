/* One level of threading: OpenMP in our loops; OpenBLAS (the OpenMP build)
 * gets the same count and is never called from inside our parallel regions. */
#include "proxyseg/core.h"
#include <omp.h>
#include <unistd.h>

extern void openblas_set_num_threads(int);

static int g_threads = 0;

void ps_threads_set(int n) {
  if (n <= 0) n = (int)sysconf(_SC_NPROCESSORS_ONLN);
  if (n < 1) n = 1;
  g_threads = n;
  omp_set_num_threads(n);
  openblas_set_num_threads(n);
}

int ps_threads_get(void) { return g_threads > 0 ? g_threads : omp_get_max_threads(); }
