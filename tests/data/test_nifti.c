/* NIfTI I/O: round trips for every datatype (.nii and .nii.gz, NIfTI-1 and -2),
 * 4D, scaling, big-endian, orientations; hostile files (truncated, bad gzip,
 * huge/negative dims, bad vox_offset, unknown datatype, an 18 GB claim in a
 * tiny .nii.gz) must fail with PS_ERR_DATA without allocating their claims.
 * `test_nifti --write-hostile DIR` writes the hostile files for the CLI test. */
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <nifti2_io.h>

#include "proxyseg/nifti.h"
#include "testutil.h"

static void fill(ps_volume *v, int dt) {
  int64_t n = v->c * v->d * v->h * v->w;
  for (int64_t i = 0; i < n; i++) {
    int x = (int)((i * 37) % 101);
    switch (dt) {
    case PS_NIFTI_UINT8: case PS_NIFTI_UINT16: case PS_NIFTI_UINT32: v->data[i] = (float)x; break;
    case PS_NIFTI_INT8: v->data[i] = (float)(x - 50); break;
    case PS_NIFTI_INT16: case PS_NIFTI_INT32: v->data[i] = (float)(x * 300 - 15000); break;
    default: v->data[i] = (float)(x - 50) * 0.37f + 1e-3f * (float)i; break;
    }
  }
}

static void set_affine(ps_volume *v, const double a[3][4]) {
  for (int r = 0; r < 3; r++)
    for (int c = 0; c < 4; c++) v->affine[r][c] = a[r][c];
  v->affine[3][0] = v->affine[3][1] = v->affine[3][2] = 0;
  v->affine[3][3] = 1;
}

static double max_affine_diff(const double a[4][4], const double b[4][4]) {
  double m = 0;
  for (int r = 0; r < 4; r++)
    for (int c = 0; c < 4; c++) m = fmax(m, fabs(a[r][c] - b[r][c]));
  return m;
}

static const double AFF_RAS[3][4] = {{0.8, 0, 0, -10}, {0, 0.9, 0, 20}, {0, 0, 2.5, 30}};
static const double AFF_LPS[3][4] = {{-0.8, 0, 0, 10}, {0, -0.9, 0, 20}, {0, 0, 2.5, -30}};
/* oblique and permuted: i mostly +S, j mostly -R (L), k mostly +A, rotated a little */
static const double AFF_ODD[3][4] = {{0, -1.2 * 0.9950042, 2.0 * 0.0998334, 5},
                                     {0, 1.2 * 0.0998334, 2.0 * 0.9950042, -7},
                                     {0.7, 0, 0, 11}};

static void round_trip(const char *dir, int dt, const char *ext, int c, int ver) {
  ps_volume v, r;
  CHECK_OK(ps_volume_alloc(&v, c, 4, 5, 6));
  fill(&v, dt);
  set_affine(&v, AFF_RAS);
  char *p = ps_strfmt("%s/rt_%s_c%d_v%d%s", dir, ps_nifti_datatype_name(dt), c, ver, ext);
  ps_nifti_write_opts o = {ver, 0, 0, 0, 0};
  CHECK_OK(ps_nifti_write_ex(p, &v, dt, &o));
  ps_nifti_info info;
  ps_status st = ps_nifti_read(p, &r, &info);
  CHECK(st == PS_OK, "%s: %s", p, ps_last_error());
  if (st == PS_OK) {
    CHECK(r.c == c && r.d == 4 && r.h == 5 && r.w == 6, "%s: shape %lld %lld %lld %lld", p, (long long)r.c,
          (long long)r.d, (long long)r.h, (long long)r.w);
    CHECK(info.datatype == dt && info.nifti_version == ver, "%s: dt %d ver %d", p, info.datatype, info.nifti_version);
    CHECK(!strcmp(info.orientation, "RAS"), "%s: orientation %s", p, info.orientation);
    CHECK(info.qform_code == 1 && info.sform_code == 2, "%s: codes %d %d", p, info.qform_code, info.sform_code);
    CHECK(max_affine_diff(r.affine, v.affine) < 1e-5, "%s: affine differs", p);
    CHECK_NEAR(r.spacing[0], 2.5, 1e-6);
    CHECK_NEAR(r.spacing[2], 0.8, 1e-6);
    double tol = dt == PS_NIFTI_FLOAT32 || dt == PS_NIFTI_FLOAT64 ? 0 : 0;
    int64_t n = v.c * v.d * v.h * v.w, bad = 0;
    for (int64_t i = 0; i < n; i++) bad += fabs((double)r.data[i] - v.data[i]) > tol;
    CHECK(bad == 0, "%s: %lld voxels differ", p, (long long)bad);
    ps_volume_free(&r);
  }
  /* the written file must be a gzip stream exactly when asked for */
  FILE *f = fopen(p, "rb");
  unsigned char m[2] = {0, 0};
  if (f) { CHECK(fread(m, 1, 2, f) == 2, "read"); fclose(f); }
  CHECK((m[0] == 0x1f && m[1] == 0x8b) == (strstr(ext, ".gz") != NULL), "%s: compression by extension", p);
  free(p);
  ps_volume_free(&v);
}

