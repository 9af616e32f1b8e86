/* Max and average pooling over D, H, W of [N, C, D, H, W]: any kernel, stride
 * and padding (at most half the kernel, as PyTorch), floor output size. Max pool
 * pads with -inf and saves the argmax (index in the input plane) for backward;
 * avg pool divides by the full kernel volume (count_include_pad) or by the
 * number of real voxels in the window. OpenMP over output rows (forward) and
 * over (n, c) planes (backward: overlapping windows scatter into one plane). */
#include "op_internal.h"
#include <math.h>
#include <string.h>

typedef struct {
  ps_pool_params p;
  int64_t in[3], out[3];   /* spatial sizes D, H, W */
  int32_t *argmax;         /* max pool: [N*C*out volume] */
} pool_ctx;

static bool pool_setup(const char *op, const ps_tensor *x, const ps_pool_params *p, pool_ctx *c) {
  if (!ps_op_check_ndim(op, "x", x, 5)) return false;
  if (!p) {
    ps_error(PS_ERR_INVALID, "%s: pool params are NULL", op);
    return false;
  }
  char b[96];
  for (int d = 0; d < 3; d++) {
    if (p->kernel[d] < 1 || p->stride[d] < 1 || p->pad[d] < 0 || p->pad[d] > p->kernel[d] / 2) {
      ps_error(PS_ERR_INVALID, "%s: dim %d has kernel %d, stride %d, pad %d (need kernel, stride >= 1 and 0 <= pad <= kernel/2)",
               op, d, p->kernel[d], p->stride[d], p->pad[d]);
      return false;
    }
    c->in[d] = x->shape[2 + d];
    int64_t span = c->in[d] + 2 * p->pad[d] - p->kernel[d];
    if (span < 0) {
      ps_error(PS_ERR_INVALID, "%s: input %s is smaller than kernel %dx%dx%d with padding %d,%d,%d", op,
               ps_shape_str(x, b, sizeof b), p->kernel[0], p->kernel[1], p->kernel[2], p->pad[0], p->pad[1], p->pad[2]);
      return false;
    }
    c->out[d] = span / p->stride[d] + 1;
  }
  if (c->in[0] * c->in[1] * c->in[2] > INT32_MAX) {
    ps_error(PS_ERR_INVALID, "%s: input plane of %s is too large (over 2^31 voxels)", op, ps_shape_str(x, b, sizeof b));
    return false;
  }
  c->p = *p;
  c->argmax = NULL;
  return true;
}

/* kernel 2, stride 2, no padding in all three dims: the U-Net's downsampling,
 * served by unrolled loops (same visiting order as the generic ones) */
static inline bool is_222(const pool_ctx *c) {
  for (int d = 0; d < 3; d++)
    if (c->p.kernel[d] != 2 || c->p.stride[d] != 2 || c->p.pad[d] != 0) return false;
  return true;
}

/* clipped window [lo, hi) of output index o along dim d */
static inline void win(const pool_ctx *c, int d, int64_t o, int64_t *lo, int64_t *hi) {
  int64_t s = o * c->p.stride[d] - c->p.pad[d], e = s + c->p.kernel[d];
  *lo = s < 0 ? 0 : s;
  *hi = e > c->in[d] ? c->in[d] : e;
}

static void max_backward(ps_tape *t, ps_node *n) {
  const pool_ctx *c = n->ctx;
  ps_tensor *x = n->in[0];
  bool fresh;
  float *g = ps_op_grad(t, x, &fresh);
  if (!g) return;
  const int64_t planes = x->shape[0] * x->shape[1], vin = c->in[0] * c->in[1] * c->in[2],
                vout = c->out[0] * c->out[1] * c->out[2];
  const float *dy = n->out->grad;
#pragma omp parallel for if (x->numel > PS_OMP_MIN) schedule(static)
  for (int64_t pl = 0; pl < planes; pl++) {
    float *gp = g + pl * vin;
    if (fresh) memset(gp, 0, (size_t)vin * sizeof(float));
    const int32_t *am = c->argmax + pl * vout;
    const float *dp = dy + pl * vout;
    for (int64_t o = 0; o < vout; o++) gp[am[o]] += dp[o];
  }
}

