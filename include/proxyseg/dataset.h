/* Segmentation datasets on disk: the Medical Segmentation Decathlon layout
 * (dataset.json with modality/labels/training, 4D multi-modal images) and the
 * nnU-Net v2 raw layout (channel_names, file_ending, CASE_0000 per channel).
 * Paths that leave the dataset root are refused with PS_ERR_DATA. */
#ifndef PROXYSEG_DATASET_H
#define PROXYSEG_DATASET_H

#include <cjson/cJSON.h>
#include "proxyseg/core.h"
#include "proxyseg/data.h"
#include "proxyseg/nifti.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ps_dataset ps_dataset;

/* ---- nnU-Net conventions (dataset_nnunet.c) ---- */
/* The folder a dataset argument names: an existing path as given; an nnU-Net
 * id ("4", "004", "Dataset004", "Dataset004_Hippocampus") as the matching
 * DatasetNNN_* folder under $nnUNet_raw (PS_ERR_DATA naming the id, the
 * variable and what was missing or ambiguous). *out malloc'd. */
ps_status ps_dataset_resolve(const char *spec, char **out);
/* nnU-Net's splits_final.json for a dataset: DIR/splits_final.json, else
 * $nnUNet_preprocessed/<DIR's name>/splits_final.json; *path NULL if neither. */
ps_status ps_dataset_splits_file(const char *spec, char **path);
/* The "val" case ids of one fold of a splits_final.json (a JSON array; caller frees). */
ps_status ps_dataset_split_fold(const char *splits_path, int fold, cJSON **val_ids);
/* When the dataset has a splits_final.json and train_cfg names no val.cases:
 * val.cases = fold val.fold's "val" list (logged), so that proxyseg validates
 * on the cases nnU-Net would. */
ps_status ps_dataset_apply_splits(const char *spec, cJSON *train_cfg);

/* Parse dir/dataset.json and list the cases (files need not all exist yet:
 * ps_dataset_check reports missing ones, ps_dataset_load_case fails on them).
 * dir may be an nnU-Net dataset id (ps_dataset_resolve). */
ps_status ps_dataset_open(const char *dir, ps_dataset **out);
void ps_dataset_free(ps_dataset *d); /* NULL ok */

const char *ps_dataset_format(const ps_dataset *d);   /* "msd" | "nnunet_v2" */
const char *ps_dataset_name(const ps_dataset *d);
const char *ps_dataset_root(const ps_dataset *d);     /* realpath of dir */
const cJSON *ps_dataset_json(const ps_dataset *d);    /* the parsed dataset.json */

/* Channels (modalities), in channel order. */
int ps_dataset_n_channels(const ps_dataset *d);
const char *ps_dataset_channel_name(const ps_dataset *d, int c); /* "CT", "T2", ... */

/* Declared labels, sorted by id; n_classes = largest id + 1. */
int ps_dataset_n_labels(const ps_dataset *d);
int ps_dataset_label_id(const ps_dataset *d, int k);
const char *ps_dataset_label_name(const ps_dataset *d, int k);
int ps_dataset_n_classes(const ps_dataset *d);

/* Training cases. MSD has one image file per case holding every channel (4D);
 * nnU-Net v2 has one file per channel. Paths are absolute. */
int ps_dataset_n_cases(const ps_dataset *d);
const char *ps_dataset_case_id(const ps_dataset *d, int i);
int ps_dataset_n_image_files(const ps_dataset *d, int i);
const char *ps_dataset_image_path(const ps_dataset *d, int i, int f);
const char *ps_dataset_label_path(const ps_dataset *d, int i);

/* Test cases (no labels): MSD "test" list, nnU-Net imagesTs/. */
int ps_dataset_n_test(const ps_dataset *d);
const char *ps_dataset_test_id(const ps_dataset *d, int i);
int ps_dataset_n_test_files(const ps_dataset *d, int i);
const char *ps_dataset_test_path(const ps_dataset *d, int i, int f);

/* A folder of images without dataset.json (predict's input), its cases as test
 * cases sorted by id: nnU-Net channel files CASE_0000, CASE_0001, ... (a case
 * has a _0000 file) are one case with a file per channel; any other .nii or
 * .nii.gz file is a case of its own holding every channel. Junk (._*, hidden)
 * skipped. A case with a missing channel file or another channel count than
 * n_channels is listed; loading it fails naming the case and file. */
ps_status ps_dataset_open_images(const char *dir, int n_channels, ps_dataset **out);

/* Load case i: img gets C channels (C = n_channels), lab the label map (lab may
 * be NULL to skip it), info the first image file's header (nullable). Checks
 * that channels and label agree in shape and affine (1e-3 relative) and that
 * every label value is declared; PS_ERR_DATA naming the case and file if not. */
ps_status ps_dataset_load_case(const ps_dataset *d, int i, ps_volume *img, ps_labelmap *lab, ps_nifti_info *info);
/* Load test case i (images only). */
ps_status ps_dataset_load_test(const ps_dataset *d, int i, ps_volume *img, ps_nifti_info *info);

/* Scan every case (headers first, then voxel values) and build a report:
 * {format, name, n_cases, modalities, labels, n_classes, median_shape [D,H,W],
 *  median_spacing [D,H,W], cases: [{id, shape, spacing, datatype, orientation}],
 *  problems: [{case, file, problem}], ok}. Problems in the data do not make it
 * fail (they are in the report); PS_OK unless out of memory. Caller frees. */
ps_status ps_dataset_check(const ps_dataset *d, cJSON **report);

/* Do two affines agree within rel (relative to the larger entry magnitude, at least 1)? */
int ps_affine_close(const double a[4][4], const double b[4][4], double rel);

#ifdef __cplusplus
}
#endif
#endif
