/* libFuzzer target: arbitrary bytes as a checkpoint, through both readers
 * (`predict`'s ps_checkpoint_load_net, and `train --resume`'s
 * ps_checkpoint_load into a network with an optimiser, state and RNG), the
 * whole-file checksum checked first as in production.
 * Built a second time with PS_FUZZ_FIXUP (fuzz_checkpoint_hdf5): the input is
 * re-stamped with a valid checksum before the read, so that the mutations reach
 * HDF5 itself — the layer production only reaches with a matching checksum
 * (or a file without one, written before the checksum existed).
 * PS_FUZZ_WRITE_SEEDS=DIR: write the valid checkpoints there. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_tmp.h"
#include "proxyseg/nn.h"

#define ARCH "{\"stages\":2,\"base_features\":2}"
#define USERBLOCK 512
#define STAMP "proxyseg-checkpoint fnv1a64 "

static char path[256];
static ps_net *net;
static ps_optim *opt;
static ps_rng *rng;

static void setup(void) {
  ps_fuzz_tmp_path(path, sizeof path, "ps_fuzz_ckpt", ".h5");
  cJSON *arch = cJSON_Parse(ARCH), *hp = cJSON_Parse("{\"momentum\":0.9}");
  if (ps_net_create(arch, 1, 2, 7, &net) != PS_OK) abort();
  opt = ps_optim_create("sgd", ps_net_params(net), hp);
  rng = ps_rng_create(3);
  cJSON_Delete(arch);
  cJSON_Delete(hp);
  if (!opt || !rng) abort();
  const char *seeds = getenv("PS_FUZZ_WRITE_SEEDS");
  if (seeds && *seeds) {
    /* a predict checkpoint (weights only) and a resumable one (optimiser, state, RNG) */
    ps_mkdir_p(seeds);
    cJSON *state = cJSON_Parse("{\"epoch\":3,\"lr\":0.001}");
    char *a = ps_path_join(seeds, "weights.h5"), *b = ps_path_join(seeds, "resume.h5");
    if (ps_checkpoint_save(a, net, NULL, NULL, NULL) || ps_checkpoint_save(b, net, opt, state, rng)) abort();
    free(a), free(b);
    cJSON_Delete(state);
  }
}

#ifdef PS_FUZZ_FIXUP
static uint64_t fnv1a64(const unsigned char *p, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!path[0]) setup();
#ifdef PS_FUZZ_FIXUP
  /* the input is the HDF5 image after the user block; stamp it as the writer does */
  unsigned char *img = malloc(size + USERBLOCK);
  if (!img) return 0;
  memset(img, 0, USERBLOCK);
  snprintf((char *)img, USERBLOCK, STAMP "%016llx %llu\n", (unsigned long long)fnv1a64(data, size),
           (unsigned long long)size);
  memcpy(img + USERBLOCK, data, size);
  int bad = size == 0 || ps_fuzz_write(path, img, size + USERBLOCK);
  free(img);
  if (bad) return 0;
#else
  if (ps_fuzz_write(path, data, size)) return 0;
#endif
  ps_net *m = NULL;
  if (ps_checkpoint_load_net(path, &m) == PS_OK) ps_net_free(m);
  cJSON *state = NULL;
  if (ps_checkpoint_load(path, net, opt, &state, rng) == PS_OK) cJSON_Delete(state);
  return 0;
}
