/* Subcommands of the proxyseg CLI. Each is int cmd_X(int argc, char **argv)
 * with argv[0] = the subcommand's name; it returns the process exit code
 * (0 ok, 1 run-time failure, 2 usage error, 3 bad input data). */
#ifndef PS_CLI_H
#define PS_CLI_H
#include "proxyseg/core.h"
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

typedef struct {
  const char *name, *help;
  int (*run)(int argc, char **argv);
  bool internal; /* run by proxyseg itself: left out of the help */
} ps_command;

/* ---- the option convention (cli_opts.c) ---- */
#define PS_CLI_RETURN (-2)
/* The next option of the command's argv (getopt_long; --key=value and --key
 * value; options and arguments in any order). Handles -h/--help (usage on
 * stdout, *rc = 0), -q/--quiet, -v/--verbose, unknown options and missing
 * values (a message naming the option and a pointer to --help, *rc = 2). Returns the
 * option's val, -1 at the end, or PS_CLI_RETURN: the command returns *rc.
 * Command options must not use the vals 'h', 'q', 'v'. Reset optind = 1 first. */
int ps_cli_getopt(const char *cmd, int argc, char **argv, const struct option *opts, void (*usage)(FILE *), int *rc);
/* 0, or 2 after a message when an argument is left over after the options. */
int ps_cli_no_positional(const char *cmd, int argc, char **argv);
/* Checked numeric option values; false after a message naming --opt and the range. */
bool ps_cli_int(const char *cmd, const char *opt, const char *s, long lo, long hi, long *out);
bool ps_cli_num(const char *cmd, const char *opt, const char *s, double lo, double hi, double *out);

/* Print "proxyseg NAME: <last error>" and map the status to an exit code. */
int ps_cli_fail(const char *cmd, ps_status st);

int cmd_version(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_study(int argc, char **argv);
int cmd_search(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_trial_run(int argc, char **argv);
int cmd_proxy_data(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_preprocess(int argc, char **argv);
int cmd_evaluate(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_worker(int argc, char **argv);
/* Run a command; under mpirun/srun, rank 0 runs it as the driver and the other
 * ranks serve its trials (cmd_worker.c). */
int ps_cli_run_command(const ps_command *c, int argc, char **argv);
/* `train` under mpirun/srun: every rank trains its slice of each batch (cmd_train.c) */
int cmd_train_data_parallel(int argc, char **argv);
#endif
