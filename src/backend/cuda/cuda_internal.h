/* The CUDA backend's own API: a context (device, one stream, cuBLAS and cuDNN
 * handles, a caching device allocator, the per-shape conv plan cache) and the
 * kernels as plain functions over device pointers, shapes in comments. The
 * vtable of backend.h (cuda_backend.cu) is a thin layer over these; tests and
 * benchmarks may call them directly. All launches go to the context's stream;
 * nothing here synchronises except the explicit read-backs. */
#ifndef PS_CUDA_INTERNAL_H
#define PS_CUDA_INTERNAL_H

#include "proxyseg/core.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ps_cuda ps_cuda;

/* Number of visible CUDA devices; 0 when there is no driver, no GPU, or the
 * runtime cannot start (never an error: callers skip). */
int ps_cuda_device_count(void);
/* Context on device `dev` with its own stream and handles. */
ps_status ps_cuda_create(int dev, ps_cuda **out);
void ps_cuda_free(ps_cuda *c);
/* The card ("NVIDIA H100 80GB HBM3"), compute capability, SM count. */
const char *ps_cuda_device_name(const ps_cuda *c);
int ps_cuda_device_cc(const ps_cuda *c);
/* TF32 tensor cores for conv (cuDNN) and GEMM (cuBLAS). Default from env
 * PS_CUDA_TF32 (1 = on, as PyTorch's cudnn.allow_tf32 default; 0 = strict FP32
 * FMA math, which the comparison tests use). Changing it re-plans convs. */
void ps_cuda_set_tf32(ps_cuda *c, bool on);
bool ps_cuda_get_tf32(const ps_cuda *c);

/* ---- memory: a caching allocator. Freed blocks go to per-size free lists and
 * are reused by the next request of the same rounded size, so a training step
 * that repeats the previous step's allocations never calls cudaMalloc. ---- */
void *ps_cuda_alloc(ps_cuda *c, size_t bytes);          /* NULL + ps_error on failure */
void ps_cuda_release(ps_cuda *c, void *p);              /* back to the cache; NULL ok */
/* cudaMalloc calls so far, bytes held (live + cached), peak live bytes */
void ps_cuda_mem_stats(const ps_cuda *c, size_t *mallocs, size_t *held, size_t *peak_live);
void ps_cuda_mem_reset_peak(ps_cuda *c);
/* Return cached (not live) blocks to the driver. */
void ps_cuda_trim(ps_cuda *c);
/* Test hook: the n-th next allocation fails (n < 0: never). */
void ps_cuda_fail_alloc_after(ps_cuda *c, long n);

ps_status ps_cuda_memset0(ps_cuda *c, void *dst, size_t bytes);
ps_status ps_cuda_h2d(ps_cuda *c, void *dst, const void *src, size_t bytes);  /* async on the stream */
ps_status ps_cuda_d2h(ps_cuda *c, void *dst, const void *src, size_t bytes);  /* waits for the copy */
ps_status ps_cuda_d2d(ps_cuda *c, void *dst, const void *src, size_t bytes);
/* Wait for all queued work; reports any asynchronous kernel error. */
ps_status ps_cuda_sync(ps_cuda *c);
/* The status of the last launch (cudaGetLastError) as ps_status with `what`. */
ps_status ps_cuda_check_launch(const char *what);

/* ---- convolution (cuDNN). Geometry as the CPU kernels' ps_conv_geom: x [n, c, in],
 * w [k, c/groups, ks], y [n, k, out]; out[] is given (a transposed conv's adjoint
 * geometry); supported when cuDNN's own output size for `in` equals `out`. ---- */
typedef struct {
  int64_t n, c, k;
  int64_t in[3], out[3];
  int ks[3], stride[3], pad[3], dil[3];
  int groups;
} ps_cuda_conv_geom;
bool ps_cuda_conv_supported(const ps_cuda_conv_geom *g);
/* y = conv(x, w) (+ b when b != NULL); accumulate: y += ... */
ps_status ps_cuda_conv_forward(ps_cuda *c, const ps_cuda_conv_geom *g, const float *x, const float *w, const float *b,
                               float *y, bool accumulate);
/* dx (+)= conv^T(dy, w) */
ps_status ps_cuda_conv_backward_data(ps_cuda *c, const ps_cuda_conv_geom *g, const float *dy, const float *w, float *dx,
                                     bool accumulate);
/* dw (+)= sum over n of dy (x) x */
ps_status ps_cuda_conv_backward_weight(ps_cuda *c, const ps_cuda_conv_geom *g, const float *x, const float *dy,
                                       float *dw, bool accumulate);