static void orientation_case(const char *dir, const double a[3][4], const char *want, int qform_only) {
  ps_volume v, r;
  CHECK_OK(ps_volume_alloc(&v, 1, 3, 4, 5));
  fill(&v, PS_NIFTI_FLOAT32);
  set_affine(&v, a);
  char *p = ps_strfmt("%s/orient_%s_%d.nii.gz", dir, want, qform_only);
  ps_nifti_write_opts o = {0, 0, qform_only ? -1 : 0, 0, 0};
  CHECK_OK(ps_nifti_write_ex(p, &v, PS_NIFTI_FLOAT32, &o));
  ps_nifti_info info;
  if (ps_nifti_read(p, &r, &info) == PS_OK) {
    CHECK(!strcmp(info.orientation, want), "%s: orientation %s, want %s", p, info.orientation, want);
    CHECK(max_affine_diff(r.affine, v.affine) < 1e-5, "%s: affine differs by %g", p, max_affine_diff(r.affine, v.affine));
    CHECK(info.sform_code == (qform_only ? 0 : 2), "sform code %d", info.sform_code);
    ps_volume_free(&r);
  } else CHECK(0, "%s: %s", p, ps_last_error());
  free(p);
  ps_volume_free(&v);
}

/* Rewrite an int16 .nii as big-endian (header and voxels swapped). */
static void big_endian(const char *dir) {
  ps_volume v, r;
  CHECK_OK(ps_volume_alloc(&v, 1, 3, 4, 5));
  fill(&v, PS_NIFTI_INT16);
  set_affine(&v, AFF_LPS);
  char *p = ps_strfmt("%s/le.nii", dir), *q = ps_strfmt("%s/be.nii", dir);
  ps_nifti_write_opts o = {0, 0, 0, 2.0, -3.0};
  CHECK_OK(ps_nifti_write_ex(p, &v, PS_NIFTI_INT16, &o));
  char *buf;
  size_t n;
  CHECK_OK(ps_read_file(p, 0, &buf, &n));
  nifti_1_header h;
  memcpy(&h, buf, sizeof h);
  nifti_swap_as_nifti1(&h);
  memcpy(buf, &h, sizeof h);
  nifti_swap_2bytes((int64_t)((n - 352) / 2), buf + 352);
  CHECK_OK(ps_write_file_atomic(q, buf, n));
  free(buf);
  ps_nifti_info info;
  if (ps_nifti_read(q, &r, &info) == PS_OK) {
    int64_t bad = 0;
    for (int64_t i = 0; i < 60; i++) bad += fabsf(r.data[i] - v.data[i]) > 1.0f; /* slope 2: rounding to 2 */
    CHECK(bad == 0, "big-endian: %lld voxels differ", (long long)bad);
    CHECK_NEAR(info.scl_slope, 2.0, 0);
    CHECK_NEAR(info.scl_inter, -3.0, 0);
    CHECK(!strcmp(info.orientation, "LPS"), "orientation %s", info.orientation);
    CHECK(max_affine_diff(r.affine, v.affine) < 1e-5, "big-endian affine");
    ps_volume_free(&r);
  } else CHECK(0, "%s: %s", q, ps_last_error());
  free(p); free(q);
  ps_volume_free(&v);
}

static void scaling(const char *dir) {
  ps_volume v, r;
  CHECK_OK(ps_volume_alloc(&v, 1, 2, 3, 4));
  for (int i = 0; i < 24; i++) v.data[i] = -10.0f + 0.5f * (float)i;
  char *p = ps_strfmt("%s/scaled.nii.gz", dir);
  ps_nifti_write_opts o = {0, 0, 0, 0.5, -10.0};
  CHECK_OK(ps_nifti_write_ex(p, &v, PS_NIFTI_UINT8, &o));
  ps_nifti_info info;
  if (ps_nifti_read(p, &r, &info) == PS_OK) {
    CHECK(ps_test_max_rel_err(r.data, v.data, 24, 1) == 0, "scaled values differ");
    CHECK_NEAR(info.scl_slope, 0.5, 0);
    ps_volume_free(&r);
  } else CHECK(0, "%s", ps_last_error());
  free(p);
  ps_volume_free(&v);
}

