/* proxyseg search: one search (random, rl, ...) over a space of training
 * configs, journaled in --study DIR; re-running the same command resumes. */
#include "cli.h"
#include "proxyseg/study.h"
#include "proxyseg/nn.h"
#include "proxyseg/train.h"
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
  fprintf(f,
          "usage: proxyseg search --dataset DIR --space FILE --study DIR [--algo random|rl|asng|gumbel-nas] [--trials N]\n"
          "                       [--budget SECONDS] [--jobs K] [--seed S] [--pruner none|median]\n"
          "                       [--proxy-data FILE.json] [--proxy-net width=W,depth=D]\n"
          "                       [--config FILE] [--set key=value]... [--algo-opt key=value]...\n"
          "                       [--warm-start auto|CKPT] [--trial-timeout SECONDS] [--retry-failed]\n"
          "                       [--heartbeat-timeout SECONDS] [--file-workers]\n"
          "  --space FILE      search space JSON (or a shipped name: lr_aug, lr_only, arch; asng: optional, its own space)\n"
          "  --algo asng       one-shot augmentation search: one trial trains with ASNG (--algo-opt lambda=2,\n"
          "                    theta_every=1, restore_optimizer=false); its folder gets policy.json and theta.jsonl\n"
          "  --proxy-data FILE train on the cases a `proxyseg proxy-data` result kept\n"
          "  --proxy-net       shrink the network: width factor, stages removed\n"
          "  --set key=value   fix a non-searched training key (as in `proxyseg train`)\n"
          "  --dataset         a folder, or an nnU-Net id (4, Dataset004_Hippocampus) under $nnUNet_raw\n"
          "  --fold N          validation fold; nnU-Net's splits_final.json fold N when the dataset has one\n"
          "  --warm-start      auto: pre-train once without augmentation, every trial fine-tunes from it\n"
          "  --trial-timeout   a trial running longer is killed and FAIL (\"trial_timeout\")\n"
          "  --retry-failed    a trial whose worker died or hung runs once more before it is FAIL\n"
          "  --file-workers    queue the trials in --study for `proxyseg worker` processes (docs/cluster.md)\n"
          "  Under mpirun/srun rank 0 drives and the other ranks run the trials (docs/cluster.md).\n"
          "  --algo gumbel-nas one-shot cell search (no --space; net: the cell super-network unless --set\n"
          "                    net.family=cells...); --algo-opt: tau_max, tau_min, tau_schedule, alpha_lr,\n"
          "                    alpha_beta1/2, warmup_epochs, weights_lr, weights_beta1/2 (include/proxyseg/gumbel_nas.h);\n"
          "                    its trial folder gets genotype.json (for `train --arch`), genotype.svg, alpha_history.json\n");
}

/* "width=0.25,depth=1" */
static ps_status parse_proxy_net(const char *s, double *w, int *d) {
  char buf[128];
  snprintf(buf, sizeof buf, "%s", s);
  for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
    if (!strncmp(tok, "width=", 6)) *w = atof(tok + 6);
    else if (!strncmp(tok, "depth=", 6)) *d = atoi(tok + 6);
    else return ps_error(PS_ERR_INVALID, "--proxy-net '%s': expected width=W,depth=D", s);
  }
  if (!(*w > 0 && *w <= 1) || *d < 0) return ps_error(PS_ERR_INVALID, "--proxy-net '%s': width in (0,1], depth >= 0", s);
  return PS_OK;
}

