/* proxyseg study / report / demo: the whole pipeline from a study config, the
 * report rebuilt from a study folder, and the built-in demo on a synthetic task. */
#include "cli.h"
#include "proxyseg/study.h"
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The headline a person reads at the end of a study. */
static void print_headline(const char *dir) {
  cJSON *h = NULL;
  char *rp = ps_path_join(dir, "report.json");
  cJSON *rep = NULL;
  if (ps_json_read(rp, &rep)) { free(rp); return; }
  const cJSON *rho = ps_json_path(rep, "correlation.spearman");
  const cJSON *ci = cJSON_GetObjectItemCaseSensitive(rho, "ci95");
  double v = ps_json_num(rho, "value", NAN);
  fprintf(stderr, "\n== proxyseg study: %s ==\n", dir);
  fprintf(stderr, "report:   %s/report.html (and report.json)\n", dir);
  if (isfinite(v) && cJSON_GetArraySize(ci) == 2)
    fprintf(stderr, "ranking:  Spearman rho = %.3f [95%% CI %.3f, %.3f], Kendall tau = %.3f over %d configs\n", v,
            cJSON_GetArrayItem(ci, 0)->valuedouble, cJSON_GetArrayItem(ci, 1)->valuedouble,
            ps_json_num(rep, "correlation.kendall.value", NAN), ps_json_int(rep, "correlation.n", 0));
  else
    fprintf(stderr, "ranking:  not enough configs trained at both scales for a correlation\n");
  fprintf(stderr, "speed-up: %.1fx (%s)\n", ps_json_num(rep, "speedup.factor", NAN), ps_json_str(rep, "speedup.how", "n/a"));
  const cJSON *best = cJSON_GetObjectItemCaseSensitive(rep, "best");
  char *params = best ? cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(best, "params")) : NULL;
  fprintf(stderr, "best:     trial %d %s: proxy Dice %.4f, full Dice %.4f\n", ps_json_int(best, "trial", -1),
          params ? params : "{}", ps_json_num(best, "proxy_score", NAN), ps_json_num(best, "full_score", NAN));
  free(params);
  cJSON_Delete(h);
  cJSON_Delete(rep);
  free(rp);
}

int cmd_study(int argc, char **argv) {
  const char *config = NULL, *out = NULL;
  static struct option opts[] = {{"config", required_argument, 0, 'c'}, {"out", required_argument, 0, 'o'},
                                 {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    if (c == 'c') config = optarg;
    else if (c == 'o') out = optarg;
    else {
      FILE *f = c == 'h' ? stdout : stderr;
      fprintf(f, "usage: proxyseg study --config FILE --out DIR\n"
                 "  Runs proxy data -> proxy network -> search -> full-scale re-training -> report.\n"
                 "  Re-running the same command resumes. See README.md for the config keys.\n");
      return c == 'h' ? 0 : 2;
    }
  }
  if (!config || !out) { fprintf(stderr, "usage: proxyseg study --config FILE --out DIR\n"); return 2; }
  cJSON *cfg = NULL;
  ps_status st = ps_json_read(config, &cfg);
  if (!st && !cJSON_IsObject(cfg)) st = ps_error(PS_ERR_INVALID, "%s: the study config must be a JSON object", config);
  if (!st) st = ps_study_run(cfg, out);
  cJSON_Delete(cfg);
  if (st) return ps_cli_fail("study", st);
  print_headline(out);
  return 0;
}

int cmd_report(int argc, char **argv) {
  if (argc != 3 || strcmp(argv[1], "--study")) {
    fprintf(stderr, "usage: proxyseg report --study DIR   (rebuilds report.json and report.html from the journal)\n");
    return 2;
  }
  ps_status st = ps_study_report(argv[2], NULL);
  if (st) return ps_cli_fail("report", st);
  print_headline(argv[2]);
  return 0;
}

/* The demo study: small enough for the 2-core machine (about 10 minutes; --quick about 2). */
int cmd_demo(int argc, char **argv) {
  bool quick = false;
  const char *out = NULL;
  static struct option opts[] = {{"quick", no_argument, 0, 'q'}, {"out", required_argument, 0, 'o'},
                                 {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    if (c == 'q') quick = true;
    else if (c == 'o') out = optarg;
    else {
      fprintf(c == 'h' ? stdout : stderr, "usage: proxyseg demo [--quick] [--out DIR]\n"
                                          "  Generates a synthetic task and runs a whole study on it (default out: demo/).\n");
      return c == 'h' ? 0 : 2;
    }
  }
  if (!out) out = quick ? "demo-quick" : "demo";
  /* Sized for the 2-core reference machine: --quick about 2 minutes, the full demo
   * under 10. Proxy: 40-50 % of the training cases (kcenter), half the width and
   * one stage less; full: every training case and the whole network, trained longer. */
  const char *cfg_s = quick ?
      "{\"generate\": {\"cases\": 16, \"size\": 32, \"seed\": 1},"
      " \"space\": \"lr_aug\", \"algo\": \"random\", \"trials\": 6, \"seed\": 0,"
      " \"proxy_data\": {\"method\": \"kcenter\", \"fraction\": 0.5},"
      " \"proxy_net\": {\"width\": 0.5, \"depth\": 1},"
      " \"train\": {\"patch\": [32, 32, 32], \"batch\": 2, \"net\": {\"stages\": 3, \"base_features\": 8},"
      "            \"val\": {\"folds\": 4, \"every\": 100}},"
      " \"proxy_train\": {\"epochs\": 4, \"iters_per_epoch\": 15},"
      " \"full_train\": {\"epochs\": 6, \"iters_per_epoch\": 15},"
      " \"retrain\": {\"count\": 4}}"
      :
      "{\"generate\": {\"cases\": 24, \"size\": 48, \"seed\": 1},"
      " \"space\": \"lr_aug\", \"algo\": \"random\", \"trials\": 12, \"seed\": 0,"
      " \"proxy_data\": {\"method\": \"kcenter\", \"fraction\": 0.4},"
      " \"proxy_net\": {\"width\": 0.5, \"depth\": 1},"
      " \"train\": {\"patch\": [32, 32, 32], \"batch\": 2, \"net\": {\"stages\": 3, \"base_features\": 16},"
      "            \"val\": {\"folds\": 4, \"every\": 100}},"
      " \"proxy_train\": {\"epochs\": 6, \"iters_per_epoch\": 16},"
      " \"full_train\": {\"epochs\": 8, \"iters_per_epoch\": 20},"
      " \"retrain\": {\"count\": 8}}";
  cJSON *cfg = cJSON_Parse(cfg_s);
  double t0 = ps_now();
  ps_status st = ps_study_run(cfg, out);
  cJSON_Delete(cfg);
  if (st) return ps_cli_fail("demo", st);
  print_headline(out);
  fprintf(stderr, "demo finished in %.0f s\n", ps_now() - t0);
  return 0;
}