static void labels(const char *dir) {
  ps_labelmap l, r;
  CHECK_OK(ps_labelmap_alloc(&l, 3, 4, 5));
  for (int i = 0; i < 60; i++) l.data[i] = (uint8_t)(i % 3 == 0 ? 0 : i % 7 == 0 ? 255 : 2);
  set_affine((ps_volume *)&(ps_volume){0}, AFF_RAS); /* no-op: keeps the helper honest about types */
  char *p = ps_strfmt("%s/lab.nii.gz", dir);
  CHECK_OK(ps_nifti_write_labels(p, &l));
  if (ps_nifti_read_labels(p, &r, NULL) == PS_OK) {
    CHECK(!memcmp(r.data, l.data, 60), "labels differ");
    ps_labelmap_free(&r);
  } else CHECK(0, "%s", ps_last_error());
  /* non-integer and out-of-range values are refused */
  ps_volume v;
  CHECK_OK(ps_volume_alloc(&v, 1, 3, 4, 5));
  v.data[7] = 0.5f;
  char *q = ps_strfmt("%s/lab_frac.nii", dir);
  CHECK_OK(ps_nifti_write(q, &v, PS_NIFTI_FLOAT32));
  CHECK(ps_nifti_read_labels(q, &r, NULL) == PS_ERR_DATA, "fractional label accepted");
  CHECK(strstr(ps_last_error(), "lab_frac.nii") != NULL, "message names the file: %s", ps_last_error());
  v.data[7] = 300;
  CHECK_OK(ps_nifti_write(q, &v, PS_NIFTI_INT16));
  CHECK(ps_nifti_read_labels(q, &r, NULL) == PS_ERR_DATA, "label 300 accepted");
  free(p); free(q);
  ps_volume_free(&v);
  ps_labelmap_free(&l);
}

/* ---------------------------------------------------------------- hostile */

static void put_file(const char *path, const void *p, size_t n) {
  FILE *f = fopen(path, "wb");
  if (f) { fwrite(p, 1, n, f); fclose(f); }
}

static void put_gz(const char *path, const void *p, size_t n) {
  gzFile g = gzopen(path, "wb9");
  if (g) { gzwrite(g, p, (unsigned)n); gzclose(g); }
}

/* A valid 8x8x8 int16 NIfTI-1 image in memory: header + 4 pad + voxels. */
static unsigned char *valid_image(size_t *n) {
  *n = 352 + 8 * 8 * 8 * 2;
  unsigned char *b = calloc(1, *n);
  nifti_1_header h;
  memset(&h, 0, sizeof h);
  h.sizeof_hdr = 348;
  h.dim[0] = 3; h.dim[1] = h.dim[2] = h.dim[3] = 8;
  for (int i = 4; i < 8; i++) h.dim[i] = 1;
  h.pixdim[0] = 1; h.pixdim[1] = h.pixdim[2] = h.pixdim[3] = 1;
  h.datatype = NIFTI_TYPE_INT16; h.bitpix = 16;
  h.vox_offset = 352;
  h.scl_slope = 1;
  memcpy(h.magic, "n+1", 4);
  memcpy(b, &h, sizeof h);
  for (int i = 0; i < 512; i++) ((int16_t *)(b + 352))[i] = (int16_t)i;
  return b;
}

typedef struct { const char *name; const char *expect; } hostile_file;
static const hostile_file HOSTILE[] = {
    {"truncated.nii", "truncated"},          {"truncated.nii.gz", "truncated"},
    {"garbage.nii.gz", ""},                  {"badcrc.nii.gz", "gzip"},
    {"hugedims.nii", "dim"},                 {"hugedims.nii.gz", ""},
    {"negdims.nii", "dim[2]"},               {"zerodims.nii", "dim[1]"},
    {"dim0.nii", "dim[0]"},                  {"voxoff_small.nii", "vox_offset"},
    {"voxoff_huge.nii", "truncated"},       {"voxoff_nan.nii", "vox_offset"},
    {"datatype.nii", "datatype"},            {"complex.nii", "datatype"},
    {"claims18gb.nii.gz", "implausible"},    {"tiny.nii", "too short"},
    {"notnifti.nii", "not a NIfTI"},         {"nifti2_huge.nii", ""},
    {"pair.nii", "two-file"},                {"nan_sform.nii", "non-finite"},
    {"fivedim.nii", "not supported"},        {"claims18gb.nii", "truncated"},
};
#define N_HOSTILE (int)(sizeof HOSTILE / sizeof *HOSTILE)

