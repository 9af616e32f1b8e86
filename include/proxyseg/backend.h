/* The backend layer: one vtable per device kind (buffers, copies, sync, and a
 * forward/backward kernel pair per op over plain arrays, shapes in comments).
 * src/nn records ops on the tape and calls kernels only through a backend, so
 * "cpu-ref" (plain loops, the oracle), "cpu" (OpenMP + OpenBLAS) and "cuda" are
 * interchangeable. Every pointer a kernel takes is memory of that backend
 * (host memory for the CPU backends) unless a comment says "host". */
#ifndef PROXYSEG_BACKEND_H
#define PROXYSEG_BACKEND_H

#include "proxyseg/core.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ps_backend ps_backend;

/* ---- op kinds: what supports() is asked about, and the profile's buckets ---- */
typedef enum {
  PS_OPK_CONV,            /* params: const ps_conv_geom * */
  PS_OPK_CONV_TRANSPOSED, /* params: const ps_conv_geom * (of the adjoint conv) */
  PS_OPK_NORM,            /* params: const ps_norm_geom * (act != NONE asks for the fused norm+activation) */
  PS_OPK_ACTIVATION,      /* params: NULL */
  PS_OPK_POOL,            /* params: const ps_pool_geom * */
  PS_OPK_UPSAMPLE,        /* params: NULL */
  PS_OPK_CONCAT,          /* copy_channels (concat, slice); params: NULL */
  PS_OPK_ELEMENTWISE,     /* add, mul, axpby, fill, weighted sum, dot; params: NULL */
  PS_OPK_SOFTMAX,         /* params: NULL */
  PS_OPK_GEMM,            /* linear, matmul; params: NULL */
  PS_OPK_LOSS,            /* params: const ps_loss_geom * */
  PS_OPK_OPTIMIZER,       /* optimiser step, grad norm, finite check; params: NULL */
  PS_OPK_OTHER,           /* profile bucket only */
  PS_OPK_COUNT
} ps_op_kind;
/* "conv", "conv_transposed", "norm", ... (the profile's JSON keys). */
const char *ps_op_kind_name(ps_op_kind k);

/* ---- geometries ---- */
/* A conv3d in PyTorch's sense: x [n, c, in...] * w [k, c/groups, ks...] -> y [n, k, out...].
 * out[] is given, not derived, so that a transposed conv (run as this conv's
 * backward-data, its input being this conv's output) with output_padding fits:
 * positions beyond what the kernel reaches simply receive nothing. */
typedef struct {
  int64_t n, c, k;      /* batch, input channels, output channels */
  int64_t in[3];        /* D, H, W of x */
  int64_t out[3];       /* D, H, W of y */
  int ks[3], stride[3], pad[3], dil[3];
  int groups;
  /* Floats between two samples of x (and dx), 0: c * in voxels (dense). Set, x
   * is a channel block of a bigger tensor (the decoder's concat); a backend
   * that cannot honour it says so in supports(). */
  int64_t x_nstride;
} ps_conv_geom;

/* Output size of a conv along one axis (may be <= 0 for an impossible shape). */
static inline int64_t ps_conv_out_size(int64_t in, int k, int s, int p, int d) {
  return (in + 2 * (int64_t)p - (int64_t)d * (k - 1) - 1) / s + 1;
}

typedef enum { PS_ACT_NONE, PS_ACT_RELU, PS_ACT_LEAKY_RELU, PS_ACT_SIGMOID, PS_ACT_TANH } ps_act;

/* Normalisation over groups of a [N, C, S] tensor: instance norm (per_sample):
 * N*C groups of one plane of S; batch norm: C groups of N planes (stride C*S).
 * act: an activation applied after the affine (fused norm+act; RELU or
 * LEAKY_RELU with slope > 0 only, so that its derivative is read from y). */
typedef struct {
  int64_t N, C, S;
  bool per_sample;
  ps_act act;
  float slope;
} ps_norm_geom;

/* Pooling of planes (N*C) [in D, H, W] -> [out D, H, W] (floor sizes, PyTorch's rules). */
typedef struct {
  int64_t planes, in[3], out[3];
  int k[3], s[3], p[3];
  bool count_include_pad;
} ps_pool_geom;

