/* proxyseg proxy-data: score every training case of a dataset and keep a subset
 * (random, mi, ncc, kcenter); writes the case scores, ranks and the subset. */
#include "cli.h"
#include "proxyseg/proxy.h"
#include "proxyseg/study.h"
#include <getopt.h>
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
  static struct option opts[] = {{"dataset", required_argument, 0, 'd'}, {"fraction", required_argument, 0, 'f'},
                                 {"count", required_argument, 0, 'n'},   {"method", required_argument, 0, 'm'},
                                 {"keep", required_argument, 0, 'k'},    {"seed", required_argument, 0, 's'},
                                 {"cache", required_argument, 0, 'C'},   {"out", required_argument, 0, 'o'},
                                 {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 'd': dataset = optarg; break;
    case 'f': o.fraction = atof(optarg); sized = true; break;
    case 'n': o.count = atoi(optarg); sized = true; break;
    case 'm': o.method = optarg; break;
    case 'k': o.keep = optarg; break;
    case 's': o.seed = strtoull(optarg, NULL, 10); break;
    case 'C': cache = optarg; break;
    case 'o': out = optarg; break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (!dataset || !out || !o.method || !sized || !(o.fraction > 0 && o.fraction <= 1)) { usage(stderr); return 2; }
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
