/* The size of a network before training it: parameter count and conv MACs of
 * one forward pass per sample, for an arch JSON file (a U-Net arch or a
 * genotype.json), optionally at another cell stem width. nas_vs_unet.sh uses it
 * to widen a derived cell network to the U-Net's FLOPs (the paper's ±5 %).
 * Prints one JSON line: family, params, macs, gflops (2 x MACs / 1e9). */
#include "proxyseg/nn.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
  if (argc < 3 || argc > 5) {
    fprintf(stderr, "usage: %s ARCH.json PATCH [STEM_FEATURES] [IN_CHANNELS]\n"
                    "  ARCH.json: a net config ({} = the U-Net defaults) or a genotype.json; PATCH: cube edge;\n"
                    "  STEM_FEATURES: override net.stem_features (cells) first\n", argv[0]);
    return 2;
  }
  ps_log_set_level(PS_LOG_WARN);
  cJSON *arch = NULL;
  if (ps_json_read(argv[1], &arch)) {
    fprintf(stderr, "bench_net_cost: %s\n", ps_last_error());
    return 3;
  }
  int patch = atoi(argv[2]), cin = argc > 4 ? atoi(argv[4]) : 1;
  if (patch < 1 || cin < 1) {
    fprintf(stderr, "bench_net_cost: PATCH and IN_CHANNELS must be positive\n");
    cJSON_Delete(arch);
    return 2;
  }
  if (argc > 3) cJSON_ReplaceItemInObjectCaseSensitive(arch, "stem_features", cJSON_CreateNumber(atoi(argv[3])));
  ps_net *net = NULL;
  if (ps_net_create(arch, cin, 2, 1, &net)) {
    fprintf(stderr, "bench_net_cost: %s: %s\n", argv[1], ps_last_error());
    cJSON_Delete(arch);
    return 3;
  }
  double macs = ps_net_conv_macs(net, patch, patch, patch);
  printf("{\"family\":\"%s\",\"params\":%zu,\"macs\":%.0f,\"gflops\":%.4f}\n", ps_net_family(net),
         ps_params_numel(ps_net_params(net)), macs, 2 * macs / 1e9);
  ps_net_free(net);
  cJSON_Delete(arch);
  return 0;
}