/* Losses on logits [N, C, S] and labels [N, S] (uint8 class ids, backend memory).
 * loss = wce * CE + wdice * (soft Dice loss). CE: weighted mean over voxels whose
 * label is not ignore_label (PyTorch's rule); Dice: 1 - mean over classes
 * (background optional) of (2 I + smooth) / (P + G + smooth), per sample then
 * averaged, or over the whole batch (dice_batch). wce = 0 or wdice = 0 skip that part. */
typedef struct {
  int64_t N, C, S;
  const float *class_weights;  /* backend [C] or NULL */
  int ignore_label;            /* -1: none */
  float smooth, wce, wdice;
  bool dice_batch, include_background;
} ps_loss_geom;

/* Optimisers over a flat arena, PyTorch's update rules. */
typedef enum { PS_OPT_SGD, PS_OPT_ADAM, PS_OPT_ADAMW } ps_opt_kind;
typedef struct {
  ps_opt_kind kind;
  float lr, weight_decay, momentum, beta1, beta2, eps;
  bool nesterov;
  int64_t step;   /* 1-based number of this step (Adam's bias correction; SGD: 1 initialises the buffer) */
} ps_opt_params;

/* ---- the vtable. Every kernel returns PS_OK or an error with ps_error set;
 * kernels may run asynchronously (CUDA): errors may surface at sync. `acc`
 * arguments: true adds into the destination (+=), false overwrites (=). ---- */
struct ps_backend {
  const char *name;       /* "cpu-ref", "cpu", "cuda" */
  void *ctx;              /* the backend's own state */
  bool host_memory;       /* buffers are plain host memory (the CPU backends) */

  /* Whether this backend runs op kind k with these parameters (see ps_op_kind). */
  bool (*supports)(ps_backend *be, ps_op_kind k, const void *params);

  /* ---- memory ---- */
  void *(*alloc)(ps_backend *be, size_t bytes);   /* 64-byte aligned; NULL + ps_error on failure */
  void (*free)(ps_backend *be, void *p);           /* NULL ok */
  ps_status (*memset0)(ps_backend *be, void *dst, size_t bytes);
  ps_status (*to_backend)(ps_backend *be, void *dst, const void *host_src, size_t bytes);
  ps_status (*to_host)(ps_backend *be, void *host_dst, const void *src, size_t bytes);  /* waits */
  ps_status (*copy)(ps_backend *be, void *dst, const void *src, size_t bytes);
  ps_status (*sync)(ps_backend *be);   /* waits for queued work; reports asynchronous errors */
  /* Test hook: the n-th next alloc fails (0: the next one; n < 0: never). */
  void (*fail_alloc_after)(ps_backend *be, long n);

  /* ---- convolution (geometry g) ---- */
  /* y [n, k, out] (+)= conv(x [n, c, in], w [k, c/groups, ks]) (+ b [k] when b != NULL) */
  ps_status (*conv_forward)(ps_backend *be, const ps_conv_geom *g, const float *x, const float *w, const float *b,
                            float *y, bool acc);
  /* dx [n, c, in] (+)= conv^T(dy [n, k, out], w); also the transposed conv's forward */
  ps_status (*conv_backward_data)(ps_backend *be, const ps_conv_geom *g, const float *dy, const float *w, float *dx,
                                  bool acc);
  /* dw [k, c/groups, ks] (+)= sum over n, out of dy (x) x */
  ps_status (*conv_backward_weight)(ps_backend *be, const ps_conv_geom *g, const float *x, const float *dy, float *dw,
                                    bool acc);
  /* Optional (NULL: the op runs bias_grad, conv_backward_weight and conv_forward):
   * a transposed conv's whole backward, g its adjoint conv (dy [n, c, in] is the
   * transposed conv's output gradient, x [n, k, out] its input): dx (+)= conv(dy, w),
   * dw (+)= conv_backward_weight(dy, x), db [c] (+)= sum of dy; any of dx, dw, db
   * may be NULL. Lets a backend read dy, the big tensor, once. */
  ps_status (*convt_backward)(ps_backend *be, const ps_conv_geom *g, const float *dy, const float *x, const float *w,
                              float *dx, bool dx_acc, float *dw, bool dw_acc, float *db, bool db_acc);
  /* y [N, K, S] += b [K] (bias of a transposed conv) */
  ps_status (*bias_add)(ps_backend *be, int64_t N, int64_t K, int64_t S, const float *b, float *y);
  /* db [K] (+)= sum over N, S of dy [N, K, S] */
  ps_status (*bias_grad)(ps_backend *be, int64_t N, int64_t K, int64_t S, const float *dy, float *db, bool acc);

