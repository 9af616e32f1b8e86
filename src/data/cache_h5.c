/* HDF5 case cache: preprocess every training case once, write one .h5 per case
 * atomically, record the plan, a fingerprint of its inputs and each file's size
 * and checksum in plan.json (written last: its presence marks a complete
 * cache). A case file is checksummed before HDF5 opens it: HDF5 1.10 overflows
 * a heap buffer in H5Dread on some corrupt files (found by fuzz_cache). HDF5
 * calls are serialised (Debian's libhdf5 is not built thread-safe). */
#include "proxyseg/cache.h"
#include "proxyseg/dataset.h"
#include "proxyseg/json.h"
#include "proxyseg/preprocess.h"
#include <hdf5.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PS_CACHE_FORMAT "proxyseg-cache-2" /* 2: files[].fnv1a64 */
#define PS_CACHE_MAX_VOXELS ((hsize_t)1 << 31)
#define PS_CACHE_MAX_INFLATE 1100 /* deflate's largest ratio is 1032:1 */

static void silence_hdf5(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) { h ^= b[i]; h *= 0x100000001b3ULL; }
  return h;
}
static uint64_t fnv_str(uint64_t h, const char *s) { return fnv(h, s ? s : "(null)", strlen(s ? s : "(null)") + 1); }

static uint64_t fnv_file_stat(uint64_t h, const char *path) {
  struct stat sb;
  h = fnv_str(h, path);
  if (stat(path, &sb) == 0) {
    int64_t v[3] = {(int64_t)sb.st_size, (int64_t)sb.st_mtim.tv_sec, (int64_t)sb.st_mtim.tv_nsec};
    h = fnv(h, v, sizeof v);
  } else h = fnv_str(h, "missing");
  return h;
}

/* Fingerprint of everything the cache depends on. */
static void fingerprint(const ps_dataset *d, const cJSON *overrides, char out[17]) {
  uint64_t h = 0xcbf29ce484222325ULL;
  h = fnv_str(h, PS_CACHE_FORMAT);
  char *ov = overrides ? cJSON_PrintUnformatted(overrides) : NULL;
  h = fnv_str(h, ov ? ov : "null");
  free(ov);
  char *dj = cJSON_PrintUnformatted(ps_dataset_json(d));
  h = fnv_str(h, dj);
  free(dj);
  for (int i = 0; i < ps_dataset_n_cases(d); i++) {
    h = fnv_str(h, ps_dataset_case_id(d, i));
    for (int f = 0; f < ps_dataset_n_image_files(d, i); f++) h = fnv_file_stat(h, ps_dataset_image_path(d, i, f));
    h = fnv_file_stat(h, ps_dataset_label_path(d, i));
  }
  snprintf(out, 17, "%016" PRIx64, h);
}

static int64_t file_size(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0 ? (int64_t)sb.st_size : -1;
}

/* FNV-1a 64 of a whole file as 16 hex digits; -1 when it cannot be opened. */
static int file_checksum(const char *path, char out[17]) {
  out[0] = 0;
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  uint64_t h = 0xcbf29ce484222325ULL;
  unsigned char buf[1 << 16];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) h = fnv(h, buf, n);
  if (!ferror(f)) snprintf(out, 17, "%016" PRIx64, h);
  fclose(f);
  return 0;
}

/* Does the file at cache_dir/<e.name> have e's size and checksum? 1 yes,
 * 0 no, -1 it has the size but cannot be opened (a permission: the reader says so). */
static int entry_intact(const char *cache_dir, const cJSON *e) {
  char *p = ps_path_join(cache_dir, ps_json_str(e, "name", ""));
  char sum[17];
  int ok = file_size(p) == (int64_t)ps_json_num(e, "bytes", -2);
  if (ok) ok = file_checksum(p, sum) < 0 ? -1 : sum[0] && !strcmp(sum, ps_json_str(e, "fnv1a64", ""));
  free(p);
  return ok;
}

/* Is cache_dir/plan.json complete and made from these inputs? */
static int cache_fresh(const char *cache_dir, const char *fp) {
  char *pp = ps_path_join(cache_dir, "plan.json");
  cJSON *j = NULL;
  int ok = ps_path_exists(pp) && ps_json_read(pp, &j) == PS_OK;
  free(pp);
  ps_clear_error();
  if (!ok) return 0;
  ok = !strcmp(ps_json_str(j, "cache.fingerprint", ""), fp);
  const cJSON *files = ps_json_path(j, "cache.files");
  if (!cJSON_IsArray(files) || cJSON_GetArraySize(files) == 0) ok = 0;
  const cJSON *e;
  cJSON_ArrayForEach(e, files) {
    if (!ok) break;
    ok = entry_intact(cache_dir, e) != 0; /* unreadable: not rebuilt, the load names the cause */
  }
  cJSON_Delete(j);
  return ok;
}

