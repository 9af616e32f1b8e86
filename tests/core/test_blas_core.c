/* OpenBLAS must run its own fast kernels, not the generic SSE3 ("Prescott")
 * fallback it picks on CPUs newer than the library: the core's start-up fix
 * (src/core/threads.c) names the kernels and re-executes. On a CPU with AVX2
 * the kernels in use must not be a pre-AVX2 generic set. */
#include "proxyseg/core.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

extern char *openblas_get_corename(void);

int main(void) {
  ps_threads_set(1); /* links the core's threading file, where the start-up fix lives */
  const char *core = openblas_get_corename();
  printf("OpenBLAS kernels: %s (OPENBLAS_CORETYPE=%s)\n", core, getenv("OPENBLAS_CORETYPE") ? getenv("OPENBLAS_CORETYPE") : "unset");
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (getenv("PS_BLAS_CORE")) { printf("SKIPPED: PS_BLAS_CORE is set (fix disabled on purpose)\n"); return 77; }
  if (!__builtin_cpu_supports("avx2")) { printf("SKIPPED: this CPU has no AVX2; any kernel set is right\n"); return 77; }
  const char *slow[] = {"prescott", "core2", "nehalem", "katmai", "banias"};
  for (size_t i = 0; i < sizeof slow / sizeof slow[0]; i++)
    if (!strcasecmp(core, slow[i])) {
      fprintf(stderr, "FAIL: an AVX2 CPU runs OpenBLAS's generic '%s' kernels\n", core);
      return 1;
    }
  printf("test_blas_core: 1 passed, 0 failed\n");
  return 0;
#else
  printf("SKIPPED: not x86-64\n");
  return 77;
#endif
}