  /* ---- GEMM, row-major as cblas: c [m, n] = alpha op(a) op(b) + beta c ---- */
  ps_status (*sgemm)(ps_backend *be, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                     const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc);

  /* ---- elementwise over len elements ---- */
  ps_status (*add)(ps_backend *be, const float *a, const float *b, float *y, int64_t len);         /* y = a + b */
  ps_status (*mul)(ps_backend *be, const float *a, const float *b, float *y, int64_t len, bool acc); /* y (+)= a*b */
  ps_status (*axpby)(ps_backend *be, float s, const float *x, float *y, int64_t len, bool acc);     /* y (+)= s*x */
  ps_status (*fill)(ps_backend *be, float v, float *y, int64_t len);
  /* y [len] = sum_i w[i] * xs[i][len]; w backend [n]; xs: host array of n backend pointers */
  ps_status (*weighted_sum)(ps_backend *be, int n, const float *const *xs, const float *w, float *y, int64_t len);
  /* out[0] (+)= <a, b> (double accumulation); out backend [1] */
  ps_status (*dot)(ps_backend *be, const float *a, const float *b, int64_t len, float *out, bool acc);

  /* ---- activations: y = act(x); dx (+)= dy * act'(.) read from x (leaky) or y (others) ---- */
  ps_status (*act_forward)(ps_backend *be, ps_act k, float slope, const float *x, float *y, int64_t len);
  ps_status (*act_backward)(ps_backend *be, ps_act k, float slope, const float *x, const float *y, const float *dy,
                            float *dx, int64_t len, bool acc);

  /* ---- normalisation (g as ps_norm_geom; G = groups = N*C or C) ---- */
  /* mean, rstd [G] of x [N, C, S]; var_out [G] (biased) may be NULL */
  ps_status (*norm_stats)(ps_backend *be, const ps_norm_geom *g, const float *x, float eps, float *mean, float *rstd,
                          float *var_out);
  /* y = act((x - mean) * rstd * gamma + beta); gamma, beta [C] or NULL */
  ps_status (*norm_apply)(ps_backend *be, const ps_norm_geom *g, const float *x, const float *mean, const float *rstd,
                          const float *gamma, const float *beta, float *y);
  /* norm_stats (no var_out) then norm_apply in one call, so that a backend
   * may take each group's statistics and output while its plane is in cache.
   * Optional: NULL, and the tape calls the two. */
  ps_status (*norm_forward)(ps_backend *be, const ps_norm_geom *g, const float *x, float eps, const float *gamma,
                            const float *beta, float *mean, float *rstd, float *y);
  /* Through the activation (when g->act != NONE: dy is gated by the sign of
   * the pre-activation, which a backend may read from y, the fused op's
   * output, or recompute from x, gamma and beta as norm_apply did) and the
   * norm. batch_stats=false: eval-mode batch norm, stats are constants
   * (dx = gamma * rstd * dy). dx, dgamma, dbeta may be NULL. */
  ps_status (*norm_backward)(ps_backend *be, const ps_norm_geom *g, const float *x, const float *mean,
                             const float *rstd, const float *gamma, const float *beta, const float *y, const float *dy,
                             bool batch_stats, float *dx, bool dx_acc, float *dgamma, bool dgamma_acc, float *dbeta,
                             bool dbeta_acc);
  /* running = (1 - m) running + m stat, var unbiased over `count` values; all [C] */
  ps_status (*bn_running_update)(ps_backend *be, int64_t C, int64_t count, float momentum, const float *mean,
                                 const float *var, float *running_mean, float *running_var);
  /* mean = running_mean, rstd = 1 / sqrt(running_var + eps); all [C] */
  ps_status (*bn_eval_stats)(ps_backend *be, int64_t C, const float *running_mean, const float *running_var,
                             float eps, float *mean, float *rstd);

  /* ---- pooling; argmax [planes * out vol] int32 index in the input plane ---- */
  ps_status (*maxpool_forward)(ps_backend *be, const ps_pool_geom *g, const float *x, float *y, int32_t *argmax);
  ps_status (*maxpool_backward)(ps_backend *be, const ps_pool_geom *g, const int32_t *argmax, const float *dy,
                                float *dx, bool acc);
  ps_status (*avgpool_forward)(ps_backend *be, const ps_pool_geom *g, const float *x, float *y);
  ps_status (*avgpool_backward)(ps_backend *be, const ps_pool_geom *g, const float *dy, float *dx, bool acc);

