/* Sliding-window inference (nnU-Net v2 semantics): pad to the patch, tile,
 * predict windows in batches (with flipped copies for TTA), accumulate
 * weighted probabilities and divide by the summed weights. */
#include "proxyseg/infer.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

int ps_sliding_steps(int64_t size, int patch, double overlap, int64_t *steps, int max_steps) {
  double step = patch * (1.0 - overlap);
  if (step < 1) step = 1;
  int n = size > patch ? (int)ceil((double)(size - patch) / step) + 1 : 1;
  double actual = n > 1 ? (double)(size - patch) / (n - 1) : 0;
  for (int i = 0; i < n && i < max_steps; i++) steps[i] = (int64_t)llround(actual * i);
  return n;
}

void ps_gaussian_importance(const int patch[3], float *w) {
  double *g[3];
  for (int a = 0; a < 3; a++) {
    g[a] = malloc((size_t)patch[a] * sizeof(double));
    double sigma = patch[a] / 8.0, c = patch[a] / 2;
    for (int i = 0; i < patch[a]; i++) {
      double x = g[a] ? (i - c) / (sigma > 0 ? sigma : 1) : 0;
      if (g[a]) g[a][i] = exp(-0.5 * x * x);
    }
  }
  size_t n = (size_t)patch[0] * patch[1] * patch[2];
  float mn = 1.f;
  for (int i = 0; i < patch[0]; i++)
    for (int j = 0; j < patch[1]; j++)
      for (int k = 0; k < patch[2]; k++) {
        float v = (g[0] && g[1] && g[2]) ? (float)(g[0][i] * g[1][j] * g[2][k]) : 1.f;
        w[((size_t)i * patch[1] + j) * patch[2] + k] = v;
        if (v > 0 && v < mn) mn = v;
      }
  for (size_t i = 0; i < n; i++)
    if (!(w[i] > 0)) w[i] = mn;
  for (int a = 0; a < 3; a++) free(g[a]);
}

/* index of voxel (i, j, k) of a patch after flipping the axes in mask */
static inline size_t flip_index(int i, int j, int k, const int P[3], int mask) {
  if (mask & 1) i = P[0] - 1 - i;
  if (mask & 2) j = P[1] - 1 - j;
  if (mask & 4) k = P[2] - 1 - k;
  return ((size_t)i * P[1] + j) * P[2] + k;
}

typedef struct { int64_t lo[3]; int flip; } job;

