/* Reorientation to RAS (and back): permute and flip voxel axes so that i, j, k
 * run along +x (R), +y (A), +z (S), updating the affine so that every voxel
 * keeps its world coordinate (like nibabel's as_closest_canonical). */
#include "proxyseg/preprocess.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

ps_status ps_orientation_of_affine(const double A[4][4], ps_orientation *o) {
  double m[3][3];
  for (int a = 0; a < 3; a++) {
    double n = sqrt(A[0][a] * A[0][a] + A[1][a] * A[1][a] + A[2][a] * A[2][a]);
    if (!(n > 0) || !isfinite(n)) return ps_error(PS_ERR_DATA, "singular affine: its column %d (voxel axis %c) is zero or not finite", a, "ijk"[a]);
    for (int w = 0; w < 3; w++) m[w][a] = fabs(A[w][a]) / n;
  }
  /* Greedy: the strongest (world, voxel) pairing first, so oblique affines map
   * to the closest axis permutation. */
  int used_w[3] = {0}, used_a[3] = {0};
  for (int step = 0; step < 3; step++) {
    int bw = -1, ba = -1;
    double best = -1;
    for (int w = 0; w < 3; w++)
      for (int a = 0; a < 3; a++)
        if (!used_w[w] && !used_a[a] && m[w][a] > best) { best = m[w][a]; bw = w; ba = a; }
    used_w[bw] = used_a[ba] = 1;
    o->src_axis[bw] = ba;
    o->flip[bw] = A[bw][ba] < 0;
  }
  for (int w = 0; w < 3; w++) o->axes_code[o->src_axis[w]] = o->flip[w] ? "LPI"[w] : "RAS"[w];
  o->axes_code[3] = 0;
  return PS_OK;
}

static bool valid(const ps_orientation *o) {
  int seen[3] = {0};
  for (int r = 0; r < 3; r++) {
    if (o->src_axis[r] < 0 || o->src_axis[r] > 2 || seen[o->src_axis[r]]) return false;
    seen[o->src_axis[r]] = 1;
  }
  return true;
}

/* Copy one channel between the original layout (dims old[a], a = i, j, k) and
 * the RAS layout; elem bytes per voxel. */
static void permute(const void *in, void *out, size_t elem, const int64_t old[3], const ps_orientation *o, bool inverse) {
  int64_t st[3] = {1, old[0], old[0] * old[1]}, nn[3];
  for (int r = 0; r < 3; r++) nn[r] = old[o->src_axis[r]];
  const char *src = in;
  char *dst = out;
  int64_t lin = 0;
  for (int64_t a2 = 0; a2 < nn[2]; a2++)
    for (int64_t a1 = 0; a1 < nn[1]; a1++)
      for (int64_t a0 = 0; a0 < nn[0]; a0++, lin++) {
        int64_t a[3] = {a0, a1, a2}, off = 0;
        for (int r = 0; r < 3; r++) off += (o->flip[r] ? nn[r] - 1 - a[r] : a[r]) * st[o->src_axis[r]];
        if (inverse) memcpy(dst + off * elem, src + lin * elem, elem);
        else memcpy(dst + lin * elem, src + off * elem, elem);
      }
}

/* Update affine, spacing (D,H,W) and dims for the axis change. dims[a] are the
 * current dims per voxel axis a = i, j, k (in and out). */
static void geometry(double A[4][4], double spacing[3], int64_t dims[3], const ps_orientation *o, bool inverse) {
  double B[4][4];
  memcpy(B, A, sizeof B);
  double sp[3] = {spacing[2], spacing[1], spacing[0]}; /* per voxel axis i, j, k */
  double nsp[3];
  int64_t nd[3];
  if (!inverse) {
    for (int r = 0; r < 3; r++) {
      int a = o->src_axis[r];
      nd[r] = dims[a];
      nsp[r] = sp[a];
      for (int w = 0; w < 4; w++) B[w][r] = A[w][a] * (o->flip[r] ? -1 : 1);
    }
    for (int r = 0; r < 3; r++)
      if (o->flip[r])
        for (int w = 0; w < 3; w++) B[w][3] += A[w][o->src_axis[r]] * (double)(nd[r] - 1);
  } else {
    for (int r = 0; r < 3; r++) {
      int a = o->src_axis[r];
      nd[a] = dims[r];
      nsp[a] = sp[r];
      for (int w = 0; w < 4; w++) B[w][a] = A[w][r] * (o->flip[r] ? -1 : 1);
    }
    for (int r = 0; r < 3; r++)
      if (o->flip[r])
        for (int w = 0; w < 3; w++) B[w][3] += A[w][r] * (double)(dims[r] - 1);
  }
  for (int w = 0; w < 4; w++) B[3][w] = w == 3 ? 1 : 0;
  memcpy(A, B, sizeof B);
  spacing[0] = nsp[2]; spacing[1] = nsp[1]; spacing[2] = nsp[0];
  memcpy(dims, nd, sizeof nd);
}

ps_status ps_reorient_volume(ps_volume *v, const ps_orientation *o, bool inverse) {
  if (!valid(o)) return ps_error(PS_ERR_INVALID, "reorient: invalid axis permutation");
  int64_t dims[3] = {v->w, v->h, v->d}, old[3];
  size_t n = (size_t)(v->d * v->h * v->w);
  float *out = malloc((size_t)v->c * n * sizeof(float));
  if (!out) return ps_error(PS_ERR_NOMEM, "reorient: out of memory");
  /* permute() takes the dims of the original-orientation layout. */
  if (!inverse) memcpy(old, dims, sizeof old);
  else for (int r = 0; r < 3; r++) old[o->src_axis[r]] = dims[r];
  for (int64_t c = 0; c < v->c; c++) permute(v->data + c * n, out + c * n, sizeof(float), old, o, inverse);
  free(v->data);
  v->data = out;
  geometry(v->affine, v->spacing, dims, o, inverse);
  v->w = dims[0]; v->h = dims[1]; v->d = dims[2];
  return PS_OK;
}

ps_status ps_reorient_labels(ps_labelmap *l, const ps_orientation *o, bool inverse) {
  if (!valid(o)) return ps_error(PS_ERR_INVALID, "reorient: invalid axis permutation");
  int64_t dims[3] = {l->w, l->h, l->d}, old[3];
  size_t n = (size_t)(l->d * l->h * l->w);
  uint8_t *out = malloc(n);
  if (!out) return ps_error(PS_ERR_NOMEM, "reorient: out of memory");
  if (!inverse) memcpy(old, dims, sizeof old);
  else for (int r = 0; r < 3; r++) old[o->src_axis[r]] = dims[r];
  permute(l->data, out, 1, old, o, inverse);
  free(l->data);
  l->data = out;
  geometry(l->affine, l->spacing, dims, o, inverse);
  l->w = dims[0]; l->h = dims[1]; l->d = dims[2];
  return PS_OK;
}
