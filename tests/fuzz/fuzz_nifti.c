/* libFuzzer target: arbitrary bytes as a NIfTI file (plain or gzip) through
 * every reader; they must return a status, never crash or over-allocate. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "proxyseg/nifti.h"

static char path[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!path[0]) {
    snprintf(path, sizeof path, "/tmp/ps_fuzz_nifti_%ld.nii", (long)getpid());
  }
  FILE *f = fopen(path, "wb");
  if (!f) return 0;
  fwrite(data, 1, size, f);
  fclose(f);
  ps_nifti_info info;
  ps_volume v;
  ps_labelmap l;
  (void)ps_nifti_read_header(path, &info);
  if (ps_nifti_read(path, &v, &info) == PS_OK) ps_volume_free(&v);
  if (ps_nifti_read_labels(path, &l, NULL) == PS_OK) ps_labelmap_free(&l);
  return 0;
}
