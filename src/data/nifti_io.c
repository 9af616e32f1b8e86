/* NIfTI voxel reading (bounded by the validated header, converted to float with
 * scl_slope/inter) and atomic writing of .nii / .nii.gz in NIfTI-1 or -2 with
 * qform and sform taken from the volume's affine. */
#include "nifti_internal.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <nifti2_io.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* ---------------------------------------------------------------- reading */

/* Convert n raw voxels (native byte order) at `raw` into floats at `dst`.
 * dst may alias raw when the raw element is at most 4 bytes: going from the
 * last element to the first never overwrites an unread source. */
#define CONVERT_BACKWARD(T)                                            \
  do {                                                                 \
    const T *s_ = (const T *)raw;                                      \
    for (int64_t i_ = n - 1; i_ >= 0; i_--) {                          \
      T x_;                                                            \
      memcpy(&x_, s_ + i_, sizeof x_);                                 \
      dst[i_] = (float)((double)x_ * slope + inter);                   \
    }                                                                  \
  } while (0)

static void convert_to_float(int dt, const void *raw, float *dst, int64_t n, double slope, double inter) {
  switch (dt) {
  case NIFTI_TYPE_UINT8: CONVERT_BACKWARD(uint8_t); break;
  case NIFTI_TYPE_INT8: CONVERT_BACKWARD(int8_t); break;
  case NIFTI_TYPE_INT16: CONVERT_BACKWARD(int16_t); break;
  case NIFTI_TYPE_UINT16: CONVERT_BACKWARD(uint16_t); break;
  case NIFTI_TYPE_INT32: CONVERT_BACKWARD(int32_t); break;
  case NIFTI_TYPE_UINT32: CONVERT_BACKWARD(uint32_t); break;
  case NIFTI_TYPE_INT64: CONVERT_BACKWARD(int64_t); break;
  case NIFTI_TYPE_UINT64: CONVERT_BACKWARD(uint64_t); break;
  case NIFTI_TYPE_FLOAT32:
    if (slope == 1 && inter == 0) {
      if ((const void *)dst != raw) memcpy(dst, raw, (size_t)n * 4);
    } else CONVERT_BACKWARD(float);
    break;
  case NIFTI_TYPE_FLOAT64: CONVERT_BACKWARD(double); break;
  default: break; /* excluded by ps_nifti_parse */
  }
}

/* Read the header's data_bytes of voxels at vox_offset into a buffer that
 * grows with what the stream really holds (never past data_bytes), so a
 * header that lies about its size costs no more memory than the file's
 * content; for gzip, read on to the end so that a bad CRC is noticed.
 * *dst is malloc'd unless `into` (already data_bytes long) is given. */