ps_tensor *ps_max_pool3d(ps_tape *t, ps_tensor *x, const ps_pool_params *p) {
  pool_ctx cs, *c = &cs;
  if (!pool_setup("ps_max_pool3d", x, p, c)) return NULL;
  const int64_t N = x->shape[0], C = x->shape[1];
  ps_tensor *y = ps_tape_tensor(t, 5, (int64_t[]){N, C, c->out[0], c->out[1], c->out[2]});
  if (!y) return NULL;
  const bool rec = x->requires_grad && ps_tape_grad_enabled(t);
  if (rec) {
    c = ps_tape_alloc(t, sizeof *c);
    if (!c) return NULL;
    *c = cs;
    c->argmax = ps_tape_alloc(t, (size_t)y->numel * sizeof(int32_t));
    if (!c->argmax) return NULL;
  }
  const int64_t OD = c->out[0], OH = c->out[1], OW = c->out[2], H = c->in[1], W = c->in[2];
  const int64_t vin = c->in[0] * H * W;
  int32_t *am = c->argmax;
  if (is_222(c)) {
#pragma omp parallel for collapse(2) if (y->numel > PS_OMP_MIN / 4) schedule(static)
    for (int64_t pl = 0; pl < N * C; pl++)
      for (int64_t od = 0; od < OD; od++)
        for (int64_t oh = 0; oh < OH; oh++) {
          const float *xp = x->data + pl * vin;
          const int64_t o00 = (2 * od * H + 2 * oh) * W, off[4] = {o00, o00 + W, o00 + H * W, o00 + H * W + W};
          const int64_t orow = ((pl * OD + od) * OH + oh) * OW;
          for (int64_t ow = 0; ow < OW; ow++) {
            const int64_t w = 2 * ow;
            float m = xp[off[0] + w];
            int64_t mi = off[0] + w;
#define PS_MAX_CAND(idx)                                                   \
  do {                                                                     \
    const float v = xp[idx];                                               \
    if (v > m || (v != v && m == m)) { m = v; mi = (idx); }                \
  } while (0)
            PS_MAX_CAND(off[0] + w + 1);
            PS_MAX_CAND(off[1] + w);
            PS_MAX_CAND(off[1] + w + 1);
            PS_MAX_CAND(off[2] + w);
            PS_MAX_CAND(off[2] + w + 1);
            PS_MAX_CAND(off[3] + w);
            PS_MAX_CAND(off[3] + w + 1);
#undef PS_MAX_CAND
            y->data[orow + ow] = m;
            if (am) am[orow + ow] = (int32_t)mi;
          }
        }
    if (rec) PS_OP_RECORD(t, "max_pool3d", max_backward, y, 1, &x, c);
    return y;
  }
#pragma omp parallel for collapse(2) if (y->numel > PS_OMP_MIN / 4) schedule(static)
  for (int64_t pl = 0; pl < N * C; pl++)
    for (int64_t od = 0; od < OD; od++) {
      const float *xp = x->data + pl * vin;
      int64_t d0, d1;
      win(c, 0, od, &d0, &d1);
      for (int64_t oh = 0; oh < OH; oh++) {
        int64_t h0, h1;
        win(c, 1, oh, &h0, &h1);
        const int64_t orow = ((pl * OD + od) * OH + oh) * OW;
        for (int64_t ow = 0; ow < OW; ow++) {
          int64_t w0, w1;
          win(c, 2, ow, &w0, &w1);
          float m = -INFINITY;
          int64_t mi = (d0 * H + h0) * W + w0;
          for (int64_t d = d0; d < d1; d++)
            for (int64_t h = h0; h < h1; h++) {
              const int64_t r = (d * H + h) * W;
              for (int64_t w = w0; w < w1; w++)
                if (xp[r + w] > m || isnan(xp[r + w])) { m = xp[r + w]; mi = r + w; if (isnan(m)) goto done; }
            }
        done:
          y->data[orow + ow] = m;
          if (am) am[orow + ow] = (int32_t)mi;
        }
      }
    }
  if (rec) PS_OP_RECORD(t, "max_pool3d", max_backward, y, 1, &x, c);
  return y;
}

/* divisor of the window at (od, oh, ow) */
static inline float avg_div(const pool_ctx *c, int64_t d0, int64_t d1, int64_t h0, int64_t h1, int64_t w0, int64_t w1) {
  /* floor output size: an unclipped window never passes the padded border, so
   * counting the padding gives the full kernel volume */
  if (c->p.count_include_pad) return (float)(c->p.kernel[0] * c->p.kernel[1] * c->p.kernel[2]);
  return (float)((d1 - d0) * (h1 - h0) * (w1 - w0));
}

