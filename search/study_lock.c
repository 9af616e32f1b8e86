/* Lock files with heartbeats for a study folder shared by several processes:
 * one driver per study (STUDY/driver.lock) and one worker per trial (claims).
 * Optuna's file-lock pattern: the lock is created by link(2) from a complete
 * temp file (atomic, also on NFS), says who holds it, and is kept fresh. */
#include "proxyseg/journal.h"
#include "trial_exec.h"
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

struct ps_study_lock {
  char *path;
  char *token;          /* what makes the file ours: pid, host, start time, a nonce */
  cJSON *info;          /* the file's content; "heartbeat" is refreshed */
  double interval;
  pthread_t thread;
  bool has_thread, stop, lost;
  pthread_mutex_t mu;
  pthread_cond_t cv;
};

static double wall_now(void) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (double)tv.tv_sec + 1e-6 * (double)tv.tv_usec;
}

/* Field 22 of /proc/PID/stat: the start time in clock ticks since boot. With the
 * pid it names a process for good (a recycled pid has another start time). */
static long long proc_start_time(long pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%ld/stat", pid);
  FILE *f = fopen(path, "re");
  if (!f) return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  char *p = strrchr(buf, ')'); /* the command name may hold spaces and parentheses */
  if (!p) return -1;
  long long v = -1;
  int field = 2;
  for (char *tok = strtok(p + 1, " "); tok; tok = strtok(NULL, " "))
    if (++field == 22) { v = atoll(tok); break; }
  return v;
}

static void host_name(char *buf, size_t n) {
  if (gethostname(buf, n) != 0) snprintf(buf, n, "unknown");
  buf[n - 1] = 0;
}

/* Whether the holder described by `info` is gone: on this host its process no
 * longer exists (or the pid was recycled); on any host, its heartbeat is older
 * than stale_seconds (the only test across hosts; clocks are assumed in sync). */
static bool holder_dead(const cJSON *info, double stale_seconds, char *why, size_t why_n) {
  char host[256];
  host_name(host, sizeof host);
  long pid = (long)ps_json_num(info, "pid", -1);
  double age = wall_now() - ps_json_num(info, "heartbeat", 0);
  if (!strcmp(ps_json_str(info, "host", ""), host) && pid > 0) {
    long long st = proc_start_time(pid);
    if (st < 0 || (kill((pid_t)pid, 0) != 0 && errno == ESRCH)) {
      snprintf(why, why_n, "process %ld on this host no longer exists", pid);
      return true;
    }
    if (st != (long long)ps_json_num(info, "start", -1)) {
      snprintf(why, why_n, "pid %ld now belongs to another process", pid);
      return true;
    }
  }
  if (age > stale_seconds) {
    snprintf(why, why_n, "no heartbeat for %.0f s", age);
    return true;
  }
  return false;
}

static ps_status write_info(const ps_study_lock *l, const char *path) {
  char *s = cJSON_PrintUnformatted(l->info);
  if (!s) return ps_error(PS_ERR_NOMEM, "out of memory");
  ps_status st = ps_write_file_atomic(path, s, strlen(s));
  free(s);
  return st;
}

/* The content of a lock file, or NULL when it is absent or unreadable (a
 * half-written file cannot be seen: it is created by link, replaced by rename). */
static cJSON *read_info(const char *path) {
  char *buf = NULL;
  size_t n;
  if (ps_read_file(path, 1 << 16, &buf, &n)) return NULL;
  cJSON *j = cJSON_Parse(buf);
  free(buf);
  return j;
}

static bool is_ours(const ps_study_lock *l) {
  cJSON *j = read_info(l->path);
  bool ours = j && !strcmp(ps_json_str(j, "token", ""), l->token);
  cJSON_Delete(j);
  return ours;
}

static void *heartbeat_main(void *arg) {
  ps_study_lock *l = arg;
  pthread_mutex_lock(&l->mu);
  while (!l->stop) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    double until = (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec + l->interval;
    ts.tv_sec = (time_t)until;
    ts.tv_nsec = (long)((until - (double)ts.tv_sec) * 1e9);
    pthread_cond_timedwait(&l->cv, &l->mu, &ts);
    if (l->stop) break;
    if (!is_ours(l)) { /* taken over after a stall longer than the stale limit */
      if (!l->lost) ps_warn("%s: this process no longer holds the lock (taken over by another process)", l->path);
      l->lost = true;
      continue;
    }
    ps_json_set(l->info, "heartbeat", cJSON_CreateNumber(wall_now()));
    if (write_info(l, l->path)) ps_warn("%s: heartbeat not written: %s", l->path, ps_last_error());
  }
  pthread_mutex_unlock(&l->mu);
  return NULL;
}

/* Try once to create the lock file from a complete temp file. */
static ps_status try_link(ps_study_lock *l, bool *got) {
  char *tmp = ps_strfmt("%s.%s.tmp", l->path, l->token);
  ps_status st = write_info(l, tmp);
  *got = false;
  if (!st) {
    if (link(tmp, l->path) == 0) *got = true;
    else if (errno != EEXIST) st = ps_error(PS_ERR_IO, "%s: cannot create the lock: %s", l->path, strerror(errno));
    unlink(tmp);
  }
  free(tmp);
  return st;
}

/* Move a dead holder's lock aside. The rename is checked afterwards: if another
 * process replaced the file in between, its fresh lock is put back (by link,
 * which never overwrites) and we go on as if the lock were held. */
