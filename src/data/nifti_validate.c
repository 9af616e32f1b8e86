/* NIfTI header parsing and validation against the file, done before any voxel
 * memory exists: hostile headers (huge or negative dims, bad offsets, an 18 GB
 * claim in a 377-byte .nii.gz) are refused here with PS_ERR_DATA. */
#include "nifti_internal.h"

#include <errno.h>
#include <math.h>
#include <nifti2_io.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

/* gzerror() repeats the path; keep only the reason. */
const char *ps_nifti_gz_reason(gzFile gz, const char *path) {
  int zerr;
  const char *msg = gzerror(gz, &zerr);
  if (!msg || !*msg) return "read error";
  size_t n = strlen(path);
  if (!strncmp(msg, path, n) && msg[n] == ':' && msg[n + 1] == ' ') msg += n + 2;
  return msg;
}

#define PS_NIFTI_MAX_DIM 65536                 /* per axis */
#define PS_NIFTI_MAX_BYTES ((int64_t)1 << 40)  /* total voxel bytes */
#define PS_NIFTI_GZ_RATIO 1000                 /* declared bytes per compressed byte */
#define PS_NIFTI_GZ_SLACK ((int64_t)64 << 20)

static int bytes_per_voxel(int dt) {
  switch (dt) {
  case NIFTI_TYPE_UINT8: case NIFTI_TYPE_INT8: return 1;
  case NIFTI_TYPE_INT16: case NIFTI_TYPE_UINT16: return 2;
  case NIFTI_TYPE_INT32: case NIFTI_TYPE_UINT32: case NIFTI_TYPE_FLOAT32: return 4;
  case NIFTI_TYPE_INT64: case NIFTI_TYPE_UINT64: case NIFTI_TYPE_FLOAT64: return 8;
  default: return 0;
  }
}

const char *ps_nifti_datatype_name(int dt) {
  switch (dt) {
  case NIFTI_TYPE_UINT8: return "uint8";
  case NIFTI_TYPE_INT8: return "int8";
  case NIFTI_TYPE_INT16: return "int16";
  case NIFTI_TYPE_UINT16: return "uint16";
  case NIFTI_TYPE_INT32: return "int32";
  case NIFTI_TYPE_UINT32: return "uint32";
  case NIFTI_TYPE_INT64: return "int64";
  case NIFTI_TYPE_UINT64: return "uint64";
  case NIFTI_TYPE_FLOAT32: return "float32";
  case NIFTI_TYPE_FLOAT64: return "float64";
  default: return "unknown";
  }
}

static char orient_letter(int code) {
  switch (code) {
  case NIFTI_L2R: return 'R';
  case NIFTI_R2L: return 'L';
  case NIFTI_P2A: return 'A';
  case NIFTI_A2P: return 'P';
  case NIFTI_I2S: return 'S';
  case NIFTI_S2I: return 'I';
  default: return '?';
  }
}

/* Decompress the whole stream (nothing kept) to prove it is intact and at
 * least `need` bytes long; stops reading once `need` plus a margin is seen. */