static void write_hostile(const char *dir) {
  size_t n;
  unsigned char *b = valid_image(&n);
  nifti_1_header h0, h;
  memcpy(&h0, b, sizeof h0);
  char p[4096];
#define OUT(name, buf, len, gz)                                  \
  do {                                                           \
    snprintf(p, sizeof p, "%s/%s", dir, name);                   \
    if (gz) put_gz(p, buf, len); else put_file(p, buf, len);     \
  } while (0)
#define WITH(name, stmt, gz)                                     \
  do {                                                           \
    h = h0; stmt;                                                \
    memcpy(b, &h, sizeof h);                                     \
    OUT(name, b, n, gz);                                         \
    memcpy(b, &h0, sizeof h0);                                   \
  } while (0)
  OUT("truncated.nii", b, n / 2, 0);
  OUT("truncated.nii.gz", b, n / 2, 1);
  {
    unsigned char g[600];
    for (int i = 0; i < 600; i++) g[i] = (unsigned char)(i * 131 + 7);
    g[0] = 0x1f; g[1] = 0x8b; g[2] = 8;
    OUT("garbage.nii.gz", g, sizeof g, 0);
  }
  { /* a valid .nii.gz with a flipped byte in its CRC trailer */
    OUT("badcrc.nii.gz", b, n, 1);
    char *gzb; size_t gn;
    if (ps_read_file(p, 0, &gzb, &gn) == PS_OK) { gzb[gn - 6] ^= 0x55; put_file(p, gzb, gn); free(gzb); }
  }
  WITH("hugedims.nii", (h.dim[1] = h.dim[2] = h.dim[3] = 32767), 0);
  WITH("hugedims.nii.gz", (h.dim[1] = h.dim[2] = h.dim[3] = 32767), 1);
  WITH("negdims.nii", (h.dim[2] = -5), 0);
  WITH("zerodims.nii", (h.dim[1] = 0), 0);
  WITH("dim0.nii", (h.dim[0] = 9), 0);
  WITH("voxoff_small.nii", (h.vox_offset = 100), 0);
  WITH("voxoff_huge.nii", (h.vox_offset = 1e12f), 0);
  WITH("voxoff_nan.nii", (h.vox_offset = NAN), 0);
  WITH("datatype.nii", (h.datatype = 9999), 0);
  WITH("complex.nii", (h.datatype = NIFTI_TYPE_COMPLEX64, h.bitpix = 64), 0);
  { /* 2048 x 2048 x 2200 int16 = 18.4 GB declared, a few hundred bytes on disk */
    h = h0;
    h.dim[1] = 2048; h.dim[2] = 2048; h.dim[3] = 2200;
    unsigned char small[377];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof small; i++) { x = x * 1664525u + 1013904223u; small[i] = (unsigned char)(x >> 24); }
    memcpy(small, &h, sizeof h);
    memset(small + 348, 0, 4);
    OUT("claims18gb.nii", small, sizeof small, 0);
    OUT("claims18gb.nii.gz", small, sizeof small, 1);
  }
  OUT("tiny.nii", b, 100, 0);
  {
    unsigned char junk[400];
    memset(junk, 'x', sizeof junk);
    OUT("notnifti.nii", junk, sizeof junk, 0);
  }
  { /* NIfTI-2 header declaring 60000^3 float64 */
    nifti_2_header h2;
    memset(&h2, 0, sizeof h2);
    h2.sizeof_hdr = 540;
    memcpy(h2.magic, "n+2\0\r\n\032\n", 8);
    h2.dim[0] = 3; h2.dim[1] = h2.dim[2] = h2.dim[3] = 60000;
    h2.datatype = NIFTI_TYPE_FLOAT64; h2.bitpix = 64;
    h2.vox_offset = 544; h2.scl_slope = 1;
    unsigned char buf2[600];
    memset(buf2, 0, sizeof buf2);
    memcpy(buf2, &h2, sizeof h2);
    OUT("nifti2_huge.nii", buf2, sizeof buf2, 0);
  }
  WITH("pair.nii", (memcpy(h.magic, "ni1", 4)), 0);
  WITH("nan_sform.nii", (h.sform_code = 1, h.srow_x[0] = NAN), 0);
  WITH("fivedim.nii", (h.dim[0] = 5, h.dim[5] = 2, h.dim[1] = 4), 0);
  free(b);
