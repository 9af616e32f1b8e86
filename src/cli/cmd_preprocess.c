/* proxyseg preprocess: reorient, crop, normalise and resample every training
 * case of a dataset into the HDF5 cache (skipped when the cache is current). */
#include "cli.h"
#include "proxyseg/cache.h"
#include "proxyseg/json.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void preprocess_usage(FILE *f) {
  fprintf(f, "usage: proxyseg preprocess --dataset DIR --out DIR [--spacing x,y,z] [--interp 1|3] [--threads N]\n"
             "  Writes OUT/plan.json and one OUT/<case>.h5 per training case.\n"
             "  --spacing x,y,z  target spacing in mm (default: the dataset's median spacing)\n"
             "  --interp 1|3     image interpolation: 1 trilinear, 3 cubic Catmull-Rom (default 3)\n"
             "  --threads N      worker threads (default: all cores)\n");
}

int cmd_preprocess(int argc, char **argv) {
  const char *ds = NULL, *out = NULL;
  long threads = 0;
  static const struct option opts[] = {{"dataset", required_argument, 0, 'd'}, {"out", required_argument, 0, 'o'},
                                       {"threads", required_argument, 0, 't'}, {"interp", required_argument, 0, 'i'},
                                       {"spacing", required_argument, 0, 's'}, {0, 0, 0, 0}};
  int c, rc = 0;
  cJSON *ov = cJSON_CreateObject();
  optind = 1;
  while (!rc && (c = ps_cli_getopt("preprocess", argc, argv, opts, preprocess_usage, &rc)) != -1) {
    if (c == PS_CLI_RETURN) break;
    if (c == 'd') ds = optarg;
    else if (c == 'o') out = optarg;
    else if (c == 't') rc = ps_cli_int("preprocess", "threads", optarg, 0, 4096, &threads) ? 0 : 2;
    else if (c == 'i') {
      if (!strcmp(optarg, "1") || !strcmp(optarg, "3")) cJSON_AddNumberToObject(ov, "interp_image", atoi(optarg));
      else { fprintf(stderr, "proxyseg preprocess: --interp '%s': expected 1 or 3\n", optarg); rc = 2; }
    } else if (c == 's') {
      double x, y, z;
      char tail;
      if (sscanf(optarg, "%lf,%lf,%lf%c", &x, &y, &z, &tail) != 3 || !(x > 0 && y > 0 && z > 0)) {
        fprintf(stderr, "proxyseg preprocess: --spacing wants three positive numbers x,y,z (mm), got '%s'\n", optarg);
        rc = 2;
      } else {
        double zyx[3] = {z, y, x}; /* the plan stores (D, H, W) = (z, y, x) */
        cJSON_AddItemToObject(ov, "target_spacing", cJSON_CreateDoubleArray(zyx, 3));
      }
    }
  }
  if (c == PS_CLI_RETURN || rc || (rc = ps_cli_no_positional("preprocess", argc, argv))) {
    cJSON_Delete(ov);
    return rc;
  }
  if (!ds || !out) { fprintf(stderr, "proxyseg preprocess: --dataset and --out are required\n"); preprocess_usage(stderr); cJSON_Delete(ov); return 2; }
  double t0 = ps_now();
  int rebuilt = 0;
  ps_status st = ps_cache_build_ex(ds, out, cJSON_GetArraySize(ov) ? ov : NULL, (int)threads, &rebuilt);
  cJSON_Delete(ov);
  if (st) return ps_cli_fail("preprocess", st);
  if (rebuilt) ps_info("preprocess: cache written to %s (%.1f s)", out, ps_now() - t0);
  else ps_info("preprocess: cache in %s is up to date", out);
  return 0;
}
