/* CUDA context: device selection, one stream with its cuBLAS and cuDNN handles,
 * the caching device allocator (exact rounded-size free lists: a step that repeats
 * the last step's allocations never reaches cudaMalloc), copies, GEMM and the
 * mapping of CUDA/cuBLAS/cuDNN errors to ps_status. */
#include "cuda_common.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

ps_status ps_cuda_err(cudaError_t e, const char *what) {
  return ps_error(e == cudaErrorMemoryAllocation ? PS_ERR_NOMEM : PS_ERR_RUNTIME, "cuda: %s: %s (%s)", what,
                  cudaGetErrorString(e), cudaGetErrorName(e));
}
ps_status ps_cublas_err(cublasStatus_t e, const char *what) {
  return ps_error(e == CUBLAS_STATUS_ALLOC_FAILED ? PS_ERR_NOMEM : PS_ERR_RUNTIME, "cublas: %s: %s", what,
                  cublasGetStatusString(e));
}
ps_status ps_cudnn_err(cudnnStatus_t e, const char *what) {
  return ps_error(e == CUDNN_STATUS_ALLOC_FAILED ? PS_ERR_NOMEM
                  : e == CUDNN_STATUS_NOT_SUPPORTED ? PS_ERR_UNSUPPORTED
                                                    : PS_ERR_RUNTIME,
                  "cudnn: %s: %s", what, cudnnGetErrorString(e));
}

ps_status ps_cuda_check_launch(const char *what) {
  cudaError_t e = cudaGetLastError();
  return e == cudaSuccess ? PS_OK : ps_cuda_err(e, what);
}

extern "C" int ps_cuda_device_count(void) {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError(); /* clear the sticky "no driver" error */
    return 0;
  }
  return n;
}

static bool env_flag(const char *name, bool def) {
  const char *v = getenv(name);
  if (!v || !*v) return def;
  return !(v[0] == '0' || v[0] == 'n' || v[0] == 'N' || v[0] == 'f' || v[0] == 'F');
}

extern "C" ps_status ps_cuda_create(int dev, ps_cuda **out) {
  *out = NULL;
  int n = ps_cuda_device_count();
  if (n <= 0) return ps_error(PS_ERR_UNSUPPORTED, "cuda: no CUDA device is visible");
  if (dev < 0 || dev >= n) return ps_error(PS_ERR_INVALID, "cuda: device %d does not exist (%d visible)", dev, n);
  ps_cuda *c = (ps_cuda *)calloc(1, sizeof *c);
  if (!c) return ps_error(PS_ERR_NOMEM, "cuda: out of memory");
  c->dev = dev;
  c->fail_after = -1;
  ps_status st = PS_OK;
  cudaDeviceProp prop;
  cudaError_t e = cudaSetDevice(dev);
  if (e == cudaSuccess) e = cudaGetDeviceProperties(&prop, dev);
  if (e == cudaSuccess) e = cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking);
  if (e != cudaSuccess) {
    st = ps_cuda_err(e, "device setup");
    goto fail;
  }
  snprintf(c->name, sizeof c->name, "%s", prop.name);
  c->cc = prop.major * 10 + prop.minor;
  c->sms = prop.multiProcessorCount;
  {
    cublasStatus_t be = cublasCreate(&c->blas);
    if (be == CUBLAS_STATUS_SUCCESS) be = cublasSetStream(c->blas, c->stream);
    if (be != CUBLAS_STATUS_SUCCESS) {
      c->blas = NULL;
      st = ps_cublas_err(be, "cublasCreate");
      goto fail;
    }
    cudnnStatus_t de = cudnnCreate(&c->dnn);
    if (de == CUDNN_STATUS_SUCCESS) de = cudnnSetStream(c->dnn, c->stream);
    if (de != CUDNN_STATUS_SUCCESS) {
      c->dnn = NULL;
      st = ps_cudnn_err(de, "cudnnCreate (is libcudnn.so.9 with its sub-libraries on the library path?)");
      goto fail;
    }
  }
  e = cudaMalloc((void **)&c->red, PS_CUDA_RED_SLOTS * sizeof(double) + 64);
  if (e != cudaSuccess) {
    c->red = NULL;
    st = ps_cuda_err(e, "reduction scratch");
    goto fail;
  }
  c->flag = (int *)(c->red + PS_CUDA_RED_SLOTS);
  ps_cuda_set_tf32(c, env_flag("PS_CUDA_TF32", true));
  *out = c;
  return PS_OK;
fail:
  ps_cuda_free(c);
  return st;
}

extern "C" void ps_cuda_free(ps_cuda *c) {
  if (!c) return;
  cudaSetDevice(c->dev);
  if (c->stream) cudaStreamSynchronize(c->stream);
  ps_cuda_conv_plans_free(c);
  for (size_t i = 0; i < c->live_cap; i++)
    if (c->live[i].p) cudaFree(c->live[i].p);
  free(c->live);
  ps_cuda_trim(c);
  free(c->bins);
  cudaFree(c->ws);
  cudaFree(c->red);
  if (c->dnn) cudnnDestroy(c->dnn);
  if (c->blas) cublasDestroy(c->blas);
  if (c->stream) cudaStreamDestroy(c->stream);
  free(c);
}

