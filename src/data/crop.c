/* Cropping to the nonzero region (nnU-Net's crop_to_nonzero): the bounding box
 * of voxels nonzero in any channel; the affine moves with the box origin. */
#include "proxyseg/preprocess.h"
#include <stdlib.h>
#include <string.h>

void ps_nonzero_bbox(const ps_volume *v, int64_t lo[3], int64_t hi[3]) {
  int64_t dims[3] = {v->d, v->h, v->w};
  for (int s = 0; s < 3; s++) { lo[s] = dims[s]; hi[s] = 0; }
  size_t n = (size_t)(v->d * v->h * v->w);
  for (int64_t c = 0; c < v->c; c++) {
    const float *p = v->data + c * n;
    for (int64_t k = 0; k < v->d; k++)
      for (int64_t j = 0; j < v->h; j++)
        for (int64_t i = 0; i < v->w; i++)
          if (p[(k * v->h + j) * v->w + i] != 0) {
            int64_t x[3] = {k, j, i};
            for (int s = 0; s < 3; s++) {
              if (x[s] < lo[s]) lo[s] = x[s];
              if (x[s] + 1 > hi[s]) hi[s] = x[s] + 1;
            }
          }
  }
  if (hi[0] == 0)
    for (int s = 0; s < 3; s++) { lo[s] = 0; hi[s] = dims[s]; }
}

static ps_status check_box(const int64_t dims[3], const int64_t lo[3], const int64_t hi[3]) {
  for (int s = 0; s < 3; s++)
    if (lo[s] < 0 || hi[s] > dims[s] || lo[s] >= hi[s])
      return ps_error(PS_ERR_INVALID, "crop box [%lld,%lld) outside axis %d of size %lld", (long long)lo[s], (long long)hi[s], s, (long long)dims[s]);
  return PS_OK;
}

static void shift_affine(double A[4][4], const int64_t lo[3]) {
  for (int w = 0; w < 3; w++)
    A[w][3] += A[w][0] * (double)lo[2] + A[w][1] * (double)lo[1] + A[w][2] * (double)lo[0];
}

ps_status ps_crop_volume(ps_volume *v, const int64_t lo[3], const int64_t hi[3]) {
  int64_t dims[3] = {v->d, v->h, v->w};
  ps_status st = check_box(dims, lo, hi);
  if (st) return st;
  int64_t d = hi[0] - lo[0], h = hi[1] - lo[1], w = hi[2] - lo[2];
  float *out = malloc((size_t)(v->c * d * h * w) * sizeof(float));
  if (!out) return ps_error(PS_ERR_NOMEM, "crop: out of memory");
  for (int64_t c = 0; c < v->c; c++)
    for (int64_t k = 0; k < d; k++)
      for (int64_t j = 0; j < h; j++)
        memcpy(out + ((c * d + k) * h + j) * w, v->data + ((c * v->d + k + lo[0]) * v->h + j + lo[1]) * v->w + lo[2],
               (size_t)w * sizeof(float));
  free(v->data);
  v->data = out;
  v->d = d; v->h = h; v->w = w;
  shift_affine(v->affine, lo);
  return PS_OK;
}

ps_status ps_crop_labels(ps_labelmap *l, const int64_t lo[3], const int64_t hi[3]) {
  int64_t dims[3] = {l->d, l->h, l->w};
  ps_status st = check_box(dims, lo, hi);
  if (st) return st;
  int64_t d = hi[0] - lo[0], h = hi[1] - lo[1], w = hi[2] - lo[2];
  uint8_t *out = malloc((size_t)(d * h * w));
  if (!out) return ps_error(PS_ERR_NOMEM, "crop: out of memory");
  for (int64_t k = 0; k < d; k++)
    for (int64_t j = 0; j < h; j++)
      memcpy(out + (k * h + j) * w, l->data + ((k + lo[0]) * l->h + j + lo[1]) * l->w + lo[2], (size_t)w);
  free(l->data);
  l->data = out;
  l->d = d; l->h = h; l->w = w;
  shift_affine(l->affine, lo);
  return PS_OK;
}
