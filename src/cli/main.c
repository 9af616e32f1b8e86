/* proxyseg: the command-line entry point; one file per subcommand (cmd_*.c). */
#include "cli.h"
#include <stdio.h>
#include <string.h>

static const ps_command commands[] = {
    {"version", "print the version", cmd_version},
};

static void usage(FILE *f) {
  fprintf(f, "usage: proxyseg <command> [options]\n\ncommands:\n");
  for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
    fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].help);
  fprintf(f, "\n'proxyseg <command> --help' describes a command.\n");
}

int main(int argc, char **argv) {
  if (argc < 2) { usage(stderr); return 2; }
  if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) { usage(stdout); return 0; }
  if (!strcmp(argv[1], "--version")) return cmd_version(argc - 1, argv + 1);
  for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
    if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
  fprintf(stderr, "proxyseg: unknown command '%s'\n", argv[1]);
  usage(stderr);
  return 2;
}
