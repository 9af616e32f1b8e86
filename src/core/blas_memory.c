/* Keeps OpenBLAS from waiting forever for memory. OpenBLAS 0.3.x takes a
 * 128 MiB work buffer per concurrent caller (blas_memory_alloc) and, when the
 * allocation fails, retries in an endless loop at 100 % CPU — at start-up
 * (gotoblas_init) and lazily, the first time a further thread calls sgemm.
 * Under an address-space limit (ulimit -v) that turned every command into a
 * hang. We refuse before start-up when the limit leaves no room, and take the
 * buffers for all our threads at ps_threads_set time, while memory is free. */
#include "proxyseg/core.h"
#include <omp.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* OpenBLAS's buffer pool (exported by libopenblas, not in its headers); weak so
 * that another BLAS without them only loses the guard. */
extern void *blas_memory_alloc(int procpos) __attribute__((weak));
extern void blas_memory_free(void *buffer) __attribute__((weak));

/* One buffer (BUFFER_SIZE 128 MiB + a page, measured with strace on 0.3.21),
 * and what a further thread brings: glibc's malloc arena (64 MiB reserved,
 * 128 MiB while it is being aligned) and its stack (8 MiB). Start-up failed
 * below 256 MiB left at the guard (ulimit -v 300000 hung, 330000 ran). */
#define BLAS_BUFFER_BYTES (129ull << 20)
#define THREAD_SLACK_BYTES (136ull << 20)

/* Runs before any library's initialiser (the executable's .preinit_array),
 * so before gotoblas_init would loop. Only executables have this section:
 * ps_core is a static library, linked into each program. */
static void blas_start_guard(void) {
  unsigned long long left = ps_address_space_left();
  if (left >= BLAS_BUFFER_BYTES + THREAD_SLACK_BYTES) return;
  char msg[320];
  int n = snprintf(msg, sizeof msg,
                   "proxyseg: error: the address-space limit (ulimit -v) leaves %llu MiB; OpenBLAS needs %llu MiB "
                   "to start (a 128 MiB work buffer) and would wait for it forever. Raise the limit.\n",
                   left >> 20, (BLAS_BUFFER_BYTES + THREAD_SLACK_BYTES) >> 20);
  if (n > 0 && write(2, msg, (size_t)n) < 0) { /* nothing more to say */
  }
  _exit(1);
}
__attribute__((section(".preinit_array"), used)) static void (*const blas_start_guard_entry)(void) = blas_start_guard;

int ps_blas_buffers_reserve(int n) {
  if (!blas_memory_alloc || !blas_memory_free) return n;
  /* Under a limit, grant only as many threads as buffers fit (the start-up
   * buffer is not reused: a first sgemm takes a new one, seen in gdb), none
   * is an error. Unlimited: the buffers are taken now too, so a later sgemm
   * never allocates when tensors already fill memory. */
  unsigned long long left = ps_address_space_left();
  int fit = n;
  if (left != ~0ull) {
    unsigned long long per = BLAS_BUFFER_BYTES + THREAD_SLACK_BYTES;
    fit = left / per < (unsigned long long)n ? (int)(left / per) : n;
    if (fit == 0) {
      ps_error(PS_ERR_NOMEM,
               "the address-space limit (ulimit -v) leaves %llu MiB; each compute thread needs %llu MiB (an OpenBLAS "
               "work buffer of 128 MiB, which OpenBLAS would wait for forever, and the thread's own memory)",
               left >> 20, per >> 20);
      return 0;
    }
    if (fit < n)
      ps_warn("the address-space limit (ulimit -v) leaves %llu MiB: %d thread(s) instead of %d, as each needs %llu MiB "
              "(an OpenBLAS work buffer and the thread's own memory)",
              left >> 20, fit, n, per >> 20);
  }
  /* Every thread holds a buffer at the same time (the barrier), so the pool
   * ends with `fit` buffers; later calls reuse them. */
#pragma omp parallel num_threads(fit)
  {
    void *b = blas_memory_alloc(1);
#pragma omp barrier
    blas_memory_free(b);
  }
  return fit;
}
