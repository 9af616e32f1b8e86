/* proxyseg generate: write a synthetic MSD task (the built-in demo dataset). */
#include "cli.h"
#include "proxyseg/synth.h"
#include <string.h>

static void generate_usage(FILE *f) {
  fprintf(f, "usage: proxyseg generate --out DIR --cases N [--size S] [--seed K] [--site a|b] [--classes 2|3] [--modality CT|MR]\n"
             "  Writes DIR/dataset.json, imagesTr/, labelsTr/ (.nii.gz) in the MSD layout.\n"
             "  --size S      in-plane voxel edge (default 64); slices follow the case's spacing\n"
             "  --site b      another 'scanner': shifted intensities, more noise, less contrast\n"
             "  --classes 3   adds a lesion inside the organ\n");
}

int cmd_generate(int argc, char **argv) {
  ps_synth_opts o;
  ps_synth_opts_default(&o);
  const char *out = NULL;
  long v;
  static const struct option opts[] = {{"out", required_argument, 0, 'o'},     {"cases", required_argument, 0, 'n'},
                                       {"size", required_argument, 0, 's'},    {"seed", required_argument, 0, 'S'},
                                       {"site", required_argument, 0, 'a'},    {"classes", required_argument, 0, 'c'},
                                       {"modality", required_argument, 0, 'm'}, {0, 0, 0, 0}};
  int c, rc = 0;
  optind = 1;
  while ((c = ps_cli_getopt("generate", argc, argv, opts, generate_usage, &rc)) != -1) {
    if (c == PS_CLI_RETURN) return rc;
    bool ok = true;
    switch (c) {
    case 'o': out = optarg; break;
    case 'n': if ((ok = ps_cli_int("generate", "cases", optarg, 1, 100000, &v))) o.cases = (int)v; break;
    case 's': if ((ok = ps_cli_int("generate", "size", optarg, 16, 512, &v))) o.size = (int)v; break;
    case 'S': if ((ok = ps_cli_int("generate", "seed", optarg, 0, 0x7fffffffL, &v))) o.seed = (uint64_t)v; break;
    case 'c': if ((ok = ps_cli_int("generate", "classes", optarg, 2, 3, &v))) o.classes = (int)v; break;
    case 'a':
      ok = !strcmp(optarg, "a") || !strcmp(optarg, "b");
      if (ok) o.site = optarg[0];
      else fprintf(stderr, "proxyseg generate: --site '%s': expected a or b\n", optarg);
      break;
    case 'm':
      ok = !strcmp(optarg, "CT") || !strcmp(optarg, "MR") || !strcmp(optarg, "MRI");
      if (ok) o.modality = optarg;
      else fprintf(stderr, "proxyseg generate: --modality '%s': expected CT or MR\n", optarg);
      break;
    }
    if (!ok) return 2;
  }
  if ((rc = ps_cli_no_positional("generate", argc, argv))) return rc;
  if (!out) { fprintf(stderr, "proxyseg generate: --out is required\n"); generate_usage(stderr); return 2; }
  double t0 = ps_now();
  ps_status st = ps_synth_generate(&o, out);
  if (st) return ps_cli_fail("generate", st);
  ps_info("generate: %d %s cases of %d^2 x slices (site %c, %d classes) in %s (%.1f s)", o.cases, o.modality, o.size, o.site,
          o.classes, out, ps_now() - t0);
  return 0;
}