static ps_status verify_gz_stream(const char *path, int64_t need) {
  gzFile gz = gzopen(path, "rb");
  if (!gz) return ps_error(PS_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  enum { CHUNK = 1 << 16 };
  unsigned char *buf = malloc(CHUNK);
  if (!buf) { gzclose(gz); return ps_error(PS_ERR_NOMEM, "out of memory"); }
  int64_t total = 0, cap = need + (1 << 20);
  for (;;) {
    int r = gzread(gz, buf, CHUNK);
    if (r < 0) {
      ps_status st = ps_error(PS_ERR_DATA, "%s: corrupt gzip stream after %lld bytes: %s", path, (long long)total,
                              ps_nifti_gz_reason(gz, path));
      gzclose(gz);
      free(buf);
      return st;
    }
    if (r == 0) break;
    total += r;
    if (total > cap) break;
  }
  gzclose(gz);
  free(buf);
  if (total < need)
    return ps_error(PS_ERR_DATA, "%s: truncated: header and voxels need %lld bytes, the gzip stream holds %lld", path,
                    (long long)need, (long long)total);
  return PS_OK;
}

ps_status ps_nifti_parse(const char *path, ps_nifti_hdr *h, int verify_stream) {
  memset(h, 0, sizeof *h);
  nifti_set_debug_level(0);
  struct stat sb;
  if (stat(path, &sb) != 0) return ps_error(PS_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  if (!S_ISREG(sb.st_mode)) return ps_error(PS_ERR_DATA, "%s: not a regular file", path);
  h->info.file_bytes = (int64_t)sb.st_size;

  unsigned char magic2[2] = {0, 0};
  FILE *f = fopen(path, "rb");
  if (!f) return ps_error(PS_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  size_t m = fread(magic2, 1, 2, f);
  fclose(f);
  h->is_gz = m == 2 && magic2[0] == 0x1f && magic2[1] == 0x8b;

  /* gzread passes plain files through, so one path serves both. */
  unsigned char buf[sizeof(nifti_2_header)];
  memset(buf, 0, sizeof buf);
  gzFile gz = gzopen(path, "rb");
  if (!gz) return ps_error(PS_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  int n = gzread(gz, buf, sizeof buf);
  if (n < 0) {
    ps_status st = ps_error(PS_ERR_DATA, "%s: corrupt gzip stream: %s", path, ps_nifti_gz_reason(gz, path));
    gzclose(gz);
    return st;
  }
  gzclose(gz);
  if (n < (int)sizeof(nifti_1_header))
    return ps_error(PS_ERR_DATA, "%s: %d bytes, too short for a NIfTI header (348)", path, n);

  int32_t sz, szs;
  memcpy(&sz, buf, 4);
  szs = (int32_t)__builtin_bswap32((uint32_t)sz);
  int ver = 0;
  if (sz == 348 || szs == 348) ver = 1;
  else if (sz == 540 || szs == 540) ver = 2;
  else return ps_error(PS_ERR_DATA, "%s: not a NIfTI file (sizeof_hdr %d)", path, (int)sz);
  h->swapped = (sz != 348 && sz != 540);
  h->info.nifti_version = ver;

  int64_t dim[8], hdr_size;
  double pix[8], vox_offset, qb, qc, qd, qx, qy, qz, srow[3][4];
  const char *mg;
  if (ver == 1) {
    nifti_1_header h1;
    memcpy(&h1, buf, sizeof h1);
    if (h->swapped) nifti_swap_as_nifti1(&h1);
    mg = h1.magic;
    if (!memcmp(mg, "ni1", 4)) return ps_error(PS_ERR_DATA, "%s: two-file NIfTI (.hdr/.img) is not supported", path);
    if (memcmp(mg, "n+1", 4)) return ps_error(PS_ERR_DATA, "%s: bad NIfTI-1 magic (Analyze 7.5 is not supported)", path);
    for (int i = 0; i < 8; i++) { dim[i] = h1.dim[i]; pix[i] = h1.pixdim[i]; }
    h->info.datatype = h1.datatype;
    vox_offset = h1.vox_offset;
    h->info.scl_slope = h1.scl_slope; h->info.scl_inter = h1.scl_inter;
    h->info.qform_code = h1.qform_code; h->info.sform_code = h1.sform_code;
    qb = h1.quatern_b; qc = h1.quatern_c; qd = h1.quatern_d;
    qx = h1.qoffset_x; qy = h1.qoffset_y; qz = h1.qoffset_z;
    for (int j = 0; j < 4; j++) { srow[0][j] = h1.srow_x[j]; srow[1][j] = h1.srow_y[j]; srow[2][j] = h1.srow_z[j]; }
    hdr_size = 348;
  } else {
    if (n < (int)sizeof(nifti_2_header))
      return ps_error(PS_ERR_DATA, "%s: %d bytes, too short for a NIfTI-2 header (540)", path, n);
    nifti_2_header h2;
    memcpy(&h2, buf, sizeof h2);
    if (h->swapped) nifti_swap_as_nifti2(&h2);
    mg = h2.magic;
    if (!memcmp(mg, "ni2", 4)) return ps_error(PS_ERR_DATA, "%s: two-file NIfTI-2 (.hdr/.img) is not supported", path);
    if (memcmp(mg, "n+2", 4)) return ps_error(PS_ERR_DATA, "%s: bad NIfTI-2 magic", path);
    for (int i = 0; i < 8; i++) { dim[i] = h2.dim[i]; pix[i] = h2.pixdim[i]; }
    h->info.datatype = h2.datatype;
    if (h2.vox_offset < 0 || h2.vox_offset > PS_NIFTI_MAX_BYTES)
      return ps_error(PS_ERR_DATA, "%s: bad vox_offset %lld", path, (long long)h2.vox_offset);
    vox_offset = (double)h2.vox_offset;
    h->info.scl_slope = h2.scl_slope; h->info.scl_inter = h2.scl_inter;
    h->info.qform_code = h2.qform_code; h->info.sform_code = h2.sform_code;
    qb = h2.quatern_b; qc = h2.quatern_c; qd = h2.quatern_d;
    qx = h2.qoffset_x; qy = h2.qoffset_y; qz = h2.qoffset_z;
    for (int j = 0; j < 4; j++) { srow[0][j] = h2.srow_x[j]; srow[1][j] = h2.srow_y[j]; srow[2][j] = h2.srow_z[j]; }
    hdr_size = 540;
  }
  for (int i = 0; i < 8; i++) { h->info.dim[i] = dim[i]; h->info.pixdim[i] = pix[i]; }

  /* dims: every used axis in 1..MAX, product computed without overflow */
  if (dim[0] < 1 || dim[0] > 7) return ps_error(PS_ERR_DATA, "%s: dim[0] = %lld, must be 1..7", path, (long long)dim[0]);
  h->nbyper = bytes_per_voxel(h->info.datatype);
  if (!h->nbyper)
    return ps_error(PS_ERR_DATA, "%s: unsupported datatype %d", path, h->info.datatype);
  int64_t nvox = 1;
  for (int i = 1; i <= dim[0]; i++) {
    if (dim[i] < 1 || dim[i] > PS_NIFTI_MAX_DIM)
      return ps_error(PS_ERR_DATA, "%s: dim[%d] = %lld, must be 1..%d", path, i, (long long)dim[i], PS_NIFTI_MAX_DIM);
    if (nvox > PS_NIFTI_MAX_BYTES / h->nbyper / dim[i])
      return ps_error(PS_ERR_DATA, "%s: dims declare more than %lld bytes of voxels", path,
                      (long long)PS_NIFTI_MAX_BYTES);
    nvox *= dim[i];
  }
  for (int i = 5; i <= dim[0]; i++)
    if (dim[i] > 1)
      return ps_error(PS_ERR_DATA, "%s: %lld-D image (dim[%d] = %lld) is not supported", path, (long long)dim[0], i,
                      (long long)dim[i]);
  h->nvox = nvox;
  h->data_bytes = nvox * h->nbyper;

  if (!isfinite(vox_offset) || vox_offset < (double)hdr_size || vox_offset > (double)PS_NIFTI_MAX_BYTES)
    return ps_error(PS_ERR_DATA, "%s: vox_offset %g is outside [%lld, file]", path, vox_offset, (long long)hdr_size);
  h->vox_offset = (int64_t)vox_offset;
  int64_t need = h->vox_offset + h->data_bytes;
  if (!h->is_gz) {
    if (need > h->info.file_bytes)
      return ps_error(PS_ERR_DATA, "%s: truncated: header declares %lld bytes (offset %lld + %lld voxel bytes), file has %lld",
                      path, (long long)need, (long long)h->vox_offset, (long long)h->data_bytes,
                      (long long)h->info.file_bytes);
  } else {
    if (need > PS_NIFTI_GZ_RATIO * h->info.file_bytes + PS_NIFTI_GZ_SLACK)
      return ps_error(PS_ERR_DATA, "%s: header declares %lld bytes, implausible for a %lld-byte compressed file", path,
                      (long long)need, (long long)h->info.file_bytes);
    if (verify_stream) {
      ps_status st = verify_gz_stream(path, need);
      if (st != PS_OK) return st;
    }
  }

  /* scaling: slope 0 or NaN means "no scaling" (NIfTI spec; nibabel writes NaN
   * for unscaled files); an infinite slope is not a convention: said aloud */
  if (isinf(h->info.scl_slope)) ps_warn("%s: scl_slope is %g; read without scaling", path, (double)h->info.scl_slope);
  if (!isfinite(h->info.scl_slope) || h->info.scl_slope == 0) { h->info.scl_slope = 1; h->info.scl_inter = 0; }
  if (!isfinite(h->info.scl_inter)) h->info.scl_inter = 0;

  nifti_dmat44 A;
  memset(&A, 0, sizeof A);
  if (h->info.sform_code > 0) {
    for (int r = 0; r < 3; r++)
      for (int c = 0; c < 4; c++) A.m[r][c] = srow[r][c];
    A.m[3][3] = 1;
  } else if (h->info.qform_code > 0) {
    A = nifti_quatern_to_dmat44(qb, qc, qd, qx, qy, qz, pix[1], pix[2], pix[3], pix[0] < 0 ? -1.0 : 1.0);
  } else {
    for (int r = 0; r < 3; r++) A.m[r][r] = (isfinite(pix[r + 1]) && pix[r + 1] > 0) ? pix[r + 1] : 1.0;
    A.m[3][3] = 1;
  }
  for (int r = 0; r < 4; r++)
    for (int c = 0; c < 4; c++) {
      if (!isfinite(A.m[r][c])) return ps_error(PS_ERR_DATA, "%s: non-finite %s", path,
                                                h->info.sform_code > 0 ? "sform" : "qform");
      h->affine[r][c] = A.m[r][c];
    }
  int ic = 0, jc = 0, kc = 0;
  nifti_dmat44_to_orientation(A, &ic, &jc, &kc);
  h->info.orientation[0] = orient_letter(ic);
  h->info.orientation[1] = orient_letter(jc);
  h->info.orientation[2] = orient_letter(kc);
  h->info.orientation[3] = 0;
  return PS_OK;
}

ps_status ps_nifti_read_header(const char *path, ps_nifti_info *info) {
  if (!path || !info) return ps_error(PS_ERR_INVALID, "ps_nifti_read_header: NULL argument");
  ps_nifti_hdr h;
  ps_status st = ps_nifti_parse(path, &h, 1);
  if (st == PS_OK) *info = h.info;
  return st;
}