extern "C" const char *ps_cuda_device_name(const ps_cuda *c) { return c->name; }
extern "C" int ps_cuda_device_cc(const ps_cuda *c) { return c->cc; }

extern "C" void ps_cuda_set_tf32(ps_cuda *c, bool on) {
  if (c->tf32 != on) ps_cuda_conv_plans_free(c); /* plans were chosen under the other math mode */
  c->tf32 = on;
  /* pedantic: no TF32, no reduced-precision reductions inside cuBLAS */
  cublasSetMathMode(c->blas, on ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_PEDANTIC_MATH);
}
extern "C" bool ps_cuda_get_tf32(const ps_cuda *c) { return c->tf32; }

/* ---- allocator ---- */
static size_t round_size(size_t b) {
  if (b == 0) b = 1;
  if (b < ((size_t)1 << 20)) return (b + 511) & ~(size_t)511;
  const size_t g = (size_t)2 << 20;
  return (b + g - 1) / g * g;
}

static size_t live_hash(const void *p, size_t cap) {
  uint64_t h = (uint64_t)(uintptr_t)p;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  return (size_t)(h & (cap - 1));
}

static bool live_grow(ps_cuda *c) {
  size_t cap = c->live_cap ? c->live_cap * 2 : 256;
  ps_cuda_live *t = (ps_cuda_live *)calloc(cap, sizeof *t);
  if (!t) return false;
  for (size_t i = 0; i < c->live_cap; i++)
    if (c->live[i].p) {
      size_t j = live_hash(c->live[i].p, cap);
      while (t[j].p) j = (j + 1) & (cap - 1);
      t[j] = c->live[i];
    }
  free(c->live);
  c->live = t;
  c->live_cap = cap;
  return true;
}

static bool live_put(ps_cuda *c, void *p, size_t size) {
  if ((c->live_n + 1) * 2 > c->live_cap && !live_grow(c)) return false;
  size_t j = live_hash(p, c->live_cap);
  while (c->live[j].p) j = (j + 1) & (c->live_cap - 1);
  c->live[j].p = p;
  c->live[j].size = size;
  c->live_n++;
  return true;
}

/* remove p; returns its size or 0 when p is not live. Backward-shift deletion keeps probes intact. */
static size_t live_take(ps_cuda *c, void *p) {
  if (!c->live_cap) return 0;
  const size_t m = c->live_cap - 1;
  size_t j = live_hash(p, c->live_cap);
  while (c->live[j].p && c->live[j].p != p) j = (j + 1) & m;
  if (!c->live[j].p) return 0;
  size_t size = c->live[j].size;
  c->live[j].p = NULL;
  c->live_n--;
  for (size_t k = (j + 1) & m; c->live[k].p; k = (k + 1) & m) {
    size_t h = live_hash(c->live[k].p, c->live_cap);
    /* move k into the hole j when its home h is not in (j, k] cyclically */
    bool between = j <= k ? (h > j && h <= k) : (h > j || h <= k);
    if (!between) {
      c->live[j] = c->live[k];
      c->live[k].p = NULL;
      j = k;
    }
  }
  return size;
}

static ps_cuda_bin *bin_for(ps_cuda *c, size_t size, bool create) {
  for (int i = 0; i < c->nbins; i++)
    if (c->bins[i].size == size) return &c->bins[i];
  if (!create) return NULL;
  if (c->nbins == c->capbins) {
    int cap = c->capbins ? 2 * c->capbins : 32;
    ps_cuda_bin *b = (ps_cuda_bin *)realloc(c->bins, (size_t)cap * sizeof *b);
    if (!b) return NULL;
    c->bins = b;
    c->capbins = cap;
  }
  ps_cuda_bin *b = &c->bins[c->nbins++];
  memset(b, 0, sizeof *b);
  b->size = size;
  return b;
}

extern "C" void *ps_cuda_alloc(ps_cuda *c, size_t bytes) {
  if (c->fail_after >= 0 && c->fail_after-- == 0) {
    ps_error(PS_ERR_NOMEM, "cuda: allocation of %zu bytes failed (injected)", bytes);
    return NULL;
  }
  const size_t size = round_size(bytes);
  void *p = NULL;
  ps_cuda_bin *b = bin_for(c, size, false);
  if (b && b->n > 0) p = b->ptrs[--b->n];
  if (!p) {
    cudaError_t e = cudaMalloc(&p, size);
    if (e != cudaSuccess) { /* give the cached blocks back and try once more */
      cudaGetLastError();
      cudaStreamSynchronize(c->stream);
      ps_cuda_trim(c);
      e = cudaMalloc(&p, size);
    }
    if (e != cudaSuccess) {
      cudaGetLastError();
      ps_error(PS_ERR_NOMEM, "cuda: cannot allocate %zu bytes on %s (%zu held, %zu live): %s", size, c->name, c->held,
               c->live_bytes, cudaGetErrorString(e));
      return NULL;
    }
    c->mallocs++;
    c->held += size;
  }
  if (!live_put(c, p, size)) {
    /* keep the block cached rather than leak it */
    ps_cuda_bin *bb = bin_for(c, size, true);
    if (bb && bb->n < bb->cap) bb->ptrs[bb->n++] = p;
    ps_error(PS_ERR_NOMEM, "cuda: out of host memory for the allocator table");
    return NULL;
  }
  c->live_bytes += size;
  if (c->live_bytes > c->peak_live) c->peak_live = c->live_bytes;
  return p;
}

