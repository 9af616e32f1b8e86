/* proxyseg train: train one configuration on a dataset (preprocessed into a
 * cache first), validate on a fixed split, write metrics.json, log.txt and
 * checkpoint.h5 into --out. Under mpirun/srun with K ranks it trains data
 * parallel (src/train/dist.c): rank 0 builds the cache and writes every file. */
#include "cli.h"
#include "proxyseg/journal.h"
#include "proxyseg/dataset.h"
#include "proxyseg/study.h"
#include "proxyseg/train.h"
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
  fprintf(f,
          "usage: proxyseg train --dataset DIR --out DIR [--config FILE] [--set key=value]... [--cache DIR]\n"
          "                      [--resume] [--init CKPT] [--subset FILE.json] [--arch FILE.json]\n"
          "  --dataset DIR   MSD or nnU-Net v2 dataset folder (dataset.json, imagesTr, labelsTr), or an nnU-Net\n"
          "                  id (4, Dataset004_Hippocampus) under $nnUNet_raw\n"
          "  --fold N        validation fold (val.fold); with nnU-Net's splits_final.json (beside dataset.json or\n"
          "                  in $nnUNet_preprocessed/DatasetXXX_Name/) its fold N is the split\n"
          "  --out DIR       output folder (metrics.json, log.txt, checkpoint.h5, config.json)\n"
          "  --config FILE   JSON config over the defaults; --set key=value overrides single keys\n"
          "  --cache DIR     preprocessed cache (default OUT/preprocessed; rebuilt when the plan changes)\n"
          "  --resume        continue from OUT/checkpoint.h5\n"
          "  --init CKPT     initialise the weights from a checkpoint (fine-tuning / warm start)\n"
          "  --subset FILE   train only on the cases kept in a proxy-data result (proxy/cases.json)\n"
          "  --arch FILE     the network's arch JSON (e.g. a search's genotype.json), as --set net=...; later\n"
          "                  --set net.KEY=... apply on top (net.stem_features=68: re-train wider)\n"
          "  --print-config  print the resolved config and exit\n\nconfig keys:\n%s",
          ps_train_config_doc());
}

