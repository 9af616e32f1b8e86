/* MSD and nnU-Net v2 dataset folders: parse dataset.json, list cases, keep
 * every path inside the dataset root, and load a case with its consistency
 * checks (channels and label agree in shape and affine, label values declared). */
#include "dataset_internal.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "proxyseg/json.h"

static int is_junk(const char *base) { return !strncmp(base, "._", 2) || !strcmp(base, ".DS_Store"); }

static const char *base_name(const char *p) {
  const char *s = strrchr(p, '/');
  return s ? s + 1 : p;
}

/* Strip .nii.gz / .nii (or the given ending) from a file's base name. */
static char *strip_ending(const char *base, const char *ending) {
  size_t n = strlen(base), e = ending ? strlen(ending) : 0;
  if (ending && n > e && !strcmp(base + n - e, ending)) n -= e;
  else if (n > 7 && !strcmp(base + n - 7, ".nii.gz")) n -= 7;
  else if (n > 4 && !strcmp(base + n - 4, ".nii")) n -= 4;
  char *s = malloc(n + 1);
  if (s) { memcpy(s, base, n); s[n] = 0; }
  return s;
}

/* Resolve rel (as written in dataset.json) under root; refuse absolute paths,
 * '..' components and anything whose real location is outside root. A file
 * that does not exist yet is judged by its nearest existing parent. */
static ps_status safe_join(const char *root, const char *rel, const char *what, char **out) {
  *out = NULL;
  if (!rel || !*rel) return ps_error(PS_ERR_DATA, "%s/dataset.json: empty path for %s", root, what);
  if (rel[0] == '/') return ps_error(PS_ERR_DATA, "%s/dataset.json: absolute path '%s' for %s is refused", root, rel, what);
  const char *p = rel;
  while (*p) {
    const char *q = strchr(p, '/');
    size_t n = q ? (size_t)(q - p) : strlen(p);
    if (n == 2 && p[0] == '.' && p[1] == '.')
      return ps_error(PS_ERR_DATA, "%s/dataset.json: path '%s' for %s leaves the dataset folder", root, rel, what);
    p += n;
    while (*p == '/') p++;
  }
  const char *r = rel;
  while (r[0] == '.' && r[1] == '/') { r += 2; while (*r == '/') r++; }
  char *full = ps_path_join(root, r);
  if (!full) return ps_error(PS_ERR_NOMEM, "out of memory");
  char *probe = ps_strdup(full);
  char resolved[PATH_MAX];
  int found = 0;
  while (probe && *probe) {
    if (realpath(probe, resolved)) { found = 1; break; }
    char *s = strrchr(probe, '/');
    if (!s || s == probe) break;
    *s = 0;
  }
  free(probe);
  size_t rl = strlen(root);
  if (!found || strncmp(resolved, root, rl) || (resolved[rl] != '/' && resolved[rl] != 0)) {
    ps_status st = ps_error(PS_ERR_DATA, "%s/dataset.json: path '%s' for %s resolves outside the dataset folder", root,
                            rel, what);
    free(full);
    return st;
  }
  *out = full;
  return PS_OK;
}

void ps_dataset_free(ps_dataset *d) {
  if (!d) return;
  for (int pass = 0; pass < 2; pass++) {
    ps_dataset_case *cs = pass ? d->test : d->cases;
    int n = pass ? d->n_test : d->n_cases;
    for (int i = 0; cs && i < n; i++) {
      free(cs[i].id);
      for (int f = 0; f < cs[i].n_files; f++) free(cs[i].files[f]);
      free(cs[i].files);
      free(cs[i].label);
    }
    free(cs);
  }
  for (int c = 0; c < d->n_channels; c++) free(d->channels[c]);
  free(d->channels);
  for (int k = 0; k < d->n_labels; k++) free(d->label_names[k]);
  free(d->label_names);
  free(d->label_ids);
  free(d->root); free(d->name); free(d->format);
  cJSON_Delete(d->json);
  free(d);
}

/* Parse a non-negative integer key ("0", "12") of an index-keyed object. */
static int index_key(const char *s) {
  if (!s || !*s) return -1;
  long v = 0;
  for (const char *p = s; *p; p++) {
    if (*p < '0' || *p > '9' || v > 100000) return -1;
    v = v * 10 + (*p - '0');
  }
  return (int)v;
}

