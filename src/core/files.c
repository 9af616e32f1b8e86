/* File helpers. Everything another step reads is written atomically: a temp
 * file in the same folder, fsync, rename over the target, fsync the folder. A
 * crash leaves either the old file or the new one, never half of one. */
#include "proxyseg/core.h"
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct ps_atomic_file {
  char *path, *tmp;
  FILE *fp;
};

char *ps_strdup(const char *s) {
  if (!s) return NULL;
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

char *ps_strfmt(const char *fmt, ...) {
  va_list ap, ap2;
  va_start(ap, fmt);
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
  if (s) vsnprintf(s, (size_t)n + 1, fmt, ap2);
  va_end(ap2);
  return s;
}

char *ps_path_join(const char *a, const char *b) {
  if (!a || !*a) return ps_strdup(b);
  size_t la = strlen(a);
  return ps_strfmt("%s%s%s", a, a[la - 1] == '/' ? "" : "/", b);
}

bool ps_path_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

bool ps_is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

ps_status ps_mkdir_p(const char *path) {
  char *p = ps_strdup(path);
  if (!p) return ps_error(PS_ERR_NOMEM, "out of memory");
  for (char *s = p + 1; *s; s++) {
    if (*s != '/') continue;
    *s = 0;
    if (mkdir(p, 0755) != 0 && errno != EEXIST) goto fail;
    *s = '/';
  }
  if (mkdir(p, 0755) != 0 && errno != EEXIST) goto fail;
  if (!ps_is_dir(p)) { errno = ENOTDIR; goto fail; }
  free(p);
  return PS_OK;
fail:;
  ps_status st = ps_error(PS_ERR_IO, "%s: cannot create folder: %s", path, strerror(errno));
  free(p);
  return st;
}

ps_status ps_fsync_dir(const char *dir) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY);
  if (fd < 0) return ps_error(PS_ERR_IO, "%s: cannot open folder: %s", dir, strerror(errno));
  int rc = fsync(fd);
  close(fd);
  if (rc != 0 && errno != EINVAL) return ps_error(PS_ERR_IO, "%s: fsync: %s", dir, strerror(errno));
  return PS_OK;
}

static char *dir_of(const char *path) {
  char *c = ps_strdup(path);
  if (!c) return NULL;
  char *d = ps_strdup(dirname(c));
  free(c);
  return d;
}

/* This machine's name, part of every temp name: on a shared filesystem a pid
 * says nothing about another host's processes. */
static const char *host_tag(void) {
  static char host[64];
  if (!host[0] && gethostname(host, sizeof host - 1) != 0) strcpy(host, "host");
  for (char *c = host; *c; c++)
    if (*c == '.' || *c == '/') *c = '_';
  return host;
}

/* Temp files of writers killed before their rename (a kill -9 left up to 4 MB
 * partial checkpoints behind) are removed the first time this process writes
 * into their folder: NAME.tmp.HOST.PID of this host whose PID is gone. */
