/* NIfTI-1/NIfTI-2 reading and writing (.nii, .nii.gz) through niftilib, with the
 * header validated against the file before any voxel memory is allocated.
 * All failures on bad files return PS_ERR_DATA with "<path>: <problem>". */
#ifndef PROXYSEG_NIFTI_H
#define PROXYSEG_NIFTI_H

#include <stdint.h>
#include "proxyseg/core.h"
#include "proxyseg/data.h"

#ifdef __cplusplus
extern "C" {
#endif

/* NIfTI datatype codes (same values as nifti1.h's NIFTI_TYPE_*), so callers
 * need not include niftilib headers. */
#define PS_NIFTI_UINT8    2
#define PS_NIFTI_INT16    4
#define PS_NIFTI_INT32    8
#define PS_NIFTI_FLOAT32  16
#define PS_NIFTI_FLOAT64  64
#define PS_NIFTI_INT8     256
#define PS_NIFTI_UINT16   512
#define PS_NIFTI_UINT32   768

typedef struct {
  int nifti_version;            /* 1 or 2 */
  int datatype;                 /* NIFTI_TYPE_* code */
  double scl_slope, scl_inter;
  int qform_code, sform_code;
  char orientation[4];          /* axis codes of i, j, k, e.g. "RAS", "LPS" */
  int64_t dim[8];               /* raw header dims */
  double pixdim[8];
  int64_t file_bytes;
} ps_nifti_info;

/* Validated header, no voxels. */
ps_status ps_nifti_read_header(const char *path, ps_nifti_info *info);
/* 3D, or 4D -> channels (dim[4]); values scaled by scl_slope/inter, as float.
 * out->affine: sform if sform_code > 0, else qform if qform_code > 0, else pixdim.
 * info may be NULL. */
ps_status ps_nifti_read(const char *path, ps_volume *out, ps_nifti_info *info);
/* 3D label map: values must be integers 0..255 after scaling, else PS_ERR_DATA. */
ps_status ps_nifti_read_labels(const char *path, ps_labelmap *out, ps_nifti_info *info);
/* Atomic write; .nii or .nii.gz by extension; qform+sform (codes 1/2) from
 * v->affine, pixdim from its column norms (v->spacing is NOT used: set the
 * affine). c > 1 is written as dim[4] = c. To write a prediction in an input's
 * geometry, copy the input's affine (and shape) into v.
 * datatype: one of PS_NIFTI_* (integer types round and clamp). */
ps_status ps_nifti_write(const char *path, const ps_volume *v, int datatype);
/* Atomic uint8 write of a label map. */
ps_status ps_nifti_write_labels(const char *path, const ps_labelmap *l);

/* Writer options; zero fields take the defaults shown. */
typedef struct {
  int nifti_version;            /* 0: NIfTI-1 (NIfTI-2 when a dim exceeds 32767); 1 or 2 */
  int qform_code, sform_code;   /* 0: 1 (scanner) and 2 (aligned); -1 writes code 0 */
  double scl_slope, scl_inter;  /* 0/0: none; stored = round((value - inter) / slope) */
} ps_nifti_write_opts;
ps_status ps_nifti_write_ex(const char *path, const ps_volume *v, int datatype, const ps_nifti_write_opts *opts);

/* Name of a datatype code ("uint8", "int16", "float32", ...); "unknown" otherwise. */
const char *ps_nifti_datatype_name(int datatype);

#ifdef __cplusplus
}
#endif
#endif