/* channels: {"0": "CT", "1": "T2"}: keys must be 0..n-1 */
static ps_status parse_channels(ps_dataset *d, const cJSON *obj, const char *key) {
  if (!cJSON_IsObject(obj)) return ps_error(PS_ERR_DATA, "%s/dataset.json: missing or non-object key '%s'", d->root, key);
  int n = cJSON_GetArraySize(obj);
  if (n < 1 || n > 64) return ps_error(PS_ERR_DATA, "%s/dataset.json: '%s' has %d entries (1..64)", d->root, key, n);
  d->channels = calloc((size_t)n, sizeof *d->channels);
  if (!d->channels) return ps_error(PS_ERR_NOMEM, "out of memory");
  d->n_channels = n;
  const cJSON *it;
  cJSON_ArrayForEach(it, obj) {
    int k = index_key(it->string);
    if (k < 0 || k >= n || d->channels[k] || !cJSON_IsString(it))
      return ps_error(PS_ERR_DATA, "%s/dataset.json: '%s' entry '%s' must be a string under a key 0..%d", d->root, key,
                      it->string ? it->string : "", n - 1);
    d->channels[k] = ps_strdup(it->valuestring);
  }
  return PS_OK;
}

static ps_status add_label(ps_dataset *d, int id, const char *name) {
  if (id < 0 || id > 255) return ps_error(PS_ERR_DATA, "%s/dataset.json: label id %d for '%s' is outside 0..255", d->root, id, name);
  if (d->declared[id]) return ps_error(PS_ERR_DATA, "%s/dataset.json: label id %d declared twice", d->root, id);
  d->declared[id] = 1;
  int k = d->n_labels;
  d->label_ids[k] = id;
  d->label_names[k] = ps_strdup(name);
  d->n_labels++;
  if (id + 1 > d->n_classes) d->n_classes = id + 1;
  return PS_OK;
}

/* MSD: {"0": "background"}; nnU-Net v2: {"background": 0} */
static ps_status parse_labels(ps_dataset *d, const cJSON *obj, int name_to_id) {
  if (!cJSON_IsObject(obj)) return ps_error(PS_ERR_DATA, "%s/dataset.json: missing or non-object key 'labels'", d->root);
  int n = cJSON_GetArraySize(obj);
  if (n < 1 || n > 256) return ps_error(PS_ERR_DATA, "%s/dataset.json: 'labels' has %d entries (1..256)", d->root, n);
  d->label_ids = calloc((size_t)n, sizeof *d->label_ids);
  d->label_names = calloc((size_t)n, sizeof *d->label_names);
  if (!d->label_ids || !d->label_names) return ps_error(PS_ERR_NOMEM, "out of memory");
  const cJSON *it;
  cJSON_ArrayForEach(it, obj) {
    ps_status st;
    if (name_to_id) {
      if (cJSON_IsArray(it))
        return ps_error(PS_ERR_DATA, "%s/dataset.json: region-based label '%s' is not supported", d->root, it->string);
      /* label maps are 8-bit: ids beyond 255 cannot occur (and 1e300 overflowed the cast) */
      if (!cJSON_IsNumber(it) || it->valuedouble != floor(it->valuedouble) || it->valuedouble < 0 ||
          it->valuedouble > 255)
        return ps_error(PS_ERR_DATA, "%s/dataset.json: label '%s' must map to an integer id in 0..255", d->root,
                        it->string);
      st = add_label(d, (int)it->valuedouble, it->string);
    } else {
      int id = index_key(it->string);
      if (id < 0 || !cJSON_IsString(it))
        return ps_error(PS_ERR_DATA, "%s/dataset.json: label entry '%s' must be \"id\": \"name\"", d->root, it->string);
      st = add_label(d, id, it->valuestring);
    }
    if (st != PS_OK) return st;
  }
  /* sort by id (few labels: insertion sort) */
  for (int i = 1; i < d->n_labels; i++)
    for (int j = i; j > 0 && d->label_ids[j - 1] > d->label_ids[j]; j--) {
      int t = d->label_ids[j]; d->label_ids[j] = d->label_ids[j - 1]; d->label_ids[j - 1] = t;
      char *s = d->label_names[j]; d->label_names[j] = d->label_names[j - 1]; d->label_names[j - 1] = s;
    }
  if (!d->declared[0]) return ps_error(PS_ERR_DATA, "%s/dataset.json: no background label (id 0)", d->root);
  return PS_OK;
}

static ps_status set_case(ps_dataset_case *c, char *id, int n_files) {
  c->id = id;
  c->n_files = n_files;
  c->files = calloc((size_t)n_files, sizeof *c->files);
  if (!c->id || !c->files) return ps_error(PS_ERR_NOMEM, "out of memory");
  return PS_OK;
}