static ps_status h5_fail(const char *path, const char *what) {
  return ps_error(PS_ERR_IO, "%s: HDF5 could not %s", path, what);
}

/* Write one preprocessed case to path (atomically). */
static ps_status write_case(const char *path, const char *id, const ps_volume *img, const ps_labelmap *lab, const cJSON *props) {
  ps_atomic_file *af = NULL;
  FILE *fp = NULL;
  ps_status st = ps_atomic_open(path, &af, &fp);
  if (st) return st;
  if ((st = ps_atomic_release_stream(af))) { ps_atomic_abort(af); return st; }
  const char *tmp = ps_atomic_temp_path(af);
  char *pj = cJSON_PrintUnformatted(props);
  if (!pj) { ps_atomic_abort(af); return ps_error(PS_ERR_NOMEM, "%s: out of memory", path); }
#pragma omp critical(ps_hdf5)
  {
    silence_hdf5();
    /* no modification times: the same case gives the same bytes (and checksum) */
    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
    H5Pset_obj_track_times(fcpl, 0);
    hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, fcpl, H5P_DEFAULT);
    H5Pclose(fcpl);
    if (f < 0) st = h5_fail(path, "create the file");
    hsize_t idims[4] = {(hsize_t)img->c, (hsize_t)img->d, (hsize_t)img->h, (hsize_t)img->w};
    hsize_t ldims[3] = {(hsize_t)lab->d, (hsize_t)lab->h, (hsize_t)lab->w};
    hsize_t ich[4] = {1, (hsize_t)(img->d < 8 ? img->d : 8), (hsize_t)img->h, (hsize_t)img->w};
    hsize_t lch[3] = {ich[1], ich[2], ich[3]};
    int deflate = H5Zfilter_avail(H5Z_FILTER_DEFLATE) > 0;
    for (int which = 0; which < 2 && !st; which++) {
      hid_t sp = which ? H5Screate_simple(3, ldims, NULL) : H5Screate_simple(4, idims, NULL);
      hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
      H5Pset_chunk(dcpl, which ? 3 : 4, which ? lch : ich);
      H5Pset_obj_track_times(dcpl, 0);
      if (deflate) { H5Pset_shuffle(dcpl); H5Pset_deflate(dcpl, 1); }
      hid_t ds = H5Dcreate2(f, which ? "label" : "image", which ? H5T_STD_U8LE : H5T_IEEE_F32LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
      if (ds < 0 || H5Dwrite(ds, which ? H5T_NATIVE_UINT8 : H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                             which ? (const void *)lab->data : (const void *)img->data) < 0)
        st = h5_fail(path, which ? "write the label" : "write the image");
      if (ds >= 0) H5Dclose(ds);
      H5Pclose(dcpl);
      H5Sclose(sp);
    }
    const char *names[2] = {"id", "properties"}, *vals[2] = {id, pj};
    for (int a = 0; a < 2 && !st; a++) {
      hid_t t = H5Tcopy(H5T_C_S1);
      H5Tset_size(t, strlen(vals[a]) + 1);
      H5Tset_strpad(t, H5T_STR_NULLTERM);
      hid_t sp = H5Screate(H5S_SCALAR);
      hid_t at = H5Acreate2(f, names[a], t, sp, H5P_DEFAULT, H5P_DEFAULT);
      if (at < 0 || H5Awrite(at, t, vals[a]) < 0) st = h5_fail(path, "write an attribute");
      if (at >= 0) H5Aclose(at);
      H5Sclose(sp);
      H5Tclose(t);
    }
    if (f >= 0 && H5Fclose(f) < 0 && !st) st = h5_fail(path, "close the file");
  }
  free(pj);
  if (st) { ps_atomic_abort(af); return st; }
  return ps_atomic_commit(af);
}

static char *read_string_attr(hid_t f, const char *name) {
  hid_t at = H5Aopen(f, name, H5P_DEFAULT);
  if (at < 0) return NULL;
  hid_t t = H5Aget_type(at);
  char *s = NULL;
  size_t n = t >= 0 && H5Tget_class(t) == H5T_STRING && !H5Tis_variable_str(t) ? H5Tget_size(t) : 0;
  if (n > 0 && n < (64u << 20) && (s = calloc(n + 1, 1)) && H5Aread(at, t, s) < 0) { free(s); s = NULL; }
  if (t >= 0) H5Tclose(t);
  H5Aclose(at);
  return s;
}