#undef WITH
#undef OUT
}

/* Every hostile file fails with PS_ERR_DATA. Run in a child whose address
 * space is capped near its current size, so that any attempt to allocate a
 * file's claim would fail as PS_ERR_NOMEM (or crash) instead of passing. */
static void hostile(const char *dir) {
  write_hostile(dir);
  pid_t pid = fork();
  if (pid == 0) {
#if !defined(__SANITIZE_ADDRESS__)
    long pages = 0, page = sysconf(_SC_PAGESIZE);
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) { if (fscanf(f, "%ld", &pages) != 1) pages = 0; fclose(f); }
    if (pages > 0) {
      struct rlimit rl = {(rlim_t)pages * page + (64u << 20), (rlim_t)pages * page + (64u << 20)};
      setrlimit(RLIMIT_AS, &rl);
    }
#endif
    int fails = 0;
    for (int i = 0; i < N_HOSTILE; i++) {
      char *p = ps_strfmt("%s/%s", dir, HOSTILE[i].name);
      ps_volume v;
      ps_nifti_info info;
      ps_status st = ps_nifti_read(p, &v, &info);
      ps_status sh = ps_nifti_read_header(p, &info);
      const char *msg = ps_last_error();
      int ok = st == PS_ERR_DATA && sh == PS_ERR_DATA && strstr(msg, HOSTILE[i].name) && strstr(msg, HOSTILE[i].expect);
      if (!ok) {
        fprintf(stderr, "FAIL hostile %s: read %s, header %s: %s\n", HOSTILE[i].name, ps_status_name(st),
                ps_status_name(sh), msg);
        fails++;
      } else fprintf(stderr, "  ok %-20s %s\n", HOSTILE[i].name, msg);
      if (st == PS_OK) ps_volume_free(&v);
      free(p);
    }
    _exit(fails ? 1 : 0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "hostile files: child status %d", status);
  /* the 18 GB claim really is tiny on disk */
  char *p = ps_strfmt("%s/claims18gb.nii.gz", dir);
  struct stat sb;
  CHECK(stat(p, &sb) == 0 && sb.st_size < 1024, "claims18gb.nii.gz is %lld bytes", (long long)sb.st_size);
  free(p);
}

int main(int argc, char **argv) {
  if (argc == 3 && !strcmp(argv[1], "--write-hostile")) {
    write_hostile(argv[2]);
    return 0;
  }
  char *dir = ps_test_tmpdir("nifti");
  const int types[] = {PS_NIFTI_UINT8, PS_NIFTI_INT8, PS_NIFTI_INT16, PS_NIFTI_UINT16, PS_NIFTI_INT32,
                       PS_NIFTI_UINT32, PS_NIFTI_FLOAT32, PS_NIFTI_FLOAT64};
  for (size_t t = 0; t < sizeof types / sizeof *types; t++) {
    round_trip(dir, types[t], ".nii", 1, 1);
    round_trip(dir, types[t], ".nii.gz", 1, 1);
    round_trip(dir, types[t], ".nii.gz", 1, 2);
  }
  round_trip(dir, PS_NIFTI_FLOAT32, ".nii.gz", 3, 1); /* 4D -> channels */
  round_trip(dir, PS_NIFTI_INT16, ".nii", 2, 2);
  orientation_case(dir, AFF_RAS, "RAS", 0);
  orientation_case(dir, AFF_LPS, "LPS", 0);
  orientation_case(dir, AFF_LPS, "LPS", 1);
  orientation_case(dir, AFF_ODD, "SLA", 0);
  orientation_case(dir, AFF_ODD, "SLA", 1);
  big_endian(dir);
  scaling(dir);
  labels(dir);
  hostile(dir);
  /* a bad extension is a usage error, and a failed write leaves nothing behind */
  ps_volume v;
  CHECK_OK(ps_volume_alloc(&v, 1, 2, 2, 2));
  char *p = ps_strfmt("%s/x.img", dir);
  CHECK(ps_nifti_write(p, &v, PS_NIFTI_FLOAT32) == PS_ERR_INVALID, "bad extension accepted");
  CHECK(ps_test_sh("ls -a '%s' | grep -q tmp", dir) != 0, "temp files left in %s", dir);
  free(p);
  ps_volume_free(&v);
  free(dir);
  return ps_test_done("nifti");
}
