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

int cmd_version(int argc, char **argv) {
  (void)argc; (void)argv;
  unsigned maj, min, rel;
  H5get_libversion(&maj, &min, &rel);
  printf("proxyseg %s (cJSON %s, GSL %s, HDF5 %u.%u.%u, %s)\n", PS_VERSION_STRING, cJSON_Version(), GSL_VERSION,
         maj, min, rel, openblas_get_config());
  return 0;
}