ps_status ps_cache_read_case(const char *path, int n_classes, ps_case *out, cJSON **props) {
  memset(out, 0, sizeof *out);
  if (props) *props = NULL;
  if (!ps_path_exists(path)) return ps_error(PS_ERR_IO, "%s: cache file missing (rebuild with proxyseg preprocess)", path);
  /* HDF5 reports a file it may not open as unreadable; say why instead */
  if (access(path, R_OK) != 0) return ps_error(PS_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
  ps_status st = PS_OK;
  char *id = NULL, *pj = NULL;
#pragma omp critical(ps_hdf5)
  {
    silence_hdf5();
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) st = ps_error(PS_ERR_DATA, "%s: not a readable HDF5 case file (truncated or corrupt; rebuild the cache)", path);
    for (int which = 0; which < 2 && !st; which++) {
      const char *nm = which ? "label" : "image";
      hid_t ds = H5Dopen2(f, nm, H5P_DEFAULT);
      hid_t sp = ds >= 0 ? H5Dget_space(ds) : -1;
      int nd = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
      hsize_t dims[4] = {0, 0, 0, 0};
      if (nd == (which ? 3 : 4)) H5Sget_simple_extent_dims(sp, dims, NULL);
      hsize_t tot = 1;
      for (int a = 0; a < nd && a < 4; a++) tot *= dims[a];
      /* Allocate only what the file can hold: deflate inflates at most
       * 1032:1, and the stored size (from metadata, so capped by the file's
       * size) bounds the data. A corrupt header claiming 2^31 voxels asked for
       * 8 GB before (found by fuzz_cache). */
      hsize_t fsize = 0, stored = ds >= 0 ? H5Dget_storage_size(ds) : 0;
      if (H5Fget_filesize(f, &fsize) < 0 || stored > fsize) stored = fsize;
      unsigned long long need = (unsigned long long)tot * (which ? 1 : sizeof(float));
      if (nd != (which ? 3 : 4) || tot == 0 || tot > PS_CACHE_MAX_VOXELS)
        st = ps_error(PS_ERR_DATA, "%s: dataset \"%s\" missing or of bad shape", path, nm);
      else if (need / PS_CACHE_MAX_INFLATE > (unsigned long long)stored)
        st = ps_error(PS_ERR_DATA, "%s: dataset \"%s\" claims %llu voxels, more than its %llu stored bytes can hold "
                      "(corrupt; rebuild the cache)", path, nm, (unsigned long long)tot, (unsigned long long)stored);
      else if (need > ps_memory_available())
        st = ps_error(PS_ERR_NOMEM, "%s: dataset \"%s\" needs %llu MiB, more than this process may still use", path, nm,
                      need >> 20);
      else if (!which)
        st = ps_volume_alloc(&out->image, (int64_t)dims[0], (int64_t)dims[1], (int64_t)dims[2], (int64_t)dims[3]);
      else if (dims[0] != (hsize_t)out->image.d || dims[1] != (hsize_t)out->image.h || dims[2] != (hsize_t)out->image.w)
        st = ps_error(PS_ERR_DATA, "%s: label and image shapes differ", path);
      else st = ps_labelmap_alloc(&out->label, (int64_t)dims[0], (int64_t)dims[1], (int64_t)dims[2]);
      if (!st && H5Dread(ds, which ? H5T_NATIVE_UINT8 : H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                         which ? (void *)out->label.data : (void *)out->image.data) < 0)
        st = ps_error(PS_ERR_DATA, "%s: cannot read \"%s\" (truncated or corrupt; rebuild the cache)", path, nm);
      if (sp >= 0) H5Sclose(sp);
      if (ds >= 0) H5Dclose(ds);
    }
    if (!st) {
      id = read_string_attr(f, "id");
      pj = read_string_attr(f, "properties");
      if (!id || !pj) st = ps_error(PS_ERR_DATA, "%s: attribute \"id\" or \"properties\" missing", path);
    }
    if (f >= 0) H5Fclose(f);
  }
  cJSON *pr = NULL;
  if (!st && !(pr = cJSON_Parse(pj))) st = ps_error(PS_ERR_DATA, "%s: properties attribute is not JSON", path);
  if (!st) {
    /* the preprocessed grid's geometry */
    const cJSON *sp = cJSON_GetObjectItem(pr, "spacing_after_resample"), *af = cJSON_GetObjectItem(pr, "affine");
    for (int a = 0; a < 3; a++) {
      const cJSON *v = cJSON_IsArray(sp) ? cJSON_GetArrayItem(sp, a) : NULL;
      out->image.spacing[a] = out->label.spacing[a] = cJSON_IsNumber(v) ? v->valuedouble : 1;
    }
    for (int r = 0; r < 4 && cJSON_IsArray(af); r++)
      for (int c = 0; c < 4; c++) {
        const cJSON *row = cJSON_GetArrayItem(af, r), *v = cJSON_IsArray(row) ? cJSON_GetArrayItem(row, c) : NULL;
        if (cJSON_IsNumber(v)) out->image.affine[r][c] = out->label.affine[r][c] = v->valuedouble;
      }
    out->id = id;
    id = NULL;
    size_t n = (size_t)(out->label.d * out->label.h * out->label.w);
    for (size_t i = 0; i < n && !st; i++)
      if (out->label.data[i] >= n_classes) st = ps_error(PS_ERR_DATA, "%s: label value %d >= n_classes %d", path, out->label.data[i], n_classes);
    if (!st) st = ps_case_index_foreground(out, n_classes);
  }
  free(id);
  free(pj);
  if (st) { cJSON_Delete(pr); ps_case_free(out); return st; }
  if (props) *props = pr;
  else cJSON_Delete(pr);
  return PS_OK;
}

