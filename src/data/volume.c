/* Volume, label-map and case storage. */
#include "proxyseg/data.h"
#include <stdlib.h>
#include <string.h>

/* c*d*h*w without overflow: -1 when the product is beyond PS_VOLUME_MAX_VOXELS
 * (a shape from a hostile header or an absurd target spacing, not a volume). */
static int64_t checked_voxels(int64_t c, int64_t d, int64_t h, int64_t w) {
  int64_t f[4] = {c, d, h, w}, n = 1;
  for (int i = 0; i < 4; i++) {
    if (f[i] > PS_VOLUME_MAX_VOXELS / n) return -1;
    n *= f[i];
  }
  return n;
}

static void identity(double a[4][4]) {
  memset(a, 0, 16 * sizeof(double));
  for (int i = 0; i < 4; i++) a[i][i] = 1;
}

ps_status ps_volume_alloc(ps_volume *v, int64_t c, int64_t d, int64_t h, int64_t w) {
  memset(v, 0, sizeof *v);
  if (c <= 0 || d <= 0 || h <= 0 || w <= 0) return ps_error(PS_ERR_INVALID, "volume of shape %lldx%lldx%lldx%lld", (long long)c, (long long)d, (long long)h, (long long)w);
  int64_t nv = checked_voxels(c, d, h, w);
  if (nv < 0)
    return ps_error(PS_ERR_DATA, "a %lldx%lldx%lldx%lld volume is more than the %lld voxels allowed", (long long)c,
                    (long long)d, (long long)h, (long long)w, (long long)PS_VOLUME_MAX_VOXELS);
  size_t n = (size_t)nv;
  v->data = calloc(n, sizeof(float));
  if (!v->data) return ps_error(PS_ERR_NOMEM, "cannot allocate a %zu-voxel volume", n);
  v->c = c; v->d = d; v->h = h; v->w = w;
  v->spacing[0] = v->spacing[1] = v->spacing[2] = 1;
  identity(v->affine);
  return PS_OK;
}

void ps_volume_free(ps_volume *v) {
  if (!v) return;
  free(v->data);
  memset(v, 0, sizeof *v);
}

ps_status ps_labelmap_alloc(ps_labelmap *l, int64_t d, int64_t h, int64_t w) {
  memset(l, 0, sizeof *l);
  if (d <= 0 || h <= 0 || w <= 0) return ps_error(PS_ERR_INVALID, "label map of shape %lldx%lldx%lld", (long long)d, (long long)h, (long long)w);
  int64_t nv = checked_voxels(1, d, h, w);
  if (nv < 0)
    return ps_error(PS_ERR_DATA, "a %lldx%lldx%lld label map is more than the %lld voxels allowed", (long long)d,
                    (long long)h, (long long)w, (long long)PS_VOLUME_MAX_VOXELS);
  size_t n = (size_t)nv;
  l->data = calloc(n, 1);
  if (!l->data) return ps_error(PS_ERR_NOMEM, "cannot allocate a %zu-voxel label map", n);
  l->d = d; l->h = h; l->w = w;
  l->spacing[0] = l->spacing[1] = l->spacing[2] = 1;
  identity(l->affine);
  return PS_OK;
}

void ps_labelmap_free(ps_labelmap *l) {
  if (!l) return;
  free(l->data);
  memset(l, 0, sizeof *l);
}

void ps_case_free(ps_case *c) {
  if (!c) return;
  free(c->id);
  ps_volume_free(&c->image);
  ps_labelmap_free(&c->label);
  for (int k = 0; k < c->n_classes && c->fg_index; k++) free(c->fg_index[k]);
  free(c->fg_index);
  free(c->fg_count);
  memset(c, 0, sizeof *c);
}

ps_status ps_case_index_foreground(ps_case *c, int n_classes) {
  if (n_classes < 1 || n_classes > 256) /* labels are uint8 */
    return ps_error(PS_ERR_INVALID, "foreground index: %d classes (1..256 supported)", n_classes);
  for (int k = 0; k < c->n_classes && c->fg_index; k++) free(c->fg_index[k]);
  free(c->fg_index);
  free(c->fg_count);
  c->n_classes = n_classes;
  c->fg_index = calloc((size_t)n_classes, sizeof *c->fg_index);
  c->fg_count = calloc((size_t)n_classes, sizeof *c->fg_count);
  if (!c->fg_index || !c->fg_count) return ps_error(PS_ERR_NOMEM, "out of memory");
  size_t n = (size_t)(c->label.d * c->label.h * c->label.w);
  for (size_t i = 0; i < n; i++) {
    int k = c->label.data[i];
    if (k > 0 && k < n_classes) c->fg_count[k]++;
  }
  for (int k = 1; k < n_classes; k++) {
    c->fg_index[k] = malloc((size_t)(c->fg_count[k] ? c->fg_count[k] : 1) * sizeof(int64_t));
    if (!c->fg_index[k]) return ps_error(PS_ERR_NOMEM, "out of memory");
    c->fg_count[k] = 0;
  }
  for (size_t i = 0; i < n; i++) {
    int k = c->label.data[i];
    if (k > 0 && k < n_classes) c->fg_index[k][c->fg_count[k]++] = (int64_t)i;
  }
  return PS_OK;
}