/* Bias of a conv or transposed conv over y [N, K, S]: y += b [K]; db [K] (+)= sum over N, S of dy */
ps_status ps_cuda_bias_add(ps_cuda *c, int64_t N, int64_t K, int64_t S, const float *b, float *y);
ps_status ps_cuda_bias_grad(ps_cuda *c, int64_t N, int64_t K, int64_t S, const float *dy, float *db, bool accumulate);
/* Plans made so far (one per shape and TF32 mode) and the workspace held. */
void ps_cuda_conv_stats(const ps_cuda *c, size_t *plans, size_t *workspace_bytes);

/* ---- GEMM (cuBLAS), row-major like cblas: C [m, n] = alpha op(A) op(B) + beta C ---- */
ps_status ps_cuda_sgemm(ps_cuda *c, bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float *a,
                        int lda, const float *b, int ldb, float beta, float *cm, int ldc);

/* ---- elementwise (len elements). acc: y += ... instead of y = ... ---- */
ps_status ps_cuda_add(ps_cuda *c, const float *a, const float *b, float *y, int64_t len);        /* y = a + b */
ps_status ps_cuda_mul(ps_cuda *c, const float *a, const float *b, float *y, int64_t len, bool acc); /* y (+)= a * b */
ps_status ps_cuda_axpby(ps_cuda *c, float s, const float *x, float *y, int64_t len, bool acc);  /* y (+)= s * x */
ps_status ps_cuda_fill(ps_cuda *c, float v, float *y, int64_t len);
/* y = sum_i w[i] * xs[i]; w: n host scalars (read from the device array wd when wd != NULL) */
ps_status ps_cuda_weighted_sum(ps_cuda *c, int n, const float *const *xs, const float *wd, float *y, int64_t len);
/* out[0] (+)= <a, b> (double accumulation, deterministic order) */
ps_status ps_cuda_dot(ps_cuda *c, const float *a, const float *b, int64_t len, float *out, bool acc);

typedef enum { PS_CUDA_RELU, PS_CUDA_LEAKY, PS_CUDA_SIGMOID, PS_CUDA_TANH } ps_cuda_act;
ps_status ps_cuda_act_forward(ps_cuda *c, ps_cuda_act k, float slope, const float *x, float *y, int64_t len);
/* dx (+)= dy * act'(.) from x (leaky) or y (relu, sigmoid, tanh) */
ps_status ps_cuda_act_backward(ps_cuda *c, ps_cuda_act k, float slope, const float *x, const float *y,
                               const float *dy, float *dx, int64_t len, bool acc);

/* ---- normalisation over "groups": instance norm: n*C groups of one plane of S;
 * batch norm: C groups of N planes (plane stride C*S). mean/rstd [groups] device. ---- */
typedef struct {
  int64_t N, C, S;
  bool per_sample;        /* instance norm */
} ps_cuda_norm_geom;
/* mean, rstd (device [G]); var_out (device [G], biased) may be NULL */
ps_status ps_cuda_norm_stats(ps_cuda *c, const ps_cuda_norm_geom *g, const float *x, float eps, float *mean,
                             float *rstd, float *var_out);
/* y = (x - mean) * rstd * gamma + beta (gamma, beta device [C] or NULL) */
ps_status ps_cuda_norm_apply(ps_cuda *c, const ps_cuda_norm_geom *g, const float *x, const float *mean,
                             const float *rstd, const float *gamma, const float *beta, float *y);
/* batch_stats=false: eval (dx = gamma*rstd*dy). dx, dgamma, dbeta may be NULL; *_acc accumulate. */
ps_status ps_cuda_norm_backward(ps_cuda *c, const ps_cuda_norm_geom *g, const float *x, const float *mean,
                                const float *rstd, const float *gamma, const float *dy, bool batch_stats, float *dx,
                                bool dx_acc, float *dgamma, bool dgamma_acc, float *dbeta, bool dbeta_acc);
/* running = (1-m) running + m stat (var unbiased with count), device arrays [C] */
ps_status ps_cuda_bn_running_update(ps_cuda *c, int64_t C, int64_t count, float momentum, const float *mean,
                                    const float *var, float *running_mean, float *running_var);
/* mean = running_mean, rstd = 1/sqrt(running_var + eps) */
ps_status ps_cuda_bn_eval_stats(ps_cuda *c, int64_t C, const float *running_mean, const float *running_var, float eps,
                                float *mean, float *rstd);

/* ---- pooling [planes = N*C] x [in D,H,W] -> [out D,H,W]; floor output sizes ---- */
typedef struct {
  int64_t planes, in[3], out[3];
  int k[3], s[3], p[3];
  bool count_include_pad;
} ps_cuda_pool_geom;
/* argmax [planes * out vol] int32 (index in the input plane) may be NULL */
ps_status ps_cuda_maxpool_forward(ps_cuda *c, const ps_cuda_pool_geom *g, const float *x, float *y, int32_t *argmax);
ps_status ps_cuda_maxpool_backward(ps_cuda *c, const ps_cuda_pool_geom *g, const int32_t *argmax, const float *dy,
                                   float *dx, bool acc);
