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
  int threads = 0;
  cJSON *ov = cJSON_CreateObject();
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) { preprocess_usage(stdout); cJSON_Delete(ov); return 0; }
    if (!val) { fprintf(stderr, "proxyseg preprocess: %s needs a value\n", a); preprocess_usage(stderr); cJSON_Delete(ov); return 2; }
    i++;
    char *end = NULL;
    if (!strcmp(a, "--dataset")) ds = val;
    else if (!strcmp(a, "--out")) out = val;
    else if (!strcmp(a, "--threads") && (threads = (int)strtol(val, &end, 10), *val && !*end && threads >= 0)) {}
    else if (!strcmp(a, "--interp") && (!strcmp(val, "1") || !strcmp(val, "3")))
      cJSON_AddNumberToObject(ov, "interp_image", atoi(val));
    else if (!strcmp(a, "--spacing")) {
      double x, y, z;
      char tail;
      if (sscanf(val, "%lf,%lf,%lf%c", &x, &y, &z, &tail) != 3 || !(x > 0 && y > 0 && z > 0)) {
        fprintf(stderr, "proxyseg preprocess: --spacing wants three positive numbers x,y,z (mm), got '%s'\n", val);
        cJSON_Delete(ov);
        return 2;
      }
      double zyx[3] = {z, y, x}; /* the plan stores (D, H, W) = (z, y, x) */
      cJSON_AddItemToObject(ov, "target_spacing", cJSON_CreateDoubleArray(zyx, 3));
    } else { fprintf(stderr, "proxyseg preprocess: bad option or value: %s %s\n", a, val); preprocess_usage(stderr); cJSON_Delete(ov); return 2; }
  }
  if (!ds || !out) { fprintf(stderr, "proxyseg preprocess: --dataset and --out are required\n"); preprocess_usage(stderr); cJSON_Delete(ov); return 2; }
  double t0 = ps_now();
  int rebuilt = 0;
  ps_status st = ps_cache_build_ex(ds, out, cJSON_GetArraySize(ov) ? ov : NULL, threads, &rebuilt);
  cJSON_Delete(ov);
  if (st) return ps_cli_fail("preprocess", st);
  if (rebuilt) ps_info("preprocess: cache written to %s (%.1f s)", out, ps_now() - t0);
  else ps_info("preprocess: cache in %s is up to date", out);
  return 0;
}