int cmd_search(int argc, char **argv) {
  const char *dataset = NULL, *space_path = NULL, *study = NULL, *algo = "random", *proxy_data = NULL, *proxy_net = NULL,
             *config = NULL, *pruner = "none", *warm = NULL;
  int trials = 10, jobs = 1;
  double budget = 0, seed = 0;
  ps_exec_opts ex = ps_exec_options();
  const char **sets = calloc((size_t)argc + 1, sizeof *sets);
  cJSON *algo_opts = cJSON_CreateObject();
  int n_sets = 0;
  static const struct option opts[] = {
      {"dataset", required_argument, 0, 'd'}, {"space", required_argument, 0, 'S'},   {"study", required_argument, 0, 'o'},
      {"algo", required_argument, 0, 'a'},    {"trials", required_argument, 0, 'n'},  {"budget", required_argument, 0, 'b'},
      {"jobs", required_argument, 0, 'j'},    {"seed", required_argument, 0, 'e'},    {"pruner", required_argument, 0, 'p'},
      {"proxy-data", required_argument, 0, 'P'}, {"proxy-net", required_argument, 0, 'N'}, {"config", required_argument, 0, 'c'},
      {"set", required_argument, 0, 's'},     {"algo-opt", required_argument, 0, 'A'}, {"warm-start", required_argument, 0, 'w'},
      {"fold", required_argument, 0, 'F'},    {"trial-timeout", required_argument, 0, 'T'},
      {"retry-failed", no_argument, 0, 'R'},  {"heartbeat-timeout", required_argument, 0, 'H'},
      {"file-workers", no_argument, 0, 'W'},  {0, 0, 0, 0}};
  char fold_set[32];
  int c, rc = 0;
  long lv;
  optind = 1;
  while ((c = ps_cli_getopt("search", argc, argv, opts, usage, &rc)) != -1) {
    bool ok = true;
    switch (c) {
    case PS_CLI_RETURN: goto out;
    case 'd': dataset = optarg; break;
    case 'S': space_path = optarg; break;
    case 'o': study = optarg; break;
    case 'a': algo = optarg; break;
    case 'n': if ((ok = ps_cli_int("search", "trials", optarg, 1, 1000000, &lv))) trials = (int)lv; break;
    case 'b': ok = ps_cli_num("search", "budget", optarg, 0, 1e12, &budget); break;
    case 'j': if ((ok = ps_cli_int("search", "jobs", optarg, 1, 4096, &lv))) jobs = (int)lv; break;
    case 'e': if ((ok = ps_cli_int("search", "seed", optarg, 0, 0x7fffffffL, &lv))) seed = (double)lv; break;
    case 'p': pruner = optarg; break;
    case 'P': proxy_data = optarg; break;
    case 'N': proxy_net = optarg; break;
    case 'c': config = optarg; break;
    case 's': sets[n_sets++] = optarg; break;
    case 'w': warm = optarg; break;
    case 'T': ok = ps_cli_num("search", "trial-timeout", optarg, 0, 1e9, &ex.trial_timeout); break;
    case 'H': ok = ps_cli_num("search", "heartbeat-timeout", optarg, 0.1, 1e9, &ex.heartbeat_timeout); break;
    case 'R': ex.retry_failed = true; break;
    case 'W': ex.file_workers = true; break;
    case 'F':
      if ((ok = ps_cli_int("search", "fold", optarg, 0, 1000, &lv))) {
        snprintf(fold_set, sizeof fold_set, "val.fold=%ld", lv);
        sets[n_sets++] = fold_set;
      }
      break;
    case 'A': {
      const char *eq = strchr(optarg, '=');
      if (!eq || eq == optarg) {
        fprintf(stderr, "proxyseg search: --algo-opt '%s': expected key=value\n", optarg);
        ok = false;
        break;
      }
      char key[128];
      snprintf(key, sizeof key, "%.*s", (int)(eq - optarg), optarg);
      if (ps_json_set_from_string(algo_opts, key, eq + 1)) {
        fprintf(stderr, "proxyseg search: --algo-opt '%s': %s\n", optarg, ps_last_error());
        ok = false;
      }
      break;
    }
    }
    if (!ok) { rc = 2; goto out; }
  }
  if ((rc = ps_cli_no_positional("search", argc, argv))) goto out;
  if (!space_path && !strcmp(algo, "asng")) space_path = "asng"; /* one-shot: the paper's augmentation space */
  const bool nas = !strcmp(algo, "gumbel-nas");
  if (nas && cJSON_GetObjectItemCaseSensitive(algo_opts, "net")) { /* was dropped without a word */
    fprintf(stderr, "proxyseg search: --algo-opt net.*: the gumbel-nas super-network is set with --set net.* "
                    "(in a study config: algo_opts.net)\n");
    rc = 2;
    goto out;
  }
  if (!dataset || (!space_path && !nas) || !study) {
    fprintf(stderr, "proxyseg search: --dataset, --space and --study are required\n");
    usage(stderr);
    rc = 2;
    goto out;
  }
  if (strcmp(pruner, "none") && strcmp(pruner, "median")) {
    fprintf(stderr, "proxyseg search: --pruner must be none or median\n");
    rc = 2;
    goto out;
  }
  ps_exec_configure(&ex);
  {
    cJSON *cfg = NULL, *kept = NULL, *sub = NULL;
    ps_space *space = NULL;
    ps_study_lock *lock = NULL;
    ps_study_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    char *wck = NULL;
    double w = 1;
    int dred = 0;
    /* the paper's cell space is gumbel-nas's default network: net.family=cells before the user's sets */
    if (nas) {
      memmove(sets + 1, sets, (size_t)n_sets * sizeof *sets);
      sets[0] = "net.family=cells";
      n_sets++;
    }
    ps_status st = ps_train_config_resolve(config, sets, n_sets, &cfg);
    if (!st && proxy_net) st = parse_proxy_net(proxy_net, &w, &dred);
    if (!st && proxy_net) {
      cJSON *small;
      st = ps_arch_shrink(cJSON_GetObjectItemCaseSensitive(cfg, "net"), w, dred, &small);
      if (!st) ps_json_set(cfg, "net", small);
    }
    if (!st && space_path) st = ps_space_load(space_path, &space);
    if (st && space_path && !ps_path_exists(space_path)) { /* not a file: a shipped space name */ cJSON *name = cJSON_CreateString(space_path); st = ps_study_space(name, NULL, &space); cJSON_Delete(name); }
    /* before the study folder exists; asng's policies do not start from the config's aug */
    if (!st && space && strcmp(algo, "asng")) st = ps_space_check(space, cfg);
    if (!st) st = ps_mkdir_p(study);
    if (!st) st = ps_study_lock_driver(study, &lock);
    if (!st) {
      cJSON *sj = cJSON_CreateObject();
      cJSON_AddStringToObject(sj, "kind", "search");
      cJSON_AddStringToObject(sj, "dataset", dataset);
      cJSON_AddItemToObject(sj, "space", space ? ps_space_to_json(space) : cJSON_CreateNull());
      cJSON_AddStringToObject(sj, "algo", algo);
      cJSON_AddItemToObject(sj, "algo_opts", cJSON_Duplicate(algo_opts, 1));
      cJSON_AddNumberToObject(sj, "trials", trials);
      cJSON_AddNumberToObject(sj, "seed", seed);
      cJSON_AddStringToObject(sj, "pruner", pruner);
      cJSON_AddStringToObject(sj, "warm_start", warm ? warm : "none");
      cJSON_AddItemToObject(sj, "base_config", cJSON_Duplicate(cfg, 1));
      if (proxy_data) cJSON_AddStringToObject(sj, "proxy_data_file", proxy_data);
      cJSON *pn = cJSON_AddObjectToObject(sj, "proxy_net");
      cJSON_AddNumberToObject(pn, "width", w);
      cJSON_AddNumberToObject(pn, "depth", dred);
      char *p = ps_path_join(study, "study.json");
      if (ps_path_exists(p)) { /* resume: the settings that shape proposals must not change */
        cJSON *old = NULL;
        st = ps_json_read(p, &old);
        const char *keys[] = {"space", "algo", "algo_opts", "seed", "base_config", "warm_start"};
        for (int i = 0; !st && i < 6; i++)
          if (!cJSON_Compare(cJSON_GetObjectItem(old, keys[i]), cJSON_GetObjectItem(sj, keys[i]), 1))
            st = ps_error(PS_ERR_INVALID, "%s: the study was created with another '%s'; use a new --study folder", p, keys[i]);
        cJSON_Delete(old);
      }
      if (!st) st = ps_json_write(p, sj);
      free(p);
      cJSON_Delete(sj);
    }
    if (!st) st = ps_study_ctx_open(dataset, study, cfg, &ctx);
    if (!st && proxy_data) {
      st = ps_json_read(proxy_data, &sub);
      const cJSON *k = cJSON_GetObjectItemCaseSensitive(sub, "kept");
      if (!st && !cJSON_IsArray(k)) st = ps_error(PS_ERR_DATA, "%s: no 'kept' list", proxy_data);
      if (!st) { /* the subset's training cases only */
        kept = cJSON_CreateArray();
        const cJSON *a, *b;
        cJSON_ArrayForEach(a, ctx.train_ids) cJSON_ArrayForEach(b, k) if (cJSON_IsString(b) && !strcmp(a->valuestring, b->valuestring))
            cJSON_AddItemToArray(kept, cJSON_CreateString(a->valuestring));
        if (!cJSON_GetArraySize(kept)) st = ps_error(PS_ERR_DATA, "%s: none of the kept cases is a training case", proxy_data);
      }
    }
    if (!kept && !st) kept = cJSON_Duplicate(ctx.train_ids, 1);
    if (!st && warm) {
      if (!strcmp(warm, "auto")) st = ps_study_warm_start(study, cfg, ctx.cache_dir, kept, ctx.val_ids, &wck);
      else wck = ps_strdup(warm);
    }
    if (!st) {
      ps_phase_opts po = {0};
      po.study_dir = study;
      po.phase = "proxy";
      po.space = space;
      po.algo = algo;
      po.algo_opts = algo_opts;
      po.n_trials = trials;
      po.budget_seconds = budget;
      po.jobs = jobs;
      po.seed = (uint64_t)seed;
      po.base_config = cfg;
      po.cache_dir = ctx.cache_dir;
      po.train_ids = kept;
      po.val_ids = ctx.val_ids;
      po.pruner = pruner;
      po.warm_start = wck;
      st = ps_search_phase(&po);
    }
    if (!st) {
      cJSON *head = NULL;
      st = ps_study_report(study, &head);
      char *s = head ? cJSON_PrintUnformatted(head) : NULL;
      if (s) printf("%s\n", s);
      free(s);
      cJSON_Delete(head);
    }
    rc = st ? ps_cli_fail("search", st) : 0;
    free(wck);
    cJSON_Delete(cfg);
    cJSON_Delete(kept);
    cJSON_Delete(sub);
    ps_space_free(space);
    ps_study_ctx_close(&ctx);
    ps_study_lock_release(lock);
  }
out:
  free(sets);
  cJSON_Delete(algo_opts);
  return rc;
}