ps_status ps_cuda_avgpool_forward(ps_cuda *c, const ps_cuda_pool_geom *g, const float *x, float *y);
ps_status ps_cuda_avgpool_backward(ps_cuda *c, const ps_cuda_pool_geom *g, const float *dy, float *dx, bool acc);

/* ---- upsampling (PyTorch's index rules; trilinear align_corners=false) ---- */
ps_status ps_cuda_upsample_forward(ps_cuda *c, bool trilinear, int64_t planes, const int64_t in[3],
                                   const int64_t out[3], const float *x, float *y);
ps_status ps_cuda_upsample_backward(ps_cuda *c, bool trilinear, int64_t planes, const int64_t in[3],
                                    const int64_t out[3], const float *dy, float *dx, bool acc);

/* ---- channel blocks: dst[n, doff + j, s] (+)= src[n, soff + j, s] for j < len,
 * s < inner; src has sc channels, dst dc (concat, slice and their backward) ---- */
ps_status ps_cuda_copy_channels(ps_cuda *c, int64_t N, int64_t inner, const float *src, int64_t sc, int64_t soff,
                                float *dst, int64_t dc, int64_t doff, int64_t len, bool acc);

/* ---- softmax over dim 1 of [N, C, S] ---- */
ps_status ps_cuda_softmax_forward(ps_cuda *c, int64_t N, int64_t C, int64_t S, const float *x, float *y);
ps_status ps_cuda_softmax_backward(ps_cuda *c, int64_t N, int64_t C, int64_t S, const float *y, const float *dy,
                                   float *dx, bool acc);

/* ---- losses on logits [N, C, S] and labels [N, S] (uint8, device) ----
 * CE (weighted mean over non-ignored voxels), soft Dice (per sample or batch,
 * background optional, smooth), weighted sum wce*CE + wdice*Dice. Forward
 * writes the loss (device float [1]) and keeps what backward needs in `st`
 * (device memory from ps_cuda_alloc, released by ps_cuda_loss_state_free). */
typedef struct {
  int64_t N, C, S;
  const float *class_weights;  /* device [C] or NULL */
  int ignore_label;
  float smooth, wce, wdice;
  bool dice_batch, include_background;
} ps_cuda_loss_geom;
typedef struct {
  float *lse;     /* [N*S] */
  float *coef;    /* [2 * groups * C] Dice backward coefficients A, B; [+0] ce_scale at the end */
  double *part;   /* partial sums */
  int32_t *bad;   /* [1] first label outside [0, C) that is not the ignore label, or -1 */
} ps_cuda_loss_state;
ps_status ps_cuda_loss_forward(ps_cuda *c, const ps_cuda_loss_geom *g, const float *logits, const uint8_t *labels,
                               float *loss, ps_cuda_loss_state *st, bool keep_for_backward);
/* dx (+)= up * dL/dlogits; up: device scalar (the loss's upstream gradient) or NULL for 1 */
ps_status ps_cuda_loss_backward(ps_cuda *c, const ps_cuda_loss_geom *g, const float *logits, const uint8_t *labels,
                                const ps_cuda_loss_state *st, const float *up, float *dx, bool acc);
void ps_cuda_loss_state_free(ps_cuda *c, ps_cuda_loss_state *st);
/* Checks every label is < C or the ignore label; *bad_voxel = first bad voxel or -1 (host). */
ps_status ps_cuda_labels_check(ps_cuda *c, const uint8_t *labels, int64_t n, int C, int ignore, int64_t *bad_voxel);

/* ---- optimisers over a flat arena (PyTorch's rules) ---- */
typedef enum { PS_CUDA_SGD, PS_CUDA_ADAM, PS_CUDA_ADAMW } ps_cuda_opt;
typedef struct {
  ps_cuda_opt kind;
  float lr, weight_decay, momentum, beta1, beta2, eps;
  bool nesterov;
  int64_t step;          /* 1-based step number (Adam bias correction; SGD: 1 initialises the buffer) */
} ps_cuda_opt_params;
/* w, g, m (momentum / exp_avg), v (exp_avg_sq) device [n]; m/v NULL when unused */
ps_status ps_cuda_optim_step(ps_cuda *c, const ps_cuda_opt_params *p, float *w, const float *g, float *m, float *v,
                             int64_t n);
/* L2 norm of g (host float; NaN/Inf when any value is not finite); one read-back */
ps_status ps_cuda_grad_norm(ps_cuda *c, const float *g, int64_t n, float *norm);
/* g *= s */
ps_status ps_cuda_scale_inplace(ps_cuda *c, float *g, int64_t n, float s);
/* true when every value is finite; one read-back */
ps_status ps_cuda_all_finite(ps_cuda *c, const float *x, int64_t n, bool *finite);

#ifdef __cplusplus
}
#endif
#endif
