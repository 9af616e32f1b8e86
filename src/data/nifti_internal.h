/* Internal to the NIfTI reader/writer: the parsed, validated header that
 * nifti_validate.c hands to nifti_io.c. Not part of the public API. */
#ifndef PS_NIFTI_INTERNAL_H
#define PS_NIFTI_INTERNAL_H
#include <zlib.h>
#include "proxyseg/nifti.h"

typedef struct {
  ps_nifti_info info;
  int swapped;          /* file byte order differs from ours */
  int is_gz;            /* gzip magic found (not judged by the name) */
  int nbyper;           /* bytes per voxel */
  int64_t vox_offset;
  int64_t nvox;         /* product of dim[1..dim[0]] */
  int64_t data_bytes;   /* nvox * nbyper */
  double affine[4][4];  /* sform, else qform, else pixdim */
} ps_nifti_hdr;

/* Read the header and check it against the file; verify_stream also
 * decompresses a .gz to its end (bounded) to prove it is long and intact. */
ps_status ps_nifti_parse(const char *path, ps_nifti_hdr *h, int verify_stream);
/* zlib's reason for a failed gzread, without the path it repeats. */
const char *ps_nifti_gz_reason(gzFile gz, const char *path);
#endif
