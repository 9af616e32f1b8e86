/* 3D convolution through cuDNN's legacy API (NCDHW, groups, dilation, stride):
 * forward, backward-data and backward-filter. One plan per (geometry, TF32 mode)
 * holds the descriptors and, per direction, the algorithm chosen the first time
 * that direction runs (cudnnFind*: measured, like PyTorch's cudnn.benchmark; or
 * env PS_CUDA_CONV_ALGO=heuristic for cuDNN's heuristics). The workspace is one
 * buffer of the context, grown when a plan needs more, so a step in steady state
 * allocates nothing. Bias: cudnnAddTensor in the conv forward; bias_add/bias_grad kernels
 * serve the transposed conv and the backward. */
#include "cuda_common.h"
#include <stdlib.h>
#include <string.h>

struct ps_conv_plan {
  ps_cuda_conv_geom g;
  bool tf32;
  cudnnTensorDescriptor_t xd, yd, bd;
  cudnnFilterDescriptor_t wd;
  cudnnConvolutionDescriptor_t cd;
  bool has_fwd, has_bwd_data, has_bwd_filter;
  cudnnConvolutionFwdAlgo_t fwd;
  cudnnConvolutionBwdDataAlgo_t bwd_data;
  cudnnConvolutionBwdFilterAlgo_t bwd_filter;
  size_t fwd_ws, bwd_data_ws, bwd_filter_ws;
};
typedef struct ps_conv_plan ps_conv_plan;

static void plan_destroy(ps_conv_plan *p) {
  if (p->xd) cudnnDestroyTensorDescriptor(p->xd);
  if (p->yd) cudnnDestroyTensorDescriptor(p->yd);
  if (p->bd) cudnnDestroyTensorDescriptor(p->bd);
  if (p->wd) cudnnDestroyFilterDescriptor(p->wd);
  if (p->cd) cudnnDestroyConvolutionDescriptor(p->cd);
  memset(p, 0, sizeof *p);
}

void ps_cuda_conv_plans_free(ps_cuda *c) {
  for (size_t i = 0; i < c->nplans; i++) plan_destroy(&c->plans[i]);
  free(c->plans);
  c->plans = NULL;
  c->nplans = 0;
}

extern "C" void ps_cuda_conv_stats(const ps_cuda *c, size_t *plans, size_t *workspace_bytes) {
  if (plans) *plans = c->nplans;
  if (workspace_bytes) *workspace_bytes = c->ws_size;
}

static bool fits_int(int64_t v) { return v >= 0 && v <= INT32_MAX; }

extern "C" bool ps_cuda_conv_supported(const ps_cuda_conv_geom *g) {
  if (g->n < 1 || g->c < 1 || g->k < 1 || g->groups < 1 || g->c % g->groups || g->k % g->groups) return false;
  if (!fits_int(g->n * g->c * g->in[0] * g->in[1] * g->in[2]) || !fits_int(g->n * g->k * g->out[0] * g->out[1] * g->out[2]))
    return false;
  for (int i = 0; i < 3; i++) {
    if (g->ks[i] < 1 || g->stride[i] < 1 || g->pad[i] < 0 || g->dil[i] < 1) return false;
    /* cuDNN derives the output size from the input: a transposed conv whose
     * output_padding reaches a stride step does not fit that rule */
    int64_t o = (g->in[i] + 2 * (int64_t)g->pad[i] - (int64_t)g->dil[i] * (g->ks[i] - 1) - 1) / g->stride[i] + 1;
    if (g->in[i] + 2 * (int64_t)g->pad[i] - (int64_t)g->dil[i] * (g->ks[i] - 1) - 1 < 0 || o != g->out[i]) return false;
  }
  return true;
}

static ps_status set_nd(cudnnTensorDescriptor_t d, int64_t n, int64_t c, const int64_t sp[3]) {
  int dim[5] = {(int)n, (int)c, (int)sp[0], (int)sp[1], (int)sp[2]};
  int str[5] = {dim[1] * dim[2] * dim[3] * dim[4], dim[2] * dim[3] * dim[4], dim[3] * dim[4], dim[4], 1};
  PS_CUDNN_TRY(cudnnSetTensorNdDescriptor(d, CUDNN_DATA_FLOAT, 5, dim, str), "tensor descriptor");
  return PS_OK;
}