static void take_over(ps_study_lock *l, const cJSON *stale) {
  char *aside = ps_strfmt("%s.%s.stale", l->path, l->token);
  if (rename(l->path, aside) == 0) {
    cJSON *moved = read_info(aside);
    bool same = moved && !strcmp(ps_json_str(moved, "token", ""), ps_json_str(stale, "token", "?"));
    if (!same && link(aside, l->path) != 0 && errno != EEXIST)
      ps_warn("%s: could not restore a lock moved aside: %s", l->path, strerror(errno));
    unlink(aside);
    cJSON_Delete(moved);
  }
  free(aside);
}

ps_status ps_study_lock_acquire(const char *path, const char *role, double stale_seconds, double heartbeat_seconds,
                                ps_study_lock **out) {
  *out = NULL;
  ps_study_lock *l = calloc(1, sizeof *l);
  if (!l) return ps_error(PS_ERR_NOMEM, "out of memory");
  char host[256];
  host_name(host, sizeof host);
  long pid = (long)getpid();
  l->path = ps_strdup(path);
  l->token = ps_strfmt("%ld-%s-%lld-%ld", pid, host, proc_start_time(pid), (long)(wall_now() * 1e6) % 1000000000L);
  l->interval = heartbeat_seconds > 0 ? heartbeat_seconds : 5;
  l->info = cJSON_CreateObject();
  cJSON_AddStringToObject(l->info, "role", role);
  cJSON_AddNumberToObject(l->info, "pid", (double)pid);
  cJSON_AddStringToObject(l->info, "host", host);
  cJSON_AddNumberToObject(l->info, "start", (double)proc_start_time(pid));
  cJSON_AddStringToObject(l->info, "token", l->token);
  cJSON_AddNumberToObject(l->info, "heartbeat", wall_now());
  cJSON_AddNumberToObject(l->info, "heartbeat_seconds", l->interval);
  pthread_mutex_init(&l->mu, NULL);
  pthread_cond_init(&l->cv, NULL);
  ps_status st = PS_OK;
  bool got = false;
  for (int attempt = 0; attempt < 3 && !st && !got; attempt++) {
    st = try_link(l, &got);
    if (st || got) break;
    cJSON *holder = read_info(path);
    char why[160];
    if (!holder) continue; /* released (or replaced) between our link and our read: try again */
    if (holder_dead(holder, stale_seconds, why, sizeof why)) {
      ps_warn("%s: taking over the lock of %s (pid %ld on %s): %s", path, ps_json_str(holder, "role", "?"),
              (long)ps_json_num(holder, "pid", -1), ps_json_str(holder, "host", "?"), why);
      take_over(l, holder);
    } else {
      st = ps_error(PS_ERR_RUNTIME, "%s is held by a live %s: pid %ld on host %s, heartbeat %.0f s ago", path,
                    ps_json_str(holder, "role", "process"), (long)ps_json_num(holder, "pid", -1),
                    ps_json_str(holder, "host", "?"), wall_now() - ps_json_num(holder, "heartbeat", 0));
    }
    cJSON_Delete(holder);
  }
  if (!st && !got) st = ps_error(PS_ERR_RUNTIME, "%s: the lock changed hands three times while we tried to take it", path);
  if (!st) {
    if (pthread_create(&l->thread, NULL, heartbeat_main, l) == 0) l->has_thread = true;
    else st = ps_error(PS_ERR_RUNTIME, "%s: cannot start the heartbeat thread", path);
  }
  if (st) {
    if (got) unlink(path);
    got = false;
    ps_study_lock_release(l);
    return st;
  }
  *out = l;
  return PS_OK;
}

bool ps_study_lock_lost(const ps_study_lock *l) {
  if (!l) return false;
  pthread_mutex_lock((pthread_mutex_t *)&l->mu);
  bool lost = l->lost;
  pthread_mutex_unlock((pthread_mutex_t *)&l->mu);
  return lost;
}

void ps_study_lock_release(ps_study_lock *l) {
  if (!l) return;
  if (l->has_thread) {
    pthread_mutex_lock(&l->mu);
    l->stop = true;
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->thread, NULL);
    if (is_ours(l)) unlink(l->path); /* never remove a lock another process took over */
  }
  pthread_mutex_destroy(&l->mu);
  pthread_cond_destroy(&l->cv);
  cJSON_Delete(l->info);
  free(l->path);
  free(l->token);
  free(l);
}

bool ps_study_lock_held(const char *path, double stale_seconds) {
  cJSON *holder = read_info(path);
  char why[160];
  bool held = holder && !holder_dead(holder, stale_seconds, why, sizeof why);
  cJSON_Delete(holder);
  return held;
}

ps_status ps_study_lock_driver(const char *study_dir, ps_study_lock **out) {
  ps_status st = ps_mkdir_p(study_dir);
  if (st) return st;
  char *p = ps_path_join(study_dir, "driver.lock");
  st = ps_study_lock_acquire(p, "driver", PS_LOCK_STALE_SECONDS, 0, out);
  free(p);
  if (st == PS_ERR_RUNTIME) {
    char why[1024];
    snprintf(why, sizeof why, "%s", ps_last_error());
    return ps_error(st, "%s: another driver is running this study (%s); wait for it to finish or stop it. "
                        "A dead driver's lock is taken over by the next run.", study_dir, why);
  }
  if (!st) ps_mpi_announce_study(study_dir);
  return st;
}