static cJSON *affine_json(const double A[4][4]) {
  cJSON *a = cJSON_CreateArray();
  for (int r = 0; r < 4; r++) {
    cJSON *row = cJSON_CreateArray();
    for (int c = 0; c < 4; c++) cJSON_AddItemToArray(row, cJSON_CreateNumber(A[r][c]));
    cJSON_AddItemToArray(a, row);
  }
  return a;
}

static ps_status build_case(const ps_dataset *d, int i, const cJSON *plan, const char *path) {
  ps_volume img;
  ps_labelmap lab;
  ps_status st = ps_dataset_load_case(d, i, &img, &lab, NULL);
  if (st) return st;
  cJSON *props = NULL;
  st = ps_preprocess_case(plan, &img, &lab, &props);
  if (!st) {
    cJSON_AddStringToObject(props, "id", ps_dataset_case_id(d, i));
    cJSON_AddItemToObject(props, "affine", affine_json(img.affine));
    st = write_case(path, ps_dataset_case_id(d, i), &img, &lab, props);
  } else st = ps_error_prefix(st, "%s: ", ps_dataset_case_id(d, i));
  cJSON_Delete(props);
  ps_volume_free(&img);
  ps_labelmap_free(&lab);
  return st;
}

static char *case_file_name(const char *id) {
  char *s = ps_strfmt("%s.h5", id);
  for (char *c = s; *c; c++)
    if (*c == '/' || *c == '\\') *c = '_';
  return s;
}