static ps_status plan_init(ps_cuda *c, ps_conv_plan *p, const ps_cuda_conv_geom *g) {
  memset(p, 0, sizeof *p);
  p->g = *g;
  p->tf32 = c->tf32;
  PS_CUDNN_TRY(cudnnCreateTensorDescriptor(&p->xd), "descriptor");
  PS_CUDNN_TRY(cudnnCreateTensorDescriptor(&p->yd), "descriptor");
  PS_CUDNN_TRY(cudnnCreateTensorDescriptor(&p->bd), "descriptor");
  PS_CUDNN_TRY(cudnnCreateFilterDescriptor(&p->wd), "descriptor");
  PS_CUDNN_TRY(cudnnCreateConvolutionDescriptor(&p->cd), "descriptor");
  ps_status st;
  const int64_t one[3] = {1, 1, 1};
  if ((st = set_nd(p->xd, g->n, g->c, g->in)) || (st = set_nd(p->yd, g->n, g->k, g->out)) ||
      (st = set_nd(p->bd, 1, g->k, one)))
    return st;
  int wdim[5] = {(int)g->k, (int)(g->c / g->groups), g->ks[0], g->ks[1], g->ks[2]};
  PS_CUDNN_TRY(cudnnSetFilterNdDescriptor(p->wd, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, 5, wdim), "filter descriptor");
  PS_CUDNN_TRY(cudnnSetConvolutionNdDescriptor(p->cd, 3, g->pad, g->stride, g->dil, CUDNN_CROSS_CORRELATION,
                                               CUDNN_DATA_FLOAT),
               "convolution descriptor");
  PS_CUDNN_TRY(cudnnSetConvolutionGroupCount(p->cd, g->groups), "group count");
  /* FMA: strict FP32 (the comparison tests); DEFAULT lets cuDNN use TF32 tensor cores (PyTorch's default) */
  PS_CUDNN_TRY(cudnnSetConvolutionMathType(p->cd, c->tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH), "math type");
  int od[5];
  PS_CUDNN_TRY(cudnnGetConvolutionNdForwardOutputDim(p->cd, p->xd, p->wd, 5, od), "output size");
  if (od[0] != g->n || od[1] != g->k || od[2] != g->out[0] || od[3] != g->out[1] || od[4] != g->out[2])
    return ps_error(PS_ERR_UNSUPPORTED, "cuda conv: cuDNN's output %dx%dx%dx%dx%d differs from the geometry's", od[0],
                    od[1], od[2], od[3], od[4]);
  return PS_OK;
}

static bool geom_eq(const ps_cuda_conv_geom *a, const ps_cuda_conv_geom *b) {
  if (a->n != b->n || a->c != b->c || a->k != b->k || a->groups != b->groups) return false;
  for (int i = 0; i < 3; i++)
    if (a->in[i] != b->in[i] || a->out[i] != b->out[i] || a->ks[i] != b->ks[i] || a->stride[i] != b->stride[i] ||
        a->pad[i] != b->pad[i] || a->dil[i] != b->dil[i])
      return false;
  return true;
}

static ps_conv_plan *plan_get(ps_cuda *c, const ps_cuda_conv_geom *g, ps_status *st) {
  for (size_t i = 0; i < c->nplans; i++)
    if (c->plans[i].tf32 == c->tf32 && geom_eq(&c->plans[i].g, g)) return &c->plans[i];
  if (!ps_cuda_conv_supported(g)) {
    *st = ps_error(PS_ERR_UNSUPPORTED, "cuda conv: geometry not supported (in %lldx%lldx%lld, out %lldx%lldx%lld)",
                   (long long)g->in[0], (long long)g->in[1], (long long)g->in[2], (long long)g->out[0],
                   (long long)g->out[1], (long long)g->out[2]);
    return NULL;
  }
  ps_conv_plan *np = (ps_conv_plan *)realloc(c->plans, (c->nplans + 1) * sizeof *np);
  if (!np) {
    *st = ps_error(PS_ERR_NOMEM, "cuda conv: out of memory");
    return NULL;
  }
  c->plans = np;
  ps_conv_plan *p = &c->plans[c->nplans];
  if ((*st = plan_init(c, p, g)) != PS_OK) {
    plan_destroy(p);
    return NULL;
  }
  c->nplans++;
  return p;
}

