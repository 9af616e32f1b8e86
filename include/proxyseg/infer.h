/* Sliding-window inference as nnU-Net does it: windows tiled with at least
 * the requested overlap, a Gaussian importance map (sigma = patch/8), zero
 * padding when the image is smaller than the patch, optional mirroring
 * test-time augmentation. The network is a callback (no engine dependency). */
#ifndef PROXYSEG_INFER_H
#define PROXYSEG_INFER_H

#include "proxyseg/core.h"
#include "proxyseg/data.h"

#ifdef __cplusplus
extern "C" {
#endif

/* patches [b, C, pd, ph, pw] -> probs [b, K, pd, ph, pw] (softmax outputs). */
typedef ps_status (*ps_predict_fn)(void *ud, const float *patches, int b, float *probs);

/* Window start positions along one axis (nnU-Net's compute_steps_for_sliding_window):
 * n = ceil((size - patch) / (patch * (1 - overlap))) + 1 steps spread evenly
 * over [0, size - patch]. size >= patch. Writes up to max_steps; returns n. */
int ps_sliding_steps(int64_t size, int patch, double overlap, int64_t *steps, int max_steps);

/* Gaussian importance map [pd, ph, pw]: sigma = patch/8 per axis, centred at
 * patch/2, max 1, zeros replaced by the smallest positive value. */
void ps_gaussian_importance(const int patch[3], float *w);

/* img [C, D, H, W] -> probs_out [K, D, H, W], the weighted average of window
 * predictions (weights: Gaussian or constant). mirror_tta: average over all 8
 * flip combinations of D, H, W. batch: windows per callback call. */
ps_status ps_sliding_window(const ps_volume *img, const int patch[3], int n_classes, double overlap,
                            bool gaussian, bool mirror_tta, int batch, ps_predict_fn fn, void *ud,
                            float *probs_out);
/* Same, mirroring only the axes in mirror_axes (bit 0: D, bit 1: H, bit 2: W;
 * 0: no TTA): all 2^n combinations of those axes are averaged. */
ps_status ps_sliding_window_axes(const ps_volume *img, const int patch[3], int n_classes, double overlap,
                                 bool gaussian, int mirror_axes, int batch, ps_predict_fn fn, void *ud,
                                 float *probs_out);

/* argmax over K of probs [K, D, H, W] into out (allocated here, spacing and
 * affine copied from ref when ref is not NULL). Ties: lowest class. */
ps_status ps_probs_argmax(const float *probs, int n_classes, int64_t d, int64_t h, int64_t w,
                          const ps_volume *ref, ps_labelmap *out);

#ifdef __cplusplus
}
#endif
#endif
