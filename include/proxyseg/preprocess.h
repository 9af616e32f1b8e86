/* Preprocessing like nnU-Net: reorient to RAS, crop to the nonzero region,
 * normalise per channel (CT: clip to foreground percentiles then z-score; other
 * modalities: z-score over the nonzero mask), resample to a target spacing.
 * Everything needed to map a prediction back to the input's geometry is kept
 * in per-case properties (JSON), and ps_preprocess_invert_labels does it.
 *
 * Order (as nnU-Net v2): reorient → crop → normalise → resample. Axis order of
 * every [3] array here is (D, H, W) = (k, j, i) = NIfTI (z, y, x), as in data.h.
 *
 * Resampling keeps the target spacing exact and centres the new grid on the
 * old one: new index n ↦ old index o = n·t/s + ((N_old−1) − (N_new−1)·t/s)/2,
 * with N_new = max(1, round(N_old·s/t)); samples outside the old grid take the
 * edge value (scipy map_coordinates mode='nearest'). Image interpolation order
 * 1 = trilinear, 3 = cubic convolution (Catmull-Rom / Keys a = −0.5, no
 * prefilter: interpolating, exact for quadratics); labels use nearest (order 0). */
#ifndef PROXYSEG_PREPROCESS_H
#define PROXYSEG_PREPROCESS_H

#include <cjson/cJSON.h>
#include "proxyseg/core.h"
#include "proxyseg/data.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PS_PLAN_MAX_CHANNELS 8

typedef enum { PS_NORM_ZSCORE = 0, PS_NORM_CT = 1, PS_NORM_NONE = 2 } ps_norm_scheme;

typedef struct {
  ps_norm_scheme scheme;
  bool nonzero_mask;     /* z-score statistics over image != 0 (zscore scheme) */
  double clip_lo, clip_hi, mean, std; /* CT: dataset-wide foreground statistics */
} ps_norm_params;

typedef struct {
  double target_spacing[3]; /* mm along D, H, W */
  int n_channels, n_classes;
  int interp_image;         /* 1 linear, 3 cubic (Catmull-Rom) */
  int interp_label;         /* 0 nearest (only choice) */
  bool crop_nonzero;
  ps_norm_params norm[PS_PLAN_MAX_CHANNELS];
} ps_plan;

/* Plan ⇄ JSON. JSON keys: "target_spacing" [D,H,W], "n_channels", "n_classes",
 * "interp_image", "interp_label", "crop_nonzero", "normalization": [{"scheme":
 * "zscore"|"CT"|"none", "nonzero_mask", "clip_lo", "clip_hi", "mean", "std"}].
 * A plan made by ps_plan_create also holds "cases": [{id, shape, spacing}] and
 * "median_spacing"; ps_plan_from_json ignores those. */
ps_status ps_plan_from_json(const cJSON *j, ps_plan *p);
cJSON *ps_plan_to_json(const ps_plan *p);

/* ---- geometry primitives (public for tests and the predictor) ---- */
/* Orientation of a volume's voxel axes: for each new (RAS) axis r = x, y, z,
 * the old voxel axis (0 = i/W, 1 = j/H, 2 = k/D) it comes from and whether it
 * is flipped. axes_code is the old orientation, e.g. "LPS". */
typedef struct { int src_axis[3]; int flip[3]; char axes_code[4]; } ps_orientation;
ps_status ps_orientation_of_affine(const double affine[4][4], ps_orientation *o);
/* Reorient in place to RAS (forward) or back from RAS to the original (inverse). */
ps_status ps_reorient_volume(ps_volume *v, const ps_orientation *o, bool inverse);
ps_status ps_reorient_labels(ps_labelmap *l, const ps_orientation *o, bool inverse);
/* Resample to new_shape (D,H,W) with the centred mapping above using the
 * per-axis step (old voxels per new voxel) given; affine and spacing updated.
 * order: 0 nearest, 1 linear, 3 cubic. */
ps_status ps_resample_volume(const ps_volume *in, const int64_t new_shape[3], const double step[3],
                             int order, ps_volume *out);
ps_status ps_resample_labels(const ps_labelmap *in, const int64_t new_shape[3], const double step[3],
                             ps_labelmap *out);
/* Shape and step for resampling from spacing `from` to spacing `to`. */
void ps_resample_geometry(const int64_t shape[3], const double from[3], const double to[3],
                          int64_t new_shape[3], double step[3]);
/* Bounding box of voxels where any channel is nonzero: lo inclusive, hi
 * exclusive, (D,H,W). An all-zero image gives the full box. */
void ps_nonzero_bbox(const ps_volume *v, int64_t lo[3], int64_t hi[3]);
ps_status ps_crop_volume(ps_volume *v, const int64_t lo[3], const int64_t hi[3]);
ps_status ps_crop_labels(ps_labelmap *l, const int64_t lo[3], const int64_t hi[3]);
/* Normalise channel c in place with p; mask (d*h*w, nullable) selects the
 * voxels for z-score statistics when p->nonzero_mask (outside set to 0). */
ps_status ps_normalize_channel(ps_volume *v, int64_t c, const ps_norm_params *p, const uint8_t *mask);
/* Percentile (0..100) of n values by linear interpolation (numpy default); sorts vals. */
double ps_percentile_sorted(const float *sorted, size_t n, double q);

/* ---- the pipeline ---- */
typedef struct ps_dataset ps_dataset;
/* Read every training case of d: median spacing → target spacing, CT
 * statistics over all cases' foreground voxels; overrides (nullable) are merged
 * last ("target_spacing", "interp_image", "normalization", ...). */
ps_status ps_plan_create(const ps_dataset *d, const cJSON *overrides, cJSON **plan);
/* Preprocess one case in place (img, lab on the new grid; lab nullable for
 * test images). case_props receives the geometry needed for inversion:
 * original shape/spacing/affine, orientation, crop box, resampled shape. */
ps_status ps_preprocess_case(const cJSON *plan, ps_volume *img, ps_labelmap *lab, cJSON **case_props);
/* Map a prediction on the preprocessed grid back to the original geometry
 * (uncrop, resample back with nearest, reorient back, original affine). */
ps_status ps_preprocess_invert_labels(const cJSON *case_props, const ps_labelmap *pred, ps_labelmap *out);

#ifdef __cplusplus
}
#endif
#endif
