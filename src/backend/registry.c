/* The backend registry: names to vtables ("cpu-ref", "cpu", and "cuda" in
 * PS_WITH_CUDA builds), created on first use and kept for the process; the
 * default from env PS_BACKEND; the host-memory entries both CPU backends use. */
#include "backend/cpu_common.h"
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static const char *const names[] = {"cpu-ref", "cpu",
#ifdef PS_BACKEND_CUDA
                                    "cuda",
#endif
                                    NULL};
const char *const *ps_backend_names(void) { return names; }

static const char *const kind_names[PS_OPK_COUNT] = {
    "conv", "conv_transposed", "norm", "activation", "pool", "upsample", "concat",
    "elementwise", "softmax", "gemm", "loss", "optimizer", "other"};
const char *ps_op_kind_name(ps_op_kind k) { return k >= 0 && k < PS_OPK_COUNT ? kind_names[k] : "?"; }

#ifdef PS_BACKEND_CUDA
#include <pthread.h>
static pthread_once_t cuda_once = PTHREAD_ONCE_INIT;
static ps_backend *cuda_be;
static ps_status cuda_st;
static char cuda_msg[256];
static void cuda_init(void) {
  cuda_st = ps_backend_cuda_create(&cuda_be);
  if (cuda_st != PS_OK) snprintf(cuda_msg, sizeof cuda_msg, "%s", ps_last_error());
}
#endif

ps_backend *ps_backend_get(const char *name) {
  if (!name) return ps_backend_default();
  if (!strcmp(name, "cpu-ref")) return ps_backend_cpu_ref();
  if (!strcmp(name, "cpu")) return ps_backend_cpu();
  if (!strcmp(name, "cuda")) {
#ifdef PS_BACKEND_CUDA
    pthread_once(&cuda_once, cuda_init);
    if (!cuda_be) ps_error(cuda_st ? cuda_st : PS_ERR_UNSUPPORTED, "backend cuda: %s", cuda_msg);
    return cuda_be;
#else
    ps_error(PS_ERR_UNSUPPORTED, "backend cuda: this build has no CUDA (configure with -DPS_WITH_CUDA=ON)");
    return NULL;
#endif
  }
  ps_error(PS_ERR_INVALID, "unknown backend '%s' (cpu-ref, cpu, cuda)", name);
  return NULL;
}

bool ps_backend_available(const char *name) { return ps_backend_get(name) != NULL; }

/* Only host-memory backends can be the default for now: networks initialise,
 * checkpoint and feed their parameters and batches through host pointers. */
ps_backend *ps_backend_default(void) {
  const char *e = getenv("PS_BACKEND");
  if (e && *e) {
    ps_backend *be = ps_backend_get(e);
    if (be && be->host_memory) return be;
  }
  return ps_backend_cpu();
}

/* ---- host memory with a fail-after-N hook (tests inject allocation failures) ---- */
static _Atomic long fail_after = -1;

static void *host_alloc(ps_backend *be, size_t bytes) {
  long n = atomic_load(&fail_after);
  if (n >= 0) {
    atomic_store(&fail_after, n - 1);
    if (n == 0) {
      atomic_store(&fail_after, -1);
      ps_error(PS_ERR_NOMEM, "backend %s: injected allocation failure (%zu bytes)", be->name, bytes);
      return NULL;
    }
  }
  size_t sz = (bytes + 63) & ~(size_t)63;
  void *p = aligned_alloc(64, sz ? sz : 64);
  if (!p) ps_error(PS_ERR_NOMEM, "backend %s: cannot allocate %zu bytes", be->name, bytes);
  return p;
}
static void host_free(ps_backend *be, void *p) { (void)be; free(p); }
static ps_status host_memset0(ps_backend *be, void *d, size_t n) { (void)be; if (n) memset(d, 0, n); return PS_OK; }
static ps_status host_copy(ps_backend *be, void *d, const void *s, size_t n) {
  (void)be;
  if (n && d != s) memmove(d, s, n);
  return PS_OK;
}
static ps_status host_sync(ps_backend *be) { (void)be; return PS_OK; }
static void host_fail_after(ps_backend *be, long n) { (void)be; atomic_store(&fail_after, n); }

void ps_host_fill_memory(ps_backend *be) {
  be->host_memory = true;
  be->alloc = host_alloc;
  be->free = host_free;
  be->memset0 = host_memset0;
  be->to_backend = host_copy;
  be->to_host = host_copy;
  be->copy = host_copy;
  be->sync = host_sync;
  be->fail_alloc_after = host_fail_after;
}