ps_status ps_sliding_window_axes(const ps_volume *img, const int patch[3], int n_classes, double overlap,
                                 bool gaussian, int mirror_axes, int batch, ps_predict_fn fn, void *ud,
                                 float *probs_out) {
  if (!img || !img->data || !patch || n_classes <= 0 || !fn || !probs_out || batch <= 0 ||
      !(overlap >= 0 && overlap < 1) || patch[0] <= 0 || patch[1] <= 0 || patch[2] <= 0)
    return ps_error(PS_ERR_INVALID, "sliding_window: bad arguments (classes %d, batch %d, overlap %g)", n_classes, batch, overlap);
  const int C = (int)img->c, K = n_classes;
  const int64_t S[3] = {img->d, img->h, img->w};
  const int *P = patch;
  /* padded grid: symmetric zero padding up to the patch (nnU-Net pad_nd_image) */
  int64_t Sp[3], off[3];
  for (int a = 0; a < 3; a++) {
    Sp[a] = S[a] < P[a] ? P[a] : S[a];
    off[a] = (Sp[a] - S[a]) / 2;
  }
  int64_t *steps[3] = {NULL, NULL, NULL};
  int ns[3];
  for (int a = 0; a < 3; a++) {
    ns[a] = ps_sliding_steps(Sp[a], P[a], overlap, NULL, 0);
    steps[a] = malloc((size_t)ns[a] * sizeof(int64_t));
    if (steps[a]) ps_sliding_steps(Sp[a], P[a], overlap, steps[a], ns[a]);
  }
  int flips[8], nf = 0;
  for (int m = 0; m < 8; m++)
    if ((m & ~mirror_axes & 7) == 0) flips[nf++] = m;
  const size_t pv = (size_t)P[0] * P[1] * P[2], spv = (size_t)(Sp[0] * Sp[1] * Sp[2]), sv = (size_t)(S[0] * S[1] * S[2]);
  size_t njobs = (size_t)ns[0] * ns[1] * ns[2] * nf;
  job *jobs = malloc(njobs * sizeof *jobs);
  float *wmap = malloc(pv * sizeof(float));
  float *acc = calloc((size_t)K * spv, sizeof(float));
  float *wsum = calloc(spv, sizeof(float));
  float *in = malloc((size_t)batch * C * pv * sizeof(float));
  float *out = malloc((size_t)batch * K * pv * sizeof(float));
  ps_status st = PS_OK;
  if (!steps[0] || !steps[1] || !steps[2] || !jobs || !wmap || !acc || !wsum || !in || !out) {
    st = ps_error(PS_ERR_NOMEM, "sliding_window: out of memory for a %lldx%lldx%lld image", (long long)Sp[0], (long long)Sp[1], (long long)Sp[2]);
    goto done;
  }
  if (gaussian) ps_gaussian_importance(P, wmap);
  else for (size_t i = 0; i < pv; i++) wmap[i] = 1.f;
  size_t nj = 0;
  for (int a = 0; a < ns[0]; a++)
    for (int b = 0; b < ns[1]; b++)
      for (int c = 0; c < ns[2]; c++)
        for (int f = 0; f < nf; f++) {
          jobs[nj].lo[0] = steps[0][a]; jobs[nj].lo[1] = steps[1][b]; jobs[nj].lo[2] = steps[2][c];
          jobs[nj].flip = flips[f];
          nj++;
        }
  const float fw = 1.f / nf;
  for (size_t j0 = 0; j0 < nj && st == PS_OK; j0 += (size_t)batch) {
    int nb = (int)(nj - j0 < (size_t)batch ? nj - j0 : (size_t)batch);
    /* gather (flipped) windows from the padded image */
#pragma omp parallel for collapse(2) schedule(static) if ((size_t)nb * pv > 65536)
    for (int b = 0; b < nb; b++)
      for (int i = 0; i < P[0]; i++) {
        const job *jb = &jobs[j0 + b];
        for (int ch = 0; ch < C; ch++)
          for (int j = 0; j < P[1]; j++)
            for (int k = 0; k < P[2]; k++) {
              int64_t z = jb->lo[0] + i - off[0], y = jb->lo[1] + j - off[1], x = jb->lo[2] + k - off[2];
              float v = (z >= 0 && z < S[0] && y >= 0 && y < S[1] && x >= 0 && x < S[2])
                            ? img->data[ch * sv + (size_t)((z * S[1] + y) * S[2] + x)] : 0.f;
              in[((size_t)b * C + ch) * pv + flip_index(i, j, k, P, jb->flip)] = v;
            }
      }
    st = fn(ud, in, nb, out);
    if (st != PS_OK) { ps_error_prefix(st, "sliding_window: predict callback"); break; }
    /* scatter: un-flip, weight in the window frame; slices in parallel are
     * disjoint within one window, windows are accumulated in order */
    for (int b = 0; b < nb; b++) {
      const job *jb = &jobs[j0 + b];
#pragma omp parallel for schedule(static) if (pv > 65536)
      for (int i = 0; i < P[0]; i++)
        for (int j = 0; j < P[1]; j++)
          for (int k = 0; k < P[2]; k++) {
            size_t wi = ((size_t)i * P[1] + j) * P[2] + k, fi = flip_index(i, j, k, P, jb->flip);
            size_t g = (size_t)(((jb->lo[0] + i) * Sp[1] + jb->lo[1] + j) * Sp[2] + jb->lo[2] + k);
            float w = wmap[wi];
            for (int c = 0; c < K; c++) acc[c * spv + g] += w * fw * out[((size_t)b * K + c) * pv + fi];
            wsum[g] += w * fw;
          }
    }
  }
  if (st == PS_OK) {
#pragma omp parallel for schedule(static) if (sv > 65536)
    for (int64_t z = 0; z < S[0]; z++)
      for (int64_t y = 0; y < S[1]; y++)
        for (int64_t x = 0; x < S[2]; x++) {
          size_t g = (size_t)(((z + off[0]) * Sp[1] + y + off[1]) * Sp[2] + x + off[2]);
          size_t o = (size_t)((z * S[1] + y) * S[2] + x);
          float inv = wsum[g] > 0 ? 1.f / wsum[g] : 0.f;
          for (int c = 0; c < K; c++) probs_out[c * sv + o] = acc[c * spv + g] * inv;
        }
  }
done:
  for (int a = 0; a < 3; a++) free(steps[a]);
  free(jobs); free(wmap); free(acc); free(wsum); free(in); free(out);
  return st;
}

ps_status ps_sliding_window(const ps_volume *img, const int patch[3], int n_classes, double overlap,
                            bool gaussian, bool mirror_tta, int batch, ps_predict_fn fn, void *ud,
                            float *probs_out) {
  return ps_sliding_window_axes(img, patch, n_classes, overlap, gaussian, mirror_tta ? 7 : 0, batch, fn, ud, probs_out);
}

ps_status ps_probs_argmax(const float *probs, int n_classes, int64_t d, int64_t h, int64_t w,
                          const ps_volume *ref, ps_labelmap *out) {
  if (n_classes <= 0 || n_classes > 256) return ps_error(PS_ERR_INVALID, "argmax: %d classes (1..256 supported)", n_classes);
  ps_status st = ps_labelmap_alloc(out, d, h, w);
  if (st != PS_OK) return st;
  if (ref) {
    memcpy(out->spacing, ref->spacing, sizeof out->spacing);
    memcpy(out->affine, ref->affine, sizeof out->affine);
  }
  const size_t n = (size_t)(d * h * w);
#pragma omp parallel for schedule(static) if (n > 65536)
  for (size_t i = 0; i < n; i++) {
    int best = 0;
    float bv = probs[i];
    for (int c = 1; c < n_classes; c++)
      if (probs[(size_t)c * n + i] > bv) { bv = probs[(size_t)c * n + i]; best = c; }
    out->data[i] = (uint8_t)best;
  }
  return PS_OK;
}
