/* Trainable networks on top of the ops: optimisers over a parameter arena,
 * learning-rate schedules, models (one interface, ps_net, over the network
 * families) built from a JSON architecture, the proxy-network shrink function,
 * and HDF5 checkpoints. */
#ifndef PROXYSEG_NN_H
#define PROXYSEG_NN_H

#include "proxyseg/json.h"
#include "proxyseg/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- optimisers (PyTorch semantics) ----
 * kind "sgd":   hp momentum (0.99), nesterov (true), weight_decay (3e-5)  — nnU-Net's defaults
 * kind "adam":  hp beta1 (0.9), beta2 (0.999), eps (1e-8), weight_decay (0, L2 added to the grad)
 * kind "adamw": as adam, weight_decay (0.01) decoupled: p *= 1 - lr*wd
 * hp may be NULL. Unknown kind or bad hp → NULL with ps_last_error() set.
 * State buffers cover the whole arena (ps_params_numel floats each). */
typedef struct ps_optim ps_optim;
ps_optim *ps_optim_create(const char *kind, ps_params *p, const cJSON *hp);
/* One update with the gradients in the arena. A NaN/Inf gradient returns
 * PS_ERR_NONFINITE and leaves parameters and state untouched. */
ps_status ps_optim_step(ps_optim *o, float lr);
void ps_optim_free(ps_optim *o);
const char *ps_optim_kind(const ps_optim *o);
/* The resolved hyper-parameters (every default written out); owned by o. */
const cJSON *ps_optim_hparams(const ps_optim *o);
int64_t ps_optim_step_count(const ps_optim *o);
void ps_optim_set_step_count(ps_optim *o, int64_t steps);
/* State buffers for checkpoints: sgd has "momentum_buffer" (and a flag that it is
 * initialised, folded into the step count); adam/adamw have "exp_avg", "exp_avg_sq". */
int ps_optim_state_count(const ps_optim *o);
float *ps_optim_state(ps_optim *o, int i, const char **name);   /* [ps_params_numel] */
ps_params *ps_optim_params(const ps_optim *o);

/* Scale all gradients so their global L2 norm is at most max_norm (PyTorch's
 * clip_grad_norm_); returns the norm before clipping. A non-finite norm is
 * returned as is and nothing is scaled. max_norm <= 0: only measures. */
float ps_clip_grad_norm(ps_params *p, float max_norm);

/* ---- learning-rate schedules ----
 * cfg keys: kind "constant" | "poly" | "cosine" | "step" | "plateau" (default "poly"),
 *   power 0.9 (poly), min_lr 0 (cosine floor, plateau floor), gamma 0.1 and
 *   step_size 30 (step), factor 0.1, patience 10, mode "min"|"max", threshold 1e-4 (plateau,
 *   relative), warmup_epochs 0 (linear warm-up from lr0/(W+1) to lr0 over W epochs; the
 *   main schedule then runs over the remaining max_epochs - W epochs). */
typedef struct ps_sched ps_sched;
ps_status ps_sched_create(const cJSON *cfg, double lr0, int max_epochs, ps_sched **out);
void ps_sched_free(ps_sched *s);
double ps_lr_at(ps_sched *s, int epoch);
/* Report a validation metric once per epoch (plateau reduces on stagnation; others ignore). */
void ps_lr_observe(ps_sched *s, double metric);
/* Resolved config plus the plateau state, for checkpoints (caller frees), and its reload. */
cJSON *ps_sched_state(const ps_sched *s);
ps_status ps_sched_load_state(ps_sched *s, const cJSON *state);

/* ---- models ----
 * A ps_net is a network of any family behind one interface: build from an
 * arch JSON, forward, loss, parameters, resolved arch JSON, MACs. The arch's
 * "family" picks it: "unet" (the default) is described below, "cells" (NAS
 * cell networks) after it.
 * ---- the U-Net family ----
 * arch keys and defaults:
 *   stages 4, base_features 16, feature_multiplier 2, max_features 320,
 *   features [..] (per stage; default min(base*mult^s, max)),
 *   convs_per_stage_encoder 2 (int or per-stage list), convs_per_stage_decoder 2
 *   (int or list of stages-1, index k = decoder at stage k's resolution),
 *   kernel_sizes 3 (int, per-stage list of ints or of [kd,kh,kw]),
 *   strides (per stage: 1 then 2; int or [sd,sh,sw] per stage),
 *   norm "instance"|"batch"|"none", activation "leaky_relu"|"relu", leaky_slope 0.01,
 *   conv_bias true, norm_eps 1e-5, bn_momentum 0.1,
 *   downsample "maxpool"|"strided_conv" (strided: the first conv of the stage strides),
 *   upsample "transposed_conv"|"trilinear_conv" (trilinear resize, then a 1³ conv),
 *   residual false (stage = convs with a shortcut added before the last activation),
 *   deep_supervision false.
 * Parameter names (PyTorch state_dict-like): enc{s}.conv{j}.weight/bias,
 * enc{s}.norm{j}.weight/bias, enc{s}.skip.weight (residual), dec{k}.up.weight/bias,
 * dec{k}.conv{j}..., dec{k}.norm{j}..., dec{k}.skip.weight, head{k}.weight/bias.
 * Batch-norm running stats live in a second arena (ps_net_buffers):
 * {enc,dec}.norm{j}.running_mean/running_var. */