  /* ---- upsampling of planes [in D, H, W] -> [out D, H, W]: nearest (src =
   * floor(dst * in / out)) or trilinear (align_corners=false) ---- */
  ps_status (*upsample_forward)(ps_backend *be, bool trilinear, int64_t planes, const int64_t in[3],
                                const int64_t out[3], const float *x, float *y);
  ps_status (*upsample_backward)(ps_backend *be, bool trilinear, int64_t planes, const int64_t in[3],
                                 const int64_t out[3], const float *dy, float *dx, bool acc);

  /* ---- channel blocks (concat, slice, their backward):
   * dst[n, doff + j, s] (+)= src[n, soff + j, s], j < len, s < inner;
   * src has sc channels, dst has dc ---- */
  ps_status (*copy_channels)(ps_backend *be, int64_t N, int64_t inner, const float *src, int64_t sc, int64_t soff,
                             float *dst, int64_t dc, int64_t doff, int64_t len, bool acc);

  /* ---- softmax over dim 1 of [N, C, S] ---- */
  ps_status (*softmax_forward)(ps_backend *be, int64_t N, int64_t C, int64_t S, const float *x, float *y);
  ps_status (*softmax_backward)(ps_backend *be, int64_t N, int64_t C, int64_t S, const float *y, const float *dy,
                                float *dx, bool acc);

  /* ---- losses (geometry ps_loss_geom). The caller allocates a workspace of
   * loss_workspace_bytes() backend bytes (tape memory) that forward fills with
   * what backward needs, so backward allocates nothing. ---- */
  size_t (*loss_workspace_bytes)(ps_backend *be, const ps_loss_geom *g);
  /* loss backend [1]. A label >= C that is not ignore_label: PS_ERR_INVALID, naming the voxel. */
  ps_status (*loss_forward)(ps_backend *be, const ps_loss_geom *g, const float *logits, const uint8_t *labels,
                            float *loss, void *workspace);
  /* dlogits [N, C, S] (+)= up * dloss/dlogits; up backend [1] (the upstream gradient) or NULL for 1 */
  ps_status (*loss_backward)(ps_backend *be, const ps_loss_geom *g, const float *logits, const uint8_t *labels,
                             const void *workspace, const float *up, float *dlogits, bool acc);

  /* ---- optimiser and gradient utilities over a flat arena of n floats ---- */
  /* w, g, m (momentum buffer / exp_avg), v (exp_avg_sq) [n]; m, v NULL when the kind does not use them */
  ps_status (*optim_step)(ps_backend *be, const ps_opt_params *p, float *w, const float *g, float *m, float *v,
                          int64_t n);
  /* *norm (host) = L2 norm of g (NaN/Inf when a value is not finite) */
  ps_status (*grad_norm)(ps_backend *be, const float *g, int64_t n, float *norm);
  /* *finite (host) = every value of x is finite */
  ps_status (*all_finite)(ps_backend *be, const float *x, int64_t n, bool *finite);
};

/* ---- registry ----
 * The backend by name: "cpu-ref", "cpu" (always built) and "cuda" (PS_WITH_CUDA
 * builds with a visible GPU). Created on first use and kept for the process;
 * NULL with ps_error set when unknown or unavailable. NULL name: the default
 * (env PS_BACKEND when it names a host-memory backend, else "cpu": networks,
 * checkpoints and the trainer still reach parameters and batches through host
 * pointers, so a device backend is used by naming it on a tape). Thread-safe. */
ps_backend *ps_backend_get(const char *name);
bool ps_backend_available(const char *name);
ps_backend *ps_backend_default(void);
/* Names of the backends compiled in ("cpu-ref", "cpu"[, "cuda"]), NULL-terminated. */
const char *const *ps_backend_names(void);

/* Implemented by the CUDA library (src/backend/cuda) when PS_WITH_CUDA is on:
 * creates the CUDA backend on device 0, or returns an error (no GPU, no driver). */
ps_status ps_backend_cuda_create(ps_backend **out);

/* Convenience wrappers that check the kernel exists (NULL entry: PS_ERR_UNSUPPORTED). */
#define PS_BE_CALL(be, fn, ...) \
  ((be)->fn ? (be)->fn((be), __VA_ARGS__) : ps_error(PS_ERR_UNSUPPORTED, "backend %s: no kernel " #fn, (be)->name))

#ifdef __cplusplus
}
#endif
#endif
