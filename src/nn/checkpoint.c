/* Network checkpoints in HDF5, written atomically, read back to resume training
 * (parameters, optimiser state, training state, RNG) or to predict (arch + parameters).
 *
 * Any model family (ps_net): /arch holds its resolved arch JSON with "family".
 * Layout (readable with h5py; strings are fixed-length, read them as bytes and decode):
 *   /                          attrs: format = "proxyseg-checkpoint", version = 1 (int),
 *                                     in_channels, n_classes (int)
 *   /arch                      scalar string: the resolved architecture JSON
 *   /params/<name>             float32 dataset with the tensor's shape, e.g.
 *                              /params/enc0.conv0.weight [16, 1, 3, 3, 3] (PyTorch layout)
 *   /buffers/<name>            float32: batch-norm running_mean / running_var (may be empty)
 *   /arch_params/<name>        float32: a search super-network's architecture logits (only then)
 *   /optim                     group (only with an optimiser), attrs: kind ("sgd"|"adam"|"adamw"),
 *                              step (int64, updates done), hparams (JSON string)
 *   /optim/<state>/<name>      float32 per parameter, same shape: momentum_buffer (sgd),
 *                              exp_avg and exp_avg_sq (adam, adamw)
 *   /state                     scalar string: the caller's training-state JSON (epoch, ...)
 *   /rng                       uint8 [n]: opaque ps_rng state bytes
 *
 * Integrity: the user block (first 512 bytes) holds a checksum of the rest,
 * checked before HDF5 sees the file; every float dataset is also one chunk with
 * HDF5's Fletcher32 checksum (h5py verifies it too). Non-finite weights are
 * refused. Files without the checksum (written before it existed) are refused:
 * HDF5 1.10 overflows a heap buffer on some corrupt files (tests/fuzz/README.md).
 */
#include "net_internal.h"
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CKPT_FORMAT "proxyseg-checkpoint"
#define CKPT_VERSION 1

