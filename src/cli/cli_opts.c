/* The one option convention of every proxyseg command: getopt_long with GNU
 * argument permutation, --key=value and --key value, and the shared options
 * -h/--help (usage on stdout, exit 0), -q/--quiet and -v/--verbose. */
#include "cli.h"
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_OPTS 64

/* after an option error: where the options are, not the whole usage (train's lists every config key) */
static void hint(const char *cmd) { fprintf(stderr, "'proxyseg %s --help' lists the options\n", cmd); }

int ps_cli_getopt(const char *cmd, int argc, char **argv, const struct option *opts, void (*usage)(FILE *), int *rc) {
  /* the command's options followed by the shared ones; rebuilt on every call
   * (same content), so getopt_long always sees one stable table */
  static struct option all[MAX_OPTS];
  int n = 0;
  for (; opts && opts[n].name && n < MAX_OPTS - 4; n++) all[n] = opts[n];
  all[n++] = (struct option){"help", no_argument, 0, 'h'};
  all[n++] = (struct option){"quiet", no_argument, 0, 'q'};
  all[n++] = (struct option){"verbose", no_argument, 0, 'v'};
  all[n] = (struct option){0, 0, 0, 0};
  opterr = 0; /* our messages name the command; getopt's would name argv[0] only */
  for (;;) {
    int prev = optind;
    int c = getopt_long(argc, argv, ":hqv", all, NULL);
    switch (c) {
    case 'h':
      usage(stdout);
      fprintf(stdout, "  -q, --quiet     warnings and errors only;  -v, --verbose   debug lines too;  -h, --help  this text\n");
      *rc = 0;
      return PS_CLI_RETURN;
    case 'q': ps_log_set_level(PS_LOG_WARN); continue;
    case 'v': ps_log_set_level(PS_LOG_DEBUG); continue;
    case ':':
      fprintf(stderr, "proxyseg %s: option '%s' needs a value\n", cmd, argv[optind - 1]);
      hint(cmd);
      *rc = 2;
      return PS_CLI_RETURN;
    case '?': {
      const char *a = argv[optind - 1 >= prev ? optind - 1 : prev];
      if (a && !strncmp(a, "--", 2)) /* unknown, or a value given to a flag (--resume=1) */
        fprintf(stderr, "proxyseg %s: unknown option or unexpected value '%s'\n", cmd, a);
      else fprintf(stderr, "proxyseg %s: unknown option '-%c'\n", cmd, optopt);
      hint(cmd);
      *rc = 2;
      return PS_CLI_RETURN;
    }
    default: return c;
    }
  }
}

int ps_cli_no_positional(const char *cmd, int argc, char **argv) {
  if (optind >= argc) return 0;
  fprintf(stderr, "proxyseg %s: unexpected argument '%s'\n", cmd, argv[optind]);
  hint(cmd);
  return 2;
}

bool ps_cli_int(const char *cmd, const char *opt, const char *s, long lo, long hi, long *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (*s && !*end && !errno && v >= lo && v <= hi) { *out = v; return true; }
  fprintf(stderr, "proxyseg %s: --%s '%s': expected an integer in [%ld, %ld]\n", cmd, opt, s, lo, hi);
  return false;
}

bool ps_cli_num(const char *cmd, const char *opt, const char *s, double lo, double hi, double *out) {
  char *end;
  double v = strtod(s, &end);
  if (*s && !*end && isfinite(v) && v >= lo && v <= hi) { *out = v; return true; }
  fprintf(stderr, "proxyseg %s: --%s '%s': expected a number in [%g, %g]\n", cmd, opt, s, lo, hi);
  return false;
}
