/* libFuzzer target: arbitrary bytes as a NIfTI file (plain or gzip) through
 * every reader; they must return a status, never crash or over-allocate. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "fuzz_tmp.h"
#include "proxyseg/nifti.h"

static char path[256];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!path[0]) ps_fuzz_tmp_path(path, sizeof path, "ps_fuzz_nifti", ".nii");
  if (ps_fuzz_write(path, data, size)) return 0;
  ps_nifti_info info;
  ps_volume v;
  ps_labelmap l;
  (void)ps_nifti_read_header(path, &info);
  if (ps_nifti_read(path, &v, &info) == PS_OK) ps_volume_free(&v);
  if (ps_nifti_read_labels(path, &l, NULL) == PS_OK) ps_labelmap_free(&l);
  return 0;
}
