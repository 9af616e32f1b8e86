/* Corrupt checkpoints are refused, never used: a byte flipped anywhere in the
 * file either makes loading fail with PS_ERR_DATA naming the file, or leaves
 * everything that is read (architecture, weights, optimiser state, training
 * state) identical — a flip in padding or unused space. Before the checksums
 * 22 of 24 random flips were accepted by `predict` with exit 0. NaN weights
 * are refused too. */
#include "proxyseg/nn.h"
#include "testutil.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARCH "{\"stages\":2,\"base_features\":4}"

static bool same_params(ps_params *a, ps_params *b) {
  return ps_params_numel(a) == ps_params_numel(b) &&
         memcmp(ps_params_data(a), ps_params_data(b), ps_params_numel(a) * sizeof(float)) == 0;
}

static unsigned char *slurp(const char *p, size_t *n) {
  char *d;
  if (ps_read_file(p, 0, &d, n)) return NULL;
  return (unsigned char *)d;
}

static void spill(const char *p, const unsigned char *d, size_t n) {
  FILE *f = fopen(p, "wb");
  if (f) {
    fwrite(d, 1, n, f);
    fclose(f);
  }
}

int main(void) {
  char *dir = ps_test_tmpdir("checkpoint_corrupt");
  char *path = ps_path_join(dir, "ckpt.h5"), *bad = ps_path_join(dir, "bad.h5");
  cJSON *arch = cJSON_Parse(ARCH);
  ps_net *n = NULL;
  CHECK_OK(ps_net_create(arch, 1, 2, 7, &n));
  cJSON *state = cJSON_Parse("{\"epoch\":3,\"lr\":0.001,\"config\":{\"patch\":[32,32,32]}}");
  CHECK_OK(ps_checkpoint_save(path, n, NULL, state, NULL));
  char *want_state = cJSON_PrintUnformatted(state);
  size_t size;
  unsigned char *orig = slurp(path, &size);
  CHECK(orig && size > 1000, "checkpoint read back");

  /* every 97th byte (a deterministic spread over metadata and data), flipped */
  int refused = 0, harmless = 0, silent = 0;
  unsigned char *copy = malloc(size);
  for (size_t off = 13; off < size; off += 97) {
    memcpy(copy, orig, size);
    copy[off] ^= 0x5a;
    spill(bad, copy, size);
    ps_net *m = NULL;
    ps_status st = ps_checkpoint_load_net(bad, &m);
    cJSON *st_json = NULL;
    if (!st) st = ps_checkpoint_load(bad, m, NULL, &st_json, NULL);
    if (st) {
      CHECK(st == PS_ERR_DATA && strstr(ps_last_error(), "bad.h5"), "offset %zu: error %d '%s'", off, st,
            ps_last_error());
      refused++;
    } else {
      char *got = cJSON_PrintUnformatted(st_json);
      bool same = same_params(ps_net_params(n), ps_net_params(m)) && got && !strcmp(got, want_state);
      if (same) harmless++;
      else {
        silent++;
        fprintf(stderr, "offset %zu of %zu: accepted with different content\n", off, size);
      }
      free(got);
    }
    cJSON_Delete(st_json);
    ps_net_free(m);
  }
  printf("byte flips: %d refused, %d harmless, %d accepted with different content (file %zu bytes)\n", refused,
         harmless, silent, size);
  CHECK(silent == 0, "%d corrupt checkpoints were accepted", silent);
  CHECK(refused > 0, "no flip was refused: the test touched nothing");

  /* a NaN weight: refused, naming the tensor */
  ps_tensor *w = ps_params_get(ps_net_params(n), 0);
  w->data[0] = NAN;
  CHECK_OK(ps_checkpoint_save(path, n, NULL, state, NULL));
  ps_net *m = NULL;
  CHECK(ps_checkpoint_load_net(path, &m) == PS_ERR_DATA && strstr(ps_last_error(), "NaN or infinite") &&
            strstr(ps_last_error(), w->name),
        "NaN weights accepted: %s", ps_last_error());
  ps_net_free(m);

  free(copy);
  free(orig);
  free(want_state);
  cJSON_Delete(state);
  cJSON_Delete(arch);
  ps_net_free(n);
  free(path);
  free(bad);
  free(dir);
  return ps_test_done("checkpoint_corrupt");
}
