/* proxyseg export: a study handed to the tools its users run: Optuna's
 * JournalStorage log (--optuna), a flat CSV (--csv), nnU-Net v2 (--nnunet). */
#include "cli.h"
#include "proxyseg/export.h"
#include <math.h>
#include <stdlib.h>

static void usage(FILE *f) {
  fprintf(f, "usage: proxyseg export --study DIR [--optuna FILE] [--csv FILE] [--nnunet DIR]\n"
             "  --study DIR     a study folder (study.json, journal.jsonl)\n"
             "  --optuna FILE   Optuna JournalStorage log, one Optuna study per phase (proxy, full, ...):\n"
             "                  optuna.load_study(study_name=\"proxy\", storage=optuna.storages.JournalStorage(\n"
             "                      optuna.storages.JournalFileStorage(FILE)))   (optuna >= 3.1; optuna-dashboard FILE)\n"
             "  --csv FILE      one row per trial: number, phase, state, value, seconds, ref, seed, params\n"
             "  --nnunet DIR    the best configuration for nnU-Net v2: nnUNetTrainer_proxyseg.py, plans_patch.json,\n"
             "                  apply_plans_patch.py and train_nnunet.sh (the command lines that train it)\n");
}

int cmd_export(int argc, char **argv) {
  const char *study = NULL, *optuna = NULL, *csv = NULL, *nnunet = NULL;
  static const struct option opts[] = {{"study", required_argument, 0, 's'}, {"optuna", required_argument, 0, 'o'},
                                       {"csv", required_argument, 0, 'c'},   {"nnunet", required_argument, 0, 'n'},
                                       {0, 0, 0, 0}};
  int c, rc = 0;
  optind = 1;
  while ((c = ps_cli_getopt("export", argc, argv, opts, usage, &rc)) != -1) {
    if (c == PS_CLI_RETURN) return rc;
    if (c == 's') study = optarg;
    else if (c == 'o') optuna = optarg;
    else if (c == 'c') csv = optarg;
    else if (c == 'n') nnunet = optarg;
  }
  if ((rc = ps_cli_no_positional("export", argc, argv))) return rc;
  if (!study || !(optuna || csv || nnunet)) {
    fprintf(stderr, "proxyseg export: --study and at least one of --optuna, --csv, --nnunet are required\n");
    usage(stderr);
    return 2;
  }
  ps_status st = PS_OK;
  if (optuna) {
    cJSON *sum = NULL;
    st = ps_export_optuna(study, optuna, &sum);
    const cJSON *s;
    cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(sum, "studies")) {
      char best[32] = "none COMPLETE";
      if (ps_json_int(s, "complete", 0)) snprintf(best, sizeof best, "%.4f", ps_json_num(s, "best", NAN));
      ps_info("export: Optuna study '%s': %d trials, %d COMPLETE, best %s", ps_json_str(s, "name", "?"),
              ps_json_int(s, "trials", 0), ps_json_int(s, "complete", 0), best);
    }
    if (!st) ps_info("export: %s (optuna.storages.JournalFileStorage)", optuna);
    cJSON_Delete(sum);
  }
  if (!st && csv) {
    st = ps_export_csv(study, csv);
    if (!st) ps_info("export: %s", csv);
  }
  if (!st && nnunet) {
    cJSON *sum = NULL;
    st = ps_export_nnunet(study, nnunet, &sum);
    if (!st) ps_info("export: nnU-Net v2 trainer, plans patch and commands in %s; run: bash %s/train_nnunet.sh %s", nnunet,
                     nnunet, ps_json_str(sum, "dataset", "DATASET_ID"));
    cJSON_Delete(sum);
  }
  return st ? ps_cli_fail("export", st) : 0;
}
