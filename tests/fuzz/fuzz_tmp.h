/* Scratch-file names for the libFuzzer targets that must hand a path to the
 * reader: under $TMPDIR (run_fuzz.sh points it at /dev/shm when it exists, so
 * that the per-input write costs no disk I/O), one name per process. */
#ifndef PS_FUZZ_TMP_H
#define PS_FUZZ_TMP_H
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static inline void ps_fuzz_tmp_path(char *buf, size_t n, const char *stem, const char *ext) {
  const char *dir = getenv("TMPDIR");
  snprintf(buf, n, "%s/%s_%ld%s", dir && *dir ? dir : "/tmp", stem, (long)getpid(), ext);
}

/* Write the input to path; 0 on success. */
static inline int ps_fuzz_write(const char *path, const unsigned char *data, size_t size) {
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  size_t w = fwrite(data, 1, size, f);
  return (fclose(f) != 0 || w != size) ? -1 : 0;
}
#endif