static void avg_backward(ps_tape *t, ps_node *n) {
  const pool_ctx *c = n->ctx;
  ps_tensor *x = n->in[0];
  bool fresh;
  float *g = ps_op_grad(t, x, &fresh);
  if (!g) return;
  const int64_t planes = x->shape[0] * x->shape[1], H = c->in[1], W = c->in[2], vin = c->in[0] * H * W;
  const int64_t OD = c->out[0], OH = c->out[1], OW = c->out[2], vout = OD * OH * OW;
  const float *dy = n->out->grad;
#pragma omp parallel for if (x->numel > PS_OMP_MIN) schedule(static)
  for (int64_t pl = 0; pl < planes; pl++) {
    float *gp = g + pl * vin;
    const float *dp = dy + pl * vout;
    if (is_222(c)) {
      /* every input voxel has at most one window: write when fresh and covered */
      const bool cover = 2 * OD == c->in[0] && 2 * OH == H && 2 * OW == W;
      if (fresh && !cover) memset(gp, 0, (size_t)vin * sizeof(float));
      const bool assign = fresh && cover;
      for (int64_t od = 0; od < OD; od++)
        for (int64_t oh = 0; oh < OH; oh++) {
          float *r[4];
          r[0] = gp + (2 * od * H + 2 * oh) * W;
          r[1] = r[0] + W;
          r[2] = r[0] + H * W;
          r[3] = r[2] + W;
          const float *dr = dp + (od * OH + oh) * OW;
          for (int k = 0; k < 4; k++) {
            float *q = r[k];
            if (assign)
              for (int64_t ow = 0; ow < OW; ow++) q[2 * ow] = q[2 * ow + 1] = 0.125f * dr[ow];
            else
              for (int64_t ow = 0; ow < OW; ow++) { q[2 * ow] += 0.125f * dr[ow]; q[2 * ow + 1] += 0.125f * dr[ow]; }
          }
        }
      continue;
    }
    if (fresh) memset(gp, 0, (size_t)vin * sizeof(float));
    for (int64_t od = 0; od < OD; od++) {
      int64_t d0, d1;
      win(c, 0, od, &d0, &d1);
      for (int64_t oh = 0; oh < OH; oh++) {
        int64_t h0, h1;
        win(c, 1, oh, &h0, &h1);
        for (int64_t ow = 0; ow < OW; ow++) {
          int64_t w0, w1;
          win(c, 2, ow, &w0, &w1);
          const float v = dp[(od * OH + oh) * OW + ow] / avg_div(c, d0, d1, h0, h1, w0, w1);
          for (int64_t d = d0; d < d1; d++)
            for (int64_t h = h0; h < h1; h++) {
              float *r = gp + (d * H + h) * W;
              for (int64_t w = w0; w < w1; w++) r[w] += v;
            }
        }
      }
    }
  }
}

ps_tensor *ps_avg_pool3d(ps_tape *t, ps_tensor *x, const ps_pool_params *p) {
  pool_ctx cs, *c = &cs;
  if (!pool_setup("ps_avg_pool3d", x, p, c)) return NULL;
  const int64_t N = x->shape[0], C = x->shape[1];
  ps_tensor *y = ps_tape_tensor(t, 5, (int64_t[]){N, C, c->out[0], c->out[1], c->out[2]});
  if (!y) return NULL;
  const int64_t OD = c->out[0], OH = c->out[1], OW = c->out[2], H = c->in[1], W = c->in[2];
  const int64_t vin = c->in[0] * H * W;
  if (is_222(c)) {
#pragma omp parallel for collapse(2) if (y->numel > PS_OMP_MIN / 4) schedule(static)
    for (int64_t pl = 0; pl < N * C; pl++)
      for (int64_t od = 0; od < OD; od++)
        for (int64_t oh = 0; oh < OH; oh++) {
          const float *r0 = x->data + pl * vin + (2 * od * H + 2 * oh) * W, *r1 = r0 + W, *r2 = r0 + H * W, *r3 = r2 + W;
          float *yr = y->data + ((pl * OD + od) * OH + oh) * OW;
          for (int64_t ow = 0; ow < OW; ow++) {
            const int64_t w = 2 * ow;
            yr[ow] = 0.125f * (((r0[w] + r0[w + 1]) + (r1[w] + r1[w + 1])) + ((r2[w] + r2[w + 1]) + (r3[w] + r3[w + 1])));
          }
        }
  } else {
#pragma omp parallel for collapse(2) if (y->numel > PS_OMP_MIN / 4) schedule(static)
  for (int64_t pl = 0; pl < N * C; pl++)
    for (int64_t od = 0; od < OD; od++) {
      const float *xp = x->data + pl * vin;
      int64_t d0, d1;
      win(c, 0, od, &d0, &d1);
      for (int64_t oh = 0; oh < OH; oh++) {
        int64_t h0, h1;
        win(c, 1, oh, &h0, &h1);
        const int64_t orow = ((pl * OD + od) * OH + oh) * OW;
        for (int64_t ow = 0; ow < OW; ow++) {
          int64_t w0, w1;
          win(c, 2, ow, &w0, &w1);
          float s = 0;
          for (int64_t d = d0; d < d1; d++)
            for (int64_t h = h0; h < h1; h++) {
              const float *r = xp + (d * H + h) * W;
              for (int64_t w = w0; w < w1; w++) s += r[w];
            }
          y->data[orow + ow] = s / avg_div(c, d0, d1, h0, h1, w0, w1);
        }
      }
    }
  }
  if (x->requires_grad && ps_tape_grad_enabled(t)) {
    pool_ctx *cc = ps_tape_alloc(t, sizeof *cc);
    if (!cc) return NULL;
    *cc = cs;
    PS_OP_RECORD(t, "avg_pool3d", avg_backward, y, 1, &x, cc);
  }
  return y;
}
