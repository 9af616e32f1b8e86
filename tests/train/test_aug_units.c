/* Augmentation draws in batchgenerators' terms: scale and gamma fall below 1
 * with probability 1/2 whatever the interval's asymmetry ([0.7, 1.4]: half in
 * [0.7, 1], half in [1, 1.4], each uniform), an interval above 1 stays plain
 * uniform, and the per-sample probability p is honoured. */
#include "proxyseg/augment.h"
#include "testutil.h"

#define N 20000

int main(void) {
  ps_aug_policy pol = ps_aug_policy_none();
  pol.scale = (ps_aug_op){0.3, 0.7, 1.4};
  pol.gamma = (ps_aug_op){1.0, 0.5, 1.5};
  ps_rng *r = ps_rng_create(42);
  int on = 0, below = 0, g_below = 0, in_range = 1;
  double sum_lo = 0, sum_hi = 0;
  int n_lo = 0, n_hi = 0;
  for (int i = 0; i < N; i++) {
    ps_aug_draw d;
    ps_aug_draw_sample(&pol, r, &d);
    g_below += d.gamma < 1;
    in_range &= d.gamma >= 0.5 && d.gamma <= 1.5;
    if (d.scale == 1) continue;
    on++;
    in_range &= d.scale >= 0.7 && d.scale <= 1.4;
    if (d.scale < 1) { below++; sum_lo += d.scale; n_lo++; }
    else { sum_hi += d.scale; n_hi++; }
  }
  /* binomial SDs: p(on) 0.3 over 20000 -> 0.0032; halves over ~6000 -> 0.0065 */
  CHECK(fabs(on / (double)N - 0.3) < 0.015, "scale applied with p 0.3: %.4f", on / (double)N);
  CHECK(fabs(below / (double)on - 0.5) < 0.03, "scale below 1 half the time: %.4f (plain uniform would give 0.43)", below / (double)on);
  CHECK(fabs(g_below / (double)N - 0.5) < 0.02, "gamma below 1 half the time: %.4f", g_below / (double)N);
  CHECK(fabs(sum_lo / n_lo - 0.85) < 0.01 && fabs(sum_hi / n_hi - 1.2) < 0.01, "each side uniform: means %.3f (0.85), %.3f (1.2)",
        sum_lo / n_lo, sum_hi / n_hi);
  CHECK(in_range, "draws stay inside the intervals");
  /* an interval above 1: plain uniform */
  pol.scale = (ps_aug_op){1.0, 1.1, 1.3};
  double s = 0;
  for (int i = 0; i < N; i++) {
    ps_aug_draw d;
    ps_aug_draw_sample(&pol, r, &d);
    s += d.scale;
  }
  CHECK(fabs(s / N - 1.2) < 0.005, "[1.1, 1.3]: uniform, mean %.4f", s / N);
  ps_rng_free(r);
  return ps_test_done("test_aug_units");
}
