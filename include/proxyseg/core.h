/* proxyseg core: status codes and error messages, logging, seeded RNG (GSL),
 * atomic file writes, JSON helpers (cJSON), timing and thread setup.
 * Every other module builds on these; library code never prints to stdout. */
#ifndef PROXYSEG_CORE_H
#define PROXYSEG_CORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PS_VERSION_STRING "0.1.0"

/* Status codes. The CLI maps them to exit codes: OK→0, INVALID→2 (usage),
 * DATA→3 (bad input data), everything else→1. */
typedef enum {
  PS_OK = 0,
  PS_ERR_NOMEM,       /* allocation failed */
  PS_ERR_IO,          /* file system error (open, write, fsync, rename) */
  PS_ERR_INVALID,     /* bad argument or configuration (usage error) */
  PS_ERR_DATA,        /* bad input data: malformed file, inconsistent dataset */
  PS_ERR_NONFINITE,   /* NaN/Inf in a loss or gradient: the run diverged */
  PS_ERR_UNSUPPORTED, /* valid request this build/backend cannot do */
  PS_ERR_RUNTIME,     /* anything else that went wrong while running */
  PS_ERR_INTERRUPTED  /* stopped by a signal or a budget */
} ps_status;

/* Record an error message (printf-style) for this thread and return `st`, so
 * callers can write `return ps_error(PS_ERR_DATA, "%s: truncated", path);`. */
ps_status ps_error(ps_status st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prefix the current message with more context ("while reading case 3: ..."). */
ps_status ps_error_prefix(ps_status st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *ps_last_error(void);
void ps_clear_error(void);
/* Whether the last error, a PS_ERR_IO, came from the machine (disk full, quota,
 * read-only or failing file system, or no errno to tell) rather than from an
 * input the caller named (no permission, not a file): a trial that meets the
 * first stays re-runnable, one that meets the second FAILs with the reason. */
bool ps_error_machine(void);
const char *ps_status_name(ps_status st);
int ps_status_exit_code(ps_status st);

/* ---- logging: timestamped lines on stderr (nnU-Net style) ---- */
typedef enum { PS_LOG_DEBUG = 0, PS_LOG_INFO, PS_LOG_WARN, PS_LOG_ERROR, PS_LOG_QUIET } ps_log_level;
void ps_log_set_level(ps_log_level lvl);
ps_log_level ps_log_get_level(void);
/* Also copy every log line to this file (e.g. a trial's log.txt); NULL stops. */
void ps_log_set_file(FILE *f);
void ps_log(ps_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define ps_info(...) ps_log(PS_LOG_INFO, __VA_ARGS__)
#define ps_warn(...) ps_log(PS_LOG_WARN, __VA_ARGS__)
#define ps_debug(...) ps_log(PS_LOG_DEBUG, __VA_ARGS__)

/* Progress bar on a terminal, plain periodic lines otherwise. */
typedef struct ps_progress ps_progress;
ps_progress *ps_progress_create(const char *label, int64_t total);
void ps_progress_update(ps_progress *p, int64_t done, const char *extra);
void ps_progress_free(ps_progress *p); /* finishes the line */

/* ---- time ---- */
double ps_now(void);          /* monotonic seconds */
char *ps_timestamp_iso(char *buf, size_t n); /* "2026-11-22T09:40:00Z" */

/* ---- threads: one level of parallelism (OpenMP in our loops, BLAS not nested) ---- */
/* Bytes an address-space limit (ulimit -v) still allows (~0 when unlimited), and
 * the smaller of that and MemAvailable: what a reader may budget against. */
unsigned long long ps_address_space_left(void);
unsigned long long ps_memory_available(void);

/* n<=0: all cores. Fewer threads (with a warning) when an address-space limit
 * leaves room for fewer OpenBLAS work buffers; PS_ERR_NOMEM when it leaves none. */
ps_status ps_threads_set(int n);
int ps_threads_get(void);

/* ---- RNG: seeded GSL mt19937; state can be saved into checkpoints ---- */
typedef struct ps_rng ps_rng;
ps_rng *ps_rng_create(uint64_t seed);
void ps_rng_free(ps_rng *r);
void ps_rng_seed(ps_rng *r, uint64_t seed);
double ps_rng_uniform(ps_rng *r);                 /* [0,1) */
double ps_rng_uniform_range(ps_rng *r, double lo, double hi);
double ps_rng_normal(ps_rng *r, double sigma);   /* N(0, sigma^2) */
uint64_t ps_rng_int(ps_rng *r, uint64_t n);       /* [0,n) */
double ps_rng_beta(ps_rng *r, double a, double b);
double ps_rng_gamma(ps_rng *r, double a, double b);
/* Derive an independent seed from a base seed and an index (SplitMix64). */
uint64_t ps_seed_derive(uint64_t base, uint64_t index);
/* Opaque state serialisation for checkpoints (bytes; size via ps_rng_state_size). */
size_t ps_rng_state_size(const ps_rng *r);
void ps_rng_state_save(const ps_rng *r, void *buf);
ps_status ps_rng_state_load(ps_rng *r, const void *buf, size_t n);
void *ps_rng_gsl(ps_rng *r); /* the underlying gsl_rng*, for GSL samplers */

/* ---- files ---- */
/* Atomic write: temp file in the same folder, fsync, rename, fsync the folder. */
ps_status ps_write_file_atomic(const char *path, const void *data, size_t n);
/* For writers that stream: open a temp file, write to it, then commit or abort. */
typedef struct ps_atomic_file ps_atomic_file;
ps_status ps_atomic_open(const char *path, ps_atomic_file **out, FILE **fp);
ps_status ps_atomic_commit(ps_atomic_file *a); /* fsync+rename+fsync dir; frees a */
void ps_atomic_abort(ps_atomic_file *a);      /* removes the temp file; frees a; NULL ok */
const char *ps_atomic_temp_path(const ps_atomic_file *a);
/* Close the stream but keep the temp file, for writers (HDF5) that write by path. */
ps_status ps_atomic_release_stream(ps_atomic_file *a);
ps_status ps_fsync_dir(const char *dir);
/* Append one line (a '\n' is added) and fsync: the journal's write primitive. */
ps_status ps_append_line_fsync(const char *path, const char *line);
/* Read a whole file (NUL-terminated). max_bytes guards against huge inputs (0: 1 GiB). */
ps_status ps_read_file(const char *path, size_t max_bytes, char **data, size_t *n);
ps_status ps_mkdir_p(const char *path);
bool ps_path_exists(const char *path);
bool ps_is_dir(const char *path);
/* Join a and b with '/'; returns malloc'd string. */
char *ps_path_join(const char *a, const char *b);
char *ps_strdup(const char *s);
char *ps_strfmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#ifdef __cplusplus
}
#endif
#endif
