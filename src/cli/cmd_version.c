/* proxyseg version: the tool and library versions a report records. */
#include "cli.h"
#include <cblas.h>
#include <cjson/cJSON.h>
#include <gsl/gsl_version.h>
#include <hdf5.h>
#include <stdio.h>

int ps_cli_fail(const char *cmd, ps_status st) {
  fprintf(stderr, "proxyseg %s: %s\n", cmd, ps_last_error());
  return ps_status_exit_code(st);
}

static void usage(FILE *f) { fprintf(f, "usage: proxyseg version   (also: proxyseg --version)\n"); }

int cmd_version(int argc, char **argv) {
  int c, rc = 0;
  optind = 1;
  while ((c = ps_cli_getopt("version", argc, argv, NULL, usage, &rc)) != -1)
    if (c == PS_CLI_RETURN) return rc;
  if ((rc = ps_cli_no_positional("version", argc, argv))) return rc;
  unsigned maj, min, rel;
  H5get_libversion(&maj, &min, &rel);
  printf("proxyseg %s (cJSON %s, GSL %s, HDF5 %u.%u.%u, %s)\n", PS_VERSION_STRING, cJSON_Version(), GSL_VERSION,
         maj, min, rel, openblas_get_config());
  return 0;
}