static ps_status open_msd(ps_dataset *d) {
  const cJSON *j = d->json;
  ps_status st = parse_channels(d, cJSON_GetObjectItemCaseSensitive(j, "modality"), "modality");
  if (st == PS_OK) st = parse_labels(d, cJSON_GetObjectItemCaseSensitive(j, "labels"), 0);
  if (st != PS_OK) return st;
  const cJSON *tr = cJSON_GetObjectItemCaseSensitive(j, "training");
  if (!cJSON_IsArray(tr)) return ps_error(PS_ERR_DATA, "%s/dataset.json: missing or non-array key 'training'", d->root);
  int n = cJSON_GetArraySize(tr);
  d->cases = calloc((size_t)(n ? n : 1), sizeof *d->cases);
  if (!d->cases) return ps_error(PS_ERR_NOMEM, "out of memory");
  const cJSON *it;
  cJSON_ArrayForEach(it, tr) {
    const char *img = ps_json_str(it, "image", NULL), *lab = ps_json_str(it, "label", NULL);
    if (!cJSON_IsObject(it) || !img || !lab)
      return ps_error(PS_ERR_DATA, "%s/dataset.json: training entry %d needs string keys 'image' and 'label'", d->root,
                      d->n_cases);
    if (is_junk(base_name(img)) || is_junk(base_name(lab))) continue;
    ps_dataset_case *c = &d->cases[d->n_cases];
    st = set_case(c, strip_ending(base_name(img), NULL), 1);
    d->n_cases++;
    if (st == PS_OK) st = safe_join(d->root, img, "an image", &c->files[0]);
    if (st == PS_OK) st = safe_join(d->root, lab, "a label", &c->label);
    if (st != PS_OK) return st;
  }
  const cJSON *te = cJSON_GetObjectItemCaseSensitive(j, "test");
  if (te && !cJSON_IsArray(te)) return ps_error(PS_ERR_DATA, "%s/dataset.json: 'test' must be an array", d->root);
  int nt = cJSON_GetArraySize(te);
  d->test = calloc((size_t)(nt ? nt : 1), sizeof *d->test);
  if (!d->test) return ps_error(PS_ERR_NOMEM, "out of memory");
  cJSON_ArrayForEach(it, te) {
    /* MSD lists test images as strings; tolerate {"image": ...} objects too */
    const char *img = cJSON_IsString(it) ? it->valuestring : ps_json_str(it, "image", NULL);
    if (!img) return ps_error(PS_ERR_DATA, "%s/dataset.json: test entry %d is not an image path", d->root, d->n_test);
    if (is_junk(base_name(img))) continue;
    ps_dataset_case *c = &d->test[d->n_test];
    st = set_case(c, strip_ending(base_name(img), NULL), 1);
    d->n_test++;
    if (st == PS_OK) st = safe_join(d->root, img, "a test image", &c->files[0]);
    if (st != PS_OK) return st;
  }
  return PS_OK;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Sorted case ids in root/sub: files ending in `ending`, junk skipped; with
 * strip_channel, the trailing _NNNN is removed and duplicates merged. */
static ps_status list_ids(const char *root, const char *sub, const char *ending, int strip_channel, char ***ids, int *n) {
  *ids = NULL; *n = 0;
  char *dir = ps_path_join(root, sub);
  if (!dir) return ps_error(PS_ERR_NOMEM, "out of memory");
  DIR *dp = opendir(dir);
  if (!dp) {
    ps_status st = errno == ENOENT && strip_channel ? PS_OK
                                                     : ps_error(PS_ERR_DATA, "%s: cannot list: %s", dir, strerror(errno));
    free(dir);
    return st;
  }
  int cap = 64;
  char **v = malloc((size_t)cap * sizeof *v);
  struct dirent *e;
  size_t el = strlen(ending);
  ps_status st = v ? PS_OK : ps_error(PS_ERR_NOMEM, "out of memory");
  while (st == PS_OK && (e = readdir(dp))) {
    const char *b = e->d_name;
    size_t bl = strlen(b);
    if (is_junk(b) || b[0] == '.' || bl <= el || strcmp(b + bl - el, ending)) continue;
    size_t idl = bl - el;
    if (strip_channel) {
      if (idl < 6 || b[idl - 5] != '_') continue;
      idl -= 5;
    }
    if (*n == cap) {
      cap *= 2;
      char **nv = realloc(v, (size_t)cap * sizeof *v);
      if (!nv) { st = ps_error(PS_ERR_NOMEM, "out of memory"); break; }
      v = nv;
    }
    v[*n] = malloc(idl + 1);
    if (!v[*n]) { st = ps_error(PS_ERR_NOMEM, "out of memory"); break; }
    memcpy(v[*n], b, idl);
    v[*n][idl] = 0;
    (*n)++;
  }
  closedir(dp);
  free(dir);
  if (st == PS_OK && *n) {
    qsort(v, (size_t)*n, sizeof *v, cmp_str);
    int m = 1;
    for (int i = 1; i < *n; i++) {
      if (strcmp(v[i], v[m - 1])) v[m++] = v[i];
      else free(v[i]);
    }
    *n = m;
  }
  *ids = v;
  return st;
}

static void free_ids(char **ids, int n) {
  for (int i = 0; i < n; i++) free(ids[i]);
  free(ids);
}

static ps_status fill_nnunet_cases(ps_dataset *d, const char *img_dir, char **ids, int n, const char *ending,
                                   ps_dataset_case *cs, int *count, int with_label) {
  for (int i = 0; i < n; i++) {
    ps_dataset_case *c = &cs[i];
    ps_status st = set_case(c, ps_strdup(ids[i]), d->n_channels);
    (*count)++;
    for (int ch = 0; st == PS_OK && ch < d->n_channels; ch++) {
      char *rel = ps_strfmt("%s/%s_%04d%s", img_dir, ids[i], ch, ending);
      st = rel ? safe_join(d->root, rel, "an image", &c->files[ch]) : ps_error(PS_ERR_NOMEM, "out of memory");
      free(rel);
    }
    if (st == PS_OK && with_label) {
      char *rel = ps_strfmt("labelsTr/%s%s", ids[i], ending);
      st = rel ? safe_join(d->root, rel, "a label", &c->label) : ps_error(PS_ERR_NOMEM, "out of memory");
      free(rel);
    }
    if (st != PS_OK) return st;
  }
  return PS_OK;
}

static ps_status open_nnunet(ps_dataset *d) {
  const cJSON *j = d->json;
  ps_status st = parse_channels(d, cJSON_GetObjectItemCaseSensitive(j, "channel_names"), "channel_names");
  if (st == PS_OK) st = parse_labels(d, cJSON_GetObjectItemCaseSensitive(j, "labels"), 1);
  if (st != PS_OK) return st;
  const char *ending = ps_json_str(j, "file_ending", NULL);
  if (!ending) return ps_error(PS_ERR_DATA, "%s/dataset.json: missing key 'file_ending'", d->root);
  if (strcmp(ending, ".nii.gz") && strcmp(ending, ".nii"))
    return ps_error(PS_ERR_UNSUPPORTED, "%s/dataset.json: file_ending '%s' (only .nii and .nii.gz are read)", d->root,
                    ending);
  char **ids;
  int n;
  st = list_ids(d->root, "labelsTr", ending, 0, &ids, &n);
  if (st != PS_OK) { free_ids(ids, n); return st; }
  d->cases = calloc((size_t)(n ? n : 1), sizeof *d->cases);
  st = d->cases ? fill_nnunet_cases(d, "imagesTr", ids, n, ending, d->cases, &d->n_cases, 1)
                : ps_error(PS_ERR_NOMEM, "out of memory");
  free_ids(ids, n);
  if (st != PS_OK) return st;
  st = list_ids(d->root, "imagesTs", ending, 1, &ids, &n);
  if (st != PS_OK) { free_ids(ids, n); return st; }
  d->test = calloc((size_t)(n ? n : 1), sizeof *d->test);
  st = d->test ? fill_nnunet_cases(d, "imagesTs", ids, n, ending, d->test, &d->n_test, 0)
               : ps_error(PS_ERR_NOMEM, "out of memory");
  free_ids(ids, n);
  return st;
}

/* A case listed twice would land in the training split twice, or in both
 * training and validation (validation leaking into training): refuse it. */
static ps_status refuse_duplicates(const ps_dataset *d) {
  for (int i = 0; i < d->n_cases; i++)
    for (int j = i + 1; j < d->n_cases; j++) {
      const char *why = !strcmp(d->cases[i].id, d->cases[j].id) ? "case id"
                        : !strcmp(d->cases[i].label, d->cases[j].label) ? "label file"
                                                                         : NULL;
      if (why)
        return ps_error(PS_ERR_DATA,
                        "%s/dataset.json: training entries %d and %d have the same %s ('%s'); a case listed twice "
                        "would leak between the training and validation splits",
                        d->root, i, j, why, why[0] == 'c' ? d->cases[i].id : d->cases[i].label);
    }
  return PS_OK;
}

ps_status ps_dataset_open(const char *dir, ps_dataset **out) {
  if (!dir || !out) return ps_error(PS_ERR_INVALID, "ps_dataset_open: NULL argument");
  *out = NULL;
  char resolved[PATH_MAX], *named = NULL;
  ps_status rs = ps_dataset_resolve(dir, &named);
  if (rs) return rs;
  /* a missing folder or dataset.json is bad input (exit 3), not an I/O failure */
  bool found = realpath(named, resolved) != NULL;
  int err = errno;
  free(named);
  if (!found) return ps_error(PS_ERR_DATA, "%s: cannot open dataset folder: %s", dir, strerror(err));
  if (!ps_is_dir(resolved)) return ps_error(PS_ERR_DATA, "%s: not a folder", dir);
  ps_dataset *d = calloc(1, sizeof *d);
  if (!d) return ps_error(PS_ERR_NOMEM, "out of memory");
  d->root = ps_strdup(resolved);
  d->num_training_declared = -1;
  char *jp = ps_path_join(d->root, "dataset.json");
  ps_status st = !jp ? ps_error(PS_ERR_NOMEM, "out of memory")
                : !ps_path_exists(jp) ? ps_error(PS_ERR_DATA, "%s: not a dataset folder (no dataset.json)", d->root)
                : ps_json_read(jp, &d->json);
  free(jp);
  if (st == PS_OK && !cJSON_IsObject(d->json))
    st = ps_error(PS_ERR_DATA, "%s/dataset.json: not a JSON object", d->root);
  if (st == PS_OK) {
    d->name = ps_strdup(ps_json_str(d->json, "name", base_name(d->root)));
    const cJSON *nt = cJSON_GetObjectItemCaseSensitive(d->json, "numTraining");
    if (cJSON_IsNumber(nt)) d->num_training_declared = nt->valueint;
    if (cJSON_GetObjectItemCaseSensitive(d->json, "channel_names")) {
      d->format = ps_strdup("nnunet_v2");
      st = open_nnunet(d);
    } else if (cJSON_GetObjectItemCaseSensitive(d->json, "modality")) {
      d->format = ps_strdup("msd");
      st = open_msd(d);
    } else {
      st = ps_error(PS_ERR_DATA, "%s/dataset.json: neither 'modality' (MSD) nor 'channel_names' (nnU-Net v2) present",
                    d->root);
    }
  }
  if (st == PS_OK) st = refuse_duplicates(d);
  if (st != PS_OK) { ps_dataset_free(d); return st; }
  *out = d;
  return PS_OK;
}

/* A file's case id and channel in an image folder: "CASE_0001.nii.gz" is
 * channel 1 of CASE when CASE_0000 exists beside it (nnU-Net's naming);
 * otherwise the whole stem is a case of its own (channel -1). */
typedef struct { char *id, *file; int channel; } folder_entry;

static int cmp_entry(const void *a, const void *b) {
  const folder_entry *x = a, *y = b;
  int c = strcmp(x->id, y->id);
  return c ? c : x->channel - y->channel;
}

static int channel_suffix(const char *stem) {
  size_t n = strlen(stem);
  if (n < 6 || stem[n - 5] != '_') return -1;
  for (size_t k = n - 4; k < n; k++) if (stem[k] < '0' || stem[k] > '9') return -1;
  return atoi(stem + n - 4);
}

static void free_entries(folder_entry *v, int n) {
  for (int i = 0; i < n; i++) { free(v[i].id); free(v[i].file); }
  free(v);
}

static ps_status list_folder(const char *root, folder_entry **out, int *n_out) {
  *out = NULL; *n_out = 0;
  DIR *dp = opendir(root);
  if (!dp) return ps_error(PS_ERR_DATA, "%s: cannot list: %s", root, strerror(errno));
  folder_entry *v = NULL;
  int n = 0, cap = 0;
  ps_status st = PS_OK;
  struct dirent *e;
  while (st == PS_OK && (e = readdir(dp))) {
    const char *b = e->d_name;
    size_t bl = strlen(b);
    if (is_junk(b) || b[0] == '.') continue;
    if (!((bl > 7 && !strcmp(b + bl - 7, ".nii.gz")) || (bl > 4 && !strcmp(b + bl - 4, ".nii")))) continue;
    if (n == cap) {
      cap = cap ? 2 * cap : 64;
      folder_entry *nv = realloc(v, (size_t)cap * sizeof *v);
      if (!nv) { st = ps_error(PS_ERR_NOMEM, "out of memory"); break; }
      v = nv;
    }
    v[n].id = strip_ending(b, NULL);
    v[n].file = ps_path_join(root, b);
    v[n].channel = -1;
    if (!v[n].id || !v[n].file) st = ps_error(PS_ERR_NOMEM, "out of memory");
    n++;
  }
  closedir(dp);
  for (int i = 0; st == PS_OK && i < n; i++) { /* channel files: CASE_NNNN with a CASE_0000 beside them */
    int ch = channel_suffix(v[i].id);
    if (ch < 0) continue;
    size_t l = strlen(v[i].id) - 5;
    for (int j = 0; j < n; j++)
      if (!strncmp(v[j].id, v[i].id, l) && !strcmp(v[j].id + l, "_0000")) { v[i].channel = ch; break; }
  }
  for (int i = 0; st == PS_OK && i < n; i++)
    if (v[i].channel >= 0) v[i].id[strlen(v[i].id) - 5] = 0;
  if (st != PS_OK) { free_entries(v, n); return st; }
  if (n) qsort(v, (size_t)n, sizeof *v, cmp_entry);
  *out = v;
  *n_out = n;
  return PS_OK;
}

ps_status ps_dataset_open_images(const char *dir, int n_channels, ps_dataset **out) {
  if (!dir || !out || n_channels < 1) return ps_error(PS_ERR_INVALID, "ps_dataset_open_images: bad argument");
  *out = NULL;
  char resolved[PATH_MAX];
  if (!realpath(dir, resolved)) return ps_error(PS_ERR_DATA, "%s: cannot open folder: %s", dir, strerror(errno));
  folder_entry *v = NULL;
  int n = 0;
  ps_status st = list_folder(resolved, &v, &n);
  if (st != PS_OK) return st;
  if (n == 0) { free(v); return ps_error(PS_ERR_DATA, "%s: no .nii or .nii.gz files", dir); }
  ps_dataset *d = calloc(1, sizeof *d);
  if (d) {
    d->root = ps_strdup(resolved);
    d->name = ps_strdup(base_name(resolved));
    d->format = ps_strdup("images");
    d->n_channels = n_channels;
    d->channels = calloc((size_t)n_channels, sizeof *d->channels);
    d->num_training_declared = -1;
    d->test = calloc((size_t)n, sizeof *d->test);
  }
  if (!d || !d->root || !d->name || !d->format || !d->channels || !d->test) st = ps_error(PS_ERR_NOMEM, "out of memory");
  for (int i = 0; st == PS_OK && i < n;) {
    int j = i;
    while (j < n && !strcmp(v[j].id, v[i].id)) j++;
    /* a case's files: one holding every channel, or channel files 0..k; a gap
     * keeps the expected path, so loading names the missing file */
    int n_files = v[i].channel < 0 ? j - i : v[j - 1].channel + 1;
    if (v[i].channel >= 0 && n_files < n_channels) n_files = n_channels;
    ps_dataset_case *c = &d->test[d->n_test++];
    st = set_case(c, ps_strdup(v[i].id), n_files);
    const char *ending = strstr(v[i].file + strlen(resolved), ".nii");
    for (int f = 0; st == PS_OK && f < n_files; f++) {
      int k = i;
      while (k < j && v[i].channel >= 0 && v[k].channel != f) k++;
      if (v[i].channel < 0) k = i + f;
      c->files[f] = k < j ? ps_strdup(v[k].file) : ps_strfmt("%s/%s_%04d%s", resolved, v[i].id, f, ending);
      if (!c->files[f]) st = ps_error(PS_ERR_NOMEM, "out of memory");
    }
    if (st == PS_OK && v[i].channel < 0 && j - i > 1)
      st = ps_error(PS_ERR_DATA, "%s: case '%s' is both %s and %s; keep one", dir, v[i].id, base_name(v[i].file),
                    base_name(v[i + 1].file));
    i = j;
  }
  free_entries(v, n);
  if (st != PS_OK) { ps_dataset_free(d); return st; }
  *out = d;
  return PS_OK;
}

const char *ps_dataset_format(const ps_dataset *d) { return d->format; }
const char *ps_dataset_name(const ps_dataset *d) { return d->name; }
const char *ps_dataset_root(const ps_dataset *d) { return d->root; }
const cJSON *ps_dataset_json(const ps_dataset *d) { return d->json; }
int ps_dataset_n_channels(const ps_dataset *d) { return d->n_channels; }
const char *ps_dataset_channel_name(const ps_dataset *d, int c) {
  return c >= 0 && c < d->n_channels ? d->channels[c] : NULL;
}
int ps_dataset_n_labels(const ps_dataset *d) { return d->n_labels; }
int ps_dataset_label_id(const ps_dataset *d, int k) { return k >= 0 && k < d->n_labels ? d->label_ids[k] : -1; }
const char *ps_dataset_label_name(const ps_dataset *d, int k) {
  return k >= 0 && k < d->n_labels ? d->label_names[k] : NULL;
}
int ps_dataset_n_classes(const ps_dataset *d) { return d->n_classes; }
int ps_dataset_n_cases(const ps_dataset *d) { return d->n_cases; }
const char *ps_dataset_case_id(const ps_dataset *d, int i) { return i >= 0 && i < d->n_cases ? d->cases[i].id : NULL; }
int ps_dataset_n_image_files(const ps_dataset *d, int i) { return i >= 0 && i < d->n_cases ? d->cases[i].n_files : 0; }
const char *ps_dataset_image_path(const ps_dataset *d, int i, int f) {
  return i >= 0 && i < d->n_cases && f >= 0 && f < d->cases[i].n_files ? d->cases[i].files[f] : NULL;
}
const char *ps_dataset_label_path(const ps_dataset *d, int i) {
  return i >= 0 && i < d->n_cases ? d->cases[i].label : NULL;
}
int ps_dataset_n_test(const ps_dataset *d) { return d->n_test; }
const char *ps_dataset_test_id(const ps_dataset *d, int i) { return i >= 0 && i < d->n_test ? d->test[i].id : NULL; }
int ps_dataset_n_test_files(const ps_dataset *d, int i) { return i >= 0 && i < d->n_test ? d->test[i].n_files : 0; }
const char *ps_dataset_test_path(const ps_dataset *d, int i, int f) {
  return i >= 0 && i < d->n_test && f >= 0 && f < d->test[i].n_files ? d->test[i].files[f] : NULL;
}

int ps_affine_close(const double a[4][4], const double b[4][4], double rel) {
  double scale = 1;
  for (int r = 0; r < 4; r++)
    for (int c = 0; c < 4; c++) {
      if (fabs(a[r][c]) > scale) scale = fabs(a[r][c]);
      if (fabs(b[r][c]) > scale) scale = fabs(b[r][c]);
    }
  for (int r = 0; r < 4; r++)
    for (int c = 0; c < 4; c++)
      if (!(fabs(a[r][c] - b[r][c]) <= rel * scale)) return 0;
  return 1;
}

/* A listed file that does not exist is bad data (exit 3), not an I/O failure. */
static ps_status missing_as_data(ps_status st, const char *case_id, const char *file) {
  if (st == PS_ERR_IO && !ps_path_exists(file))
    return ps_error(PS_ERR_DATA, "case %s: %s: missing", case_id, file);
  return ps_error_prefix(st, "case %s: ", case_id);
}

/* Images of one case into a C-channel volume: MSD one 4D file, nnU-Net one 3D file per channel. */
static ps_status load_images(const ps_dataset *d, const ps_dataset_case *c, ps_volume *img, ps_nifti_info *info) {
  ps_status st;
  if (c->n_files == 1) {
    st = ps_nifti_read(c->files[0], img, info);
    if (st != PS_OK) return missing_as_data(st, c->id, c->files[0]);
    if (img->c != d->n_channels) {
      st = ps_error(PS_ERR_DATA, "case %s: %s has %lld channels, %s %d", c->id, c->files[0], (long long)img->c,
                    d->json ? "dataset.json declares" : "the model takes", d->n_channels);
      ps_volume_free(img);
    }
    return st;
  }
  if (c->n_files != d->n_channels)
    return ps_error(PS_ERR_DATA, "case %s: %d channel files (%s ...), %d expected", c->id, c->n_files, base_name(c->files[0]),
                    d->n_channels);
  for (int f = 0; f < c->n_files; f++) {
    ps_volume v;
    st = ps_nifti_read(c->files[f], &v, f == 0 ? info : NULL);
    if (st != PS_OK) { st = missing_as_data(st, c->id, c->files[f]); break; }
    if (v.c != 1) {
      st = ps_error(PS_ERR_DATA, "case %s: %s has %lld volumes, one channel per file expected", c->id, c->files[f],
                    (long long)v.c);
      ps_volume_free(&v);
      break;
    }
    if (f == 0) {
      st = ps_volume_alloc(img, c->n_files, v.d, v.h, v.w);
      if (st != PS_OK) { ps_volume_free(&v); return st; }
      memcpy(img->spacing, v.spacing, sizeof img->spacing);
      memcpy(img->affine, v.affine, sizeof img->affine);
    } else if (v.d != img->d || v.h != img->h || v.w != img->w) {
      st = ps_error(PS_ERR_DATA, "case %s: %s has shape %lldx%lldx%lld, channel 0 has %lldx%lldx%lld", c->id,
                    c->files[f], (long long)v.d, (long long)v.h, (long long)v.w, (long long)img->d,
                    (long long)img->h, (long long)img->w);
    } else if (!ps_affine_close(v.affine, img->affine, 1e-3)) {
      st = ps_error(PS_ERR_DATA, "case %s: %s has a different affine than channel 0", c->id, c->files[f]);
    }
    if (st == PS_OK) memcpy(img->data + (size_t)f * img->d * img->h * img->w, v.data, sizeof(float) * v.d * v.h * v.w);
    ps_volume_free(&v);
    if (st != PS_OK) break;
  }
  if (st != PS_OK) ps_volume_free(img);
  return st;
}

/* Training and test images must be finite: a NaN voxel would surface as a
 * "diverged" training, blaming the hyper-parameters for bad data. */
static ps_status refuse_nonfinite(const ps_dataset_case *c, ps_volume *img) {
  int64_t n = img->c * img->d * img->h * img->w, bad = 0;
  for (int64_t i = 0; i < n; i++) bad += !isfinite(img->data[i]);
  if (!bad) return PS_OK;
  ps_volume_free(img);
  return ps_error(PS_ERR_DATA, "case %s: %s: %lld voxel value(s) are NaN or infinite; replace them (e.g. by the "
                  "background value) before training", c->id, c->files[0], (long long)bad);
}

ps_status ps_dataset_load_test(const ps_dataset *d, int i, ps_volume *img, ps_nifti_info *info) {
  if (!d || !img || i < 0 || i >= d->n_test) return ps_error(PS_ERR_INVALID, "ps_dataset_load_test: bad argument");
  memset(img, 0, sizeof *img);
  ps_status st = load_images(d, &d->test[i], img, info);
  return st ? st : refuse_nonfinite(&d->test[i], img);
}

ps_status ps_dataset_load_case(const ps_dataset *d, int i, ps_volume *img, ps_labelmap *lab, ps_nifti_info *info) {
  if (!d || !img || i < 0 || i >= d->n_cases) return ps_error(PS_ERR_INVALID, "ps_dataset_load_case: bad argument");
  memset(img, 0, sizeof *img);
  if (lab) memset(lab, 0, sizeof *lab);
  const ps_dataset_case *c = &d->cases[i];
  ps_status st = load_images(d, c, img, info);
  if (st == PS_OK) st = refuse_nonfinite(c, img);
  if (st != PS_OK || !lab) return st;
  st = ps_nifti_read_labels(c->label, lab, NULL);
  if (st != PS_OK) st = missing_as_data(st, c->id, c->label);
  else if (lab->d != img->d || lab->h != img->h || lab->w != img->w)
    st = ps_error(PS_ERR_DATA, "case %s: label %s has shape %lldx%lldx%lld, image has %lldx%lldx%lld", c->id, c->label,
                  (long long)lab->d, (long long)lab->h, (long long)lab->w, (long long)img->d, (long long)img->h,
                  (long long)img->w);
  else if (!ps_affine_close(lab->affine, img->affine, 1e-3))
    st = ps_error(PS_ERR_DATA, "case %s: label %s has a different affine than the image", c->id, c->label);
  else {
    int64_t n = lab->d * lab->h * lab->w;
    for (int64_t v = 0; v < n; v++)
      if (!d->declared[lab->data[v]]) {
        st = ps_error(PS_ERR_DATA, "case %s: label %s has value %d at voxel %lld, not declared in dataset.json", c->id,
                      c->label, lab->data[v], (long long)v);
        break;
      }
  }
  if (st != PS_OK) { ps_volume_free(img); ps_labelmap_free(lab); }
  return st;
}