static void quiet_hdf5(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

/* Whole-file checksum in HDF5's user block (512 bytes at the start that HDF5
 * skips): "proxyseg-checkpoint fnv1a64 <hex> <bytes>\n" over every byte after
 * the block. Checked before HDF5 opens the file, because HDF5 1.10 reads
 * corrupt metadata without bounds checks (a flipped byte crashed H5Dread). */
#define USERBLOCK 512
#define STAMP "proxyseg-checkpoint fnv1a64 "

static uint64_t fnv1a64(const unsigned char *p, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

/* Writes the checksum line into the image's user block. */
static void stamp_checksum(unsigned char *img, size_t n) {
  char head[USERBLOCK];
  memset(head, 0, sizeof head);
  snprintf(head, sizeof head, STAMP "%016llx %llu\n", (unsigned long long)fnv1a64(img + USERBLOCK, n - USERBLOCK),
           (unsigned long long)(n - USERBLOCK));
  memcpy(img, head, USERBLOCK);
}

/* PS_OK for a stamped file whose bytes match; PS_ERR_DATA for anything else,
 * plain HDF5 files from before the stamp included. */
static ps_status verify_checksum(const char *path) {
  char *d;
  size_t n;
  ps_status st = ps_read_file(path, (size_t)1 << 40, &d, &n);
  if (st) return st;
  static const unsigned char hdf5_sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
  if (n >= 8 && !memcmp(d, hdf5_sig, 8)) {
    /* Never handed to HDF5 unchecked: fuzz_checkpoint crashed HDF5 1.10's
     * H5Dread (a heap overflow in H5VM_memcpyvv) with such a file. */
    free(d);
    return ps_error(PS_ERR_DATA,
                    "%s: an HDF5 file without proxyseg's checksum (not written by this proxyseg, or by one before "
                    "checksums): refused, since HDF5 cannot read a corrupt file safely; train again to get a checkpoint",
                    path);
  }
  unsigned long long want = 0, len = 0;
  bool ok = n > USERBLOCK && !strncmp(d, STAMP, strlen(STAMP)) &&
            sscanf(d + strlen(STAMP), "%16llx %llu", &want, &len) == 2 && len == n - USERBLOCK &&
            want == fnv1a64((unsigned char *)d + USERBLOCK, n - USERBLOCK);
  free(d);
  return ok ? PS_OK : ps_error(PS_ERR_DATA, "%s: not a proxyseg checkpoint, or corrupt (its checksum does not match)", path);
}

static herr_t write_str(hid_t loc, const char *name, const char *s) {
  hid_t ty = H5Tcopy(H5T_C_S1);
  H5Tset_size(ty, strlen(s) + 1);
  H5Tset_strpad(ty, H5T_STR_NULLTERM);
  hid_t sp = H5Screate(H5S_SCALAR);
  hid_t ds = H5Dcreate2(loc, name, ty, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  herr_t r = ds < 0 ? -1 : H5Dwrite(ds, ty, H5S_ALL, H5S_ALL, H5P_DEFAULT, s);
  if (ds >= 0) H5Dclose(ds);
  H5Sclose(sp);
  H5Tclose(ty);
  return r;
}

static herr_t attr_str(hid_t loc, const char *name, const char *s) {
  hid_t ty = H5Tcopy(H5T_C_S1);
  H5Tset_size(ty, strlen(s) + 1);
  hid_t sp = H5Screate(H5S_SCALAR);
  hid_t at = H5Acreate2(loc, name, ty, sp, H5P_DEFAULT, H5P_DEFAULT);
  herr_t r = at < 0 ? -1 : H5Awrite(at, ty, s);
  if (at >= 0) H5Aclose(at);
  H5Sclose(sp);
  H5Tclose(ty);
  return r;
}

static herr_t attr_i64(hid_t loc, const char *name, int64_t v) {
  hid_t sp = H5Screate(H5S_SCALAR);
  hid_t at = H5Acreate2(loc, name, H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
  herr_t r = at < 0 ? -1 : H5Awrite(at, H5T_NATIVE_INT64, &v);
  if (at >= 0) H5Aclose(at);
  H5Sclose(sp);
  return r;
}

static herr_t write_f32(hid_t loc, const char *name, const float *v, int ndim, const int64_t *shape) {
  hsize_t dims[PS_MAX_DIMS];
  for (int i = 0; i < ndim; i++) dims[i] = (hsize_t)shape[i];
  hid_t sp = H5Screate_simple(ndim, dims, NULL);
  /* the whole tensor as one chunk, so it can carry a Fletcher32 checksum */
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  size_t n = 1;
  for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
  if (ndim > 0 && n > 0 && n * sizeof(float) < ((size_t)1 << 32) && H5Pset_chunk(dcpl, ndim, dims) >= 0)
    H5Pset_fletcher32(dcpl);
  hid_t ds = H5Dcreate2(loc, name, H5T_IEEE_F32LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  herr_t r = ds < 0 ? -1 : H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
  if (ds >= 0) H5Dclose(ds);
  H5Pclose(dcpl);
  H5Sclose(sp);
  return r;
}

/* One float tensor per arena entry; `base` is the arena-aligned block (values or optimiser state). */
static herr_t write_arena(hid_t file, const char *group, ps_params *p, const float *base) {
  hid_t g = H5Gcreate2(file, group, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (g < 0) return -1;
  herr_t r = 0;
  for (size_t i = 0; i < ps_params_count(p) && r >= 0; i++) {
    ps_tensor *x = ps_params_get(p, i);
    r = write_f32(g, x->name, base + ps_params_offset(p, i), x->ndim, x->shape);
  }
  H5Gclose(g);
  return r;
}

ps_status ps_checkpoint_save(const char *path, ps_net *net, ps_optim *opt, const cJSON *state, const ps_rng *rng) {
  quiet_hdf5();
  /* HDF5 builds the file in memory (the core driver, no backing store); we
   * stamp its checksum and write the bytes ourselves. Written by HDF5 onto a
   * full disk, a failed close left a file object that crashed HDF5's exit
   * handler (SIGSEGV in H5F__close_cb); our atomic write fails cleanly. */
  hid_t fcpl = H5Pcreate(H5P_FILE_CREATE), fapl = H5Pcreate(H5P_FILE_ACCESS);
  H5Pset_userblock(fcpl, USERBLOCK);
  H5Pset_fapl_core(fapl, (size_t)1 << 20, 0);
  hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, fcpl, fapl);
  H5Pclose(fcpl);
  H5Pclose(fapl);
  if (f < 0) return ps_error(PS_ERR_RUNTIME, "%s: cannot create the HDF5 image in memory", path);
  herr_t r = 0;
  char *arch = cJSON_PrintUnformatted(ps_net_arch_resolved(net));
  r |= attr_str(f, "format", CKPT_FORMAT);
  r |= attr_i64(f, "version", CKPT_VERSION);
  r |= attr_i64(f, "in_channels", ps_net_in_channels(net));
  r |= attr_i64(f, "n_classes", ps_net_n_classes(net));
  r |= arch ? write_str(f, "arch", arch) : -1;
  free(arch);
  ps_params *p = ps_net_params(net);
  if (r >= 0) r = write_arena(f, "params", p, ps_params_data(p));
  if (r >= 0) r = write_arena(f, "buffers", ps_net_buffers(net), ps_params_data(ps_net_buffers(net)));
  ps_params *ap = ps_net_arch_params(net);
  if (r >= 0 && ap) r = write_arena(f, "arch_params", ap, ps_params_data(ap));
  if (r >= 0 && opt) {
    if (ps_optim_params(opt) != p) r = -1;
    hid_t g = r < 0 ? -1 : H5Gcreate2(f, "optim", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) r = -1;
    else {
      char *hp = cJSON_PrintUnformatted(ps_optim_hparams(opt));
      r |= attr_str(g, "kind", ps_optim_kind(opt));
      r |= attr_i64(g, "step", ps_optim_step_count(opt));
      r |= hp ? attr_str(g, "hparams", hp) : -1;
      free(hp);
      for (int i = 0; i < ps_optim_state_count(opt) && r >= 0; i++) {
        const char *name;
        float *buf = ps_optim_state(opt, i, &name);
        r = write_arena(g, name, p, buf);
      }
      H5Gclose(g);
    }
  }
  if (r >= 0 && state) {
    char *s = cJSON_PrintUnformatted(state);
    r = s ? write_str(f, "state", s) : -1;
    free(s);
  }
  if (r >= 0 && rng) {
    size_t n = ps_rng_state_size(rng);
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) r = -1;
    else {
      ps_rng_state_save(rng, buf);
      hsize_t dim = n;
      hid_t sp = H5Screate_simple(1, &dim, NULL);
      hid_t ds = H5Dcreate2(f, "rng", H5T_STD_U8LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
      r = ds < 0 ? -1 : H5Dwrite(ds, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
      if (ds >= 0) H5Dclose(ds);
      H5Sclose(sp);
      free(buf);
    }
  }
  /* the image starts at the superblock; the user block goes before it */
  ssize_t size = r < 0 || H5Fflush(f, H5F_SCOPE_GLOBAL) < 0 ? -1 : H5Fget_file_image(f, NULL, 0);
  unsigned char *img = size > 0 ? malloc((size_t)size + USERBLOCK) : NULL;
  if (img && H5Fget_file_image(f, img + USERBLOCK, (size_t)size) != size) {
    free(img);
    img = NULL;
  }
  H5Fclose(f);
  if (!img) return ps_error(PS_ERR_RUNTIME, "%s: building the HDF5 checkpoint failed", path);
  size += USERBLOCK;
  stamp_checksum(img, (size_t)size);
  ps_status st = ps_write_file_atomic(path, img, (size_t)size);
  free(img);
  return st;
}

/* ---- reading ---- */

static ps_status read_str(hid_t f, const char *path, const char *name, char **out) {
  *out = NULL;
  if (H5Lexists(f, name, H5P_DEFAULT) <= 0) return ps_error(PS_ERR_DATA, "%s: checkpoint has no /%s", path, name);
  hid_t ds = H5Dopen2(f, name, H5P_DEFAULT);
  if (ds < 0) return ps_error(PS_ERR_DATA, "%s: cannot open /%s", path, name);
  hid_t ty = H5Dget_type(ds);
  size_t n = ty >= 0 && H5Tget_class(ty) == H5T_STRING && !H5Tis_variable_str(ty) ? H5Tget_size(ty) : 0;
  ps_status st = PS_OK;
  char *s = n ? calloc(n + 1, 1) : NULL;
  if (!s || n > (256u << 20)) st = ps_error(PS_ERR_DATA, "%s: /%s is not a fixed-length string", path, name);
  else if (H5Dread(ds, ty, H5S_ALL, H5S_ALL, H5P_DEFAULT, s) < 0) st = ps_error(PS_ERR_DATA, "%s: cannot read /%s (truncated?)", path, name);
  if (ty >= 0) H5Tclose(ty);
  H5Dclose(ds);
  if (st) { free(s); return st; }
  *out = s;
  return PS_OK;
}

static ps_status read_json(hid_t f, const char *path, const char *name, cJSON **out) {
  char *s;
  ps_status st = read_str(f, path, name, &s);
  if (st) return st;
  *out = cJSON_Parse(s);
  free(s);
  return *out ? PS_OK : ps_error(PS_ERR_DATA, "%s: /%s is not valid JSON", path, name);
}

static ps_status read_attr_i64(hid_t loc, const char *path, const char *name, int64_t *v) {
  if (H5Aexists(loc, name) <= 0) return ps_error(PS_ERR_DATA, "%s: missing attribute '%s'", path, name);
  hid_t at = H5Aopen(loc, name, H5P_DEFAULT);
  herr_t r = at < 0 ? -1 : H5Aread(at, H5T_NATIVE_INT64, v);
  if (at >= 0) H5Aclose(at);
  return r < 0 ? ps_error(PS_ERR_DATA, "%s: cannot read attribute '%s'", path, name) : PS_OK;
}

static ps_status read_attr_str(hid_t loc, const char *path, const char *name, char *buf, size_t cap) {
  if (H5Aexists(loc, name) <= 0) return ps_error(PS_ERR_DATA, "%s: missing attribute '%s'", path, name);
  hid_t at = H5Aopen(loc, name, H5P_DEFAULT);
  hid_t ty = at < 0 ? -1 : H5Aget_type(at);
  herr_t r = -1;
  if (ty >= 0 && H5Tget_class(ty) == H5T_STRING && !H5Tis_variable_str(ty) && H5Tget_size(ty) < cap) {
    memset(buf, 0, cap);
    r = H5Aread(at, ty, buf);
  }
  if (ty >= 0) H5Tclose(ty);
  if (at >= 0) H5Aclose(at);
  return r < 0 ? ps_error(PS_ERR_DATA, "%s: bad attribute '%s'", path, name) : PS_OK;
}

static ps_status read_f32(hid_t g, const char *path, const char *group, const ps_tensor *x, float *dst) {
  if (H5Lexists(g, x->name, H5P_DEFAULT) <= 0) return ps_error(PS_ERR_DATA, "%s: missing /%s/%s", path, group, x->name);
  hid_t ds = H5Dopen2(g, x->name, H5P_DEFAULT);
  if (ds < 0) return ps_error(PS_ERR_DATA, "%s: cannot open /%s/%s", path, group, x->name);
  hid_t sp = H5Dget_space(ds);
  hsize_t dims[8];
  int nd = sp < 0 ? -1 : H5Sget_simple_extent_ndims(sp);
  ps_status st = PS_OK;
  bool same = nd == x->ndim && nd <= 8 && H5Sget_simple_extent_dims(sp, dims, NULL) == nd;
  for (int i = 0; same && i < nd; i++) same = dims[i] == (hsize_t)x->shape[i];
  if (!same) {
    char b[64];
    st = ps_error(PS_ERR_DATA, "%s: /%s/%s has a different shape than the network's %s", path, group, x->name,
                  ps_shape_str(x, b, sizeof b));
  } else if (H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, dst) < 0) {
    st = ps_error(PS_ERR_DATA, "%s: cannot read /%s/%s (a truncated file, or its checksum fails: corrupt)", path,
                  group, x->name);
  } else {
    size_t n = (size_t)x->numel, bad = 0;
    for (size_t i = 0; i < n; i++) bad += !isfinite(dst[i]);
    if (bad)
      st = ps_error(PS_ERR_DATA, "%s: /%s/%s holds %zu NaN or infinite values (a diverged or corrupt model)", path,
                    group, x->name, bad);
  }
  if (sp >= 0) H5Sclose(sp);
  H5Dclose(ds);
  return st;
}

static ps_status read_arena(hid_t loc, const char *path, const char *group, ps_params *p, float *base) {
  if (ps_params_count(p) == 0) return PS_OK;
  if (H5Lexists(loc, group, H5P_DEFAULT) <= 0) return ps_error(PS_ERR_DATA, "%s: checkpoint has no /%s", path, group);
  hid_t g = H5Gopen2(loc, group, H5P_DEFAULT);
  if (g < 0) return ps_error(PS_ERR_DATA, "%s: cannot open /%s", path, group);
  ps_status st = PS_OK;
  for (size_t i = 0; i < ps_params_count(p) && !st; i++)
    st = read_f32(g, path, group, ps_params_get(p, i), base + ps_params_offset(p, i));
  H5Gclose(g);
  return st;
}

static ps_status open_ckpt(const char *path, hid_t *out) {
  quiet_hdf5();
  *out = -1;
  if (!ps_path_exists(path)) return ps_error(PS_ERR_IO, "%s: no such checkpoint", path);
  ps_status cs = verify_checksum(path);
  if (cs) return cs;
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) return ps_error(PS_ERR_DATA, "%s: not a readable HDF5 file (truncated or corrupt)", path);
  char fmt[64];
  int64_t ver = 0;
  ps_status st = read_attr_str(f, path, "format", fmt, sizeof fmt);
  if (!st && strcmp(fmt, CKPT_FORMAT)) st = ps_error(PS_ERR_DATA, "%s: not a proxyseg checkpoint (format '%s')", path, fmt);
  if (!st) st = read_attr_i64(f, path, "version", &ver);
  if (!st && ver != CKPT_VERSION) st = ps_error(PS_ERR_DATA, "%s: checkpoint version %lld unsupported", path, (long long)ver);
  if (st) { H5Fclose(f); return st; }
  *out = f;
  return PS_OK;
}

static ps_status load_weights(hid_t f, const char *path, ps_net *net) {
  ps_status st = read_arena(f, path, "params", ps_net_params(net), ps_params_data(ps_net_params(net)));
  if (!st) st = read_arena(f, path, "buffers", ps_net_buffers(net), ps_params_data(ps_net_buffers(net)));
  ps_params *ap = ps_net_arch_params(net);
  if (!st && ap) st = read_arena(f, path, "arch_params", ap, ps_params_data(ap));
  return st;
}

ps_status ps_checkpoint_load_net(const char *path, ps_net **out) {
  *out = NULL;
  hid_t f;
  ps_status st = open_ckpt(path, &f);
  if (st) return st;
  cJSON *arch = NULL;
  int64_t cin = 0, ncls = 0;
  ps_net *net = NULL;
  st = read_json(f, path, "arch", &arch);
  if (!st) st = read_attr_i64(f, path, "in_channels", &cin);
  if (!st) st = read_attr_i64(f, path, "n_classes", &ncls);
  if (!st && (st = ps_net_create(arch, (int)cin, (int)ncls, 0, &net))) ps_error_prefix(PS_ERR_DATA, "%s: ", path), st = PS_ERR_DATA;
  if (!st) st = load_weights(f, path, net);
  cJSON_Delete(arch);
  H5Fclose(f);
  if (st) { ps_net_free(net); return st; }
  *out = net;
  return PS_OK;
}

ps_status ps_checkpoint_load(const char *path, ps_net *net, ps_optim *opt, cJSON **state, ps_rng *rng) {
  if (state) *state = NULL;
  hid_t f;
  ps_status st = open_ckpt(path, &f);
  if (st) return st;
  int64_t cin = 0, ncls = 0;
  st = read_attr_i64(f, path, "in_channels", &cin);
  if (!st) st = read_attr_i64(f, path, "n_classes", &ncls);
  if (!st && (cin != ps_net_in_channels(net) || ncls != ps_net_n_classes(net)))
    st = ps_error(PS_ERR_DATA, "%s: checkpoint is for %lld input channels / %lld classes, the network has %d / %d", path,
                  (long long)cin, (long long)ncls, ps_net_in_channels(net), ps_net_n_classes(net));
  if (!st) st = load_weights(f, path, net);
  if (!st && opt) {
    hid_t g = H5Lexists(f, "optim", H5P_DEFAULT) > 0 ? H5Gopen2(f, "optim", H5P_DEFAULT) : -1;
    if (g < 0) st = ps_error(PS_ERR_DATA, "%s: checkpoint has no optimiser state", path);
    else {
      char kind[32];
      int64_t step = 0;
      st = read_attr_str(g, path, "kind", kind, sizeof kind);
      if (!st && strcmp(kind, ps_optim_kind(opt)))
        st = ps_error(PS_ERR_DATA, "%s: optimiser is '%s', checkpoint has '%s'", path, ps_optim_kind(opt), kind);
      if (!st) st = read_attr_i64(g, path, "step", &step);
      for (int i = 0; i < ps_optim_state_count(opt) && !st; i++) {
        const char *name;
        float *buf = ps_optim_state(opt, i, &name);
        char grp[64];
        snprintf(grp, sizeof grp, "optim/%s", name);
        st = read_arena(g, path, name, ps_optim_params(opt), buf);
        if (st) ps_error_prefix(st, "(%s) ", grp);
      }
      if (!st) ps_optim_set_step_count(opt, step);
      H5Gclose(g);
    }
  }
  if (!st && state && H5Lexists(f, "state", H5P_DEFAULT) > 0) st = read_json(f, path, "state", state);
  if (!st && rng) {
    if (H5Lexists(f, "rng", H5P_DEFAULT) <= 0) st = ps_error(PS_ERR_DATA, "%s: checkpoint has no /rng", path);
    else {
      hid_t ds = H5Dopen2(f, "rng", H5P_DEFAULT);
      hid_t sp = ds < 0 ? -1 : H5Dget_space(ds);
      hssize_t n = sp < 0 ? -1 : H5Sget_simple_extent_npoints(sp);
      uint8_t *buf = n > 0 && n < (1 << 24) ? malloc((size_t)n) : NULL;
      if (!buf || H5Dread(ds, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
        st = ps_error(PS_ERR_DATA, "%s: cannot read /rng", path);
      else if ((st = ps_rng_state_load(rng, buf, (size_t)n))) ps_error_prefix(PS_ERR_DATA, "%s: ", path), st = PS_ERR_DATA;
      free(buf);
      if (sp >= 0) H5Sclose(sp);
      if (ds >= 0) H5Dclose(ds);
    }
  }
  H5Fclose(f);
  if (st && state) { cJSON_Delete(*state); *state = NULL; }
  return st;
}