/* largest workspace an algorithm may ask for: env PS_CUDA_WS_MB, else a quarter of free memory up to 4 GiB */
static size_t ws_limit(void) {
  const char *e = getenv("PS_CUDA_WS_MB");
  if (e && atol(e) > 0) return (size_t)atol(e) << 20;
  size_t fr = 0, tot = 0;
  if (cudaMemGetInfo(&fr, &tot) != cudaSuccess) {
    cudaGetLastError();
    return (size_t)256 << 20;
  }
  size_t l = fr / 4;
  return l > ((size_t)4 << 30) ? ((size_t)4 << 30) : l;
}
static bool use_heuristic(void) {
  const char *e = getenv("PS_CUDA_CONV_ALGO");
  return e && !strcmp(e, "heuristic");
}

static ps_status ws_ensure(ps_cuda *c, size_t bytes) {
  if (bytes <= c->ws_size) return PS_OK;
  /* the old buffer may still be read by queued kernels: cudaFree waits for the device */
  if (c->ws) cudaFree(c->ws);
  c->ws = NULL;
  c->ws_size = 0;
  PS_CUDA_TRY(cudaMalloc(&c->ws, bytes), "conv workspace");
  c->ws_size = bytes;
  return PS_OK;
}

/* pick the fastest successful result within the workspace limit (perf arrays are sorted by time) */
#define PICK(perf, n, lim, out_algo, out_ws)                                          \
  do {                                                                        \
    int k_ = -1;                                                              \
    for (int i_ = 0; i_ < (n); i_++)                                          \
      if ((perf)[i_].status == CUDNN_STATUS_SUCCESS && (perf)[i_].memory <= (lim)) { k_ = i_; break; } \
    if (k_ < 0) return ps_error(PS_ERR_UNSUPPORTED, "cuda conv: no cuDNN algorithm for this geometry"); \
    out_algo = (perf)[k_].algo;                                                 \
    out_ws = (perf)[k_].memory;                                                 \
  } while (0)

static ps_status choose_fwd(ps_cuda *c, ps_conv_plan *p) {
  cudnnConvolutionFwdAlgoPerf_t perf[16];
  int n = 0;
  const size_t lim = ws_limit();
  if (use_heuristic())
    PS_CUDNN_TRY(cudnnGetConvolutionForwardAlgorithm_v7(c->dnn, p->xd, p->wd, p->cd, p->yd, 16, &n, perf), "fwd algo");
  else
    PS_CUDNN_TRY(cudnnFindConvolutionForwardAlgorithm(c->dnn, p->xd, p->wd, p->cd, p->yd, 16, &n, perf), "find fwd algo");
  PICK(perf, n, lim, p->fwd, p->fwd_ws);
  p->has_fwd = true;
  return PS_OK;
}
static ps_status choose_bwd_data(ps_cuda *c, ps_conv_plan *p) {
  cudnnConvolutionBwdDataAlgoPerf_t perf[16];
  int n = 0;
  const size_t lim = ws_limit();
  if (use_heuristic())
    PS_CUDNN_TRY(cudnnGetConvolutionBackwardDataAlgorithm_v7(c->dnn, p->wd, p->yd, p->cd, p->xd, 16, &n, perf),
                 "bwd-data algo");
  else
    PS_CUDNN_TRY(cudnnFindConvolutionBackwardDataAlgorithm(c->dnn, p->wd, p->yd, p->cd, p->xd, 16, &n, perf),
                 "find bwd-data algo");
  PICK(perf, n, lim, p->bwd_data, p->bwd_data_ws);
  p->has_bwd_data = true;
  return PS_OK;
}
static ps_status choose_bwd_filter(ps_cuda *c, ps_conv_plan *p) {
  cudnnConvolutionBwdFilterAlgoPerf_t perf[16];
  int n = 0;
  const size_t lim = ws_limit();
  if (use_heuristic())
    PS_CUDNN_TRY(cudnnGetConvolutionBackwardFilterAlgorithm_v7(c->dnn, p->xd, p->yd, p->cd, p->wd, 16, &n, perf),
                 "bwd-filter algo");
  else
    PS_CUDNN_TRY(cudnnFindConvolutionBackwardFilterAlgorithm(c->dnn, p->xd, p->yd, p->cd, p->wd, 16, &n, perf),
                 "find bwd-filter algo");
  PICK(perf, n, lim, p->bwd_filter, p->bwd_filter_ws);
  p->has_bwd_filter = true;
  return PS_OK;
}

