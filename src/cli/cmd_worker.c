/* proxyseg worker: run the trials a driver queued in a shared study folder
 * (Slurm array jobs, several machines on one filesystem); and the MPI entry:
 * under mpirun/srun, rank 0 runs the command as the driver and the other ranks
 * run its trials. */
#include "cli.h"
#include "proxyseg/journal.h"
#include "proxyseg/search.h"
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void usage(FILE *f) {
  fprintf(f, "usage: proxyseg worker --study DIR [--idle-exit SECONDS] [--heartbeat-timeout SECONDS]\n"
             "  Runs trials that a driver (`proxyseg search|study` with --file-workers / \"file_workers\": true)\n"
             "  queued in DIR, one at a time, claimed through a lock with heartbeats so that no two workers\n"
             "  run the same trial. Exits when no driver holds DIR/driver.lock and nothing is queued for\n"
             "  --idle-exit seconds (default 60).\n");
}

int cmd_worker(int argc, char **argv) {
  const char *study = NULL;
  double idle_exit = 60, hb = 0;
  static const struct option opts[] = {{"study", required_argument, 0, 'o'}, {"idle-exit", required_argument, 0, 'i'},
                                       {"heartbeat-timeout", required_argument, 0, 'b'}, {0, 0, 0, 0}};
  int c, rc = 0;
  optind = 1;
  while ((c = ps_cli_getopt("worker", argc, argv, opts, usage, &rc)) != -1) {
    bool ok = true;
    if (c == PS_CLI_RETURN) return rc;
    if (c == 'o') study = optarg;
    else if (c == 'i') ok = ps_cli_num("worker", "idle-exit", optarg, 0, 1e9, &idle_exit);
    else if (c == 'b') ok = ps_cli_num("worker", "heartbeat-timeout", optarg, 0.1, 1e9, &hb);
    if (!ok) return 2;
  }
  if ((rc = ps_cli_no_positional("worker", argc, argv))) return rc;
  if (!study) { usage(stderr); return 2; }
  if (!ps_is_dir(study)) {
    fprintf(stderr, "proxyseg worker: %s: no such study folder\n", study);
    return 2;
  }
  if (hb <= 0) hb = ps_exec_options().heartbeat_timeout;
  char *driver_lock = ps_path_join(study, "driver.lock");
  double idle_since = ps_now();
  int n_done = 0;
  ps_info("worker: taking trials from %s", study);
  for (;;) {
    bool ran = false;
    int number = -1;
    ps_status st = ps_study_worker_step(study, hb, &ran, &number);
    if (st) { rc = ps_cli_fail("worker", st); break; }
    if (ran) {
      ps_info("worker: trial %d done", number);
      n_done++;
      idle_since = ps_now();
      continue;
    }
    if (ps_study_lock_held(driver_lock, PS_LOCK_STALE_SECONDS)) idle_since = ps_now();
    else if (ps_now() - idle_since >= idle_exit) break;
    struct timespec ts = {0, 50 * 1000 * 1000}; /* 50 ms: a queue scan is a directory listing */
    nanosleep(&ts, NULL);
  }
  ps_info("worker: %d trial(s) run; no driver and nothing queued for %g s, exiting", n_done, idle_exit);
  free(driver_lock);
  return rc;
}

/* Commands that run under mpirun as driver + workers, and those that may run in
 * a process an MPI rank started (trial processes inherit the launcher's
 * environment). */
static bool is_trial_level(const char *name) {
  return !strcmp(name, "search") || !strcmp(name, "study") || !strcmp(name, "demo");
}

int ps_cli_run_command(const ps_command *c, int argc, char **argv) {
  /* trial processes inherit the launcher's environment; `srun -n 8 proxyseg worker` starts 8 independent workers */
  if (!ps_mpi_launched() || !strcmp(c->name, "trial-run") || !strcmp(c->name, "version") || !strcmp(c->name, "worker"))
    return c->run(argc, argv);
  if (!strcmp(c->name, "train")) return cmd_train_data_parallel(argc, argv); /* every rank trains (cmd_train.c) */
  if (!is_trial_level(c->name)) {
    fprintf(stderr, "proxyseg %s: started by mpirun/srun with several ranks, but '%s' does not run over MPI "
                    "(search, study, demo and train do); run it as one process\n", c->name, c->name);
    return 2;
  }
  int rank = 0, size = 1;
  ps_status st = ps_mpi_init(&rank, &size);
  if (st) {
    fprintf(stderr, "proxyseg %s: started by mpirun/srun with several ranks: %s; every rank would run the whole "
                    "command, so none is run\n", c->name, ps_last_error());
    return 2;
  }
  if (rank != 0) {
    st = ps_mpi_worker_main();
    if (st) fprintf(stderr, "proxyseg worker rank %d: %s\n", rank, ps_last_error());
    if (st != PS_ERR_INTERRUPTED) ps_mpi_finalize(); /* MPI_Finalize waits for rank 0, which is gone */
    return st ? 1 : 0;
  }
  ps_info("MPI: rank 0 drives the study, %d worker rank(s) run its trials", size - 1);
  int rc = c->run(argc, argv);
  ps_mpi_driver_stop();
  ps_mpi_finalize();
  return rc;
}