extern "C" void ps_cuda_release(ps_cuda *c, void *p) {
  if (!c || !p) return;
  size_t size = live_take(c, p);
  if (!size) return; /* not ours: ignore rather than corrupt the cache */
  c->live_bytes -= size;
  ps_cuda_bin *b = bin_for(c, size, true);
  if (b && b->n == b->cap) {
    int cap = b->cap ? 2 * b->cap : 8;
    void **q = (void **)realloc(b->ptrs, (size_t)cap * sizeof *q);
    if (q) {
      b->ptrs = q;
      b->cap = cap;
    }
  }
  if (b && b->n < b->cap) b->ptrs[b->n++] = p;
  else { /* no host memory to cache it: hand it back (stream-ordered free) */
    cudaFreeAsync(p, c->stream);
    c->held -= size;
  }
}

extern "C" void ps_cuda_trim(ps_cuda *c) {
  for (int i = 0; i < c->nbins; i++) {
    for (int k = 0; k < c->bins[i].n; k++) {
      cudaFree(c->bins[i].ptrs[k]);
      c->held -= c->bins[i].size;
    }
    c->bins[i].n = 0;
    free(c->bins[i].ptrs);
    c->bins[i].ptrs = NULL;
    c->bins[i].cap = 0;
  }
}

extern "C" void ps_cuda_mem_stats(const ps_cuda *c, size_t *mallocs, size_t *held, size_t *peak_live) {
  if (mallocs) *mallocs = c->mallocs;
  if (held) *held = c->held + c->ws_size;
  if (peak_live) *peak_live = c->peak_live;
}
extern "C" void ps_cuda_mem_reset_peak(ps_cuda *c) { c->peak_live = c->live_bytes; }
extern "C" void ps_cuda_fail_alloc_after(ps_cuda *c, long n) { c->fail_after = n; }

/* ---- copies ---- */
extern "C" ps_status ps_cuda_memset0(ps_cuda *c, void *dst, size_t bytes) {
  if (!bytes) return PS_OK;
  PS_CUDA_TRY(cudaMemsetAsync(dst, 0, bytes, c->stream), "memset");
  return PS_OK;
}
extern "C" ps_status ps_cuda_h2d(ps_cuda *c, void *dst, const void *src, size_t bytes) {
  if (!bytes) return PS_OK;
  /* pageable host memory: the copy is staged before the call returns, so src may be reused */
  PS_CUDA_TRY(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, c->stream), "copy to device");
  return PS_OK;
}
extern "C" ps_status ps_cuda_d2h(ps_cuda *c, void *dst, const void *src, size_t bytes) {
  if (!bytes) return PS_OK;
  PS_CUDA_TRY(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, c->stream), "copy to host");
  PS_CUDA_TRY(cudaStreamSynchronize(c->stream), "copy to host (kernel error before it?)");
  return PS_OK;
}
extern "C" ps_status ps_cuda_d2d(ps_cuda *c, void *dst, const void *src, size_t bytes) {
  if (!bytes || dst == src) return PS_OK;
  PS_CUDA_TRY(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, c->stream), "device copy");
  return PS_OK;
}
extern "C" ps_status ps_cuda_sync(ps_cuda *c) {
  PS_CUDA_TRY(cudaStreamSynchronize(c->stream), "stream");
  return ps_cuda_check_launch("stream");
}

/* ---- GEMM: row-major C = A B is column-major C^T = B^T A^T ---- */
extern "C" ps_status ps_cuda_sgemm(ps_cuda *c, bool trans_a, bool trans_b, int m, int n, int k, float alpha,
                                   const float *a, int lda, const float *b, int ldb, float beta, float *cm, int ldc) {
  if (m == 0 || n == 0) return PS_OK;
  if (k == 0) { /* cuBLAS would leave C untouched; BLAS semantics: C = beta C */
    if (beta == 0.0f) {
      for (int r = 0; r < m; r++) PS_CUDA_TRY(cudaMemsetAsync(cm + (size_t)r * ldc, 0, (size_t)n * 4, c->stream), "gemm");
      return PS_OK;
    }
    if (beta == 1.0f) return PS_OK;
  }
  cublasStatus_t e = cublasSgemm(c->blas, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, n, m,
                                 k, &alpha, b, ldb, a, lda, &beta, cm, ldc);
  return e == CUBLAS_STATUS_SUCCESS ? PS_OK : ps_cublas_err(e, "sgemm");
}