extern "C" ps_status ps_cuda_conv_forward(ps_cuda *c, const ps_cuda_conv_geom *g, const float *x, const float *w,
                                          const float *b, float *y, bool accumulate) {
  ps_status st = PS_OK;
  ps_conv_plan *p = plan_get(c, g, &st);
  if (!p) return st;
  if (!p->has_fwd && (st = choose_fwd(c, p))) return st;
  if ((st = ws_ensure(c, p->fwd_ws))) return st;
  const float one = 1.0f, beta = accumulate ? 1.0f : 0.0f;
  PS_CUDNN_TRY(cudnnConvolutionForward(c->dnn, &one, p->xd, x, p->wd, w, p->cd, p->fwd, c->ws, p->fwd_ws, &beta, p->yd, y),
               "convolution forward");
  if (b) PS_CUDNN_TRY(cudnnAddTensor(c->dnn, &one, p->bd, b, &one, p->yd, y), "bias");
  return PS_OK;
}

extern "C" ps_status ps_cuda_conv_backward_data(ps_cuda *c, const ps_cuda_conv_geom *g, const float *dy, const float *w,
                                                float *dx, bool accumulate) {
  ps_status st = PS_OK;
  ps_conv_plan *p = plan_get(c, g, &st);
  if (!p) return st;
  if (!p->has_bwd_data && (st = choose_bwd_data(c, p))) return st;
  if ((st = ws_ensure(c, p->bwd_data_ws))) return st;
  const float one = 1.0f, beta = accumulate ? 1.0f : 0.0f;
  PS_CUDNN_TRY(cudnnConvolutionBackwardData(c->dnn, &one, p->wd, w, p->yd, dy, p->cd, p->bwd_data, c->ws,
                                            p->bwd_data_ws, &beta, p->xd, dx),
               "convolution backward data");
  return PS_OK;
}

extern "C" ps_status ps_cuda_conv_backward_weight(ps_cuda *c, const ps_cuda_conv_geom *g, const float *x,
                                                  const float *dy, float *dw, bool accumulate) {
  ps_status st = PS_OK;
  ps_conv_plan *p = plan_get(c, g, &st);
  if (!p) return st;
  if (!p->has_bwd_filter && (st = choose_bwd_filter(c, p))) return st;
  if ((st = ws_ensure(c, p->bwd_filter_ws))) return st;
  const float one = 1.0f, beta = accumulate ? 1.0f : 0.0f;
  PS_CUDNN_TRY(cudnnConvolutionBackwardFilter(c->dnn, &one, p->xd, x, p->yd, dy, p->cd, p->bwd_filter, c->ws,
                                              p->bwd_filter_ws, &beta, p->wd, dw),
               "convolution backward filter");
  return PS_OK;
}

/* db[k] (+)= sum_{n, s} dy[n, k, s]: one block per channel, double accumulation, fixed order */
__global__ void bias_grad_kernel(const float *dy, float *db, int64_t N, int64_t K, int64_t S, bool acc) {
  const int64_t k = blockIdx.x;
  double s = 0;
  for (int64_t n = 0; n < N; n++) {
    const float *p = dy + (n * K + k) * S;
    for (int64_t i = threadIdx.x; i < S; i += blockDim.x) s += p[i];
  }
  __shared__ double sh[PS_CUDA_THREADS];
  sh[threadIdx.x] = s;
  __syncthreads();
  for (int w = blockDim.x / 2; w > 0; w >>= 1) {
    if ((int)threadIdx.x < w) sh[threadIdx.x] += sh[threadIdx.x + w];
    __syncthreads();
  }
  if (threadIdx.x == 0) db[k] = (acc ? db[k] : 0.0f) + (float)sh[0];
}

extern "C" ps_status ps_cuda_bias_grad(ps_cuda *c, int64_t N, int64_t K, int64_t S, const float *dy, float *db,
                                      bool accumulate) {
  if (K <= 0) return PS_OK;
  bias_grad_kernel<<<(unsigned)K, PS_CUDA_THREADS, 0, c->stream>>>(dy, db, N, K, S, accumulate);
  return ps_cuda_check_launch("bias gradient");
}

__global__ void bias_add_kernel(const float *b, float *y, int64_t K, int64_t S, int64_t n) {
  PS_CUDA_LOOP(i, n) y[i] += b[(i / S) % K];
}
extern "C" ps_status ps_cuda_bias_add(ps_cuda *c, int64_t N, int64_t K, int64_t S, const float *b, float *y) {
  const int64_t n = N * K * S;
  if (n <= 0) return PS_OK;
  bias_add_kernel<<<ps_cuda_grid(n), PS_CUDA_THREADS, 0, c->stream>>>(b, y, K, S, n);
  return ps_cuda_check_launch("bias add");
}