typedef struct ps_net ps_net;
/* Fill every default in (strides/kernels as [3]-lists, feature and conv lists). Caller frees. */
ps_status ps_arch_resolve(const cJSON *arch, cJSON **out);
ps_status ps_net_create(const cJSON *arch, int in_channels, int n_classes, uint64_t seed, ps_net **out);
void ps_net_free(ps_net *n);
const char *ps_net_family(const ps_net *n);   /* "unet", ... */
const cJSON *ps_net_arch_resolved(const ps_net *n);
ps_params *ps_net_params(ps_net *n);
ps_params *ps_net_buffers(ps_net *n);   /* running stats (no grads); may hold 0 tensors */
/* Architecture parameters of a search super-network (NULL for fixed networks):
 * trained by their own optimiser, stored in checkpoints under /arch_params. */
ps_params *ps_net_arch_params(ps_net *n);
int ps_net_in_channels(const ps_net *n);
int ps_net_n_classes(const ps_net *n);
int ps_net_stages(const ps_net *n);
/* Input D/H/W must be multiples of the product of strides along that axis (0=D,1=H,2=W). */
int ps_net_patch_divisor(const ps_net *n, int axis);
/* x [N, Cin, D, H, W] → outs[0] [N, n_classes, D, H, W]; with deep supervision also
 * outs[i] at 1/prod(strides[1..i]) resolution. outs must hold ps_net_max_outputs(). */
int ps_net_max_outputs(const ps_net *n);
ps_status ps_net_forward(ps_net *n, ps_tape *t, ps_tensor *x, bool training, ps_tensor **outs, int *n_outs);
/* Deep-supervision weights (nnU-Net: 1/2^i, lowest resolution 0 when more than one
 * output, normalised to sum 1) into w[n_outs]. */
void ps_net_ds_weights(int n_outs, double *w);
/* labels [N, D, H, W] at full resolution; lower outputs get nearest-downsampled
 * labels (PyTorch's 'nearest': src = floor(dst * in/out)). lp NULL: defaults.
 * Returns the scalar loss, or NULL with the error set. */
ps_tensor *ps_net_loss(ps_net *n, ps_tape *t, ps_tensor **outs, int n_outs, const uint8_t *labels,
                       const ps_loss_params *lp);
/* Multiply-accumulate count of one forward pass for an input of size d,h,w per sample
 * (convs and transposed convs only); FLOPs = 2 * MACs. */
double ps_net_conv_macs(const ps_net *n, int64_t d, int64_t h, int64_t w);

/* ---- the "cells" family: SCNAS (Kim et al., MICCAI 2019) cell networks ----
 * arch keys and defaults: family "cells", stem_features 16 (width at full
 * resolution; level l has stem*2^l), levels 3 (down/up-samplings: 4*levels
 * cells, 12 for 3), nodes 4 (intermediate nodes per cell), keep 2 (incoming
 * edges per node a derived genotype keeps), leaky_slope 0.01, norm_eps 1e-5,
 * sampling "pair" (Algorithm 1) | "all" (every op on every edge, DARTS-style;
 * for comparisons), genotype (absent: the search super-network; present:
 * the derived network). Cells: reduction, (encoder_normal, reduction) x
 * (levels-1), an inter cell (encoder_normal structure), (expansion,
 * decoder_normal) x levels; each decoder cell's previous-cell input is summed
 * with the encoder output at its level. A cell: inputs 0, 1 (the two previous
 * cells' outputs, LeakyReLU-Conv1³-IN to the cell width; strided from a finer
 * level, trilinear-upsampled first from a coarser one), `nodes` nodes, node j
 * summing ops on edges from inputs 0..j+1 (k+2 = node k), output the nodes'
 * concatenation brought to the width by LeakyReLU-Conv1³-IN. Reduction cells'
 * edges from the inputs stride 2 and double the width; expansion cells
 * upsample their inputs and halve it. Ops (LeakyReLU-Conv-InstanceNorm):
 * conv_3x3x3, dil_sep_conv_3x3x3_r{2,3,4} (depthwise dilated 3³ + pointwise),
 * max_pool_3x3x3, avg_pool_3x3x3 (stride 1 or 2, pad 1), identity (stride 2:
 * LeakyReLU-Conv1³/2-IN), zero. Genotype: {"reduction": [[{"from": i, "op":
 * name}, ...] per node], "encoder_normal": ..., "expansion": ...,
 * "decoder_normal": ...}. Super-network arch params: alpha.<cell type>
 * [edges, 8] (ops in the order above), shared by all cells of a type. */
