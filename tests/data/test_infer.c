/* Sliding window: a pointwise predictor (one-hot of a thresholded input) must
 * be reproduced exactly whatever the overlap, weighting, mirroring, batch and
 * padding; nnU-Net's step positions; argmax. */
#include "testutil.h"
#include "proxyseg/infer.h"
#include <stdlib.h>
#include <string.h>

typedef struct { int C, K, pv, calls; } pctx;

/* class = number of channels above 0.5 ... clipped to K-1; one-hot output */
static ps_status pointwise(void *ud, const float *x, int b, float *probs) {
  pctx *c = ud;
  c->calls++;
  for (int i = 0; i < b; i++)
    for (int v = 0; v < c->pv; v++) {
      int cls = 0;
      for (int ch = 0; ch < c->C; ch++) cls += x[((size_t)i * c->C + ch) * c->pv + v] > 0.5f;
      if (cls > c->K - 1) cls = c->K - 1;
      for (int k = 0; k < c->K; k++) probs[((size_t)i * c->K + k) * c->pv + v] = k == cls ? 1.f : 0.f;
    }
  return PS_OK;
}

static ps_status failing(void *ud, const float *x, int b, float *probs) {
  (void)ud; (void)x; (void)b; (void)probs;
  return ps_error(PS_ERR_RUNTIME, "network exploded");
}

static void run_case(int64_t d, int64_t h, int64_t w, const int patch[3], double overlap, bool gauss, int axes, int batch) {
  const int C = 2, K = 3;
  ps_volume img;
  CHECK_OK(ps_volume_alloc(&img, C, d, h, w));
  size_t n = (size_t)(d * h * w);
  ps_rng *r = ps_rng_create((uint64_t)(d * 7 + h * 3 + w + batch));
  for (size_t i = 0; i < (size_t)C * n; i++) img.data[i] = (float)ps_rng_uniform(r);
  float *probs = malloc((size_t)K * n * sizeof(float));
  pctx ctx = {C, K, patch[0] * patch[1] * patch[2], 0};
  CHECK_OK(ps_sliding_window_axes(&img, patch, K, overlap, gauss, axes, batch, pointwise, &ctx, probs));
  double maxerr = 0;
  for (size_t v = 0; v < n; v++) {
    int cls = (img.data[v] > 0.5f) + (img.data[n + v] > 0.5f);
    for (int k = 0; k < K; k++) {
      double e = fabs(probs[k * n + v] - (k == cls ? 1.0 : 0.0));
      if (e > maxerr) maxerr = e;
    }
  }
  CHECK(maxerr < 1e-5, "image %lldx%lldx%lld patch %dx%dx%d overlap %g gauss %d axes %d batch %d: max error %g",
        (long long)d, (long long)h, (long long)w, patch[0], patch[1], patch[2], overlap, gauss, axes, batch, maxerr);
  ps_labelmap lm;
  CHECK_OK(ps_probs_argmax(probs, K, d, h, w, &img, &lm));
  size_t bad = 0;
  for (size_t v = 0; v < n; v++) bad += lm.data[v] != (img.data[v] > 0.5f) + (img.data[n + v] > 0.5f);
  CHECK(bad == 0, "argmax differs at %zu voxels", bad);
  ps_labelmap_free(&lm);
  ps_rng_free(r);
  free(probs);
  ps_volume_free(&img);
}

int main(void) {
  int64_t st[8];
  CHECK(ps_sliding_steps(100, 64, 0.5, st, 8) == 3 && st[0] == 0 && st[1] == 18 && st[2] == 36, "steps 100/64: %lld %lld %lld", (long long)st[0], (long long)st[1], (long long)st[2]);
  CHECK(ps_sliding_steps(64, 64, 0.5, st, 8) == 1 && st[0] == 0, "steps 64/64");
  CHECK(ps_sliding_steps(65, 64, 0.5, st, 8) == 2 && st[1] == 1, "steps 65/64");
  CHECK(ps_sliding_steps(128, 32, 0.5, st, 8) == 7 && st[6] == 96 && st[1] == 16, "steps 128/32");
  CHECK(ps_sliding_steps(100, 64, 0.0, st, 8) == 2 && st[1] == 36, "steps overlap 0");

  float w[8 * 8 * 8];
  ps_gaussian_importance((int[3]){8, 8, 8}, w);
  CHECK_NEAR(w[(4 * 8 + 4) * 8 + 4], 1.0, 1e-6);
  CHECK(w[0] > 0 && w[0] < w[(4 * 8 + 4) * 8 + 3], "gaussian map must be positive and peak at the centre");

  const int p1[3] = {8, 12, 10};
  run_case(20, 25, 23, p1, 0.5, true, 0, 3);
  run_case(20, 25, 23, p1, 0.5, false, 0, 1);
  run_case(20, 25, 23, p1, 0.0, true, 0, 4);
  run_case(20, 25, 23, p1, 0.75, true, 7, 5);
  run_case(20, 25, 23, p1, 0.33, false, 5, 2);
  run_case(5, 25, 7, p1, 0.5, true, 7, 4);  /* smaller than the patch along D and W: padded */
  run_case(3, 4, 5, p1, 0.5, true, 2, 8);   /* smaller everywhere */

  /* batching: window count with TTA; callback errors propagate */
  ps_volume img;
  CHECK_OK(ps_volume_alloc(&img, 1, 16, 16, 16));
  float *probs = malloc(2 * 4096 * sizeof(float));
  pctx ctx = {1, 2, 8 * 8 * 8, 0};
  const int p2[3] = {8, 8, 8};
  CHECK_OK(ps_sliding_window(&img, p2, 2, 0.5, true, true, 4, pointwise, &ctx, probs));
  CHECK(ctx.calls == 3 * 3 * 3 * 8 / 4, "calls %d, expected 54 (27 windows x 8 flips / batch 4)", ctx.calls);
  CHECK(ps_sliding_window(&img, p2, 2, 0.5, true, false, 4, failing, NULL, probs) == PS_ERR_RUNTIME, "callback error must propagate");
  CHECK(ps_sliding_window(&img, p2, 2, 1.0, true, false, 4, pointwise, &ctx, probs) == PS_ERR_INVALID, "overlap 1 must be rejected");
  free(probs);
  ps_volume_free(&img);
  return ps_test_done("test_infer");
}
