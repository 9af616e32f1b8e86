/* Oracle helper for aug_oracle_metrics.py: reads a uint8 mask (raw, D*H*W),
 * writes ps_edt distances (raw float64) and prints ps_hd95 of two masks.
 * usage: aug_edt_dump D H W sd sh sw mask.raw out.raw [maskb.raw] */
#include "proxyseg/metrics.h"
#include <stdlib.h>

int main(int argc, char **argv) {
  if (argc < 9) { fprintf(stderr, "usage: %s D H W sd sh sw mask.raw out.raw [maskb.raw]\n", argv[0]); return 2; }
  int64_t sh[3] = {atoll(argv[1]), atoll(argv[2]), atoll(argv[3])};
  double sp[3] = {atof(argv[4]), atof(argv[5]), atof(argv[6])};
  size_t n = (size_t)(sh[0] * sh[1] * sh[2]), got;
  char *data; size_t len;
  if (ps_read_file(argv[7], 0, &data, &len) != PS_OK || len != n) { fprintf(stderr, "%s: %s\n", argv[7], ps_last_error()); return 1; }
  double *d = malloc(n * sizeof(double));
  if (ps_edt((uint8_t *)data, sh, sp, d) != PS_OK) { fprintf(stderr, "%s\n", ps_last_error()); return 1; }
  FILE *f = fopen(argv[8], "wb");
  if (!f || (got = fwrite(d, sizeof(double), n, f)) != n) { fprintf(stderr, "%s: write failed\n", argv[8]); return 1; }
  fclose(f);
  if (argc > 9) {
    char *b; size_t lb;
    if (ps_read_file(argv[9], 0, &b, &lb) != PS_OK || lb != n) { fprintf(stderr, "%s: %s\n", argv[9], ps_last_error()); return 1; }
    double h;
    if (ps_hd95((uint8_t *)data, (uint8_t *)b, sh, sp, &h) != PS_OK) { fprintf(stderr, "%s\n", ps_last_error()); return 1; }
    printf("%.17g\n", h);
    free(b);
  }
  free(d); free(data);
  return 0;
}
