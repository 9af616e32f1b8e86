/* Private to the .cu files of the CUDA backend: the context's layout, launch
 * helpers and error mapping. Kernels use grid-stride loops so that one launch
 * shape serves any size. */
#ifndef PS_CUDA_COMMON_H
#define PS_CUDA_COMMON_H

#include "cuda_internal.h"
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#define PS_CUDA_THREADS 256

/* one free list per rounded block size */
typedef struct {
  size_t size;
  void **ptrs;
  int n, cap;
} ps_cuda_bin;

typedef struct {
  void *p;
  size_t size;
} ps_cuda_live;

struct ps_conv_plan;

struct ps_cuda {
  int dev, cc, sms;
  char name[256];
  cudaStream_t stream;
  cublasHandle_t blas;
  cudnnHandle_t dnn;
  bool tf32;
  /* allocator */
  ps_cuda_bin *bins;
  int nbins, capbins;
  ps_cuda_live *live;        /* open-addressed hash of live blocks: pointer -> rounded size */
  size_t live_cap, live_n;
  size_t mallocs, held, live_bytes, peak_live;
  long fail_after;
  /* conv */
  struct ps_conv_plan *plans;
  size_t nplans;
  void *ws;                  /* cuDNN workspace (grown, never shrunk within a run) */
  size_t ws_size;
  /* reduction scratch (device): grad norm, dot, finite check */
  double *red;               /* [PS_CUDA_RED_SLOTS] */
  int *flag;
};
#define PS_CUDA_RED_SLOTS 1024

/* grid size for n elements, capped (grid-stride loops cover the rest) */
static inline unsigned ps_cuda_grid(int64_t n) {
  int64_t b = (n + PS_CUDA_THREADS - 1) / PS_CUDA_THREADS;
  if (b < 1) b = 1;
  if (b > 65535 * 8) b = 65535 * 8;
  return (unsigned)b;
}

#define PS_CUDA_LOOP(i, n) \
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (int64_t)blockDim.x * gridDim.x)

/* sum over the block (blockDim.x a multiple of 32, <= 1024), in a fixed order;
 * the result is valid in thread 0. Every thread of the block must call it. */
__device__ __forceinline__ double ps_warp_sum(double v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  return v;
}
static __device__ double ps_block_sum(double v) {
  __shared__ double sh[32];
  const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
  v = ps_warp_sum(v);
  __syncthreads(); /* sh may still be read by the previous call */
  if (lane == 0) sh[wid] = v;
  __syncthreads();
  v = (int)threadIdx.x < (int)(blockDim.x >> 5) ? sh[lane] : 0.0;
  if (wid == 0) v = ps_warp_sum(v);
  return v;
}

ps_status ps_cuda_err(cudaError_t e, const char *what);
ps_status ps_cublas_err(cublasStatus_t e, const char *what);
ps_status ps_cudnn_err(cudnnStatus_t e, const char *what);

#define PS_CUDA_TRY(call, what)                         \
  do {                                                  \
    cudaError_t e_ = (call);                            \
    if (e_ != cudaSuccess) return ps_cuda_err(e_, what); \
  } while (0)
#define PS_CUDNN_TRY(call, what)                                  \
  do {                                                            \
    cudnnStatus_t e_ = (call);                                    \
    if (e_ != CUDNN_STATUS_SUCCESS) return ps_cudnn_err(e_, what); \
  } while (0)

/* free the conv plans (cuda_conv.cu) */
void ps_cuda_conv_plans_free(ps_cuda *c);

#endif
