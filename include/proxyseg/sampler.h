/* Random training patches from preprocessed cases, with nnU-Net's foreground
 * oversampling, augmented through a ps_aug_policy. Deterministic for a seed,
 * whatever the thread count (each patch has its own derived seed). */
#ifndef PROXYSEG_SAMPLER_H
#define PROXYSEG_SAMPLER_H

#include "proxyseg/core.h"
#include "proxyseg/data.h"
#include "proxyseg/augment.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ps_sampler ps_sampler;

/* cases: the whole set (all with the same channel count, fg_index filled);
 * case_subset: indices into cases to draw from (NULL: all n_cases);
 * patch: (pd, ph, pw); fg_fraction: probability that a patch is forced to be
 * centred on a foreground voxel (nnU-Net: 0.33). Each forced patch picks a
 * random present class of its case, then a random voxel of that class;
 * other patches are uniform. Cases without foreground give uniform patches.
 * The cases are borrowed: keep them alive while the sampler lives. */
ps_sampler *ps_sampler_create(const ps_case *cases, int n_cases, const int *case_subset, int n_subset,
                              const int patch[3], int batch, double fg_fraction, uint64_t seed);
/* One batch: img [B, C, pd, ph, pw] float32, lab [B, pd, ph, pw] uint8 (NULL ok).
 * pol NULL: no augmentation. Spatial augmentation samples straight from the
 * whole case (no padding is pulled in except outside the volume: image 0,
 * label 0). OpenMP over the batch. */
ps_status ps_sampler_next(ps_sampler *s, const ps_aug_policy *pol, float *img, uint8_t *lab);
/* nnU-Net v2's deterministic variant: sample b of each batch is forced iff
 * b >= round(B * (1 - fg_fraction)) (B = 2, 0.33: the second patch always).
 * Off by default (each patch is forced with probability fg_fraction). */
void ps_sampler_set_oversample_last(ps_sampler *s, bool on);
int ps_sampler_channels(const ps_sampler *s);
/* Per-patch diagnostics of the last batch: which case, whether forced fg. */
int ps_sampler_last_case(const ps_sampler *s, int b);
bool ps_sampler_last_forced(const ps_sampler *s, int b);
void ps_sampler_free(ps_sampler *s);

#ifdef __cplusplus
}
#endif
#endif
