/* Timestamped log lines on stderr (and optionally a per-trial log file), and a
 * progress bar that degrades to plain lines when stderr is not a terminal. */
#include "proxyseg/core.h"
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static ps_log_level g_level = PS_LOG_INFO;
static FILE *g_file = NULL;

void ps_log_set_level(ps_log_level lvl) { g_level = lvl; }
ps_log_level ps_log_get_level(void) { return g_level; }
void ps_log_set_file(FILE *f) { g_file = f; }

static void stamp(char *buf, size_t n) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  localtime_r(&ts.tv_sec, &tm);
  size_t k = strftime(buf, n, "%Y-%m-%d %H:%M:%S", &tm);
  snprintf(buf + k, n - k, ".%06ld", ts.tv_nsec / 1000);
}

void ps_log(ps_log_level lvl, const char *fmt, ...) {
  if (lvl < g_level && !g_file) return;
  char msg[4096], ts[64];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  stamp(ts, sizeof ts);
  const char *tag = lvl == PS_LOG_WARN ? "WARNING: " : lvl == PS_LOG_ERROR ? "ERROR: " : "";
  if (lvl >= g_level) {
    fprintf(stderr, "%s: %s%s\n", ts, tag, msg);
    fflush(stderr);
  }
  if (g_file && lvl >= PS_LOG_INFO) {
    fprintf(g_file, "%s: %s%s\n", ts, tag, msg);
    fflush(g_file);
  }
}

struct ps_progress {
  char label[128];
  int64_t total;
  double t0, last;
  bool tty;
};

ps_progress *ps_progress_create(const char *label, int64_t total) {
  ps_progress *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  snprintf(p->label, sizeof p->label, "%s", label);
  p->total = total > 0 ? total : 1;
  p->t0 = p->last = ps_now();
  p->tty = isatty(2) && g_level <= PS_LOG_INFO;
  return p;
}

void ps_progress_update(ps_progress *p, int64_t done, const char *extra) {
  if (!p || g_level > PS_LOG_INFO) return;
  double now = ps_now();
  double el = now - p->t0;
  double frac = (double)done / p->total;
  double eta = frac > 0 ? el * (1 - frac) / frac : 0;
  if (p->tty) {
    char bar[31];
    int fill = (int)(frac * 30);
    for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '.';
    bar[30] = 0;
    fprintf(stderr, "\r%s [%s] %lld/%lld %.0fs eta %.0fs %s\033[K", p->label, bar, (long long)done,
            (long long)p->total, el, eta, extra ? extra : "");
    fflush(stderr);
  } else if (now - p->last >= 10.0 || done >= p->total) {
    p->last = now;
    ps_info("%s: %lld/%lld (%.0f%%) %.0fs elapsed, eta %.0fs %s", p->label, (long long)done,
            (long long)p->total, 100 * frac, el, eta, extra ? extra : "");
  }
}

void ps_progress_free(ps_progress *p) {
  if (!p) return;
  if (p->tty) fprintf(stderr, "\n");
  free(p);
}

double ps_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

char *ps_timestamp_iso(char *buf, size_t n) {
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}
