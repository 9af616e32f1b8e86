/* One rotation decision per sample, as batchgenerators' p_rot: with equal
 * per-axis p's the three axes rotate together or not at all (independent
 * per-axis draws would rotate exactly one or two axes in 63 % of samples at
 * p 0.3); with unequal p's each axis keeps its marginal p, some rotation
 * happens with the largest p, and the axes nest (a lower-p axis never rotates
 * without the higher-p ones); each axis draws its own angle from its own range.
 * ASNG's policies (one p_rot for all axes) rotate all-or-none. Binomial bounds
 * at about 4.5 SD over 20000 samples. */
#include "proxyseg/augment.h"
#include "../../search/asng_plugin.h"
#include "testutil.h"
#include <math.h>

#define N 20000

static int rotated_axes(const ps_aug_draw *d) { return (d->rot[0] != 0) + (d->rot[1] != 0) + (d->rot[2] != 0); }

/* |observed - p| within 4.5 binomial SDs */
static bool near_p(int count, int n, double p) { return fabs(count / (double)n - p) < 4.5 * sqrt(p * (1 - p) / n) + 1e-12; }

int main(void) {
  ps_rng *r = ps_rng_create(7);
  /* equal p 0.3: all or none */
  ps_aug_policy pol = ps_aug_policy_none();
  pol.rot_x = (ps_aug_op){0.3, -0.5, 0.5};
  pol.rot_y = (ps_aug_op){0.3, 0.1, 0.2};
  pol.rot_z = (ps_aug_op){0.3, -0.3, -0.1};
  int hist[4] = {0};
  double sx = 0, sy = 0, sz = 0, sxy = 0, sxx = 0, syy = 0;
  bool in_range = true;
  for (int i = 0; i < N; i++) {
    ps_aug_draw d;
    ps_aug_draw_sample(&pol, r, &d);
    hist[rotated_axes(&d)]++;
    if (rotated_axes(&d) == 3) {
      sx += d.rot[0]; sy += d.rot[1]; sz += d.rot[2];
      sxy += d.rot[0] * d.rot[1]; sxx += d.rot[0] * d.rot[0]; syy += d.rot[1] * d.rot[1];
      in_range &= d.rot[0] >= -0.5 && d.rot[0] <= 0.5 && d.rot[1] >= 0.1 && d.rot[1] <= 0.2 && d.rot[2] >= -0.3 &&
                  d.rot[2] <= -0.1;
    }
  }
  CHECK(hist[1] == 0 && hist[2] == 0, "equal p: %d samples rotated one axis, %d two (one decision per sample: none)",
        hist[1], hist[2]);
  CHECK(near_p(hist[3], N, 0.3), "equal p 0.3: rotated in %.4f of samples", hist[3] / (double)N);
  int m = hist[3];
  CHECK(in_range, "an angle outside its axis's range");
  CHECK(fabs(sx / m) < 0.02 && fabs(sy / m - 0.15) < 0.003 && fabs(sz / m + 0.2) < 0.005,
        "angle means %.4f %.4f %.4f (0, 0.15, -0.2)", sx / m, sy / m, sz / m);
  double cxy = (sxy / m - sx / m * sy / m) / sqrt((sxx / m - sx / m * sx / m) * (syy / m - sy / m * sy / m));
  CHECK(fabs(cxy) < 0.06, "the axes' angles are drawn independently: correlation %.3f", cxy);

  /* unequal p: marginals kept, any rotation with the largest p, nested */
  pol.rot_x.p = 0.1;
  pol.rot_y.p = 0.4;
  pol.rot_z.p = 0.2;
  int nx = 0, ny = 0, nz = 0, any = 0, unnested = 0;
  for (int i = 0; i < N; i++) {
    ps_aug_draw d;
    ps_aug_draw_sample(&pol, r, &d);
    bool x = d.rot[0] != 0, y = d.rot[1] != 0, z = d.rot[2] != 0;
    nx += x; ny += y; nz += z; any += x || y || z;
    unnested += (x && !(y && z)) || (z && !y);
  }
  CHECK(near_p(nx, N, 0.1) && near_p(ny, N, 0.4) && near_p(nz, N, 0.2), "marginals %.4f %.4f %.4f (0.1, 0.4, 0.2)",
        nx / (double)N, ny / (double)N, nz / (double)N);
  CHECK(near_p(any, N, 0.4), "some rotation in %.4f of samples, expected the largest p 0.4 (independent: 0.568)",
        any / (double)N);
  CHECK(unnested == 0, "%d samples rotated a lower-p axis without the higher-p ones", unnested);

  /* ASNG's policy: one p_rot (variable 15) for the three axes */
  int c[18];
  for (int i = 0; i < 18; i++) c[i] = 10;
  c[15] = 5; /* p_rot = 0.5 at 11 levels */
  ps_asng_policy_of(c, 11, &pol);
  int h2[4] = {0};
  for (int i = 0; i < N; i++) {
    ps_aug_draw d;
    ps_aug_draw_sample(&pol, r, &d);
    h2[rotated_axes(&d)]++;
  }
  CHECK(h2[1] == 0 && h2[2] == 0 && near_p(h2[3], N, 0.5), "ASNG p_rot 0.5: %d none, %d one, %d two, %d three axes",
        h2[0], h2[1], h2[2], h2[3]);
  ps_rng_free(r);
  return ps_test_done("test_aug_prot");
}
