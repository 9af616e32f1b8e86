/* proxyseg: the command-line entry point; one file per subcommand (cmd_*.c),
 * one option convention for all of them (cli_opts.c). */
#include "cli.h"
#include <stdio.h>
#include <string.h>

static const ps_command commands[] = {
    {"demo", "generate a synthetic task and run a whole study on it (the quick start)", cmd_demo, false},
    {"study", "proxy data -> proxy network -> search -> full re-training -> report", cmd_study, false},
    {"search", "search training configs (random, rl) on a dataset, journaled and resumable", cmd_search, false},
    {"train", "train one configuration", cmd_train, false},
    {"proxy-data", "score and rank the training cases, keep a subset", cmd_proxy_data, false},
    {"predict", "sliding-window prediction written as NIfTI in the input's geometry", cmd_predict, false},
    {"evaluate", "Dice / HD95 per case and class: predicted vs reference label folders", cmd_evaluate, false},
    {"report", "rebuild report.json and report.html from a study folder", cmd_report, false},
    {"inspect", "describe a NIfTI file or check a dataset folder (JSON)", cmd_inspect, false},
    {"preprocess", "preprocess a dataset into the HDF5 case cache", cmd_preprocess, false},
    {"generate", "write a synthetic MSD task (demo dataset)", cmd_generate, false},
    {"export", "hand a study to Optuna (JournalStorage log), a CSV, or nnU-Net", cmd_export, false},
    {"worker", "run the trials a driver queued in a shared study folder (Slurm arrays)", cmd_worker, false},
    {"version", "print the version", cmd_version, false},
    {"trial-run", "run one trial of a search in this process", cmd_trial_run, true},
};

static void usage(FILE *f) {
  fprintf(f, "usage: proxyseg <command> [options]\n\ncommands:\n");
  for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
    if (!commands[i].internal) fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].help);
  fprintf(f, "\nEvery command takes -h/--help, -q/--quiet, -v/--verbose; options as --key value or --key=value.\n"
             "'proxyseg <command> --help' describes a command; 'proxyseg --version' prints the version.\n");
}

int main(int argc, char **argv) {
  if (argc < 2) { usage(stderr); return 2; }
  const char *a = argv[1];
  if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 0; }
  if (!strcmp(a, "help")) { /* `proxyseg help CMD` = `proxyseg CMD --help` */
    if (argc < 3) { usage(stdout); return 0; }
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
      if (!strcmp(argv[2], commands[i].name)) {
        char *hv[] = {argv[2], "--help", NULL};
        return commands[i].run(2, hv);
      }
  } else if (!strcmp(a, "--version") || !strcmp(a, "-V")) {
    return cmd_version(argc - 1, argv + 1);
  } else {
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
      if (!strcmp(a, commands[i].name)) return ps_cli_run_command(&commands[i], argc - 1, argv + 1);
  }
  fprintf(stderr, "proxyseg: unknown command '%s'\n", argc >= 3 && !strcmp(a, "help") ? argv[2] : a);
  usage(stderr);
  return 2;
}
