/* Synthetic segmentation tasks in the MSD layout: the built-in demo dataset.
 * Torso-like volumes (air, an elliptic body with a fat shell, a spine) with an
 * organ (a smoothly deformed ellipsoid) among distractors of similar intensity
 * (blobs, vessels), CT-like (HU, Gaussian noise) or MR-like (arbitrary units,
 * Rician noise, multiplicative bias field), with per-case spacing, contrast and
 * noise, and ~15% atypical cases (tiny organ, low contrast, heavy blur).
 * Deterministic for a seed (ps_rng only), independent of thread count. */
#ifndef PROXYSEG_SYNTH_H
#define PROXYSEG_SYNTH_H

#include "proxyseg/core.h"
#include "proxyseg/data.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  int cases;              /* number of training cases (default 20) */
  int size;               /* in-plane voxel edge W = H (default 64); D = size·sx/sz */
  uint64_t seed;          /* default 1 */
  char site;              /* 'a' (default) or 'b': shifted intensities, more noise, less contrast */
  int classes;            /* 2: background + organ; 3: + lesion inside the organ */
  const char *modality;   /* "CT" (default) or "MR" ("MRI" accepted) */
  double atypical_fraction; /* default 0.15 */
} ps_synth_opts;

void ps_synth_opts_default(ps_synth_opts *o);

/* Per-case facts, also written to dataset.json under "synthetic". */
typedef struct {
  int atypical;           /* 0 typical; 1 tiny organ; 2 low contrast; 3 heavy blur + noise */
  double contrast;        /* organ − tissue mean intensity (before noise/bias) */
  double noise_sigma;
  double spacing[3];      /* D, H, W mm */
} ps_synth_case_info;

/* Generate case `index` in memory (1 channel; labels 0..classes-1). */
ps_status ps_synth_case(const ps_synth_opts *o, int index, ps_volume *img, ps_labelmap *lab, ps_synth_case_info *info);
/* 1 if case `index` is atypical (a seeded choice of round(fraction·cases) cases). */
int ps_synth_is_atypical(const ps_synth_opts *o, int index);
/* Write an MSD task: out_dir/dataset.json, imagesTr/synth_NNN.nii.gz (CT as
 * int16 HU, MR as float32), labelsTr/synth_NNN.nii.gz (uint8). */
ps_status ps_synth_generate(const ps_synth_opts *o, const char *out_dir);

#ifdef __cplusplus
}
#endif
#endif
