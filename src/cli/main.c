/* proxyseg: the command-line entry point; one file per subcommand (cmd_*.c). */
#include "cli.h"
#include <stdio.h>
#include <string.h>

static const ps_command commands[] = {
    {"demo", "generate a synthetic task and run a whole study on it (the quick start)", cmd_demo},
    {"study", "proxy data -> proxy network -> search -> full re-training -> report", cmd_study},
    {"search", "search training configs (random, rl) on a dataset, journaled and resumable", cmd_search},
    {"train", "train one configuration", cmd_train},
    {"proxy-data", "score and rank the training cases, keep a subset", cmd_proxy_data},
    {"predict", "sliding-window prediction written as NIfTI in the input's geometry", cmd_predict},
    {"report", "rebuild report.json and report.html from a study folder", cmd_report},
    {"trial-run", "(internal) run one trial of a search in this process", cmd_trial_run},
    {"version", "print the version", cmd_version},
    {"inspect", "describe a NIfTI file or check a dataset folder (JSON)", cmd_inspect},
    {"generate", "write a synthetic MSD task (demo dataset)", cmd_generate},
    {"preprocess", "preprocess a dataset into the HDF5 case cache", cmd_preprocess},
    {"evaluate", "Dice / HD95 per case and class: predicted vs reference label folders", cmd_evaluate},
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
