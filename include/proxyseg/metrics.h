/* Segmentation metrics per class: Dice, HD95 (exact Euclidean distance
 * transform with anisotropic spacing), volumes and TP/FP/FN.
 * Conventions follow nnU-Net: Dice of a class absent from both prediction and
 * truth is NaN and excluded from means. HD95 is NaN when either mask is empty
 * (also excluded from means; the Dice already reports the miss). */
#ifndef PROXYSEG_METRICS_H
#define PROXYSEG_METRICS_H

#include "proxyseg/core.h"
#include "proxyseg/data.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  int64_t tp, fp, fn, tn, n_pred, n_ref;
  double dice;            /* 2TP / (2TP + FP + FN); NaN when n_pred = n_ref = 0 */
  double iou;             /* TP / (TP + FP + FN); NaN when n_pred = n_ref = 0 */
  double hd95;            /* mm; NaN when not computed or either mask is empty */
  double vol_pred_mm3, vol_ref_mm3;
} ps_class_metrics;

/* Metrics for classes[0..n-1] (class ids) of pred vs ref (same grid; spacing
 * from ref). hd95: also compute the HD95. out: n entries. */
ps_status ps_metrics_compute(const ps_labelmap *pred, const ps_labelmap *ref, const int *classes, int n,
                             bool hd95, ps_class_metrics *out);

/* Exact Euclidean distance transform (Felzenszwalb-Huttenlocher, separable):
 * dist[v] = distance in mm from voxel v to the nearest voxel with
 * feature[v] != 0 (0 on features; INFINITY when there is none), as
 * scipy.ndimage.distance_transform_edt(feature == 0, sampling=spacing).
 * shape (D, H, W), spacing (D, H, W) in mm; dist: D*H*W doubles. */
ps_status ps_edt(const uint8_t *feature, const int64_t shape[3], const double spacing[3], double *dist);

/* Surface voxels of mask (!= 0): mask voxels with a 6-neighbour outside the
 * mask or on the volume border (mask XOR its 6-connected erosion, border 0,
 * as MedPy). surf: D*H*W bytes, 1 on the surface. */
void ps_mask_surface(const uint8_t *mask, const int64_t shape[3], uint8_t *surf);

/* HD95 between binary masks a and b (!= 0): the 95th percentile (linear
 * interpolation, numpy's default) of the distances from a's surface voxels to
 * b's surface and from b's to a's, pooled (MedPy's hd95). NaN if either is empty. */
ps_status ps_hd95(const uint8_t *a, const uint8_t *b, const int64_t shape[3], const double spacing[3], double *out);

/* Percentile q in [0, 100] of x[0..n-1] (sorted in place), numpy 'linear'. */
double ps_percentile(double *x, size_t n, double q);

#ifdef __cplusplus
}
#endif
#endif