/* Temperature and RNG of a super-network's training forwards: per cell type
 * and edge z = softmax((alpha + Gumbel)/tau), a pair {o1, o2} drawn with
 * q = (z_o1 + z_o2)/7, only those two ops computed, weighted z_o/(z_o1+z_o2)
 * (gradients reach alpha through these weights). rng NULL, or an evaluation
 * forward (training false): no noise, the two largest alpha. rng is borrowed. */
ps_status ps_net_nas_set_sampling(ps_net *n, double tau, ps_rng *rng);
/* The derived architecture: the search arch with a genotype in place of
 * sampling. Rule (DARTS): per node keep the `keep` incoming edges whose best
 * non-zero op has the largest softmax(alpha) weight; each kept edge gets that
 * op (argmax over the ops except zero). Caller frees. */
ps_status ps_net_nas_genotype(ps_net *n, cJSON **out);
/* Algorithm 1's pieces, exposed for tests: z[n] = softmax((alpha+eps)/tau) with
 * eps ~ Gumbel(0,1) from rng (rng NULL: eps = 0; eps[n] out may be NULL); the
 * pair probabilities q[n(n-1)/2] in order (0,1), (0,2), ..., (n-2,n-1); one draw. */
void ps_nas_gumbel_softmax(const float *alpha, int n, double tau, ps_rng *rng, double *eps, double *z);
void ps_nas_pair_probs(const double *z, int n, double *q);
void ps_nas_sample_pair(const double *z, int n, ps_rng *rng, int *o1, int *o2);
/* Tape op: alpha [E, n] logits (grads accumulate), eps [E*n] host Gumbel noise or
 * NULL, sel [E*n] 0/1 the ops each edge computes, emit [n] the ops with an output
 * (all but zero) → [1, m]: for each edge in order, each selected emitting op o,
 * w_o = exp(s_o) / sum_{k selected} exp(s_k) with s = (alpha + eps)/tau. */
ps_tensor *ps_nas_edge_weights(ps_tape *t, ps_tensor *alpha, const double *eps, double tau, const uint8_t *sel,
                               const uint8_t *emit);

/* ---- proxy networks ----
 * The one function that turns an architecture (any family) into its proxy. U-Net: features (and
 * base/max_features) scaled by width_factor and rounded (at least 2 channels),
 * depth_reduction stages removed from the bottom (at least 1 stage left), every
 * per-stage list truncated consistently. Cells: stem_features scaled (at least 2),
 * depth_reduction levels removed (at least 1 left). Input may be unresolved; output is resolved. */
ps_status ps_arch_shrink(const cJSON *arch, double width_factor, int depth_reduction, cJSON **out);

/* ---- checkpoints (HDF5, layout documented in src/nn/checkpoint.c and benchmarks/README.md) ----
 * save: net params, buffers, arch; optim/state/rng optional (NULL). Atomic write. */
ps_status ps_checkpoint_save(const char *path, ps_net *net, ps_optim *opt, const cJSON *state,
                             const ps_rng *rng);
/* Rebuild the network from the stored arch and load its parameters (for prediction). */
ps_status ps_checkpoint_load_net(const char *path, ps_net **out);
/* Resume into existing objects (shapes must match): params + buffers; optimiser state
 * when opt != NULL; *state (caller frees) when state != NULL; rng when != NULL. */
ps_status ps_checkpoint_load(const char *path, ps_net *net, ps_optim *opt, cJSON **state, ps_rng *rng);

#ifdef __cplusplus
}
#endif
#endif
