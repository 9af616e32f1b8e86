/* Softmax over dim 1 of [N, C, ...] (channels of NCDHW) or [N, F]. Works on
 * blocks of voxels so that the strided channel loop stays in cache: max, then
 * exp and sum, then scale. Backward from the saved output:
 * dx = y * (dy - sum_c y dy). */
#include "op_internal.h"
#include <math.h>
#include <stdlib.h>

#define SM_BLOCK 256

static void softmax_backward(ps_tape *t, ps_node *n) {
  ps_tensor *x = n->in[0], *yt = n->out;
  bool fresh;
  float *g = ps_op_grad(t, x, &fresh);
  if (!g) return;
  const int64_t N = x->shape[0], C = x->shape[1], S = ps_op_inner(x, 2);
  const int64_t nblk = (S + SM_BLOCK - 1) / SM_BLOCK;
  const float *y = yt->data, *dy = yt->grad;
#pragma omp parallel for collapse(2) if (x->numel > PS_OMP_MIN) schedule(static)
  for (int64_t i = 0; i < N; i++)
    for (int64_t b = 0; b < nblk; b++) {
      const int64_t s0 = b * SM_BLOCK, len = S - s0 < SM_BLOCK ? S - s0 : SM_BLOCK;
      const int64_t base = i * C * S + s0;
      float dot[SM_BLOCK];
      for (int64_t s = 0; s < len; s++) dot[s] = 0;
      for (int64_t c = 0; c < C; c++) {
        const float *yc = y + base + c * S, *dc = dy + base + c * S;
        for (int64_t s = 0; s < len; s++) dot[s] += yc[s] * dc[s];
      }
      for (int64_t c = 0; c < C; c++) {
        const float *yc = y + base + c * S, *dc = dy + base + c * S;
        float *gc = g + base + c * S;
        if (fresh)
          for (int64_t s = 0; s < len; s++) gc[s] = yc[s] * (dc[s] - dot[s]);
        else
          for (int64_t s = 0; s < len; s++) gc[s] += yc[s] * (dc[s] - dot[s]);
      }
    }
}

ps_tensor *ps_softmax(ps_tape *t, ps_tensor *x) {
  if (!ps_op_check_ndim("ps_softmax", "x", x, -2)) return NULL;
  ps_tensor *yt = ps_tape_tensor_like(t, x);
  if (!yt) return NULL;
  const int64_t N = x->shape[0], C = x->shape[1], S = ps_op_inner(x, 2);
  const int64_t nblk = (S + SM_BLOCK - 1) / SM_BLOCK;
  const float *xv = x->data;
  float *y = yt->data;
#pragma omp parallel for collapse(2) if (x->numel > PS_OMP_MIN) schedule(static)
  for (int64_t i = 0; i < N; i++)
    for (int64_t b = 0; b < nblk; b++) {
      const int64_t s0 = b * SM_BLOCK, len = S - s0 < SM_BLOCK ? S - s0 : SM_BLOCK;
      const int64_t base = i * C * S + s0;
      float m[SM_BLOCK], sum[SM_BLOCK];
      for (int64_t s = 0; s < len; s++) { m[s] = -INFINITY; sum[s] = 0; }
      for (int64_t c = 0; c < C; c++) {
        const float *xc = xv + base + c * S;
        for (int64_t s = 0; s < len; s++) m[s] = xc[s] > m[s] ? xc[s] : m[s];
      }
      for (int64_t c = 0; c < C; c++) {
        const float *xc = xv + base + c * S;
        float *yc = y + base + c * S;
        for (int64_t s = 0; s < len; s++) { yc[s] = expf(xc[s] - m[s]); sum[s] += yc[s]; }
      }
      for (int64_t s = 0; s < len; s++) sum[s] = 1.0f / sum[s];
      for (int64_t c = 0; c < C; c++) {
        float *yc = y + base + c * S;
        for (int64_t s = 0; s < len; s++) yc[s] *= sum[s];
      }
    }
  PS_OP_RECORD(t, "softmax", softmax_backward, yt, 1, &x, NULL);
  return yt;
}