static ps_status read_voxels(const char *path, const ps_nifti_hdr *h, void *into, void **dst) {
  *dst = NULL;
  gzFile gz = gzopen(path, "rb");
  if (!gz) return ps_error(PS_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  gzbuffer(gz, 1 << 17);
  ps_status st = PS_OK;
  char *buf = into;
  int64_t cap = into ? h->data_bytes : 0, got = 0;
  if (gzseek(gz, (z_off_t)h->vox_offset, SEEK_SET) != (z_off_t)h->vox_offset) {
    st = ps_error(PS_ERR_DATA, "%s: truncated before vox_offset %lld", path, (long long)h->vox_offset);
    goto done;
  }
  while (got < h->data_bytes) {
    if (got == cap) {
      int64_t ncap = cap ? cap * 2 : ((int64_t)16 << 20);
      if (ncap > h->data_bytes) ncap = h->data_bytes;
      char *nb = realloc(buf, (size_t)ncap);
      if (!nb) { st = ps_error(PS_ERR_NOMEM, "%s: out of memory for voxels", path); goto done; }
      buf = nb;
      cap = ncap;
    }
    int64_t want = cap - got;
    if (want > (1 << 30)) want = 1 << 30;
    int r = gzread(gz, buf + got, (unsigned)want);
    if (r < 0) {
      st = ps_error(PS_ERR_DATA, "%s: corrupt gzip stream: %s", path, ps_nifti_gz_reason(gz, path));
      goto done;
    }
    if (r == 0) break;
    got += r;
  }
  if (got < h->data_bytes) {
    st = ps_error(PS_ERR_DATA, "%s: truncated: %lld of %lld voxel bytes present", path, (long long)got,
                  (long long)h->data_bytes);
    goto done;
  }
  if (h->is_gz) {
    char tail[4096];
    for (int64_t extra = 0; extra < (1 << 20);) {
      int r = gzread(gz, tail, sizeof tail);
      if (r < 0) {
        st = ps_error(PS_ERR_DATA, "%s: corrupt gzip stream: %s", path, ps_nifti_gz_reason(gz, path));
        goto done;
      }
      if (r == 0) break;
      extra += r;
    }
  }
done:
  gzclose(gz);
  if (st != PS_OK && !into) free(buf);
  else *dst = buf;
  return st;
}

/* pixdim, or where it is unusable (non-finite, zero) the length of the
 * affine's column, with a warning: the affine is checked to be regular. */
static double spacing_of(const char *path, const ps_nifti_hdr *h, int axis /* 1..3 */) {
  double p = fabs(h->info.pixdim[axis]);
  if (isfinite(p) && p > 0) return p;
  double n = 0;
  for (int r = 0; r < 3; r++) n += h->affine[r][axis - 1] * h->affine[r][axis - 1];
  double s = n > 0 ? sqrt(n) : 1.0;
  ps_warn("%s: pixdim[%d] is %g; spacing %g mm taken from the affine", path, axis, h->info.pixdim[axis], s);
  return s;
}

/* NaN or inf voxels are legal NIfTI (resampled images fill with NaN) but no
 * training input: said here for every reader, refused by the dataset loader. */
static void warn_nonfinite(const char *path, const ps_volume *v) {
  int64_t n = v->c * v->d * v->h * v->w, bad = 0, first = -1;
  for (int64_t i = 0; i < n; i++)
    if (!isfinite(v->data[i])) {
      if (first < 0) first = i;
      bad++;
    }
  if (bad)
    ps_warn("%s: %lld voxel value(s) are NaN or infinite (the first at voxel %lld)", path, (long long)bad,
            (long long)first);
}

ps_status ps_nifti_read(const char *path, ps_volume *out, ps_nifti_info *info) {
  if (!path || !out) return ps_error(PS_ERR_INVALID, "ps_nifti_read: NULL argument");
  memset(out, 0, sizeof *out);
  ps_nifti_hdr h;
  ps_status st = ps_nifti_parse(path, &h, 0);
  if (st != PS_OK) return st;
  const int64_t *dim = h.info.dim; /* dims beyond the 4th are 1 (ps_nifti_parse) */
  int64_t W = dim[1], H = dim[0] >= 2 ? dim[2] : 1, D = dim[0] >= 3 ? dim[3] : 1, C = dim[0] >= 4 ? dim[4] : 1;
  /* Budget before inflating: the floats, the raw bytes of a gzip stream or a
   * wide type, and one more float copy that statistics and preprocessing take.
   * A 2 MB gzip bomb declaring 2 GiB of uint8 voxels peaked at 16.8 GB before. */
  unsigned long long need = (unsigned long long)h.nvox * sizeof(float) * 2 +
                            (h.is_gz || h.nbyper > 4 ? (unsigned long long)h.data_bytes : 0);
  unsigned long long avail = ps_memory_available();
  if (need > avail)
    return ps_error(PS_ERR_NOMEM,
                    "%s: reading its %lld voxels would take about %llu MiB, more than the %llu MiB this process may "
                    "still use (MemAvailable, ulimit -v)",
                    path, (long long)h.nvox, need >> 20, avail >> 20);
  /* An uncompressed file holds every declared byte (checked): read straight
   * into the float buffer when a voxel fits in 4 bytes. A gzip stream may lie,
   * so its bytes are read first and the floats allocated only once they exist. */
  void *raw = NULL;
  int direct = !h.is_gz && h.nbyper <= 4;
  if (direct) {
    st = ps_volume_alloc(out, C, D, H, W);
    if (st != PS_OK) return st;
  }
  st = read_voxels(path, &h, direct ? (void *)out->data : NULL, &raw);
  if (st == PS_OK && !direct) st = ps_volume_alloc(out, C, D, H, W);
  if (st == PS_OK) {
    if (h.swapped && h.nbyper > 1) nifti_swap_Nbytes(h.nvox, h.nbyper, raw);
    convert_to_float(h.info.datatype, raw, out->data, h.nvox, h.info.scl_slope, h.info.scl_inter);
  }
  if (!direct) free(raw);
  if (st != PS_OK) { ps_volume_free(out); return st; }
  warn_nonfinite(path, out);
  out->spacing[0] = spacing_of(path, &h, 3);
  out->spacing[1] = spacing_of(path, &h, 2);
  out->spacing[2] = spacing_of(path, &h, 1);
  memcpy(out->affine, h.affine, sizeof out->affine);
  if (info) *info = h.info;
  return PS_OK;
}

ps_status ps_nifti_read_labels(const char *path, ps_labelmap *out, ps_nifti_info *info) {
  if (!path || !out) return ps_error(PS_ERR_INVALID, "ps_nifti_read_labels: NULL argument");
  memset(out, 0, sizeof *out);
  ps_volume v;
  ps_status st = ps_nifti_read(path, &v, info);
  if (st != PS_OK) return st;
  if (v.c != 1) {
    st = ps_error(PS_ERR_DATA, "%s: a label map must be 3D, this has %lld volumes", path, (long long)v.c);
    ps_volume_free(&v);
    return st;
  }
  st = ps_labelmap_alloc(out, v.d, v.h, v.w);
  if (st != PS_OK) { ps_volume_free(&v); return st; }
  int64_t n = v.d * v.h * v.w;
  for (int64_t i = 0; i < n; i++) {
    float x = v.data[i];
    if (!(x >= 0 && x <= 255 && x == rintf(x))) {
      st = ps_error(PS_ERR_DATA, "%s: label value %g at voxel %lld is not an integer in 0..255", path, (double)x,
                    (long long)i);
      ps_volume_free(&v);
      ps_labelmap_free(out);
      return st;
    }
    out->data[i] = (uint8_t)x;
  }
  memcpy(out->spacing, v.spacing, sizeof out->spacing);
  memcpy(out->affine, v.affine, sizeof out->affine);
  ps_volume_free(&v);
  return PS_OK;
}

/* ---------------------------------------------------------------- writing */

static int ends_with(const char *s, const char *suf) {
  size_t a = strlen(s), b = strlen(suf);
  return a >= b && !strcmp(s + a - b, suf);
}

static int writable_type(int dt, int *nbyper) {
  switch (dt) {
  case NIFTI_TYPE_UINT8: case NIFTI_TYPE_INT8: *nbyper = 1; return 1;
  case NIFTI_TYPE_INT16: case NIFTI_TYPE_UINT16: *nbyper = 2; return 1;
  case NIFTI_TYPE_INT32: case NIFTI_TYPE_UINT32: case NIFTI_TYPE_FLOAT32: *nbyper = 4; return 1;
  case NIFTI_TYPE_FLOAT64: *nbyper = 8; return 1;
  default: return 0;
  }
}

static double clamp_round(double x, double lo, double hi) {
  if (isnan(x)) return 0;
  x = nearbyint(x);
  return x < lo ? lo : x > hi ? hi : x;
}

/* float -> stored type, n voxels, for the writer's chunks */
static void convert_from_float(int dt, const float *src, void *dst, int64_t n, double slope, double inter) {
  for (int64_t i = 0; i < n; i++) {
    double x = ((double)src[i] - inter) / slope;
    switch (dt) {
    case NIFTI_TYPE_UINT8: ((uint8_t *)dst)[i] = (uint8_t)clamp_round(x, 0, UINT8_MAX); break;
    case NIFTI_TYPE_INT8: ((int8_t *)dst)[i] = (int8_t)clamp_round(x, INT8_MIN, INT8_MAX); break;
    case NIFTI_TYPE_INT16: ((int16_t *)dst)[i] = (int16_t)clamp_round(x, INT16_MIN, INT16_MAX); break;
    case NIFTI_TYPE_UINT16: ((uint16_t *)dst)[i] = (uint16_t)clamp_round(x, 0, UINT16_MAX); break;
    case NIFTI_TYPE_INT32: ((int32_t *)dst)[i] = (int32_t)clamp_round(x, INT32_MIN, INT32_MAX); break;
    case NIFTI_TYPE_UINT32: ((uint32_t *)dst)[i] = (uint32_t)clamp_round(x, 0, UINT32_MAX); break;
    case NIFTI_TYPE_FLOAT32: ((float *)dst)[i] = (float)x; break;
    case NIFTI_TYPE_FLOAT64: ((double *)dst)[i] = x; break;
    default: break;
    }
  }
}

/* Bytes sink over stdio or zlib, so one writer serves .nii and .nii.gz. */
typedef struct { FILE *f; gzFile gz; } sink;

static int sink_write(sink *s, const void *p, size_t n) {
  if (s->gz) {
    while (n > 0) {
      unsigned k = n > (1u << 30) ? (1u << 30) : (unsigned)n;
      if (gzwrite(s->gz, p, k) != (int)k) return -1;
      p = (const char *)p + k;
      n -= k;
    }
    return 0;
  }
  return fwrite(p, 1, n, s->f) == n ? 0 : -1;
}

ps_status ps_nifti_write_ex(const char *path, const ps_volume *v, int datatype, const ps_nifti_write_opts *opts) {
  if (!path || !v || !v->data) return ps_error(PS_ERR_INVALID, "ps_nifti_write: NULL argument");
  int gz = ends_with(path, ".nii.gz");
  if (!gz && !ends_with(path, ".nii"))
    return ps_error(PS_ERR_INVALID, "%s: NIfTI file names end in .nii or .nii.gz", path);
  int nbyper;
  if (!writable_type(datatype, &nbyper))
    return ps_error(PS_ERR_INVALID, "%s: cannot write datatype %d", path, datatype);
  if (v->c < 1 || v->d < 1 || v->h < 1 || v->w < 1)
    return ps_error(PS_ERR_INVALID, "%s: bad volume shape %lldx%lldx%lldx%lld", path, (long long)v->c,
                    (long long)v->d, (long long)v->h, (long long)v->w);
  ps_nifti_write_opts o = {0, 0, 0, 0, 0};
  if (opts) o = *opts;
  int qcode = o.qform_code == 0 ? NIFTI_XFORM_SCANNER_ANAT : o.qform_code < 0 ? 0 : o.qform_code;
  int scode = o.sform_code == 0 ? NIFTI_XFORM_ALIGNED_ANAT : o.sform_code < 0 ? 0 : o.sform_code;
  double slope = o.scl_slope, inter = o.scl_inter;
  if (slope == 0 || !isfinite(slope)) { slope = 1; inter = 0; }
  int big = v->c > 32767 || v->d > 32767 || v->h > 32767 || v->w > 32767;
  int ver = o.nifti_version ? o.nifti_version : (big ? 2 : 1);
  if (ver == 1 && big) return ps_error(PS_ERR_INVALID, "%s: dims over 32767 need NIfTI-2", path);
  if (ver != 1 && ver != 2) return ps_error(PS_ERR_INVALID, "%s: NIfTI version %d", path, ver);

  nifti_dmat44 A;
  for (int r = 0; r < 4; r++)
    for (int c = 0; c < 4; c++) {
      if (!isfinite(v->affine[r][c])) return ps_error(PS_ERR_INVALID, "%s: non-finite affine", path);
      A.m[r][c] = v->affine[r][c];
    }
  double qb, qc, qd, qx, qy, qz, dx, dy, dz, qfac;
  nifti_dmat44_to_quatern(A, &qb, &qc, &qd, &qx, &qy, &qz, &dx, &dy, &dz, &qfac);
  int64_t dims[8] = {v->c > 1 ? 4 : 3, v->w, v->h, v->d, v->c, 1, 1, 1};
  double pix[8] = {qfac, dx, dy, dz, 1, 1, 1, 1};

  unsigned char hdrbuf[sizeof(nifti_2_header) + 4];
  size_t hdrlen;
  memset(hdrbuf, 0, sizeof hdrbuf);
  if (ver == 1) {
    nifti_1_header h;
    memset(&h, 0, sizeof h);
    h.sizeof_hdr = 348;
    for (int i = 0; i < 8; i++) { h.dim[i] = (short)dims[i]; h.pixdim[i] = (float)pix[i]; }
    h.datatype = (short)datatype;
    h.bitpix = (short)(8 * nbyper);
    h.vox_offset = 352;
    h.scl_slope = (float)slope; h.scl_inter = (float)inter;
    h.xyzt_units = NIFTI_UNITS_MM;
    h.qform_code = (short)qcode; h.sform_code = (short)scode;
    h.quatern_b = (float)qb; h.quatern_c = (float)qc; h.quatern_d = (float)qd;
    h.qoffset_x = (float)qx; h.qoffset_y = (float)qy; h.qoffset_z = (float)qz;
    for (int j = 0; j < 4; j++) {
      h.srow_x[j] = (float)A.m[0][j]; h.srow_y[j] = (float)A.m[1][j]; h.srow_z[j] = (float)A.m[2][j];
    }
    snprintf(h.descrip, sizeof h.descrip, "proxyseg");
    memcpy(h.magic, "n+1", 4);
    memcpy(hdrbuf, &h, sizeof h);
    hdrlen = 352;
  } else {
    nifti_2_header h;
    memset(&h, 0, sizeof h);
    h.sizeof_hdr = 540;
    memcpy(h.magic, "n+2\0\r\n\032\n", 8);
    for (int i = 0; i < 8; i++) { h.dim[i] = dims[i]; h.pixdim[i] = pix[i]; }
    h.datatype = (short)datatype;
    h.bitpix = (short)(8 * nbyper);
    h.vox_offset = 544;
    h.scl_slope = slope; h.scl_inter = inter;
    h.xyzt_units = NIFTI_UNITS_MM;
    h.qform_code = qcode; h.sform_code = scode;
    h.quatern_b = qb; h.quatern_c = qc; h.quatern_d = qd;
    h.qoffset_x = qx; h.qoffset_y = qy; h.qoffset_z = qz;
    for (int j = 0; j < 4; j++) {
      h.srow_x[j] = A.m[0][j]; h.srow_y[j] = A.m[1][j]; h.srow_z[j] = A.m[2][j];
    }
    snprintf(h.descrip, sizeof h.descrip, "proxyseg");
    memcpy(hdrbuf, &h, sizeof h);
    hdrlen = 544;
  }

  /* temp file in the same folder; we write its bytes by path, then rename */
  ps_atomic_file *af;
  FILE *fp;
  ps_status st = ps_atomic_open(path, &af, &fp);
  if (st != PS_OK) return st;
  st = ps_atomic_release_stream(af);
  if (st != PS_OK) { ps_atomic_abort(af); return st; }
  const char *tmp = ps_atomic_temp_path(af);
  sink s = {NULL, NULL};
  if (gz) s.gz = gzopen(tmp, "wb4");
  else s.f = fopen(tmp, "wb");
  if (!s.gz && !s.f) {
    st = ps_error(PS_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    ps_atomic_abort(af);
    return st;
  }
  enum { CHUNK = 1 << 16 };
  void *buf = malloc((size_t)CHUNK * 8);
  if (!buf) st = ps_error(PS_ERR_NOMEM, "out of memory");
  if (st == PS_OK && sink_write(&s, hdrbuf, hdrlen) != 0) st = ps_error(PS_ERR_IO, "%s: write failed", tmp);
  int64_t n = v->c * v->d * v->h * v->w;
  for (int64_t i = 0; st == PS_OK && i < n; i += CHUNK) {
    int64_t k = n - i < CHUNK ? n - i : CHUNK;
    convert_from_float(datatype, v->data + i, buf, k, slope, inter);
    if (sink_write(&s, buf, (size_t)(k * nbyper)) != 0) st = ps_error(PS_ERR_IO, "%s: write failed", tmp);
  }
  free(buf);
  if (s.gz) {
    if (gzclose(s.gz) != Z_OK && st == PS_OK) st = ps_error(PS_ERR_IO, "%s: gzip close failed", tmp);
  } else if (fclose(s.f) != 0 && st == PS_OK) {
    st = ps_error(PS_ERR_IO, "%s: close failed: %s", tmp, strerror(errno));
  }
  if (st != PS_OK) { ps_atomic_abort(af); return st; }
  return ps_atomic_commit(af);
}

ps_status ps_nifti_write(const char *path, const ps_volume *v, int datatype) {
  return ps_nifti_write_ex(path, v, datatype, NULL);
}

ps_status ps_nifti_write_labels(const char *path, const ps_labelmap *l) {
  if (!path || !l || !l->data) return ps_error(PS_ERR_INVALID, "ps_nifti_write_labels: NULL argument");
  ps_volume v;
  ps_status st = ps_volume_alloc(&v, 1, l->d, l->h, l->w);
  if (st != PS_OK) return st;
  int64_t n = l->d * l->h * l->w;
  for (int64_t i = 0; i < n; i++) v.data[i] = l->data[i];
  memcpy(v.spacing, l->spacing, sizeof v.spacing);
  memcpy(v.affine, l->affine, sizeof v.affine);
  st = ps_nifti_write(path, &v, NIFTI_TYPE_UINT8);
  ps_volume_free(&v);
  return st;
}
