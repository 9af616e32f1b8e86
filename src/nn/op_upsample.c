/* Nearest and trilinear (align_corners=false) resampling of [N, C, D, H, W] to
 * a given output size, with PyTorch's index rules (nearest: floor(o * in/out);
 * trilinear: src = (o + 0.5) * in/out - 0.5 clamped at 0). Index and weight
 * tables per axis are built once. Nearest gathers (forward, parallel over
 * output rows) and scatters per (n, c) plane (backward). Trilinear is done as
 * three 1D passes per plane (W, then H, then D; backward in reverse) through
 * per-thread scratch, so each output voxel costs two reads, not eight. */
#include "op_internal.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  ps_upsample_mode mode;
  int64_t in[3], out[3];
  int64_t *i0[3], *i1[3];  /* per axis: the two source indices of each output index */
  float *l1[3];            /* weight of i1 (trilinear); i0 gets 1 - l1 */
} up_ctx;

static bool build_axis(ps_tape *t, up_ctx *c, int d) {
  const int64_t in = c->in[d], out = c->out[d];
  c->i0[d] = ps_tape_alloc(t, (size_t)out * sizeof(int64_t));
  c->i1[d] = ps_tape_alloc(t, (size_t)out * sizeof(int64_t));
  c->l1[d] = ps_tape_alloc(t, (size_t)out * sizeof(float));
  if (!c->i0[d] || !c->i1[d] || !c->l1[d]) return false;
  const float scale = (float)in / (float)out;
  for (int64_t o = 0; o < out; o++) {
    if (c->mode == PS_UPSAMPLE_NEAREST) {
      int64_t s = in == out ? o : (int64_t)floorf((float)o * scale);
      if (s > in - 1) s = in - 1;
      c->i0[d][o] = c->i1[d][o] = s;
      c->l1[d][o] = 0.0f;
    } else {
      float src = scale * ((float)o + 0.5f) - 0.5f;
      if (src < 0) src = 0;
      int64_t s = (int64_t)src;
      if (s > in - 1) s = in - 1;
      c->i0[d][o] = s;
      c->i1[d][o] = s + (s < in - 1 ? 1 : 0);
      c->l1[d][o] = src - (float)s;
    }
  }
  return true;
}


/* y[o] (=|+=) (1-l[o]) * x[i0[o]] + l[o] * x[i1[o]], rows of length `row` */
static void lerp_rows(const float *x, float *y, int64_t nout, int64_t row, const int64_t *i0, const int64_t *i1,
                      const float *l) {
  for (int64_t o = 0; o < nout; o++) {
    const float *a = x + i0[o] * row, *b = x + i1[o] * row;
    float *yo = y + o * row;
    const float lb = l[o], la = 1 - lb;
    for (int64_t j = 0; j < row; j++) yo[j] = la * a[j] + lb * b[j];
  }
}
/* the transpose: x[i0[o]] += (1-l[o]) * y[o], x[i1[o]] += l[o] * y[o] (x zeroed by the caller) */
static void lerp_rows_t(const float *y, float *x, int64_t nout, int64_t row, const int64_t *i0, const int64_t *i1,
                        const float *l) {
  for (int64_t o = 0; o < nout; o++) {
    float *a = x + i0[o] * row, *b = x + i1[o] * row;
    const float *yo = y + o * row;
    const float lb = l[o], la = 1 - lb;
    for (int64_t j = 0; j < row; j++) { a[j] += la * yo[j]; b[j] += lb * yo[j]; }
  }
}

/* trilinear, one plane: W pass into t1 [ID, IH, OW], H pass into t2 [ID, OH, OW], D pass into y */
static void tri_plane_fwd(const up_ctx *c, const float *x, float *y, float *t1, float *t2) {
  const int64_t ID = c->in[0], IH = c->in[1], IW = c->in[2], OH = c->out[1], OW = c->out[2];
  for (int64_t r = 0; r < ID * IH; r++) {
    const float *xr = x + r * IW;
    float *tr = t1 + r * OW;
    for (int64_t ow = 0; ow < OW; ow++) {
      const float lb = c->l1[2][ow];
      tr[ow] = (1 - lb) * xr[c->i0[2][ow]] + lb * xr[c->i1[2][ow]];
    }
  }
  for (int64_t d = 0; d < ID; d++) lerp_rows(t1 + d * IH * OW, t2 + d * OH * OW, OH, OW, c->i0[1], c->i1[1], c->l1[1]);
  lerp_rows(t2, y, c->out[0], OH * OW, c->i0[0], c->i1[0], c->l1[0]);
}

/* the transpose of tri_plane_fwd: g (=|+=) its adjoint applied to dy */
static void tri_plane_bwd(const up_ctx *c, const float *dy, float *g, bool fresh, float *t1, float *t2) {
  const int64_t ID = c->in[0], IH = c->in[1], IW = c->in[2], OH = c->out[1], OW = c->out[2];
  memset(t2, 0, (size_t)(ID * OH * OW) * sizeof(float));
  lerp_rows_t(dy, t2, c->out[0], OH * OW, c->i0[0], c->i1[0], c->l1[0]);
  memset(t1, 0, (size_t)(ID * IH * OW) * sizeof(float));
  for (int64_t d = 0; d < ID; d++) lerp_rows_t(t2 + d * OH * OW, t1 + d * IH * OW, OH, OW, c->i0[1], c->i1[1], c->l1[1]);
  if (fresh) memset(g, 0, (size_t)(ID * IH * IW) * sizeof(float));
  for (int64_t r = 0; r < ID * IH; r++) {
    float *gr = g + r * IW;
    const float *tr = t1 + r * OW;
    for (int64_t ow = 0; ow < OW; ow++) {
      const float lb = c->l1[2][ow];
      gr[c->i0[2][ow]] += (1 - lb) * tr[ow];
      gr[c->i1[2][ow]] += lb * tr[ow];
    }
  }
}

