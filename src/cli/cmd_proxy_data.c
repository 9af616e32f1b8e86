/* proxyseg proxy-data: score every training case of a dataset and keep a subset
 * (random, mi, ncc, kcenter); writes the case scores, ranks and the subset. */
#include "cli.h"
#include "proxyseg/proxy.h"
#include "proxyseg/study.h"
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
  fprintf(f, "usage: proxyseg proxy-data --dataset DIR (--fraction F | --count N) --method random|mi|ncc|kcenter\n"
             "                           [--keep diverse|typical] [--seed S] [--cache DIR] --out FILE.json\n");
}

int cmd_proxy_data(int argc, char **argv) {
  const char *dataset = NULL, *out = NULL, *cache = NULL;
  ps_proxy_data_opts o;
  ps_proxy_data_opts_default(&o);
  o.method = NULL;
  bool sized = false;
  static const struct option opts[] = {{"dataset", required_argument, 0, 'd'}, {"fraction", required_argument, 0, 'f'},
                                       {"count", required_argument, 0, 'n'},   {"method", required_argument, 0, 'm'},
                                       {"keep", required_argument, 0, 'k'},    {"seed", required_argument, 0, 's'},
                                       {"cache", required_argument, 0, 'C'},   {"out", required_argument, 0, 'o'},
                                       {0, 0, 0, 0}};
  int c, rc = 0;
  long lv;
  optind = 1;
  while ((c = ps_cli_getopt("proxy-data", argc, argv, opts, usage, &rc)) != -1) {
    bool ok = true;
    switch (c) {
    case PS_CLI_RETURN: return rc;
    case 'd': dataset = optarg; break;
    case 'f': ok = ps_cli_num("proxy-data", "fraction", optarg, 1e-9, 1, &o.fraction); sized = true; break;
    case 'n': if ((ok = ps_cli_int("proxy-data", "count", optarg, 1, 1000000, &lv))) o.count = (int)lv; sized = true; break;
    case 'm': o.method = optarg; break;
    case 'k': o.keep = optarg; break;
    case 's': if ((ok = ps_cli_int("proxy-data", "seed", optarg, 0, 0x7fffffffL, &lv))) o.seed = (uint64_t)lv; break;
    case 'C': cache = optarg; break;
    case 'o': out = optarg; break;
    }
    if (!ok) return 2;
  }
  if ((rc = ps_cli_no_positional("proxy-data", argc, argv))) return rc;
  if (!dataset || !out || !o.method || !sized) {
    fprintf(stderr, "proxyseg proxy-data: --dataset, --out, --method and --fraction or --count are required\n");
    usage(stderr);
    return 2;
  }
  char *cache_dir = NULL;
  if (cache) cache_dir = ps_strdup(cache);
  else {
    char *d = ps_strdup(out), *slash = strrchr(d, '/');
    if (slash) *slash = 0;
    cache_dir = ps_path_join(slash ? d : ".", "preprocessed");
    free(d);
  }
  ps_case *cases = NULL;
  int n = 0, n_classes = 0;
  cJSON *res = NULL;
  ps_status st = ps_study_load_cases(dataset, cache_dir, 0, &cases, &n, &n_classes);
  if (!st) st = ps_proxy_select(cases, n, &o, &res);
  if (!st) st = ps_json_write(out, res);
  if (!st) printf("{\"kept\": %d, \"of\": %d, \"method\": \"%s\", \"out\": \"%s\"}\n", ps_json_int(res, "count", 0), n, o.method, out);
  cJSON_Delete(res);
  ps_study_free_cases(cases, n);
  free(cache_dir);
  return st ? ps_cli_fail("proxy-data", st) : 0;
}
