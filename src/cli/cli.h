/* Subcommands of the proxyseg CLI. Each is int cmd_X(int argc, char **argv)
 * with argv[0] = the subcommand's name; it returns the process exit code
 * (0 ok, 1 run-time failure, 2 usage error, 3 bad input data). */
#ifndef PS_CLI_H
#define PS_CLI_H
#include "proxyseg/core.h"

typedef struct {
  const char *name, *help;
  int (*run)(int argc, char **argv);
} ps_command;

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
#endif
