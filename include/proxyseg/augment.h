/* Data augmentation for training patches: a plain policy struct the searches
 * set per batch (RL: probabilities and magnitudes; ASNG: which ops are on),
 * one combined spatial coordinate map per patch, then intensity ops.
 * Axes: D = z (slowest), H = y, W = x (fastest), as in data.h. */
#ifndef PROXYSEG_AUGMENT_H
#define PROXYSEG_AUGMENT_H

#include <cjson/cJSON.h>
#include "proxyseg/core.h"
#include "proxyseg/data.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One op: applied to a patch with probability p; its magnitude is drawn
 * uniformly from [lo, hi] per patch. */
typedef struct { double p, lo, hi; } ps_aug_op;

/* Units and meaning (JSON key = field name):
 *  rot_x, rot_y, rot_z  rotation angle in RADIANS about the x (W), y (H), z (D)
 *                       axis, in voxel space. One rotation decision per
 *                       sample, as batchgenerators' p_rot: a single uniform u,
 *                       axis k rotates when u < its p (so equal p's rotate all
 *                       three axes or none; any rotation happens with the
 *                       largest p), each with an angle from its own [lo, hi].
 *  scale                zoom factor s: content appears s times larger (s > 1
 *                       zooms in). nnU-Net: p 0.2, [0.7, 1.4]. Scale and gamma
 *                       are drawn as batchgenerators does: with probability
 *                       1/2 (if lo < 1) from [lo, 1], else from [max(lo,1), hi].
 *  elastic_alpha        elastic deformation in batchgenerators' units; its p
 *                       switches the op on. Per axis a displacement field
 *                       U(-1, 1) per voxel, Gaussian-smoothed with
 *                       elastic_sigma (voxels; zero outside the patch, 4-sigma
 *                       kernel; 0: no smoothing) and multiplied by alpha
 *                       (nnU-Net: alpha (0, 900), sigma (9, 13); at sigma 10
 *                       alpha 900 moves voxels by ~2.5 on average). elastic_sigma.p is unused.
 *  gamma                x -> x^g after rescaling each channel to [0, 1];
 *                       mean and std are restored (nnU-Net retain_stats).
 *  noise                additive Gaussian noise; the magnitude is the VARIANCE.
 *  smooth               Gaussian blur, sigma in voxels.
 *  sharpen              unsharp mask x + k (x - blur_1(x)), k = magnitude.
 *  contrast             (x - mean) * f + mean, clipped to the original range.
 *  brightness_mul       x * f.
 *  shift                x + b (additive brightness).
 *  mirror_p[3]          flip probability along D, H, W.
 * Spatial ops (rotations, scale, elastic, mirror) are combined into one map:
 * image trilinear, labels nearest, outside the volume image 0 and label 0. */
typedef struct {
  ps_aug_op rot_x, rot_y, rot_z, scale, elastic_alpha, elastic_sigma;
  ps_aug_op gamma, noise, smooth, sharpen, contrast, brightness_mul, shift;
  double mirror_p[3];
} ps_aug_policy;

/* All probabilities 0 (identity). */
ps_aug_policy ps_aug_policy_none(void);
/* nnU-Net-like defaults (rotation +-30 deg p 0.2 per axis, scale [0.7,1.4] p 0.2,
 * noise var [0,0.1] p 0.1, blur [0.5,1] p 0.2, brightness [0.75,1.25] p 0.15,
 * contrast [0.75,1.25] p 0.15, gamma [0.7,1.5] p 0.3, mirror 0.5 per axis;
 * elastic, sharpen and shift off). */
ps_aug_policy ps_aug_policy_default(void);
/* Overlay the config's "aug" object on *out (start from a default yourself).
 * Keys: "rot_x": {"p":..,"lo":..,"hi":..}, or flat "rot_x.p"; "mirror_p":
 * [pd,ph,pw] or "mirror_p.0".. / "mirror": {"p": x} (all axes). Unknown keys
 * and non-numbers are PS_ERR_INVALID; p outside [0,1] or lo > hi too. */
ps_status ps_aug_policy_from_json(const cJSON *aug, ps_aug_policy *out);
cJSON *ps_aug_policy_to_json(const ps_aug_policy *pol); /* nested form */
/* Names of the ops in ps_aug_policy order (13) and pointer access, for the
 * searches that iterate over ops. */
#define PS_AUG_N_OPS 13
extern const char *const ps_aug_op_names[PS_AUG_N_OPS];
ps_aug_op *ps_aug_policy_op(ps_aug_policy *pol, int i);

/* Parameters drawn for one patch. */
typedef struct {
  bool spatial;              /* any of rot/scale/elastic applied */
  double rot[3];             /* about x, y, z; radians (0 when not applied) */
  double scale;              /* 1 when not applied */
  bool elastic; double elastic_alpha, elastic_sigma; uint64_t elastic_seed;
  bool mirror[3];            /* D, H, W */
  bool gamma_on, noise_on, smooth_on, sharpen_on, contrast_on, mul_on, shift_on;
  double gamma, noise_var, smooth_sigma, sharpen, contrast, mul, shift;
  uint64_t noise_seed;
} ps_aug_draw;

/* Draw per-patch parameters (pol NULL: identity). Consumes r deterministically. */
void ps_aug_draw_sample(const ps_aug_policy *pol, ps_rng *r, ps_aug_draw *d);

/* Resample a patch from a volume through the drawn spatial map.
 * src_img [C, S0, S1, S2], src_lab [S0, S1, S2] (NULL: no labels);
 * centre: continuous voxel coordinates (D, H, W) of the patch centre in the
 * source, i.e. patch voxel i maps to centre + T(i - (patch-1)/2).
 * out_img [C, pd, ph, pw], out_lab [pd, ph, pw] (NULL ok). Single-threaded. */
void ps_aug_spatial(const float *src_img, const uint8_t *src_lab, int C, const int64_t shape[3],
                    const double centre[3], const ps_aug_draw *d, const int patch[3],
                    float *out_img, uint8_t *out_lab);

/* The elastic displacement field of a draw: field [3][pd][ph][pw] (voxels,
 * components along D, H, W), from d->elastic_seed, _alpha, _sigma. */
ps_status ps_aug_elastic_field(const ps_aug_draw *d, const int patch[3], float *field);

/* Intensity ops in place on one patch img [C, pd, ph, pw]. Single-threaded. */
ps_status ps_aug_intensity(float *img, int C, const int patch[3], const ps_aug_draw *d);

/* Separable Gaussian blur in place, sigma in voxels, on [n0, n1, n2];
 * tmp: n0*n1*n2 floats scratch. Borders replicate. */
void ps_aug_gaussian_blur(float *x, const int n[3], double sigma, float *tmp);

#ifdef __cplusplus
}
#endif
#endif
