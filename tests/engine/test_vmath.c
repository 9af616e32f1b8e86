/* The cpu backend's 16-lane exp and log (src/backend/cpu/cpu_vmath.h) against
 * libm in double: relative error of exp over its whole unclamped range, error
 * of log over 60 decades, the clamp at both ends, and lengths that are not a
 * multiple of 16 (the scalar tail). */
#include "backend/cpu/cpu_vmath.h"
#include "testutil.h"
#include <stdlib.h>

#define N 100003 /* not a multiple of 16 */

/* largest relative error of ps_vexp_inplace over n points spread over [lo, hi] */
static double exp_err(double lo, double hi, float *x, float *y) {
  for (int i = 0; i < N; i++) x[i] = (float)(lo + (hi - lo) * i / (N - 1));
  memcpy(y, x, N * sizeof(float));
  ps_vexp_inplace(y, N);
  double worst = 0;
  for (int i = 0; i < N; i++) {
    const double r = exp((double)x[i]), e = fabs(y[i] - r) / r;
    if (e > worst) worst = e;
  }
  return worst;
}

int main(void) {
  float *x = malloc(N * sizeof(float)), *y = malloc(N * sizeof(float));
  if (!x || !y) return 1;
  /* 2 ulp of float (2^-23 relative) at most; Cephes' expf is about 1 */
  const double ulp = 1.0 / (1 << 23);
  double e = exp_err(-87.3, 88.37, x, y);
  CHECK(e <= 2 * ulp, "exp over [-87.3, 88.37]: largest relative error %.3g (%.2f ulp)", e, e / ulp);
  e = exp_err(-12, 0, x, y); /* where softmax lives */
  CHECK(e <= 2 * ulp, "exp over [-12, 0]: largest relative error %.3g (%.2f ulp)", e, e / ulp);
  /* clamped ends: no inf, no NaN, no negative from the scale */
  float ends[17] = {-INFINITY, -1e30f, -200.0f, -87.4f, 89.0f, 1e30f};
  for (int i = 6; i < 17; i++) ends[i] = -1.0f;
  ps_vexp_inplace(ends, 17);
  for (int i = 0; i < 4; i++) CHECK(ends[i] >= 0 && ends[i] < 1e-37f, "exp of a very negative input: %g", ends[i]);
  for (int i = 4; i < 6; i++) CHECK(isfinite(ends[i]) && ends[i] > 1e38f, "exp of a large input: %g", ends[i]);
  /* log over [1e-30, 1e30], log-spaced, against an absolute error of 2 ulp of max(1, |log x|) */
  for (int i = 0; i < N; i++) x[i] = (float)pow(10.0, -30.0 + 60.0 * i / (N - 1));
  memcpy(y, x, N * sizeof(float));
  ps_vlog_inplace(y, N);
  double worst = 0;
  int at = 0;
  for (int i = 0; i < N; i++) {
    const double r = log((double)x[i]), err = fabs(y[i] - r) / (fabs(r) > 1 ? fabs(r) : 1.0);
    if (err > worst) worst = err, at = i;
  }
  CHECK(worst <= 2 * ulp, "log: largest error %.3g (%.2f ulp) at x = %g", worst, worst / ulp, x[at]);
  /* the loss takes log of sums of C exps in [1, C]: near 1, where log is small, relative to 1 */
  for (int i = 0; i < N; i++) x[i] = 1.0f + 255.0f * i / (N - 1);
  memcpy(y, x, N * sizeof(float));
  ps_vlog_inplace(y, N);
  worst = 0;
  for (int i = 0; i < N; i++) {
    const double err = fabs(y[i] - log((double)x[i]));
    if (err > worst) worst = err;
  }
  CHECK(worst <= 8 * ulp, "log over [1, 256]: largest absolute error %.3g", worst);
  free(x);
  free(y);
  return ps_test_done("test_vmath");
}