/* per-plane trilinear over all planes, with scratch per thread */
static bool tri_all(const up_ctx *c, int64_t planes, const float *src, float *dst, bool backward, bool fresh, int64_t work) {
  const int64_t vin = c->in[0] * c->in[1] * c->in[2], vout = c->out[0] * c->out[1] * c->out[2];
  const size_t n1 = (size_t)(c->in[0] * c->in[1] * c->out[2]), n2 = (size_t)(c->in[0] * c->out[1] * c->out[2]);
  bool ok = true;
#pragma omp parallel if (work > PS_OMP_MIN / 4)
  {
    float *t1 = malloc((n1 + n2) * sizeof(float));
    if (!t1) {
#pragma omp atomic write
      ok = false;
    }
#pragma omp for schedule(static)
    for (int64_t pl = 0; pl < planes; pl++) {
      if (!t1) continue;
      if (backward) tri_plane_bwd(c, src + pl * vout, dst + pl * vin, fresh, t1, t1 + n1);
      else tri_plane_fwd(c, src + pl * vin, dst + pl * vout, t1, t1 + n1);
    }
    free(t1);
  }
  return ok;
}

static void up_backward(ps_tape *t, ps_node *n) {
  const up_ctx *c = n->ctx;
  ps_tensor *x = n->in[0];
  bool fresh;
  float *g = ps_op_grad(t, x, &fresh);
  if (!g) return;
  const int64_t planes = x->shape[0] * x->shape[1], H = c->in[1], W = c->in[2], vin = c->in[0] * H * W;
  const int64_t OD = c->out[0], OH = c->out[1], OW = c->out[2], vout = OD * OH * OW;
  const float *dy = n->out->grad;
  if (c->mode == PS_UPSAMPLE_TRILINEAR) {
    if (!tri_all(c, planes, dy, g, true, fresh, n->out->numel)) {
      /* a gradient we could not compute must not look like a valid one */
      for (int64_t i = 0; i < x->numel; i++) g[i] = NAN;
      ps_error(PS_ERR_NOMEM, "ps_upsample3d: no scratch memory for backward");
    }
    return;
  }
#pragma omp parallel for if (x->numel > PS_OMP_MIN / 8) schedule(static)
  for (int64_t pl = 0; pl < planes; pl++) {
    float *gp = g + pl * vin;
    if (fresh) memset(gp, 0, (size_t)vin * sizeof(float));
    const float *dp = dy + pl * vout;
    for (int64_t od = 0; od < OD; od++) {
      const int64_t a0 = c->i0[0][od];
      for (int64_t oh = 0; oh < OH; oh++) {
        const float *drow = dp + (od * OH + oh) * OW;
        float *r00 = gp + (a0 * H + c->i0[1][oh]) * W;
        for (int64_t ow = 0; ow < OW; ow++) r00[c->i0[2][ow]] += drow[ow];
      }
    }
  }
}

ps_tensor *ps_upsample3d(ps_tape *t, ps_tensor *x, const int64_t out[3], ps_upsample_mode mode) {
  if (!ps_op_check_ndim("ps_upsample3d", "x", x, 5)) return NULL;
  if (!out || out[0] < 1 || out[1] < 1 || out[2] < 1 || (mode != PS_UPSAMPLE_NEAREST && mode != PS_UPSAMPLE_TRILINEAR)) {
    ps_error(PS_ERR_INVALID, "ps_upsample3d: bad output size or mode (size %lld,%lld,%lld, mode %d)",
             out ? (long long)out[0] : 0LL, out ? (long long)out[1] : 0LL, out ? (long long)out[2] : 0LL, (int)mode);
    return NULL;
  }
  if (x->shape[2] < 1 || x->shape[3] < 1 || x->shape[4] < 1) {
    char b[96];
    ps_error(PS_ERR_INVALID, "ps_upsample3d: empty input %s", ps_shape_str(x, b, sizeof b));
    return NULL;
  }
  up_ctx *c = ps_tape_alloc(t, sizeof *c);
  if (!c) return NULL;
  c->mode = mode;
  for (int d = 0; d < 3; d++) {
    c->in[d] = x->shape[2 + d];
    c->out[d] = out[d];
    if (!build_axis(t, c, d)) return NULL;
  }
  const int64_t N = x->shape[0], C = x->shape[1];
  ps_tensor *y = ps_tape_tensor(t, 5, (int64_t[]){N, C, out[0], out[1], out[2]});
  if (!y) return NULL;
  const int64_t H = c->in[1], W = c->in[2], vin = c->in[0] * H * W, OD = out[0], OH = out[1], OW = out[2];
  if (mode == PS_UPSAMPLE_TRILINEAR) {
    if (!tri_all(c, N * C, x->data, y->data, false, false, y->numel)) {
      ps_error(PS_ERR_NOMEM, "ps_upsample3d: no scratch memory");
      return NULL;
    }
  } else {
#pragma omp parallel for collapse(2) if (y->numel > PS_OMP_MIN / 4) schedule(static)
    for (int64_t pl = 0; pl < N * C; pl++)
      for (int64_t od = 0; od < OD; od++) {
        const float *xp = x->data + pl * vin;
        for (int64_t oh = 0; oh < OH; oh++) {
          float *yrow = y->data + ((pl * OD + od) * OH + oh) * OW;
          const float *r00 = xp + (c->i0[0][od] * H + c->i0[1][oh]) * W;
          for (int64_t ow = 0; ow < OW; ow++) yrow[ow] = r00[c->i0[2][ow]];
        }
      }
  }
  PS_OP_RECORD(t, "upsample3d", up_backward, y, 1, &x, c);
  return y;
}
