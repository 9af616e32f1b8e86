/* Differentiable ops on the tape. Each takes the tape, computes the output
 * (a new tape tensor) with the tape's backend kernels, and records its
 * backward when grad is enabled. Inputs must live on the tape's backend. On error
 * they return NULL with ps_last_error() set (bad shapes, out of memory).
 * Layout: NCDHW for volumes, (N, F) for vectors. Weights follow PyTorch's
 * layouts so that tensors can be exchanged with it unchanged. */
#ifndef PROXYSEG_OPS_H
#define PROXYSEG_OPS_H

#include "proxyseg/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- convolution ---- */
typedef struct {
  int stride[3];          /* D, H, W */
  int pad[3];
  int dilation[3];
  int groups;             /* 1 = dense, Cin = depthwise */
  int output_padding[3];  /* transposed conv only */
} ps_conv_params;
/* Defaults: stride 1, pad 0, dilation 1, groups 1. */
ps_conv_params ps_conv_params_default(void);

/* x [N, Cin, D, H, W], w [Cout, Cin/groups, kd, kh, kw], b [Cout] or NULL */
ps_tensor *ps_conv3d(ps_tape *t, ps_tensor *x, ps_tensor *w, ps_tensor *b, const ps_conv_params *p);
/* x [N, Cin, D, H, W], w [Cin, Cout/groups, kd, kh, kw] (PyTorch's ConvTranspose3d), b [Cout] or NULL */
ps_tensor *ps_conv_transpose3d(ps_tape *t, ps_tensor *x, ps_tensor *w, ps_tensor *b, const ps_conv_params *p);
/* concat([conv_transpose3d(x, w, b, p), skip]) along dim 1 in one op (the U-Net
 * decoder): the same values and gradients, without the upsampled tensor on its
 * own. skip [N, Cs, D', H', W'] matches the transposed conv's output outside dim 1. */
ps_tensor *ps_conv_transpose3d_cat(ps_tape *t, ps_tensor *x, ps_tensor *w, ps_tensor *b, const ps_conv_params *p,
                                   ps_tensor *skip);

/* ---- normalisation ---- */
/* Per (n, c) over D*H*W; gamma/beta [C] or NULL (no affine). */
ps_tensor *ps_instance_norm(ps_tape *t, ps_tensor *x, ps_tensor *gamma, ps_tensor *beta, float eps);
/* Instance norm followed by an activation in one pass forward and one backward
 * (PS_ACT_RELU, or PS_ACT_LEAKY_RELU with slope > 0; other activations run as
 * a separate op). The same values as ps_instance_norm then the activation op. */
ps_tensor *ps_instance_norm_act(ps_tape *t, ps_tensor *x, ps_tensor *gamma, ps_tensor *beta, float eps, ps_act act,
                                float slope);
/* Per c over N*D*H*W in training (updates running stats with `momentum`, PyTorch's
 * convention), running stats in eval. running_mean/var: [C] caller-owned. */
ps_tensor *ps_batch_norm(ps_tape *t, ps_tensor *x, ps_tensor *gamma, ps_tensor *beta, float *running_mean,
                         float *running_var, float momentum, float eps, bool training);

/* ---- activations (elementwise) ---- */
ps_tensor *ps_relu(ps_tape *t, ps_tensor *x);
ps_tensor *ps_leaky_relu(ps_tape *t, ps_tensor *x, float slope);
ps_tensor *ps_sigmoid(ps_tape *t, ps_tensor *x);
ps_tensor *ps_tanh(ps_tape *t, ps_tensor *x);

/* ---- pooling and resampling ---- */
typedef struct { int kernel[3], stride[3], pad[3]; bool count_include_pad; } ps_pool_params;
ps_tensor *ps_max_pool3d(ps_tape *t, ps_tensor *x, const ps_pool_params *p);
ps_tensor *ps_avg_pool3d(ps_tape *t, ps_tensor *x, const ps_pool_params *p);
typedef enum { PS_UPSAMPLE_NEAREST, PS_UPSAMPLE_TRILINEAR } ps_upsample_mode;
/* Output size out[3] (D, H, W); trilinear uses align_corners=false (PyTorch's default). */
ps_tensor *ps_upsample3d(ps_tape *t, ps_tensor *x, const int64_t out[3], ps_upsample_mode mode);

/* ---- structure ---- */
/* Concatenate along dim 1 (channels); all other dims equal. */
ps_tensor *ps_concat(ps_tape *t, int n, ps_tensor *const *xs);
/* Slice [start, start+len) along dim 1. */
ps_tensor *ps_slice(ps_tape *t, ps_tensor *x, int64_t start, int64_t len);
ps_tensor *ps_add(ps_tape *t, ps_tensor *a, ps_tensor *b);
ps_tensor *ps_mul(ps_tape *t, ps_tensor *a, ps_tensor *b);     /* elementwise, same shape */
ps_tensor *ps_scale(ps_tape *t, ps_tensor *x, float s);
/* sum_i w[i] * xs[i]; w is a tensor of n scalars with gradients (NAS mixed ops). */
ps_tensor *ps_weighted_sum(ps_tape *t, int n, ps_tensor *const *xs, ps_tensor *w);
/* Softmax over dim 1 (channels of NCDHW, or features of (N, F)). */
ps_tensor *ps_softmax(ps_tape *t, ps_tensor *x);
/* x [N, In], w [Out, In], b [Out] or NULL → [N, Out] */
ps_tensor *ps_linear(ps_tape *t, ps_tensor *x, ps_tensor *w, ps_tensor *b);
/* a [M, K], b [K, N] → [M, N] */
ps_tensor *ps_matmul(ps_tape *t, ps_tensor *a, ps_tensor *b);

/* ---- losses (return a scalar tensor [1]) ----
 * logits [N, C, D, H, W]; labels [N, D, H, W] as uint8 class ids in memory of
 * the tape's backend (host memory for the CPU backends; ps_tape_upload).
 * class_weights: C floats or NULL; ignore_label: voxels with this label count
 * nowhere (-1: none). */
typedef struct {
  const float *class_weights;
  int ignore_label;
  float dice_smooth;        /* nnU-Net: 1e-5 */
  bool dice_batch;          /* one Dice over the whole batch (nnU-Net's batch_dice) */
  bool dice_include_background;
  float weight_ce, weight_dice; /* Dice+CE: weight_ce * CE + weight_dice * (soft Dice loss) */
} ps_loss_params;
ps_loss_params ps_loss_params_default(void);
/* Mean cross-entropy over non-ignored voxels (weighted mean when class weights are given, as PyTorch). */
ps_tensor *ps_cross_entropy(ps_tape *t, ps_tensor *logits, const uint8_t *labels, const ps_loss_params *p);
/* Soft Dice loss on softmax(logits): 1 - mean over classes of (2 I + s) / (P + G + s), i.e. a value in [0, 1]. */
ps_tensor *ps_soft_dice_loss(ps_tape *t, ps_tensor *logits, const uint8_t *labels, const ps_loss_params *p);
ps_tensor *ps_dice_ce_loss(ps_tape *t, ps_tensor *logits, const uint8_t *labels, const ps_loss_params *p);

#ifdef __cplusplus
}
#endif
#endif