static void sweep_stale_temps(const char *dir) {
  static char swept[32][256];
  static int n_swept;
  for (int i = 0; i < n_swept; i++)
    if (!strcmp(swept[i], dir)) return;
  if (n_swept < 32 && strlen(dir) < sizeof swept[0]) strcpy(swept[n_swept++], dir);
  DIR *dp = opendir(dir);
  if (!dp) return;
  char tag[96];
  snprintf(tag, sizeof tag, ".tmp.%s.", host_tag());
  struct dirent *e;
  while ((e = readdir(dp))) {
    const char *t = strstr(e->d_name, tag);
    if (!t) continue;
    char *end;
    long pid = strtol(t + strlen(tag), &end, 10);
    if (*end || pid <= 0 || pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
    char *p = ps_path_join(dir, e->d_name);
    if (p && unlink(p) == 0) ps_warn("removed %s, left by a writer that no longer runs", p);
    free(p);
  }
  closedir(dp);
}

ps_status ps_atomic_open(const char *path, ps_atomic_file **out, FILE **fp) {
  *out = NULL;
  if (fp) *fp = NULL;
  ps_atomic_file *a = calloc(1, sizeof *a);
  if (!a) return ps_error(PS_ERR_NOMEM, "out of memory");
  a->path = ps_strdup(path);
  a->tmp = ps_strfmt("%s.tmp.%s.%ld", path, host_tag(), (long)getpid());
  if (!a->path || !a->tmp) { ps_atomic_abort(a); return ps_error(PS_ERR_NOMEM, "out of memory"); }
  char *d = dir_of(path);
  if (d) {
#pragma omp critical(ps_sweep_stale_temps) /* writers run in parallel (preprocessing) */
    sweep_stale_temps(d);
  }
  free(d);
  int fd = open(a->tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) {
    ps_status st = ps_error(PS_ERR_IO, "%s: cannot create: %s", a->tmp, strerror(errno));
    free(a->path); free(a->tmp); free(a);
    return st;
  }
  a->fp = fdopen(fd, "wb");
  *out = a;
  if (fp) *fp = a->fp;
  return PS_OK;
}

const char *ps_atomic_temp_path(const ps_atomic_file *a) { return a ? a->tmp : NULL; }

void ps_atomic_abort(ps_atomic_file *a) {
  if (!a) return;
  if (a->fp) fclose(a->fp);
  if (a->tmp) unlink(a->tmp);
  free(a->path);
  free(a->tmp);
  free(a);
}

ps_status ps_atomic_commit(ps_atomic_file *a) {
  ps_status st = PS_OK;
  if (a->fp) {
    if (fflush(a->fp) != 0 || fsync(fileno(a->fp)) != 0)
      st = ps_error(PS_ERR_IO, "%s: write failed: %s", a->tmp, strerror(errno));
    if (fclose(a->fp) != 0 && st == PS_OK) st = ps_error(PS_ERR_IO, "%s: close failed: %s", a->tmp, strerror(errno));
    a->fp = NULL;
  } else {
    /* the caller wrote the temp file through another library (HDF5): fsync it by path */
    int fd = open(a->tmp, O_RDONLY);
    if (fd < 0 || fsync(fd) != 0) st = ps_error(PS_ERR_IO, "%s: fsync failed: %s", a->tmp, strerror(errno));
    if (fd >= 0) close(fd);
  }
  if (st == PS_OK && rename(a->tmp, a->path) != 0)
    st = ps_error(PS_ERR_IO, "%s: rename failed: %s", a->path, strerror(errno));
  if (st == PS_OK) {
    char *d = dir_of(a->path);
    st = d ? ps_fsync_dir(d) : ps_error(PS_ERR_NOMEM, "out of memory");
    free(d);
  }
  if (st != PS_OK) unlink(a->tmp);
  free(a->path);
  free(a->tmp);
  free(a);
  return st;
}

/* Close the stdio stream but keep the temp file, for writers (HDF5) that need a path. */
ps_status ps_atomic_release_stream(ps_atomic_file *a) {
  if (a->fp && fclose(a->fp) != 0) { a->fp = NULL; return ps_error(PS_ERR_IO, "%s: close failed", a->tmp); }
  a->fp = NULL;
  return PS_OK;
}

ps_status ps_write_file_atomic(const char *path, const void *data, size_t n) {
  ps_atomic_file *a;
  FILE *fp;
  ps_status st = ps_atomic_open(path, &a, &fp);
  if (st) return st;
  if (n && fwrite(data, 1, n, fp) != n) {
    st = ps_error(PS_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    ps_atomic_abort(a);
    return st;
  }
  return ps_atomic_commit(a);
}

ps_status ps_append_line_fsync(const char *path, const char *line) {
  int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd < 0) return ps_error(PS_ERR_IO, "%s: cannot open for append: %s", path, strerror(errno));
  size_t n = strlen(line);
  char *buf = malloc(n + 1);
  if (!buf) { close(fd); return ps_error(PS_ERR_NOMEM, "out of memory"); }
  memcpy(buf, line, n);
  buf[n] = '\n';
  /* one write() call: O_APPEND makes it land whole at the end. A short write
   * (a full disk) is rolled back, so the file never ends in half a line that
   * the next append would glue itself onto. */
  struct stat before;
  bool sized = fstat(fd, &before) == 0;
  errno = 0;
  ssize_t w = write(fd, buf, n + 1);
  int err = errno;
  free(buf);
  ps_status st = PS_OK;
  if (w != (ssize_t)(n + 1)) {
    if (w > 0 && sized && ftruncate(fd, before.st_size) == 0) (void)fsync(fd);
    if (w < 0) {
      errno = err;
      st = ps_error(PS_ERR_IO, "%s: append failed: %s", path, strerror(err));
    } else {
      errno = ENOSPC; /* a short write without an errno: the disk filled */
      st = ps_error(PS_ERR_IO, "%s: append failed: short write (%zd of %zu bytes; disk full?), rolled back", path,
                       w, n + 1);
    }
  } else if (fsync(fd) != 0) {
    st = ps_error(PS_ERR_IO, "%s: fsync failed: %s", path, strerror(errno));
  }
  close(fd);
  return st;
}

ps_status ps_read_file(const char *path, size_t max_bytes, char **data, size_t *n) {
  *data = NULL;
  if (n) *n = 0;
  if (!max_bytes) max_bytes = (size_t)1 << 30;
  /* O_NONBLOCK: a FIFO given as input would block fopen until a writer came;
   * opened this way it is refused below like any other non-regular file. */
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    /* missing, dangling or looping paths are the caller's input, not the disk */
    int bad_input = errno == ENOENT || errno == ELOOP || errno == ENOTDIR || errno == ENAMETOOLONG;
    return ps_error(bad_input ? PS_ERR_DATA : PS_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return ps_error(PS_ERR_DATA, "%s: not a regular file", path);
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  FILE *f = fdopen(fd, "rb");
  if (!f) { close(fd); return ps_error(PS_ERR_IO, "%s: cannot open: %s", path, strerror(errno)); }
  if ((size_t)st.st_size > max_bytes) {
    fclose(f);
    return ps_error(PS_ERR_DATA, "%s: file is %lld bytes, more than the %zu allowed", path, (long long)st.st_size, max_bytes);
  }
  char *buf = malloc((size_t)st.st_size + 1);
  if (!buf) { fclose(f); return ps_error(PS_ERR_NOMEM, "%s: out of memory", path); }
  size_t got = fread(buf, 1, (size_t)st.st_size, f);
  fclose(f);
  if (got != (size_t)st.st_size) { free(buf); return ps_error(PS_ERR_IO, "%s: short read", path); }
  buf[got] = 0;
  *data = buf;
  if (n) *n = got;
  return PS_OK;
}
