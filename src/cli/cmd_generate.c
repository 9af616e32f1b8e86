/* proxyseg generate: write a synthetic MSD task (the built-in demo dataset). */
#include "cli.h"
#include "proxyseg/synth.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void generate_usage(FILE *f) {
  fprintf(f, "usage: proxyseg generate --out DIR --cases N [--size S] [--seed K] [--site a|b] [--classes 2|3] [--modality CT|MR]\n"
             "  Writes DIR/dataset.json, imagesTr/, labelsTr/ (.nii.gz) in the MSD layout.\n"
             "  --size S      in-plane voxel edge (default 64); slices follow the case's spacing\n"
             "  --site b      another 'scanner': shifted intensities, more noise, less contrast\n"
             "  --classes 3   adds a lesion inside the organ\n");
}

static int parse_int(const char *s, long lo, long hi, long *out) {
  char *e;
  long v = strtol(s, &e, 10);
  if (!*s || *e || v < lo || v > hi) return 0;
  *out = v;
  return 1;
}

int cmd_generate(int argc, char **argv) {
  ps_synth_opts o;
  ps_synth_opts_default(&o);
  const char *out = NULL;
  long v;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) { generate_usage(stdout); return 0; }
    if (!val) { fprintf(stderr, "proxyseg generate: %s needs a value\n", a); generate_usage(stderr); return 2; }
    i++;
    if (!strcmp(a, "--out")) out = val;
    else if (!strcmp(a, "--cases") && parse_int(val, 1, 100000, &v)) o.cases = (int)v;
    else if (!strcmp(a, "--size") && parse_int(val, 16, 512, &v)) o.size = (int)v;
    else if (!strcmp(a, "--seed") && parse_int(val, 0, 0x7fffffffL, &v)) o.seed = (uint64_t)v;
    else if (!strcmp(a, "--site") && (!strcmp(val, "a") || !strcmp(val, "b"))) o.site = val[0];
    else if (!strcmp(a, "--classes") && parse_int(val, 2, 3, &v)) o.classes = (int)v;
    else if (!strcmp(a, "--modality") && (!strcmp(val, "CT") || !strcmp(val, "MR") || !strcmp(val, "MRI"))) o.modality = val;
    else { fprintf(stderr, "proxyseg generate: bad option or value: %s %s\n", a, val); generate_usage(stderr); return 2; }
  }
  if (!out) { fprintf(stderr, "proxyseg generate: --out is required\n"); generate_usage(stderr); return 2; }
  double t0 = ps_now();
  ps_status st = ps_synth_generate(&o, out);
  if (st) return ps_cli_fail("generate", st);
  ps_info("generate: %d %s cases of %d^2 x slices (site %c, %d classes) in %s (%.1f s)", o.cases, o.modality, o.size, o.site,
          o.classes, out, ps_now() - t0);
  return 0;
}