int cmd_train(int argc, char **argv) {
  const char *dataset = NULL, *out = NULL, *config = NULL, *cache = NULL, *init = NULL, *subset = NULL, *arch = NULL;
  bool resume = false, print_only = false;
  const char **sets = calloc((size_t)argc + 1, sizeof *sets);
  int n_sets = 1; /* sets[0]: net=<--arch file>, before the user's sets */
  static const struct option opts[] = {{"dataset", required_argument, 0, 'd'}, {"out", required_argument, 0, 'o'},
                                       {"config", required_argument, 0, 'c'},  {"set", required_argument, 0, 's'},
                                       {"cache", required_argument, 0, 'C'},   {"resume", no_argument, 0, 'r'},
                                       {"init", required_argument, 0, 'i'},    {"subset", required_argument, 0, 'S'},
                                       {"print-config", no_argument, 0, 'p'},  {"arch", required_argument, 0, 'a'},
                                       {"fold", required_argument, 0, 'f'},    {0, 0, 0, 0}};
  char fold_set[32];
  long fold;
  int c, rc = 0;
  optind = 1;
  while ((c = ps_cli_getopt("train", argc, argv, opts, usage, &rc)) != -1) {
    switch (c) {
    case PS_CLI_RETURN: free(sets); return rc;
    case 'd': dataset = optarg; break;
    case 'o': out = optarg; break;
    case 'c': config = optarg; break;
    case 's': sets[n_sets++] = optarg; break;
    case 'C': cache = optarg; break;
    case 'r': resume = true; break;
    case 'i': init = optarg; break;
    case 'S': subset = optarg; break;
    case 'p': print_only = true; break;
    case 'a': arch = optarg; break;
    case 'f':
      if (!ps_cli_int("train", "fold", optarg, 0, 1000, &fold)) { free(sets); return 2; }
      snprintf(fold_set, sizeof fold_set, "val.fold=%ld", fold);
      sets[n_sets++] = fold_set;
      break;
    }
  }
  if ((rc = ps_cli_no_positional("train", argc, argv))) { free(sets); return rc; }
  cJSON *cfg = NULL, *arch_json = NULL;
  char *arch_set = NULL;
  ps_status st = PS_OK;
  if (arch && !(st = ps_json_read(arch, &arch_json)) && !cJSON_IsObject(arch_json))
    st = ps_error(PS_ERR_INVALID, "%s: an arch must be a JSON object", arch);
  if (arch && !st) {
    char *js = cJSON_PrintUnformatted(arch_json);
    arch_set = js ? malloc(strlen(js) + 5) : NULL;
    if (arch_set) sprintf(arch_set, "net=%s", js);
    free(js);
    sets[0] = arch_set;
  }
  cJSON_Delete(arch_json);
  arch_json = NULL;
  if (!st) st = ps_train_config_resolve(config, arch_set ? sets : sets + 1, arch_set ? n_sets : n_sets - 1, &cfg);
  if (!st && arch && (st = ps_arch_resolve(cJSON_GetObjectItemCaseSensitive(cfg, "net"), &arch_json)))
    ps_error_prefix(st, "%s: ", arch);
  cJSON_Delete(arch_json);
  free(arch_set);
  free(sets);
  if (st) return ps_cli_fail("train", st);
  const int rank = ps_dist_rank();
  if (ps_dist_size() > 1 && ps_json_int(cfg, "threads", 0) == 0) /* the node's cores shared by its ranks */
    ps_json_set(cfg, "threads", cJSON_CreateNumber(ps_dist_thread_share(ps_dist_local_ranks())));
  if (print_only) {
    char *s = rank == 0 ? cJSON_Print(cfg) : NULL;
    if (s) printf("%s\n", s);
    free(s);
    cJSON_Delete(cfg);
    return 0;
  }
  if (!dataset || !out) {
    fprintf(stderr, "proxyseg train: --dataset and --out are required\n");
    usage(stderr);
    cJSON_Delete(cfg);
    return 2;
  }
  char *cache_dir = cache ? ps_strdup(cache) : ps_path_join(out, "preprocessed");
  ps_case *cases = NULL;
  int n = 0, n_classes = 0, *tr = NULL, *va = NULL, n_tr = 0, n_va = 0;
  cJSON *sub = NULL;
  ps_train_result res = {0};
  st = ps_mkdir_p(out);
  if (!st) st = ps_dataset_apply_splits(dataset, cfg);
  if (!st && rank == 0) {
    char *p = ps_path_join(out, "config.json");
    st = ps_json_write(p, cfg);
    free(p);
  }
  /* rank 0 builds the cache (when it is missing or stale), then the others read it */
  int threads = ps_json_int(cfg, "threads", 0);
  if (!st && rank == 0) st = ps_study_load_cases(dataset, cache_dir, threads, &cases, &n, &n_classes);
  st = ps_dist_all_ok(st, "preparing the case cache");
  if (!st && rank != 0) st = ps_study_load_cases(dataset, cache_dir, threads, &cases, &n, &n_classes);
  if (!st) st = ps_train_split(cfg, cases, n, &tr, &n_tr, &va, &n_va);
  if (!st && subset) {
    st = ps_json_read(subset, &sub);
    const cJSON *kept = cJSON_GetObjectItemCaseSensitive(sub, "kept");
    if (!st && !cJSON_IsArray(kept)) st = ps_error(PS_ERR_DATA, "%s: no 'kept' list of case ids", subset);
    if (!st) { /* keep the training cases that the subset names */
      int m = 0;
      for (int i = 0; i < n_tr; i++) {
        const cJSON *it;
        bool in = false;
        cJSON_ArrayForEach(it, kept) in |= cJSON_IsString(it) && !strcmp(it->valuestring, cases[tr[i]].id);
        if (in) tr[m++] = tr[i];
      }
      n_tr = m;
      if (!n_tr) st = ps_error(PS_ERR_DATA, "%s: none of its kept cases is a training case of this split", subset);
    }
  }
  st = ps_dist_all_ok(st, "reading the cases");
  if (!st) {
    ps_train_job job = {0};
    job.config = cfg;
    job.cases = cases;
    job.n_cases = n;
    job.train_idx = tr;
    job.n_train = n_tr;
    job.val_idx = va;
    job.n_val = n_va;
    job.out_dir = out;
    job.resume = resume;
    job.keep_checkpoint = true;
    job.init_checkpoint = init;
    job.n_classes = n_classes;
    cJSON *plan = ps_train_read_plan(cache_dir);
    job.plan = plan;
    st = ps_train_run(&job, &res);
    cJSON_Delete(plan);
  }
  if (!st && rank == 0) printf("{\"mean_dice\": %.6f, \"seconds\": %.2f, \"metrics\": \"%s/metrics.json\"}\n", res.mean_dice, res.seconds, out);
  ps_train_result_free(&res);
  free(tr);
  free(va);
  ps_study_free_cases(cases, n);
  cJSON_Delete(sub);
  cJSON_Delete(cfg);
  free(cache_dir);
  return st ? ps_cli_fail("train", st) : 0;
}

int cmd_train_data_parallel(int argc, char **argv) {
  ps_status st = ps_dist_init();
  if (st) {
    fprintf(stderr, "proxyseg train: started by mpirun/srun with several ranks: %s; every rank would train the "
                    "whole run, so none does\n", ps_last_error());
    return 2;
  }
  /* one log: the other ranks say only warnings and errors */
  if (ps_dist_rank() != 0 && ps_log_get_level() < PS_LOG_WARN) ps_log_set_level(PS_LOG_WARN);
  int rc = cmd_train(argc, argv);
  ps_dist_finalize();
  return rc;
}

static void trial_usage(FILE *f) {
  fprintf(f, "usage: proxyseg trial-run --dir TRIAL_DIR   (internal: run by the search driver)\n");
}

int cmd_trial_run(int argc, char **argv) {
  static const struct option opts[] = {{"dir", required_argument, 0, 'd'}, {0, 0, 0, 0}};
  const char *dir = NULL;
  int c, rc = 0;
  optind = 1;
  while ((c = ps_cli_getopt("trial-run", argc, argv, opts, trial_usage, &rc)) != -1) {
    if (c == PS_CLI_RETURN) return rc;
    if (c == 'd') dir = optarg;
  }
  if ((rc = ps_cli_no_positional("trial-run", argc, argv))) return rc;
  if (!dir) { trial_usage(stderr); return 2; }
  /* log.txt gets every line; stderr.txt (the driver's capture) only warnings
   * and errors, instead of a byte-identical copy of log.txt */
  if (ps_log_get_level() < PS_LOG_WARN) ps_log_set_level(PS_LOG_WARN);
  ps_status st = ps_trial_child(dir);
  /* the outcome is in result.json; the exit code only tells the driver the child
   * ran, or that the machine failed (disk full: no result could be written) */
  if (st == PS_ERR_IO && ps_error_machine()) {
    ps_cli_fail("trial-run", st);
    return PS_TRIAL_EXIT_MACHINE;
  }
  return st == PS_OK || st == PS_ERR_NONFINITE ? 0 : ps_cli_fail("trial-run", st);
}