ps_status ps_cache_build_ex(const char *dataset_dir, const char *cache_dir, const cJSON *overrides, int threads, int *rebuilt) {
  if (rebuilt) *rebuilt = 0;
  ps_dataset *d = NULL;
  ps_status st = ps_dataset_open(dataset_dir, &d);
  if (st) return st;
  char fp[17];
  fingerprint(d, overrides, fp);
  if (cache_fresh(cache_dir, fp)) { ps_dataset_free(d); return PS_OK; }
  if ((st = ps_mkdir_p(cache_dir))) { ps_dataset_free(d); return st; }
  char *pp = ps_path_join(cache_dir, "plan.json");
  unlink(pp); /* an interrupted rebuild must not look complete */
  cJSON *plan = NULL;
  if ((st = ps_plan_create(d, overrides, &plan))) { free(pp); ps_dataset_free(d); return st; }
  int n = ps_dataset_n_cases(d);
  char **names = calloc((size_t)n, sizeof *names);
  if (!names) { cJSON_Delete(plan); free(pp); ps_dataset_free(d); return ps_error(PS_ERR_NOMEM, "cache: out of memory"); }
  for (int i = 0; i < n; i++) names[i] = case_file_name(ps_dataset_case_id(d, i));
  ps_status first = PS_OK;
  int first_i = n;
  char msg[768] = "";
  ps_progress *prog = ps_progress_create("preprocess", n);
  int done = 0;
  int nt = threads > 0 ? threads : ps_threads_get();
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
  for (int i = 0; i < n; i++) {
    char *path = ps_path_join(cache_dir, names[i]);
    ps_status s = build_case(d, i, plan, path);
    free(path);
#pragma omp critical(ps_cache_progress)
    {
      if (s && i < first_i) { first = s; first_i = i; snprintf(msg, sizeof msg, "%s", ps_last_error()); }
      ps_progress_update(prog, ++done, ps_dataset_case_id(d, i));
    }
  }
  ps_progress_free(prog);
  if (first) st = ps_error(first, "%s", msg);
  if (!st) {
    cJSON *c = cJSON_AddObjectToObject(plan, "cache");
    cJSON_AddStringToObject(c, "format", PS_CACHE_FORMAT);
    cJSON_AddStringToObject(c, "fingerprint", fp);
    cJSON_AddStringToObject(c, "dataset", ps_dataset_root(d));
    cJSON_AddItemToObject(c, "overrides", overrides ? cJSON_Duplicate(overrides, 1) : cJSON_CreateNull());
    cJSON *fa = cJSON_AddArrayToObject(c, "files");
    for (int i = 0; i < n; i++) {
      char *p = ps_path_join(cache_dir, names[i]);
      cJSON *e = cJSON_CreateObject();
      cJSON_AddStringToObject(e, "id", ps_dataset_case_id(d, i));
      cJSON_AddStringToObject(e, "name", names[i]);
      cJSON_AddNumberToObject(e, "bytes", (double)file_size(p));
      char sum[17];
      file_checksum(p, sum);
      cJSON_AddStringToObject(e, "fnv1a64", sum);
      cJSON_AddItemToArray(fa, e);
      free(p);
    }
    st = ps_json_write(pp, plan);
  }
  if (!st && rebuilt) *rebuilt = 1;
  for (int i = 0; i < n; i++) free(names[i]);
  free(names);
  free(pp);
  cJSON_Delete(plan);
  ps_dataset_free(d);
  return st;
}

ps_status ps_cache_build(const char *dataset_dir, const char *cache_dir, const cJSON *overrides, int threads) {
  return ps_cache_build_ex(dataset_dir, cache_dir, overrides, threads, NULL);
}

void ps_cache_free_cases(ps_case *cases, int n) {
  if (!cases) return;
  for (int i = 0; i < n; i++) ps_case_free(&cases[i]);
  free(cases);
}

ps_status ps_cache_load(const char *cache_dir, ps_case **cases, int *n) {
  *cases = NULL;
  *n = 0;
  char *pp = ps_path_join(cache_dir, "plan.json");
  cJSON *plan = NULL;
  ps_status st = ps_path_exists(pp) ? ps_json_read(pp, &plan)
                                    : ps_error(PS_ERR_IO, "%s: no plan.json (build the cache with proxyseg preprocess)", cache_dir);
  free(pp);
  if (st) return st;
  int nc = ps_json_int(plan, "n_classes", 0);
  const cJSON *files = ps_json_path(plan, "cache.files");
  int m = cJSON_IsArray(files) ? cJSON_GetArraySize(files) : 0;
  if (m == 0) { cJSON_Delete(plan); return ps_error(PS_ERR_DATA, "%s/plan.json: no cache.files", cache_dir); }
  /* labels are uint8: a corrupt n_classes of 10^8 made 10^8 small allocations
   * per case (2 GB under ASan, found by fuzz_cache in CI) */
  if (nc < 2 || nc > 256) {
    cJSON_Delete(plan);
    return ps_error(PS_ERR_DATA, "%s/plan.json: n_classes missing or outside 2..256", cache_dir);
  }
  ps_case *cs = calloc((size_t)m, sizeof *cs);
  if (!cs) { cJSON_Delete(plan); return ps_error(PS_ERR_NOMEM, "cache: out of memory"); }
  for (int i = 0; i < m && !st; i++) {
    const cJSON *e = cJSON_GetArrayItem(files, i);
    char *p = ps_path_join(cache_dir, ps_json_str(e, "name", ""));
    int intact = ps_path_exists(p) ? entry_intact(cache_dir, e) : -1;
    if (intact < 0) st = ps_cache_read_case(p, nc, &cs[i], NULL); /* its "missing" or "cannot read" message */
    else if (!intact)
      st = ps_error(PS_ERR_DATA, "%s: size or checksum differs from %s/plan.json (corrupt, or the cache is from an older "
                    "proxyseg): run proxyseg preprocess again to rebuild it", p, cache_dir);
    else st = ps_cache_read_case(p, nc, &cs[i], NULL);
    free(p);
  }
  cJSON_Delete(plan);
  if (st) { ps_cache_free_cases(cs, m); return st; }
  *cases = cs;
  *n = m;
  return PS_OK;
}
