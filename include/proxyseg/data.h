/* Shared data types: volumes (images, label maps) in memory and a
 * preprocessed training case. Memory order matches NIfTI's (x fastest), so the
 * array index [c][k][j][i] is [C][D][H][W] of the engine's NCDHW tensors. */
#ifndef PROXYSEG_DATA_H
#define PROXYSEG_DATA_H

#include "proxyseg/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The largest volume (channels x voxels) we allocate: 2^31 floats = 8 GiB. A
 * shape beyond it comes from a hostile header or an absurd target spacing;
 * it is refused as bad data (exit 3), never handed to calloc. */
#define PS_VOLUME_MAX_VOXELS ((int64_t)1 << 31)

typedef struct {
  int64_t c, d, h, w;    /* channels; D = NIfTI k (z), H = j (y), W = i (x) */
  double spacing[3];     /* mm along D, H, W */
  double affine[4][4];   /* voxel index (i, j, k, 1) = (W, H, D, 1) → world mm, RAS+ (NIfTI convention) */
  float *data;           /* c*d*h*w values, channel-major */
} ps_volume;

typedef struct {
  int64_t d, h, w;
  double spacing[3];
  double affine[4][4];
  uint8_t *data;         /* d*h*w class ids */
} ps_labelmap;

/* Allocate zeroed storage (spacing 1, identity affine); free with the matching _free. */
ps_status ps_volume_alloc(ps_volume *v, int64_t c, int64_t d, int64_t h, int64_t w);
void ps_volume_free(ps_volume *v);       /* frees data, zeroes the struct; NULL ok */
ps_status ps_labelmap_alloc(ps_labelmap *l, int64_t d, int64_t h, int64_t w);
void ps_labelmap_free(ps_labelmap *l);

/* A preprocessed case, as the trainer and the proxy-data scorers see it. */
typedef struct {
  char *id;              /* case identifier ("hippocampus_001") */
  ps_volume image;       /* normalised, resampled, cropped; C channels */
  ps_labelmap label;     /* same grid as image; d/h/w equal */
  /* foreground voxel indices (flat d*h*w) per class 1..n_classes-1, for oversampling */
  int64_t **fg_index;
  int64_t *fg_count;
  int n_classes;
} ps_case;

void ps_case_free(ps_case *c);           /* frees members; NULL ok */
/* Fill fg_index/fg_count from the label map (classes 1..n_classes-1). */
ps_status ps_case_index_foreground(ps_case *c, int n_classes);

#ifdef __cplusplus
}
#endif
#endif
